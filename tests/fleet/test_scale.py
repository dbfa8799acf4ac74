"""The Scale action: elastic jobs change their GPU count in the fleet core, both mechanisms'
one code (admission, slots, progress, energy, Observation, snapshots)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.core.errors import ConfigError
from greenhop.core.observation import RUNNING, Migrate, Place, Resume, Scale, Suspend
from greenhop.core.scaling import effective_gpus, speedup
from greenhop.core.specs import JobSpec
from greenhop.fleet import admission
from greenhop.fleet.core import FleetCore
from greenhop.fleet.state import FleetState
from greenhop.policies.base import Capabilities, PolicyBase, make_policy
from greenhop.runtime.controller import Controller, RunConfig
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import run_metrics
from greenhop.sim.scenario import load_scenario
from greenhop.sim.scenario_jobs import generate_jobs

ELASTIC = {"name": "e", "arrival": "0s", "work_gpu_h": 4.0, "checkpoint": "10GB", "gpus": 2,
           "min_gpus": 1, "max_gpus": 4, "origin": "a"}


def scenario(**over) -> dict:
    """Two 4-slot sites on constant power, an elastic job at ``a`` (1-4 GPUs, nominal 2)."""
    over = {"sites": [simkit.site("a", power="3kW"), simkit.site("b", power="3kW")],
            "jobs": [dict(ELASTIC)], **over}
    return simkit.micro(**over)


class At(PolicyBase):
    """Test policy: the given actions at the given steps; records what it saw."""

    name = "at"
    capabilities = Capabilities(migrates=True, suspends=True, places=True, scales=True)

    def __init__(self, plan: dict[int, list]) -> None:
        self.plan = plan
        self.seen: list[tuple[int, np.ndarray]] = []
        self.free: list[np.ndarray] = []

    def decide(self, obs):
        self.seen.append((obs.step, np.array(obs.job_gpus)))
        self.free.append(np.array(obs.free_gpus))
        return list(self.plan.get(obs.step, []))


def run(d: dict, policy, **kw):
    inp = build_inputs(load_scenario(d))
    return inp, Engine(inp, policy, record=True, **kw).run()


# ---------------------------------------------------------------- the speedup curve
def test_amdahl_speedup_and_the_nominal_count():
    assert speedup(1, 0.05) == pytest.approx(1.0)
    assert speedup(8, 0.0) == pytest.approx(8.0)
    assert speedup(8, 0.05) == pytest.approx(8 / 1.35)
    # the nominal count keeps the model of a job that never scales: gpus x throughput
    assert effective_gpus(2, 2, 0.05) == 2.0 and effective_gpus(4, 4, 0.3) == 4.0
    assert effective_gpus(4, 2, 0.05) == pytest.approx(2 * (4 / 1.15) / (2 / 1.05))


@given(st.integers(1, 63), st.floats(0.0, 0.99))
def test_each_extra_gpu_adds_less_than_the_one_before(g, s):
    d1 = speedup(g + 1, s) - speedup(g, s)
    d2 = speedup(g + 2, s) - speedup(g + 1, s)
    assert 0 < d2 <= d1 + 1e-12


# ---------------------------------------------------------------- admission
def _inp():
    return SimpleNamespace(slots=np.array([4, 4]))


def test_scale_admission_rules():
    inp = _inp()
    phase = np.array([RUNNING, RUNNING, 0])
    site = np.array([0, 0, 0])
    gpus = np.array([2, 2, 2])
    lo, hi = np.array([1, 2, 1]), np.array([4, 2, 4])
    occ = np.array([4, 0])
    ok = dict(gpus=gpus, min_gpus=lo, max_gpus=hi)
    assert admission.can_scale(inp, phase, site, occ, 0, 1, **ok)        # down: no slot needed
    assert not admission.can_scale(inp, phase, site, occ, 0, 3, **ok)    # up: site full
    assert admission.can_scale(inp, phase, site, np.array([3, 0]), 0, 3, **ok)
    assert not admission.can_scale(inp, phase, site, np.array([2, 0]), 0, 5, **ok)  # > max
    assert not admission.can_scale(inp, phase, site, occ, 0, 0, **ok)    # < min
    assert not admission.can_scale(inp, phase, site, occ, 0, 2, **ok)    # no change
    assert not admission.can_scale(inp, phase, site, occ, 1, 1, **ok)    # not elastic
    assert not admission.can_scale(inp, phase, site, occ, 2, 1, **ok)    # not running
    assert not admission.can_scale(inp, phase, site, occ, -1, 1, **ok)   # unknown job
    assert not admission.can_scale(inp, phase, site, occ, 0, 1.5, **ok)  # not a count
    drained = np.array([True, False])
    assert admission.can_scale(inp, phase, site, occ, 0, 1, drained=drained, **ok)
    assert not admission.can_scale(inp, phase, site, np.array([2, 0]), 0, 3, drained=drained,
                                   **ok)                                 # drained: no growth


# ---------------------------------------------------------------- the fleet core
def test_a_rescale_costs_a_save_and_a_restore_in_place_and_then_runs_on_the_new_count():
    # 10 GB at 2 GB/s write + 2 GB/s read + 60 s startup: 70 s of downtime.
    policy = At({1: [Scale("e", 4)]})
    inp, res = run(scenario(), policy)
    assert res.counters["scales"] == 1 and res.counters["rejected_scales"] == 0
    assert res.job_down_s[0] == pytest.approx(70.0)
    assert [s[4] for s in res.segments][:3] == ["running", "rescaling", "running"]
    assert res.migrations == []
    # the Observation shows the new count from the decision after the Scale
    assert [int(g[0]) for _, g in policy.seen[:3]] == [2, 2, 4]
    # work: 300 s at 2 GPUs, then 4 GPUs' point of the curve for the rest
    done = 2 * 300.0
    fast = float(effective_gpus(4, 2, 0.05))
    finish = 300.0 + 70.0 + (4 * 3600.0 - done) / fast
    assert res.job_finish_s[0] == pytest.approx(finish)
    # energy: 300 s on 2 GPUs, 70 s idle on 4 (held: the larger count), then on 4 (PUE 1;
    # the per-GPU figures carry the conventions' host share)
    run_w, idle_w = float(inp.gpu_power_w[0]), float(inp.gpu_idle_w[0])
    want = 300 * 2 * run_w + 70 * 4 * idle_w + (finish - 370.0) * 4 * run_w
    assert res.job_energy_j[0] == pytest.approx(want)


def test_a_decrease_frees_its_slots_after_the_restore_and_the_slots_go_to_a_queued_job():
    d = scenario(jobs=[dict(ELASTIC, gpus=4, min_gpus=1), {
        "name": "q", "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": "1GB", "gpus": 3,
        "origin": "a"}])
    _, res = run(d, At({1: [Scale("e", 1)]}))
    # q waits at a (4 slots taken) until e has restored on 1 GPU, then starts
    assert res.job_start_s[1] == pytest.approx(600.0)
    assert res.counters["scales"] == 1


def test_scale_is_refused_and_counted_for_jobs_that_may_not():
    d = scenario(jobs=[dict(ELASTIC), {"name": "n", "arrival": "0s", "work_gpu_h": 1.0,
                                       "checkpoint": "1GB", "gpus": 1, "origin": "b"}])
    _, res = run(d, At({1: [Scale("n", 2), Scale("e", 9), Scale("e", 2), Scale("zz", 1)]}))
    assert res.counters["scales"] == 0
    assert res.counters["rejected_scales"] == 4 and res.counters["rejected_actions"] == 4


def test_a_pinned_elastic_job_scales_but_never_moves():
    d = scenario(jobs=[dict(ELASTIC, mobility="pinned")])
    _, res = run(d, At({1: [Scale("e", 3), Migrate("e", "b")], 3: [Migrate("e", "b")]}))
    assert res.counters["scales"] == 1 and res.migrations == []
    assert res.counters["rejected_actions"] == 2
    # an operator's pin does not stop a rescale either
    inp = build_inputs(load_scenario(scenario()))
    core = FleetCore(inp, power_feed=lambda a, b: core.see_power(
        a, inp.renewable_w[inp.history_steps + a:inp.history_steps + b]))
    core.ensure_seen(0)
    core.arrivals(0)
    core.place_queued(0)
    core.state.pinned[0] = True
    assert core.apply([Scale(0, 1), Suspend(0)], 0) == [("scale", 0, 0, 0)]


def test_a_scaled_job_migrates_with_its_current_count():
    d = scenario()
    policy = At({1: [Scale("e", 3)], 4: [Migrate("e", "b")]})
    _, res = run(d, policy)
    assert len(res.migrations) == 1 and res.migrations[0]["end_s"] is not None
    # the move (about 90 s) is over by step 5: b holds the job's 3 GPUs, a none
    assert int(policy.seen[5][1][0]) == 3
    assert policy.free[5].tolist() == [4, 1] and policy.free[3].tolist() == [1, 4]


def test_without_elastic_jobs_counters_and_figures_are_what_they_were():
    """An elastic job never scaled runs exactly as the same job that is not elastic."""
    plain = scenario(jobs=[{k: v for k, v in ELASTIC.items()
                            if k not in ("min_gpus", "max_gpus")}])
    inp0, res0 = run(plain, make_policy("static"))
    inp1, res1 = run(scenario(), make_policy("static"))
    assert "scales" not in res0.counters and "scales" not in res1.counters
    assert res0.job_finish_s.tolist() == res1.job_finish_s.tolist()
    assert res0.job_energy_j.tolist() == res1.job_energy_j.tolist()
    m0, m1 = run_metrics(inp0, res0), run_metrics(inp1, res1)
    assert m0 == m1


def test_the_snapshot_keeps_the_current_counts():
    inp = build_inputs(load_scenario(scenario()))
    st_ = FleetState(inp)
    st_.gpus[0], st_.g_move[0], st_.scale_to[0] = 4, 4, 4
    back = FleetState(inp)
    back.load_json(json.loads(json.dumps(st_.to_json())))
    assert back.gpus.tolist() == [4] and back.g_move.tolist() == [4]
    assert back.scale_to.tolist() == [4]
    plain = build_inputs(load_scenario(simkit.micro()))
    assert "scaling" not in FleetState(plain).to_json()


class RandomActions(PolicyBase):
    """Random actions, Scale among them, checking the fleet's invariants at each decision."""

    name = "random-actions"
    capabilities = Capabilities(migrates=True, suspends=True, places=True, scales=True)

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.checked = 0

    def decide(self, obs):
        lo, hi = obs.job_gpu_range()
        assert (obs.free_gpus >= 0).all() and (obs.free_gpus <= obs.gpu_slots).all()
        assert ((lo <= obs.job_gpus) & (obs.job_gpus <= hi)).all()
        self.checked += 1
        out = []
        for _ in range(int(self.rng.integers(0, 4))):
            j = int(self.rng.integers(obs.n_jobs))
            s = int(self.rng.integers(obs.n_sites))
            kind = int(self.rng.integers(5))
            out.append((Scale(j, int(self.rng.integers(0, 7))), Migrate(j, s), Suspend(j),
                        Resume(j), Place(j, s))[kind])
        return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4)),
                                        min_size=1, max_size=4))
def test_random_actions_never_overfill_slots_and_counts_stay_in_range(seed, shapes):
    jobs = []
    for i, (g, hi) in enumerate(shapes):
        jobs.append({"name": f"j{i}", "arrival": f"{i * 5}min", "work_gpu_h": 6.0,
                     "checkpoint": "4GB", "gpus": min(g, hi), "min_gpus": 1,
                     "max_gpus": max(g, hi), "origin": "a" if i % 2 else "b"})
    d = scenario(jobs=jobs, horizon="3h")
    inp = build_inputs(load_scenario(d))
    policy = RandomActions(seed)
    engine = Engine(inp, policy)
    res = engine.run()
    assert policy.checked >= 1
    state = engine.core.state
    assert (state.occupied >= 0).all() and (state.occupied <= inp.slots).all()
    lo, hi = state.min_gpus, state.max_gpus
    assert ((lo <= state.gpus) & (state.gpus <= hi)).all()
    # what is held is what the jobs not done hold (moving jobs at both ends)
    held = np.zeros(2, dtype=np.int64)
    for j in range(len(jobs)):
        if state.phase[j] in (2, 3, 4):
            np.add.at(held, state.site[j], state.g_move[j])
            if state.phase[j] == 4 and state.is_move[j]:
                np.add.at(held, state.dest[j], state.g_move[j])
    assert held.tolist() == state.occupied.tolist()
    done = ~np.isnan(res.job_finish_s)
    assert (res.job_remaining_gpu_s[done] == 0).all()


def test_the_random_actions_do_scale_jobs():
    jobs = [dict(ELASTIC, name=f"j{i}", origin="ab"[i % 2]) for i in range(3)]
    _, res = run(scenario(jobs=jobs, horizon="3h"), RandomActions(1))
    assert res.counters["scales"] > 0 and res.counters["rejected_scales"] > 0


# ---------------------------------------------------------------- specs and scenarios
def test_job_spec_checks_the_range():
    with pytest.raises(ConfigError, match="min_gpus <= gpus <= max_gpus"):
        JobSpec("x", 0, 1.0, 1e9, gpus=2, min_gpus=3, max_gpus=4)
    with pytest.raises(ConfigError, match="partially migratable job cannot be elastic"):
        JobSpec("x", 0, 1.0, 1e9, gpus=2, mobility="partial", migratable_share=0.5,
                max_gpus=4)
    with pytest.raises(ConfigError, match="serial share"):
        JobSpec("x", 0, 1.0, 1e9, gpus=2, max_gpus=4, serial_share=1.0)
    assert JobSpec("x", 0, 1.0, 1e9, gpus=2, max_gpus=4).elastic
    assert not JobSpec("x", 0, 1.0, 1e9, gpus=2).elastic


def test_scenario_keys_min_max_and_scaling():
    sc = load_scenario(scenario(jobs=[dict(ELASTIC, scaling=0.1)]))
    job = sc.jobs()[0]
    assert (job.min_gpus, job.gpus, job.max_gpus, job.serial_share) == (1, 2, 4, 0.1)
    for bad, where in (({"min_gpus": 3}, "min_gpus"), ({"max_gpus": 1}, "max_gpus"),
                       ({"scaling": 1.5}, "scaling")):
        with pytest.raises(ConfigError, match=where):
            load_scenario(scenario(jobs=[dict(ELASTIC, **bad)]))
    with pytest.raises(ConfigError, match="partially migratable job cannot scale"):
        load_scenario(scenario(jobs=[dict(ELASTIC, mobility="partial")]))


def test_the_generator_makes_movable_jobs_elastic_up_to_max_gpus():
    gen = {"count": 12, "models": [{"name": "m", "checkpoint": "2GB"}], "work_gpu_h": [1, 4],
           "gpus": [1, 2], "max_gpus": 3, "scaling": 0.1,
           "mobility": {"migratable": 0.5, "partial": 0.5}}
    d = scenario(horizon="6h")
    d.pop("jobs")
    d["generator"] = gen
    jobs = generate_jobs(load_scenario(d))
    movable = [j for j in jobs if j.mobility != "partial"]
    assert movable and all(j.gpu_range == (1, 3) and j.serial_share == 0.1 for j in movable)
    assert all(not j.elastic for j in jobs if j.mobility == "partial")
    # without max_gpus the same draws come out, none elastic
    gen.pop("max_gpus")
    gen.pop("scaling")
    plain = generate_jobs(load_scenario(d))
    assert [(j.name, j.gpus, j.work_gpu_h) for j in plain] == \
        [(j.name, j.gpus, j.work_gpu_h) for j in jobs]
    assert not any(j.elastic for j in plain)


# ---------------------------------------------------------------- live runs
def test_the_live_controller_refuses_a_policy_that_scales():
    inp = build_inputs(load_scenario(scenario()))
    cfg = RunConfig(scenario="micro", scenario_sha256="", policy_name="carbonscaler")
    with pytest.raises(ConfigError, match="carbonscaler' scales jobs' GPU counts"):
        Controller(None, inp, lambda: make_policy("carbonscaler"), None, None, cfg)
