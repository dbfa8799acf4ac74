"""horizon-planner's bad parameters through ``greenhop simulate``: exit 2, one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
import clikit

SCENARIO = """
name = "planner-cli"
start = "2023-01-01T00:00:00Z"
horizon = "2h"
step = "5min"
history = "0s"
policies = ["horizon-planner"]

[policy_params.horizon-planner]
{param}

[[sites]]
name = "a"
latitude = 0.0
longitude = 0.0
gpu_slots = 2
base_load = "1kW"
trace = {{ kind = "constant", power = "2kW" }}

[[jobs]]
name = "j1"
arrival = "0s"
work_gpu_h = 1.0
checkpoint = "1GB"
gpus = 1
origin = "a"
"""


@pytest.mark.parametrize("param, word", [
    ("lam = -1", "lam"),
    ("mu = -2", "mu"),
    ("epoch_s = 7200\nhorizon_s = 3600", "horizon_s"),
    ("time_limit_s = 0", "time_limit_s"),
    ("colour = 'green'", "colour"),
])
def test_simulate_rejects_bad_planner_parameters(tmp_path, capsys, param, word):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(param=param))
    code, _out, err = clikit.run(capsys, "simulate", str(path), "--out", str(tmp_path / "o"))
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert word in lines[0] and "horizon-planner" in lines[0]
    assert "Traceback" not in err


def test_simulate_runs_the_planner(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(param="lam = 1.0"))
    code, out, err = clikit.run(capsys, "simulate", str(path), "--out", str(tmp_path / "o"),
                                "--json")
    assert code == 0, err
    assert "horizon-planner" in out
