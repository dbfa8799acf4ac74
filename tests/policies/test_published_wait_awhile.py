"""``wait-awhile``: suspends before a forecast surplus period the deadline still allows and
runs in it; runs straight through when the deadline leaves no slack."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.core.errors import ConfigError
from greenhop.policies import make_policy
from greenhop.policies.wait_awhile import SurplusProfile, run_now, runs_now
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

STEPS_PER_DAY = 288  # 5-min steps
SUNNY = range(72, 120)  # 06:00-10:00 UTC: 10 kW of renewables, else the base load only


def day_values() -> list[float]:
    return [10_000.0 if k in SUNNY else 1_000.0 for k in range(STEPS_PER_DAY)]


def scenario(deadline: str | None, work_gpu_h: float = 1.0) -> dict:
    """One site whose surplus comes daily 06:00-10:00, a day of history showing it, one job
    arriving at midnight."""
    site = simkit.site("a", power=None, trace={"kind": "values", "values": day_values() * 2})
    job = {"name": "j", "arrival": "0s", "work_gpu_h": work_gpu_h, "checkpoint": "1GB",
           "gpus": 1, "origin": "a"}
    if deadline is not None:
        job["deadline"] = deadline
    return simkit.micro(horizon="1d", history="1d", sites=[site], links=[], jobs=[job],
                        window_threshold="1kW")


def run(d: dict, policy):
    res = Engine(build_inputs(load_scenario(d)), policy, record=True).run()
    return res


def running_intervals(res) -> list[tuple[float, float]]:
    return [(a, b) for (_j, _s, a, b, kind) in res.segments if kind == "running"]


def test_suspends_before_the_window_and_runs_in_it():
    res = run(scenario("12h"), make_policy("wait-awhile"))
    assert res.counters["suspensions"] == 1
    # It starts at midnight (placed on arrival), is suspended at the first decision and
    # resumed as the sun comes: all its training after the first step lies in 06:00-10:00.
    start, end = 6 * 3600.0, 10 * 3600.0
    later = [(a, b) for a, b in running_intervals(res) if a > 300.0]
    assert later and all(start <= a and b <= end for a, b in later)
    assert res.job_finish_s[0] <= 12 * 3600.0
    # Its grid energy is the first step only: 400 W for 300 s at a site without surplus.
    static = run(scenario("12h"), simkit.Never())
    assert res.energy_j["grid"][0] < 0.2 * static.energy_j["grid"][0]


def test_a_job_whose_deadline_would_be_missed_runs_straight_through():
    res = run(scenario("1h15min"), make_policy("wait-awhile"))
    assert res.counters["suspensions"] == 0
    assert res.job_finish_s[0] == pytest.approx(3600.0)


def test_a_job_without_a_deadline_waits_at_most_max_delay():
    res = run(scenario(None), make_policy("wait-awhile", max_delay_s=3 * 3600.0))
    # 1 h of work may finish by 4 h after arrival: too early for the 06:00 sun.
    assert res.counters["suspensions"] == 0
    assert res.job_finish_s[0] == pytest.approx(3600.0)
    res = run(scenario(None), make_policy("wait-awhile", max_delay_s=12 * 3600.0))
    assert res.counters["suspensions"] == 1
    assert 6 * 3600.0 < res.job_finish_s[0] <= 10 * 3600.0


def test_nothing_to_gain_runs_now():
    """A site with the same surplus all day: waiting gains nothing, so the job runs."""
    d = scenario("12h")
    d["sites"][0]["trace"] = {"kind": "constant", "power": "1kW"}
    res = run(d, make_policy("wait-awhile"))
    assert res.counters["suspensions"] == 0


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="wait-awhile"):
        make_policy("wait-awhile", profile_days=0)


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40), st.integers(0, 45))
def test_run_now_is_slot_zero_among_the_n_best_earliest_first(score, n):
    arr = np.array(score)
    best = set(np.argsort(-arr, kind="stable")[:n].tolist())
    assert run_now(arr, n) == (0 in best or n >= arr.size)


# Surplus on a milliwatt grid: distinct values stay distinct after dividing by a job's
# power, so comparing scores and comparing surpluses agree (5e-324 W / 2 W would not).
MILLIWATTS = st.floats(-500.0, 3000.0).map(lambda w: round(w, 3))


@given(st.lists(st.lists(MILLIWATTS, min_size=3, max_size=3), min_size=1, max_size=12),
       st.lists(MILLIWATTS, min_size=3, max_size=3),
       st.lists(st.tuples(st.integers(0, 2), st.integers(0, 40), st.integers(1, 40),
                          st.floats(1.0, 2000.0)), min_size=1, max_size=8))
def test_the_vectorised_rule_is_the_rule_job_by_job(cycle, now, jobs):
    """Slot k >= 1 repeats the daily cycle; a running or suspended job has work left, so
    it needs at least one slot."""
    cycle, now = np.array(cycle), np.array(now)
    site = np.array([j[0] for j in jobs])
    slots = np.array([j[1] for j in jobs])
    need = np.array([j[2] for j in jobs])
    power = np.array([j[3] for j in jobs])
    got = runs_now(now, cycle, power, site, slots, need)
    for k in range(len(jobs)):
        fc = np.array([now[site[k]]] + [cycle[i % len(cycle), site[k]]
                                        for i in range(1, slots[k])])
        score = np.clip(fc / power[k], 0.0, 1.0)
        want = True if slots[k] <= 1 else run_now(score, int(need[k]))
        assert got[k] == want


def test_the_sliding_profile_equals_one_built_afresh():
    """Kept incrementally over a run (with history leaving the window), the time-of-day
    profile is the one built from scratch at every step."""
    d = scenario(None, work_gpu_h=100.0)
    d["horizon"] = "2d"
    d["sites"][0]["trace"]["values"] = [float(v + 37 * (k % 11))
                                        for k, v in enumerate(day_values() * 3)]
    checked = []

    class Probe(simkit.Never):
        def __init__(self):
            self.kept = SurplusProfile(days=1)

        def decide(self, obs):
            a = self.kept.update(obs)
            b = SurplusProfile(days=1).update(obs)
            checked.append(np.allclose(a, b, equal_nan=True, rtol=1e-12, atol=1e-6))
            return []

    run(d, Probe())
    assert len(checked) > 500 and all(checked)
