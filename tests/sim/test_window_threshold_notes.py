"""A window threshold above every surplus of the run is named before the run: with it no
window ever opens, the alpha rule refuses every move and curtail-threshold never runs, so
the window-based policies all equal static and comparing them measures nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from greenhop.sim.inputs import build_inputs, window_threshold_notes
from greenhop.sim.scenario import load_scenario, packaged_scenarios

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from clikit import run, two_site_scenario


def _scenario(tmp_path: Path, threshold: str) -> Path:
    text = two_site_scenario("thr", b_longitude=0.0,
                             b_trace='{ kind = "constant", power = "2kW" }')
    text = text.replace("policies = ", f'window_threshold = "{threshold}"\npolicies = ', 1)
    path = tmp_path / "thr.toml"
    path.write_text(text)
    return path


def _highest_surplus_w(path: Path) -> float:
    sc = load_scenario(path)
    return float(build_inputs(sc).surplus_w[sc.history_steps:].max())


@pytest.mark.parametrize("name", sorted(packaged_scenarios()))
def test_every_packaged_scenario_opens_a_window(name):
    # edge-fleet's sites (1.2 kWp, 40 W always on) peak at 918 W of surplus: under the
    # fleet default of 1 kW it opened none, and the alpha rule refused every move there
    assert window_threshold_notes(load_scenario(name)) == []


def test_a_threshold_above_every_surplus_is_named_with_the_highest(tmp_path):
    path = _scenario(tmp_path, "5kW")
    top = _highest_surplus_w(path)
    assert top < 5000.0
    notes = window_threshold_notes(load_scenario(path))
    assert len(notes) == 1
    assert "window_threshold 5 kW" in notes[0] and "'a'" in notes[0]  # a's sun is the highest
    assert f"{top / 1e3:.3g} kW" in notes[0]


def test_a_threshold_the_surplus_reaches_once_is_not_named(tmp_path):
    path = _scenario(tmp_path, "1W")
    top = _highest_surplus_w(path)
    exact = _scenario(tmp_path, f"{top}W")
    assert window_threshold_notes(load_scenario(exact)) == []
    above = _scenario(tmp_path, f"{top + 1.0}W")
    assert len(window_threshold_notes(load_scenario(above))) == 1


def test_simulate_warns_and_still_runs(tmp_path, capsys):
    path = _scenario(tmp_path, "5kW")
    code, out, err = run(capsys, "simulate", str(path), "-p", "static,feasibility-aware",
                         "--no-report")
    assert code == 0, err
    assert "warning: window_threshold 5 kW" in " ".join(err.split())
    assert "feasibility-aware" in out
    code, _, err = run(capsys, "simulate", str(_scenario(tmp_path, "100W")), "-p", "static",
                       "--no-report")
    assert code == 0 and "window_threshold" not in err
