"""Hand-computed micro-scenarios (2 sites, 1 link, 1-3 jobs), checked to the joule.

Sites ``a`` (1.2 kW constant renewable) and ``b`` (10 kW), base load 1 kW each, PUE 1,
GPUs at 400 W training / 50 W idle, throughput 1.0 at ``a`` and 2.0 at ``b``; link
8 Gbit/s x efficiency 0.5 = 4 Gbit/s, 1e-7 J/bit; checkpoints written and read at
2 GB/s, restart 60 s; steps of 300 s over 2 h.
"""

from __future__ import annotations

import pytest
import simkit
from simkit import MoveAt
from simkit import legacy_micro as micro  # figures worked by hand on the legacy books

from greenhop.core.errors import ConfigError
from greenhop.policies.base import Capabilities, PolicyBase
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import run_metrics
from greenhop.sim.scenario import load_scenario

J_TOL = 1e-6  # joules


def run(d, policy, **kw):
    inp = build_inputs(load_scenario(d))
    res = Engine(inp, policy, record=True, **kw).run()
    return inp, res, run_metrics(inp, res)


def test_static_one_job_to_the_joule():
    _inp, res, m = run(micro(), simkit.Never())
    e = res.energy_j
    assert res.job_finish_s[0] == pytest.approx(3600.0, abs=1e-9)
    # a: base 1 kW for 2 h + the job's 400 W for 1 h; renewables 1.2 kW.
    assert e["demand"][0] == pytest.approx(1000 * 7200 + 400 * 3600, abs=J_TOL)
    assert e["grid"][0] == pytest.approx(200 * 3600, abs=J_TOL)
    assert e["curtailed"][0] == pytest.approx(200 * 3600, abs=J_TOL)
    assert e["grid"][1] == pytest.approx(0.0, abs=J_TOL)
    assert e["curtailed"][1] == pytest.approx(9000 * 7200, abs=J_TOL)
    assert res.job_energy_j[0] == pytest.approx(400 * 3600, abs=J_TOL)
    assert m["non_renewable_kwh"] == pytest.approx(0.2)
    assert m["renewable_kwh"] == pytest.approx((8.64e6 - 0.72e6 + 7.2e6) / 3.6e6, abs=1e-4)
    assert m["jct_mean_h"] == pytest.approx(1.0)
    assert m["migrations"] == 0


def test_one_migration_to_the_joule():
    _inp, res, m = run(micro(), MoveAt(1, "b"))
    # Step 0 at a (300 GPU-s). Step 1: save 0.5 s, transfer 8e9 bit / 4e9 bit/s = 2 s,
    # restore 0.5 s + 60 s -> 63 s down, then 237 s at rate 2 = 474 GPU-s.
    # Remaining 3600 - 300 - 474 = 2826 GPU-s at rate 2 = 1413 s -> ends at 1800 + 213 s.
    assert res.job_finish_s[0] == pytest.approx(2013.0, abs=1e-9)
    mig = res.migrations[0]
    assert mig["downtime_s"] == pytest.approx(63.0, abs=1e-9)
    assert mig["energy_j"] == pytest.approx(800 + 0.5 * 50 + 62.5 * 50, abs=J_TOL)
    assert res.job_down_s[0] == pytest.approx(63.0, abs=1e-9)
    assert res.job_energy_j[0] == pytest.approx(
        400 * 300 + 400 * (237 + 1413) + 25 + 3125 + 800, abs=J_TOL)
    e = res.energy_j
    assert e["demand"][0] == pytest.approx(1000 * 7200 + 120_000 + 25 + 400, abs=J_TOL)
    assert e["demand"][1] == pytest.approx(1000 * 7200 + 660_000 + 3125 + 400, abs=J_TOL)
    assert e["grid"][0] == pytest.approx(200 * 300, abs=J_TOL)   # only step 0 exceeds 1.2 kW
    assert e["grid"][1] == pytest.approx(0.0, abs=J_TOL)
    assert m["migrations"] == 1
    assert m["gb_moved"] == pytest.approx(1.0)
    assert m["network_kwh"] == pytest.approx(800 / 3.6e6, abs=1e-6)
    assert m["window_closed_before_payback"] == 0 and m["infeasible_migrations"] == 0
    assert m["jct_mean_h"] == pytest.approx(2013 / 3600, abs=1e-4)


def test_three_jobs_share_the_link_fairly_and_pinned_stays():
    jobs = [{"name": f"j{i}", "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": "1GB",
             "gpus": 1, "origin": "a"} for i in range(3)]
    jobs[2]["mobility"] = "pinned"
    _inp, res, m = run(micro(jobs=jobs), MoveAt(1, "b"))
    # Two transfers on one 4 Gbit/s link: 2 Gbit/s each -> 4 s; downtime 0.5 + 4 + 60.5.
    downs = sorted(r["downtime_s"] for r in res.migrations)
    assert downs == pytest.approx([65.0, 65.0], abs=1e-9)
    assert m["migrations"] == 2
    assert m["rejected_actions"] == 1          # the pinned job may not move
    assert m["network_kwh"] == pytest.approx(1600 / 3.6e6, abs=1e-6)
    remaining = 3600 - 300 - (300 - 65) * 2
    assert res.job_finish_s[0] == pytest.approx(600 + remaining / 2, abs=1e-9)
    assert res.job_finish_s[2] == pytest.approx(3600.0, abs=1e-9)


def _closing(on_close: str):
    values = [10_000.0, 10_000.0] + [0.0] * 22
    sites = [simkit.site("a"),
             simkit.site("b", power=None, tput=2.0, trace={"kind": "values", "values": values})]
    jobs = [{"name": "big", "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": "100GB",
             "gpus": 1, "origin": "a"}]
    return micro(sites=sites, jobs=jobs, on_window_close=on_close)


def test_window_closing_mid_migration_continue():
    _inp, res, m = run(_closing("continue"), MoveAt(1, "b"))
    # save 50 s + transfer 200 s + restore 110 s = 360 s from t = 300 s.
    mig = res.migrations[0]
    assert mig["end_s"] == pytest.approx(660.0, abs=1e-9)
    assert m["window_closed_mid_migration"] == 1
    assert m["window_closed_before_payback"] == 1
    # No progress during the migration's whole step; then 240 s at rate 2 in step 2.
    log = res.job_progress_log
    assert log[1][0] == pytest.approx(log[0][0]) == pytest.approx(300.0)
    assert log[2][0] - log[1][0] == pytest.approx(480.0, abs=1e-9)


def test_window_closing_mid_migration_abort_returns_to_source():
    _inp, res, m = run(_closing("abort"), MoveAt(1, "b"))
    assert m["aborted_migrations"] == 1 and m["migrations"] == 0
    # Restore at the source from its checkpoint (110 s) from t = 600 s, then rate 1 again.
    remaining = 3600 - 300
    assert res.job_finish_s[0] == pytest.approx(710 + remaining, abs=1e-9)
    assert m["gb_moved"] == pytest.approx(100.0)


def test_window_closing_mid_migration_fallback_to_third_site():
    d = _closing("fallback")
    d["sites"].append(simkit.site("c", power="20kW", tput=1.0))
    d["links"].append({"a": "a", "b": "c", "bandwidth": "8Gbps", "efficiency": 0.5,
                       "rtt": "10ms", "energy_per_bit": 1e-7})
    _inp, res, m = run(d, MoveAt(1, "b"))
    assert m["fallback_migrations"] == 1
    assert res.migrations[0]["dst"] == 2
    assert m["migrations"] == 1
    # the transfer restarts to c: 100 GB more on the wire
    assert m["gb_moved"] == pytest.approx(200.0)


class PlaceAt(PolicyBase):
    """Test policy: place every queued job at ``site``."""

    name = "place-at"
    capabilities = Capabilities(places=True)

    def __init__(self, site):
        self.site = site

    def decide(self, obs):
        from greenhop.core.observation import QUEUED, Place

        return [Place(j, self.site) for j in range(obs.n_jobs) if obs.job_phase[j] == QUEUED]


def test_partial_job_moves_half_and_waits_for_it_to_the_joule():
    jobs = [{"name": "p", "arrival": "0s", "work_gpu_h": 2.0, "checkpoint": "1GB", "gpus": 2,
             "origin": "a", "mobility": "partial", "migratable_share": 0.5}]
    _inp, res, m = run(micro(jobs=jobs), MoveAt(1, "b"))
    # 0.5 GB moves: save 0.25 s + transfer 1 s + restore 60.25 s = 61.5 s down.
    assert res.migrations[0]["downtime_s"] == pytest.approx(61.5, abs=1e-9)
    # Split over a (throughput 1) and b (2): 2 GPUs at the slower rate -> 2 GPU-s/s.
    # 600 + 238.5 x 2 done by t = 600 s; 6123 GPU-s left -> 3061.5 s more.
    assert res.job_finish_s[0] == pytest.approx(600 + 3061.5, abs=1e-9)
    train_each = 400 * (238.5 + 3061.5)
    e = res.energy_j
    assert e["demand"][0] == pytest.approx(
        7.2e6 + 2 * 400 * 300 + 0.25 * 50 + 61.5 * 50 + 200 + train_each, abs=J_TOL)
    assert e["demand"][1] == pytest.approx(7.2e6 + 61.25 * 50 + 200 + train_each, abs=J_TOL)
    assert res.job_energy_j[0] == pytest.approx(
        240_000 + 12.5 + 3062.5 + 3075 + 400 + 2 * train_each, abs=J_TOL)
    assert m["gb_moved"] == pytest.approx(0.5)


def test_place_starts_a_queued_job_elsewhere():
    _inp, res, m = run(micro(), PlaceAt("b"))
    assert res.job_finish_s[0] == pytest.approx(1800.0, abs=1e-9)   # rate 2 at b
    assert res.energy_j["demand"][1] == pytest.approx(7.2e6 + 400 * 1800, abs=J_TOL)
    assert m["migrations"] == 0 and m["rejected_actions"] == 0


@pytest.mark.parametrize("mobility", ["pinned", "partial"])
def test_place_never_starts_a_pinned_or_partial_job_away_from_its_origin(mobility):
    """A pinned job never leaves its origin, and a partial job's staying GPUs are at home
    there (the bounds assume both): a Place elsewhere was accepted, and the bounds then
    no longer bounded the run."""
    jobs = [{**micro()["jobs"][0], "mobility": mobility,
             **({"migratable_share": 0.5, "gpus": 2} if mobility == "partial" else {})}]
    _inp, res, m = run(micro(jobs=jobs), PlaceAt("b"))
    assert m["rejected_actions"] >= 1
    assert {site for _j, site, *_ in res.segments} == {0}  # it ran at a, its origin


def test_carbon_follows_grid_energy_and_intensity():
    d = micro()
    d["sites"][0]["carbon_intensity"] = 500.0
    _inp, _res, m = run(d, simkit.Never())
    assert m["carbon_kg"] == pytest.approx(0.2 * 500 / 1000)


def test_decision_interval_asks_the_policy_less_often():
    d = micro(decision_interval="15min")
    _inp, res, m = run(d, MoveAt(3, "b"))
    assert res.counters["policy_calls"] <= 24 // 3 + 1
    assert m["migrations"] == 1 and res.migrations[0]["start_s"] == 900.0


def test_free_migration_ablation_moves_in_no_time_for_no_energy():
    d = micro()
    d["migration"] = {**d["migration"], "free": True}
    _inp, res, m = run(d, MoveAt(1, "b"))
    # 300 GPU-s at a in step 0, then the remaining 3300 GPU-s at rate 2 from t = 300 s.
    assert res.job_finish_s[0] == pytest.approx(300 + 3300 / 2, abs=1e-9)
    mig = res.migrations[0]
    assert mig["downtime_s"] == 0.0 and mig["energy_j"] == 0.0
    assert m["gb_moved"] == 0.0 and m["network_kwh"] == 0.0 and m["downtime_h"] == 0.0
    assert res.job_energy_j[0] == pytest.approx(400 * 300 + 400 * 1650, abs=J_TOL)


def test_free_migration_must_be_a_boolean():
    d = micro()
    d["migration"] = {**d["migration"], "free": "yes"}
    with pytest.raises(ConfigError, match=r"migration\.free"):
        load_scenario(d)


class _SuspendThenMove(PolicyBase):
    """Suspends j1 at step 1 and moves it, suspended, to ``b`` at step 3."""

    name = "suspend-then-move"
    capabilities = Capabilities(migrates=True, suspends=True)

    def decide(self, obs):
        from greenhop.core.observation import Migrate, Suspend

        return {1: [Suspend(0)], 3: [Migrate(0, "b")]}.get(int(obs.step), [])


@pytest.mark.parametrize("suspend_saves", [True, False])
def test_a_suspended_job_moves_the_checkpoint_its_suspend_wrote(suspend_saves):
    # the suspend writes the 1 GB checkpoint (0.5 s at 2 GB/s); the move then only
    # transfers it (2 s at 4 Gbit/s) and restores it at b (0.5 s + 60 s). With a free
    # suspend (suspend_saves false) nothing was written, so the move writes it.
    energy = {**simkit.LEGACY_ENERGY, "suspend_saves": suspend_saves}
    _inp, res, _m = run(simkit.micro(energy=energy), _SuspendThenMove())
    (mv,) = res.migrations
    assert mv["start_s"] == pytest.approx(900.0)
    assert mv["save_s"] == pytest.approx(0.0 if suspend_saves else 0.5, abs=1e-9)
    assert mv["transfer_s"] == pytest.approx(2.0, abs=1e-9)
    assert mv["downtime_s"] == pytest.approx(mv["save_s"] + 2.0 + 60.5, abs=1e-6)
    # a running job's move writes its checkpoint first
    _inp, res2, _m = run(simkit.micro(energy=energy), MoveAt(3, "b"))
    assert res2.migrations[0]["save_s"] == pytest.approx(0.5, abs=1e-9)
