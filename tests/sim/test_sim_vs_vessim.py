"""Cross-check with an independent engine: Vessim 0.16 on the same microgrid.

One site: a real PV trace (pvlib on the Greensboro TMY weather), a constant load, a
battery and the grid. greenhop's grid import must match Vessim's within 0.5%.
Vessim's SimpleBattery has no conversion losses, so greenhop's battery is lossless
here too; its c-rate becomes greenhop's power limit.
"""

from __future__ import annotations

from importlib.metadata import version

import numpy as np
import pandas as pd
import pytest

from greenhop.sim import simulate

vs = pytest.importorskip("vessim")
if not version("vessim").startswith("0.16."):  # pragma: no cover - depends on the environment
    pytest.skip(f"the cross-check targets vessim 0.16, found {version('vessim')}",
                allow_module_level=True)

CAP_WH = 150_000.0
C_RATE = 0.5
LOAD_W = 30_000.0


def scenario(days: int = 30) -> dict:
    return {
        "name": "vessim-cross-check", "start": "2023-06-01T00:00:00Z", "horizon": f"{days}d",
        "step": "5min", "history": "0s", "policies": ["static"], "jobs": [],
        "sites": [{
            "name": "microgrid", "latitude": 36.1, "longitude": -79.95, "pv_kwp": 250.0,
            "pv_source": "tmy:greensboro", "base_load": f"{LOAD_W}W", "pue": 1.0,
            "gpu_slots": 0,
            "battery": {"capacity": f"{CAP_WH}Wh", "power": f"{C_RATE * CAP_WH}W",
                        "round_trip_efficiency": 1.0, "initial_soc": 0.5, "min_soc": 0.1},
        }],
    }


class GridLog(vs.Controller):
    """Records the microgrid's grid power (negative = import) each step."""

    def __init__(self) -> None:
        self.p_grid: list[float] = []

    def step(self, now, microgrid_states) -> None:
        self.p_grid.append(microgrid_states["mg"]["p_grid"])


def vessim_grid_import_j(pv_w: np.ndarray, dt_s: int) -> float:
    idx = pd.to_timedelta(np.arange(pv_w.size) * dt_s, unit="s")
    env = vs.Environment(sim_start="2023-06-01", step_size=dt_s)
    log = GridLog()
    env.add_microgrid(
        actors=[vs.Producer("pv", signal=vs.Trace(pd.Series(pv_w, index=idx))),
                vs.Consumer("load", signal=LOAD_W)],
        dispatchables=[vs.SimpleBattery("battery", capacity=CAP_WH, initial_soc=0.5,
                                        min_soc=0.1, c_rate=C_RATE),
                       vs.GridConnection("grid")],
        name="mg")
    env.add_controller(log)
    env.run(until=pv_w.size * dt_s)
    p = np.asarray(log.p_grid)
    assert p.size == pv_w.size
    return float(np.maximum(-p, 0.0).sum() * dt_s)


def test_grid_import_matches_vessim_within_half_a_percent():
    result = simulate(scenario())
    pv_w = result.inputs.renewable_w[:, 0]
    assert pv_w.max() > LOAD_W          # the battery really cycles
    ours_j = float(result.runs["static"].energy_j["grid"].sum())
    theirs_j = vessim_grid_import_j(pv_w, 300)
    assert ours_j > 0
    assert ours_j == pytest.approx(theirs_j, rel=0.005)
