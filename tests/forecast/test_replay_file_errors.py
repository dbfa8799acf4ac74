"""A forecast file with an entry that is not a time or not a number: one error naming the
file, the column and the line, never a parser's traceback."""

from __future__ import annotations

import pytest

from greenhop.core.errors import ConfigError
from greenhop.sim.forecasts import read_forecast_file

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
