"""A forecast file with an entry that is not a time or not a number, or a missing issue: one
error naming the file and where, never a parser's traceback; a file that stops before the
run ends is noted."""

from __future__ import annotations

import pandas as pd
import pytest

from greenhop.core.errors import ConfigError
from greenhop.fleet.forecasts import ForecastSpec
from greenhop.sim.forecasts import read_forecast_file, stale_replay_notes

HEADER = "issued_at,valid_for,value\n"


def _rows(n_issues: int = 3) -> list[str]:
    rows = []
    for i in range(n_issues):
        issued = f"2023-06-01T{i:02d}:00:00Z"
        for lead in (1, 2):
            rows.append(f"{issued},2023-06-01T{i + lead:02d}:00:00Z,{1000.0 * (i + lead)}")
    return rows


def _file(tmp_path, rows):
    path = tmp_path / "b.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_well_formed_file_is_read(tmp_path):
    table = read_forecast_file(_file(tmp_path, _rows()), "forecast.files.b")
    assert len(table.issue_times) == 3


@pytest.mark.parametrize(("row", "column", "text", "what"), [
    (3, 0, "garbage", "column 'issued_at' is not a time at line 5 ('garbage')"),
    (1, 1, "tomorrow", "column 'valid_for' is not a time at line 3 ('tomorrow')"),
    (4, 2, "abc", "column 'value' holds a value that is not a number at line 6 ('abc')"),
])
def test_an_entry_of_the_wrong_kind_names_its_file_column_and_line(tmp_path, row, column,
                                                                    text, what):
    rows = _rows()
    cells = rows[row].split(",")
    cells[column] = text
    rows[row] = ",".join(cells)
    path = _file(tmp_path, rows)
    with pytest.raises(ConfigError) as exc:
        read_forecast_file(path, "forecast.files.b")
    assert str(exc.value).startswith(f"forecast.files.b: {path}: ")
    assert what in str(exc.value)


def test_a_missing_issue_names_the_file_and_the_first_missing_time(tmp_path):
    rows = _rows(4)
    del rows[4:6]  # the issue of 02:00
    path = _file(tmp_path, rows)
    with pytest.raises(ConfigError) as exc:
        read_forecast_file(path, "forecast.files.b")
    assert str(exc.value).startswith(f"forecast.files.b: {path}: no forecast issued at "
                                      "2023-06-01 02:00 UTC (the file issues every 60 min")


def test_a_file_that_stops_before_the_run_ends_is_noted_with_its_key(tmp_path):
    table = read_forecast_file(_file(tmp_path, _rows(3)), "forecast.files.b")  # 00:00-02:00
    spec = ForecastSpec(model="replay", issue_every_s=3600.0, files={"b": table})
    (note,) = stale_replay_notes(spec, pd.Timestamp("2023-06-01T20:00Z"))
    assert note.startswith("forecast.files.b: the issued forecasts end at 2023-06-01 02:00 "
                           "UTC, 18 h before the run's last step")
    assert stale_replay_notes(spec, pd.Timestamp("2023-06-01T02:45Z")) == []


def test_the_scenario_warns_of_a_replay_file_that_stops_before_its_last_step(tmp_path):
    from greenhop.sim.scenario import parse_scenario
    from greenhop.sim.scenario_warnings import scenario_warnings

    (tmp_path / "a.csv").write_text(HEADER + "\n".join(_rows(6)) + "\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text(HEADER + "\n".join(_rows(3)) + "\n", encoding="utf-8")
    doc = {"name": "r", "start": "2023-06-01T00:00:00Z", "horizon": "6h", "step": "1h",
           "history": "2h", "policies": ["static"], "jobs": [],
           "sites": [{"name": n, "latitude": 0.0, "longitude": 0.0, "gpu_slots": 2,
                      "trace": {"kind": "constant", "power": "5kW"}} for n in "ab"],
           "links": [{"a": "a", "b": "b", "bandwidth": "1Gbps"}],
           "forecast": {"model": "replay", "issue_every": "1h", "horizon": "2h",
                        "files": {"a": "a.csv", "b": "b.csv"}}}
    (note,) = scenario_warnings(parse_scenario(doc, base_dir=tmp_path))
    assert note.startswith("forecast.files.b: the issued forecasts end at 2023-06-01 02:00 "
                           "UTC, 3 h before the run's last step (2023-06-01 05:00 UTC)")
