"""A policy sees each site's battery: its energy now, capacity, power, round-trip efficiency
and the share it keeps, as the scenario gives them (the figures a policy needs to model
the battery as the simulator's dispatch runs it), read-only, and 0 without a battery."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
from simkit import micro

from greenhop.policies.base import PolicyBase
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

KWH_J = 3.6e6


class Recorder(PolicyBase):
    name = "recorder"

    def __init__(self) -> None:
        self.seen = []

    def decide(self, obs):
        self.seen.append((obs.soc_j.copy(), obs.battery_capacity_j, obs.battery_power_w,
                          obs.battery_efficiency, obs.battery_min_soc))
        with pytest.raises(ValueError):
            obs.battery_power_w[0] = 1.0
        return []


def test_a_policy_sees_each_sites_battery_as_the_scenario_gives_it():
    d = micro()
    d["sites"][0]["battery"] = {"capacity": "20kWh", "power": "5kW",
                                "round_trip_efficiency": 0.81, "initial_soc": 0.5,
                                "min_soc": 0.2}
    inp = build_inputs(load_scenario(d))
    rec = Recorder()
    Engine(inp, rec).run()
    assert len(rec.seen) >= 12  # a decision every 10 min for 2 h
    for soc, cap, power, eta, keep in rec.seen:
        assert cap.tolist() == [20 * KWH_J, 0.0]
        assert power.tolist() == [5000.0, 0.0]
        assert eta[0] == pytest.approx(0.81) and keep[0] == pytest.approx(0.2)
        assert 0.2 * 20 * KWH_J - 1e-6 <= soc[0] <= 20 * KWH_J + 1e-6 and soc[1] == 0.0
    assert rec.seen[0][0][0] == pytest.approx(10 * KWH_J)  # initial_soc x capacity
    assert not np.allclose([s[0][0] for s in rec.seen], rec.seen[0][0][0])  # it is dispatched
