"""``curtail-threshold``: a site trains while its surplus is above the threshold, and stops
only after 600 s below it, so short dips never make it flap."""

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
from greenhop.policies.curtail_threshold import advance_sites
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

HIGH, LOW = 10_000.0, 1_000.0  # renewables [W]; the base load is 1 kW, the threshold 1 kW


def scenario(values: list[float], work_gpu_h: float = 2.0, deadline: str | None = None) -> dict:
    site = simkit.site("a", power=None, trace={"kind": "values", "values": values})
    job = {"name": "j", "arrival": "0s", "work_gpu_h": work_gpu_h, "checkpoint": "1GB",
           "gpus": 1, "origin": "a"}
    if deadline:
        job["deadline"] = deadline
    return simkit.micro(horizon=f"{len(values) * 5}min", sites=[site], links=[], jobs=[job],
                        window_threshold="1kW")


def run(d: dict, policy):
    return Engine(build_inputs(load_scenario(d)), policy, record=True).run()


def suspended_at(res) -> list[float]:
    return [a for (_j, _s, a, _b, kind) in res.segments if kind == "suspended"]


def test_dips_shorter_than_600_s_never_stop_the_site():
    # 5-min steps: surplus, then one-step dips (300 s below) every other step for 2 h.
    values = [HIGH, HIGH] + [LOW, HIGH] * 12 + [HIGH] * 12
    res = run(scenario(values, work_gpu_h=1.0), make_policy("curtail-threshold"))
    assert res.counters["suspensions"] == 0
    # the rule without hysteresis flaps on every dip
    flappy = run(scenario(values, work_gpu_h=1.0), make_policy("curtail-threshold",
                                                               hysteresis_s=0.0))
    assert flappy.counters["suspensions"] >= 5


def test_a_site_below_the_threshold_stops_600_s_after_it_left_and_restarts_at_once():
    values = [HIGH] * 4 + [LOW] * 12 + [HIGH] * 36
    res = run(scenario(values), make_policy("curtail-threshold"))
    # below from step 4 (1200 s): marked then, suspended at 1200 + 600 s.
    assert suspended_at(res) == [pytest.approx(1800.0)]
    resumed = [a for (_j, _s, a, _b, kind) in res.segments if kind == "resuming"]
    assert resumed == [pytest.approx(16 * 300.0)]  # the first step back above
    assert res.counters["suspensions"] == 1


def test_at_the_threshold_the_site_keeps_its_state():
    # surplus exactly at the threshold (renewables 2 kW - base 1 kW = 1 kW) for an hour
    values = [HIGH] * 2 + [2_000.0] * 12 + [HIGH] * 30
    res = run(scenario(values), make_policy("curtail-threshold"))
    assert res.counters["suspensions"] == 0


def test_a_job_whose_deadline_would_be_missed_is_not_stopped_or_is_resumed_in_time():
    values = [HIGH] * 2 + [LOW] * 46
    res = run(scenario(values, work_gpu_h=2.0, deadline="2h"), make_policy("curtail-threshold"))
    assert res.counters["suspensions"] == 0
    assert res.job_finish_s[0] == pytest.approx(7200.0)
    # with slack it is stopped, then resumed early enough to make its deadline
    res = run(scenario(values, work_gpu_h=2.0, deadline="3h"), make_policy("curtail-threshold"))
    assert res.counters["suspensions"] == 1
    assert res.job_finish_s[0] <= 3 * 3600.0
    # the prototype's rule alone (no deadline guard) stops it for good
    res = run(scenario(values, work_gpu_h=2.0, deadline="2h"),
              make_policy("curtail-threshold", deadline_margin=0.0))
    assert res.counters["suspensions"] == 1
    assert np.isnan(res.job_finish_s[0])  # never resumed inside the horizon


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="curtail-threshold"):
        make_policy("curtail-threshold", hysteresis_s=-1)


class Prototype:
    """The prototype's per-site rule as written there: one poll, an if / elif chain on a
    carbon signal (in curtailment below its threshold), a mark and a 600 s wait."""

    def __init__(self, hysteresis_s: float) -> None:
        self.on, self.since, self.hysteresis_s = False, None, hysteresis_s

    def poll(self, signal: float, threshold: float, now_s: float) -> bool:
        if not self.on and signal < threshold:
            self.on, self.since = True, None
        elif self.on and signal > threshold:
            if self.since is None:
                self.since = now_s
            elif now_s - self.since >= self.hysteresis_s:
                self.on, self.since = False, None
        elif self.on:
            self.since = None
        return self.on


@given(st.lists(st.tuples(st.integers(1, 400), st.lists(st.sampled_from([-1, 0, 1]),
                                                        min_size=3, max_size=3)),
                min_size=1, max_size=60),
       st.sampled_from([60.0, 300.0, 600.0, 900.0]))
def test_the_site_states_follow_the_prototype_poll_by_poll(polls, hysteresis_s):
    """Irregular decision times, three sites; surplus above (+1), at (0) or below (-1)
    the threshold is the prototype's signal below, at or above its own."""
    thr = 1000.0
    on, since = np.zeros(3, dtype=bool), np.full(3, np.nan)
    ref = [Prototype(hysteresis_s) for _ in range(3)]
    now = 0.0
    for gap_s, levels in polls:
        now += gap_s
        surplus = thr + 100.0 * np.array(levels, dtype=float)
        on, since = advance_sites(on, since, surplus, thr, now, hysteresis_s)
        want = [r.poll(-lv, 0.0, now) for r, lv in zip(ref, levels, strict=True)]
        assert on.tolist() == want
