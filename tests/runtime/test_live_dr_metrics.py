"""A live run's metrics.json carries the demand-response metrics of its events, the
scenario's and those filed while it runs, as the simulator computes them (a scenario with
`[[grid.events]]` used to end its live run with a traceback when metrics were written)."""

from __future__ import annotations

import json

import numpy as np
from test_controller_kit import LIVE, memory_controller

from greenhop.cli.run import live_metrics
from greenhop.runtime.ledger import Ledger
from greenhop.runtime.memory import InMemoryExecutor
from greenhop.sim import load_scenario, simulate
from greenhop.sim.inputs import build_inputs

DR_KEYS = ("dr_events", "dr_compliance_pct", "dr_excess_kwh", "flex_kwh", "dr_moved_pct",
           "dr_moved", "dr_suspended", "dr_best_effort")
EVENT = """
[[grid.events]]
id = "peak"
site = "tokyo-jp"
start = "2h"
duration = "3h"
lead = "1h"
limit = "26.5kW"
"""
#: one grid zone over the three sites (carbon and price signals)
ZONES = """
[grid]
objective = "energy"
currency = "EUR"

[[grid.zones]]
name = "z"
sites = ["madrid-es", "tokyo-jp", "greensboro-nc"]
carbon = "de-lifecycle"
price = "nl-day-ahead"
"""


def _live(path, db, *, filed: dict | None = None):
    """The in-memory live run of ``path`` (its first policy) and its metrics.json."""
    sc = load_scenario(path)
    inp = build_inputs(sc)
    ctl = memory_controller(db, InMemoryExecutor(), path=path)
    ctl.prepare()
    if filed is not None:
        from greenhop.service.grid_events import file_event

        file_event(ctl.store, filed)
    summary = ctl.run()
    doc = live_metrics(sc, inp, ctl.ledger, ctl.cfg.policy_name, summary)
    ctl.store.close()
    assert summary["status"] == "done", summary.get("error")
    return ctl, json.loads(json.dumps(doc))["policies"][ctl.cfg.policy_name]


def _sim(path) -> dict:
    (_name, m), = json.loads(simulate(path).to_json())["policies"].items()
    return m


def test_a_scenarios_events_give_the_simulators_dr_metrics_live(tmp_path):
    path = tmp_path / "events.toml"
    path.write_text(LIVE.read_text() + EVENT)
    want = _sim(path)
    assert want["dr_events"] == 1 and want["flex_kwh"] > 0  # the event binds
    _, got = _live(path, tmp_path / "run.db")
    assert {k: got[k] for k in DR_KEYS} == {k: want[k] for k in DR_KEYS}


def test_an_event_filed_with_the_run_is_counted_as_the_scenarios_would_be(tmp_path):
    path = tmp_path / "events.toml"
    path.write_text(LIVE.read_text() + EVENT)
    want = _sim(path)
    _, got = _live(LIVE, tmp_path / "run.db", filed={
        "id": "peak", "site": "tokyo-jp", "from": "+2h", "to": "+5h", "announce": "+1h",
        "limit": "26.5kW"})
    assert {k: got[k] for k in DR_KEYS} == {k: want[k] for k in DR_KEYS}


def test_a_zone_event_filed_with_the_run_is_enforced_as_the_scenarios_would_be(tmp_path):
    """An event filed for a zone of the scenario (accepted: checked against its zones)
    was dropped by the controller at take-up ("unknown zone 'z' (zones: none defined);
    ignored"): its demand response knew no zones unless the scenario had events of its
    own."""
    path = tmp_path / "zones-events.toml"
    zone_event = EVENT.replace('site = "tokyo-jp"', 'zone = "z"')
    path.write_text(LIVE.read_text() + ZONES + zone_event)
    want = _sim(path)
    assert want["dr_events"] == 3 and want["flex_kwh"] > 0  # one per site of the zone; binds
    plain = tmp_path / "zones.toml"
    plain.write_text(LIVE.read_text() + ZONES)
    _, got = _live(plain, tmp_path / "run.db", filed={
        "id": "peak", "zone": "z", "from": "+2h", "to": "+5h", "announce": "+1h",
        "limit": "26.5kW"})
    assert {k: got[k] for k in DR_KEYS} == {k: want[k] for k in DR_KEYS}
    from greenhop.service.data import RunReader

    (seen,) = RunReader(tmp_path / "run.db").grid_events()  # `greenhop grid list`
    assert (seen["id"], seen["state"], seen["error"]) == ("peak", "taken up", None)


SUSPENDING = """
[[grid.events]]
id = "cut"
site = "tokyo-jp"
start = "4h45min"
duration = "30min"
lead = "30min"
reduce = "25%"
"""


def test_suspended_hours_and_net_green_loss_moves_are_the_simulators_live(tmp_path):
    """The event suspends a job for 0.75 h; the live metrics said suspended_h 0 and
    net_green_loss_migrations null (they were computed from segments the live result
    left empty), where the simulator gives 0.75 and a count."""
    path = tmp_path / "cut.toml"
    path.write_text(LIVE.read_text() + SUSPENDING)
    want = _sim(path)
    assert want["suspended_h"] > 0 and want["migrations"] > 0  # not vacuous
    ctl, got = _live(path, tmp_path / "run.db")
    for key in ("suspended_h", "net_green_loss_migrations", "migrations",
                "dr_suspended"):
        assert got[key] == want[key], (key, got[key], want[key])
    # the books the count reads survive a snapshot (a resumed run's metrics)
    again = Ledger(build_inputs(load_scenario(path)))
    again.load_state(json.loads(json.dumps(ctl.ledger.to_state())))
    n = ctl.ledger.next_step
    assert np.array_equal(again.core.books.job_load_w[:n], ctl.ledger.core.books.job_load_w[:n])
    assert ctl.ledger.core.books.job_load_w[:n].any()


def test_the_grid_import_of_booked_steps_survives_a_snapshot(tmp_path):
    """A resumed run's metrics read the grid import of every booked step, also those
    booked before the restart (they were zeros: the event looked met)."""
    path = tmp_path / "events.toml"
    path.write_text(LIVE.read_text() + EVENT)
    ctl, _ = _live(path, tmp_path / "run.db")
    books = ctl.ledger.core.books
    assert books.flushed > 0 and books.grid_w[:books.flushed].any()
    again = Ledger(build_inputs(load_scenario(path)))
    again.load_state(json.loads(json.dumps(ctl.ledger.to_state())))
    assert np.array_equal(again.core.books.grid_w, books.grid_w)


def test_a_scenario_with_grid_signals_gives_its_carbon_and_cost_live(tmp_path):
    """With `[[grid.zones]]` a live run's metrics price its grid import per step as the
    simulator's do (they read an empty series and ended the run with a traceback)."""
    path = tmp_path / "zones.toml"
    path.write_text(LIVE.read_text() + ZONES)
    want = _sim(path)
    _, got = _live(path, tmp_path / "run.db")
    for key in ("job_co2_kg", "job_energy_cost"):
        assert want[key] > 0 and abs(got[key] - want[key]) <= 0.01 * want[key], key


def test_a_price_only_event_gives_the_same_dr_keys_live_as_in_the_simulator(tmp_path):
    """A price-only event enforces nothing (no demand response is attached); the live
    metrics still count the scenario's events as the simulator does."""
    path = tmp_path / "price.toml"
    path.write_text(LIVE.read_text() + ZONES + """
[[grid.events]]
id = "p"
site = "tokyo-jp"
start = "2h"
duration = "3h"
price = 500
""")
    want = _sim(path)
    _, got = _live(path, tmp_path / "run.db")
    assert want["dr_events"] == 0
    assert {k: got[k] for k in DR_KEYS} == {k: want[k] for k in DR_KEYS}


def test_steps_a_stopped_run_never_booked_are_neither_met_nor_missed(tmp_path):
    # the run ends before the event's first step: nothing was asked of it yet (the grid
    # import of steps never booked reads 0, which would count as a met limit)
    path = tmp_path / "events.toml"
    path.write_text(LIVE.read_text() + EVENT)
    sc = load_scenario(path)
    inp = build_inputs(sc)
    ctl = memory_controller(tmp_path / "run.db", InMemoryExecutor(), path=path)
    ctl.prepare()
    doc = live_metrics(sc, inp, ctl.ledger, ctl.cfg.policy_name, {"status": "stopped",
                                                                  "step": 0})
    ctl.store.close()
    m = doc["policies"][ctl.cfg.policy_name]
    assert m["dr_events"] == 0 and m["dr_compliance_pct"] is None
    assert m["dr_excess_kwh"] == 0.0
