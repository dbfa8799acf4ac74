"""Surplus windows on hand-made series (edges, ties, gaps, thresholds) and their properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from greenhop.core.errors import TraceError
from greenhop.traces.windows import (
    find_windows,
    fleet_complementarity,
    remaining_window_s,
    window_stats,
)

H = 3600.0


def hourly(values, start="2023-01-01") -> pd.Series:
    return pd.Series(np.asarray(values, float),
                     index=pd.date_range(start, periods=len(values), freq="h", tz="UTC"))


def spans(windows: pd.DataFrame) -> list[tuple[int, int]]:
    t0 = pd.Timestamp("2023-01-01", tz="UTC")
    return [(int((s - t0) / pd.Timedelta(hours=1)), int((e - t0) / pd.Timedelta(hours=1)))
            for s, e in zip(windows["start"], windows["end"], strict=True)]


def test_windows_touching_both_edges_are_found() -> None:
    w = find_windows(hourly([9, 9, 0, 0, 9, 9, 9]), 5.0, 0.0)
    assert spans(w) == [(0, 2), (4, 7)]
    assert w["duration_s"].tolist() == [2 * H, 3 * H]
    assert w["energy_j"].tolist() == [18 * H, 27 * H]


def test_a_step_equal_to_the_threshold_is_inside() -> None:
    assert spans(find_windows(hourly([4.999, 5.0, 5.0, 4.999]), 5.0, 0.0)) == [(1, 3)]


def test_the_minimum_duration_drops_short_windows_and_keeps_equal_ones() -> None:
    series = hourly([9, 0, 9, 9, 0, 9, 9, 9])
    assert spans(find_windows(series, 5.0, 2 * H)) == [(2, 4), (5, 8)]
    assert spans(find_windows(series, 5.0, 2 * H + 1)) == [(5, 8)]


def test_a_missing_step_or_nan_ends_a_window() -> None:
    series = hourly([9, 9, 9, 9, 9, 9])
    gapped = series.drop(series.index[2])
    assert spans(find_windows(gapped, 5.0, 0.0, step_s=H)) == [(0, 2), (3, 6)]
    with_nan = hourly([9, 9, np.nan, 9])
    assert spans(find_windows(with_nan, 5.0, 0.0)) == [(0, 2), (3, 4)]


def test_thresholds_change_the_windows() -> None:
    series = hourly([1, 3, 6, 10, 6, 3, 1])
    assert spans(find_windows(series, 2.0, 0.0)) == [(1, 6)]
    assert spans(find_windows(series, 6.0, 0.0)) == [(2, 5)]
    assert spans(find_windows(series, 11.0, 0.0)) == []
    assert spans(find_windows(series, -1.0, 0.0)) == [(0, 7)]


def test_no_window_and_empty_series() -> None:
    assert find_windows(hourly([0, 0, 0]), 5.0, 0.0).empty
    assert list(find_windows(hourly([]), 5.0, 0.0).columns) == [
        "start", "end", "duration_s", "energy_j"]
    stats = window_stats(hourly([0, 0]), 5.0, 0.0)
    assert stats["count"] == 0 and stats["duty_factor"] == 0.0


def test_stats_of_a_hand_made_series() -> None:
    stats = window_stats(hourly([9, 9, 0, 9, 9, 9, 9, 0, 9, 0]), 5.0, H)
    assert stats["count"] == 3
    assert stats["mean_h"] == pytest.approx(7 / 3)
    assert stats["median_h"] == 2.0
    assert stats["duty_factor"] == pytest.approx(0.7)
    assert stats["energy_kwh"] == pytest.approx(63 * H / 3.6e6)
    assert stats["p10_h"] <= stats["median_h"] <= stats["p90_h"]


@pytest.mark.parametrize(("threshold", "min_s", "message"), [
    (np.nan, 0.0, "threshold"), (5.0, -1.0, "minimum duration"), (5.0, np.inf, "minimum"),
])
def test_bad_arguments_are_rejected(threshold, min_s, message) -> None:
    with pytest.raises(TraceError, match=message):
        find_windows(hourly([1, 2]), threshold, min_s)


@settings(max_examples=200, deadline=None)
@given(values=arrays(np.float64, st.integers(1, 80),
                     elements=st.one_of(st.floats(-10, 10), st.just(np.nan))),
       threshold=st.sampled_from([-1.0, 0.0, 1.0, 5.0]),
       min_steps=st.integers(0, 5))
def test_window_properties(values, threshold, min_steps) -> None:
    series = hourly(values)
    windows = find_windows(series, threshold, min_steps * H)
    starts = windows["start"].tolist()
    ends = windows["end"].tolist()
    for s, e in zip(starts, ends, strict=True):
        inside = series[(series.index >= s) & (series.index < e)]
        assert (inside >= threshold).all()  # every step inside meets the threshold
        assert (e - s).total_seconds() >= min_steps * H  # none shorter than the minimum
    for e, s in zip(ends[:-1], starts[1:], strict=True):
        assert e < s  # never overlap, never touch (maximal)
    mask = np.nan_to_num(values, nan=-np.inf) >= threshold
    covered = windows["duration_s"].sum() / H
    assert covered <= mask.sum()


@settings(max_examples=200, deadline=None)
@given(values=arrays(np.float64, st.integers(1, 80), elements=st.floats(-10, 10)),
       threshold=st.sampled_from([0.0, 2.0]), min_steps=st.integers(0, 4))
def test_remaining_window_matches_a_brute_force_count(values, threshold, min_steps) -> None:
    dt = 300.0
    got = remaining_window_s(values, threshold, dt, min_steps * dt)
    n = len(values)
    expected = np.zeros(n)
    i = 0
    while i < n:
        if values[i] >= threshold:
            j = i
            while j < n and values[j] >= threshold:
                j += 1
            if (j - i) >= min_steps:
                expected[i:j] = (j - np.arange(i, j)) * dt
            i = j
        else:
            i += 1
    np.testing.assert_array_equal(got, expected)


def test_remaining_window_is_vectorised_over_sites_and_fast() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(3, 105_120))
    out = remaining_window_s(values, [0.0, 0.5, 1.0], 300.0)
    assert out.shape == values.shape
    assert np.all(out[values < np.array([[0.0], [0.5], [1.0]])] == 0)
    assert remaining_window_s(np.array([1.0, 1.0, 0.0, 1.0]), 0.5, 60.0).tolist() == [
        120.0, 60.0, 0.0, 60.0]


def test_fleet_complementarity_counts_sites_in_windows() -> None:
    table = pd.DataFrame({"a": [9, 9, 0, 0], "b": [0, 9, 9, 0]},
                         index=pd.date_range("2023-01-01", periods=4, freq="h", tz="UTC"))
    comp = fleet_complementarity(table, 5.0, 0.0)
    assert comp["any_share"] == 0.75
    assert comp["all_share"] == 0.25
    assert comp["mean_sites"] == 1.0
    assert comp["duty_factor"] == {"a": 0.5, "b": 0.5}
    with pytest.raises(TraceError, match="empty"):
        fleet_complementarity(table.iloc[:, :0], 5.0, 0.0)
