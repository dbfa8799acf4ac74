"""Demand-response events on a hand-worked two-site fleet, checked to the joule.

Sites ``a`` (no renewables) and ``b`` (10 kW constant, or none), base load 1 kW each,
PUE 1, GPUs at 400 W training / 50 W idle (no host share), throughput 1 at ``a`` and 2
at ``b``; link 8 Gbit/s x efficiency 0.5, 1e-7 J/bit; checkpoints of 1 GB written and
read at 2 GB/s, restart 60 s; 5-minute steps over 2 h. One job of 1 GPU-h arrives at
``a`` at 0. The event asks ``a`` for at most 1 kW from 30 min to 1 h, announced 15 min
ahead (step 3): the job must leave ``a`` (or stop) before step 6.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.core.errors import ConfigError
from greenhop.policies import make_policy
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import run_metrics
from greenhop.sim.scenario import load_scenario

J_TOL = 1e-6
ENERGY = {"source_in_flight": "idle", "dest_held": "idle", "host_share": 0.0,
          "suspend_saves": True, "network_to_grid": True}


def scenario(b_power="10kW", **event) -> dict:
    ev = {"id": "peak", "site": "a", "start": "30min", "duration": "30min", "lead": "15min",
          "limit": "1kW", **event}
    d = simkit.micro(energy=ENERGY, grid={"events": [ev]})
    d["sites"][0]["trace"] = {"kind": "constant", "power": "0W"}
    d["sites"][1]["trace"] = {"kind": "constant", "power": b_power}
    return d


def run(d):
    inp = build_inputs(load_scenario(d))
    res = Engine(inp, make_policy("static"), record=True).run()
    return inp, res, run_metrics(inp, res)


def test_the_job_migrates_before_the_event_when_the_move_is_feasible():
    _inp, res, m = run(scenario())
    (mig,) = res.migrations
    # Announced at step 3 (900 s): the move starts then. Save 0.5 s, transfer 8e9 bit at
    # 4 Gbit/s = 2 s, restore 0.5 + 60 s: 63 s down, done long before the start (1800 s).
    assert (mig["src"], mig["dst"], mig["start_s"]) == (0, 1, 900.0)
    assert mig["downtime_s"] == pytest.approx(63.0, abs=1e-9)
    # 900 GPU-s at a, 237 s x 2 in step 3, the other 2226 GPU-s at rate 2: 1113 s.
    assert res.job_finish_s[0] == pytest.approx(1200.0 + 1113.0, abs=1e-9)
    # a's grid import: 1.4 kW for 3 steps; step 3: base + 25 J saving + 3125 J held idle
    # in flight + 400 J of network energy; then base only.
    e = res.energy_j
    assert e["grid"][0] == pytest.approx(1400 * 900 + 300_000 + 25 + 3125 + 400
                                         + 1000 * 6000, abs=J_TOL)
    assert e["grid"][1] == pytest.approx(400.0, abs=J_TOL)  # b: its half of the network
    assert (res.grid_w[6:12, 0] <= 1000.0 + 1e-9).all()
    assert res.job_energy_j[0] == pytest.approx(
        400 * 900 + 25 + 3125 + 3125 + 800 + 400 * (237 + 1113), abs=J_TOL)
    assert m["dr_compliance_pct"] == 100.0 and m["dr_excess_kwh"] == 0.0
    assert m["flex_kwh"] == pytest.approx(400 * 1800 / 3.6e6, abs=1e-9)
    assert (m["dr_moved"], m["dr_suspended"], m["dr_moved_pct"]) == (1, 0, 100.0)
    assert m["job_nr_kwh"] == pytest.approx((1400 * 900 - 1000 * 900 + 25 + 3125 + 400 + 400)
                                            / 3.6e6, abs=1e-9)


def test_the_job_suspends_before_the_event_and_resumes_after_it_when_no_move_is_feasible():
    _inp, res, m = run(scenario(b_power="0W"))  # b has no window: no feasible destination
    assert res.migrations == []
    kinds = [(s[2], s[3], s[4]) for s in res.segments]
    # Announced at step 3, but its 0.5 s checkpoint fits in the last step before the
    # start: it runs on to step 5 (1500 s), then is suspended (the checkpoint at idle
    # power), and resumes when the event ends (step 12, 3600 s): restore 60.5 s, then the
    # other 2100 GPU-s at rate 1.
    assert (1500.0, 3600.0, "suspended") in kinds
    assert res.job_finish_s[0] == pytest.approx(3600.0 + 60.5 + 2100.0, abs=1e-9)
    e = res.energy_j
    assert e["grid"][0] == pytest.approx(
        1400 * 1500 + (300_000 + 25) + 1000 * 1800 + (300_000 + 3025 + 400 * 239.5)
        + 1000 * 3300 + 400 * 1860.5, abs=J_TOL)
    assert (res.grid_w[6:12, 0] <= 1000.0 + 1e-9).all()
    assert m["dr_compliance_pct"] == 100.0
    assert (m["dr_moved"], m["dr_suspended"], m["dr_moved_pct"]) == (0, 1, 0.0)
    assert m["flex_kwh"] == pytest.approx(0.2, abs=1e-9)


def test_a_suspension_waits_for_the_last_step_its_checkpoint_allows_so_no_deadline_is_lost():
    # The job needs 3600 s of its 6000 s: suspended at the announcement (900 s) until the
    # event ends it would finish at 3600 + 60.5 + 2700 = 6360.5 s, late; stopped in the
    # last step before the start (1500 s) it finishes at 5760.5 s, in time, and the event
    # is met at every step all the same.
    d = scenario(b_power="0W")
    d["jobs"][0]["deadline"] = "6000s"
    _inp, res, m = run(d)
    assert res.job_finish_s[0] == pytest.approx(5760.5, abs=1e-9)
    assert m["deadline_misses"] == 0
    assert (res.grid_w[6:12, 0] <= 1000.0 + 1e-9).all() and m["dr_compliance_pct"] == 100.0


def test_a_suspended_job_resumes_once_its_power_fits_under_the_limit_again():
    # Two jobs at a, a limit of base + one job (1.4 kW) from 30 min to 2 h: one job is
    # suspended at 1500 s; the other (0.6 GPU-h) finishes at 2160 s, so from step 8
    # (2400 s) the first one fits again and resumes then, not at the event's end
    # (7200 s): restore 60.5 s, then its other 2100 GPU-s.
    d = scenario(b_power="0W", limit="1.4kW", duration="1h30min")
    d["horizon"] = "3h"
    d["jobs"].append({"name": "short", "arrival": "0s", "work_gpu_h": 0.6,
                      "checkpoint": "1GB", "gpus": 1, "origin": "a"})
    _inp, res, m = run(d)
    assert res.job_finish_s[1] == pytest.approx(2160.0, abs=1e-9)
    assert res.job_finish_s[0] == pytest.approx(2400.0 + 60.5 + 2100.0, abs=1e-9)
    assert (res.grid_w[6:24, 0] <= 1400.0 + 1e-9).all() and m["dr_compliance_pct"] == 100.0
    assert res.counters["dr_resumed_early"] == 1
    # flexibility given: 400 W from the start (1800 s) to the resume (2400 s) only
    assert m["flex_kwh"] == pytest.approx(400 * 600 / 3.6e6, abs=1e-9)


def test_an_event_announced_at_its_start_is_missed_by_the_checkpoint_of_its_first_step():
    # No lead time: no move can finish before the start, so the job is suspended in the
    # first event step; its 0.5 s checkpoint at 50 W idle (25 J) is over the limit.
    _inp, res, m = run(scenario(lead="0s"))
    assert res.migrations == [] and m["dr_suspended"] == 1
    assert m["dr_compliance_pct"] == pytest.approx(100.0 * 5 / 6, abs=1e-6)
    assert m["dr_excess_kwh"] == pytest.approx(25 / 3.6e6, abs=1e-9)
    # the same, for the one event at its site: what a user checks an event against
    (ev,) = m["dr_by_event"]
    assert (ev["event"], ev["site"], ev["steps"], ev["steps_met"]) == ("peak", "a", 6, 5)
    assert ev["limit_kw"] == pytest.approx(1.0)
    assert ev["peak_import_kw"] == pytest.approx(float(res.grid_w[6:12, 0].max()) / 1e3)
    assert ev["peak_import_kw"] > ev["limit_kw"]
    assert ev["excess_kwh"] == pytest.approx(m["dr_excess_kwh"], abs=1e-12)


def test_a_relative_event_is_measured_at_its_announcement():
    _inp, res, m = run(scenario(limit=None, reduce="50%"))
    assert res.counters["dr_limit_w.peak@a"] == pytest.approx(1000 + 0.5 * 400)
    assert m["dr_compliance_pct"] == 100.0 and m["dr_moved"] == 1


def test_an_event_announced_while_no_job_runs_is_counted_whatever_the_policy():
    """Nothing runs when the relative event is announced (the job arrives after it ends):
    its limit is the base load, fixed at the announcement, and every policy counts it.
    Before, the simulator skipped the idle steps and the event went uncounted."""
    d = scenario(limit=None, reduce="50%")
    d["jobs"][0]["arrival"] = "1h30min"
    inp = build_inputs(load_scenario(d))
    for policy in ("static", "threshold"):
        res = Engine(inp, make_policy(policy)).run()
        m = run_metrics(inp, res)
        assert res.counters["dr_limit_w.peak@a"] == pytest.approx(1000.0), policy
        assert m["dr_events"] == 1 and m["dr_compliance_pct"] == 100.0, policy


def test_a_closed_site_takes_no_new_work_until_the_event_ends():
    d = scenario()
    d["jobs"].append({"name": "late", "arrival": "20min", "work_gpu_h": 0.1,
                      "checkpoint": "1GB", "gpus": 1, "origin": "a"})
    _inp, res, m = run(d)
    late = [s for s in res.segments if s[0] == 1]
    assert late[0][1] == 1  # placed at b, not at its closed origin a
    assert m["dr_compliance_pct"] == 100.0


@pytest.mark.parametrize(("event", "message"), [
    ({"duration": None, "end": "20min"}, "ends at or before its start"),
    ({"duration": "0s"}, "ends at or before its start"),
    ({"site": "nowhere"}, "unknown site 'nowhere'"),
    ({"site": None, "zone": "XX"}, "unknown zone 'XX'"),
    ({"limit": "500W"}, "below its base load"),
    ({"limit": None}, "give exactly one of limit"),
    ({"lead": "-1h"}, "lead"),
    ({"start": "yesterday"}, "grid.events[0].start"),
    ({"colour": "red"}, "grid.events[0].colour: unknown key"),
])
def test_bad_events_are_one_line_config_errors_naming_the_event(event, message):
    with pytest.raises(ConfigError, match=None) as info:
        run(scenario(**event))
    text = str(info.value)
    assert message in text and "\n" not in text


def test_an_event_with_pinned_load_over_its_limit_gets_best_effort_and_says_so():
    d = scenario()
    d["jobs"][0]["mobility"] = "pinned"
    _inp, _res, m = run(d)
    assert m["dr_best_effort"] == 1 and m["dr_compliance_pct"] == 0.0
    assert m["dr_excess_kwh"] == pytest.approx(400 * 1800 / 3.6e6, abs=1e-9)


def test_an_event_may_target_a_grid_zone_and_carbon_and_cost_follow_to_the_milligram():
    d = scenario(site=None, zone="south")
    d["grid"]["zones"] = [{"name": "south", "sites": ["a"], "carbon": 300.0, "price": 50.0},
                          {"name": "north", "sites": ["b"], "carbon": 30.0, "price": 80.0}]
    _inp, res, m = run(d)
    assert res.migrations[0]["dst"] == 1 and m["dr_compliance_pct"] == 100.0
    assert res.counters["dr_limit_w.peak@a"] == 1000.0
    # the jobs' grid energy (the hand-worked figures of the migration test above) priced
    # at each zone's constant signals: a 363,550 J at 300 g/kWh and 50 /MWh, b the 400 J
    # of its half of the network energy at 30 g/kWh and 80 /MWh
    job_a_j, job_b_j = 1400 * 900 - 1000 * 900 + 25 + 3125 + 400, 400.0
    assert m["job_co2_kg"] == pytest.approx((job_a_j * 300 + job_b_j * 30) / 3.6e9,
                                            abs=1e-6)
    assert m["job_energy_cost"] == pytest.approx((job_a_j * 50 + job_b_j * 80) / 3.6e9,
                                                 abs=1e-5)


def test_the_enforcement_record_survives_a_snapshot_of_the_fleet_state():
    from greenhop.fleet.state import FleetState

    inp = build_inputs(load_scenario(scenario(b_power="0W", duration="3h")))
    eng = Engine(inp, make_policy("static"))
    eng.run()
    state = eng.core.state
    assert state.dr["suspended"] == {"0": "peak@a"} and state.dr_closed.tolist() == [True, False]
    again = FleetState(inp)
    again.load_json(state.to_json())
    assert again.dr == state.dr and again.dr_closed.tolist() == [True, False]
    assert again.no_entry.tolist() == [True, False]


def test_nothing_before_an_announcement_tells_that_an_event_will_come():
    """``dr_events`` was an empty table from step 0 in a run with events to come and None
    in one without: one bit of the future. It is None until an event is announced."""
    seen = {}

    class Keep(simkit.Never):
        def __init__(self, key):
            self.key = key

        def decide(self, obs):
            ev = obs.dr_events
            seen.setdefault(self.key, []).append(None if ev is None else list(ev.keys))
            return []

    for key, d in (("with", scenario()), ("without", simkit.micro(energy=ENERGY))):
        Engine(build_inputs(load_scenario(d)), Keep(key)).run()
    assert seen["with"][:3] == seen["without"][:3] == [None, None, None]
    assert seen["with"][3] == ["peak@a"]  # announced at step 3 (900 s)


def test_simulate_shows_the_share_of_event_steps_met_for_a_scenario_with_events(
        tmp_path, capsys, monkeypatch):
    """The table had CO2 and cost columns but nothing of the events; metrics.json alone
    said whether the limits held."""
    import json

    from greenhop.cli.main import main

    monkeypatch.setenv("COLUMNS", "250")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(simkit.write_scenario(scenario(lead="0s"), tmp_path / "s.toml")),
              "-p", "static", "--out", str(out), "--no-report"])
    text = capsys.readouterr().out
    assert not info.value.code
    m = json.loads((out / "metrics.json").read_text())["policies"]["static"]
    head = next(line for line in text.splitlines() if "DR met" in line)
    row = next(line for line in text.splitlines() if line.startswith("│ static"))
    cells = dict(zip([c.strip() for c in head.split("┃")[1:-1]],
                     [c.strip() for c in row.split("│")[1:-1]], strict=True))
    assert cells["DR met"] == f"{m['dr_compliance_pct']:.1f}%" == "83.3%"
