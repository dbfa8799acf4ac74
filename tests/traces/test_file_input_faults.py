"""Input files a probe found crashing or misread: forecast files across a DST change, price,
scenario and fleet files with a byte-order mark or absurd numbers, unreadable files, user
traces with two-digit offsets or non-numeric Parquet columns. Each is now read, or refused
in one line naming the file and the place (exit code 2), never a traceback."""

from __future__ import annotations

import datetime as dt
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenhop.core.errors import ConfigError, TraceError, UserError
from greenhop.sim.forecasts import read_forecast_file
from greenhop.sim.scenario import load_scenario, scenario_document
from greenhop.traces.fleet import default_fleet_path, load_fleet
from greenhop.traces.grid_signals import read_nl_day_ahead
from greenhop.traces.user_trace import read_trace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
import clikit  # tests/cli is not a package: found through sys.path

BIG = "1" + "0" * 400  # an integer TOML reads but no float holds
PRICE_HEADER = "Country,Datetime (UTC),Datetime (Local),Price (EUR/MWhe)\n"


def _scenario(tmp_path: Path, extra: str = "", *, peak: str = '"4kW"') -> Path:
    text = clikit.two_site_scenario("probe", b_longitude=90.0,
                                    b_trace=f'{{ kind = "solar", peak = {peak} }}')
    p = tmp_path / "probe.toml"
    p.write_text(text + "\n" + extra, encoding="utf-8")
    return p


def _price_rows(start: str, hours: int) -> list[str]:
    t0 = pd.Timestamp(start)
    return [f"Netherlands,{t0 + pd.Timedelta(hours=h):%Y-%m-%d %H:%M:%S},x,{50 + h % 24}"
            for h in range(hours)]


def _write_prices(tmp_path: Path, rows: list[str], *, bom: bool = False) -> Path:
    p = tmp_path / "p.csv"
    p.write_text(("\ufeff" if bom else "") + PRICE_HEADER + "".join(r + "\n" for r in rows),
                 encoding="utf-8")
    return p


# ------------------------------------------------------------- 1. forecast files, offsets

def _forecast_csv(tmp_path: Path, name: str, second_half) -> Path:
    """96 issues every 15 min, 8 leads each; the second half's times written in
    ``second_half`` (a tzinfo), as a local-time file crossing a DST change is."""
    rows = ["issued_at,valid_for,value"]
    t0 = dt.datetime(2023, 6, 4, tzinfo=dt.UTC)
    for i in range(96):
        tz = second_half if i >= 48 else dt.UTC
        iss = (t0 + dt.timedelta(minutes=15 * i)).astimezone(tz)
        rows += [f"{iss.isoformat()},{(iss + dt.timedelta(minutes=15 * h)).isoformat()},"
                 f"{1000 * i + h}" for h in range(1, 9)]
    p = tmp_path / name
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return p


def test_forecast_file_whose_offset_changes_midway_is_read_as_utc(tmp_path) -> None:
    utc = read_forecast_file(_forecast_csv(tmp_path, "u.csv", dt.UTC), "forecast.files.a")
    cest = dt.timezone(dt.timedelta(hours=2))
    mixed = read_forecast_file(_forecast_csv(tmp_path, "m.csv", cest), "forecast.files.a")
    assert str(mixed.issue_times.tz) == "UTC"
    assert mixed.issue_times.equals(utc.issue_times)
    np.testing.assert_array_equal(mixed.values, utc.values)


def test_forecast_file_with_a_row_without_offset_names_file_line_and_column(tmp_path) -> None:
    p = _forecast_csv(tmp_path, "fb.csv", dt.timezone(dt.timedelta(hours=2)))
    lines = p.read_text().splitlines()
    lines[5] = lines[5].replace("+00:00", "", 1)  # line 6: issued_at without an offset
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"^forecast.files.a: .*fb.csv: column 'issued_at' "
                                          r"at line 6 \('2023-06-04T00:00:00'\) has no time "
                                          r"zone"):
        read_forecast_file(p, "forecast.files.a")


# ------------------------------------------------------------------ 2. price files

def test_price_file_with_a_utf8_bom_is_read(tmp_path) -> None:
    rows = _price_rows("2023-06-01", 4)
    prices = read_nl_day_ahead(_write_prices(tmp_path, rows, bom=True))
    assert prices.tolist() == [50.0, 51.0, 52.0, 53.0]


@pytest.mark.parametrize("price", ["1e300", "1e308", "-2e9"])
def test_price_beyond_the_ceiling_names_file_row_and_line(tmp_path, price) -> None:
    rows = _price_rows("2023-06-01", 4)
    rows[2] = rows[2].rsplit(",", 1)[0] + "," + price
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning leaks either
        with pytest.raises(TraceError, match=r"p.csv: row 3 \(line 4\), column 'Price "
                                             r"\(EUR/MWhe\)': must be between -1e\+09 and "
                                             rf"1e\+09 per MWh, got '{price}'"):
            read_nl_day_ahead(_write_prices(tmp_path, rows))


def test_cli_price_beyond_the_ceiling_in_a_scenario_is_one_line(tmp_path, capsys) -> None:
    rows = _price_rows("2023-05-31", 96)
    rows[10] = rows[10].rsplit(",", 1)[0] + ",1e308"
    _write_prices(tmp_path, rows)
    p = _scenario(tmp_path, '[grid]\nobjective = "cost"\n[[grid.zones]]\nname = "z"\n'
                            'sites = ["a", "b"]\nprice = { file = "p.csv" }\n')
    code, _, err = clikit.run(capsys, "simulate", str(p), "--out", str(tmp_path / "o"))
    clikit.one_line_error(code, err, "grid.zones[0].price.file", "p.csv: row 11 (line 12)")


# ------------------------------------------------------ 3. scenario and fleet files, BOM

def test_scenario_and_fleet_files_with_a_utf8_bom_are_read(tmp_path) -> None:
    fleet = tmp_path / "myfleet.toml"
    fleet.write_text("\ufeff" + default_fleet_path().read_text(encoding="utf-8"),
                     encoding="utf-8")
    assert load_fleet(fleet).names == load_fleet().names
    p = _scenario(tmp_path)
    plain, _, _ = scenario_document(p)
    p.write_text("\ufeff" + p.read_text(encoding="utf-8"), encoding="utf-8")
    assert scenario_document(p)[0] == plain


# ------------------------------------------------------------ 4. user traces

def test_user_trace_with_two_digit_and_four_digit_offsets_is_aware(tmp_path) -> None:
    def trace(offset: str) -> pd.Series:
        lines = ["time,p"] + [f"2023-06-01T{h:02d}:00{offset},{h}" for h in range(6)]
        p = tmp_path / f"t{len(offset)}.csv"
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return read_trace(p, "p", "W")

    full = trace("+05:00")
    pd.testing.assert_series_equal(trace("+05"), full, check_names=False)
    pd.testing.assert_series_equal(trace("+0500"), full, check_names=False)
    assert full.index[0] == pd.Timestamp("2023-05-31T19:00Z")


def test_user_trace_date_without_time_is_still_naive(tmp_path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("time,p\n2023-06-01,1\n2023-06-02,2\n", encoding="utf-8")
    with pytest.raises(TraceError, match=r"d.csv: timestamp '2023-06-01' at row 1 .*\(naive\)"):
        read_trace(p, "p", "W", min_span_s=0)


@pytest.mark.parametrize("values", [
    [True, False, True, False],
    pd.to_timedelta([1, 2, 3, 4], unit="s"),
    pd.date_range("2023-01-01", periods=4, freq="h", tz="UTC"),
    ["1", "2", "3", "4"],
], ids=["bool", "timedelta", "datetime", "strings"])
def test_parquet_trace_with_a_non_numeric_column_names_file_and_column(tmp_path,
                                                                       values) -> None:
    pytest.importorskip("pyarrow")
    p = tmp_path / "t.parquet"
    pd.DataFrame({"time": pd.date_range("2023-06-01", periods=4, freq="h", tz="UTC"),
                  "p": values}).to_parquet(p)
    with pytest.raises(TraceError, match=r"t.parquet: column 'p' holds .* values, not "
                                         r"numbers"):
        read_trace(p, "p", "W")


# ------------------------------------------------------- 5. integers past any float

@pytest.mark.parametrize(("where", "message"), [
    ("latitude", "sites[0].latitude: the number 1000"),
    ("peak", "sites[1].trace.peak: the number 1000"),
    ("price", "grid.zones[0].price: expected a finite number"),
    ("price list", "grid.zones[0].price: expected a price signal name"),
])
def test_cli_a_huge_integer_in_a_scenario_names_its_key(tmp_path, capsys, where,
                                                          message) -> None:
    if where == "peak":
        p = _scenario(tmp_path, peak=BIG)
    elif where.startswith("price"):
        price = BIG if where == "price" else f"[1.0, {BIG}]"
        p = _scenario(tmp_path, '[grid]\nobjective = "cost"\n[[grid.zones]]\nname = "z"\n'
                                f'sites = ["a", "b"]\nprice = {price}\n')
    else:
        p = _scenario(tmp_path)
        p.write_text(p.read_text().replace("latitude = 0.0", f"latitude = {BIG}", 1))
    code, _, err = clikit.run(capsys, "simulate", str(p), "--out", str(tmp_path / "o"))
    line = clikit.one_line_error(code, err, "probe.toml", message)
    assert len(line) < 300


def test_a_constant_price_beyond_the_ceiling_names_its_key(tmp_path) -> None:
    p = _scenario(tmp_path, '[grid]\nobjective = "cost"\n[[grid.zones]]\nname = "z"\n'
                            'sites = ["a", "b"]\nprice = 1e300\n')
    with pytest.raises(ConfigError, match=r"grid.zones\[0\].price: a price is from -1e\+09"):
        load_scenario(p)


def test_cli_a_huge_integer_in_a_fleet_file_names_its_key(tmp_path, capsys) -> None:
    fleet = tmp_path / "myfleet.toml"
    text = default_fleet_path().read_text(encoding="utf-8")
    head, sep, tail = text.partition("latitude_deg = ")
    fleet.write_text(head + sep + BIG + "\n" + tail.split("\n", 1)[1], encoding="utf-8")
    code, _, err = clikit.run(capsys, "sites", "--fleet", str(fleet))
    clikit.one_line_error(code, err, "myfleet.toml", "site[0]", ".latitude_deg: the number",
                          "too large")


def test_a_scenario_integer_of_over_4300_digits_is_not_valid_toml(tmp_path) -> None:
    p = _scenario(tmp_path)
    p.write_text(p.read_text().replace("latitude = 0.0", "latitude = 1" + "0" * 5000, 1))
    with pytest.raises(ConfigError, match=r"probe.toml: not valid TOML: Exceeds the limit"):
        scenario_document(p)


# -------------------------------------------------------------- 6. unreadable files

def _deny(monkeypatch, name: str) -> None:
    """Reading the file called ``name`` fails as with chmod 000 (which root ignores)."""
    real_open = Path.open

    def fake_open(self, *args, **kwargs):
        if self.name == name:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", fake_open)  # Path.read_text opens through it


def test_cli_an_unreadable_fleet_file_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    fleet = tmp_path / "myfleet.toml"
    fleet.write_text(default_fleet_path().read_text(encoding="utf-8"), encoding="utf-8")
    p = _scenario(tmp_path, '[fleet]\npath = "myfleet.toml"\n')
    _deny(monkeypatch, "myfleet.toml")
    code, _, err = clikit.run(capsys, "simulate", str(p), "--out", str(tmp_path / "o"))
    clikit.one_line_error(code, err, "fleet.path: ", "myfleet.toml: cannot read the fleet file",
                          "(Permission denied)")


def test_cli_an_unreadable_price_file_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    _write_prices(tmp_path, _price_rows("2023-05-31", 96))
    p = _scenario(tmp_path, '[grid]\nobjective = "cost"\n[[grid.zones]]\nname = "z"\n'
                            'sites = ["a", "b"]\nprice = { file = "p.csv" }\n')
    _deny(monkeypatch, "p.csv")
    code, _, err = clikit.run(capsys, "simulate", str(p), "--out", str(tmp_path / "o"))
    clikit.one_line_error(code, err, "grid.zones[0].price.file: cannot read", "p.csv",
                          "(Permission denied)")


def test_an_unreadable_scenario_is_a_config_error(tmp_path, monkeypatch) -> None:
    p = _scenario(tmp_path)
    _deny(monkeypatch, "probe.toml")
    with pytest.raises(UserError, match=r"probe.toml: cannot read the scenario "
                                        r"\(Permission denied\)"):
        scenario_document(p)
