"""``cost-aware-greedy``: energy-greedy's move, refused when its energy does not pay back
inside the destination's window and taken when it does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.policies import make_policy
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario


def scenario(energy_per_bit: float, sink_values: list[float] | None = None) -> dict:
    """Source a without surplus, sink b with 10 kW; a 10 GB checkpoint over 4 Gbit/s."""
    sink = (simkit.site("b", power="10kW") if sink_values is None else
            simkit.site("b", power=None, trace={"kind": "values", "values": sink_values}))
    d = simkit.micro(horizon="6h", history="1d", sites=[simkit.site("a", power="1kW"), sink],
                     jobs=[{"name": "j", "arrival": "0s", "work_gpu_h": 4.0,
                            "checkpoint": "10GB", "gpus": 1, "origin": "a"}],
                     window_threshold="1kW")
    d["links"][0]["energy_per_bit"] = energy_per_bit
    return d


def run(d: dict, name: str):
    return Engine(build_inputs(load_scenario(d)), make_policy(name), record=True).run()


def test_takes_a_move_that_pays_back():
    # 8e10 bit x 1e-7 J/bit = 8 kJ (+ idle power while down): 400 W saved pays it back fast
    res = run(scenario(1e-7), "cost-aware-greedy")
    assert len(res.migrations) == 1 and res.migrations[0]["dst"] == 1


def test_refuses_a_move_that_does_not_pay_back():
    # 8e10 bit x 1e-2 J/bit = 800 MJ: 400 W would need 23 days; the window is about a day
    res = run(scenario(1e-2), "cost-aware-greedy")
    assert res.migrations == []
    # energy-greedy ignores the cost and moves
    assert len(run(scenario(1e-2), "energy-greedy").migrations) == 1


def test_the_window_decides_a_move_of_middling_cost():
    """8 MJ pays back in about 5.6 h at 400 W: worth it into b's surplus that has lasted
    a day so far, not into one that lasts 2 h a day (the estimator has seen a day of it)."""
    assert len(run(scenario(1e-4), "cost-aware-greedy").migrations) == 1
    steps = 288
    daily = [10_000.0 if 0 <= k % steps < 24 else 1_000.0 for k in range(2 * steps)]
    assert run(scenario(1e-4, daily), "cost-aware-greedy").migrations == []
    assert len(run(scenario(1e-4, daily), "energy-greedy").migrations) == 1


def test_the_payback_counts_the_downtime():
    """Saved energy accrues only after the downtime: a window barely longer than the
    migration's downtime pays back nothing."""
    from greenhop.policies.common_moves import evaluate_moves

    # exercised on the model directly: same bytes, a window of downtime + 1 s
    d = scenario(1e-7)
    inp = build_inputs(load_scenario(d))
    seen = {}

    class Probe(simkit.Never):
        def decide(self, obs):
            import numpy as np

            j, s, t = np.array([0]), np.array([0]), np.array([1])
            f = evaluate_moves(obs, j, s, t, np.array([1e6]), np.array([400.0]))
            short = evaluate_moves(obs, j, s, t, f.downtime_s + 1.0, np.array([400.0]))
            seen["long"], seen["short"] = bool(f.justified[0]), bool(short.justified[0])
            return []

    Engine(inp, Probe()).run()
    assert seen == {"long": True, "short": False}


@pytest.mark.parametrize("jpb", [1e-7, 1e-2])
def test_never_moves_where_energy_greedy_would_not(jpb):
    d = scenario(jpb)
    d["sites"][1]["trace"] = {"kind": "constant", "power": "1kW"}  # no surplus anywhere
    assert run(d, "cost-aware-greedy").migrations == []
