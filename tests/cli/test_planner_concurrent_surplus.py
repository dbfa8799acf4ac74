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


def micro(b_power: str) -> dict:
    """Site a has no renewables (the job there draws its 400 W from the grid for 1 h); site b
    has ``b_power`` of renewables over its 1 kW base load, all curtailed (no job there)."""
    d = simkit.legacy_micro(horizon="2h")
    d["sites"][0]["trace"] = {"kind": "constant", "power": "0W"}
    d["sites"][1]["trace"] = {"kind": "constant", "power": b_power}
    return d


@pytest.mark.parametrize(("b_power", "concurrent_kwh"), [
    ("1.1kW", 0.1),     # 100 W curtailed at b for the job's hour: 0.1 of its 0.4 kWh
    ("3kW", 0.4),       # 2 kW curtailed: all of the job's 0.4 kWh
    ("1kW", 0.0),       # nothing curtailed
])
def test_the_grid_draw_taken_by_curtailment_elsewhere(cs, b_power, concurrent_kwh) -> None:
    inp = build_inputs(load_scenario(micro(b_power)))
    run = Engine(inp, simkit.Never(), record=True).run()
    total, concurrent = cs.concurrent_curtailment_kwh(inp, run, base_only_dispatch(inp))
    assert total == pytest.approx(0.4)   # 1 GPU x 400 W x 1 h, PUE 1
    assert concurrent == pytest.approx(concurrent_kwh)



@pytest.mark.parametrize(("argv", "said"), [
    (["nosuch"], "scenario 'nosuch' does not exist"),
    (["caiso-curtailment", "--seeds", "a-b"], "--seeds: cannot read 'a-b'"),
    (["caiso-curtailment", "--policy", "nope"], "unknown policy 'nope'"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_run(cs, capsys, argv, said) -> None:
    assert cs.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and said in err and err.count("\n") == 1
