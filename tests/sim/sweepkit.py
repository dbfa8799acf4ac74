"""A small scenario for the sweep tests (imported as ``sweepkit``): two sites, a solar
one and a steady one, a few generated jobs over two days, so seeds differ and a cell
takes a fraction of a second."""

from __future__ import annotations

from pathlib import Path

SCENARIO = """
name = "sweep-small"
start = "2023-06-01T00:00:00Z"
horizon = "{horizon}"
step = "15min"
history = "1d"
seed = 1
policies = ["static", "energy-greedy", "feasibility-aware"]

[migration]
startup = "60s"

[[sites]]
name = "a"
latitude = 0.0
longitude = 0.0
gpu_slots = 4
base_load = "1kW"
pue = 1.0
gpu_power = "400W"
gpu_idle = "50W"
trace = {{ kind = "solar", peak = "4kW" }}

[[sites]]
name = "b"
latitude = 0.0
longitude = 0.0
gpu_slots = 4
base_load = "1kW"
pue = 1.0
gpu_power = "400W"
gpu_idle = "50W"
trace = {{ kind = "constant", power = "2.5kW" }}

[[links]]
a = "a"
b = "b"
bandwidth = "10Gbps"
rtt = "20ms"

[generator]
count = {jobs}
until = "1d"
work_gpu_h = [1, 8]
gpus = [1, 2]
[[generator.models]]
name = "small"
checkpoint = "2GB"
"""

BOUNDS = """
[bounds]
kinds = ["space", "spacetime"]
"""


def write(tmp_path: Path, *, horizon: str = "2d", jobs: int = 8, bounds: bool = False,
          name: str = "small.toml") -> Path:
    """Write the scenario to ``tmp_path / name``; returns its path."""
    path = tmp_path / name
    text = SCENARIO.format(horizon=horizon, jobs=jobs) + (BOUNDS if bounds else "")
    path.write_text(text, encoding="utf-8")
    return path
