"""ForecastTable: validation with clear messages, long-format round trip, slicing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenhop.core.errors import TraceError
from greenhop.forecast.table import ForecastTable


def _table(k=4, h=(3600.0, 7200.0), qs=(0.1, 0.5, 0.9)) -> ForecastTable:
    idx = pd.date_range("2022-01-01", periods=k, freq="h", tz="UTC")
    v = np.arange(k * len(h) * len(qs), dtype=float).reshape(k, len(h), len(qs))
    return ForecastTable(idx, np.array(h), qs, v, name="t")


def _long(issued, valid, values) -> pd.DataFrame:
    return pd.DataFrame({"issued_at": pd.to_datetime(issued, utc=True),
                         "valid_for": pd.to_datetime(valid, utc=True), "value": values})


def test_long_round_trip() -> None:
    t = _table()
    f = t.to_frame()
    back = ForecastTable.from_long(f, value_cols=["q10", "q50", "q90"], quantiles=(0.1, 0.5, 0.9))
    assert back.issue_times.equals(t.issue_times)
    np.testing.assert_allclose(back.values, t.values)
    np.testing.assert_allclose(back.horizons_s, t.horizons_s)


def test_issue_times_running_backwards_in_a_file_is_an_error() -> None:
    f = _long(["2022-01-01 01:00", "2022-01-01 01:00", "2022-01-01 00:00", "2022-01-01 00:00"],
              ["2022-01-01 02:00", "2022-01-01 03:00", "2022-01-01 01:00", "2022-01-01 02:00"],
              [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(TraceError, match=r"issue time runs backwards at line 4.*sort the file"):
        ForecastTable.from_long(f, source="fc.csv")


def test_backwards_issue_times_in_a_table_are_an_error() -> None:
    idx = pd.DatetimeIndex(["2022-01-01 02:00", "2022-01-01 01:00"], tz="UTC")
    with pytest.raises(TraceError, match="runs backwards at position 1"):
        ForecastTable(idx, np.array([3600.0]), (0.5,), np.zeros((2, 1, 1)))


def test_repeated_issue_time_is_an_error() -> None:
    idx = pd.DatetimeIndex(["2022-01-01 01:00", "2022-01-01 01:00"], tz="UTC")
    with pytest.raises(TraceError, match="repeats"):
        ForecastTable(idx, np.array([3600.0]), (0.5,), np.zeros((2, 1, 1)))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"h": ()}, "no horizons"),
    ({"h": (7200.0, 3600.0)}, "strictly increasing"),
    ({"h": (-60.0, 3600.0)}, "positive"),
    ({"qs": (0.5, 0.1)}, "strictly increasing"),
    ({"qs": (0.0, 0.5)}, "strictly between 0 and 1"),
    ({"qs": ()}, "no quantiles"),
])
def test_bad_grids(kwargs, message) -> None:
    h = kwargs.get("h", (3600.0,))
    qs = kwargs.get("qs", (0.5,))
    idx = pd.date_range("2022-01-01", periods=2, freq="h", tz="UTC")
    with pytest.raises(TraceError, match=message):
        ForecastTable(idx, np.array(h), qs, np.zeros((2, max(len(h), 1), max(len(qs), 1))))


def test_naive_times_and_bad_values() -> None:
    idx = pd.date_range("2022-01-01", periods=2, freq="h")
    with pytest.raises(TraceError, match="naive"):
        ForecastTable(idx, np.array([3600.0]), (0.5,), np.zeros((2, 1, 1)))
    idx = idx.tz_localize("UTC")
    with pytest.raises(TraceError, match="shape"):
        ForecastTable(idx, np.array([3600.0]), (0.5,), np.zeros((3, 1, 1)))
    with pytest.raises(TraceError, match="non-finite value in the forecast issued at"):
        ForecastTable(idx, np.array([3600.0]), (0.5,), np.array([[[1.0]], [[np.nan]]]))


def test_file_errors_say_what_and_how() -> None:
    ok = _long(["2022-01-01 00:00"], ["2022-01-01 01:00"], [1.0])
    with pytest.raises(TraceError, match="missing column"):
        ForecastTable.from_long(ok.drop(columns="value"))
    with pytest.raises(TraceError, match="empty"):
        ForecastTable.from_long(ok.iloc[:0])
    naive = ok.assign(issued_at=ok["issued_at"].dt.tz_localize(None))
    with pytest.raises(TraceError, match="naive"):
        ForecastTable.from_long(naive)
    before = _long(["2022-01-01 02:00"], ["2022-01-01 01:00"], [1.0])
    with pytest.raises(TraceError, match=r"line 2 is valid for .* not after its issue time"):
        ForecastTable.from_long(before)
    uneven = _long(["2022-01-01 00:00", "2022-01-01 00:00", "2022-01-01 01:00"],
                   ["2022-01-01 01:00", "2022-01-01 02:00", "2022-01-01 02:00"], [1.0, 2, 3])
    with pytest.raises(TraceError, match="same horizons"):
        ForecastTable.from_long(uneven)


def test_quantiles_are_ordered_and_slicing() -> None:
    idx = pd.date_range("2022-01-01", periods=3, freq="h", tz="UTC")
    v = np.array([[[3.0, 1.0, 2.0]]] * 3)
    t = ForecastTable(idx, np.array([3600.0]), (0.1, 0.5, 0.9), v)
    assert np.all(np.diff(t.values, axis=2) >= 0)
    assert len(t.issued_at_or_before("2022-01-01 01:30Z")) == 2
    assert t.horizon_index(3600.0) == 0
    with pytest.raises(TraceError, match=r"no quantile 0\.3"):
        t.quantile_index(0.3)


def test_actuals_align_on_valid_times() -> None:
    t = _table(k=3, h=(3600.0,), qs=(0.5,))
    s = pd.Series(np.arange(5.0), index=pd.date_range("2022-01-01", periods=5, freq="h", tz="UTC"))
    np.testing.assert_allclose(t.actuals(s)[:, 0], [1.0, 2.0, 3.0])
    short = s.iloc[:3]
    assert np.isnan(t.actuals(short)[2, 0])
