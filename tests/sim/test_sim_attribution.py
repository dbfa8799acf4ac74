"""Job-attributable metrics on hand-worked micro-scenarios, checked to the joule.

Sites ``a`` (1.2 kW constant renewable) and ``b`` (10 kW), base load 1 kW each, PUE 1,
GPUs at 400 W training / 50 W idle, throughput 1.0 at ``a`` and 2.0 at ``b``; link
8 Gbit/s x efficiency 0.5 = 4 Gbit/s, 1e-7 J/bit; checkpoints written and read at
2 GB/s, restart 60 s; steps of 300 s over 2 h (see simkit.micro).
"""

from __future__ import annotations

import numpy as np
import pytest
import simkit
from simkit import MoveAt
from simkit import legacy_micro as micro  # figures worked by hand on the legacy books

from greenhop.sim.attribution import base_only_dispatch
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import compare, gap_closed, net_green_gain_j, run_metrics
from greenhop.sim.scenario import load_scenario

KWH = 3.6e6
J_TOL = 1e-6


def run(d, policy):
    inp = build_inputs(load_scenario(d))
    res = Engine(inp, policy).run()
    return inp, res, run_metrics(inp, res)


def test_base_only_dispatch_by_hand():
    inp = build_inputs(load_scenario(micro()))
    base = base_only_dispatch(inp)
    # a: 1.2 kW renewable, 1 kW base -> no grid, 0.2 kW curtailed for 2 h.
    # b: 10 kW renewable, 1 kW base -> no grid, 9 kW curtailed for 2 h.
    assert base.energy_j["grid"] == pytest.approx([0.0, 0.0], abs=J_TOL)
    assert base.energy_j["curtailed"] == pytest.approx([200 * 7200, 9000 * 7200], abs=J_TOL)
    assert base.energy_j["direct"] == pytest.approx([1000 * 7200, 1000 * 7200], abs=J_TOL)


def test_static_job_attributable_by_hand():
    _inp, _res, m = run(micro(), simkit.Never())
    # The job draws 400 W at a for 1 h: a's demand 1.4 kW > 1.2 kW renewable, so 200 W from
    # the grid for 1 h (0.2 kWh) and nothing curtailed in that hour; base only curtails
    # 0.2 kW for 2 h (0.4 kWh), with the job only the second hour (0.2 kWh).
    assert m["job_nr_kwh"] == pytest.approx(200 * 3600 / KWH, abs=1e-9)
    assert m["job_energy_kwh"] == pytest.approx(400 * 3600 / KWH, abs=1e-9)
    assert m["job_green_share"] == pytest.approx(0.5, abs=1e-9)
    assert m["curtailment_absorbed_kwh"] == pytest.approx(200 * 3600 / KWH, abs=1e-9)
    assert m["base_only_nr_kwh"] == 0.0
    # 1 reference-GPU-hour of work done
    assert m["job_nr_kwh_per_gpu_h"] == pytest.approx(0.2, abs=1e-9)
    assert m["queue_h"] == 0.0 and m["deadline_misses"] == 0
    assert m["slowdown_p50"] == pytest.approx(1.0) and m["slowdown_p90"] == pytest.approx(1.0)


def test_one_migration_job_attributable_by_hand():
    _inp, _res, m = run(micro(), MoveAt(1, "b"))
    # Step 0 at a: 400 W over 1.2 - 1 kW of surplus -> 200 W x 300 s from the grid.
    # Step 1: a holds the save (0.5 s x 50 W idle = 25 J) and half the WAN energy
    # (8e9 bit x 1e-7 J/bit / 2 = 400 J); b the transfer + restore idle (62.5 s x 50 W)
    # and the other 400 J, then training 237 s + 1413 s at 400 W. b never lacks power.
    job_nr_j = 200 * 300
    assert m["job_nr_kwh"] == pytest.approx(job_nr_j / KWH, abs=1e-9)
    job_j = 400 * 300 + 400 * (237 + 1413) + 25 + 62.5 * 50 + 800
    assert m["job_energy_kwh"] == pytest.approx(job_j / KWH, abs=1e-9)
    # Curtailment absorbed at a: step 1 uses 425 J of a's 60 kJ surplus, step 0 all 60 kJ;
    # at b everything the job drew there came from curtailed renewables.
    absorbed_j = (60_000 + 425) + (400 * 1650 + 62.5 * 50 + 400)
    assert m["curtailment_absorbed_kwh"] == pytest.approx(absorbed_j / KWH, abs=1e-9)
    # With no battery every joule the jobs drew is either extra grid or absorbed curtailment.
    assert absorbed_j + job_nr_j == pytest.approx(job_j, abs=J_TOL)
    assert m["job_green_share"] == pytest.approx(1 - job_nr_j / job_j, abs=1e-6)
    assert m["downtime_h"] == pytest.approx(63 / 3600, abs=1e-4)
    assert m["window_closed_before_payback"] == 0 and m["net_green_loss_migrations"] == 0


def test_net_green_gain_by_hand():
    inp, res, _m = run(micro(), MoveAt(1, "b"))
    move = res.migrations[0]
    # Stay at b from 363 s to the finish at 2013 s. At b the job always gets its 400 W
    # from the 9 kW surplus. Had it stayed at a it would have had a's 200 W surplus, less
    # what the save and WAN energy drew there in step 1 (425 J / 300 s).
    gain = 237 * (400 - (200 - 425 / 300)) + 1413 * (400 - 200)
    net = gain - (800 + 25 + 62.5 * 50)
    assert net_green_gain_j(inp, res, move, 2013.0) == pytest.approx(net, abs=J_TOL)


def test_a_move_to_a_poorer_site_is_a_net_green_loss():
    jobs = [{"name": "j1", "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": "1GB",
             "gpus": 1, "origin": "b"}]
    _inp, _res, m = run(micro(jobs=jobs), MoveAt(1, "a"))
    assert m["migrations"] == 1
    assert m["net_green_loss_migrations"] == 1


def test_queue_deadline_and_slowdown_percentiles():
    # One GPU slot at a, two 1-h jobs arriving together: the second waits 1 h in the queue
    # and misses its 90-min deadline.
    jobs = [{"name": f"j{i}", "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": "1GB",
             "gpus": 1, "origin": "a", "deadline": "90min"} for i in range(2)]
    sites = [simkit.site("a", slots=1), simkit.site("b", power="10kW", tput=2.0)]
    _inp, _res, m = run(micro(jobs=jobs, sites=sites), simkit.Never())
    assert m["queue_h"] == pytest.approx(1.0)
    assert m["deadline_misses"] == 1
    # slowdowns 1 and 2: median 1.5, p90 = 1 + 0.9 x (2 - 1)
    assert m["slowdown_p50"] == pytest.approx(1.5)
    assert m["slowdown_p90"] == pytest.approx(1.9)


def test_compare_saved_and_gaps():
    metrics = {
        "static": {"job_nr_kwh": 100.0, "non_renewable_kwh": 1100.0, "work_done_gpu_h": 50.0},
        "good": {"job_nr_kwh": 40.0, "non_renewable_kwh": 1040.0, "work_done_gpu_h": 50.0},
        "lazy": {"job_nr_kwh": 10.0, "non_renewable_kwh": 1010.0, "work_done_gpu_h": 49.0},
        # 0.2 % short of the bound's work: gets a gap, against the bound priced at its work
        "close": {"job_nr_kwh": 40.0, "non_renewable_kwh": 1040.0, "work_done_gpu_h": 49.9,
                  "bound_space_kwh": 19.0},
    }
    bounds = {"space": {"job_nr_kwh": 20.0, "work_gpu_h": 50.0, "status": "Optimal"}}
    out = compare(metrics, bounds)
    assert out["good"]["saved_vs_static_pct"] == pytest.approx(60.0)
    assert out["good"]["site_saved_vs_static_pct"] == pytest.approx(100 * 60 / 1100, abs=1e-4)
    assert out["good"]["gap_closed_space_pct"] == pytest.approx(75.0)   # 60 of 80
    assert out["static"]["gap_closed_space_pct"] == 0.0
    assert out["close"]["gap_closed_space_pct"] == pytest.approx(100 * 60 / 81, abs=0.01)
    assert out["lazy"]["gap_closed_space_pct"] is None
    assert "less work" in out["lazy"]["gap_closed_space_why"]
    pct, why = gap_closed(100.0, 50.0, {"job_nr_kwh": None, "status": "Time limit reached",
                                        "work_gpu_h": 1.0}, 1.0)
    assert pct is None and "did not solve" in why


@pytest.mark.parametrize("seed", [3, 11])
def test_job_energy_splits_into_grid_and_absorbed_curtailment(seed):
    """With no battery, job energy = job grid energy + curtailment absorbed, whatever the
    policy does (a chaos policy exercises every engine path)."""
    d = micro(horizon="6h")
    d["sites"] = [simkit.site("a", power=None, trace={"kind": "solar", "peak": "3kW"}),
                  simkit.site("b", power=None, tput=2.0, trace={"kind": "solar", "peak": "4kW"})]
    d["jobs"] = [{"name": f"j{i}", "arrival": f"{20 * i}min", "work_gpu_h": 1.5,
                  "checkpoint": "2GB", "gpus": 1 + i % 2, "origin": "ab"[i % 2]}
                 for i in range(5)]
    _inp, _res, m = run(d, simkit.Chaos(seed, rate=0.5))
    assert m["job_nr_kwh"] + m["curtailment_absorbed_kwh"] == pytest.approx(
        m["job_energy_kwh"], abs=1e-3)
    assert 0.0 <= m["job_green_share"] <= 1.0
    assert np.isfinite(m["slowdown_p90"])
