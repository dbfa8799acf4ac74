"""Bad input a probe found in feasibility, feasibility-map, sync-map, windows and forecast:
values that overflow once scaled to SI, years and plot ranges outside what the data covers,
spans that break the rules of the scenario keys. Each is exit code 2 and one line naming
the option, checked before any long work starts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from clikit import one_line_error, run

WINDOW = ("-c", "98GB", "-b", "1Gbps", "-w", "2h")



@pytest.fixture
def no_work(monkeypatch):
    """The site model and the forecast data fail the test if they start."""
    import greenhop.forecast.data
    import greenhop.traces.site_model

    def started(*args, **kwargs):
        raise AssertionError("the work started before the options were checked")

    monkeypatch.setattr(greenhop.traces.site_model, "site_energy", started)
    monkeypatch.setattr(greenhop.forecast.data, "load_site", started)


@pytest.fixture
def power_csv(tmp_path):
    """Two days of hourly surplus in kW, as a user trace."""
    times = pd.date_range("2023-06-01", periods=48, freq="h", tz="UTC")
    path = tmp_path / "surplus.csv"
    pd.DataFrame({"time": [t.isoformat() for t in times],
                  "surplus": np.where(times.hour % 24 < 12, 10.0, 0.0)}).to_csv(path, index=False)
    return path


# --- values that overflow once scaled to SI -----------------------------------------------

@pytest.mark.parametrize(("argv", "option"), [
    (("feasibility-map", "-o", "{tmp}/m.png", "--bandwidths", "1Mbps:1e308Gbps"), "--bandwidths"),
    (("feasibility-map", "-o", "{tmp}/m.png", "--sizes", "1B:1e300TB"), "--sizes"),
    (("feasibility-map", "-o", "{tmp}/m.png", "--sizes", "10B:1.7e308B"), "--sizes"),
    (("sync-map", "--bandwidths", "1Mbps:1e308Gbps"), "--bandwidths"),
    (("sync-map", "--bandwidths", "1bps:1e300bps"), "--bandwidths"),
    (("sync-map", "--models", "1e300T"), "--models"),
    (("sync-map", "--bandwidths", "1.5e-295bps:1e-280bps"), "--bandwidths"),
    (("feasibility", "-c", "98GB", "-b", "1Gbps", "-w", "1e308h"), "--window"),
    (("feasibility", *WINDOW, "--startup", "1e308h"), "--startup"),
    (("feasibility", *WINDOW, "--idle-power", "1e308GW"), "--idle-power"),
    (("feasibility", "--params", "1e296T", "-b", "1Gbps", "-w", "2h"), "--params"),
    (("feasibility", *WINDOW, "--gpus", "1e308"), "--gpus"),
    (("feasibility", *WINDOW, "--workers", "1e308", "--sync-every", "1"), "--workers"),
    (("forecast", "backtest", "--site", "madrid-es", "--issue-every", "1e308h"),
     "--issue-every"),
])
def test_an_overflowing_value_names_its_option(capsys, tmp_path, no_work, argv, option) -> None:
    code, out, err = run(capsys, *(a.format(tmp=tmp_path) for a in argv))
    one_line_error(code, err, option)
    assert out == ""


def test_sync_map_checks_out_before_printing_the_table(capsys, tmp_path) -> None:
    code, out, err = run(capsys, "sync-map", "-o", str(tmp_path / "s.bmp"))
    one_line_error(code, err, "--out", ".bmp")
    assert out == ""


# --- windows: --year and the plot range ---------------------------------------------------

@pytest.mark.parametrize("year", ["0", "-5", "1", "50", "1600", "1900", "2100", "2262", "99999"])
def test_windows_year_outside_the_weather_years_is_refused(capsys, no_work, year) -> None:
    code, _, err = run(capsys, "windows", "--site", "madrid-es", f"--year={year}")
    line = one_line_error(code, err, "--year", "1901-2099")
    assert f"--year {year}:" in line


@pytest.mark.parametrize(("argv", "option"), [
    (("--plot", "{tmp}/p.png", "--plot-days", "inf"), "--plot-days"),
    (("--plot", "{tmp}/p.png", "--plot-days", "nan"), "--plot-days"),
    (("--plot", "{tmp}/p.png", "--plot-start", "notadate"), "--plot-start"),
    (("--plot-start", "2023-06-01"), "--plot-start"),
    (("--plot-days", "3"), "--plot-days"),
])
def test_windows_bad_plot_range_is_refused_first(capsys, tmp_path, no_work, argv,
                                                 option) -> None:
    code, _, err = run(capsys, "windows", "--site", "madrid-es",
                       *(a.format(tmp=tmp_path) for a in argv))
    line = one_line_error(code, err, option)
    if "--plot" not in argv:
        assert "goes with --plot" in line


def test_windows_more_plot_days_than_the_series_shows_it_all(capsys, tmp_path,
                                                              power_csv) -> None:
    png = tmp_path / "p.png"
    code, _, err = run(capsys, "windows", "--trace", str(power_csv), "--column", "surplus",
                       "--unit", "kW", "--plot", str(png), "--plot-days", "1e308",
                       "--plot-start", "2023-06-01T12:00+02:00")
    assert code == 0, err
    assert png.stat().st_size > 1000


def test_windows_plot_days_shorter_than_one_step_is_refused(capsys, tmp_path,
                                                            power_csv) -> None:
    """Less than one step of the series drew an empty panel over a year-long axis, exit 0."""
    png = tmp_path / "p.png"
    code, _, err = run(capsys, "windows", "--trace", str(power_csv), "--column", "surplus",
                       "--unit", "kW", "--plot", str(png), "--plot-days", "0.01")
    one_line_error(code, err, "--plot-days 0.01", "shorter than one step (1 h)")
    assert not png.exists()


def _png_size(path) -> tuple[int, int]:
    """(width, height) [px] from a PNG's header."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_windows_plot_of_every_site_draws_a_panel_per_site(capsys, tmp_path) -> None:
    """--site all --plot drew the first site alone, titled with its name, exit 0: every
    site gets its own panel now, one above the other (the image grows with the sites)."""
    one, every = tmp_path / "one.png", tmp_path / "all.png"
    code, _, err = run(capsys, "windows", "--site", "madrid-es", "--step", "1h", "--plot",
                       str(one), "--plot-days", "2")
    assert code == 0, err
    code, out, err = run(capsys, "windows", "--site", "all", "--step", "1h", "--plot",
                         str(every), "--plot-days", "2")
    assert code == 0, err
    (w1, h1), (w7, h7) = _png_size(one), _png_size(every)
    assert w1 == w7 and h7 > 3 * h1, (h1, h7)
    assert f"plot written to {every}" in " ".join(out.split())


@pytest.mark.parametrize("start", ["2020-01-01", "2031-01-01"])
def test_windows_plot_start_outside_the_series_is_refused(capsys, tmp_path, power_csv,
                                                           start) -> None:
    """Before, a day before the series silently drew the series from its own first day."""
    png = tmp_path / "p.png"
    code, _, err = run(capsys, "windows", "--trace", str(power_csv), "--column", "surplus",
                       "--unit", "kW", "--plot", str(png), "--plot-start", start)
    one_line_error(code, err, f"--plot-start {start}", "outside the series")
    assert not png.exists()


def test_windows_trace_value_that_overflows_in_watts_names_the_row(capsys, tmp_path) -> None:
    times = pd.date_range("2023-06-01", periods=48, freq="h", tz="UTC")
    values = np.full(48, 10.0)
    values[5] = 1e308
    path = tmp_path / "huge.csv"
    pd.DataFrame({"time": [t.isoformat() for t in times], "surplus": values}).to_csv(
        path, index=False)
    code, out, err = run(capsys, "windows", "--trace", str(path), "--column", "surplus",
                         "--unit", "kW")
    one_line_error(code, err, "huge.csv", "row 6", "'surplus'", "too large")
    assert out == ""


# --- forecast backtest: the rules of the scenario's [forecast] keys -----------------------

@pytest.mark.parametrize("option", ["--issue-every", "--refit-every", "--calibration-window"])
def test_backtest_zero_spans_are_refused_naming_the_option(capsys, no_work, option) -> None:
    code, _, err = run(capsys, "forecast", "backtest", "--site", "madrid-es", option, "0s")
    line = one_line_error(code, err, option, "longer than 0")
    assert "window_s" not in line


def test_backtest_issue_every_must_be_whole_steps(capsys, monkeypatch) -> None:
    import greenhop.forecast.data
    from greenhop.forecast.data import ForecastSite

    index = pd.date_range("2023-06-01", periods=4 * 288, freq="5min", tz="UTC")
    site = ForecastSite("flat", pd.Series(1.0, index=index), "W", None, None, None, 0.0, "test")
    monkeypatch.setattr(greenhop.forecast.data, "load_site", lambda name: site)
    code, _, err = run(capsys, "forecast", "backtest", "--site", "flat", "--model",
                       "persistence", "--issue-every", "7min")
    one_line_error(code, err, "--issue-every", "7 min", "5 min")


def test_forecast_models_lists_every_name_backtest_accepts(capsys) -> None:
    from greenhop.forecast import FORECASTERS

    code, out, _ = run(capsys, "forecast", "models")
    assert code == 0
    assert out.split() == FORECASTERS.names()
    assert {"gbm", "clear-sky-persistence"} <= set(out.split())


# --- scenario powers and energies finite but past any real one ----------------------------

CEILING_CASES = [
    ('gpu_power = "400W"', 'gpu_power = "1e307W"', "sites[0].gpu_power"),
    ('base_load = "1kW"', 'base_load = "1e305kW"', "sites[0].base_load"),  # was a traceback
    ('peak = "4kW"', 'peak = "2TW"', "sites[0].trace.peak"),
    ('{ kind = "solar", peak = "4kW" }\n\n[[links]]',
     '{ kind = "values", values = [5, 1e300] }\n\n[[links]]', "sites[1].trace.values[1]"),
    ('gpu_power = "400W"\n', 'gpu_power = "400W"\nbattery = { capacity = "1e300kWh", '
     'power = "1kW" }\n', "sites[0].battery.capacity"),
]


@pytest.mark.parametrize(("old", "new", "where"), CEILING_CASES,
                         ids=["gpu_power", "base_load", "peak", "values", "battery"])
def test_a_scenario_power_past_any_real_one_is_refused_naming_the_key(
        capsys, tmp_path, old, new, where) -> None:
    """A site of 1e307 W parses, but a run's energy sums overflow (NaN metrics, or a
    traceback for a base load): refused in one line, before any run, with the key."""
    from clikit import two_site_scenario

    text = two_site_scenario("huge", b_longitude=90.0,
                             b_trace='{ kind = "solar", peak = "4kW" }')
    assert old in text
    path = tmp_path / "huge.toml"
    path.write_text(text.replace(old, new, 1))
    code, _, err = run(capsys, "simulate", str(path), "--out", str(tmp_path / "out"))
    one_line_error(code, err, "huge.toml", where, "far above any real one")
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_a_power_at_the_ceiling_still_runs(capsys, tmp_path) -> None:
    """1 TW is the ceiling itself, not past it: the scenario runs."""
    from clikit import two_site_scenario

    text = two_site_scenario("big", b_longitude=90.0, b_trace='{ kind = "solar", peak = "1TW" }')
    path = tmp_path / "big.toml"
    path.write_text(text)
    code, _, err = run(capsys, "simulate", str(path), "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert (tmp_path / "out" / "metrics.json").exists()


def test_a_map_with_nothing_feasible_says_so_instead_of_labelling_an_empty_side(
        capsys, tmp_path) -> None:
    """A 1 ms window: no size fits even at the top bandwidth. The map was drawn with a
    "feasible" label over an empty plot; now a warning says nothing is feasible (exit 0,
    the map written), and a map with feasible points warns of nothing."""
    from greenhop.model.plot import feasible_anywhere, map_boundaries

    assert not feasible_anywhere(map_boundaries([1e9], [1e-3]), 1e11)
    assert feasible_anywhere(map_boundaries([1e9], [1e-3, 3600.0]), 1e11)
    code, _, err = run(capsys, "feasibility-map", "-o", str(tmp_path / "none.png"),
                         "--windows", "1ms")
    assert code == 0 and (tmp_path / "none.png").stat().st_size > 0
    assert "nothing is feasible on this map" in " ".join(err.split())
    code, _, err = run(capsys, "feasibility-map", "-o", str(tmp_path / "some.png"))
    assert code == 0 and "nothing is feasible" not in err
