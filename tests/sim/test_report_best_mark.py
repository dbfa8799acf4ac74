"""The report's highlighted policy: the least job grid energy among the policies that did
the work, not a policy that saved energy by leaving jobs undone."""

from __future__ import annotations

from greenhop.sim.metrics import WORK_SHARE_FOR_GAP
from greenhop.sim.report import best_policy


def _m(nr, work):
    return {"job_nr_kwh": nr, "work_done_gpu_h": work}


def test_a_policy_that_left_the_work_undone_is_not_marked_best():
    # edge-fleet's curtail-threshold: 1.2 GPU-h of static's 244.4, 99.5 % "saved"
    metrics = {"static": _m(100.0, 244.4), "energy-greedy": _m(80.0, 244.4),
               "curtail-threshold": _m(0.5, 1.2)}
    assert best_policy(metrics) == "energy-greedy"


def test_the_work_share_is_the_gap_closed_figures():
    need = WORK_SHARE_FOR_GAP * 200.0
    metrics = {"static": _m(100.0, 200.0), "a": _m(50.0, need), "b": _m(40.0, need - 0.01)}
    assert best_policy(metrics) == "a"


def test_without_static_the_most_work_done_is_the_reference_and_unknowns_compete():
    assert best_policy({"a": _m(50.0, 100.0), "b": _m(10.0, 10.0)}) == "a"
    assert best_policy({"a": _m(50.0, None), "b": _m(10.0, None)}) == "b"
    assert best_policy({"a": _m(None, 100.0)}) is None
