"""The bounds are lower bounds: on generated three-site scenarios, every policy run the
bound covers (at least the bound's work per job) has at least the bound's job grid energy."""

from __future__ import annotations

import numpy as np
import pytest

from greenhop.policies import make_policy
from greenhop.sim.attribution import base_only_dispatch
from greenhop.sim.bounds import BOUND_KINDS, compute_bound
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

POLICIES = ("static", "energy-greedy", "feasibility-aware", "threshold")
SEEDS = range(10)
TOL_J = 3.6  # 1e-6 kWh: the LP's own tolerance is far below this


def _site(name, trace, **extra):
    d = {"name": name, "latitude": 0.0, "longitude": 0.0, "gpu_slots": 8,
         "base_load": "1kW", "pue": 1.2, "gpu_power": "400W", "gpu_idle": "60W",
         "throughput": 1.0, "trace": trace}
    d.update(extra)
    return d


def scenario(seed: int) -> dict:
    """Three sites (solar, constant, solar + battery), four days, 14 generated jobs: more
    work than the surplus can carry, so the bounds are well above zero."""
    return {
        "name": f"bounds-prop-{seed}", "start": "2023-06-01T00:00:00Z", "horizon": "4d",
        "step": "5min", "history": "1d", "seed": seed, "policies": list(POLICIES),
        "sites": [
            _site("sun", {"kind": "solar", "peak": "3.5kW"}),
            _site("flat", {"kind": "constant", "power": "1.5kW"}, throughput=1.25,
                  gpu_power="500W"),
            _site("store", {"kind": "solar", "peak": "3kW"},
                  battery={"capacity": "6kWh", "power": "2kW", "initial_soc": 0.3,
                           "min_soc": 0.1}),
        ],
        "links": [{"a": "sun", "b": "flat", "bandwidth": "10Gbps", "rtt": "20ms"},
                  {"a": "flat", "b": "store", "bandwidth": "5Gbps", "rtt": "30ms"}],
        "generator": {"count": 14, "until": "2d", "work_gpu_h": [10, 40], "gpus": [1, 2, 4],
                      "deadline_factor": 2.0,
                      "gpu_weights": [0.4, 0.4, 0.2], "partial_share": 0.5,
                      "mobility": {"migratable": 0.7, "pinned": 0.15, "partial": 0.15},
                      "models": [{"name": "bert-large", "params": 340e6}]},
    }


@pytest.mark.slow
def test_no_covered_policy_beats_a_bound():
    variants = [(k, False) for k in BOUND_KINDS] + [("spacetime", True)]
    applied = dict.fromkeys(variants, 0)
    by_policy = dict.fromkeys(POLICIES, 0)
    seeds_applied = dict.fromkeys(variants, 0)
    for seed in SEEDS:
        inp = build_inputs(load_scenario(scenario(seed)))
        base_j = base_only_dispatch(inp).total_j("grid")
        runs = {p: Engine(inp, make_policy(p)).run() for p in POLICIES}
        for kind, deadlines in variants:
            b = compute_bound(inp, kind, static=runs["static"], deadlines=deadlines)
            assert b.status == "Optimal", (seed, kind, b.status)
            bound_j = b.job_nr_kwh * 3.6e6
            hit = 0
            for name, run in runs.items():
                done = inp.job_work_gpu_s - run.job_remaining_gpu_s
                if kind == "spacetime" and not deadlines:
                    # without deadlines, covered = at least the bound's work for every job
                    assert b.covers(inp, run) == bool(
                        np.all(done >= b.job_work_gpu_s * (1 - 1e-6))), (seed, name)
                if not b.covers(inp, run):
                    continue
                job_nr_j = float(run.energy_j["grid"].sum()) - base_j
                assert job_nr_j >= bound_j - TOL_J, (seed, kind, name, job_nr_j, bound_j)
                hit += name != "static"
                by_policy[name] += 1
            # static is covered by construction: its own schedule is a point of the LP
            assert b.covers(inp, runs["static"]), (seed, kind)
            applied[kind, deadlines] += hit
            seeds_applied[kind, deadlines] += hit > 0
    # Not vacuous: the check reached a migrating policy on most seeds. (``space`` covers
    # fewer runs: a migrating policy frees slots, so a job static queued may start early,
    # ahead of static's progress, which ``space`` does not allow.)
    # threshold shifts work in time (suspends at night): it finishes its work, and is
    # checked, on some seeds; with deadlines only the work before each deadline counts.
    assert by_policy["threshold"] >= 4, by_policy
    assert seeds_applied["spacetime", False] >= 8, (seeds_applied, applied)
    assert seeds_applied["space", False] >= 6, (seeds_applied, applied)
    assert seeds_applied["spacetime", True] >= 6, (seeds_applied, applied)


def test_spacetime_never_above_space_and_static_above_both():
    for seed in (0, 1, 2):
        inp = build_inputs(load_scenario(scenario(seed)))
        static = Engine(inp, make_policy("static")).run()
        sp = compute_bound(inp, "space", static=static)
        st = compute_bound(inp, "spacetime", static=static)
        # spacetime drops the "never ahead of static" constraints: a relaxation of space
        assert st.job_nr_kwh <= sp.job_nr_kwh + 1e-6
        assert sp.job_nr_kwh <= sp.static_job_nr_kwh + 1e-6
        np.testing.assert_allclose(sp.job_work_gpu_s, st.job_work_gpu_s)
        done = inp.job_work_gpu_s - static.job_remaining_gpu_s
        np.testing.assert_allclose(st.job_work_gpu_s, done, rtol=1e-9, atol=1e-6)


def test_deadlines_bound_covers_static_and_is_no_lower():
    d = scenario(3)
    d["generator"]["deadline_factor"] = 1.2
    inp = build_inputs(load_scenario(d))
    static = Engine(inp, make_policy("static")).run()
    free = compute_bound(inp, "spacetime", static=static)
    dl = compute_bound(inp, "spacetime", static=static, deadlines=True)
    assert dl.status == "Optimal" and dl.covers(inp, static)
    # required work is static's work before each deadline: never more than without
    assert np.all(dl.job_work_gpu_s <= free.job_work_gpu_s + 1e-6)
    assert np.all(dl.job_window_end_s <= inp.scenario.horizon_s)
