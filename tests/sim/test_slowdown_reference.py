"""A job's slowdown is timed against its origin, even where the fleet starts it elsewhere:
every policy is compared against the same ideal time, whatever site the placer picks."""

from __future__ import annotations

import pytest

from greenhop.sim.api import simulate

SCENARIO = """
name = "redirected"
start = "2023-06-05T00:00:00Z"
horizon = "2d"
step = "15min"
history = "2d"
window_threshold = "720W"

[[sites]]
name = "a"
latitude = 38.7
longitude = -9.1
timezone = "Europe/Lisbon"
pv_kwp = 9.6
pv_source = "clearsky:sand_point"
base_load = "1kW"
gpu_platform = "A100-SXM4-80GB"
gpu_slots = 4

[[sites]]
name = "b"
latitude = 50.1
longitude = 8.7
timezone = "Europe/Berlin"
pv_kwp = 9.6
pv_source = "clearsky:sand_point"
base_load = "1kW"
gpu_platform = "H100-SXM"
gpu_slots = 4

[[links]]
a = "a"
b = "b"
bandwidth = "10Gbps"

[[jobs]]
name = "j0"
arrival = "1h"
work_gpu_h = 8.0
gpus = 1
checkpoint = "5GB"
origin = "a"
"""

EVENT = """
[[grid.events]]
id = "e"
site = "a"
start = "2h"
duration = "1h"
limit = "2kW"
lead = "2h"
"""


@pytest.mark.parametrize("event", [False, True])
def test_static_is_timed_at_the_origin_even_when_a_closure_starts_it_elsewhere(
        tmp_path, event) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO + (EVENT if event else ""))
    result = simulate(path, policies=["static"])
    run, m = result.runs["static"], result.metrics_by_policy["static"]
    sites = {seg[1] for seg in run.segments}
    # closed from its announcement (0 h), the origin takes no new work: the job arriving at
    # 1 h starts at b, on H100s, where it runs faster than the ideal time at a's A100s
    assert sites == ({1} if event else {0})
    assert m["migrations"] == 0 and m["unfinished_jobs"] == 0
    ideal_h = 8.0  # 8 GPU-h on 1 GPU at a's throughput (the A100 is the reference, 1.0)
    assert m["slowdown_mean"] == pytest.approx(m["jct_mean_h"] / ideal_h, rel=1e-4)
    assert (m["slowdown_mean"] < 0.5) if event else (m["slowdown_mean"] >= 1.0)
