"""Grid events at their edges, each figure worked by hand (docs/grid.md).

Micro-scenarios from tests/sim/simkit.py: sites ``a`` and ``b``, base load 1 kW, GPUs of
400 W (50 W idle), PUE 1, throughput 1, 5-minute steps (300 s), a 2 h horizon.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.cli.main import main
from greenhop.core.errors import ConfigError
from greenhop.fleet.grid import GridFeed
from greenhop.policies import make_policy
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import run_metrics
from greenhop.sim.scenario import load_scenario
from greenhop.sim.scenario_warnings import scenario_warnings
from greenhop.traces.grid_signals import day_ahead_known_until

EUR_TOL = 1e-6
PER_J = 1 / 3.6e9  # [MWh/J]
DT = 300.0


def run(d, policy="static"):
    inp = build_inputs(load_scenario(d))
    res = Engine(inp, make_policy(policy), record=True).run()
    return inp, res, run_metrics(inp, res)


# ---------------------------------------------------------------- price events
def two_prices(objective: str = "energy", lead: str | None = None) -> dict:
    """One 400 W job pinned to ``a`` for an hour (steps 0-11) at 50 EUR/MWh; two events
    meet in the middle of step 6 (1800-2100 s): 500 from 1650 s, 100 from 1950 s to 2250 s."""
    d = simkit.legacy_micro(sites=[simkit.site("a", power="1kW"), simkit.site("b", power="1kW")])
    d["jobs"][0]["allowed_sites"] = ["a"]
    extra = {} if lead is None else {"lead": lead}
    d["grid"] = {"objective": objective,
                 "zones": [{"name": "za", "sites": ["a"], "price": 50.0},
                           {"name": "zb", "sites": ["b"], "price": 50.0}],
                 "events": [{"id": "e1", "site": "a", "start": "1650s", "end": "1950s",
                             "price": 500.0, **extra},
                            {"id": "e2", "site": "a", "start": "1950s", "end": "2250s",
                             "price": 100.0, **extra}]}
    return d


def test_two_price_events_meeting_inside_a_step_share_it_by_their_time():
    # step 5: half 50, half 500 = 275; step 6: half 500, half 100 = 300 (not 187.5, the
    # second event blended into the first's blend); step 7: half 100, half 50 = 75
    inp, _, m = run(two_prices())
    assert inp.grid.price_per_mwh[inp.grid.history_steps + 5:][:3, 0].tolist() == \
        pytest.approx([275.0, 300.0, 75.0])
    prices = [50.0] * 12
    prices[5:8] = [275.0, 300.0, 75.0]
    assert m["job_energy_cost"] == pytest.approx(sum(400 * DT * p for p in prices) * PER_J,
                                                 abs=EUR_TOL)
    assert m["job_energy_cost"] == pytest.approx(0.036667, abs=1e-6)


def test_the_cost_forecast_blends_two_announced_events_once():
    inp = build_inputs(load_scenario(two_prices("cost", lead="30min")))
    fc = GridFeed(inp.grid, forecast_steps=12, step_s=DT).forecast(3)  # both announced
    assert (fc[2:5, 0] / PER_J).tolist() == pytest.approx([275.0, 300.0, 75.0])
    assert (fc[5:, 0] / PER_J).tolist() == pytest.approx([50.0] * 7)


def test_a_later_price_event_replaces_an_earlier_one_where_they_overlap():
    # e2 (100 from 1950 s) inside e1 (500 from 1650 s to 2250 s): step 6 is half 500,
    # half 100; step 7 half 100, half 50 (e1's end there is hidden by e2)
    d = two_prices()
    d["grid"]["events"][0]["end"] = "2250s"
    inp, _, _ = run(d)
    assert inp.grid.price_per_mwh[inp.grid.history_steps + 5:][:3, 0].tolist() == \
        pytest.approx([275.0, 300.0, 75.0])


# ---------------------------------------------------------------- a site listed twice


@pytest.mark.parametrize("value", [{"price": 500.0}, {"limit": "1.2kW"}])
def test_a_site_listed_twice_in_an_event_is_refused_naming_the_entry(value):
    d = simkit.micro(grid={"zones": [{"name": "z", "sites": ["a", "b"], "price": 50.0}],
                           "events": [{"id": "x", "sites": ["b", "a", "a"], "start": "30min",
                                       "duration": "30min", **value}]})
    with pytest.raises(ConfigError) as exc:
        load_scenario(d)
    assert str(exc.value) == "grid.events[0].sites[2]: 'a' is listed twice"


def test_a_site_listed_twice_is_one_line_naming_the_file_and_exit_2(tmp_path, capsys):
    d = simkit.micro(grid={"events": [{"id": "x", "sites": ["a", "a"], "start": "30min",
                                       "duration": "30min", "limit": "1.2kW"}]})
    path = simkit.write_scenario(d, tmp_path / "twice.toml")
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", str(path), "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == \
        f"error: {path}: grid.events[0].sites[1]: 'a' is listed twice"


# ---------------------------------------------------------------- limits
#: suspension saves, idle GPUs while a move is in flight: the books of the DR tests
ENERGY = {"source_in_flight": "idle", "dest_held": "idle", "host_share": 0.0,
          "suspend_saves": True, "network_to_grid": True}


def pinned_to_a(events: list[dict], jobs: list[tuple[str, str, float]],
                horizon: str = "2h") -> dict:
    """Sites without renewables (all power from the grid); ``jobs``: (name, arrival,
    GPU-h), one GPU each, allowed only at ``a`` (no move can shed them)."""
    d = simkit.micro(energy=ENERGY, grid={"events": events})
    d["horizon"] = horizon
    for site in d["sites"]:
        site["trace"] = {"kind": "constant", "power": "0W"}
    d["jobs"] = [{"name": n, "arrival": t, "work_gpu_h": w, "checkpoint": "1GB", "gpus": 1,
                  "origin": "a", "allowed_sites": ["a"]} for n, t, w in jobs]
    return d


def test_a_later_lower_limit_stops_jobs_at_its_own_start_not_its_announcement():
    # A: 1.8 kW from 5 min for 2 h (base 1 kW + both jobs' 800 W: nothing to shed);
    # B: 1 kW from 50 min (step 10) for 20 min, announced 40 min ahead (step 2). The jobs
    # run until B needs them off: they stop in step 9 (a 0.5 s checkpoint; a step later
    # would be too late) and resume at its end (step 14). flex: 2 x 400 W x 20 min.
    events = [{"id": "A", "site": "a", "start": "5min", "duration": "2h", "limit": "1.8kW"},
              {"id": "B", "site": "a", "start": "50min", "duration": "20min",
               "lead": "40min", "limit": "1kW"}]
    _, res, m = run(pinned_to_a(events, [("j0", "0s", 2.0), ("j1", "0s", 2.0)], "3h"))
    assert m["flex_kwh"] == pytest.approx(2 * 400 * 1200 / 3.6e6)
    assert (m["dr_suspended"], m["dr_moved"], m["dr_best_effort"]) == (2, 0, 0)
    assert m["dr_compliance_pct"] == 100.0
    assert res.grid_w[:9, 0].tolist() == pytest.approx([1800.0] * 9)  # no early stop
    assert res.grid_w[10:14, 0].tolist() == pytest.approx([1000.0] * 4)
    running = sorted((s[2], s[3]) for s in res.segments if s[4] == "running")
    assert running[:2] == [(0.0, 2700.0), (0.0, 2700.0)]


@pytest.mark.parametrize("mobility", ["pinned", "partial"])
def test_a_pinned_job_arriving_while_an_event_holds_its_origin_waits_for_it(mobility):
    """It started at the other site (the event's hold read as an operator's drain) and
    never came home: a pinned job ran away from its origin, and no offline bound applied
    to the run, static's included. A migratable job arriving with it still starts
    elsewhere at once."""
    events = [{"id": "hold", "site": "a", "start": "0s", "duration": "1h", "limit": "1kW"}]
    d = pinned_to_a(events, [("home", "10min", 0.5), ("free", "10min", 0.5)], "3h")
    d["jobs"][0].pop("allowed_sites")
    d["jobs"][0]["mobility"] = mobility
    if mobility == "partial":
        d["jobs"][0]["gpus"], d["jobs"][0]["migratable_share"] = 2, 0.5
    d["jobs"][1].pop("allowed_sites")
    inp, res, m = run(d)
    runs = {(inp.jobs[j].name, s, t0) for j, s, t0, _t1, kind in res.segments
            if kind == "running"}
    assert {(n, s) for n, s, _ in runs} == {("home", 0), ("free", 1)}
    assert min(t0 for n, _, t0 in runs if n == "home") == 3600.0  # at the event's end
    assert min(t0 for n, _, t0 in runs if n == "free") == 600.0
    assert m["unfinished_jobs"] == 0


def late_event(start: str) -> dict:
    """A 1 kW limit at ``a`` from ``start`` for 1 h, announced 1 h ahead; j0 (3 GPU-h)
    runs from 0, j1 (0.5 GPU-h) arrives at 70 min; the run ends at 2 h (24 steps)."""
    return pinned_to_a([{"id": "late", "site": "a", "start": start, "duration": "1h",
                         "lead": "1h", "limit": "1kW"}],
                       [("j0", "0s", 3.0), ("j1", "70min", 0.5)])


def test_an_event_starting_at_the_runs_end_limits_nothing_as_warned():
    sc = load_scenario(late_event("2h"))
    assert [w for w in scenario_warnings(sc) if "grid event" in w] == [
        "grid event 'late' (2023-01-01T02:00Z to 2023-01-01T03:00Z) lies wholly outside "
        "the run (2023-01-01T00:00Z to 2023-01-01T02:00Z): it limits nothing"]
    _, res, m = run(late_event("2h"))
    assert (m["dr_suspended"], m["dr_moved"], m["flex_kwh"]) == (0, 0, 0.0)
    # nothing closes a: j1 starts on arrival (step 14) and runs its 30 min
    assert res.grid_w[:, 0].tolist() == pytest.approx([1400.0] * 14 + [1800.0] * 6
                                                       + [1400.0] * 4)


class _Seen:
    """Never acts, and keeps the event keys each Observation showed (step -> keys)."""

    name = "seen"

    def __init__(self) -> None:
        from greenhop.policies.base import Capabilities

        self.capabilities = Capabilities()  # not passive: decide is called every step
        self.seen: dict[int, tuple] = {}

    def decide(self, obs):
        self.seen[int(obs.step)] = () if obs.dr_events is None else tuple(obs.dr_events.keys)
        return []

    def counters(self):
        return {}


@pytest.mark.parametrize("start, shown_from", [("2h", None), ("115min", 11)])
def test_a_policy_is_shown_an_event_only_if_it_starts_before_the_runs_end(start, shown_from):
    """The Observation shows the events the enforcement acts on: one starting at the run's
    end (which limits nothing) never; one starting in the last step from its announcement
    (step 11) on."""
    pol = _Seen()
    Engine(build_inputs(load_scenario(late_event(start))), pol).run()
    shown = sorted(k for k, keys in pol.seen.items() if keys)
    if shown_from is None:
        assert shown == []
    else:
        assert shown == list(range(shown_from, 24))


def test_an_event_starting_in_the_last_step_still_limits_and_is_not_warned():
    sc = load_scenario(late_event("115min"))
    assert not [w for w in scenario_warnings(sc) if "grid event" in w]
    _, res, m = run(late_event("115min"))
    # closed from its announcement (step 11): j1 waits; j0 stops in step 22 (its 0.5 s
    # checkpoint written before the start in step 23)
    assert m["dr_suspended"] == 1
    assert res.grid_w[14:22, 0].tolist() == pytest.approx([1400.0] * 8)
    assert res.grid_w[22:, 0].tolist() == pytest.approx([1000.0 + 50 * 0.5 / 300, 1000.0])


def reduce_at_a(start: str, lead: str) -> dict:
    """Four 1 GPU-h jobs at ``a`` (4 slots) from 0: 1.6 kW of jobs over the 1 kW base;
    ``reduce = 25%`` for 30 min from ``start``."""
    d = pinned_to_a([{"id": "peak", "site": "a", "start": start, "duration": "30min",
                      "lead": lead, "reduce": "25%"}],
                    [(f"j{i}", "0s", 1.0) for i in range(4)])
    d["sites"][0]["gpu_slots"] = 4
    return d


def test_a_reduce_announced_before_the_first_step_measures_the_first_steps_load():
    # announced before the run (no step before): the job load of step 0 (1.6 kW) is
    # measured, so the limit is 1 kW + 75 % x 1.6 kW = 2.2 kW (not the 1 kW base: a
    # 100 % cut); one job stops in step 5 (0.5 s before 30 min) for the event's 30 min
    _, res, m = run(reduce_at_a("30min", "1h"))
    assert res.counters["dr_limit_w.peak@a"] == pytest.approx(2200.0)
    assert (m["dr_suspended"], m["dr_compliance_pct"]) == (1, 100.0)
    assert m["flex_kwh"] == pytest.approx(400 * 1800 / 3.6e6)
    assert res.grid_w[:5, 0].tolist() == pytest.approx([2600.0] * 5)
    assert res.grid_w[6:12, 0].tolist() == pytest.approx([2200.0] * 6)


def test_a_reduce_from_the_first_step_is_taken_up_at_the_second():
    # starts and is announced at 0: step 0 runs all four jobs (2.6 kW, over the limit
    # it measures); from step 1 one job is off
    _, res, m = run(reduce_at_a("0s", "0s"))
    assert res.counters["dr_limit_w.peak@a"] == pytest.approx(2200.0)
    assert res.grid_w[0, 0] == pytest.approx(2600.0)
    assert res.grid_w[2:6, 0].tolist() == pytest.approx([2200.0] * 4)
    assert m["dr_suspended"] == 1


# ---------------------------------------------------------------- day-ahead prices
def test_a_day_ahead_step_is_known_only_if_it_ends_by_the_publications_end():
    # 2 h steps from 01:00 UTC: from 13:00 on day 0 (step 6, after the noon auction)
    # prices are published up to 22:00 of day 1; the step from 19:00 of day 1 (step 21)
    # ends at 21:00 and is known, the one from 21:00 (step 22) holds 22:00-23:00, not yet
    index = pd.date_range("2023-06-01T01:00Z", periods=36, freq="2h")
    known = day_ahead_known_until(index)
    assert known[6] == 21 and known[5] == 9  # before noon: up to 19:00-21:00 of day 0
    # 1 h steps aligned to 22:00: as before, up to the step from 21:00
    hourly = day_ahead_known_until(pd.date_range("2023-06-01", periods=48, freq="h",
                                                 tz="UTC"))
    assert hourly[12] == 45 and hourly[11] == 21
