"""The live books (Ledger) over the fleet core: what they accept and refuse."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
from simkit import legacy_micro

from greenhop.core.errors import ConfigError
from greenhop.core.observation import MIGRATING, RUNNING, Migrate
from greenhop.policies.base import make_policy
from greenhop.runtime.controller import Controller, RunConfig
from greenhop.runtime.ledger import Ledger
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

PARTIAL_JOB = {"name": "p", "arrival": "0s", "work_gpu_h": 2.0, "checkpoint": "1GB", "gpus": 2,
               "origin": "a", "mobility": "partial", "migratable_share": 0.5}


def inputs(**over):
    return build_inputs(load_scenario(legacy_micro(**over)))


def step(led: Ledger, inp, t: int, actions=(), moves=None) -> list:
    led.record_power(t, inp.renewable_w[inp.history_steps + t])
    led.arrivals(t)
    accepted = led.apply(list(actions), t) + led.place_queued(t)
    led.account(t, moves or {})
    return accepted


def test_a_partially_migratable_job_is_accepted_and_moves_its_share():
    inp = inputs(jobs=[PARTIAL_JOB])
    led = Ledger(inp)
    step(led, inp, 0)
    accepted = step(led, inp, 1, [Migrate(0, "b")],
                    {0: {"save_s": 0.25, "transfer_s": 1.0, "restore_s": 60.25, "bytes": 5e8}})
    assert accepted == [("migrate", 0, 0, 1)]
    assert led.phase[0] == RUNNING and led.site[0] == 1
    # One GPU moved to b, the other stays at a (its slots stay held there).
    assert list(led.occ) == [1, 1]
    assert led.migrations[0]["downtime_s"] == pytest.approx(61.5)
    assert led.migrations[0]["bytes_sent"] == pytest.approx(5e8)


def test_a_move_longer_than_a_step_carries_its_downtime_over():
    inp = inputs()
    led = Ledger(inp)
    step(led, inp, 0)
    measured = {0: {"save_s": 100.0, "transfer_s": 400.0, "restore_s": 250.0, "bytes": 1e9}}
    step(led, inp, 1, [Migrate(0, "b")], measured)
    assert led.phase[0] == MIGRATING
    step(led, inp, 2, (), measured)     # the controller hands the same figures again
    assert led.phase[0] == MIGRATING
    step(led, inp, 3, (), measured)
    assert led.phase[0] == RUNNING
    m = led.migrations[0]
    assert m["downtime_s"] == pytest.approx(750.0)
    assert (m["save_s"], m["transfer_s"], m["restore_s"]) == pytest.approx((100, 400, 250))
    # 750 s down: the job trains 300 + 150 s of the first 4 steps (at a, then at b).
    assert led.job_down[0] == pytest.approx(750.0)


def test_a_window_that_closes_in_flight_is_counted():
    values = [10_000.0] * 2 + [0.0] * 30         # b's window closes at step 2
    sites = legacy_micro()["sites"]
    sites[1]["trace"] = {"kind": "values", "values": values}
    inp = inputs(sites=sites)
    led = Ledger(inp)
    step(led, inp, 0)
    measured = {0: {"save_s": 200.0, "transfer_s": 300.0, "restore_s": 60.0, "bytes": 1e9}}
    step(led, inp, 1, [Migrate(0, "b")], measured)
    step(led, inp, 2, (), measured)
    assert led.counters["window_closed"] == 1
    assert led.migrations[0]["window_closed"]


@pytest.mark.parametrize("on_close", ["abort", "fallback"])
def test_a_live_run_refuses_to_abort_moves_it_cannot_cancel(on_close):
    inp = inputs(on_window_close=on_close)
    with pytest.raises(ConfigError, match=r"on_window_close: live runs .* 'continue'"):
        Ledger(inp)


def test_the_controller_refuses_a_policy_that_sees_the_future():
    inp = inputs()
    cfg = RunConfig(scenario="micro", scenario_sha256="", policy_name="oracle-window")
    with pytest.raises(ConfigError, match="oracle-window' sees the future"):
        Controller(None, inp, lambda: make_policy("oracle-window"), None, None, cfg)


def test_the_observation_is_the_simulators():
    """The Ledger hands policies the core's Observation: same fields, read-only."""
    inp = inputs()
    led = Ledger(inp)
    led.record_power(0, inp.renewable_w[0])
    led.arrivals(0)
    obs = led.observation(0)
    np.testing.assert_array_equal(obs.renewable_w, inp.renewable_w[0])
    assert not obs.renewable_w.flags.writeable
    assert obs.site_names == ("a", "b") and obs.job_names == ("j1",)


