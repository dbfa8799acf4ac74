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


def _perturbed(s: pd.Series, cut: int, seed: int, kind: str = "uniform") -> pd.Series:
    rng = np.random.default_rng(seed)
    out = s.copy()
    if kind == "huge":  # far beyond anything seen: moves any whole-series statistic
        out.iloc[cut + 1:] = 1e7
    else:
        out.iloc[cut + 1:] = rng.uniform(0, 1000, len(s) - cut - 1)
    return out


def _same_up_to(a, b, t) -> None:
    ka = a.issue_times <= t
    assert ka.sum() > 0
    np.testing.assert_array_equal(a.values[ka], b.values[: ka.sum()])


MODELS = [
    ("persistence", {}),
    ("seasonal-naive", {}),
    ("clear-sky-persistence", {"latitude_deg": LAT, "longitude_deg": LON}),
    ("gbm", {"latitude_deg": LAT, "longitude_deg": LON, "max_iter": 15}),
    ("gbm", {"max_iter": 15}),
]
# issues start at position 54 and the model is refitted every 48 steps, so the refit
# blocks are [54..101], [102..149], [150..197], [198..245], ...
FIRST, BLOCK = 48 + 6, 48


@pytest.mark.parametrize("cut", [
    48 * 4 + 5,   # the last issue of a block: the next refit sees the changed data
    48 * 4 + 20,  # mid-block: predict_many gets the block's whole series, past the cut
])
@pytest.mark.parametrize("kind", ["uniform", "huge"])
@pytest.mark.parametrize(("name", "opts"), MODELS)
def test_no_model_reads_the_future(name, opts, cut, kind) -> None:
    t = SERIES.index[cut]
    a = _run(name, SERIES, **opts)
    b = _run(name, _perturbed(SERIES, cut, 1, kind), **opts)
    _same_up_to(a, b, t)


def test_the_mid_block_cut_is_inside_a_block() -> None:
    # guards the parametrisation above: a cut at a block's last issue cannot catch a
    # within-block leak, because no predict_many call for rows <= cut sees later data
    assert (48 * 4 + 20 - FIRST) % BLOCK not in (0, BLOCK - 1)


@pytest.mark.parametrize("cut", [48 * 4 + 20, 48 * 3 + 30])
def test_gbm_envelope_features_do_not_read_the_future(cut) -> None:
    # gbm without a location builds its clear-sky index from an empirical envelope; its
    # "no reference here" floor once scaled with the envelope's maximum over the whole
    # series given to predict_many (to the end of the refit block), so a huge value after
    # the cut moved forecasts issued before it on a small-magnitude series
    idx = pd.date_range("2023-06-01", periods=48 * 6, freq="30min", tz="UTC")
    rng = np.random.default_rng(0)
    tod = (idx.hour + idx.minute / 60).to_numpy()
    base = np.clip(np.sin((tod - 6) / 12 * np.pi), 0, None)
    s = pd.Series(1e-3 * (base * rng.uniform(0.3, 1.0, idx.size) + 0.01), index=idx)
    assert (cut - FIRST) % BLOCK not in (0, BLOCK - 1)
    t = s.index[cut]
    s2 = s.copy()
    s2.iloc[cut + 1:] = 1e7
    kw = dict(horizons_s=[1800.0, 3600.0, 3 * 3600.0], start=s.index[FIRST],
              refit_every_s=86400.0)
    a = issue_forecasts(create_forecaster("gbm", max_iter=10), s, **kw)
    b = issue_forecasts(create_forecaster("gbm", max_iter=10), s2, **kw)
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
