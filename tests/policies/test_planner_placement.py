"""horizon-planner starts a job that waits for slots at its arrival site at a site with free
slots where surplus covers it, and lets it wait where none does, unless waiting would take
it past its slowdown budget."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.policies import make_policy
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario


def fleet(b_power: str) -> dict:
    """Site a: one slot, no surplus, held all run by a pinned 4 h job; j1 arrives there at
    10 min. Site b: free slots and ``b_power`` of renewables (base load 1 kW)."""
    d = simkit.micro(horizon="6h")
    d["sites"][0]["gpu_slots"] = 1
    d["sites"][0]["trace"] = {"kind": "constant", "power": "0W"}
    d["sites"][1]["trace"] = {"kind": "constant", "power": b_power}
    d["jobs"] = [
        {"name": "j0", "arrival": "0s", "work_gpu_h": 4.0, "checkpoint": "1GB", "gpus": 1,
         "origin": "a", "mobility": "pinned"},
        {"name": "j1", "arrival": "10min", "work_gpu_h": 1.0, "checkpoint": "1GB", "gpus": 1,
         "origin": "a"},
    ]
    return d


def first_run(res, job: int) -> tuple[int, float]:
    """(site, start [s]) of the job's first running segment."""
    seg = min((s for s in res.segments if s[0] == job and s[4] == "running"),
              key=lambda s: s[2])
    return int(seg[1]), float(seg[2])


def run(d: dict, policy: str, **params):
    return Engine(build_inputs(load_scenario(d)), make_policy(policy, **params)).run()


def test_a_job_waiting_for_slots_starts_at_a_green_site_after_one_epoch() -> None:
    res = run(fleet("10kW"), "horizon-planner")
    site, start = first_run(res, 1)
    # arrival 600 s, a full; the first plan after it has waited an epoch (900 s) is at 1800 s
    assert (site, start) == (1, 1800.0)
    assert res.policy_counters["planner_places"] == 1
    assert np.isfinite(res.job_finish_s[1]) and res.job_finish_s[1] < 4 * 3600
    static = run(fleet("10kW"), "static")
    assert first_run(static, 1) == (0, 4 * 3600.0)  # static waits for j0 to finish


@pytest.mark.parametrize("b_power", ["0W", "1.2kW"])
def test_a_job_waits_where_no_site_with_room_would_run_it_on_surplus(b_power) -> None:
    """b's surplus is 0 W / 200 W, below the job's 400 W: with no slowdown budget binding it
    waits for its own site."""
    res = run(fleet(b_power), "horizon-planner", max_slowdown=float("inf"))
    assert first_run(res, 1) == (0, 4 * 3600.0)
    assert res.policy_counters["planner_places"] == 0


@pytest.mark.parametrize("b_power", ["0W", "1.2kW"])
def test_a_job_past_its_slowdown_budget_starts_where_there_is_room_without_surplus(
        b_power) -> None:
    """The same fleet with a budget of 1.4 x its ideal 1 h at a: waiting 4 h for a
    would take j1 past it, so it starts at b on grid power, at the first plan at which
    waiting one more epoch would take it past the budget *at b*, where it starts: b runs it
    in 0.5 h, so the plans at 1800 s and 2700 s let it wait (the time since its arrival, its
    work at b and an epoch make 1.08 h and 1.33 h, under 1.4 h), and the one at 3600 s
    (1.58 h) starts it. Timed at its
    arrival site a (1 h of work), it was started at 1800 s, earlier than its budget asks.
    It finishes inside 1.4 h of its arrival plus an epoch."""
    res = run(fleet(b_power), "horizon-planner", max_slowdown=1.4)
    assert first_run(res, 1) == (1, 3600.0)
    assert res.policy_counters["planner_places"] == 1
    assert res.job_finish_s[1] - 600.0 < 1.4 * 3600 + 900


def test_a_queued_job_with_no_arrival_site_is_timed_as_its_ideal_time_is() -> None:
    """A queued job that may start anywhere (no origin) has no arrival site: its ideal
    time, and so its slowdown budget, is at the fastest site it may use (throughput 4
    here, as the slowdown metric times it). Its remaining work is timed the same way, not
    at the reference's 1, which would make it urgent at once."""
    import dataclasses

    from greenhop.core.observation import QUEUED

    d = simkit.micro(sites=[simkit.site("a", tput=4.0), simkit.site("b")])
    del d["jobs"][0]["origin"]  # no origin: the placer chooses
    seen = []

    class Recorder(simkit.Never):
        def decide(self, obs):
            seen.append(obs)
            return []

    Engine(build_inputs(load_scenario(d)), Recorder()).run()
    first = seen[0]
    # budget 1.4 x the ideal 900 s (1 GPU-h at throughput 4) = 1260 s, epochs of 60 s
    planner = make_policy("horizon-planner", epoch_s=60, max_slowdown=1.4)
    job = np.array([0])

    def urgent(waited_s: float) -> bool:
        obs = dataclasses.replace(
            first, now_s=float(first.job_arrival_s[0]) + waited_s,
            job_phase=np.array([QUEUED]), job_site=np.array([-1]),
            job_remaining_gpu_s=np.array([3600.0]), job_progress=np.array([0.0]))
        assert int(obs.job_origin[0]) == -1
        return bool(planner._urgent(obs, job, obs.job_origin[job])[0])

    # 900 s of work at throughput 4, plus one epoch, passes 1260 s after 300 s of waiting
    assert not urgent(250.0)
    assert urgent(350.0)
