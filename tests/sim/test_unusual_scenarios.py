"""Unusual but valid scenarios: each runs with sensible figures, or is refused with a
one-line error naming its key (never a traceback from deep inside the simulator)."""

from __future__ import annotations

import pytest

from greenhop.core.errors import ConfigError
from greenhop.sim import load_scenario, simulate


def _site(name: str, power: str = "3kW", slots: int = 4, **extra) -> dict:
    d = {"name": name, "latitude": 0.0, "longitude": 0.0, "gpu_slots": slots,
         "base_load": "1kW", "pue": 1.0, "gpu_power": "400W", "gpu_idle": "50W",
         "throughput": 1.0, "trace": {"kind": "constant", "power": power}}
    d.update(extra)
    return d


def _scenario(**over) -> dict:
    """Two sites on constant traces, one link, one job: 12 h at 15-min steps."""
    d = {
        "name": "unusual", "start": "2023-06-01T00:00:00Z", "horizon": "12h",
        "step": "15min", "history": "1d", "seed": 1, "policies": ["static"],
        "sites": [_site("a", power="500W"), _site("b", power="20kW", slots=8)],
        "links": [{"a": "a", "b": "b", "bandwidth": "1Gbps", "rtt": "20ms"}],
        "jobs": [{"name": "j1", "arrival": "0s", "work_gpu_h": 2.0, "checkpoint": "10GB",
                  "gpus": 2, "origin": "a"}],
    }
    d.update(over)
    return d


def test_generator_whose_origins_have_no_slots_is_refused_with_its_key():
    # The generator weights its origins by their GPU slots: origins with none at all left
    # nothing to draw from (numpy: "Probabilities contain NaN", with a RuntimeWarning).
    sc = _scenario(
        sites=[_site("a"), _site("b", slots=0)], jobs=[],
        generator={"count": 3, "work_gpu_h": [1, 2], "origins": ["b"],
                   "models": [{"name": "m", "params": 1e9}]})
    with pytest.raises(ConfigError, match=r"^generator\.origins: no site jobs arrive at has "
                                          r"GPU slots \(b: 0 each\)"):
        load_scenario(sc)


def test_generator_origins_with_some_slots_run():
    sc = _scenario(
        sites=[_site("a"), _site("b", slots=0)], jobs=[],
        generator={"count": 3, "work_gpu_h": [1, 2], "origins": ["a", "b"],
                   "deadline_factor": 2.0, "models": [{"name": "m", "params": 1e9}]})
    jobs = load_scenario(sc).jobs()
    assert [j.origin for j in jobs] == ["a", "a", "a"]


def test_forecast_feasibility_quantile_from_policy_params_is_forecast():
    # policy_params.forecast-feasibility.quantile is a documented key; a level other than
    # the forecasts' default p10/p50/p90 (and forecast.quantile) failed at step 0: "the
    # window forecasts carry the quantiles [0.1, 0.5, 0.9], not 0.25".
    sc = _scenario(policies=["forecast-feasibility"],
                   policy_params={"forecast-feasibility": {"quantile": 0.25}},
                   forecast={"horizon": "6h", "quantile": 0.2})
    assert load_scenario(sc).forecast.quantiles == (0.1, 0.2, 0.25, 0.5, 0.9)
    m = simulate(sc).metrics_by_policy["forecast-feasibility"]
    assert m["work_done_gpu_h"] == pytest.approx(2.0)
    assert m["job_energy_kwh"] >= 0.0


def test_bounds_of_a_site_without_grid():
    # grid_import_limit = 0 (an off-grid site): the bound's grid-limit chord divided by the
    # limit (RuntimeWarning: divide by zero, raised as an error under -W error).
    sc = _scenario(sites=[_site("a", power="500W", grid_import_limit="0W"),
                          _site("b", power="20kW", slots=8)],
                   bounds={"kinds": ["space", "spacetime"]})
    res = simulate(sc)
    m = res.metrics_by_policy["static"]
    assert m["unmet_kwh"] > 0
    for kind in ("space", "spacetime"):
        assert res.bounds[kind]["status"] == "Optimal"
        assert 0.0 <= m[f"bound_{kind}_kwh"] <= m["job_nr_kwh"] + 1e-6
