"""User traces: a value that overflows once converted to SI, text that is no time at all,
and two columns of the name asked for, each a TraceError saying what and where."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenhop.core.errors import TraceError
from greenhop.traces.user_trace import read_trace

TIMES = [t.isoformat() for t in pd.date_range("2023-06-01", periods=24, freq="h", tz="UTC")]


def _csv(tmp_path, text: str):
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize("unit", ["kW", "GW", "MWh"])
def test_a_value_that_overflows_in_si_names_its_row(tmp_path, unit) -> None:
    rows = [f"{t},{1e308 if i == 5 else 1.0}" for i, t in enumerate(TIMES)]
    path = _csv(tmp_path, "time,surplus\n" + "\n".join(rows) + "\n")
    with pytest.raises(TraceError, match=r"value 1e\+308 .* at row 6 \(line 7 .*too large"):
        read_trace(path, "surplus", unit)


def test_the_largest_plausible_power_is_kept_and_one_above_it_refused(tmp_path) -> None:
    """1 TW is kept; above it a value is refused, naming its row: finite but huge values
    (1e305 W) used to pass and give infinite window energies (`Infinity` in --json)."""
    rows = [f"{t},{1e9 if i == 5 else 1.0}" for i, t in enumerate(TIMES)]
    series = read_trace(_csv(tmp_path, "time,surplus\n" + "\n".join(rows) + "\n"),
                        "surplus", "kW")
    assert series.iloc[5] == pytest.approx(1e12) and np.isfinite(series).all()
    rows = [f"{t},{1e305 if 5 <= i < 15 else 0.0}" for i, t in enumerate(TIMES)]
    path = _csv(tmp_path, "time,surplus\n" + "\n".join(rows) + "\n")
    with pytest.raises(TraceError, match=r"value 1e\+305 W .* at row 6 .*more than 1 TW"):
        read_trace(path, "surplus", "W")


def test_text_that_is_no_time_is_reported_as_unparseable(tmp_path) -> None:
    times = list(TIMES)
    times[5] = "notatime"
    path = _csv(tmp_path, "time,surplus\n" + "\n".join(f"{t},1" for t in times) + "\n")
    with pytest.raises(TraceError, match=r"cannot parse timestamp 'notatime' at row 6") as info:
        read_trace(path, "surplus", "kW")
    assert "naive" not in str(info.value)


def test_a_time_without_an_offset_is_still_naive(tmp_path) -> None:
    times = list(TIMES)
    times[5] = "2023-06-01 05:00"
    path = _csv(tmp_path, "time,surplus\n" + "\n".join(f"{t},1" for t in times) + "\n")
    with pytest.raises(TraceError, match=r"'2023-06-01 05:00' at row 6 .*naive"):
        read_trace(path, "surplus", "kW")


@pytest.mark.parametrize(("header", "column", "named"), [
    ("time,surplus,surplus", "surplus", "surplus"),
    ("time,surplus,time", "surplus", "time"),
])
def test_two_columns_of_the_name_asked_for_are_refused(tmp_path, header, column,
                                                       named) -> None:
    path = _csv(tmp_path, header + "\n" + "\n".join(f"{t},1,{t}" for t in TIMES) + "\n")
    with pytest.raises(TraceError, match=rf"2 columns are named '{named}'"):
        read_trace(path, column, "kW")


def test_a_repeated_column_that_is_not_read_is_fine(tmp_path) -> None:
    path = _csv(tmp_path, "time,surplus,note,note\n"
                + "\n".join(f"{t},2,a,b" for t in TIMES) + "\n")
    assert read_trace(path, "surplus", "kW").iloc[0] == 2000.0
