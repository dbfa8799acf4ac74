"""Trace files a probe found read wrongly: NaN text, blank lines, a guessed time column,
and fleet site names."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenhop.core.errors import ConfigError, TraceError
from greenhop.traces.caiso import HEADER, read_caiso_curtailment
from greenhop.traces.fleet import load_fleet
from greenhop.traces.user_trace import read_trace


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- 6. NaN text is a missing value


@pytest.mark.parametrize("missing", ["NaN", "nan", "NA", "NULL", ""])
def test_nan_text_is_a_missing_value_that_interpolate_fills(tmp_path, missing):
    path = write(tmp_path, "time,v\n2023-06-01T00:00Z,10.0\n"
                           f"2023-06-01T01:00Z,{missing}\n2023-06-01T02:00Z,20.0\n")
    series = read_trace(path, "v", "kW", gaps="interpolate")
    assert series.tolist() == [10e3, 15e3, 20e3]
    with pytest.raises(TraceError, match=r"missing value \(NaN\) in column 'v' at row 2 "):
        read_trace(path, "v", "kW")


# -- 7. the line of the file, blank lines included


def test_a_csv_error_names_the_line_of_the_file_below_blank_lines(tmp_path):
    path = write(tmp_path, "time,v\n2023-06-01T00:00Z,1\n\n  \n2023-06-01T01:00Z,1\n"
                           "2023-06-01T02:00Z,-1x\n")
    with pytest.raises(TraceError, match=r"'-1x' in column 'v' at row 3 \(line 6 of the file\)"):
        read_trace(path, "v", "kW")


def test_a_quoted_value_over_two_lines_counts_both(tmp_path):
    path = write(tmp_path, 'time,v,note\n2023-06-01T00:00Z,1,"a\nb"\n2023-06-01T01:00Z,x,c\n')
    with pytest.raises(TraceError, match=r"at row 2 \(line 4 of the file\)"):
        read_trace(path, "v", "kW")


def test_a_caiso_error_names_the_line_of_the_file_below_blank_lines(tmp_path):
    path = write(tmp_path, "\n".join([",".join(HEADER), "2016-06-30T07:00:00Z,3.0,0.0,3.0", "",
                                      "", "2016-06-30T08:00:00Z,x,0.0,0.0"]) + "\n", "caiso.csv")
    with pytest.raises(TraceError, match=r"row 2 \(line 5\), column total_mwh: 'x'"):
        read_caiso_curtailment(path)


# -- 9. a guessed time column is named


def test_a_timestamp_error_in_a_guessed_time_column_names_it_and_the_option(tmp_path):
    path = write(tmp_path, "id,Time,kw\n1,2023-06-01T00:00Z,1\n2,2023-06-01T01:00Z,1\n")
    with pytest.raises(TraceError) as info:
        read_trace(path, "kw", "kW")
    message = str(info.value)
    assert "cannot parse timestamp '1' at row 1 (line 2 of the file) in column 'id'" in message
    assert "--time-column" in message
    assert len(read_trace(path, "kw", "kW", time_column="Time")) == 2


# -- 10. fleet site names follow the scenario rule


@pytest.mark.parametrize("name", ["../s 1", ".hidden", "a/b"])
def test_a_fleet_site_name_that_is_no_safe_name_is_refused(tmp_path, name):
    path = write(tmp_path, f"""[fleet]
name = "mine"
[[site]]
name = "{name}"
latitude_deg = 40.0
longitude_deg = -3.0
timezone = "Europe/Madrid"
pv = "100kW"
pv_source = "clearsky:greensboro"
""", "fleet.toml")
    with pytest.raises(ConfigError) as info:
        load_fleet(path)
    message = str(info.value)
    assert str(path) in message and "site[0].name" in message
    assert f"invalid site name {name!r}" in message
