"""The legacy books, byte for byte: ``EnergyConventions.legacy()`` reproduces the figures
the simulator produced before the fleet core existed.

``data/legacy_reference.json`` was computed once by the engine as it was before the
fleet core (its scenario is stored alongside: three sites on sine-shaped traces, a
battery, two links, six jobs of which one is partially migratable, checkpoints large
enough that destination windows close in flight), for three policies under each
``on_window_close``. Every figure must come out identical, not merely close.

The three energy-greedy cases were computed again on 2026-12-05, when transfers began to
share the links among those sending at each moment of a step (``LinkLoad.send``: before,
a move still writing its checkpoint took a share for the whole step); their moves run
concurrently with saves of other lengths. The other cases were unchanged by it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from greenhop.policies.base import make_policy
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

REFERENCE = json.loads((Path(__file__).parent / "data" / "legacy_reference.json").read_text())


def summary(res) -> dict:
    """The same figures the reference holds, in the same JSON-ready form."""
    return {
        "energy_j": {k: v.tolist() for k, v in res.energy_j.items()},
        "job_energy_j": res.job_energy_j.tolist(),
        "job_finish_s": [None if x != x else x for x in res.job_finish_s.tolist()],
        "job_down_s": res.job_down_s.tolist(),
        "job_remaining_gpu_s": res.job_remaining_gpu_s.tolist(),
        "counters": {k: float(v) for k, v in res.counters.items()},
        "migrations": [{k: m[k] for k in ("job", "src", "dst", "start_s", "end_s", "bytes_sent",
                                          "energy_j", "window_closed", "aborted", "fallback")}
                       for m in res.migrations],
    }


@pytest.mark.parametrize("case", REFERENCE["cases"],
                         ids=[f"{c['on_window_close']}-{c['policy']}" for c in REFERENCE["cases"]])
def test_legacy_conventions_reproduce_the_reference_exactly(case):
    d = copy.deepcopy(REFERENCE["scenario"])
    d["on_window_close"] = case["on_window_close"]
    assert d["energy"]["host_share"] == 0.0 and d["energy"]["source_in_flight"] == "zero"
    inp = build_inputs(load_scenario(d))
    got = json.loads(json.dumps(summary(Engine(inp, make_policy(case["policy"])).run())))
    want = case["result"]
    for key in want:
        assert got[key] == want[key], key


def test_the_reference_exercises_closed_windows_aborts_fallbacks_and_suspends():
    counters = [c["result"]["counters"] for c in REFERENCE["cases"]]
    for name in ("window_closed", "aborted_migrations", "fallback_migrations", "suspensions",
                 "migrations_started"):
        assert max(c[name] for c in counters) > 0, name
