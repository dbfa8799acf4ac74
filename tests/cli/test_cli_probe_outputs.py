"""Bad input a probe of the command-line options found: a simulation and a sweep writing
their report.html over each other's in one --out, user-trace times past what the time axis
holds, agent URLs with a port out of range or not a number, replay's --scenario a pipe."""

from __future__ import annotations

import os

import pytest
from clikit import one_line_error, run, two_site_scenario


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(two_site_scenario("small", b_longitude=90.0,
                                      b_trace='{ kind = "solar", peak = "4kW" }'))
    return path


def _files(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_simulation_is_not_written_over_a_sweep(capsys, tmp_path, scenario_file) -> None:
    """simulate --out on a sweep's folder replaced the sweep's report.html (and with
    --no-report deleted it): refused in one line, the sweep untouched."""
    out = tmp_path / "sweep"
    code, _, err = run(capsys, "sweep", str(scenario_file), "--seeds", "1", "--serial",
                       "--policies", "static", "--out", str(out))
    assert code == 0, err
    before = _files(out)
    assert "report.html" in before and "manifest.json" in before
    for extra in ([], ["--no-report"]):
        code, _, err = run(capsys, "simulate", str(scenario_file), "--out", str(out), *extra)
        one_line_error(code, err, "--out", "holds a sweep")
        assert _files(out) == before


def test_a_sweep_is_not_written_over_a_simulation(capsys, tmp_path, scenario_file) -> None:
    """sweep --out on a simulation's folder overwrote its report.html: refused in one line,
    with --force too (it sets aside sweeps only), the simulation's files untouched."""
    out = tmp_path / "sim"
    code, _, err = run(capsys, "simulate", str(scenario_file), "--out", str(out))
    assert code == 0, err
    before = _files(out)
    assert set(before) == {"metrics.json", "report.html"}
    for extra in ([], ["--force"]):
        code, _, err = run(capsys, "sweep", str(scenario_file), "--seeds", "1", "--serial",
                           "--out", str(out), *extra)
        one_line_error(code, err, str(out), "holds the results of greenhop simulate")
        assert _files(out) == before


@pytest.mark.parametrize(("theirs", "named"), [
    (["report.html"], "report.html"),
    (["summary.json", "cells.csv"], "cells.csv, summary.json"),
])
def test_a_sweep_is_not_written_over_files_that_are_not_a_sweeps(
        capsys, tmp_path, scenario_file, theirs, named) -> None:
    """A folder holding a report.html or summary.json of the user's own (no sweep manifest)
    had them deleted when a sweep started there: refused in one line, with --force too."""
    out = tmp_path / "mine"
    out.mkdir()
    for name in theirs:
        (out / name).write_text(f"my own {name}")
    before = _files(out)
    for extra in ([], ["--force"]):
        code, _, err = run(capsys, "sweep", str(scenario_file), "--seeds", "1", "--serial",
                           "--policies", "static", "--out", str(out), *extra)
        one_line_error(code, err, str(out), f"holds {named} but no sweep manifest")
        assert _files(out) == before


@pytest.mark.parametrize("year", ["2300", "0001"])
def test_a_trace_time_past_the_time_axis_names_its_row(capsys, tmp_path, year) -> None:
    """A year pandas' nanosecond axis does not hold was an OutOfBoundsDatetime traceback."""
    path = tmp_path / "far.csv"
    path.write_text("time,p\n" + "".join(f"{year}-01-01T00:{m:02d}:00Z,6000\n"
                                         for m in range(0, 60, 5)))
    code, _, err = run(capsys, "windows", "--trace", str(path), "--column", "p", "--unit", "W")
    one_line_error(code, err, "far.csv", "row 1", "outside the years 1678 to 2261")


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1:abc",
                                 "127.0.0.1:0"])
def test_an_agent_url_with_a_bad_port_is_one_line(capsys, url) -> None:
    """A port out of range or not a number was a ValueError traceback with exit 1."""
    code, _, err = run(capsys, "transfer", "list", url, "job")
    one_line_error(code, err, repr(url), "a port from 1 to 65535")


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/../x", "http://127.0.0.1:1/a",
                                 "http://127.0.0.1:1?x=1", "http://127.0.0.1:1#f"])
def test_an_agent_url_with_a_path_is_one_line(capsys, url) -> None:
    """`transfer peers --peer http://127.0.0.1:1/../x` was accepted: an agent serves at its
    root, and the path was dropped without a word."""
    code, _, err = run(capsys, "transfer", "peers", "http://127.0.0.1:1", "--peer", url)
    one_line_error(code, err, repr(url), "without a path, query or fragment")


def test_replay_scenario_a_pipe_is_refused_not_read(capsys, tmp_path) -> None:
    """replay --scenario on a FIFO blocked forever reading it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    log = tmp_path / "events.jsonl"
    log.write_text("")
    code, _, err = run(capsys, "replay", str(log), "--scenario", str(fifo))
    one_line_error(code, err, "--scenario", "pipe")


def test_windows_step_below_a_minute_is_refused_before_any_work(capsys, monkeypatch) -> None:
    """--site all --step 1s divides a day but ran past a minute (31.5 M steps a site)."""
    import greenhop.traces.site_model

    monkeypatch.setattr(greenhop.traces.site_model, "site_energy",
                        lambda *a, **k: pytest.fail("the site model started"))
    code, _, err = run(capsys, "windows", "--site", "all", "--step", "1s")
    one_line_error(code, err, "--step", "at least 1min", "'1s'")


def test_a_backtest_that_never_sees_a_window_says_so_not_nan(capsys) -> None:
    """A threshold no surplus reaches left the in-window statistics NaN, printed as nan."""
    code, out, err = run(capsys, "forecast", "backtest", "--site", "madrid-es", "--model",
                         "persistence", "--threshold", "900GW")
    assert code == 0, err
    assert "never in a window at an issue time" in out
    assert "nan" not in out.lower()


def test_workload_inspect_names_a_pipe_as_such(capsys, tmp_path) -> None:
    """A FIFO given to `workload inspect` was called "a file"."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, _, err = run(capsys, "workload", "inspect", str(fifo))
    one_line_error(code, err, str(fifo), "is a pipe or a device")
