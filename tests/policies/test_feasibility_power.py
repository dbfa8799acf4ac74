"""The feasibility policy prices a move with the powers the books charge.

``job_power_at``: facility training power at a site (GPU power with its host share, x
PUE); ``downtime_power_w``: facility idle power of the job's GPUs while it is down, at
both ends (docs/design.md section 5). Checked on real Observations of micro scenarios.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.policies.base import PolicyBase, downtime_power_w, job_power_at
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

LEGACY = {"source_in_flight": "zero", "dest_held": "idle", "host_share": 0.0,
          "suspend_saves": False, "network_to_grid": False}


class Capture(PolicyBase):
    """Keeps the powers the helpers give on the first Observation; never acts."""

    name = "capture"

    def __init__(self) -> None:
        self.values: dict[str, np.ndarray] = {}

    def decide(self, obs):
        if not self.values and obs.n_jobs:
            jobs = np.arange(obs.n_jobs)
            a = np.zeros(obs.n_jobs, dtype=np.int64)
            b = np.ones(obs.n_jobs, dtype=np.int64)
            self.values = {"down_ab": downtime_power_w(obs, jobs, a, b),
                           "down_ba": downtime_power_w(obs, jobs, b, a),
                           "train_b": job_power_at(obs, jobs, b),
                           "grid": downtime_power_w(obs, jobs[:, None], a[:, None],
                                                    np.array([[0, 1]]))}
        return []


def _capture(jobs, pue_a=1.5, pue_b=1.2):
    d = simkit.micro(jobs=jobs, energy=LEGACY)
    d["sites"][0]["pue"] = pue_a
    d["sites"][1]["pue"] = pue_b
    policy = Capture()
    Engine(build_inputs(load_scenario(d)), policy).run()
    return policy.values


def test_a_whole_job_idles_at_both_ends_times_each_pue():
    jobs = [{"name": "j", "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": "1GB",
             "gpus": 2, "origin": "a"}]
    v = _capture(jobs)
    # 2 GPUs x (50 W x 1.5 at a + 50 W x 1.2 at b), either way round.
    assert v["down_ab"] == pytest.approx([2 * (75.0 + 60.0)])
    assert v["down_ba"] == pytest.approx([2 * (60.0 + 75.0)])
    # Training at b: 2 GPUs x 400 W x 1.2 (facility power, not IT power).
    assert v["train_b"] == pytest.approx([2 * 400 * 1.2])
    # It broadcasts: a move from a to a itself is both ends at a.
    np.testing.assert_allclose(v["grid"], [[2 * (75.0 + 75.0), 2 * (75.0 + 60.0)]])


def test_the_part_of_a_partial_job_that_stays_idles_at_the_source_only():
    jobs = [{"name": "p", "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": "1GB",
             "gpus": 4, "origin": "a", "mobility": "partial", "migratable_share": 0.5}]
    v = _capture(jobs)
    # 2 GPUs move (both ends), 2 stay at a.
    assert v["down_ab"] == pytest.approx([2 * (75.0 + 60.0) + 2 * 75.0])
    # Half the job trains at b.
    assert v["train_b"] == pytest.approx([2 * 400 * 1.2])


def test_downtime_power_follows_pue_not_only_the_platform():
    jobs = [{"name": "j", "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": "1GB",
             "gpus": 1, "origin": "a"}]
    low = _capture(jobs, pue_a=1.0, pue_b=1.0)["down_ab"]
    high = _capture(jobs, pue_a=2.0, pue_b=1.0)["down_ab"]
    assert low == pytest.approx([100.0])
    assert high == pytest.approx([150.0])


def _moves_with_window(window_s: float) -> int:
    """feasibility-aware on a micro scenario where only the energy payback decides.

    Site a has 1.35 kW of renewables for 1 kW of base load: the 400 W job there is short
    by 50 W, so moving gains 1 - 350/400 = 0.125 of its power, 50 W. b has surplus to
    spare. The move takes D = 0.5 + 2 + 60.5 = 63 s and 800 J of network energy. Priced
    as the books charge it (one idle GPU at each end, 100 W): E_mig = 800 + 100 x 63 =
    7,100 J, payback 142 s, justified when the window exceeds 142 + 63 = 205 s. (The
    source's IT idle power alone, 50 W, gave 3,950 J, payback 79 s: justified from 142 s.)
    """
    from greenhop.policies.feasibility_aware import FeasibilityAwarePolicy

    d = simkit.micro(energy={**LEGACY, "source_in_flight": "idle", "suspend_saves": True,
                             "network_to_grid": True})
    d["sites"][0]["trace"] = {"kind": "constant", "power": "1.35kW"}
    policy = FeasibilityAwarePolicy(alpha=0.5, min_dwell_s=0.0, min_gain=0.0)
    inp = build_inputs(load_scenario(d))
    res = Engine(inp, policy, window_forecast=lambda step: np.full(2, window_s)).run()
    return int(res.counters["migrations_started"])


def test_feasibility_aware_waits_for_the_payback_of_the_move_the_books_charge():
    assert _moves_with_window(180.0) == 0     # justified by the old price, not by the books'
    assert _moves_with_window(200.0) == 0     # the boundary is at 205 s
    assert _moves_with_window(210.0) == 1


def test_the_move_helpers_read_a_pending_job_as_a_whole_one_not_nan():
    """A job not yet arrived reads no checkpoint (0 B): move_gpus gave INT64_MIN and
    job_power_at NaN (0/0, with a RuntimeWarning) where the docs promise neutral values."""
    from greenhop.core.observation import PENDING
    from greenhop.policies.base import move_gpus

    seen = {}

    class Look(PolicyBase):
        name = "look"

        def decide(self, obs):
            if not seen:
                jobs = np.arange(obs.n_jobs)
                seen.update(phase=obs.job_phase.copy(), gpus=move_gpus(obs, jobs),
                            power=job_power_at(obs, jobs, np.zeros(obs.n_jobs, dtype=int)),
                            job_gpus=obs.job_gpus.copy())
            return []

    jobs = [{"name": "now", "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": "1GB",
             "gpus": 1, "origin": "a"},
            {"name": "later", "arrival": "1h", "work_gpu_h": 1.0, "checkpoint": "1GB",
             "gpus": 2, "origin": "a"}]
    Engine(build_inputs(load_scenario(simkit.micro(jobs=jobs))), Look()).run()
    assert seen["phase"][1] == PENDING  # not vacuous
    assert seen["gpus"].tolist() == seen["job_gpus"].tolist()
    assert np.isfinite(seen["power"]).all() and (seen["power"] > 0).all()
