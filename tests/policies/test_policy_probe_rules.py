"""Rules a probe of the published policies found broken at the edges of their parameters
(each docstring gives the case)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.policies import make_policy
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

STEPS_PER_HOUR = 12


def _site(hours: list[tuple[int, float]], slots: int = 8) -> dict:
    values = [w for h, w in hours for _ in range(h * STEPS_PER_HOUR)]
    return simkit.site("a", power=None, slots=slots, trace={"kind": "values", "values": values})


class _Seen:
    """Wraps a policy; keeps each decision's GPU count of job 0 and its actions."""

    def __init__(self, inner):
        self.inner, self.name, self.capabilities = inner, inner.name, inner.capabilities
        self.gpus: list[int] = []
        self.actions: list[str] = []

    def decide(self, obs):
        out = self.inner.decide(obs)
        self.gpus.append(int(obs.job_gpus[0]))
        self.actions += [type(a).__name__ for a in out]
        return out

    def counters(self):
        return {}


def _run(d, policy):
    inp = build_inputs(load_scenario(d))
    return Engine(inp, policy).run()


def test_carbonscaler_grows_a_job_in_surplus_hours_whatever_its_min_dwell():
    """With ``min_dwell_s`` 0 (or 1 s), both accepted, an increase had to pay back its
    downtime within the dwell: never, so the job stayed at 2 GPUs through the surplus."""
    low, high = 1000.0, 1000.0 + 8 * 600 + 200.0  # base 1 kW; room for 8 GPUs of 600 W
    job = {"name": "e", "arrival": "0s", "work_gpu_h": 40.0, "checkpoint": "10GB", "gpus": 2,
           "min_gpus": 1, "max_gpus": 8, "origin": "a", "deadline": "24h"}
    for dwell in (0.0, 1.0, 3600.0):
        d = simkit.micro(horizon="24h", history="0s", links=[], jobs=[job],
                         sites=[_site([(3, low), (4, high), (17, low)])],
                         window_threshold="1kW")
        seen = _Seen(make_policy("carbonscaler", min_dwell_s=dwell))
        _run(d, seen)
        in_surplus = seen.gpus[3 * STEPS_PER_HOUR:7 * STEPS_PER_HOUR]
        assert max(in_surplus) == 8, (dwell, max(in_surplus))


def test_curtail_threshold_runs_a_job_its_deadline_needs_to_the_end():
    """``deadline_margin`` 2 at a site out of curtailment: a resumed job stopped looking
    urgent as it ran and was suspended and resumed every 5-10 min (29 times)."""
    hours = [(1, 3000.0), (23, 500.0)]  # curtailment (surplus over 1 kW) only the first hour
    job = {"name": "j", "arrival": "0s", "work_gpu_h": 4.0, "checkpoint": "1GB", "gpus": 1,
           "origin": "a", "deadline": "10h"}
    for margin in (1.0, 2.0, 3.0):
        d = simkit.micro(horizon="24h", history="0s", links=[], jobs=[job],
                         sites=[_site(hours, slots=4)], window_threshold="1kW")
        seen = _Seen(make_policy("curtail-threshold", deadline_margin=margin))
        res = _run(d, seen)
        assert seen.actions.count("Suspend") <= 1 and seen.actions.count("Resume") <= 1, (
            margin, seen.actions)
        assert res.job_finish_s[0] <= 10 * 3600.0, margin


def test_wait_awhile_keeps_a_decision_interval_of_slack_before_a_deadline():
    """Asked every 30 min or 1 h, wait-awhile kept one *step* of slack: the job it waited
    with was resumed at the next decision, up to an hour later, and missed its deadline
    (6.02 h for a 6 h deadline; static finishes at 5 h)."""
    ramp = [1000.0 + 5.0 * k if k < 72 else 1000.0 for k in range(24 * STEPS_PER_HOUR)]
    site = simkit.site("a", power=None, trace={"kind": "values", "values": ramp * 2})
    job = {"name": "j", "arrival": "0s", "work_gpu_h": 5.0, "checkpoint": "1GB", "gpus": 1,
           "origin": "a", "deadline": "6h"}
    for interval in ("5min", "30min", "1h"):
        d = simkit.micro(horizon="1d", history="1d", sites=[site], links=[], jobs=[job],
                         window_threshold="1kW", decision_interval=interval)
        res = _run(d, make_policy("wait-awhile"))
        assert res.job_finish_s[0] <= 6 * 3600.0, (interval, res.job_finish_s[0] / 3600)
