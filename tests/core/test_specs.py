"""Validation of the shared site, link, job and battery specifications."""

from __future__ import annotations

import math

import pytest

from greenhop.core.errors import ConfigError, GreenhopError, UserError
from greenhop.core.specs import BatterySpec, JobSpec, LinkSpec, SiteSpec


def test_valid_specs_build() -> None:
    battery = BatterySpec(capacity_j=3.6e7, max_power_w=5e3)
    site = SiteSpec("bern", 46.9, 7.4, "Europe/Zurich", pv_kwp=100, battery=battery)
    link = LinkSpec("bern", "oslo", bandwidth_bps=1e9)
    job = JobSpec("j1", arrival_s=0, work_gpu_h=10, checkpoint_bytes=98e9)
    assert site.battery is battery and math.isinf(site.grid_import_limit_w)
    assert link.network_j_per_bit is None and job.mobility == "migratable"


@pytest.mark.parametrize(
    ("factory", "fragment"),
    [
        (lambda: SiteSpec("", 0, 0), "non-empty name"),
        (lambda: SiteSpec("x", 95, 0), "latitude"),
        (lambda: SiteSpec("x", 0, 200), "longitude"),
        (lambda: SiteSpec("x", 0, 0, pv_kwp=-1), "pv_kwp"),
        (lambda: SiteSpec("x", 0, 0, pue=0.5), "PUE"),
        (lambda: SiteSpec("x", 0, 0, gpu_slots=-2), "gpu_slots"),
        (lambda: SiteSpec("x", 0, 0, base_load_w=float("nan")), "base load"),
        (lambda: LinkSpec("a", "a", 1e9), "two different sites"),
        (lambda: LinkSpec("a", "b", 0), "bandwidth"),
        (lambda: LinkSpec("a", "b", 1e9, loss=1.0), "loss"),
        (lambda: LinkSpec("a", "b", 1e9, efficiency=0), "efficiency"),
        (lambda: LinkSpec("a", "b", 1e9, streams=0), "streams"),
        (lambda: JobSpec("j", -1, 1, 1e9), "arrival"),
        (lambda: JobSpec("j", 0, 0, 1e9), "work"),
        (lambda: JobSpec("j", 0, 1, 0), "checkpoint size"),
        (lambda: JobSpec("j", 0, 1, 1e9, gpus=0), "gpus"),
        (lambda: JobSpec("j", 0, 1, 1e9, mobility="teleport"), "mobility"),
        (lambda: JobSpec("j", 10, 1, 1e9, deadline_s=5), "deadline"),
        (lambda: BatterySpec(0, 1), "capacity"),
        (lambda: BatterySpec(1, 1, round_trip_efficiency=1.5), "round-trip"),
        (lambda: BatterySpec(1, 1, initial_soc=0.1, min_soc=0.2), "min_soc"),
    ],
)
def test_invalid_specs_name_the_field(factory, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        factory()
    assert isinstance(info.value, UserError) and isinstance(info.value, GreenhopError)
