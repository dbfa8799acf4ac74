"""The no-leakage rule: a forecast issued at t does not change when data after t changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from forecast_synth import LAT, LON, pv_like
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenhop.forecast import calibrate, create_forecaster, forecast_windows, issue_forecasts

SERIES = pv_like(days=6, step="30min", seed=3)
H = [1800.0, 3600.0, 3 * 3600.0, 6 * 3600.0]


def _run(name: str, s: pd.Series, **opts):
    kw = dict(horizons_s=H, start=s.index[48 + 6], refit_every_s=86400.0)
    return issue_forecasts(create_forecaster(name, **opts), s, **kw)


def _perturbed(s: pd.Series, cut: int, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    out = s.copy()
    out.iloc[cut + 1:] = rng.uniform(0, 1000, len(s) - cut - 1)
    return out


def _same_up_to(a, b, t) -> None:
    ka = a.issue_times <= t
    assert ka.sum() > 0
    np.testing.assert_array_equal(a.values[ka], b.values[: ka.sum()])


@pytest.mark.parametrize(("name", "opts"), [
    ("persistence", {}),
    ("seasonal-naive", {}),
    ("clear-sky-persistence", {"latitude_deg": LAT, "longitude_deg": LON}),
    ("gbm", {"latitude_deg": LAT, "longitude_deg": LON, "max_iter": 15}),
    ("gbm", {"max_iter": 15}),
])
def test_no_model_reads_the_future(name, opts) -> None:
    cut = 48 * 4 + 5  # mid-block: refits and issues both straddle it
    t = SERIES.index[cut]
    a = _run(name, SERIES, **opts)
    b = _run(name, _perturbed(SERIES, cut, 1), **opts)
    _same_up_to(a, b, t)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=48 + 10, max_value=len(SERIES) - 10),
       seed=st.integers(min_value=0, max_value=10_000))
def test_calibrated_and_window_forecasts_do_not_leak(cut, seed) -> None:
    t = SERIES.index[cut]
    out = []
    for s in (SERIES, _perturbed(SERIES, cut, seed)):
        raw = _run("persistence", s)
        cal = calibrate(raw, s, window_s=2 * 86400.0, recalibrate_every_s=3 * 3600.0,
                        min_pairs=5)
        win = forecast_windows(cal, s, 300.0, window_s=2 * 86400.0,
                               recalibrate_every_s=3 * 3600.0, min_pairs=5)
        out.append((cal, win))
    _same_up_to(out[0][0], out[1][0], t)
    k = int((out[0][1].issue_times <= t).sum())
    np.testing.assert_array_equal(out[0][1].remaining_s[:k], out[1][1].remaining_s[:k])
    np.testing.assert_array_equal(out[0][1].in_window[:k], out[1][1].in_window[:k])
