"""The packaged CAISO curtailment: reader, strict validation, gaps, reference window statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop.core.errors import TraceError
from greenhop.traces.caiso import (
    HEADER,
    covered_range,
    missing_hours,
    packaged_path,
    read_caiso_curtailment,
)
from greenhop.traces.windows import find_windows, window_stats

GOOD = [",".join(HEADER),
        "2016-06-30T07:00:00Z,3.0,0.0,3.0",
        "2016-06-30T08:00:00Z,0.0,0.0,0.0",
        "2016-06-30T09:00:00Z,12.0,10.0,2.0",
        "2016-06-30T10:00:00Z,5.0,5.0,0.0"]


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "caiso.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def with_row(row: int, text: str) -> list[str]:
    lines = list(GOOD)
    lines[row] = text
    return lines


def test_the_packaged_copy_is_package_data_with_its_provenance_note() -> None:
    path = packaged_path()
    assert path.is_file() and "greenhop" in path.parts and "/work/shared" not in str(path)
    note = " ".join((path.parent / "README.md").read_text(encoding="utf-8").split())
    for fact in ("ahrensdaniel/caiso-curtailment-scraper", "06e7b526", "ctmtcsv/", "MIT",
                 "Wind and Solar Real-Time Dispatch Curtailment", "566 windows"):
        assert fact in note


def test_the_packaged_series_is_hourly_utc_power_in_watts() -> None:
    df = read_caiso_curtailment()
    assert list(df.columns) == ["total_w", "solar_w", "wind_w"]
    assert isinstance(df.index, pd.DatetimeIndex) and str(df.index.tz) == "UTC"
    assert len(df) == 7246
    # the first row: 3 MWh curtailed in the hour starting 2016-06-30 07:00 UTC = 3 MW mean
    assert df.index[0] == pd.Timestamp("2016-06-30T07:00Z")
    assert df["total_w"].iloc[0] == 3e6 and df["wind_w"].iloc[0] == 3e6
    np.testing.assert_allclose(df["total_w"], df["solar_w"] + df["wind_w"])
    assert (df.to_numpy() >= 0).all()
    assert covered_range() == (pd.Timestamp("2016-06-30T07:00Z"),
                               pd.Timestamp("2017-05-11T07:00Z"))


def test_gaps_are_absent_hours_thirteen_days_and_two_dst_hours() -> None:
    df = read_caiso_curtailment()
    gaps = missing_hours(df)
    assert len(gaps) == 13 * 24 + 2
    pacific_days = set(gaps.tz_convert("America/Los_Angeles").date)
    assert len(pacific_days - {pd.Timestamp("2016-11-06").date()}) == 13
    assert pd.Timestamp("2016-11-06T08:00Z") in gaps and pd.Timestamp("2016-11-06T09:00Z") in gaps
    assert not df.isna().any().any()


def test_window_statistics_match_the_reference() -> None:
    """566 windows, mean 4.41 h, median 2 h with total > 0; a gap ends a window."""
    df = read_caiso_curtailment()
    stats = window_stats(df["total_w"], threshold_w=1.0, min_duration_s=0.0, step_s=3600.0)
    assert stats["count"] == 566
    assert stats["mean_h"] == pytest.approx(4.41, abs=0.005)
    assert stats["median_h"] == 2.0
    assert stats["p90_h"] == 10.0
    assert stats["duty_factor"] == pytest.approx(0.344, abs=0.0005)
    # > 100 MWh and > 500 MWh (strictly above: the next whole MWh is the threshold)
    assert find_windows(df["total_w"], 101e6, 0.0, 3600.0).shape[0] == 257
    w500 = find_windows(df["total_w"], 501e6, 0.0, 3600.0)
    assert len(w500) == 81 and w500["duration_s"].mean() / 3600 == pytest.approx(2.93, abs=0.005)


def test_a_gap_ends_a_window(tmp_path) -> None:
    lines = [GOOD[0], "2016-06-30T07:00:00Z,3,0,3", "2016-06-30T08:00:00Z,4,0,4",
             "2016-06-30T10:00:00Z,5,5,0", "2016-06-30T11:00:00Z,6,6,0"]
    df = read_caiso_curtailment(write(tmp_path, lines))
    assert list(missing_hours(df)) == [pd.Timestamp("2016-06-30T09:00Z")]
    windows = find_windows(df["total_w"], 1.0, 0.0, 3600.0)
    assert list(windows["duration_s"]) == [7200.0, 7200.0]


def test_a_good_file_reads_and_offsets_become_utc(tmp_path) -> None:
    lines = with_row(1, "2016-06-30T00:00:00-07:00,3.0,0.0,3.0")
    df = read_caiso_curtailment(write(tmp_path, lines))
    assert df.index[0] == pd.Timestamp("2016-06-30T07:00Z")
    assert df["solar_w"].iloc[2] == 10e6


@pytest.mark.parametrize(("lines", "match"), [
    (with_row(0, "interval_start_utc,total_mwh,solar_mwh,hydro_mwh"),
     r"line 1: unknown column 'hydro_mwh'"),
    (with_row(0, "interval_start_utc,total_mwh,solar_mwh"), r"line 1: missing column 'wind_mwh'"),
    (with_row(2, "2016-06-30T08:00:00Z,0.0,0.0"), r"row 2 \(line 3\): 3 fields, expected 4"),
    (with_row(2, "2016-06-30T08:00:00,0.0,0.0,0.0"),
     r"row 2 \(line 3\), column interval_start_utc: .* no time zone"),
    (with_row(2, "yesterday Z,0.0,0.0,0.0"),
     r"row 2 \(line 3\), column interval_start_utc: cannot parse"),
    (with_row(3, "2016-06-30T09:30:00Z,12.0,10.0,2.0"),
     r"row 3 \(line 4\), column interval_start_utc: .* not the start of a whole hour"),
    (with_row(3, "2016-06-30T08:00:00Z,12.0,10.0,2.0"),
     r"row 3 \(line 4\), column interval_start_utc: .* duplicates the previous row"),
    (with_row(3, "2016-06-30T06:00:00Z,12.0,10.0,2.0"),
     r"row 3 \(line 4\), column interval_start_utc: .* comes before the previous row"),
    (with_row(3, "2016-06-30T09:00:00Z,12.0,ten,2.0"),
     r"row 3 \(line 4\), column solar_mwh: 'ten' is not a number"),
    (with_row(4, "2016-06-30T10:00:00Z,5.0,5.0,-1"),
     r"row 4 \(line 5\), column wind_mwh: '-1' is not a finite non-negative"),
    (with_row(4, "2016-06-30T10:00:00Z,inf,5.0,0.0"),
     r"row 4 \(line 5\), column total_mwh: 'inf' is not a finite"),
    (with_row(4, "2016-06-30T10:00:00Z,9.0,5.0,0.0"),
     r"row 4 \(line 5\), column total_mwh: 9 MWh is not solar_mwh \+ wind_mwh = 5 MWh"),
    (GOOD[:2], r"1 data rows"),
])
def test_malformed_input_names_file_row_and_column(tmp_path, lines, match) -> None:
    path = write(tmp_path, lines)
    with pytest.raises(TraceError, match=match) as info:
        read_caiso_curtailment(path)
    assert str(path) in str(info.value)


def test_missing_empty_and_folder_paths(tmp_path) -> None:
    with pytest.raises(TraceError, match="does not exist"):
        read_caiso_curtailment(tmp_path / "nope.csv")
    with pytest.raises(TraceError, match="is a folder"):
        read_caiso_curtailment(tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(TraceError, match="the file is empty"):
        read_caiso_curtailment(empty)


def test_callers_cannot_change_the_cached_packaged_series() -> None:
    df = read_caiso_curtailment()
    df.iloc[0, 0] = -1.0
    assert read_caiso_curtailment().iloc[0, 0] == 3e6


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 2000)), min_size=2, max_size=30),
       st.integers(0, 10**5))
def test_any_valid_file_round_trips_to_watts(tmp_path_factory, rows, hour0) -> None:
    """Whatever the values, power = MWh x 1e6 W per hour and total = solar + wind."""
    start = pd.Timestamp("2016-01-01T00:00Z") + pd.Timedelta(hours=hour0)
    lines = [",".join(HEADER)] + [
        f"{(start + pd.Timedelta(hours=i)).strftime('%Y-%m-%dT%H:%M:%SZ')},{s + w},{s},{w}"
        for i, (s, w) in enumerate(rows)]
    path = tmp_path_factory.mktemp("caiso") / "c.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    df = read_caiso_curtailment(path)
    assert len(df) == len(rows) and df.index[0] == start
    np.testing.assert_array_equal(df["solar_w"], [s * 1e6 for s, _ in rows])
    np.testing.assert_array_equal(df["total_w"], df["solar_w"] + df["wind_w"])
