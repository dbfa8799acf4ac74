"""``carbonscaler``: an elastic job grows on its marginal-throughput curve when surplus
rises, shrinks to what its deadline needs when it falls, and finishes in time."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.core.errors import ConfigError
from greenhop.policies import POLICIES, make_policy
from greenhop.policies.base import available_headroom_w
from greenhop.policies.carbonscaler import CarbonScalerPolicy
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import run_metrics
from greenhop.sim.scenario import load_scenario

HOUR_STEPS = 12  # 5-min steps
GPU_W = 600.0  # a site's per-GPU power: 400 W and the default conventions' host share
LOW, HIGH = 1_000.0, 1_000.0 + 8 * GPU_W + 200.0  # the base load only, or 8 GPUs' worth


def trace(hours: list[tuple[int, float]]) -> list[float]:
    return [w for h, w in hours for _ in range(h * HOUR_STEPS)]


def scenario(work_gpu_h: float = 40.0, deadline: str | None = "24h",
             hours=((3, LOW), (4, HIGH), (17, LOW)), **job) -> dict:
    """One 8-slot site (600 W per GPU, PUE 1), surplus 3 h low, 4 h high, then low; one
    elastic job (1-8 GPUs, nominal 2) arriving at midnight."""
    site = simkit.site("a", power=None, slots=8,
                       trace={"kind": "values", "values": trace(list(hours))})
    spec = {"name": "j", "arrival": "0s", "work_gpu_h": work_gpu_h, "checkpoint": "10GB",
            "gpus": 2, "min_gpus": 1, "max_gpus": 8, "origin": "a", **job}
    if deadline is not None:
        spec["deadline"] = deadline
    return simkit.micro(horizon="24h", history="0s", sites=[site], links=[], jobs=[spec],
                        window_threshold="1kW")


class Watched(CarbonScalerPolicy):
    """carbonscaler, recording the job's GPU count at every decision."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.counts: list[tuple[float, int]] = []

    def decide(self, observation):
        self.counts.append((observation.now_s, int(observation.job_gpus[0])))
        return super().decide(observation)


def run(d: dict, policy):
    inp = build_inputs(load_scenario(d))
    return inp, Engine(inp, policy, record=True).run()


def count_at(policy: Watched, t_s: float) -> int:
    return [g for t, g in policy.counts if t <= t_s][-1]


def test_it_scales_up_when_surplus_rises_and_down_when_it_falls_and_meets_the_deadline():
    policy = Watched()
    inp, res = run(scenario(), policy)
    assert inp.gpu_power_w[0] == GPU_W
    h = 3600.0
    # Before the surplus: the deadline needs the nominal 2 GPUs (1 GPU would take 38 h).
    assert count_at(policy, 2.9 * h) == 2
    # In the surplus: as wide as it covers, 5 kW / 600 W: 8 GPUs.
    assert count_at(policy, 6.9 * h) == 8
    # After it: back down to what the deadline needs, here the minimum.
    assert count_at(policy, 8 * h) == 1
    assert res.counters["scales"] == 2 and res.counters["rejected_scales"] == 0
    assert res.job_finish_s[0] <= 24 * h
    # The same job at its nominal count finishes too (20 h) but draws more grid power.
    inp0, static = run(scenario(), make_policy("static"))
    assert static.job_finish_s[0] <= 24 * h
    mine, theirs = run_metrics(inp, res), run_metrics(inp0, static)
    assert mine["job_nr_kwh"] < 0.8 * theirs["job_nr_kwh"]
    assert mine["scales"] == 2 and mine["rejected_scales"] == 0 and "scales" not in theirs


def test_a_tight_deadline_raises_the_count_at_once_whatever_the_surplus():
    """30 GPU-h by 12 h cannot be done on 2 GPUs (15 h): it scales up at the first decision,
    although there is no surplus, and finishes in time."""
    policy = Watched()
    _, res = run(scenario(work_gpu_h=30.0, deadline="12h", hours=((24, LOW),)), policy)
    # placed after the first decision, scaled at the second, on 3 GPUs from the third
    assert [g for _, g in policy.counts[1:3]] == [2, 3]
    assert res.job_finish_s[0] <= 12 * 3600.0


def test_no_surplus_and_a_loose_deadline_shrinks_to_the_minimum_once():
    policy = Watched()
    _, res = run(scenario(work_gpu_h=4.0, hours=((24, LOW),)), policy)
    assert res.counters["scales"] == 1
    assert count_at(policy, 2 * 3600.0) == 1
    assert res.job_finish_s[0] <= 24 * 3600.0


def test_jobs_that_are_not_elastic_are_left_alone():
    d = scenario(min_gpus=2, max_gpus=2)
    _, res = run(d, make_policy("carbonscaler"))
    assert res.counters.get("scales", 0) == 0 and res.counters["rejected_actions"] == 0


def test_registered_with_its_citation_and_capabilities():
    cls = POLICIES.get("carbonscaler")
    assert cls.capabilities.scales and not cls.capabilities.migrates
    assert "CarbonScaler" in cls.source and "SIGMETRICS" in cls.source
    with pytest.raises(ConfigError, match="carbonscaler"):
        make_policy("carbonscaler", min_dwell_s=-1)


class Checked(CarbonScalerPolicy):
    """carbonscaler checking its targets at every decision (one site)."""

    def __init__(self) -> None:
        super().__init__()
        self.decisions = 0

    def targets(self, obs, jobs, floor, fixed):
        target = super().targets(obs, jobs, floor, fixed)
        lo, hi = obs.job_gpu_range()
        cur = obs.job_gpus[jobs]
        assert ((lo[jobs] <= target) & (target <= hi[jobs])).all()
        assert (target[fixed] == cur[fixed]).all()
        # increases fit the free slots (GPUs a decrease sheds are not free yet)
        assert int(np.maximum(target - cur, 0).sum()) <= int(obs.free_gpus[0])
        # above the floors, only as many GPUs as the surplus left by the rest covers
        gpu_w = float(obs.gpu_power_w[0] * obs.pue[0])
        budget = available_headroom_w(obs)[0] + float(cur.sum()) * gpu_w
        cover = int(np.floor(max(budget, 0.0) / gpu_w))
        assert int(target.sum()) <= max(int(np.where(fixed, cur, floor).sum()), cover)
        self.decisions += 1
        return target


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 8), st.floats(2.0, 30.0)),
                min_size=1, max_size=4),
       st.lists(st.floats(LOW, 6_000.0), min_size=4, max_size=4), st.integers(0, 4))
def test_targets_stay_in_range_fit_the_slots_and_the_surplus(jobs, power, busy):
    """Any mix of elastic jobs (and a fixed one) on one site with a surplus that moves
    every 3 h: every count asked for is within the job's range and fits the free slots
    (none is refused), and above the deadline floors no more GPUs than the surplus left by
    the other jobs covers."""
    specs = [{"name": f"j{i}", "arrival": f"{i * 10}min", "work_gpu_h": w, "checkpoint": "5GB",
              "gpus": min(g, hi), "min_gpus": 1, "max_gpus": max(g, hi, 2), "origin": "a",
              "deadline": "20h"} for i, (g, hi, w) in enumerate(jobs)]
    if busy:
        specs.append({"name": "fixed", "arrival": "0s", "work_gpu_h": 50.0,
                      "checkpoint": "1GB", "gpus": busy, "origin": "a"})
    d = scenario(hours=[(3, p) for p in power] * 2)
    d["jobs"] = specs
    policy = Checked()
    _, res = run(d, policy)
    assert policy.decisions > 0
    assert res.counters.get("rejected_scales", 0) == 0
    assert res.counters["rejected_actions"] == 0


def test_targets_follow_marginal_throughput_across_jobs():
    """Two jobs, one with a flat curve (serial share 0) and one that scales badly (0.5):
    a few spare GPUs go to the flat one first."""
    d = scenario(hours=((24, 1_000.0 + 6 * GPU_W),))
    d["jobs"] = [
        {"name": "flat", "arrival": "0s", "work_gpu_h": 30.0, "checkpoint": "1GB", "gpus": 1,
         "min_gpus": 1, "max_gpus": 6, "scaling": 0.0, "origin": "a"},
        {"name": "poor", "arrival": "0s", "work_gpu_h": 30.0, "checkpoint": "1GB", "gpus": 1,
         "min_gpus": 1, "max_gpus": 6, "scaling": 0.5, "origin": "a"}]
    seen = []

    class Spy(CarbonScalerPolicy):
        def decide(self, observation):
            acts = super().decide(observation)
            if acts:
                seen.append(acts)
            return acts

    run(d, Spy(max_delay_s=1e6))
    first = {a.job: a.gpus for a in seen[0]}
    # 6 GPUs of surplus: the flat job's next GPUs add 1 each; the poor one's second adds
    # 1/3 (speedup 4/3): the flat job takes 5, the poor one keeps 1
    assert first == {0: 5}


def test_the_documented_elastic_example_loads_with_elastic_jobs():
    """examples/elastic.toml, the scenario of the comparison in docs/policies-builtin.md."""
    from greenhop.sim.scenario_jobs import generate_jobs

    path = Path(__file__).resolve().parents[2] / "examples" / "elastic.toml"
    sc = load_scenario(path)
    assert "carbonscaler" in sc.policies
    jobs = generate_jobs(sc)
    elastic = [j for j in jobs if j.elastic]
    assert len(elastic) >= len(jobs) // 2
    assert all(j.gpu_range[0] == 1 and j.gpu_range[1] >= j.gpus for j in elastic)
