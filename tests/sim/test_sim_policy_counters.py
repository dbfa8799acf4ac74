"""A policy's own counters (``PolicyBase.counters()``) reach the run's metrics."""

from __future__ import annotations

import simkit

from greenhop.policies.base import PolicyBase
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import run_metrics
from greenhop.sim.scenario import load_scenario


class CountingPolicy(PolicyBase):
    """Never acts; counts its calls and the calls that saw a running job."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0
        self.saw_running = 0

    def decide(self, obs):
        self.calls += 1
        self.saw_running += int((obs.job_phase == 2).any())
        return []

    def counters(self) -> dict[str, float]:
        return {"counting_calls": self.calls, "counting_saw_running": self.saw_running}


def test_policy_counters_are_in_the_metrics_and_match_the_calls():
    inputs = build_inputs(load_scenario(simkit.micro()))
    policy = CountingPolicy()
    result = Engine(inputs, policy).run()
    metrics = run_metrics(inputs, result)
    assert result.counters["policy_calls"] == policy.calls > 0
    assert metrics["counting_calls"] == policy.calls
    assert 0 < metrics["counting_saw_running"] <= policy.calls


def test_a_policy_without_counters_adds_no_keys():
    inputs = build_inputs(load_scenario(simkit.micro()))
    plain = run_metrics(inputs, Engine(inputs, CountingPolicy()).run())

    class Quiet(CountingPolicy):
        def counters(self):
            return {}

    quiet = run_metrics(inputs, Engine(inputs, Quiet()).run())
    assert set(plain) - set(quiet) == {"counting_calls", "counting_saw_running"}
