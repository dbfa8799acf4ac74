"""Running the CLI in-process for the CLI tests (imported as ``clikit``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from greenhop.cli.main import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``greenhop ARGS`` through ``main``; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code or 0, out.out, out.err


def one_line_error(code: int, err: str, *names: str) -> str:
    """Assert exit code 2 with one line on stderr, no traceback, naming every ``names``;
    returns the line."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def two_site_scenario(name: str, *, b_longitude: float, b_trace: str) -> str:
    """A small two-day scenario TOML: a sunny site ``a`` and a site ``b`` (``b_trace`` is
    its inline trace table), one 10 Gbit/s link, six generated jobs that do not all fit."""
    return f"""
name = "{name}"
start = "2023-06-01T00:00:00Z"
horizon = "2d"
step = "15min"
history = "1d"
policies = ["static", "energy-greedy"]

[[sites]]
name = "a"
latitude = 0.0
longitude = 0.0
gpu_slots = 4
base_load = "1kW"
gpu_power = "400W"
trace = {{ kind = "solar", peak = "4kW" }}

[[sites]]
name = "b"
latitude = 0.0
longitude = {b_longitude}
gpu_slots = 4
base_load = "1kW"
gpu_power = "400W"
trace = {b_trace}

[[links]]
a = "a"
b = "b"
bandwidth = "10Gbps"

[generator]
count = 6
until = "1d"
work_gpu_h = [1, 8]
[[generator.models]]
name = "small"
checkpoint = "2GB"
"""


def benchmark_script(name: str):
    """The module ``benchmarks/NAME.py`` (scripts, not a package), imported from its file."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
