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
