"""Grid signals: the Netherlands day-ahead prices from the ev2gym wheel (both date
formats, the overlapping stretch, the missing hours), strict validation of a price file
naming file, row and column, signals on a run's clock, unknown names."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenhop.core.errors import ConfigError, TraceError
from greenhop.traces import grid_signals as gs

HEADER = "Country,Datetime (UTC),Datetime (Local),Price (EUR/MWhe)\n"
needs_ev2gym = pytest.mark.skipif(
    importlib.util.find_spec("ev2gym") is None,
    reason="the ev2gym wheel is not installed (pip install --no-deps ev2gym)")


def write(tmp_path: Path, rows: list[str]) -> Path:
    p = tmp_path / "prices.csv"
    p.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return p


def test_both_date_formats_and_an_agreeing_overlap(tmp_path):
    p = write(tmp_path, [
        "Netherlands,2022-12-31 22:00:00,2022-12-31 23:00:00,10.5",
        "Netherlands,2022-12-31 23:00:00,2023-01-01 00:00:00,-3.61",
        "Netherlands,,,0.0",                                   # the separator row
        "Netherlands,31/12/2022 23:00,01/01/2023 00:00,-3.61",  # repeated, same price
        "Netherlands,01/01/2023 00:00,01/01/2023 01:00,-1.46",
    ])
    s = gs.read_nl_day_ahead(p)
    assert list(s.index) == list(pd.date_range("2022-12-31 22:00", periods=3, freq="h",
                                               tz="UTC"))
    assert s.to_numpy() == pytest.approx([10.5, -3.61, -1.46])


@pytest.mark.parametrize("rows, where", [
    (["Netherlands,2023-01-01 00:00:00,x,1", "Netherlands,2023-01-01 02:00:00,x,2"],
     "row 1 (line 2), column 'Datetime (UTC)': the hour after it, 2023-01-01 01:00"),
    (["Netherlands,2023-01-01 00:00:00,x,1", "Netherlands,01/01/2023 00:00,x,2"],
     "row 2 (line 3), column 'Datetime (UTC)': hour 2023-01-01 00:00 UTC is already given "
     "in row 1"),
    (["Netherlands,2023-01-01 00:00:00,x,1", "Netherlands,2023/01/01 01:00,x,2"],
     "row 2 (line 3), column 'Datetime (UTC)'"),
    (["Netherlands,2023-01-01 00:00:00,x,1", "Netherlands,2023-01-01 01:00:00,x,abc"],
     "row 2 (line 3), column 'Price (EUR/MWhe)'"),
    (["Netherlands,2023-01-01 00:30:00,x,1"], "row 1 (line 2), column 'Datetime (UTC)'"),
    (["Netherlands,2023-01-01 00:00:00,1"], "row 1 (line 2): expected 4 fields"),
])
def test_a_bad_price_file_names_file_row_and_column(tmp_path, rows, where):
    p = write(tmp_path, rows)
    with pytest.raises(TraceError) as exc:
        gs.read_nl_day_ahead(p)
    assert str(exc.value).startswith(str(p)) and where in str(exc.value), str(exc.value)


def test_a_wrong_header_is_refused(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("time,price\n2023-01-01 00:00:00,1\n", encoding="utf-8")
    with pytest.raises(TraceError, match="line 1: expected the header"):
        gs.read_nl_day_ahead(p)


@needs_ev2gym
def test_the_shipped_file_reads_with_its_two_missing_hours():
    s = gs.read_nl_day_ahead(allow_gaps=True)
    assert s.index[0] == pd.Timestamp("2015-01-01 00:00", tz="UTC")
    assert s.index[-1] == pd.Timestamp("2025-01-07 23:00", tz="UTC")
    assert s.index.is_unique and s.index.is_monotonic_increasing
    assert list(gs.nl_missing_hours()) == [pd.Timestamp("2023-12-30 23:00", tz="UTC"),
                                           pd.Timestamp("2024-12-30 23:00", tz="UTC")]
    assert (s < 0).sum() > 1000                       # negative-price hours exist
    with pytest.raises(TraceError, match="2023-12-30 23:00 UTC, is missing"):
        gs.read_nl_day_ahead()
    # on a 15-minute clock each hour's price is held over its four steps
    idx = pd.date_range("2023-06-01 10:00", periods=8, freq="15min", tz="UTC")
    v = gs.on_clock("nl-day-ahead", idx)
    assert v[:4] == pytest.approx([s[idx[0]]] * 4) and v[4:] == pytest.approx([s[idx[4]]] * 4)
    # a run touching a missing hour is refused with the hour named
    with pytest.raises(TraceError, match="2023-12-30 23:00 UTC"):
        gs.on_clock("nl-day-ahead", pd.date_range("2023-12-30 22:00", periods=3, freq="h",
                                                  tz="UTC"))


def test_unknown_or_wrong_kind_signal_names_the_key():
    with pytest.raises(ConfigError, match=r"^grid.zones\[0\].carbon: unknown carbon signal"):
        gs.check_signal("nope", "carbon", "grid.zones[0].carbon")
    with pytest.raises(ConfigError, match="is a price signal, not a carbon signal"):
        gs.check_signal("nl-day-ahead", "carbon", "grid.zones[0].carbon")


def test_a_span_outside_the_signal_says_so():
    idx = pd.date_range("2030-01-01", periods=4, freq="h", tz="UTC")
    with pytest.raises(TraceError, match=r"^grid.zones\[1\].carbon: "):
        gs.on_clock("de-lifecycle", idx, where="grid.zones[1].carbon")
    assert np.isfinite(gs.on_clock("de-lifecycle", idx - pd.Timedelta(days=365 * 7))).all()


def test_cli_exit_2_on_an_unknown_zone_signal(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
    import clikit

    text = clikit.two_site_scenario("g", b_longitude=90.0, b_trace='{ kind = "solar", '
                                    'peak = "4kW" }')
    text += ('\n[grid]\nobjective = "carbon"\n[[grid.zones]]\nname = "z"\n'
             'sites = ["a", "b"]\ncarbon = "mars-average"\n')
    p = tmp_path / "g.toml"
    p.write_text(text, encoding="utf-8")
    code, _out, err = clikit.run(capsys, "simulate", str(p))
    assert code == 2
    assert "grid.zones[0].carbon: unknown carbon signal 'mars-average'" in err
    assert "Traceback" not in err


def test_cli_simulate_shows_co2_and_cost_columns(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
    import clikit

    text = clikit.two_site_scenario("g", b_longitude=90.0, b_trace='{ kind = "solar", '
                                    'peak = "4kW" }')
    text += ('\n[grid]\ncurrency = "USD"\n[[grid.zones]]\nname = "z"\n'
             'sites = ["a", "b"]\ncarbon = 400\nprice = 90\n')
    p = tmp_path / "g.toml"
    p.write_text(text, encoding="utf-8")
    code, out, err = clikit.run(capsys, "simulate", str(p), "--out", str(tmp_path / "o"),
                                "--no-report")
    assert code == 0, err
    assert "CO2 kg" in out and "cost" in out and "price [USD]" in out


def _price_rows(start: str, hours: int, skip: int | None = None) -> list[str]:
    t0 = pd.Timestamp(start)
    return [f"Netherlands,{t0 + pd.Timedelta(hours=h):%Y-%m-%d %H:%M:%S},x,{50 + h % 24}"
            for h in range(hours) if h != skip]


def test_cli_a_price_file_with_a_gap_exits_2_naming_row_and_column(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
    import clikit

    def scenario(rows):
        write(tmp_path, rows)
        text = clikit.two_site_scenario("g", b_longitude=90.0, b_trace='{ kind = "solar", '
                                        'peak = "4kW" }')
        text += ('\n[grid]\nobjective = "cost"\n[[grid.zones]]\nname = "z"\n'
                 'sites = ["a", "b"]\nprice = { file = "prices.csv" }\n')
        p = tmp_path / "g.toml"
        p.write_text(text, encoding="utf-8")
        return p

    # 2023-05-31 .. 2023-06-03 covers history (1 d) and horizon (2 d); hour 30 is missing
    bad = scenario(_price_rows("2023-05-31", 96, skip=30))
    code, _out, err = clikit.run(capsys, "simulate", str(bad), "--out", str(tmp_path / "o"))
    assert code == 2 and "Traceback" not in err
    assert "grid.zones[0].price.file" in err and "row 30 (line 31)" in err
    assert "column 'Datetime (UTC)'" in err and "2023-06-01 06:00 UTC, is missing" in err
    good = scenario(_price_rows("2023-05-31", 96))
    code, out, err = clikit.run(capsys, "simulate", str(good), "--out", str(tmp_path / "o"),
                                "--no-report")
    assert code == 0, err
    assert "cost" in out


def test_the_prices_are_in_the_dataset_catalog():
    from greenhop.traces import catalog

    ds = {d.name: d for d in catalog.datasets()}["nl-day-ahead"]
    assert "ev2gym" in ds.source and "--no-deps ev2gym" in ds.how
    assert catalog.is_present(ds) == (importlib.util.find_spec("ev2gym") is not None)
