"""The bounds on a scenario with jobs spread over sites: the work they require is the work
``static`` did, though a worker spends part of its running time waiting for its group."""

from __future__ import annotations

import numpy as np
import pytest

from greenhop.policies import make_policy
from greenhop.sim import load_scenario
from greenhop.sim.bounds import compute_bound, cumulative_work_gpu_s
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs


@pytest.fixture(scope="module")
def spread():
    inputs = build_inputs(load_scenario("distributed-llm"))
    return inputs, Engine(inputs, make_policy("static")).run()


def test_a_workers_work_is_what_its_group_let_it_do(spread):
    inputs, run = spread
    horizon_s = inputs.n_steps * inputs.scenario.step_s
    cum = cumulative_work_gpu_s(inputs, run, np.array([0.0, horizon_s / 2, horizon_s]))
    done = np.asarray(inputs.job_work_gpu_s) - run.job_remaining_gpu_s
    worker = np.array([j.worker is not None for j in inputs.jobs])
    assert worker.sum() >= 6  # the scenario spreads jobs: the case under test is there
    # counted at their running time, the workers that waited came to twice their work
    assert (cum[:, -1] <= done + 1e-6 * np.maximum(done, 1.0)).all()
    assert np.allclose(cum[~worker, -1], done[~worker])
    assert (np.diff(cum, axis=1) >= -1e-9).all()


def test_both_bounds_lie_below_static_on_its_own_work(spread):
    inputs, run = spread
    done_h = float((np.asarray(inputs.job_work_gpu_s) - run.job_remaining_gpu_s).sum()) / 3600
    space = compute_bound(inputs, "space", static=run)
    spacetime = compute_bound(inputs, "spacetime", static=run)
    static_kwh = space.static_job_nr_kwh
    assert spacetime.job_nr_kwh <= space.job_nr_kwh <= static_kwh
    # no more work than static did (an elastic group's skipped local steps are not work)
    assert 0.9 * done_h <= space.work_gpu_h <= done_h + 1e-6


def _straggler(horizon: str) -> dict:
    """Three 1-GPU workers of one job at sites a, b, c, 1 reference-GPU-h each in 6 outer
    steps; c's GPUs run at half the rate, so a's and b's workers wait half their running
    time at the barriers; a has surplus power (the bounds can move work there)."""
    import simkit

    sites = [simkit.site("a", power="3kW"), simkit.site("b"), simkit.site("c", tput=0.5)]
    links = [{"a": x, "b": y, "bandwidth": "8Gbps", "rtt": "10ms"}
             for x, y in (("a", "b"), ("b", "c"), ("a", "c"))]
    job = {"name": "d", "arrival": "0s", "work_gpu_h": 3.0, "gpus": 1, "workers": 3,
           "sync_every": 100, "outer_steps": 6, "model_params": 1e9,
           "worker_sites": ["a", "b", "c"]}
    return simkit.micro(sites=sites, links=links, jobs=[job], horizon=horizon)


@pytest.mark.parametrize("horizon", ["3h", "90min"])  # finished / cut off mid-job
def test_the_bounds_require_the_work_static_did_for_a_job_spread_over_sites(horizon):
    from greenhop.sim.metrics import run_metrics

    inputs = build_inputs(load_scenario(_straggler(horizon)))
    run = Engine(inputs, make_policy("static")).run()
    done_h = run_metrics(inputs, run)["work_done_gpu_h"]
    assert 0 < done_h <= 3.0
    space = compute_bound(inputs, "space", static=run)
    spacetime = compute_bound(inputs, "spacetime", static=run)
    # counted at full rate over their running time, a's and b's workers came to twice this
    assert space.work_gpu_h == pytest.approx(done_h, abs=1e-4)  # metrics: 4 decimals
    assert spacetime.work_gpu_h == pytest.approx(done_h, abs=1e-4)
    assert spacetime.job_nr_kwh <= space.job_nr_kwh <= space.static_job_nr_kwh + 1e-9
