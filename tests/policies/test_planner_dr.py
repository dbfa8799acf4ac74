"""horizon-planner takes announced demand-response events as hard constraints.

The fleet of tests/fleet/test_demand_response.py over 8 h: sites ``a`` and ``b``, base load
1 kW each, one 400 W job of 1 GPU-h at ``a`` (no renewables); ``b`` has 10 kW (a feasible,
green destination, but a quarter as fast: without an event the job stays at ``a``) or none
(no window: no feasible move). The event asks ``a`` for at most 1 kW (its base load: a job
power limit of 0 W) from 30 min for 4 h, announced 15 min ahead (step 3, 900 s).

To show that the planner's own actions meet the event, some runs switch the fleet's
shedding off (:class:`ClosureOnly`: the site is still closed to new work and the limits
still measured, but no job is moved or suspended by the enforcement).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.core.observation import RUNNING, SUSPENDED
from greenhop.fleet.demand_response import DemandResponse, events_of
from greenhop.policies import make_policy
from greenhop.policies.base import PolicyBase
from greenhop.policies.planner_dr import hold_first_block
from greenhop.policies.planner_lp import PlanInput, solve_plan
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import run_metrics
from greenhop.sim.scenario import load_scenario

ENERGY = {"source_in_flight": "idle", "dest_held": "idle", "host_share": 0.0,
          "suspend_saves": True, "network_to_grid": True}


def scenario(b_power="10kW", events=True, **event) -> dict:
    ev = {"id": "peak", "site": "a", "start": "30min", "duration": "4h", "lead": "15min",
          "limit": "1kW", **event}
    d = simkit.micro(energy=ENERGY, grid={"events": [ev] if events else []}, horizon="8h")
    d["sites"][0]["trace"] = {"kind": "constant", "power": "0W"}
    d["sites"][1]["trace"] = {"kind": "constant", "power": b_power}
    d["sites"][1]["throughput"] = 0.25  # green but slow: without an event the job stays
    return d


class ClosureOnly(DemandResponse):
    """The fleet's demand response without its shedding (closure, limits and restores
    only): whatever meets the event is the policy's doing."""

    def _shed(self, core, step, s, evs):
        return []


class Recorder(PolicyBase):
    """Keeps a copy of what each Observation says of the events and closed sites."""

    name = "recorder"

    def __init__(self) -> None:
        self.seen: dict[int, tuple] = {}

    def decide(self, obs):
        ev = obs.dr_events
        rows = None if ev is None else [
            (k, int(s), float(a), float(b), float(w), float(n)) for k, s, a, b, w, n in zip(
                ev.keys, ev.site, ev.start_s, ev.end_s, ev.job_limit_w, ev.announced_s,
                strict=True)]
        closed = None if obs.site_closed is None else obs.site_closed.tolist()
        self.seen[obs.step] = (rows, closed)
        return []


def run(d, policy, *, shed=True):
    inp = build_inputs(load_scenario(d))
    eng = Engine(inp, policy, record=True)
    if not shed:
        events, zones = events_of(inp)
        eng.core.demand_response = ClosureOnly(inp, events, zones)
    res = eng.run()
    return res, run_metrics(inp, res)


# ------------------------------------------------------------------ the Observation


def test_an_event_is_in_the_observation_from_its_announcement_to_its_end_and_not_before():
    rec = Recorder()
    d = scenario(duration="30min")
    d["jobs"][0]["work_gpu_h"] = 3.0  # still running after the event: a decision every step
    run(d, rec)
    for step, (rows, closed) in rec.seen.items():
        if step < 3:     # announced at 900 s: nothing known before (None, as in a run
            assert rows is None and closed == [False, False], step  # with no events)
        elif step < 12:  # from the announcement to the end (3600 s)
            assert rows == [("peak@a", 0, 1800.0, 3600.0, 0.0, 900.0)], step
            assert closed == [True, False], step
        else:
            assert rows is None and closed == [False, False], step
    assert {3, 11, 12} <= set(rec.seen)


def test_a_relative_event_shows_the_limit_fixed_at_its_announcement():
    rec = Recorder()
    run(scenario(limit=None, reduce="50%", b_power="0W"), rec)
    (rows, _closed) = rec.seen[3]
    # base + half the job's 400 W of the step before: 200 W left to the jobs
    assert rows[0][4] == pytest.approx(200.0)
    assert rec.seen[6][0][0][4] == pytest.approx(200.0)  # not measured again later


def test_an_event_added_while_running_reaches_the_observation_from_its_announcement():
    # the live controller's way: the fleet's demand response made empty, the event added
    # to it at run time (greenhop grid event); the same Observation build shows it
    from greenhop.core.grid_events import event_from_fields

    d = scenario(events=False)
    d["jobs"][0]["work_gpu_h"] = 3.0
    inp = build_inputs(load_scenario(d))
    rec = Recorder()
    eng = Engine(inp, rec)
    dr = eng.core.demand_response = DemandResponse(inp)
    dr.add(event_from_fields("event", {"id": "late", "site": "b", "start": "1h",
                                       "duration": "1h", "announce": "40min",
                                       "limit": "1.4kW"},
                             origin_unix_s=float(inp.params.start_unix_s)))
    eng.run()
    assert rec.seen[7][0] is None and rec.seen[7][1] == [False, False]
    assert rec.seen[8][0] == [("late@b", 1, 3600.0, 7200.0, 400.0, 2400.0)]
    assert rec.seen[8][1] == [False, True]


def test_a_run_without_events_has_no_event_field_and_the_arrays_are_read_only():
    seen = []

    class Keep(PolicyBase):
        name = "keep"

        def decide(self, obs):
            seen.append((obs.dr_events, obs.site_closed.flags.writeable))
            return []

    run(scenario(events=False), Keep())
    assert seen and all(ev is None and not w for ev, w in seen)
    rec = Recorder()

    class Write(PolicyBase):
        name = "write"

        def decide(self, obs):
            if obs.dr_events is not None and len(obs.dr_events):
                with pytest.raises(ValueError):
                    obs.dr_events.job_limit_w[0] = 1e9
                rec.seen[obs.step] = True
            return []

    run(scenario(), Write())
    assert rec.seen


# ------------------------------------------------------------------ the planner's actions


def test_the_planner_alone_moves_the_job_to_the_green_site_before_the_event():
    res, m = run(scenario("10kW"), make_policy("horizon-planner"), shed=False)
    (mig,) = res.migrations
    assert (mig["src"], mig["dst"]) == (0, 1)
    assert mig["start_s"] == 900.0 and mig["end_s"] < 1800.0  # done before the start
    assert m["dr_compliance_pct"] == 100.0 and m["dr_excess_kwh"] == 0.0
    assert (m["dr_moved"], m["dr_suspended"]) == (0, 0)
    assert (res.grid_w[6:54, 0] <= 1000.0 + 1e-9).all()
    assert res.counters["rejected_actions"] == 0


def test_the_planner_alone_suspends_the_job_before_the_event_when_no_move_is_feasible():
    pol = make_policy("horizon-planner")
    res, m = run(scenario("0W"), pol, shed=False)
    assert res.migrations == []
    kinds = [(s[2], s[3], s[4]) for s in res.segments if s[0] == 0]
    # suspended when the event is announced (the next plan, at its start, would be too
    # late for the checkpoint), resumed by the first plan after its end
    assert (900.0, 16200.0, "suspended") in kinds
    assert m["dr_compliance_pct"] == 100.0 and m["dr_excess_kwh"] == 0.0
    assert (m["dr_moved"], m["dr_suspended"]) == (0, 0)
    c = pol.counters()
    assert (c["planner_suspends"], c["planner_resumes"]) == (1.0, 1.0)
    assert res.counters["rejected_actions"] == 0


def test_the_planner_plans_again_at_once_when_an_event_is_announced_or_ends():
    # announced at 20 min (step 4), between the planner's 15-min epochs, starting at
    # 25 min: the epoch at 30 min would be too late; it ends at 4 h 25 min (15900 s), off
    # the epoch grid too
    pol = make_policy("horizon-planner")
    res, m = run(scenario("0W", start="25min", lead="5min"), pol, shed=False)
    kinds = [(s[2], s[3], s[4]) for s in res.segments if s[0] == 0]
    assert (1200.0, 15900.0, "suspended") in kinds
    assert m["dr_compliance_pct"] == 100.0
    assert (m["dr_moved"], m["dr_suspended"]) == (0, 0)


def test_without_shedding_a_policy_that_ignores_the_event_misses_it():
    # the harness itself does not meet the event: the planner's runs above did
    _res, m = run(scenario("10kW"), make_policy("static"), shed=False)
    assert m["dr_compliance_pct"] < 100.0 and m["dr_excess_kwh"] > 0.0


@pytest.mark.parametrize("b_power", ["10kW", "0W"])
def test_without_the_event_the_planner_neither_moves_nor_suspends(b_power):
    pol = make_policy("horizon-planner")
    res, _m = run(scenario(b_power, events=False), pol)
    assert res.migrations == [] and res.counters["suspensions"] == 0
    assert pol.counters()["planner_moves"] == 0.0
    assert pol.counters()["planner_suspends"] == 0.0


@pytest.mark.parametrize("b_power", ["10kW", "0W"])
def test_with_the_fleets_enforcement_the_event_is_met_and_no_planner_action_refused(b_power):
    d = scenario(b_power)
    # a second job arrives at the closed site during the event's lead time
    d["jobs"].append({"name": "late", "arrival": "20min", "work_gpu_h": 0.1,
                      "checkpoint": "1GB", "gpus": 1, "origin": "a"})
    pol = make_policy("horizon-planner")
    res, m = run(d, pol)
    assert m["dr_compliance_pct"] == 100.0
    # nothing planned into the closed site, no resume there before the event ends
    assert res.counters["rejected_actions"] == 0
    late = [s for s in res.segments if s[0] == 1]
    assert late[0][1] == 1


def test_the_fallback_does_not_resume_a_job_at_a_site_an_event_holds():
    # HiGHS (almost) never in time: the epochs are feasibility-aware's, which resumes
    # suspended jobs, but not at the closed site (the enforcement suspended the job there)
    pol = make_policy("horizon-planner", time_limit_s=1e-6)
    res, m = run(scenario("0W"), pol)
    assert pol.counters()["planner_fallbacks"] > 0
    assert m["dr_compliance_pct"] == 100.0 and res.counters["rejected_actions"] == 0


def test_with_the_fleets_enforcement_the_planner_suspends_before_it_has_to():
    # the enforcement waits for the last step a suspension's checkpoint allows; the
    # planner, seeing the event at its announcement, has suspended the job by then
    pol = make_policy("horizon-planner")
    res, m = run(scenario("0W"), pol)
    assert m["dr_compliance_pct"] == 100.0
    assert (m["dr_moved"], m["dr_suspended"]) == (0, 0)
    assert pol.counters()["planner_suspends"] == 1.0
    kinds = [(s[2], s[3], s[4]) for s in res.segments if s[0] == 0]
    assert (900.0, 16200.0, "suspended") in kinds


# ------------------------------------------------------------------ the LP and the rounding


def plan_input(p_kw, surplus_kw, dr_limit_kw, dr_block, avail0=1.0, dr_site=None,
               out_kw=None):
    """Jobs at site 0 over three 1-hour blocks, one candidate move of job 0 to site 1,
    demand-response rows (at site 0 unless ``dr_site`` says; blocks ``dr_block``, limits
    ``dr_limit_kw``); ``out_kw``: the move's idle power at site 0 counted in every row
    there (in flight when those events start)."""
    J, B = len(p_kw), 3
    sites = np.zeros(len(dr_block), dtype=np.int64) if dr_site is None else np.asarray(
        dr_site, dtype=np.int64)
    out = np.flatnonzero(sites == 0) if out_kw is not None else np.zeros(0, np.int64)
    return PlanInput(
        home=np.zeros(J, dtype=np.int64), p_home_kw=np.asarray(p_kw, float),
        rem_h=np.full(J, 5.0), need_h=np.zeros(J), tail_grid=np.zeros(J),
        dfrac=np.ones((J, B)), a_home=np.ones((J, B)), pj=np.array([0]), pc=np.array([1]),
        p_kw=np.array([p_kw[0]]), rho=np.array([1.0]), avail=np.array([[avail0, 1.0, 1.0]]),
        gpus=np.array([1]), gbit=np.array([8.0]), e_kwh=np.array([0.01]),
        link_rows=np.array([0]), link_cols=np.array([0]), budget_gbit=np.array([100.0]),
        surplus_kw=np.array([[surplus_kw] * B, [5.0] * B]), free=np.array([0, 4]),
        tau_h=np.ones(B), tmid_h=np.array([0.5, 1.5, 2.5]), dr_site=sites,
        dr_block=np.asarray(dr_block, dtype=np.int64),
        dr_limit_kw=np.asarray(dr_limit_kw, float), dr_out_row=out.astype(np.int64),
        dr_out_col=np.zeros(out.size, np.int64),
        dr_out_kw=np.full(out.size, 0.0 if out_kw is None else out_kw))


ARGS = {"lam": 0.8, "mu": 0.5, "deadline_penalty": 20.0, "time_limit_s": 5.0}


def test_a_limit_of_zero_empties_the_site_in_its_block_and_no_limit_leaves_it_alone():
    free = solve_plan(plan_input([0.4, 0.8], 2.0, [], []), **ARGS)
    assert free.ok and free.xh[:, 1].min() > 0.99  # green at home: both run
    held = solve_plan(plan_input([0.4, 0.8], 2.0, [0.0], [1]), **ARGS)
    assert held.ok and np.allclose(held.xh[:, 1], 0.0, atol=1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=st.lists(st.floats(0.1, 2.0), min_size=1, max_size=4),
       surplus=st.floats(0.0, 6.0),
       limits=st.lists(st.floats(0.0, 4.0), min_size=6, max_size=6),
       rows=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 2)), unique=True,
                     max_size=6),
       avail0=st.floats(0.0, 1.0), out_kw=st.floats(0.0, 0.5))
def test_the_plan_never_puts_more_job_power_than_the_limit_at_an_event_site(
        p, surplus, limits, rows, avail0, out_kw):
    """Events at the jobs' site (0) and at the move's destination (1) in random blocks,
    random limits >= 0 (a limit at or above the base load): every solved plan keeps the
    job power it puts at an event's site in an event block under the limit."""
    lim = [limits[3 * s + b] for s, b in rows]
    pi = plan_input(p, surplus, lim, [b for _, b in rows], avail0,
                    dr_site=[s for s, _ in rows], out_kw=out_kw)
    res = solve_plan(pi, **ARGS)
    assert res.ok
    m = float(res.m[0])
    for (s, b), cap in zip(rows, lim, strict=True):
        if s == 0:  # the jobs at home, and the move's idle power while it leaves
            planned_kw = float(pi.p_home_kw @ res.xh[:, b]) + out_kw * m
        else:       # the moved job running at the destination
            planned_kw = float(pi.p_kw[0] * pi.avail[0, b] * m)
        assert planned_kw <= cap + 1e-6, (s, b, planned_kw, cap)


def test_the_rounding_keeps_the_first_block_under_the_limit():
    obs = type("Obs", (), {})()
    obs.job_phase = np.array([RUNNING, RUNNING, SUSPENDED, RUNNING])
    jobs = np.arange(4)
    home = np.array([0, 0, 0, 1])
    power = np.array([400.0, 300.0, 200.0, 900.0])
    share = np.array([0.9, 0.6, 0.8, 1.0])
    # 500 W at site 0 from 100 s: job 0 (400) + job 2 resuming (200) + job 1 (300) is 900.
    more, drop = hold_first_block(obs, jobs, home, power, share, {0: (500.0, 100.0)},
                                  taken={}, idle_w={}, stopping=set(), resuming={2})
    # the least-planned go first: job 1 (0.6), then the resume of job 2 (0.8): 400 W stay
    assert (more, drop) == ({1}, {2})
    # a move out still in flight at the start (150 s) holds its 150 W idle there: with
    # job 0's 400 W that is over 500 W, so job 0 stops too; a move done by then does not
    args = (obs, jobs, home, power, share, {0: (500.0, 100.0)})
    assert hold_first_block(*args, taken={1: 150.0}, idle_w={1: 150.0}, stopping=set(),
                            resuming=set()) == ({0}, set())
    assert hold_first_block(*args, taken={1: 50.0}, idle_w={1: 150.0}, stopping=set(),
                            resuming=set()) == (set(), set())
