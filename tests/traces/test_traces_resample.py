"""Energy-conserving resampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from greenhop.core.errors import TraceError
from greenhop.traces.resample import check_utc_index, resample_energy


def _series(values, step="1h", start="2023-01-01") -> pd.Series:
    return pd.Series(np.asarray(values, float),
                     index=pd.date_range(start, periods=len(values), freq=step, tz="UTC"))


@settings(max_examples=150, deadline=None)
@given(values=arrays(np.float64, st.integers(1, 48), elements=st.floats(0, 1e6)),
       target_min=st.sampled_from([1, 5, 10, 15, 20, 30, 60, 120, 180, 360]))
def test_resampling_keeps_the_energy(values, target_min) -> None:
    source = _series(values)
    total_s = len(values) * 3600
    n = total_s // (target_min * 60)
    if n == 0:
        return
    index = pd.date_range("2023-01-01", periods=n, freq=f"{target_min}min", tz="UTC")
    out = resample_energy(source, index)
    covered_s = n * target_min * 60
    full_hours = covered_s / 3600
    expected = np.sum(values[: int(full_hours)]) * 3600
    if full_hours % 1:
        expected += values[int(full_hours)] * (full_hours % 1) * 3600
    assert out.sum() * target_min * 60 == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_upsampling_holds_the_hourly_mean_and_offsets_split_energy() -> None:
    source = _series([60.0, 120.0])
    out = resample_energy(source, pd.date_range("2023-01-01", periods=24, freq="5min",
                                                tz="UTC"))
    assert set(out.iloc[:12]) == {60.0} and set(out.iloc[12:]) == {120.0}
    half = resample_energy(source, pd.date_range("2023-01-01 00:30", periods=1, freq="1h",
                                                 tz="UTC"))
    assert half.iloc[0] == pytest.approx(90.0)


def test_target_over_a_gap_is_nan_and_the_rest_is_kept() -> None:
    idx = pd.DatetimeIndex(["2023-01-01 00:00", "2023-01-01 01:00", "2023-01-01 03:00"],
                           tz="UTC")
    source = pd.Series([1.0, 2.0, 4.0], index=idx)
    out = resample_energy(source, pd.date_range("2023-01-01", periods=4, freq="1h", tz="UTC"),
                          source_step_s=3600)
    assert out.iloc[0] == 1.0 and out.iloc[1] == 2.0 and np.isnan(out.iloc[2])
    assert out.iloc[3] == 4.0


def test_out_of_range_states_the_covered_range() -> None:
    with pytest.raises(TraceError, match=r"covers 2023-01-01 00:00 to 2023-01-01 02:00 UTC"):
        resample_energy(_series([1.0, 2.0]),
                        pd.date_range("2023-01-01 01:00", periods=2, freq="1h", tz="UTC"))


@pytest.mark.parametrize(("index", "message"), [
    (pd.date_range("2023-01-01", periods=3, freq="h"), "naive"),
    (pd.date_range("2023-01-01", periods=3, freq="h", tz="Europe/Berlin"), "tz_convert"),
    (pd.DatetimeIndex([], tz="UTC"), "empty"),
    ([1, 2, 3], "DatetimeIndex"),
])
def test_bad_target_index_is_rejected(index, message) -> None:
    with pytest.raises(TraceError, match=message):
        check_utc_index(index)
