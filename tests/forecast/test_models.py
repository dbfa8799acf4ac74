"""The built-in forecasters: exact baselines, the learned model's skill, bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from forecast_synth import LAT, LON

from greenhop.core.errors import ConfigError, TraceError
from greenhop.forecast import FORECASTERS, ForecastTable, create_forecaster, issue_forecasts
from greenhop.forecast.models import clearsky_ghi_w_m2


def _ramp(n: int = 300, step: str = "h") -> pd.Series:
    idx = pd.date_range("2022-01-01", periods=n, freq=step, tz="UTC")
    return pd.Series(np.arange(n, dtype=float), index=idx)


def test_registry_names_and_unknown_model() -> None:
    assert {"persistence", "seasonal-naive", "clear-sky-persistence", "gbm",
            "replay"} <= set(FORECASTERS.names())
    with pytest.raises(ConfigError, match=r"unknown forecaster 'prophet'; valid .*persistence"):
        create_forecaster("prophet")


def test_persistence_and_seasonal_naive_are_exact() -> None:
    s = _ramp()
    p = create_forecaster("persistence").predict(s.iloc[:50], [3600.0, 7200.0], (0.1, 0.5, 0.9))
    assert p.shape == (2, 3) and np.all(p == 49.0)
    sn = create_forecaster("seasonal-naive").predict(s.iloc[:50], [3600.0, 25 * 3600.0], (0.5,))
    # same time yesterday: 49 + 1 - 24 = 26; 49 + 25 - 48 = 26
    np.testing.assert_allclose(sn[:, 0], [26.0, 26.0])


def test_clear_sky_persistence_is_exact_on_a_scaled_clear_sky() -> None:
    idx = pd.date_range("2022-06-01", periods=96 * 3, freq="15min", tz="UTC")
    s = pd.Series(0.8 * clearsky_ghi_w_m2(idx, LAT, LON, 900.0), index=idx)
    m = create_forecaster("clear-sky-persistence", latitude_deg=LAT, longitude_deg=LON)
    t = issue_forecasts(m, s, horizons_s=[3600.0, 3 * 3600.0], quantiles=(0.5,),
                        start=idx[96 + 40], end=idx[96 + 60])
    np.testing.assert_allclose(t.median(), t.actuals(s), rtol=1e-6, atol=1e-6)


def test_clear_sky_persistence_needs_a_location() -> None:
    with pytest.raises(ConfigError, match="needs the site's location"):
        create_forecaster("clear-sky-persistence")


def test_gbm_beats_persistence_at_hours_ahead(pv_series) -> None:
    h = [3600.0, 3 * 3600.0]
    kw = dict(horizons_s=h, start=pv_series.index[96 * 8], issue_every_s=3600.0,
              refit_every_s=4 * 86400.0)
    gbm = issue_forecasts(create_forecaster("gbm", latitude_deg=LAT, longitude_deg=LON,
                                            max_iter=60), pv_series, **kw)
    per = issue_forecasts("persistence", pv_series, **kw)
    a = gbm.actuals(pv_series)
    rmse = lambda t: np.sqrt(np.nanmean((t.median() - a) ** 2, axis=0))  # noqa: E731
    assert np.all(rmse(gbm) < rmse(per))
    assert np.all(np.diff(gbm.values, axis=2) >= 0)


def test_gbm_without_location_uses_the_envelope(pv_series) -> None:
    s = pv_series.iloc[: 96 * 5]
    m = create_forecaster("gbm", max_iter=20)
    m.fit(s)
    p = m.predict(s, [3600.0], (0.1, 0.5, 0.9))
    assert p.shape == (1, 3) and np.all(np.isfinite(p))


def test_empty_history_is_a_clear_error() -> None:
    empty = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float)
    with pytest.raises(TraceError, match="history is empty"):
        create_forecaster("persistence").predict(empty, [3600.0])


def test_horizon_longer_than_the_history_is_a_clear_error() -> None:
    s = _ramp(5)
    with pytest.raises(ConfigError, match=r"horizon 10 h is longer than the history \(4 h\)"):
        create_forecaster("persistence").predict(s, [36000.0])
    with pytest.raises(ConfigError, match="longer than the history"):
        issue_forecasts("persistence", s, horizons_s=[36000.0])


@pytest.mark.parametrize(("series", "message"), [
    (pd.Series([1.0, 2.0], index=pd.date_range("2022-01-01", periods=2, freq="h")), "naive"),
    (pd.Series([1.0, np.nan, 2.0], index=pd.date_range("2022-01-01", periods=3, freq="h",
                                                        tz="UTC")), "non-finite"),
    (pd.Series([1.0, 2.0, 3.0], index=pd.DatetimeIndex(
        ["2022-01-01 00:00", "2022-01-01 01:00", "2022-01-01 03:00"], tz="UTC")), "irregular"),
    ([1.0, 2.0], "pandas Series"),
])
def test_bad_series(series, message) -> None:
    with pytest.raises(TraceError, match=message):
        create_forecaster("persistence").predict(series, [3600.0])


def test_horizon_off_the_step_grid() -> None:
    with pytest.raises(ConfigError, match="whole multiples"):
        create_forecaster("persistence").predict(_ramp(), [1800.0])


def test_gbm_predict_before_fit() -> None:
    with pytest.raises(ConfigError, match="predict before fit"):
        create_forecaster("gbm").predict(_ramp(), [3600.0])


def _issued(s: pd.Series) -> ForecastTable:
    """A fake issued-forecast file: every 2 h, leads 1-3 h, value = truth + 0.5."""
    idx = s.index[::2]
    h = np.array([3600.0, 7200.0, 10800.0])
    vals = np.stack([s.reindex(idx + pd.Timedelta(seconds=x)).to_numpy() + 0.5 for x in h],
                    axis=1)
    vals = np.nan_to_num(vals)
    return ForecastTable(idx, h, (0.5,), vals[:, :, None], name="file")


def test_replay_returns_the_latest_issued_forecast() -> None:
    s = _ramp(48)
    m = create_forecaster("replay", table=_issued(s))
    t = issue_forecasts(m, s, horizons_s=[3600.0], quantiles=(0.1, 0.5, 0.9), start=s.index[4],
                        end=s.index[20])
    np.testing.assert_allclose(t.median()[:, 0], t.actuals(s)[:, 0] + 0.5)
    with pytest.raises(ConfigError, match="cover lead times 60-180 min"):
        issue_forecasts(m, s, horizons_s=[3 * 3600.0], start=s.index[5], end=s.index[7])


def test_replay_before_the_first_issue_and_without_a_table() -> None:
    s = _ramp(48)
    table = _issued(s).take(slice(5, None))
    m = create_forecaster("replay", table=table)
    with pytest.raises(TraceError, match="no forecast issued at or before"):
        m.predict(s.iloc[:5], [3600.0])
    # the rolling driver stays inside the replayed issues
    t = issue_forecasts(m, s, horizons_s=[3600.0], start=s.index[4], end=s.index[14])
    assert t.issue_times[0] == table.issue_times[0]
    with pytest.raises(ConfigError, match="needs the issued forecasts"):
        create_forecaster("replay")


def test_gbm_learns_when_most_targets_tie_at_zero() -> None:
    """Long PV nights: the quantile baseline must not stick at 0 (residual target + jitter)."""
    from forecast_synth import pv_like

    s = pv_like(days=10, step="30min", seed=5)
    s = s.where(s > 0.5 * s.max(), 0.0)  # most values exactly zero
    m = create_forecaster("gbm", max_iter=40)  # no location: persistence offset
    t = issue_forecasts(m, s, horizons_s=[1800.0], start=s.index[48 * 7], issue_every_s=3600.0)
    day = t.actuals(s)[:, 0] > 0
    assert np.mean(t.median()[day, 0] > 0) > 0.5


def test_gbm_bad_offset() -> None:
    with pytest.raises(ConfigError, match="unknown offset"):
        create_forecaster("gbm", offset="mean")


@pytest.mark.parametrize(("name", "opts", "option"), [
    ("gbm", {"max_iter": 0}, "max_iter"),
    ("gbm", {"max_iter": "abc"}, "max_iter"),
    ("gbm", {"max_iter": 2.5}, "max_iter"),
    ("gbm", {"learning_rate": -1.0}, "learning_rate"),
    ("gbm", {"learning_rate": float("nan")}, "learning_rate"),
    ("gbm", {"min_samples_leaf": 0}, "min_samples_leaf"),
    ("gbm", {"max_leaf_nodes": 1}, "max_leaf_nodes"),
    ("gbm", {"train_window_s": -5.0}, "train_window_s"),
    ("gbm", {"train_stride_s": 0.0}, "train_stride_s"),
    ("gbm", {"seed": -1}, "seed"),
    ("gbm", {"min_history_s": -1.0}, "min_history_s"),
    ("gbm", {"horizon_groups_s": 5}, "horizon_groups_s"),
    ("gbm", {"horizon_groups_s": [3600.0, "x"]}, "horizon_groups_s"),
    ("gbm", {"latitude_deg": "north", "longitude_deg": 1.0}, "latitude_deg"),
    ("gbm", {"latitude_deg": 52.0}, "longitude_deg"),
    ("clear-sky-persistence", {"latitude_deg": 200.0, "longitude_deg": LON}, "latitude_deg"),
    ("clear-sky-persistence", {"latitude_deg": "north", "longitude_deg": LON}, "latitude_deg"),
    ("clear-sky-persistence", {"latitude_deg": float("nan"), "longitude_deg": LON},
     "latitude_deg"),
    ("clear-sky-persistence", {"latitude_deg": LAT, "longitude_deg": 400.0}, "longitude_deg"),
    ("clear-sky-persistence", {"latitude_deg": LAT, "longitude_deg": LON,
                               "index_window_s": 0.0}, "index_window_s"),
    ("clear-sky-persistence", {"latitude_deg": LAT, "longitude_deg": LON,
                               "min_clearsky_w_m2": -1.0}, "min_clearsky_w_m2"),
    ("seasonal-naive", {"period_s": "1d"}, "period_s"),
    ("seasonal-naive", {"period_s": float("nan")}, "period_s"),
    ("seasonal-naive", {"period_s": 0.0}, "period_s"),
])
def test_bad_options_are_one_line_config_errors_at_construction(name, opts, option) -> None:
    # these once built fine and crashed at the first fit (sklearn/pvlib/int() tracebacks)
    with pytest.raises(ConfigError) as exc:
        create_forecaster(name, **opts)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(name) and option in msg


def test_create_forecaster_turns_a_value_error_into_a_config_error(monkeypatch) -> None:
    def factory(**kw):
        return int(kw["n"])

    monkeypatch.setattr(FORECASTERS, "get", lambda name: factory)
    with pytest.raises(ConfigError, match=r"^forecaster 'odd': bad option \(invalid literal"):
        create_forecaster("odd", n="x")


@pytest.mark.parametrize("period_s", [120.0, 1000.0, 2700.0, 86400.0 + 900.0])
def test_seasonal_naive_period_must_be_whole_steps(period_s) -> None:
    # shorter than the step: once a false LeakageError downstream (division by a zero
    # period); not whole steps: once silently rounded (1000 s on 30 min became persistence)
    s = _ramp(n=48 * 4, step="30min")
    m = create_forecaster("seasonal-naive", period_s=period_s)
    with pytest.raises(ConfigError, match=rf"period_s={period_s:g} s must be a whole number "
                                          r"\(>= 1\) of steps of the series step 1800 s") as exc:
        issue_forecasts(m, s, horizons_s=[1800.0, 3600.0])
    assert "\n" not in str(exc.value)


def test_seasonal_naive_period_of_whole_steps_still_works() -> None:
    s = _ramp(n=48 * 4, step="30min")
    m = create_forecaster("seasonal-naive", period_s=3 * 3600.0)
    v = m.predict(s.iloc[:100], [1800.0, 4 * 3600.0], (0.5,))[:, 0]
    # 99 + 1 - 6 = 94; 99 + 8 - 12 = 95
    np.testing.assert_allclose(v, [94.0, 95.0])


@pytest.mark.parametrize("step", ["5min", "1h"])
def test_clear_sky_persistence_stays_physical_before_the_first_daylight(step) -> None:
    # the clear-sky index before the first daylit hour was sum(y) / sum(clear-sky), a ratio
    # of near-zero numbers: 1 W/m^2 just before sunrise gave 2.8e11 W/m^2 forecasts
    step_s = pd.Timedelta(step).total_seconds()
    idx = pd.date_range("2022-06-01", periods=int(3 * 86400 / step_s), freq=step, tz="UTC")
    cs = clearsky_ghi_w_m2(idx, LAT, LON, step_s)
    y = cs + np.where((cs == 0) & (np.roll(cs, -1) > 0), 1.0, 0.0)
    s = pd.Series(y, index=idx)
    m = create_forecaster("clear-sky-persistence", latitude_deg=LAT, longitude_deg=LON)
    t = issue_forecasts(m, s, horizons_s=[3600.0, 3 * 3600.0], issue_every_s=step_s)
    assert np.isfinite(t.values).all() and t.values.min() >= 0
    assert t.values.max() <= 1.2 * y.max()
    np.testing.assert_allclose(t.median(), np.nan_to_num(t.actuals(s)), atol=0.2 * y.max())
    # and a single issue just before the sunrise
    p = int(np.flatnonzero(y == 1.0)[0])
    v = m.predict(s.iloc[: p + 1], [3600.0], (0.5,))
    assert 0 <= v[0, 0] <= 1.2 * y.max()


@pytest.mark.parametrize(("kw", "message"), [
    ({"issue_every_s": 0.0}, r"issue_every_s must be positive"),
    ({"issue_every_s": -3600.0}, r"issue_every_s must be positive"),
    ({"issue_every_s": float("nan")}, r"issue_every_s must be positive"),
    ({"issue_every_s": 2700.0}, r"issue_every_s 2700 s is not a whole number of steps .* 1800 s"),
    ({"refit_every_s": 0.0}, r"refit_every_s must be positive"),
    ({"refit_every_s": -1.0}, r"refit_every_s must be positive"),
    ({"min_history_s": -3600.0}, r"min_history_s must be >= 0"),
])
def test_issue_forecasts_refuses_bad_spacing(kw, message) -> None:
    # these were silently accepted: 0 became the step, 2700 s was rounded, ...
    s = _ramp(n=48 * 3, step="30min")
    with pytest.raises(ConfigError, match=rf"^persistence: {message}") as exc:
        issue_forecasts("persistence", s, horizons_s=[1800.0], **kw)
    assert "\n" not in str(exc.value)
