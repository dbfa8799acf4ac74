"""The fields of a demand-response event, as a scenario table, ``greenhop grid event`` and
``POST /api/v1/grid/events`` give them, share one set of checks: a time outside the years
1-9999 in UTC (however reached: a start, an end, a duration or a lead) and an absurd limit
or price are refused with one line naming the field."""

from __future__ import annotations

import pytest

from greenhop.core.errors import ConfigError
from greenhop.core.grid_events import event_from_fields

START = 1685577600.0  # 2023-06-01T00:00:00Z
GOOD = {"id": "peak", "site": "a", "start": "1h", "duration": "2h", "limit": "20kW"}


def _event(**change):
    return event_from_fields("grid.events[0]", {**GOOD, **change}, origin_unix_s=START)


@pytest.mark.parametrize(("change", "message"), [
    ({"lead": 1e308}, "grid.events[0].lead: 1e+308 gives a time outside the years 1 to 9999"),
    ({"lead": "1e300h"}, "grid.events[0].lead: '1e300h' gives a time outside"),
    ({"duration": 1e308}, "grid.events[0].duration: 1e+308 gives a time outside"),
    ({"duration": None, "end": 1e300}, "grid.events[0].end: 1e+300 gives a time outside"),
    ({"start": -1e308}, "grid.events[0].start: -1e+308 gives a time outside"),
    ({"start": float("nan")}, "grid.events[0].start: nan gives a time outside"),
    ({"announce": float("-inf")}, "grid.events[0].announce: -inf gives a time outside"),
    ({"limit": 1e308}, "grid.events[0].limit: must be between 0 and 1e+12 W, got 1e+308"),
    ({"limit": "1e290GW"}, "grid.events[0].limit: must be between 0 and 1e+12 W"),
    ({"price": -1e308}, "grid.events[0].price: must be between -1e+09 and 1e+09 per MWh"),
    ({"price": 1e10}, "grid.events[0].price: must be between -1e+09 and 1e+09 per MWh"),
    # the API's field is `from`; the message named only its alias `start`
    ({"start": None}, "grid.events[0].start (or from): required key is missing"),
])
def test_times_outside_the_years_1_to_9999_and_absurd_values_are_refused(change, message):
    with pytest.raises(ConfigError) as info:
        _event(**change)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_values_at_the_edges_are_taken():
    ev = _event(limit="1TW", price=-1e9, lead="1h")
    assert ev.limit_w == 1e12 and ev.price_per_mwh == -1e9
    assert ev.announced_unix_s == START
    late = _event(start="9999-12-31T00:00:00Z", duration="23h")
    assert late.end_unix_s == 253402297200.0
    first = _event(start="0001-01-01T01:00:00Z", lead="1h")
    assert first.announced_unix_s == -62135596800.0
