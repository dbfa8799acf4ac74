"""The CLI a newcomer cannot break: every bad input is exit code 2 and one line naming the
option or key, checked before any work starts, nothing stored is lost.

Each test is one case a new user hits: an output path that cannot be written, a quantity
with units (or a plain number) in any option, a scenario that cannot do what it seems to
ask, and ``--help`` that shows flags as flags.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from clikit import one_line_error, run, two_site_scenario

from greenhop.core.errors import ConfigError

SUNNY_B = '{ kind = "solar", peak = "4kW" }'



class _Stop(ConfigError):
    """Raised by a stand-in for the real work: the options were parsed and accepted."""


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(two_site_scenario("small", b_longitude=90.0, b_trace=SUNNY_B))
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Every long computation fails the test if it starts: checks must come first."""
    import greenhop.forecast.data
    import greenhop.sim
    import greenhop.traces.site_model

    def started(*args, **kwargs):
        raise AssertionError("the work started before the output path was checked")

    for module, name in ((greenhop.sim, "simulate"),
                         (greenhop.traces.site_model, "site_energy"),
                         (greenhop.forecast.data, "load_site")):
        monkeypatch.setattr(module, name, started)


# --- output paths -----------------------------------------------------------------------

def test_simulate_out_an_existing_file_is_refused_first_and_the_file_kept(
        capsys, tmp_path, scenario_file, no_work) -> None:
    existing = tmp_path / "results"
    existing.write_text("earlier results\n")
    code, _, err = run(capsys, "simulate", str(scenario_file), "--out", str(existing))
    one_line_error(code, err, "--out", "is a file")
    assert existing.read_text() == "earlier results\n"


def test_simulate_out_under_proc_is_refused_first(capsys, scenario_file, no_work) -> None:
    code, _, err = run(capsys, "simulate", str(scenario_file), "--out", "/proc/x")
    one_line_error(code, err, "--out", "/proc")


def test_windows_plot_into_a_missing_directory_is_refused_first(capsys, tmp_path,
                                                                no_work) -> None:
    target = tmp_path / "nonexistent-dir" / "x.png"
    code, _, err = run(capsys, "windows", "--site", "madrid-es", "--plot", str(target))
    one_line_error(code, err, "--plot", "no such directory")
    assert not target.parent.exists()


@pytest.mark.parametrize("args", [("windows", "--site", "madrid-es"),
                                  ("forecast", "backtest", "--site", "madrid-es")])
def test_plot_with_an_unsupported_extension_is_refused_first(capsys, tmp_path, no_work,
                                                             args) -> None:
    code, _, err = run(capsys, *args, "--plot", str(tmp_path / "x.txt"))
    line = one_line_error(code, err, "--plot", ".txt")
    assert ".png" in line


def test_forecast_backtest_plot_into_a_missing_directory_is_refused_first(
        capsys, tmp_path, no_work) -> None:
    code, _, err = run(capsys, "forecast", "backtest", "--site", "madrid-es", "--plot",
                       str(tmp_path / "missing" / "b.png"))
    one_line_error(code, err, "--plot", "no such directory")


def test_feasibility_map_out_that_is_a_directory_is_refused(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "feasibility-map", "--out", str(tmp_path))
    one_line_error(code, err, "--out")


def test_sweep_out_an_existing_file_is_refused_first(capsys, tmp_path, scenario_file,
                                                      monkeypatch) -> None:
    import greenhop.sim.sweep

    def started(*args, **kwargs):
        raise AssertionError("the sweep was prepared before --out was checked")

    monkeypatch.setattr(greenhop.sim.sweep, "prepare_sweep", started)
    existing = tmp_path / "sweep-out"
    existing.write_text("kept\n")
    code, _, err = run(capsys, "sweep", str(scenario_file), "--seeds", "1-2", "--serial",
                       "--out", str(existing))
    one_line_error(code, err, "--out", "is a file")
    assert existing.read_text() == "kept\n"


def test_run_workdir_that_is_a_file_is_refused_first(capsys, tmp_path, scenario_file,
                                                      monkeypatch) -> None:
    import greenhop.cli.run as cli_run

    monkeypatch.setattr(cli_run, "build_controller", lambda *a, **k: pytest.fail("started"))
    workdir = tmp_path / "wd"
    workdir.write_text("not a directory\n")
    code, _, err = run(capsys, "run", str(scenario_file), "--workdir", str(workdir))
    one_line_error(code, err, "--workdir")


@pytest.mark.parametrize("args", [("agent", "tls", "{file}", "--site", "a"),
                                  ("transfer", "pull", "http://127.0.0.1:9", "job", "{file}")])
def test_an_output_directory_that_is_a_file_is_refused_naming_the_argument(capsys, tmp_path,
                                                                          args) -> None:
    existing = tmp_path / "existing"
    existing.write_text("kept\n")
    code, _, err = run(capsys, *(a.format(file=existing) for a in args))
    one_line_error(code, err, "is a file")
    assert existing.read_text() == "kept\n"


def test_windows_negative_plot_days_is_refused_first(capsys, tmp_path, no_work) -> None:
    code, _, err = run(capsys, "windows", "--site", "madrid-es", "--plot",
                       str(tmp_path / "w.png"), "--plot-days", "-1")
    one_line_error(code, err, "--plot-days")


def test_simulate_unknown_policy_names_the_option(capsys, tmp_path, scenario_file,
                                                  no_work) -> None:
    code, _, err = run(capsys, "simulate", str(scenario_file), "-p", "static,nosuch",
                       "--out", str(tmp_path / "o"))
    one_line_error(code, err, "--policies", "'nosuch'")


# --- quantities with units ----------------------------------------------------------------

def test_run_takes_units_for_step_sleep_and_max_wall(capsys, tmp_path, scenario_file,
                                                      monkeypatch) -> None:
    import greenhop.cli.run as cli_run

    seen = {}

    def build(*args, **kwargs):
        seen.update(kwargs)
        raise _Stop("stop here")

    monkeypatch.setattr(cli_run, "build_controller", build)
    code, _, err = run(capsys, "run", str(scenario_file), "--workdir", str(tmp_path / "wd"),
                       "--step-sleep", "50ms", "--max-wall", "1h")
    assert code == 2 and "stop here" in err
    assert seen["step_sleep_s"] == pytest.approx(0.05)
    assert seen["max_wall_s"] == pytest.approx(3600.0)


@pytest.mark.parametrize(("option", "value"), [("--step-sleep", "50 parsecs"),
                                               ("--max-wall", "1x"),
                                               ("--max-wall", "-5"),
                                               ("--max-wall", "0s"),
                                               ("--max-wall", "1ms")])
def test_run_refuses_a_bad_quantity_naming_the_option(capsys, tmp_path, scenario_file,
                                                       monkeypatch, option, value) -> None:
    import greenhop.cli.run as cli_run

    monkeypatch.setattr(cli_run, "build_controller", lambda *a, **k: pytest.fail("started"))
    code, _, err = run(capsys, "run", str(scenario_file), "--workdir", str(tmp_path / "wd"),
                       option, value)
    one_line_error(code, err, option)


@pytest.mark.parametrize(("value", "seconds"), [("0.04", 0.04), ("40ms", 0.04), ("0s", 0.0)])
def test_workload_run_step_sleep_takes_a_plain_number_or_units(capsys, tmp_path, monkeypatch,
                                                               value, seconds) -> None:
    import greenhop.workload.reference.run as reference

    seen = {}

    def fake_run(workload, ckpt_dir, opts, **kwargs):
        seen["step_sleep_s"] = opts.step_sleep_s
        raise _Stop("stop here")

    monkeypatch.setattr(reference, "run_reference", fake_run)
    code, _, err = run(capsys, "workload", "run", "mlp", "--ckpt-dir", str(tmp_path / "ck"),
                       "--steps", "1", "--step-sleep", value, "--quiet")
    assert code == 2 and "stop here" in err
    assert seen["step_sleep_s"] == pytest.approx(seconds)


def test_workload_run_bad_step_sleep_names_the_option(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "workload", "run", "mlp", "--ckpt-dir", str(tmp_path / "ck"),
                       "--steps", "1", "--step-sleep", "0.04x")
    one_line_error(code, err, "--step-sleep")
    assert not (tmp_path / "ck").exists()


def _fake_site(step_s: float = 300.0, unit: str = "W"):
    from greenhop.forecast.data import ForecastSite

    index = pd.date_range("2023-06-01", periods=4000, freq=f"{step_s:g}s", tz="UTC")
    return ForecastSite(name="fake", series=pd.Series(1000.0, index=index), unit=unit,
                        latitude_deg=None, longitude_deg=None, issued=None,
                        default_threshold=0.0, source="test")


@pytest.fixture
def backtest_spy(monkeypatch):
    """``forecast backtest`` on a fake site; the backtest itself records its arguments."""
    import greenhop.forecast.backtest
    import greenhop.forecast.data

    seen = {"unit": "W"}
    monkeypatch.setattr(greenhop.forecast.data, "load_site",
                        lambda name: _fake_site(unit=seen["unit"]))

    def fake_backtest(series, model, **kwargs):
        seen.update(kwargs)
        raise _Stop("stop here")

    monkeypatch.setattr(greenhop.forecast.backtest, "backtest", fake_backtest)
    return seen


@pytest.mark.parametrize(("unit", "value", "threshold"), [
    ("W", "5kW", 5000.0), ("W", "500", 500.0), ("W/kWp", "300W/kWp", 300.0),
    ("W/kWp", "0.3kW/kWp", 300.0), ("W/kWp", "250", 250.0)])
def test_forecast_backtest_threshold_takes_units(capsys, backtest_spy, unit, value,
                                                 threshold) -> None:
    backtest_spy["unit"] = unit
    code, _, err = run(capsys, "forecast", "backtest", "--site", "x", "--model", "persistence",
                       "--threshold", value, "--warmup", "1d")
    assert code == 2 and "stop here" in err
    assert backtest_spy["threshold"] == pytest.approx(threshold)
    assert backtest_spy["warmup_s"] == pytest.approx(86400.0)


@pytest.mark.parametrize(("option", "value"), [
    ("--threshold", "5 apples"), ("--threshold", "300W/kWp"), ("--warmup", "ten days"),
    ("--issue-every", "-15min")])
def test_forecast_backtest_refuses_bad_quantities_naming_the_option(capsys, backtest_spy,
                                                                    option, value) -> None:
    code, _, err = run(capsys, "forecast", "backtest", "--site", "x", "--model", "persistence",
                       option, value)
    one_line_error(code, err, option)


def test_forecast_backtest_refuses_a_site_power_as_a_threshold_per_kwp(capsys,
                                                                      backtest_spy) -> None:
    """5kW against a Solcast city's W/kWp series was read as 5000 W/kWp, a level PV per
    kWp never reaches (every window score empty, exit 0): refused, naming the unit."""
    backtest_spy["unit"] = "W/kWp"
    code, _, err = run(capsys, "forecast", "backtest", "--site", "x", "--model", "persistence",
                       "--threshold", "5kW")
    line = one_line_error(code, err, "--threshold '5kW'", "W/kWp", "300W/kWp")
    assert "stop here" not in line  # refused before the backtest


@pytest.mark.parametrize("value", ["0h", "1h,0min", "1h,", "2 fortnights", "7min", ""])
def test_forecast_backtest_bad_horizons_are_one_line_naming_the_option(capsys, backtest_spy,
                                                                       value) -> None:
    code, _, err = run(capsys, "forecast", "backtest", "--site", "x", "--model", "persistence",
                       "--horizons", value)
    # "1h," too: an empty entry is refused as in every list option (cli/lists.py)
    line = one_line_error(code, err, "--horizons")
    assert "[" not in line, "an internal list leaked into the message"


# --- scenarios that cannot do what they seem to ask ----------------------------------------

def _without_links(text: str) -> str:
    start, end = text.index("[[links]]"), text.index("[generator]")
    return text[:start] + text[end:]


def test_a_scenario_without_links_runs_but_warns_that_migrating_equals_static(
        capsys, tmp_path) -> None:
    path = tmp_path / "nolinks.toml"
    path.write_text(_without_links(two_site_scenario("nolinks", b_longitude=90.0,
                                                     b_trace=SUNNY_B)))
    code, out, err = run(capsys, "simulate", str(path), "--out", str(tmp_path / "o"),
                         "--no-report")
    assert code == 0
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1
    assert "no links" in warning[0] and "energy-greedy" in warning[0]
    assert "static" in warning[0]
    assert "energy-greedy" in out  # it still ran


def test_scenario_warnings_name_only_migrating_policies_and_only_without_links() -> None:
    from greenhop.sim.scenario import parse_scenario
    from greenhop.sim.scenario_warnings import scenario_warnings

    doc = {"name": "w", "start": "2023-06-01T00:00:00Z", "horizon": "1d", "step": "1h",
           "history": "1d", "policies": ["static", "energy-greedy", "feasibility-aware"],
           "sites": [{"name": n, "latitude": 0.0, "longitude": lon, "gpu_slots": 2,
                      "base_load": "1kW", "gpu_power": "400W",
                      "trace": {"kind": "solar", "peak": "4kW"}}
                     for n, lon in (("a", 0.0), ("b", 90.0))],
           "jobs": []}
    (note,) = scenario_warnings(parse_scenario(doc))
    assert "energy-greedy, feasibility-aware" in note and "static)" not in note
    linked = {**doc, "links": [{"a": "a", "b": "b", "bandwidth": "1Gbps"}]}
    assert scenario_warnings(parse_scenario(linked)) == []
    assert scenario_warnings(parse_scenario({**doc, "policies": ["static"]})) == []
    # a policy that also suspends (or places) still acts without links: not named
    (note,) = scenario_warnings(parse_scenario(
        {**doc, "policies": ["static", "energy-greedy", "horizon-planner", "oracle-planner"]}))
    assert "(energy-greedy)" in note and "planner" not in note
    assert scenario_warnings(parse_scenario({**doc, "policies": ["horizon-planner"]})) == []


@pytest.mark.parametrize("mobility", ["{ migratable = 0.9, pinned = 0.2 }",
                                      "{ migratable = 0.5 }",
                                      "{ migratable = 1.1 }"])
def test_mobility_shares_must_sum_to_one(capsys, tmp_path, mobility) -> None:
    path = tmp_path / "shares.toml"
    path.write_text(two_site_scenario("s", b_longitude=90.0, b_trace=SUNNY_B).replace(
        "[generator]\n", f"[generator]\nmobility = {mobility}\n"))
    code, _, err = run(capsys, "simulate", str(path), "--out", str(tmp_path / "o"))
    one_line_error(code, err, "generator.mobility")


@pytest.mark.parametrize("start", ['"2023-06-01T00:00:00"', "2023-06-01T00:00:00",
                                   '"2023-06-01"'])
def test_a_start_without_a_time_zone_is_refused_naming_the_key(capsys, tmp_path,
                                                               start) -> None:
    path = tmp_path / "notz.toml"
    path.write_text(two_site_scenario("s", b_longitude=90.0, b_trace=SUNNY_B).replace(
        'start = "2023-06-01T00:00:00Z"', f"start = {start}"))
    code, _, err = run(capsys, "simulate", str(path), "--out", str(tmp_path / "o"))
    line = one_line_error(code, err, "start", "time zone")
    assert line.startswith(f"error: {path}: start:")    # the file, then the key


@pytest.mark.parametrize(("line", "key"), [('timezone = "Mars/Olympus"', "sites[0].timezone"),
                                           ("latitude = 120.0", "sites[0].latitude")])
def test_a_site_with_an_unknown_time_zone_or_latitude_is_refused_naming_the_key(
        capsys, tmp_path, line, key) -> None:
    path = tmp_path / "site.toml"
    text = two_site_scenario("s", b_longitude=90.0, b_trace=SUNNY_B)
    if line.startswith("latitude"):
        text = text.replace("latitude = 0.0", line, 1)
    else:
        text = text.replace('name = "a"\n', f'name = "a"\n{line}\n', 1)
    path.write_text(text)
    code, _, err = run(capsys, "simulate", str(path), "--out", str(tmp_path / "o"))
    one_line_error(code, err, key)


def test_a_start_with_an_offset_is_taken_in_utc() -> None:
    from greenhop.sim.scenario import parse_scenario

    doc = {"start": "2023-06-01T02:00:00+02:00", "horizon": "1h", "step": "1h",
           "history": "0s", "policies": ["static"], "jobs": [],
           "sites": [{"name": "a", "latitude": 0.0, "longitude": 0.0, "gpu_slots": 1,
                      "base_load": "1kW", "gpu_power": "400W",
                      "trace": {"kind": "solar", "peak": "4kW"}}]}
    assert parse_scenario(doc).start == pd.Timestamp("2023-06-01T00:00:00Z")


def test_agent_serve_with_a_missing_root_exits_2(capsys, tmp_path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-s3cret-s3cret\n")
    token.chmod(0o600)
    code, _, err = run(capsys, "agent", "serve", "--root", str(tmp_path / "nonexistent"),
                       "--token-file", str(token))
    one_line_error(code, err, "--root")


# --- help: flags as flags, arguments by name ----------------------------------------------

def _commands():
    """(path, click command) for every command and group of the CLI."""
    import typer

    from greenhop.cli.main import app

    out = []

    def walk(cmd, path):
        out.append((path, cmd))
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return out


@pytest.mark.parametrize("path", [p for p, _ in _commands()], ids=lambda p: " ".join(p) or "-")
def test_help_shows_flags_without_a_type_and_arguments_by_name(capsys, monkeypatch,
                                                               path) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, *path, "--help")
    assert code == 0, err
    assert "<bool>" not in out and "<list[" not in out
    usage = next(line for line in out.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage
    for word in usage.split("[OPTIONS]", 1)[-1].split():
        if word not in ("COMMAND", "[ARGS]..."):
            assert word.strip("[].") == word.strip("[].").upper(), usage


def test_a_flag_takes_no_value(capsys) -> None:
    code, out, _ = run(capsys, "policies", "--json")
    assert code == 0 and out.lstrip().startswith("[")
    code, _, err = run(capsys, "sites", "--json=true")
    assert code == 2 and "Traceback" not in err


# --- tables keep names whole at 80 columns -------------------------------------------------

def _assert_names_whole(out: str, names: list[str]) -> None:
    for line in out.splitlines():
        assert len(line) <= 80, line
    for name in names:
        assert re.search(rf"(^|[\s│┃]){re.escape(name)}($|[\s│┃])", out, re.M), name


def test_sites_at_80_columns_keep_every_site_name_whole(capsys, monkeypatch) -> None:
    from greenhop.traces.fleet import load_fleet

    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "sites")
    assert code == 0
    _assert_names_whole(out, [s.name for s in load_fleet(None).sites])
    _assert_names_whole(out, sorted({s.gpu_platform for s in load_fleet(None).sites}))


def test_data_list_at_80_columns_keeps_every_dataset_name_whole(capsys, monkeypatch,
                                                                tmp_path) -> None:
    from greenhop.traces import catalog

    monkeypatch.setenv("GREENHOP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "data", "list")
    assert code == 0
    _assert_names_whole(out, [d.name for d in catalog.datasets()])


def test_windows_for_all_sites_at_80_columns_keeps_site_names_whole(capsys,
                                                                    monkeypatch) -> None:
    from greenhop.traces.fleet import load_fleet

    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "windows", "--site", "all", "--step", "1h")
    assert code == 0
    _assert_names_whole(out, [s.name for s in load_fleet(None).sites])
