"""Backtests on synthetic PV, and on the real Solcast data when it is in the cache."""

from __future__ import annotations

import numpy as np
import pytest
from forecast_synth import LAT, LON

from greenhop.core.errors import ConfigError
from greenhop.forecast.backtest import backtest, pinball_loss, plot_backtest

KEYS = {"mae", "rmse", "rmse_persistence", "skill", "pinball", "coverage", "coverage_active",
        "coverage_raw", "n"}


def test_pinball_loss_by_hand() -> None:
    np.testing.assert_allclose(pinball_loss(np.array([10.0, 0.0]), np.array([0.0, 10.0]), 0.9),
                               [9.0, 1.0])


def test_persistence_backtest_has_zero_skill(pv_series) -> None:
    r = backtest(pv_series, "persistence", horizons_s=[3600.0, 7200.0], warmup_s=5 * 86400.0,
                 calibration_window_s=3 * 86400.0, issue_every_s=3600.0)
    assert set(r.per_horizon.columns) >= KEYS
    np.testing.assert_allclose(r.per_horizon["skill"], 0.0, atol=1e-12)
    d = r.to_dict()
    assert d["summary"]["issues_scored"] > 100 and d["windows"] == {}


def test_backtest_with_windows_and_plot(pv_series, tmp_path) -> None:
    r = backtest(pv_series, "clear-sky-persistence", horizons_s=[3600.0, 7200.0],
                 warmup_s=5 * 86400.0, calibration_window_s=3 * 86400.0, issue_every_s=3600.0,
                 threshold=300.0, model_options={"latitude_deg": LAT, "longitude_deg": LON},
                 window_horizons_s=np.arange(1, 13) * 3600.0)
    assert (r.per_horizon["skill"] > 0).all()
    assert 0.6 <= r.summary["coverage"] <= 0.95
    w = r.window_metrics
    assert w["n"] > 50 and w["mae_h"] >= 0 and 0 <= w["coverage"] <= 1
    out = tmp_path / "bt.png"
    plot_backtest(r, out)
    assert out.stat().st_size > 10_000


def test_backtest_too_short(pv_series) -> None:
    with pytest.raises(ConfigError, match="exceed the series"):
        backtest(pv_series.iloc[:200], "persistence", warmup_s=5 * 86400.0)


def _solcast_present() -> bool:
    from greenhop.traces.vessim_data import is_present

    return is_present("solcast2022_global")


@pytest.mark.skipif(not _solcast_present(), reason="Solcast data not in the cache; run "
                    "'greenhop data fetch solcast2022_global'")
def test_real_solcast_forecasts_beat_persistence_at_one_hour() -> None:
    from greenhop.forecast.data import solcast_site

    site = solcast_site("Berlin")
    assert site.issued.horizons_s.min() == 300.0 and site.issued.horizons_s.max() == 3900.0
    r = backtest(site.series, "replay", horizons_s=[1800.0, 3600.0], issue_every_s=3600.0,
                 model_options={"table": site.issued}, site="Berlin", unit=site.unit)
    assert (r.per_horizon["skill"] > 0).all()


def test_summary_coverage_active_pools_the_active_pairs(pv_series) -> None:
    # it was weighted by all pairs per horizon, not by the active ones
    r = backtest(pv_series, "persistence", horizons_s=[3600.0, 2 * 3600.0, 4 * 3600.0],
                 warmup_s=6 * 86400.0, calibration_window_s=3 * 86400.0, issue_every_s=900.0)
    y = pv_series.to_numpy(dtype=float)
    floor, span = float(y.min()), float(np.ptp(y))
    cal = r.calibrated
    rows = np.flatnonzero(cal.issue_times >= r.eval_start)
    a = cal.actuals(pv_series)[rows]
    lo, hi = cal.values[rows, :, 0], cal.values[rows, :, -1]
    ok = ~np.isnan(a)
    active = ok & ((np.maximum(np.where(ok, a, -np.inf), hi) - floor) > 0.01 * span)
    inside = (a >= lo) & (a <= hi)
    pooled = inside[active].mean()
    n_active = active.sum(axis=0)
    n = ok.sum(axis=0)
    assert not np.array_equal(n_active / n_active.sum(), n / n.sum())  # the weightings differ
    assert r.summary["coverage_active"] == pytest.approx(pooled, rel=1e-12, abs=0)
    np.testing.assert_array_equal(r.per_horizon["n_active"].to_numpy(), n_active)


@pytest.mark.parametrize(("kw", "message"), [
    ({"issue_every_s": 0.0}, r"issue_every_s must be positive"),
    ({"issue_every_s": -900.0}, r"issue_every_s must be positive"),
    ({"issue_every_s": 1000.0}, r"issue_every_s 1000 s is not a whole number of steps"),
    ({"refit_every_s": 0.0}, r"refit_every_s must be positive"),
    ({"warmup_s": -86400.0}, r"warmup_s must be >= 0"),
    ({"calibration_window_s": 0.0}, r"calibration_window_s must be positive"),
    ({"threshold": float("nan")}, r"threshold must be finite"),
])
def test_backtest_refuses_bad_spacing(pv_series, kw, message) -> None:
    args = dict(horizons_s=[3600.0], warmup_s=5 * 86400.0, calibration_window_s=3 * 86400.0,
                issue_every_s=3600.0) | kw
    with pytest.raises(ConfigError, match=rf"^backtest 'series': {message}") as exc:
        backtest(pv_series, "persistence", **args)
    assert "\n" not in str(exc.value)


def test_an_hourly_series_gets_the_default_window_grid_on_its_own_steps(pv_series):
    """The default window horizons (every 30 min to 4 h) were not on an hourly series'
    steps: backtest(hourly, threshold=...) raised 'horizons [1800.0, ...] are not whole
    multiples of the series step' for a grid the caller never gave."""
    hourly = pv_series.resample("1h").mean()
    r = backtest(hourly, "persistence", horizons_s=[3600.0, 7200.0], warmup_s=5 * 86400.0,
                 issue_every_s=3600.0, threshold=float(hourly.max()) * 0.2)
    assert r.windows is not None and r.to_dict()["windows"]["mae_h"] >= 0
