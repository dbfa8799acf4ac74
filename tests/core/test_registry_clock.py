"""Name registries and the clock seam."""

from __future__ import annotations

import pytest

from greenhop.core.clock import Clock, ScaledWallClock, VirtualClock
from greenhop.core.errors import ConfigError
from greenhop.core.registry import Registry


def test_registry_creates_by_name_and_lists_valid_names_on_typo() -> None:
    reg: Registry[dict] = Registry("policy")

    @reg.register("static")
    def _static(**kw):
        return {"name": "static", **kw}

    reg.register("energy-greedy")(lambda **kw: {"name": "energy-greedy"})
    assert reg.create("static", alpha=0.1) == {"name": "static", "alpha": 0.1}
    assert reg.names() == ["energy-greedy", "static"] and "static" in reg
    with pytest.raises(ConfigError, match=r"unknown policy 'statik'.*energy-greedy, static"):
        reg.get("statik")
    with pytest.raises(ValueError, match="twice"):
        reg.register("static")(_static)
    with reg.temporary("plugin", lambda **kw: {"name": "plugin"}):
        assert reg.create("plugin") == {"name": "plugin"}
    assert "plugin" not in reg


def test_virtual_clock_jumps_forward_only() -> None:
    clock = VirtualClock()
    assert isinstance(clock, Clock)
    clock.sleep_until(300.0)
    assert clock.now_s() == 300.0
    with pytest.raises(ValueError, match="cannot go back"):
        clock.sleep_until(10.0)


def test_scaled_wall_clock_runs_faster_than_real_time() -> None:
    clock = ScaledWallClock(time_scale=3600.0)
    clock.sleep_until(36.0)  # 10 ms of wall time
    assert clock.now_s() >= 36.0
    with pytest.raises(ValueError):
        ScaledWallClock(0)
