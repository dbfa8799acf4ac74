"""Offline bounds on two-site micro-scenarios, worked by hand and checked to the joule.

Both sites: base load 1 kW, PUE 1, GPUs at 400 W, throughput 1, no battery; steps of
5 min over 2 h, so the default 1 h blocks hold 12 steps each and every trace below is
constant within a block (the time aggregation is exact here).
"""

from __future__ import annotations

import numpy as np
import pytest
from simkit import legacy_micro as micro  # hand-worked on the legacy books (no host share)
from simkit import site

from greenhop.core.errors import ConfigError
from greenhop.policies import make_policy
from greenhop.sim.attribution import base_only_dispatch
from greenhop.sim.bounds import BOUND_KINDS, BoundTooLargeError, compute_bound
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

KWH = 3.6e6
STEPS_PER_H = 12


def _job(name, gpus, work_h, **kw):
    return {"name": name, "arrival": "0s", "work_gpu_h": work_h, "checkpoint": "1GB",
            "gpus": gpus, "origin": "a", **kw}


def _hourly(*kw_per_hour):
    """A ``values`` trace holding ``kw_per_hour[h]`` kW through hour ``h``."""
    return {"kind": "values", "values": [kw * 1000.0 for kw in kw_per_hour
                                         for _ in range(STEPS_PER_H)]}


def _solve(d, kind):
    inp = build_inputs(load_scenario(d))
    static = Engine(inp, make_policy("static")).run()
    base_j = base_only_dispatch(inp).total_j("grid")
    static_nr_j = float(static.energy_j["grid"].sum()) - base_j
    return inp, static, base_j, static_nr_j, compute_bound(inp, kind, static=static)


def _case_below_static():
    # a: 1.2 kW renewable (0.2 kW over its base load); b: 1.1 kW (0.1 kW over).
    # One job, 2 GPUs, 2 GPU-h of work, arriving at a at t = 0.
    return micro(sites=[site("a", power="1.2kW"), site("b", power="1.1kW")],
                 jobs=[_job("j1", 2, 2.0)])


@pytest.mark.parametrize("kind", BOUND_KINDS)
def test_bound_strictly_below_static_by_hand(kind):
    _inp, _static, base_j, static_nr_j, b = _solve(_case_below_static(), kind)
    # Base only: renewables cover both base loads at every step -> no grid at all.
    assert base_j == pytest.approx(0.0, abs=1e-6)
    # static: the job runs at a for 1 h at 2 x 400 W; demand 1.8 kW against 1.2 kW of
    # renewables -> 0.6 kW from the grid for 3,600 s.
    assert static_nr_j == pytest.approx(600.0 * 3600.0, rel=1e-9)
    # Bound: 2 GPU-h at 400 W per GPU = 0.8 kWh wherever and whenever it runs.
    # spacetime: the renewables left over the base load in 2 h: a 0.2 kW x 2 h + b 0.1 kW
    # x 2 h = 0.6 kWh (the rate cap, 2 GPUs x 2 h = 4 GPU-h, and 4 slots per site do not
    # bind). Grid >= 0.8 - 0.6 = 0.2 kWh = 720 kJ.
    # space: static's profile, all 2 GPU-h in hour 0, split freely over a and b: their
    # surplus in hour 0 is 0.2 + 0.1 = 0.3 kWh, so the grid gives 0.8 - 0.3 = 0.5 kWh.
    # time: only at a, where static ran it, at any time: a's 0.2 kW x 2 h = 0.4 kWh of
    # surplus, so the grid gives 0.8 - 0.4 = 0.4 kWh.
    expected_kwh = {"spacetime": 0.2, "space": 0.5, "time": 0.4}[kind]
    assert b.job_nr_kwh * KWH == pytest.approx(expected_kwh * KWH, rel=1e-6)
    assert b.job_nr_kwh * KWH < static_nr_j
    assert b.status == "Optimal"
    assert b.work_gpu_h == pytest.approx(2.0, rel=1e-12)
    np.testing.assert_allclose(b.job_work_gpu_s, [7200.0], rtol=1e-12)
    assert b.static_job_nr_kwh == pytest.approx(0.6, rel=1e-9)


def _case_slots_bind(slots_a=2):
    # a: 2.6 kW renewable in hour 0 (1.6 kW over base), 1 kW in hour 1 (none over);
    # b: 1.4 kW in hour 0 (0.4 kW over), 1 kW in hour 1. a has `slots_a` GPU slots.
    # Two jobs at a, each 2 GPUs and 2 GPU-h, both arriving at t = 0.
    return micro(sites=[site("a", power=None, slots=slots_a, trace=_hourly(2.6, 1.0)),
                        site("b", power=None, slots=2, trace=_hourly(1.4, 1.0))],
                 jobs=[_job("j1", 2, 2.0), _job("j2", 2, 2.0)])


def test_slots_bind_by_hand():
    inp, static, base_j, static_nr_j, st = _solve(_case_slots_bind(), "spacetime")
    # Base only: renewables >= 1 kW base load everywhere -> no grid.
    assert base_j == pytest.approx(0.0, abs=1e-6)
    # static: a holds 2 slots, so j1 runs in hour 0 and j2 queues until j1 is done (t = 1 h)
    # and runs in hour 1. Hour 0 at a: 1.8 kW demand <= 2.6 kW renewables -> no grid;
    # hour 1 at a: 1.8 kW against 1.0 kW -> 0.8 kWh.
    assert static.job_start_s[1] == pytest.approx(3600.0)
    assert static_nr_j == pytest.approx(0.8 * KWH, rel=1e-9)
    # spacetime: 4 GPU-h of work, 0.4 kWh per GPU-h. Hour 0, a: the slots (2 GPUs x 1 h)
    # bind: 2 GPU-h = 0.8 kWh, all covered by its 1.6 kWh surplus. The other 2 GPU-h: at b
    # in hour 0 the first 1 GPU-h is covered by b's 0.4 kWh surplus; the last 1 GPU-h finds
    # no surplus left anywhere (b's 2 slots would hold it in hour 0, but its surplus is
    # used up; hour 1 has none) -> 0.4 kWh from the grid.
    assert st.job_nr_kwh == pytest.approx(0.4, rel=1e-6)
    # With 4 slots at a, a alone takes all 4 GPU-h in hour 0 (1.6 kWh = its surplus):
    # bound 0, so it was the slots that bound.
    _, _, _, _, free = _solve(_case_slots_bind(slots_a=4), "spacetime")
    assert free.job_nr_kwh == pytest.approx(0.0, abs=1e-6)
    # space: j2 may not run ahead of static, which did nothing for it in hour 0, so its
    # 2 GPU-h fall in hour 1 with no surplus anywhere: 0.8 kWh; j1 runs at a in hour 0
    # from surplus. Bound 0.8 kWh, equal to static here and above spacetime.
    _, _, _, _, sp = _solve(_case_slots_bind(), "space")
    assert sp.job_nr_kwh == pytest.approx(0.8, rel=1e-6)
    # static's own work prices to exactly each bound.
    assert st.for_run(inp, static) == pytest.approx(st.job_nr_kwh, abs=1e-9)
    assert sp.for_run(inp, static) == pytest.approx(sp.job_nr_kwh, abs=1e-9)


def _case_battery():
    # a alone does the work: b has no slots for 2 GPUs (1 slot). a: renewables 3 kW in
    # hour 0, 0 kW in hour 1, a battery of 1 kWh, 2 kW, round-trip efficiency 0.81
    # (0.9 per leg), empty floor 0, starting empty. One job of 2 GPUs, 2 GPU-h (no
    # room at b; static runs it in hour 0, the bound may put it in either hour).
    return micro(
        sites=[site("a", power=None, trace=_hourly(3.0, 0.0),
                    battery={"capacity": "1kWh", "power": "2kW",
                             "round_trip_efficiency": 0.81, "initial_soc": 0.0}),
               site("b", power="1kW", slots=1)],
        jobs=[_job("j1", 2, 2.0)])


def test_battery_by_hand():
    _inp, _static, base_j, static_nr_j, st = _solve(_case_battery(), "spacetime")
    # Base only at a: hour 0: 3 kW renewables, 1 kW base -> 2 kW excess charges the battery
    # (2 kW power limit) with 0.9 x 2 kW x 1 h = 1.8 kWh, capped at the 1 kWh capacity.
    # Hour 1: 1 kW deficit for 1 h = 1 kWh; the battery delivers 1 kWh x 0.9 = 0.9 kWh,
    # the grid the remaining 0.1 kWh. b: 1 kW renewables = base load -> none.
    assert base_j == pytest.approx(0.1 * KWH, rel=1e-6)
    # static: the job (2 GPUs x 400 W = 0.8 kW, 2 GPU-h -> 1 h) runs in hour 0: demand
    # 1.8 kW, excess 1.2 kW charges 0.9 x 1.2 = 1.08 -> capped at 1 kWh; hour 1 the same
    # as base only: grid 0.1 kWh. Job grid energy 0.
    assert static_nr_j == pytest.approx(0.0, abs=1e-3)
    # Bound: the job's 0.8 kWh in hour 0 at a leaves 1.2 kWh excess >= what fills the
    # battery; the LP cannot beat hour 1's 0.1 kWh (1 kWh stored gives 0.9 kWh) -> the
    # LP's grid is 0.1 kWh, the bound 0 -- and never below what a hand dispatch allows.
    assert st.job_nr_kwh == pytest.approx(0.0, abs=1e-6)
    assert st.grid_kwh == pytest.approx(0.1, rel=1e-6)


def test_battery_makes_the_bound_positive_by_hand():
    # As above but 4 GPU-h (2 h at 2 GPUs): static runs both hours. Hour 0: demand 1.8 kW,
    # excess 1.2 kW -> battery full (1 kWh). Hour 1: demand 1.8 kW, no renewables; the
    # battery gives 0.9 kWh, the grid 0.9 kWh -> job grid 0.9 - 0.1 = 0.8 kWh.
    d = _case_battery()
    d["jobs"] = [_job("j1", 2, 4.0)]
    _inp, _static, base_j, static_nr_j, st = _solve(d, "spacetime")
    assert base_j == pytest.approx(0.1 * KWH, rel=1e-6)
    assert static_nr_j == pytest.approx(0.8 * KWH, rel=1e-6)
    # Bound: 1.6 kWh of job energy plus 2 kWh of base load over 2 h = 3.6 kWh of demand;
    # supply: 3 kWh renewables in hour 0, of which 1.8 kWh feeds hour 0's load (base 1 +
    # job 0.8 at most, the job's rate cap being 2 GPUs x 1 h) and up to 1.2 kWh charges
    # (1.08 stored, capped at 1 kWh -> 0.9 kWh delivered). Hour 1 needs 1 + 0.8 = 1.8 kWh:
    # 0.9 from the battery, 0.9 from the grid. Bound 0.9 - 0.1 = 0.8 kWh = static.
    assert st.job_nr_kwh == pytest.approx(0.8, rel=1e-6)


@pytest.mark.parametrize("kind", BOUND_KINDS)
def test_deadline_keeps_work_in_the_dark_hour_by_hand(kind):
    # a: renewables 1 kW (= base load) in hour 0, 3 kW in hour 1; b has 1 slot, too few for
    # the job. One job at a: 2 GPUs (0.8 kW), 2 GPU-h -> 1 h of running, deadline 1 h.
    d = micro(sites=[site("a", power=None, trace=_hourly(1.0, 3.0)),
                     site("b", power="1kW", slots=1)],
              jobs=[_job("j1", 2, 2.0, deadline="1h")])
    inp, static, base_j, static_nr_j, free = _solve(d, kind)
    # Base only: renewables >= base load throughout -> no grid.
    assert base_j == pytest.approx(0.0, abs=1e-6)
    # static runs the job in hour 0 with no surplus: 0.8 kWh from the grid.
    assert static_nr_j == pytest.approx(0.8 * KWH, rel=1e-9)
    # Without deadlines, spacetime (and time: it is at a, where static ran it) may run the
    # job in hour 1 on 2 kW of surplus: 0. space keeps static's profile (hour 0, and b has
    # no room): 0.8 kWh, as static.
    assert free.job_nr_kwh == pytest.approx({"spacetime": 0.0, "space": 0.8, "time": 0.0}[kind],
                                            abs=1e-6)
    # With its deadline it must do its 2 GPU-h (all done before the deadline by static) in
    # hour 0: 0.8 kWh, as static.
    dl = compute_bound(inp, kind, static=static, deadlines=True)
    assert dl.job_nr_kwh == pytest.approx(0.8, rel=1e-6)
    np.testing.assert_allclose(dl.job_window_end_s, [3600.0])
    assert dl.for_run(inp, static) == pytest.approx(dl.job_nr_kwh, abs=1e-9)


@pytest.mark.parametrize(("cap", "kwh"), [(None, 0.0), (3.0, 0.0), (2.0, 0.0), (1.5, 0.4),
                                         (1.25, 0.6), (1.0, 0.8)])
def test_slowdown_cap_keeps_work_in_the_dark_hour_by_hand(cap, kwh):
    # The case above without a deadline: the job's ideal time is 1 h (2 GPU-h on 2 GPUs at
    # throughput 1), so a cap X leaves it the window [0, X h]. Hour 1 holds X - 1 h of it,
    # X - 1 h of running on 2 kW of surplus (enough for 0.8 kW): the rest, 2 - X h, runs in
    # the dark hour 0 at 0.8 kW. X >= 2: all of it in hour 1, as without a cap.
    d = micro(sites=[site("a", power=None, trace=_hourly(1.0, 3.0)),
                     site("b", power="1kW", slots=1)],
              jobs=[_job("j1", 2, 2.0)])
    inp = build_inputs(load_scenario(d))
    static = Engine(inp, make_policy("static")).run()
    b = compute_bound(inp, "spacetime", static=static, max_slowdown=cap)
    assert b.job_nr_kwh == pytest.approx(kwh, abs=1e-6)
    assert b.max_slowdown == cap and b.to_dict()["max_slowdown"] == cap
    # the same work as without a cap, in a shorter window; static (slowdown 1) meets every cap
    assert b.work_gpu_h == pytest.approx(2.0)
    np.testing.assert_allclose(b.job_window_end_s, [min(2.0, cap or 2.0) * 3600.0])
    assert b.for_run(inp, static) == pytest.approx(b.job_nr_kwh, abs=1e-9)


def test_slowdown_cap_no_schedule_meets_is_infeasible_not_a_number():
    # Two 1-h jobs on 2 GPUs each at a with 2 slots (b has 1): at cap 1 both must run in
    # [0, 1 h] at once, 4 GPUs where 2 fit (static runs one after the other: slowdown 2).
    d = micro(sites=[site("a", power="1kW", slots=2), site("b", power="1kW", slots=1)],
              jobs=[_job("j1", 2, 2.0), _job("j2", 2, 2.0)])
    inp = build_inputs(load_scenario(d))
    b = compute_bound(inp, "spacetime", max_slowdown=1.0)
    assert b.job_nr_kwh is None and b.status != "Optimal"
    assert compute_bound(inp, "spacetime", max_slowdown=2.0).status == "Optimal"


@pytest.mark.parametrize(("quantile", "kwh"), [(None, 1.6), (0.5, 0.8), (0.9, 0.8)])
def test_slowdown_quantile_lets_one_job_of_two_wait_by_hand(quantile, kwh):
    # Two of the job above at a (4 slots: both fit), cap 1: each must run in the dark hour
    # 0 (2 x 0.8 kWh). The 0.5 and the 0.9 quantile of two slowdowns are at most 1 only if
    # the smaller one is (np.percentile: v0 + q (v1 - v0)), so one job may wait for hour 1,
    # whose 2 kW of surplus carries its 0.8 kW: 0.8 kWh.
    d = micro(sites=[site("a", power=None, trace=_hourly(1.0, 3.0)),
                     site("b", power="1kW", slots=1)],
              jobs=[_job("j1", 2, 2.0), _job("j2", 2, 2.0)])
    inp = build_inputs(load_scenario(d))
    b = compute_bound(inp, "spacetime", max_slowdown=1.0, slowdown_quantile=quantile)
    assert b.job_nr_kwh == pytest.approx(kwh, abs=1e-6)
    assert b.to_dict()["slowdown_quantile"] == quantile
    if quantile is not None:  # the run's work enters the LP's coefficients: no price
        assert b.for_run(inp, Engine(inp, make_policy("static")).run()) is None


@pytest.mark.parametrize(("whole", "kwh"), [(False, 0.8), (True, 1.2)])
def test_whole_exemptions_let_one_job_wait_not_half_of_each_by_hand(whole, kwh):
    # a: renewables at its base load (no surplus) for 1.5 h, then 3 kW (2 kW of surplus,
    # enough for both jobs' 1.6 kW) for the last 0.5 h. Two jobs of 2 GPU-h on 2 GPUs (1 h
    # ideal), cap 1 with the p90 (one of two may pass); 5-min blocks, so the cap is exact.
    # Shares: each job does half its work in [0, 1 h] (0.4 kWh each) and half in the
    # surplus: 0.8 kWh. Whole jobs: one keeps the cap (0.8 kWh); the other can put only
    # 0.5 h into the surplus and runs the rest in the dark (0.4 kWh): 1.2 kWh.
    dark, bright = 1.0, 3.0
    trace = {"kind": "values",
             "values": [kw * 1000.0 for kw in [dark] * 18 + [bright] * 6]}
    d = micro(sites=[site("a", power=None, trace=trace), site("b", power="1kW", slots=1)],
              jobs=[_job("j1", 2, 2.0), _job("j2", 2, 2.0)])
    inp = build_inputs(load_scenario(d))
    static = Engine(inp, make_policy("static")).run()
    b = compute_bound(inp, "spacetime", static=static, max_slowdown=1.0,
                      slowdown_quantile=0.9, whole_exemptions=whole, block_s=300.0)
    assert b.status == "Optimal"
    # the MILP answers its dual bound, at most 1% of static's 1.6 kWh below the optimum
    assert kwh - 0.016 - 1e-6 <= b.job_nr_kwh <= kwh + 1e-6
    assert b.whole_exemptions is whole and b.to_dict()["whole_exemptions"] is whole
    assert ("MILP" in b.method) is whole


@pytest.mark.parametrize(("kind", "cap", "match"), [
    ("space", 2.0, "only the spacetime and time bounds take a slowdown cap"),
    ("spacetime", 0.5, "must be a finite number >= 1"),
    ("spacetime", float("nan"), "must be a finite number >= 1"),
    ("spacetime", float("inf"), "must be a finite number >= 1"),
    ("spacetime", (2.0, 1.0), "slowdown_quantile: a quantile is strictly between 0 and 1"),
    ("spacetime", (2.0, 0.0), "slowdown_quantile: a quantile is strictly between 0 and 1"),
    ("spacetime", (None, 0.9), "slowdown_quantile: give the slowdown"),
    ("spacetime", (2.0, None, True), "whole_exemptions: only a slowdown quantile has"),
])
def test_bad_slowdown_cap_is_refused(kind, cap, match):
    inp = build_inputs(load_scenario(micro()))
    cap, quantile, whole = (*cap, False)[:3] if isinstance(cap, tuple) else (cap, None, False)
    with pytest.raises(ConfigError, match=match):
        compute_bound(inp, kind, max_slowdown=cap, slowdown_quantile=quantile,
                      whole_exemptions=whole)


@pytest.mark.parametrize("limit_s", [0.0, -1.0, float("nan")])
def test_a_time_limit_that_is_not_positive_is_refused(limit_s):
    inp = build_inputs(load_scenario(micro()))
    with pytest.raises(ConfigError, match="time_limit_s: must be > 0 s"):
        compute_bound(inp, "spacetime", time_limit_s=limit_s)


def test_grid_limit_unmet_energy_keeps_the_bound_below_by_hand():
    # a: 0.5 kW renewables, grid import limit 1 kW; b: 1 kW renewables (= base load) and 1
    # slot, too few for the job. One job at a: 2 GPUs (0.8 kW), 2 GPU-h -> 1 h.
    d = micro(sites=[site("a", power="0.5kW", grid_import_limit="1kW"),
                     site("b", power="1kW", slots=1)],
              jobs=[_job("j1", 2, 2.0)])
    _inp, static, base_j, static_nr_j, b = _solve(d, "spacetime")
    # Base only: a needs 0.5 kW for 2 h = 1 kWh from the grid (under its limit); b none.
    assert base_j == pytest.approx(1.0 * KWH, rel=1e-9)
    # static, hour 0: a needs 1 + 0.8 - 0.5 = 1.3 kW, the grid gives its 1 kW limit and
    # 0.3 kWh is unmet; hour 1: 0.5 kWh. Grid 1.5 kWh -> job grid 0.5 kWh, less than the
    # job's 0.8 kWh because the simulator counts the excess as unmet, not grid.
    assert static.energy_j["unmet"][0] == pytest.approx(0.3 * KWH, rel=1e-9)
    assert static_nr_j == pytest.approx(0.5 * KWH, rel=1e-9)
    # LP at a, per hour: peak demand 1 kW base + 4 slots x 400 W + the WAN at 4 Gbit/s x
    # 1e-7 J/bit (400 W) = 3 kW, so the chord allows unmet x <= (3 / 1 - 1) g = 2 g, and
    # g >= min(base deficit 0.5 kW, limit) x 1 h = 0.5 kWh. With g = 0.5 the balance
    # g + x >= 0.5 + job takes up to 1 kWh of job energy an hour: the bound is 0 (an LP
    # without unmet energy would claim 0.8 kWh, above static: no bound at all).
    assert b.job_nr_kwh == pytest.approx(0.0, abs=1e-6)
    assert b.job_nr_kwh * KWH <= static_nr_j


@pytest.mark.parametrize("limit", ["1e-9W", "1e-300W"])
def test_a_vanishing_grid_limit_solves_as_no_grid(limit):
    """A limit of 1e-9 W made HiGHS answer "Infeasible" and 1e-300 W "Empty" (the LP's
    coefficient peak / limit was 1e12 or more); under a millionth of the peak it is no
    grid, and the bound is the one of a limit of 0 W (and still at most static's)."""
    def case(limit):
        return micro(sites=[site("a", power="0.5kW", grid_import_limit=limit),
                            site("b", power="1kW", slots=1)], jobs=[_job("j1", 2, 2.0)])

    *_, none = _solve(case("0W"), "spacetime")
    *_, static_nr_j, tiny = _solve(case(limit), "spacetime")
    assert tiny.status == "Optimal"
    assert tiny.job_nr_kwh == pytest.approx(none.job_nr_kwh, abs=1e-9)
    assert tiny.job_nr_kwh * KWH <= static_nr_j + 1e-6


def test_unknown_kind_lists_the_valid_ones():
    inp = build_inputs(load_scenario(micro()))
    with pytest.raises(ConfigError, match="valid kinds: space, spacetime, time"):
        compute_bound(inp, "where")


def _case_surplus_elsewhere_then_at_home():
    # a: no surplus in hour 0, 2 kW over its base load in hour 1; b: 2 kW over its base
    # load in hour 0, none in hour 1. One job at a (2 GPUs, 0.8 kW, 2 GPU-h: 1 h ideal).
    return micro(sites=[site("a", power=None, trace=_hourly(1.0, 3.0)),
                        site("b", power=None, trace=_hourly(3.0, 1.0))],
                 jobs=[_job("j1", 2, 2.0)])


@pytest.mark.parametrize(("cap", "spacetime_kwh", "time_kwh"),
                         [(None, 0.0, 0.0), (1.5, 0.0, 0.4), (1.0, 0.0, 0.8)])
def test_time_bound_waits_at_static_site_where_spacetime_moves_by_hand(cap, spacetime_kwh,
                                                                       time_kwh):
    """The job's surplus is at b now and at a, where static runs it, an hour later.
    spacetime moves it to b (0 kWh whatever the cap); time may only wait at a: all of it
    in hour 1 without a cap, the X - 1 h of it a cap X leaves in hour 1 and the rest
    (2 - X h at 0.8 kW) in the dark hour 0."""
    inp = build_inputs(load_scenario(_case_surplus_elsewhere_then_at_home()))
    static = Engine(inp, make_policy("static")).run()
    st = compute_bound(inp, "spacetime", static=static, max_slowdown=cap)
    tb = compute_bound(inp, "time", static=static, max_slowdown=cap)
    assert st.job_nr_kwh == pytest.approx(spacetime_kwh, abs=1e-6)
    assert tb.job_nr_kwh == pytest.approx(time_kwh, abs=1e-6)
    assert tb.kind == "time" and tb.job_site.tolist() == [0]   # static ran it at a
    assert tb.job_nr_kwh <= tb.static_job_nr_kwh + 1e-9        # static: 0.8 kWh
    assert tb.for_run(inp, static) == pytest.approx(tb.job_nr_kwh, abs=1e-9)


def test_time_bound_prices_runs_that_keep_static_sites_and_no_others():
    """for_run: a run that moved the job off static's site has no time bound (the LP has
    no such placement); the spacetime bound prices it."""
    inp = build_inputs(load_scenario(_case_surplus_elsewhere_then_at_home()))
    static = Engine(inp, make_policy("static")).run()
    greedy = Engine(inp, make_policy("energy-greedy")).run()
    assert any(site == 1 for _j, site, *_ in greedy.segments)   # not vacuous: it moved to b
    tb = compute_bound(inp, "time", static=static)
    st = compute_bound(inp, "spacetime", static=static)
    assert tb.for_run(inp, greedy) is None
    assert st.for_run(inp, greedy) is not None


def test_memory_guard_refuses_before_building():
    inp = build_inputs(load_scenario(micro()))
    with pytest.raises(BoundTooLargeError) as info:
        compute_bound(inp, "spacetime", max_memory_bytes=1000)
    msg = str(info.value)
    assert "columns" in msg and "nonzeros" in msg and "over the limit of 1 kB" in msg
    assert "shorten the horizon" in msg and "fewer jobs" in msg
    assert isinstance(info.value, ConfigError)


def test_to_dict_keys():
    inp = build_inputs(load_scenario(micro()))
    d = compute_bound(inp, "space").to_dict()
    assert {"job_nr_kwh", "work_gpu_h", "solve_s", "status"} <= set(d)
    assert d["status"] == "Optimal"
    # micro(): one 1 GPU-h job at a (0.2 kW surplus) and b (9 kW surplus, throughput 2):
    # b alone absorbs it -> bound 0.
    assert d["job_nr_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert d["work_gpu_h"] == pytest.approx(1.0)


def test_a_scenario_asking_for_the_time_bound_gets_its_gap_for_runs_that_stay(tmp_path):
    """``[bounds] kinds = ["time"]``: static's gap closed is 0; energy-greedy moved the job
    off static's site, so it has no time bound and says why; the report shows the column."""
    from greenhop.sim import simulate
    from greenhop.sim.report import write_report

    d = _case_surplus_elsewhere_then_at_home()
    d["policies"] = ["static", "energy-greedy"]
    d["bounds"] = {"kinds": ["time"]}
    result = simulate(d)
    assert set(result.bounds) == {"time"}
    assert result.bounds["time"]["job_nr_kwh"] == pytest.approx(0.0, abs=1e-6)
    static, greedy = result.metrics_by_policy["static"], result.metrics_by_policy["energy-greedy"]
    assert static["gap_closed_time_pct"] == 0.0
    assert static["bound_time_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert greedy["bound_time_kwh"] is None and greedy["gap_closed_time_pct"] is None
    assert "away from the site static first ran it at" in greedy["gap_closed_time_why"]
    html = write_report(result, tmp_path / "report.html").read_text()
    assert "gap closed % (time bound)" in html
    # the gap's bound is said to be each policy's own (the printed one is static's)
    assert "with the bound priced at the policy's own work" in html
