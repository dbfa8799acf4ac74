"""The user's own CSV/Parquet trace: strict validation, each bad input with its message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenhop.core.errors import TraceError
from greenhop.traces.user_trace import read_trace

GOOD = ["time,power_kw"] + [f"2023-06-01T{h:02d}:00:00Z,{v}"
                            for h, v in zip(range(6), [0, 1.5, 3, 4.5, 6, 7.5], strict=True)]


def write(tmp_path: Path, lines: list[str], name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def replace(row: int, text: str) -> list[str]:
    lines = list(GOOD)
    lines[row] = text
    return lines


def test_a_good_csv_becomes_a_utc_power_series_in_watts(tmp_path) -> None:
    s = read_trace(write(tmp_path, GOOD), "power_kw", "kW")
    assert s.name == "power_w"
    assert str(s.index.tz) == "UTC"
    assert s.iloc[1] == 1500.0
    assert s.attrs["unit"] == "kW" and s.attrs["step_s"] == 3600.0


def test_offsets_are_converted_to_utc_and_end_labels_shifted(tmp_path) -> None:
    lines = ["t,p", "2023-06-01 02:00+02:00,1", "2023-06-01 03:00+02:00,2"]
    s = read_trace(write(tmp_path, lines), "p", "W", label="end")
    assert s.index[0] == pd.Timestamp("2023-05-31 23:00", tz="UTC")


def test_energy_per_interval_becomes_mean_power(tmp_path) -> None:
    lines = ["time,e", "2023-06-01T00:00Z,1", "2023-06-01T00:15Z,2", "2023-06-01T00:30Z,1",
             "2023-06-01T00:45Z,1"]
    s = read_trace(write(tmp_path, lines), "e", "kWh")
    assert s.iloc[0] == pytest.approx(4000.0)  # 1 kWh in 15 min = 4 kW


def test_carbon_intensity_units(tmp_path) -> None:
    s = read_trace(write(tmp_path, GOOD), "power_kw", "lbCO2/MWh")
    assert s.name == "carbon_g_per_kwh"
    assert s.iloc[1] == pytest.approx(1.5 * 0.45359237)


def test_parquet_with_aware_timestamps(tmp_path) -> None:
    df = pd.DataFrame({"ts": pd.date_range("2023-01-01", periods=4, freq="30min", tz="UTC"),
                       "mw": [1.0, 2.0, 3.0, 4.0]})
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    s = read_trace(path, "mw", "MW", time_column="ts")
    assert s.iloc[3] == 4e6


def test_gaps_break_keeps_missing_steps(tmp_path) -> None:
    lines = [ln for i, ln in enumerate(GOOD) if i != 3]
    s = read_trace(write(tmp_path, lines), "power_kw", "kW", gaps="break")
    assert len(s) == 5 and s.attrs["gaps"] == "break"


def test_gaps_interpolate_fills_short_gaps_and_nan(tmp_path) -> None:
    lines = [ln for i, ln in enumerate(GOOD) if i != 3]
    lines[4] = "2023-06-01T04:00:00Z,"
    s = read_trace(write(tmp_path, lines), "power_kw", "kW", gaps="interpolate", max_gap_s=7200)
    assert len(s) == 6
    np.testing.assert_allclose(s.to_numpy(), [0, 1500, 3000, 4500, 6000, 7500])


BAD_CASES = [
    # (file lines or special, kwargs, expected message fragment)
    ("missing-file", {}, "does not exist"),
    ("folder", {}, "is a folder"),
    ("txt", {}, "unknown trace format '.txt'"),
    ("empty", {}, "the file is empty"),
    ("header-only", {}, "no data rows"),
    ("parquet-corrupt", {}, "not a readable Parquet"),
    ("parquet-naive", {}, "no time zone"),
    (GOOD, {"unit": "kWp"}, "unknown unit 'kWp'"),
    (GOOD, {"unit": "horsepower"}, "unknown unit"),
    (GOOD, {"gaps": "fill"}, "unknown gap mode 'fill'"),
    (GOOD, {"label": "middle"}, "label must be"),
    (GOOD, {"column": "power"}, "no column 'power'; columns are 'time', 'power_kw'"),
    # a space after the comma in the header: invisible in the list, so said
    ([GOOD[0].replace(",", ", "), *GOOD[1:]], {"column": "power_kw"},
     "columns are 'time', ' power_kw'; the header has spaces around the name: remove them"),
    # no header at all: its first row was the header
    (GOOD[1:], {"column": "power_kw"}, "the first row looks like data, not a header"),
    (GOOD, {"time_column": "when"}, "no time column 'when'"),
    ([ln.replace(",", ";") for ln in GOOD], {},
     "columns are 'time;power_kw'; the header looks separated by semicolons: save the file "
     "with commas"),
    ([ln.replace(",", "\t") for ln in GOOD], {"time_column": "time"},
     "the header looks separated by tabs"),
    (GOOD, {"column": "time"}, "is the time column"),
    (replace(2, "2023-06-01T01:00:00,1.5"), {}, "row 2 (line 3 of the file) has no time zone"),
    (replace(3, "yesterday+00:00,3"), {}, "cannot parse timestamp 'yesterday+00:00' at row 3"),
    (replace(4, ",4.5"), {}, "missing timestamp in column 'time' at row 4"),
    (replace(3, "2023-06-01T01:00:00Z,3"), {}, "duplicate timestamp 2023-06-01 01:00:00+00:00 "
                                              "at row 3"),
    (replace(3, "2023-06-01T00:30:00Z,3"), {}, "timestamps go backwards at row 3"),
    (replace(4, "2023-06-01T02:30:00Z,3"), {}, "irregular spacing at row 4"),
    (replace(2, "2023-06-01T01:00:00Z,lots"), {}, "value 'lots' in column 'power_kw' at row 2"),
    (replace(2, "2023-06-01T01:00:00Z,inf"), {}, "infinite value"),
    (replace(3, "2023-06-01T02:00:00Z,-3"), {}, "negative value -3 kW in column 'power_kw' at "
                                                "row 3"),
    (replace(5, "2023-06-01T04:00:00Z,"), {}, "missing value (NaN) in column 'power_kw' at row 5"),
    ([ln for i, ln in enumerate(GOOD) if i != 3], {}, "gap of 3600 s after 2023-06-01 "
                                                      "01:00:00+00:00"),
    ([ln for i, ln in enumerate(GOOD) if i not in (2, 3, 4)], {"gaps": "interpolate"},
     "longer than the 3600 s interpolation limit; add the missing rows, pass gaps='break' "
     "(--gaps break) to end windows at gaps, or (from Python) raise max_gap_s"),
    (replace(1, "2023-06-01T00:00:00Z,"), {"gaps": "interpolate"}, "at the start of the trace"),
    (GOOD[:2], {}, "only one row"),
    (GOOD[:3], {}, "spans only 7200 s"),
    (["time,p", "2023-06-01T00:00Z,1,7", "2023-06-01T01:00Z,2"], {},
     "line 2 has more fields (3) than the header (2 columns)"),
    # decimal commas in a file separated by semicolons: the separator named, with the line
    (["time;p", "2023-06-01T00:00Z;1,5", "2023-06-01T01:00Z;2,5"], {},
     "line 2 has more fields (2) than the header (1 columns); every row needs exactly one "
     "value per header column; the header looks separated by semicolons"),
]


@pytest.mark.parametrize(("content", "kwargs", "message"), BAD_CASES,
                         ids=[f"case{i}" for i in range(len(BAD_CASES))])
def test_bad_input_raises_a_trace_error_saying_what_and_where(tmp_path, content, kwargs,
                                                              message) -> None:
    args = {"column": "power_kw", "unit": "kW"}
    if content == "missing-file":
        path = tmp_path / "nope.csv"
    elif content == "folder":
        path = tmp_path
    elif content == "txt":
        path = write(tmp_path, GOOD, "trace.txt")
    elif content == "empty":
        path = write(tmp_path, [], "empty.csv")
        path.write_text("")
    elif content == "header-only":
        path = write(tmp_path, GOOD[:1])
    elif content == "parquet-corrupt":
        path = tmp_path / "bad.parquet"
        path.write_bytes(b"not parquet at all")
    elif content == "parquet-naive":
        path = tmp_path / "naive.parquet"
        pd.DataFrame({"time": pd.date_range("2023-01-01", periods=3, freq="h"),
                      "power_kw": [1.0, 2.0, 3.0]}).to_parquet(path)
    else:
        path = write(tmp_path, content)
        if content[0] == "time,p":
            args["column"] = "p"
    args.update(kwargs)
    column = args.pop("column")
    unit = args.pop("unit")
    with pytest.raises(TraceError) as info:
        read_trace(path, column, unit, min_span_s=3 * 3600.0, **args)
    assert message in str(info.value)
    if not isinstance(content, str) and not {"unit", "gaps", "label"} & set(kwargs):
        assert "trace.csv" in str(info.value)  # where: the file is named


def test_a_zone_written_as_a_word_is_read_as_utc(tmp_path) -> None:
    """`2023-06-01 00:00:00 UTC` (a database export), `... GMT` and a lowercase `z` were
    "cannot parse timestamp", though the naive-time check already took them for zones."""
    path = write(tmp_path, ["time,power_kw", "2023-06-01 00:00:00 UTC,1",
                            "2023-06-01 01:00:00UTC,2", "2023-06-01T02:00:00 GMT,3",
                            "2023-06-01T03:00:00z,4", "2023-06-01T04:00:00Z,5"])
    s = read_trace(path, "power_kw", "kW")
    assert list(s.index) == list(pd.date_range("2023-06-01", periods=5, freq="1h", tz="UTC"))
    assert s.tolist() == [1000.0, 2000.0, 3000.0, 4000.0, 5000.0]



def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path) -> None:
    """A Windows-1252 export said "'utf-8' codec can't decode byte 0xf6 in position 2", a
    position inside one of pandas' chunks, not in the file."""
    lines = ["time,power_kw,note"] + [f"2023-06-01T{h:02d}:00:00Z,1,ok" for h in range(20)]
    lines[15] = lines[15].replace(",ok", ",Bö")
    path = tmp_path / "export.csv"
    path.write_bytes("\n".join(lines).encode("cp1252"))
    with pytest.raises(TraceError) as exc:
        read_trace(path, "power_kw", "kW")
    assert "not UTF-8 text: byte 0xf6 at line 16 (its byte 25)" in str(exc.value)


def test_a_file_whose_sampling_changes_is_refused_not_read_as_gaps(tmp_path) -> None:
    """Hourly rows then minute rows: the hours were read as gaps, and with gaps='break'
    each hourly row kept its power for one minute, two days of three dropped unsaid. A
    single gap, or gaps of one length apart (a night missing each day), stays a gap."""
    hourly = [f"2023-06-01T{h:02d}:00:00Z,1" for h in range(6)]
    minutes = [f"2023-06-01T06:{m:02d}:00Z,1" for m in range(1, 60)]
    path = write(tmp_path, ["time,power_kw", *hourly, *minutes])
    with pytest.raises(TraceError) as exc:
        read_trace(path, "power_kw", "kW", gaps="break")
    assert ("the sampling changes: every 60 s on most rows, but every 3600 s on 5 from row 1 "
            "(line 2 of the file)") in str(exc.value)
    # one missing row between minute rows, twice: gaps, not another step
    rows = [f"2023-06-01T06:{m:02d}:00Z,1" for m in range(60) if m not in (10, 30)]
    s = read_trace(write(tmp_path, ["time,power_kw", *rows], "gaps.csv"), "power_kw", "kW",
                   gaps="break")
    assert len(s) == 58
