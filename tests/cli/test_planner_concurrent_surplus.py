"""``benchmarks/planner_concurrent_surplus.py``: the part of a run's job grid energy drawn
while surplus was curtailed at other sites, checked on a hand-worked two-site case."""

from __future__ import annotations

import sys
from pathlib import Path

import clikit
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.sim.attribution import base_only_dispatch
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario


@pytest.fixture(scope="module")
def cs():
    return clikit.benchmark_script("planner_concurrent_surplus")


def micro(b_power: str, *, b_slots: int = 4, gpus: int = 1, mobility: str = "migratable"
          ) -> dict:
    """Site a has no renewables (the job there draws ``gpus`` x 400 W from the grid for
    1 GPU-h of work); site b has ``b_power`` of renewables over its 1 kW base load, all
    curtailed (no job there), and ``b_slots`` GPU slots of 400 W (PUE 1)."""
    d = simkit.legacy_micro(horizon="2h")
    d["sites"][0]["trace"] = {"kind": "constant", "power": "0W"}
    d["sites"][1]["trace"] = {"kind": "constant", "power": b_power}
    d["sites"][1]["gpu_slots"] = b_slots
    d["jobs"][0].update(gpus=gpus, work_gpu_h=float(gpus), mobility=mobility)
    return d


@pytest.mark.parametrize(("case", "expected"), [
    # 100 W curtailed at b for the job's hour: 0.1 of its 0.4 kWh, in b's free slots too
    ({"b_power": "1.1kW"}, (0.4, 0.1, 0.1, 0.1)),
    # 2 kW curtailed: all of the job's 0.4 kWh
    ({"b_power": "3kW"}, (0.4, 0.4, 0.4, 0.4)),
    # nothing curtailed
    ({"b_power": "1kW"}, (0.4, 0.0, 0.0, 0.0)),
    # 2 kW curtailed at b, but b has no slot to draw it in
    ({"b_power": "3kW", "b_slots": 0}, (0.4, 0.4, 0.0, 0.0)),
    # a 2-GPU job (800 W for 1 h) and one free slot at b: 400 W of the 2 kW drawable
    ({"b_power": "3kW", "b_slots": 1, "gpus": 2}, (0.8, 0.8, 0.4, 0.4)),
    # a pinned job: the slots could take the curtailment, a move of the job could not
    ({"b_power": "3kW", "mobility": "pinned"}, (0.4, 0.4, 0.4, 0.0)),
])
def test_the_grid_draw_taken_by_curtailment_elsewhere(cs, case, expected) -> None:
    inp = build_inputs(load_scenario(micro(**case)))
    engine = Engine(inp, simkit.Never(), record=True)
    occupied, movable_gpus = cs.occupancy_recorder(engine, inp.n_steps, len(inp.slots))
    run = engine.run()
    parts = cs.concurrent_parts_kwh(inp, run, base_only_dispatch(inp), occupied,
                                    movable_gpus)
    got = tuple(parts[k] for k in ("job grid", "concurrent", "in free slots", "movable"))
    assert got == pytest.approx(expected)
    assert occupied[:12, 0] == pytest.approx(case.get("gpus", 1))  # the job's hour at a
    assert occupied[:, 1].max() == 0


@pytest.mark.parametrize(("argv", "said"), [
    (["nosuch"], "scenario 'nosuch' does not exist"),
    (["caiso-curtailment", "--seeds", "a-b"], "--seeds: cannot read 'a-b'"),
    (["caiso-curtailment", "--policy", "nope"], "unknown policy 'nope'"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_run(cs, capsys, argv, said) -> None:
    assert cs.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and said in err and err.count("\n") == 1
