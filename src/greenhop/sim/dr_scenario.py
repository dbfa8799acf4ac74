"""The scenario's demand-response events: ``[[grid.events]]`` tables.

Each table is one event (docs/scenarios.md, "Demand-response events")::

    [[grid.events]]
    id = "peak-1"
    site = "berlin"            # or sites = ["a", "b"], or zone = "DE"
    start = "14h"              # after the scenario start, or "2023-06-01T14:00:00Z"
    duration = "3h"            # or end = "17h"
    lead = "1h"                # announced 1 h ahead (or announce = a time); default: at start
    limit = "20kW"             # a cap on the grid import, or reduce = "25%"

Errors name the table (``grid.events[0].start``) and say what is expected.
"""

from __future__ import annotations

from greenhop.core.errors import ConfigError
from greenhop.core.grid_events import GridEvent, event_from_fields
from greenhop.sim.schema import Table


def parse_grid_events(t: Table, sites, start_unix_s: float,
                      zones: dict[str, tuple[str, ...]] | None = None) -> tuple[GridEvent, ...]:
    """The events of ``[[grid.events]]`` in scenario table ``t``, checked against the sites
    (names, or a dict of name -> site with ``spec.base_load_w`` and ``spec.pue``: then an
    absolute limit must not be below a site's base load) and ``zones``; events start, end
    and are announced at any time, the fleet only sees the steps of its horizon."""
    if not t.has("grid"):
        return ()
    site_names = tuple(sites)
    base_w = ({n: s.spec.base_load_w * s.spec.pue for n, s in sites.items()}
              if isinstance(sites, dict) else {})
    raw = t.raw("grid")
    if not isinstance(raw, dict):
        raise ConfigError(f"grid: expected a table of keys, got {type(raw).__name__}")
    gt = Table(raw, "grid")
    names = set(site_names)
    events: list[GridEvent] = []
    ids: set[str] = set()
    for et in gt.tables("events"):
        ev = event_from_fields(et.path, dict(et.data), origin_unix_s=start_unix_s)
        if ev.id in ids:
            raise ConfigError(f"{et.where('id')}: event {ev.id!r} is defined twice")
        ids.add(ev.id)
        # checked here, before any trace is read (the prices enter the grid signals)
        ev.check_priced(zones, et.where("price"))
        try:
            targets = ev.targets(zones)
        except ConfigError as exc:
            raise ConfigError(f"{et.where('zone')}: {exc}") from None
        for n in targets:
            if n not in names:
                key = "site" if ev.site is not None else "sites"
                raise ConfigError(f"{et.where(key)}: unknown site {n!r} (sites: "
                                  f"{', '.join(site_names)})")
            if ev.limit_w is not None and n in base_w and ev.limit_w < base_w[n] - 1e-6:
                raise ConfigError(
                    f"{et.where('limit')}: {ev.limit_w:g} W at site {n!r} is below its base "
                    f"load {base_w[n]:g} W (facility power that no job move can shed); "
                    "raise the limit")
        events.append(ev)
    return tuple(events)
