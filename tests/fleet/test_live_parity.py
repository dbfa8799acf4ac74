"""Live parity: the live books and the simulator are one code, fed the same durations.

The simulator runs a scripted policy on a small fleet and records each move's save,
transfer and restore durations and bytes. The live side then replays the controller's
path through the :class:`~greenhop.runtime.ledger.Ledger` (record the step's power,
arrivals, observe and decide, admit, place, hand over the *measured* durations, book the
step) with the simulator's durations as the measurements. Energy per site and per job,
decisions and migration records must agree to the joule: nothing in the accounting may
depend on which mechanism drives the core. Moves here last longer than a step (the
books carry them over) and one job is partially migratable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
from simkit import micro, site

from greenhop.core.observation import MIGRATING, RUNNING, Migrate
from greenhop.policies.base import Capabilities, PolicyBase
from greenhop.runtime.ledger import Ledger
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

J = 1.0  # to the joule


class Script(PolicyBase):
    """Moves by the clock: at step ``k`` every running job in ``plan[k]`` goes to its site."""

    name = "script"
    capabilities = Capabilities(migrates=True)

    def __init__(self, plan: dict[int, list[tuple[int, str]]]) -> None:
        self.plan = plan
        self.log: list[tuple[int, list]] = []

    def decide(self, obs):
        out = [Migrate(j, dest) for j, dest in self.plan.get(obs.step, [])
               if obs.job_phase[j] == RUNNING]
        self.log.append((obs.step, [(a.job, a.dest) for a in out]))
        return out


PLAN = {1: [(0, "b"), (1, "b")], 6: [(2, "c")], 9: [(0, "c")], 12: [(1, "a"), (3, "c")]}


def scenario(energy: dict | None = None) -> dict:
    sites = [site("a", power="3kW", slots=8), site("b", power="12kW", slots=8, tput=1.5),
             site("c", power="6kW", slots=8, tput=2.0, pue=1.3)]
    sites[1]["battery"] = {"capacity": "3kWh", "power": "2kW", "initial_soc": 0.2}
    jobs = [
        {"name": "big", "arrival": "0s", "work_gpu_h": 6.0, "checkpoint": "300GB", "gpus": 2,
         "origin": "a"},
        {"name": "mid", "arrival": "0s", "work_gpu_h": 4.0, "checkpoint": "80GB", "gpus": 1,
         "origin": "a"},
        {"name": "half", "arrival": "10min", "work_gpu_h": 5.0, "checkpoint": "120GB",
         "gpus": 2, "origin": "b", "mobility": "partial", "migratable_share": 0.5},
        {"name": "late", "arrival": "40min", "work_gpu_h": 3.0, "checkpoint": "40GB", "gpus": 1,
         "origin": "b"},
    ]
    links = [{"a": "a", "b": "b", "bandwidth": "4Gbps", "efficiency": 0.5, "rtt": "10ms",
              "energy_per_bit": 1e-7},
             {"a": "b", "b": "c", "bandwidth": "2Gbps", "efficiency": 0.8, "rtt": "20ms",
              "energy_per_bit": 2e-7}]
    over = {"sites": sites, "jobs": jobs, "links": links, "horizon": "6h"}
    if energy is not None:
        over["energy"] = energy
    return micro(**over)


def live_books(inp, policy, durations) -> Ledger:
    """The controller's path (``Controller._decide`` then ``_book``), with recorded durations:
    ``durations[(job, start step)]`` holds a move's measured figures."""
    led = Ledger(inp)
    history = inp.history_steps
    started: dict[int, int] = {}
    for t in range(inp.n_steps):
        led.record_power(t, inp.renewable_w[history + t])
        led.arrivals(t)
        actions = []
        if led.decides(t):
            actions = list(policy.decide(led.observation(t)))
            led.counters["policy_calls"] += 1
        for kind, j, _src, _dst in led.apply(actions, t) + led.place_queued(t):
            if kind == "migrate":
                started[j] = t
        moves = {j: durations[(j, started[j])] for j in np.flatnonzero(led.phase == MIGRATING)}
        led.finishing(t, moves)
        led.account(t, moves)
    return led


def recorded(res, dt: float) -> dict[tuple[int, int], dict]:
    return {(m["job"], round(m["start_s"] / dt)): {
        "save_s": m["save_s"], "transfer_s": m["transfer_s"], "restore_s": m["restore_s"],
        "bytes": m["bytes_sent"]} for m in res.migrations}


@pytest.mark.parametrize("energy", [None, {"source_in_flight": "training", "dest_held": "zero",
                                           "host_share": 0.3, "suspend_saves": True,
                                           "network_to_grid": False}],
                         ids=["default-conventions", "other-conventions"])
def test_live_books_equal_the_simulator_given_the_same_durations(energy):
    inp = build_inputs(load_scenario(scenario(energy)))
    sim_policy = Script(PLAN)
    sim = Engine(inp, sim_policy).run()
    dt = inp.params.step_s
    # The moves span several steps: the live books must carry them over, not cap them.
    assert len(sim.migrations) == 6
    assert max(m["downtime_s"] for m in sim.migrations) > 2 * dt
    live_policy = Script(PLAN)
    led = live_books(inp, live_policy, recorded(sim, dt))
    # Equal decisions ...
    assert live_policy.log == sim_policy.log
    # ... equal energy per site and per job, to the joule ...
    live_e = led.energy_j
    for k in ("direct", "charge", "discharge", "grid", "curtailed", "unmet", "demand",
              "job_load"):
        np.testing.assert_allclose(live_e[k], sim.energy_j[k], rtol=0, atol=J, err_msg=k)
    np.testing.assert_allclose(led.job_energy, sim.job_energy_j, rtol=0, atol=J)
    np.testing.assert_allclose(led.job_down, sim.job_down_s, rtol=0, atol=1e-6)
    np.testing.assert_allclose(led.finish_s, sim.job_finish_s, rtol=0, atol=1e-6)
    # ... and equal migration records.
    assert len(led.migrations) == len(sim.migrations)
    for live_m, sim_m in zip(led.migrations, sim.migrations, strict=True):
        assert {k: live_m[k] for k in ("job", "src", "dst", "start_s", "window_closed",
                                       "aborted", "fallback")} == \
               {k: sim_m[k] for k in ("job", "src", "dst", "start_s", "window_closed",
                                      "aborted", "fallback")}
        for k in ("end_s", "downtime_s", "save_s", "transfer_s", "restore_s", "bytes_sent"):
            assert live_m[k] == pytest.approx(sim_m[k], abs=1e-6), k
        assert live_m["energy_j"] == pytest.approx(sim_m["energy_j"], abs=J)
    for k in ("migrations_started", "window_closed", "policy_calls", "bytes_moved"):
        assert led.counters[k] == pytest.approx(sim.counters[k], abs=1e-3), k
    assert led.counters["network_j"] == pytest.approx(sim.counters["network_j"], abs=J)


def test_live_books_survive_a_restart_mid_move():
    """The controller stores the books after every step; a restart restores them exactly."""
    inp = build_inputs(load_scenario(scenario()))
    sim = Engine(inp, Script(PLAN)).run()
    durations = recorded(sim, inp.params.step_s)
    whole = live_books(inp, Script(PLAN), durations)
    # Stop after step 2 (a move in flight), restore the stored state, go on.
    led = Ledger(inp)
    policy = Script(PLAN)
    history = inp.history_steps
    started: dict[int, int] = {}
    for t in range(inp.n_steps):
        if t == 3:
            import json

            stored = json.loads(json.dumps(led.to_state()))
            assert (led.phase == MIGRATING).any()
            led = Ledger(inp)
            led.load_state(stored)
        led.record_power(t, inp.renewable_w[history + t])
        led.arrivals(t)
        actions = list(policy.decide(led.observation(t))) if led.decides(t) else []
        for kind, j, _src, _dst in led.apply(actions, t) + led.place_queued(t):
            if kind == "migrate":
                started[j] = t
        moves = {j: durations[(j, started[j])] for j in np.flatnonzero(led.phase == MIGRATING)}
        led.account(t, moves)
    for k, v in whole.energy_j.items():
        np.testing.assert_array_equal(led.energy_j[k], v, err_msg=k)
    np.testing.assert_array_equal(led.job_energy, whole.job_energy)


class EndWatcher(PolicyBase):
    """Keeps the run's end each Observation shows."""

    name = "end-watcher"
    capabilities = Capabilities()

    def __init__(self) -> None:
        self.seen: list[float] = []

    def decide(self, obs):
        self.seen.append(obs.run_end_s)
        return []


def test_the_run_end_is_the_scenarios_horizon_in_the_simulator_and_the_live_books():
    """A policy learns when the run ends (jobs not done then count as unfinished) from the
    same Observation field, simulated or live: the scenario's horizon."""
    inp = build_inputs(load_scenario(scenario()))
    horizon_s = inp.n_steps * inp.params.step_s
    sim, live = EndWatcher(), EndWatcher()
    Engine(inp, sim).run()
    led = Ledger(inp)
    for t in range(3):
        led.record_power(t, inp.renewable_w[inp.history_steps + t])
        led.arrivals(t)
        live.decide(led.observation(t))
    assert sim.seen and set(sim.seen) == {horizon_s}
    assert set(live.seen) == {horizon_s}
