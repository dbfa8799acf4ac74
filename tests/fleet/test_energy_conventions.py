"""The energy conventions, specified by hand-worked micro scenarios, to the joule.

The micro scenario (``simkit.micro``): sites ``a`` (1.2 kW constant renewable, relative
throughput 1) and ``b`` (10 kW, throughput 2), base load 1 kW each, PUE 1 unless set,
GPUs at 400 W training / 50 W idle, a 4 Gbit/s effective link at 1e-7 J/bit,
checkpoints written and read at 2 GB/s, restart 60 s, 5-minute steps over 2 h. One job of
1 GPU-h with a 1 GB checkpoint starts at ``a``; ``MoveAt(1, "b")`` moves it at t = 300 s:
save 0.5 s (at ``a``), transfer 8e9 bit / 4e9 bit/s = 2 s, restore 0.5 s + 60 s = 60.5 s
(at ``b``); 63 s down, 8e9 bit x 1e-7 J/bit = 800 J of network energy, half booked on
each end. The job trains 300 s at ``a``, then 237 s + 1413 s at ``b``; it ends at 2013 s.

Which phase draws what (see ``greenhop.fleet.conventions`` and docs/design.md):
save: source idle, destination nothing; transfer: source ``source_in_flight``,
destination ``dest_held``; restore: source ``source_in_flight``, destination idle.
Every GPU power is x (1 + host_share), every IT energy x the site's PUE; network energy
is not x PUE.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit
from simkit import MoveAt, micro

from greenhop.core.observation import RUNNING, SUSPENDED, Resume, Suspend
from greenhop.fleet.conventions import EnergyConventions
from greenhop.policies.base import Capabilities, PolicyBase, downtime_power_w
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import run_metrics
from greenhop.sim.scenario import load_scenario

J = 1e-3  # joules: every figure below is exact to a millijoule
LEGACY = {"source_in_flight": "zero", "dest_held": "idle", "host_share": 0.0,
          "suspend_saves": False, "network_to_grid": False}
BASE_J = 1000 * 7200          # each site's base load over the 2 h (PUE 1)
NET_HALF_J = 400              # half of the 800 J of network energy, on each end


def energy(**over) -> dict:
    """The legacy ``[energy]`` table with ``over`` changed."""
    return {**LEGACY, **over}


def run(d, policy):
    inp = build_inputs(load_scenario(d))
    res = Engine(inp, policy, record=True).run()
    return inp, res, run_metrics(inp, res)


def migrate(**conv):
    return run(micro(energy=energy(**conv)), MoveAt(1, "b"))


class Recorder(MoveAt):
    """MoveAt that also keeps the first Observation's power figures."""

    def __init__(self, step: int, dest: str) -> None:
        super().__init__(step, dest)
        self.seen: dict[str, np.ndarray] = {}

    def decide(self, obs):
        if not self.seen:
            self.seen = {"gpu_power_w": np.array(obs.gpu_power_w),
                         "gpu_idle_w": np.array(obs.gpu_idle_w), "pue": np.array(obs.pue)}
        return super().decide(obs)


class PricedMove(MoveAt):
    """MoveAt that also keeps the downtime power the feasibility policy would price."""

    def __init__(self, step: int, dest: str) -> None:
        super().__init__(step, dest)
        self.down_w = None

    def decide(self, obs):
        if obs.step == self.step:
            self.down_w = float(downtime_power_w(obs, np.array([0]), np.array([0]),
                                                 np.array([1]))[0])
        return super().decide(obs)


class SuspendThenResume(PolicyBase):
    """Suspend every running job at ``suspend_step``; resume it at ``resume_step``."""

    name = "suspend-then-resume"
    capabilities = Capabilities(suspends=True)

    def __init__(self, suspend_step: int, resume_step: int) -> None:
        self.suspend_step, self.resume_step = suspend_step, resume_step

    def decide(self, obs):
        if obs.step == self.suspend_step:
            return [Suspend(j) for j in range(obs.n_jobs) if obs.job_phase[j] == RUNNING]
        if obs.step == self.resume_step:
            return [Resume(j) for j in range(obs.n_jobs) if obs.job_phase[j] == SUSPENDED]
        return []


# ------------------------------------------------------------------ the legacy books


def test_legacy_books_of_one_migration():
    _inp, res, m = migrate()
    e = res.energy_j
    assert res.job_finish_s[0] == pytest.approx(2013.0, abs=1e-9)
    assert e["demand"][0] == pytest.approx(BASE_J + 120_000 + 25 + NET_HALF_J, abs=J)
    assert e["demand"][1] == pytest.approx(BASE_J + 660_000 + 3125 + NET_HALF_J, abs=J)
    assert e["grid"][0] == pytest.approx(200 * 300, abs=J)
    assert e["grid"][1] == pytest.approx(0.0, abs=J)
    assert res.migrations[0]["energy_j"] == pytest.approx(800 + 25 + 3125, abs=J)
    assert m["migrations"] == 1


# ------------------------------------------------------------------ source_in_flight


@pytest.mark.parametrize("draw, per_gpu_w", [("zero", 0.0), ("idle", 50.0),
                                              ("training", 400.0)])
def test_source_in_flight_draws_through_transfer_and_restore(draw, per_gpu_w):
    _inp, res, _m = migrate(source_in_flight=draw)
    # The source's GPU is held for the transfer (2 s) and the restore (60.5 s).
    extra = 62.5 * per_gpu_w
    e = res.energy_j
    assert e["demand"][0] == pytest.approx(BASE_J + 120_000 + 25 + extra + NET_HALF_J, abs=J)
    assert e["demand"][1] == pytest.approx(BASE_J + 660_000 + 3125 + NET_HALF_J, abs=J)
    assert res.job_energy_j[0] == pytest.approx(
        120_000 + 660_000 + 25 + 3125 + 800 + extra, abs=J)
    assert res.migrations[0]["energy_j"] == pytest.approx(800 + 25 + 3125 + extra, abs=J)
    # Step 1 at a stays below its 1.2 kW of renewables (1000 W + at most 84.75 W).
    assert e["grid"][0] == pytest.approx(200 * 300, abs=J)
    # Time is not a convention: the same downtime and finish.
    assert res.job_down_s[0] == pytest.approx(63.0, abs=1e-9)
    assert res.job_finish_s[0] == pytest.approx(2013.0, abs=1e-9)


def test_source_in_flight_does_not_apply_to_the_stay_part_of_a_partial_job():
    jobs = [{"name": "p", "arrival": "0s", "work_gpu_h": 2.0, "checkpoint": "1GB", "gpus": 2,
             "origin": "a", "mobility": "partial", "migratable_share": 0.5}]
    d = micro(jobs=jobs, energy=energy(source_in_flight="idle"))
    _inp, res, _m = run(d, MoveAt(1, "b"))
    # 0.5 GB moves: save 0.25 s, transfer 1 s, restore 60.25 s = 61.5 s down. The GPU
    # that stays at a idles the whole 61.5 s (every convention); the moving GPU saves at
    # a (0.25 s), then is held there idle for the transfer and restore (61.25 s).
    assert res.migrations[0]["downtime_s"] == pytest.approx(61.5, abs=1e-9)
    train_each = 400 * (238.5 + 3061.5)
    e = res.energy_j
    assert e["demand"][0] == pytest.approx(
        BASE_J + 2 * 400 * 300 + 0.25 * 50 + 61.5 * 50 + 61.25 * 50 + 200 + train_each, abs=J)
    assert e["demand"][1] == pytest.approx(BASE_J + 61.25 * 50 + 200 + train_each, abs=J)


# ------------------------------------------------------------------ dest_held


@pytest.mark.parametrize("held, per_gpu_w", [("zero", 0.0), ("idle", 50.0)])
def test_dest_held_draws_only_while_the_checkpoint_is_in_flight(held, per_gpu_w):
    _inp, res, _m = migrate(dest_held=held)
    # Destination: nothing during the save, dest_held for the 2 s transfer, idle for the
    # 60.5 s restore.
    at_b = 2.0 * per_gpu_w + 60.5 * 50
    e = res.energy_j
    assert e["demand"][1] == pytest.approx(BASE_J + 660_000 + at_b + NET_HALF_J, abs=J)
    assert e["demand"][0] == pytest.approx(BASE_J + 120_000 + 25 + NET_HALF_J, abs=J)
    assert res.migrations[0]["energy_j"] == pytest.approx(800 + 25 + at_b, abs=J)
    assert res.job_energy_j[0] == pytest.approx(120_000 + 660_000 + 25 + at_b + 800, abs=J)


# ------------------------------------------------------------------ host_share


def test_host_share_scales_training_and_idle_power():
    d = micro(energy=energy(host_share=0.25))
    policy = Recorder(1, "b")
    _inp, res, _m = run(d, policy)
    # Per GPU: 400 x 1.25 = 500 W training, 50 x 1.25 = 62.5 W idle.
    e = res.energy_j
    at_a = 500 * 300 + 0.5 * 62.5                       # train, save
    at_b = (2.0 + 60.5) * 62.5 + 500 * (237 + 1413)     # held in flight, restore, train
    assert e["demand"][0] == pytest.approx(BASE_J + at_a + NET_HALF_J, abs=J)
    assert e["demand"][1] == pytest.approx(BASE_J + at_b + NET_HALF_J, abs=J)
    assert res.job_energy_j[0] == pytest.approx(at_a + at_b + 800, abs=J)
    # Step 0 at a: 1000 + 500 W against 1.2 kW of renewables.
    assert e["grid"][0] == pytest.approx(300 * 300, abs=J)
    # The host share is power, not speed.
    assert res.job_finish_s[0] == pytest.approx(2013.0, abs=1e-9)
    # Policies see what the books charge.
    np.testing.assert_allclose(policy.seen["gpu_power_w"], [500.0, 500.0])
    np.testing.assert_allclose(policy.seen["gpu_idle_w"], [62.5, 62.5])


# ------------------------------------------------------------------ suspend_saves


@pytest.mark.parametrize("saves", [False, True])
def test_a_suspend_pays_its_save_when_suspend_saves(saves):
    jobs = [{"name": "j1", "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": "1000GB",
             "gpus": 1, "origin": "a"}]
    # Every other convention at its default (no host share): a Resume restores at the
    # job's own site, so source_in_flight and dest_held play no part.
    conv = {"source_in_flight": "idle", "dest_held": "idle", "host_share": 0.0,
            "suspend_saves": saves, "network_to_grid": True}
    _inp, res, m = run(micro(jobs=jobs, energy=conv), SuspendThenResume(1, 4))
    # 300 s of training; at t = 300 s a suspend that saves writes 1e12 B at 2e9 B/s:
    # 500 s at idle (25,000 J). At t = 1200 s the resume restores 500 s + 60 s at idle
    # (28,000 J), then 3300 s of training: done at 1760 + 3300 = 5060 s.
    save = 500 * 50 if saves else 0.0
    train = 400 * 3600
    e = res.energy_j
    assert e["demand"][0] == pytest.approx(BASE_J + train + save + 560 * 50, abs=J)
    assert e["demand"][1] == pytest.approx(BASE_J, abs=J)
    assert res.job_energy_j[0] == pytest.approx(train + save + 560 * 50, abs=J)
    assert res.job_finish_s[0] == pytest.approx(5060.0, abs=1e-9)
    assert m["migrations"] == 0


# ------------------------------------------------------------------ network_to_grid


@pytest.mark.parametrize("to_grid", [False, True])
def test_network_energy_is_grid_energy_when_network_to_grid(to_grid):
    _inp, res, _m = migrate(network_to_grid=to_grid)
    e = res.energy_j
    # Both ends carry half of the 800 J in their demand either way.
    assert e["demand"][0] == pytest.approx(BASE_J + 120_000 + 25 + NET_HALF_J, abs=J)
    assert e["demand"][1] == pytest.approx(BASE_J + 660_000 + 3125 + NET_HALF_J, abs=J)
    assert res.job_energy_j[0] == pytest.approx(120_000 + 660_000 + 25 + 3125 + 800, abs=J)
    assert res.counters["network_j"] == pytest.approx(800.0, abs=J)
    # Legacy: both halves are dispatched through the sites' surplus (a has 200 W spare in
    # step 1, b 9 kW), so the grid never sees them. To grid: the grid serves them.
    net_grid = NET_HALF_J if to_grid else 0.0
    assert e["grid"][0] == pytest.approx(200 * 300 + net_grid, abs=J)
    assert e["grid"][1] == pytest.approx(net_grid, abs=J)
    # ... and the renewables they no longer use are curtailed.
    net_green = 0.0 if to_grid else NET_HALF_J
    assert e["curtailed"][0] == pytest.approx(23 * 200 * 300 - 25 - net_green, abs=J)
    assert e["curtailed"][1] == pytest.approx(
        10_000 * 7200 - BASE_J - 660_000 - 3125 - net_green, abs=J)


# ------------------------------------------------------------------ PUE and the defaults


def test_pue_multiplies_it_power_with_its_host_share_but_not_network_energy():
    d = micro(energy={"source_in_flight": "idle", "dest_held": "idle", "host_share": 0.5,
                      "suspend_saves": True, "network_to_grid": True})
    d["sites"][0]["pue"] = 1.5
    d["sites"][1]["pue"] = 1.2
    policy = Recorder(1, "b")
    _inp, res, m = run(d, policy)
    # Per GPU: 600 W training, 75 W idle (host share 0.5), then x PUE.
    at_a = 1.5 * (600 * 300 + 0.5 * 75 + 62.5 * 75)     # train, save, held in flight
    at_b = 1.2 * (2.0 * 75 + 60.5 * 75 + 1650 * 600)    # held, restore, train
    assert at_a == pytest.approx(277_087.5) and at_b == pytest.approx(1_193_625.0)
    e = res.energy_j
    assert e["demand"][0] == pytest.approx(1.5 * BASE_J + at_a + NET_HALF_J, abs=J)
    assert e["demand"][1] == pytest.approx(1.2 * BASE_J + at_b + NET_HALF_J, abs=J)
    assert res.job_energy_j[0] == pytest.approx(at_a + at_b + 800, abs=J)
    assert res.migrations[0]["energy_j"] == pytest.approx(
        1.5 * (0.5 * 75 + 62.5 * 75) + 1.2 * (62.5 * 75) + 800, abs=J)
    # a's base demand (1.5 kW) exceeds its 1.2 kW of renewables all along: the grid
    # serves everything above 1.2 kW. b's 10 kW cover everything but the network half.
    assert e["grid"][0] == pytest.approx(1.5 * BASE_J + at_a + NET_HALF_J - 1200 * 7200,
                                         abs=J)
    assert e["grid"][1] == pytest.approx(NET_HALF_J, abs=J)
    assert e["curtailed"][1] == pytest.approx(10_000 * 7200 - 1.2 * BASE_J - at_b, abs=J)
    assert res.job_finish_s[0] == pytest.approx(2013.0, abs=1e-9)
    assert m["migrations"] == 1
    # The Observation's powers include the host share, not the PUE (it has its own field).
    np.testing.assert_allclose(policy.seen["gpu_power_w"], [600.0, 600.0])
    np.testing.assert_allclose(policy.seen["gpu_idle_w"], [75.0, 75.0])
    np.testing.assert_allclose(policy.seen["pue"], [1.5, 1.2])


def test_a_scenario_without_an_energy_table_books_the_defaults():
    d_default = micro()
    d_default["sites"][0]["pue"] = 1.5
    d_explicit = micro(energy={
        f: getattr(EnergyConventions(), f) for f in
        ("source_in_flight", "dest_held", "host_share", "suspend_saves", "network_to_grid")})
    d_explicit["sites"][0]["pue"] = 1.5
    _i, a, _m = run(d_default, MoveAt(1, "b"))
    _i, b, _m = run(d_explicit, MoveAt(1, "b"))
    for k in ("demand", "grid", "curtailed"):
        np.testing.assert_array_equal(a.energy_j[k], b.energy_j[k])
    np.testing.assert_array_equal(a.job_energy_j, b.job_energy_j)
    # ... and the defaults are not the legacy books.
    _i, c, _m = run(micro(energy=LEGACY), MoveAt(1, "b"))
    assert c.job_energy_j[0] < b.job_energy_j[0] - 1000


def test_static_books_only_scale_with_host_share_and_pue():
    """No migration: every convention but the host share leaves the books alone."""
    d = micro(energy=energy(host_share=0.5, source_in_flight="training",
                            network_to_grid=True, suspend_saves=True))
    d["sites"][0]["pue"] = 1.25
    _inp, res, _m = run(d, simkit.Never())
    # 1 GPU-h at a: 3600 s x 400 W x 1.5 x 1.25.
    assert res.job_energy_j[0] == pytest.approx(3600 * 600 * 1.25, abs=J)
    assert res.energy_j["demand"][0] == pytest.approx(1.25 * BASE_J + 3600 * 750, abs=J)


def test_the_policy_prices_a_move_as_the_books_charge_it():
    """The feasibility model's E_mig = network + downtime power x D, with the policy's
    downtime power, is what the default books charge, but for the destination's idle
    power through the save (counted by the policy, not by the books)."""
    d = micro(energy={"source_in_flight": "idle", "dest_held": "idle", "host_share": 0.5,
                      "suspend_saves": True, "network_to_grid": True})
    d["sites"][0]["pue"] = 1.5
    d["sites"][1]["pue"] = 1.2
    policy = PricedMove(1, "b")
    _inp, res, _m = run(d, policy)
    assert policy.down_w == pytest.approx(75 * 1.5 + 75 * 1.2)
    mig = res.migrations[0]
    e_model = 800 + policy.down_w * mig["downtime_s"]
    assert mig["energy_j"] == pytest.approx(e_model - 75 * 1.2 * 0.5, abs=J)
