"""Conformal calibration and window forecasts: coverage, ordering, hand-made cases, look-ups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from greenhop.core.errors import ConfigError, TraceError
from greenhop.forecast import (
    FleetWindowForecast,
    ForecastTable,
    WindowForecastTable,
    calibrate,
    forecast_windows,
    issue_forecasts,
    realized_windows,
)
from greenhop.forecast.conformal import order_around_median
from greenhop.forecast.windows import _path_windows


def _noise(n: int = 24 * 40, seed: int = 0) -> pd.Series:
    idx = pd.date_range("2022-01-01", periods=n, freq="h", tz="UTC")
    return pd.Series(np.random.default_rng(seed).normal(100.0, 10.0, n), index=idx)


def test_calibration_brings_coverage_to_the_nominal_level() -> None:
    s = _noise()
    raw = issue_forecasts("persistence", s, horizons_s=[3600.0, 7200.0])
    cal = calibrate(raw, s, window_s=10 * 86400.0, bin_h=24.0)
    a = cal.actuals(s)
    late = cal.issue_times >= s.index[0] + pd.Timedelta(days=12)
    v = cal.values[late]
    inside = (a[late] >= v[..., 0]) & (a[late] <= v[..., -1])
    assert 0.74 <= np.nanmean(inside) <= 0.86
    raw_inside = (a[late] >= raw.values[late][..., 0]) & (a[late] <= raw.values[late][..., -1])
    assert np.nanmean(raw_inside) < 0.05  # a point forecast has no spread before calibration
    np.testing.assert_array_equal(cal.median(), raw.median())  # the median is the model's


def test_calibration_options_are_checked() -> None:
    s = _noise(100)
    raw = issue_forecasts("persistence", s, horizons_s=[3600.0])
    with pytest.raises(ConfigError, match="bin_h"):
        calibrate(raw, s, bin_h=0.0)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (5, 3, 3), elements=st.floats(-1e6, 1e6)))
def test_order_around_median_keeps_the_median_and_orders(v) -> None:
    out = order_around_median(v, (0.1, 0.5, 0.9))
    assert np.all(out[..., 0] <= out[..., 1]) and np.all(out[..., 1] <= out[..., 2])
    np.testing.assert_array_equal(out[..., 1], v[..., 1])


def test_path_windows_by_hand() -> None:
    h = np.array([3600.0, 7200.0, 10800.0])
    now = np.array([10.0, 10.0, 0.0, 0.0, 10.0])
    paths = np.array([[10.0, 0.0, 0.0],    # above now, falls to 0 at 2 h: crosses 5 at 1.5 h
                      [10.0, 10.0, 10.0],  # never ends within 3 h: capped
                      [10.0, 10.0, 0.0],   # next window: starts at 0.5 h, ends at 2.5 h
                      [0.0, 0.0, 0.0],     # no window
                      [5.0, 5.0, 4.0]])    # a tie counts as inside: ends at 2 h
    dur, start = _path_windows(now, paths, h, 5.0)
    np.testing.assert_allclose(dur / 3600, [1.5, 3.0, 2.0, 0.0, 2.0])
    np.testing.assert_allclose(start[:3] / 3600, [0.0, 0.0, 0.5])
    assert np.isinf(start[3])


def test_realized_windows_by_hand() -> None:
    idx = pd.date_range("2022-01-01", periods=10, freq="h", tz="UTC")
    s = pd.Series([5, 5, 5, 0, 0, 5, 5, 0, 0, 0], index=idx, dtype=float)
    r = realized_windows(s, 5.0, 3 * 3600.0)
    # at 00:00 in a window: steps 01, 02 follow above, 03 below -> 2 h left
    assert r["in_window"].iloc[0] and r["remaining_s"].iloc[0] == 7200.0
    # at 03:00 not in a window: next window 05-06, starts in 1 h, lasts 2 h
    assert not r["in_window"].iloc[3]
    assert r["start_in_s"].iloc[3] == 3600.0 and r["remaining_s"].iloc[3] == 7200.0
    assert np.isnan(r["remaining_s"].iloc[-1])  # horizon runs past the data: unknown


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, (6, 4), elements=st.floats(-50, 50)),
       arrays(np.float64, (6,), elements=st.floats(-50, 50)))
def test_window_quantiles_are_ordered(paths, now) -> None:
    idx = pd.date_range("2022-01-01", periods=6, freq="h", tz="UTC")
    base = np.sort(np.stack([paths - 5, paths, paths + 5], axis=2), axis=2)
    t = ForecastTable(idx, np.arange(1, 5) * 3600.0, (0.1, 0.5, 0.9), base)
    s = pd.Series(now, index=idx)
    w = forecast_windows(t, s, 0.0, calibrate=False)
    assert np.all(np.diff(w.remaining_s, axis=1) >= 0)
    assert np.all((w.remaining_s >= 0) & (w.remaining_s <= 4 * 3600.0))


def _wtable(k: int = 6) -> WindowForecastTable:
    idx = pd.date_range("2022-01-01", periods=k, freq="h", tz="UTC")
    rem = np.stack([np.arange(k), np.arange(k) + 1, np.arange(k) + 2], axis=1) * 3600.0
    return WindowForecastTable(idx, (0.1, 0.5, 0.9), rem, np.zeros(k), np.ones(k, bool),
                               24 * 3600.0, 0.0, "w")


def test_aligned_lookups_are_latest_issued_at_or_before() -> None:
    w = _wtable()
    a = w.aligned("2021-12-31 23:30Z", 1800.0, 8)
    assert np.isnan(a.remaining(0, 0.1))  # nothing issued yet
    assert a.remaining(1, 0.1) == 0.0  # 00:00 -> issue 00:00
    assert a.remaining(2, 0.9) == 2 * 3600.0  # 00:30 -> still issue 00:00
    assert a.remaining(3, 0.5) == 2 * 3600.0  # 01:00 -> issue 01:00
    assert w.row_at("2022-01-01 02:59Z") == 2
    with pytest.raises(ConfigError, match="quantiles"):
        w.remaining(0, 0.3)


def test_fleet_stack_and_lookup() -> None:
    fleet = FleetWindowForecast.stack({"a": _wtable(), "b": _wtable()})
    i = fleet.site_index("b")
    assert fleet.remaining(i, 3, 0.1) == 3 * 3600.0
    with pytest.raises(ConfigError, match="unknown site 'c'"):
        fleet.site_index("c")
    with pytest.raises(ConfigError, match="other issue times"):
        FleetWindowForecast.stack({"a": _wtable(), "b": _wtable(5)})


def test_window_table_validation() -> None:
    idx = pd.date_range("2022-01-01", periods=2, freq="h", tz="UTC")
    with pytest.raises(TraceError, match="shape"):
        WindowForecastTable(idx, (0.5,), np.zeros((3, 1)), np.zeros(2), np.zeros(2, bool),
                            3600.0, 0.0)


def test_aligned_with_a_label_lag() -> None:
    a = _wtable().aligned("2022-01-01 00:00Z", 3600.0, 3, known_after_s=3600.0)
    assert np.isnan(a.remaining(0, 0.5))  # the 00:00 value is complete only at 01:00
    assert a.remaining(1, 0.5) == 3600.0 and a.remaining(2, 0.5) == 2 * 3600.0


def test_fleet_pipeline_on_a_grid() -> None:
    from greenhop.forecast.pipeline import fleet_window_forecasts

    a, b = _noise(24 * 12, 1), _noise(24 * 12, 2)
    fleet = fleet_window_forecasts({"a": a, "b": b}, 100.0, a.index[0], 3600.0, len(a),
                                   model="persistence", horizons_s=np.arange(1, 13) * 3600.0,
                                   calibration_window_s=3 * 86400.0)
    assert fleet.remaining_s.shape == (2, len(a), 3)
    k = len(a) - 20
    v = [fleet.remaining(0, k, q) for q in (0.1, 0.5, 0.9)]
    assert v == sorted(v) and 0 <= v[0] <= 12 * 3600.0
    assert np.isnan(fleet.remaining(1, 0, 0.5))  # nothing issued in the first 12 h


def _small_series() -> pd.Series:
    idx = pd.date_range("2022-06-01", periods=48 * 3, freq="30min", tz="UTC")
    return pd.Series(np.abs(np.sin(np.arange(idx.size) / 8.0)) * 500.0, index=idx)


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), "high"])
def test_window_functions_refuse_a_bad_threshold(threshold) -> None:
    # a NaN threshold once made everything "not in a window" silently
    s = _small_series()
    table = issue_forecasts("persistence", s, horizons_s=[1800.0, 3600.0])
    with pytest.raises(ConfigError, match="realized_windows: threshold must be") as exc:
        realized_windows(s, threshold, 3600.0)
    assert "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match="forecast_windows: threshold must be"):
        forecast_windows(table, s, threshold, calibrate=False)


def test_window_functions_refuse_nan_in_the_observed_series() -> None:
    # NaN once counted as "below the threshold" without a word
    s = _small_series()
    table = issue_forecasts("persistence", s, horizons_s=[1800.0, 3600.0])
    bad = s.copy()
    bad.iloc[100] = np.nan
    with pytest.raises(TraceError, match=r"realized_windows: non-finite value .* at 2022-06-03"):
        realized_windows(bad, 300.0, 3600.0)
    with pytest.raises(TraceError, match=r"forecast_windows: non-finite value .* at 2022-06-03"):
        forecast_windows(table, bad, 300.0, calibrate=False)
    # calibrate blamed the forecast ("non-finite value in the forecast issued at ...")
    with pytest.raises(TraceError, match=r"calibrate: non-finite value in the observed series"):
        calibrate(table, bad)
