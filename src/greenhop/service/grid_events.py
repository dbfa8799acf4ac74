"""Filing a demand-response event with a live run: ``greenhop grid event`` and
``POST /api/v1/grid/events`` both call :func:`file_event`.

The event is checked against the run's scenario before it is stored (its sites or zone,
a limit at or above each site's base load, an end after the run's present); times may be
UTC times on the run's clock (the scenario's time axis) or durations after the run's
current step (``+30min``; ``now``). The controller takes it up at the start of its next
step (:func:`greenhop.runtime.operate.apply_grid_events`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from greenhop.core.errors import ConfigError, UserError
from greenhop.core.grid_events import event_from_fields
from greenhop.fleet.demand_response import scenario_zones, site_events
from greenhop.policies.plugins import file_sha256
from greenhop.runtime.store import Store
from greenhop.runtime.store_errors import DuplicateEventId
from greenhop.sim.scenario import load_scenario


class ScenarioGone(ConfigError):
    """The scenario file the run was started with is no longer there, or not as it was
    (events and the views are checked against it): the server's state, not the request, is
    at fault."""


def scenario_file(row, needs: str) -> Path:
    """The scenario file of the run (``row``: its row of the ``run`` table) when it is still
    the one the run started with (its SHA-256 the recorded ``scenario_sha256``); otherwise
    :class:`ScenarioGone` naming it, gone or changed, and ``needs`` (what reads it). An
    edited file may put the run on another clock (its start) or fleet: it is refused, as
    resuming the run refuses it. The one check of the service's readers of the file."""
    path = Path(row["scenario"])
    if not path.is_file():
        raise ScenarioGone(f"the run's scenario {path} is gone; {needs}: put it back where "
                           "the run was started from")
    try:
        digest = file_sha256(path)
    except OSError as exc:  # removed or locked between the two looks
        why = f"the run's scenario {path} cannot be read ({exc}); {needs}"
        raise ScenarioGone(why) from None
    if digest != row["scenario_sha256"]:
        raise ScenarioGone(f"the run's scenario {path} changed since the run started; {needs}: "
                           "put back the file the run started with")
    return path


def run_clock(store: Store) -> tuple[object, float, int]:
    """(the run's scenario, its start [s since the epoch], the run's present step): the
    first step whose start can still take up an event filed now. That is the step the run
    is at until the controller has taken up that step's events (and decided it), then the
    next: an event from ``now`` filed later in the step counted the step as a miss."""
    row = store.run_row()
    if row is None:
        raise ConfigError(f"{store.path}: no run in this database yet; start it with "
                          "`greenhop run`")
    if row["status"] == "done":
        raise ConfigError(f"{store.path}: the run is finished; events apply to a live run")
    path = scenario_file(row, "events are checked against it")
    try:
        sc = load_scenario(path)
    except UserError as exc:  # the run's own file, not the request, is at fault
        raise ScenarioGone(f"the run's scenario no longer reads: {exc}") from None
    step = int(row["step"])
    if row["decided_step"] is not None and int(row["decided_step"]) >= step:
        step += 1  # this step's events were taken up: the event acts from the next one
    return sc, float(sc.start.timestamp()), step


def _at_its_start(where: str, fields: dict, now_unix_s: float):
    """The event of ``fields`` announced at its start (the announcement check left out), or
    None when it does not parse at all: what an event refused as announced after its start
    would have been, to say why."""
    try:
        return event_from_fields(where, {**fields, "announce": fields.get("from")},
                                 origin_unix_s=now_unix_s)
    except ConfigError:
        return None


def file_event(store: Store, fields: dict, *, where: str = "event") -> dict:
    """Validate ``fields`` (:func:`greenhop.core.grid_events.event_from_fields`) against the
    run in ``store`` and file the event; returns the stored row."""
    sc, start_unix_s, step = run_clock(store)
    now = start_unix_s + step * sc.step_s
    fields = dict(fields)
    announced_now = fields.get("announce") is None and fields.get("lead") is None
    if announced_now:
        fields["announce"] = "now"  # known from now on: the fleet may plan for it
    made_up = fields.get("id") is None
    if made_up:  # the first free one (a user may have chosen event-...-1)
        fields["id"] = _free_id(store, now)
    end_key = next((k for k in ("to", "end", "duration") if k in fields), "to")
    past = ConfigError(f"{where}.{end_key}: the event ends before the run's present (step "
                       f"{step}); give a later end")
    try:
        ev = event_from_fields(where, fields, origin_unix_s=now)
    except ConfigError:
        # an event wholly past fails the announcement check too (announced now, after its
        # start): give the real reason
        whole = _at_its_start(where, fields, now)
        if whole is not None and whole.end_unix_s <= now:
            raise past from None
        if announced_now and whole is not None and whole.start_unix_s < now:
            key = "start" if "start" in fields else "from"
            raise ConfigError(
                f"{where}.{key}: the event starts before the run's present (step {step}, "
                f"{datetime.fromtimestamp(now, UTC):%Y-%m-%dT%H:%M:%SZ}) and would be "
                "announced now, after its start; give a start at or after now, or an "
                "announce at or before the start for an event already under way") from None
        raise
    if ev.end_unix_s <= now:
        raise past
    run_end = start_unix_s + sc.horizon_s
    if ev.start_unix_s >= run_end:
        raise ConfigError(f"{where}.{'start' if 'start' in fields else 'from'}: the event "
                          "starts after the run ends "
                          f"({datetime.fromtimestamp(run_end, UTC):%Y-%m-%dT%H:%M:%SZ}); "
                          "give an earlier start")
    specs = [s.spec for s in sc.sites]
    fleet = SimpleNamespace(
        params=SimpleNamespace(site_names=sc.site_names, step_s=sc.step_s,
                               start_unix_s=start_unix_s),
        base_demand_w=np.array([s.base_load_w * s.pue for s in specs]))
    # an unknown site or zone, a limit under the base load; an id that is ours, not the
    # request's, is not named: the request is
    zones = scenario_zones(sc)
    ev.check_priced(zones, f"{where}.price")
    site_events(fleet, [ev], zones, label=where if made_up else None)
    for _ in range(MADE_UP_ID_TRIES):
        try:
            return store.request_grid_event(ev.id, ev.model_dump(mode="json"))
        except DuplicateEventId:
            if not made_up:
                raise
            # another request took this id between our read and our write: the next one
            ev = ev.model_copy(update={"id": _free_id(store, now)})
    raise DuplicateEventId(f"{where}: no free event id after {MADE_UP_ID_TRIES} tries; give "
                           "an id")


MADE_UP_ID_TRIES = 100
"""How often a made-up id is chosen again when concurrent requests took it."""


def _free_id(store: Store, now_unix_s: float) -> str:
    """The first ``event-NOW-N`` the run does not have."""
    taken = {e["id"] for e in store.grid_events()}
    n = len(taken) + 1
    while f"event-{int(now_unix_s)}-{n}" in taken:
        n += 1
    return f"event-{int(now_unix_s)}-{n}"
