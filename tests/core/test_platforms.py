"""The GPU platform table (greenhop.core.platforms)."""

from __future__ import annotations

import pytest

from greenhop.core import platforms
from greenhop.core.errors import ConfigError


def test_reference_gpu_has_relative_throughput_one() -> None:
    ref = platforms.platform(platforms.REFERENCE)
    assert ref.name == "A100-SXM4-80GB"
    assert ref.relative_throughput == 1.0


def test_table_holds_datacenter_and_edge_platforms() -> None:
    names = platforms.names()
    for name in ("H100-SXM", "A100-SXM4-80GB", "L40S", "RTX-4090", "Jetson-AGX-Orin",
                 "DGX-Spark"):
        assert name in names
    kinds = {p.kind for p in platforms.PLATFORMS.values()}
    assert kinds == {"datacenter", "edge"}


@pytest.mark.parametrize("plat", list(platforms.PLATFORMS.values()), ids=lambda p: p.name)
def test_every_entry_is_physical_and_cited(plat: platforms.Platform) -> None:
    assert plat.train_power_w > plat.idle_power_w > 0
    assert 0 < plat.relative_throughput < 10
    assert plat.memory_bytes >= 16e9
    assert plat.kind in ("datacenter", "edge")
    assert plat.source


def test_h100_is_faster_and_orin_slower_than_the_reference() -> None:
    h100 = platforms.platform("H100-SXM")
    orin = platforms.platform("Jetson-AGX-Orin")
    assert 2.0 <= h100.relative_throughput <= 3.0  # MLPerf Training v3.0 per-GPU range
    assert orin.relative_throughput < 0.2
    assert h100.train_power_w == 700.0


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("h100", "H100-SXM"),
        ("H100 SXM", "H100-SXM"),
        ("a100", "A100-SXM4-80GB"),
        ("a100_sxm4_80gb", "A100-SXM4-80GB"),
        ("l40s", "L40S"),
        ("4090", "RTX-4090"),
        ("rtx 4090", "RTX-4090"),
        ("orin", "Jetson-AGX-Orin"),
        ("GB10", "DGX-Spark"),
        ("dgx-spark", "DGX-Spark"),
    ],
)
def test_lookup_is_case_insensitive_and_knows_aliases(name: str, canonical: str) -> None:
    assert platforms.platform(name).name == canonical


@pytest.mark.parametrize("name", ["V100", "", "h200", "tpu-v5"])
def test_unknown_name_lists_the_valid_names(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        platforms.platform(name)
    message = str(info.value)
    assert repr(name) in message
    for valid in platforms.names():
        assert valid in message
