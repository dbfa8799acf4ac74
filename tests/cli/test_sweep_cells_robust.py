"""``greenhop sweep`` over stored cells it did not write as they are: a bounds or policy cell
damaged, short of a kind or copied from another seed is kept aside and runs again, and the
warning saying so is printed before anything runs."""

from __future__ import annotations

import json
import os

import clikit
import pytest

SCENARIO = clikit.two_site_scenario(
    "cells-robust", b_longitude=0.0, b_trace='{ kind = "constant", power = "2.5kW" }'
) + '\n[bounds]\nkinds = ["space", "spacetime"]\n'


@pytest.fixture
def swept(tmp_path, isolated_cache, capsys):
    """A finished sweep of seeds 1-2 with bounds; returns (its arguments, its cells/)."""
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    args = ("sweep", str(path), "--seeds", "1-2", "--serial", "-p", "static",
            "--out", str(tmp_path / "out"))
    code, _, err = clikit.run(capsys, *args)
    assert code == 0, err
    return args, tmp_path / "out" / "cells"


def _without_spacetime(cells):
    doc = json.loads((cells / "p000-s00002-bounds.json").read_text())
    del doc["spacetime"]
    return json.dumps(doc)


@pytest.mark.parametrize("damage", [
    # another seed's bounds: seed 1 counted twice, seed 2 not at all
    lambda cells: (cells / "p000-s00001-bounds.json").read_text(),
    _without_spacetime,  # one seed fewer in spacetime's statistics, without a word
    lambda cells: '{"space": null, "spacetime": 5}',  # before: a traceback on every re-run
    lambda cells: '{"junk": 1}',
])
def test_a_bounds_cell_that_is_not_this_seeds_is_set_aside_and_solved_again(
        swept, capsys, damage):
    args, cells = swept
    cell = cells / "p000-s00002-bounds.json"
    solved = json.loads(cell.read_text())
    cell.write_text(damage(cells))
    code, stdout, err = clikit.run(capsys, *args)
    assert code == 0, err
    assert "4 cells (1 run now, 3 already there)" in stdout
    assert f"warning: p000-s00002-bounds.json was not a readable cell; kept as {cell}" \
        ".unreadable and run again" in err
    again = json.loads(cell.read_text())
    assert again["space"]["seed"] == 2
    assert {k: v["job_nr_kwh"] for k, v in again.items()} == \
        {k: v["job_nr_kwh"] for k, v in solved.items()}


def test_a_policy_cell_copied_from_another_seed_runs_again(swept, capsys):
    args, cells = swept
    cell = cells / "p000-s00002-static.json"
    cell.write_bytes((cells / "p000-s00001-static.json").read_bytes())
    code, stdout, err = clikit.run(capsys, *args)
    assert code == 0, err
    assert "4 cells (1 run now, 3 already there)" in stdout
    assert "p000-s00002-static.json was not a readable cell" in err
    assert json.loads(cell.read_text())["scenario"]["seed"] == 2


def _metric(value):
    """A damage: seed 2's static cell with its ``job_nr_kwh`` set to ``value``."""
    def damage(cell):
        doc = json.loads(cell.read_text())
        doc["policies"]["static"]["job_nr_kwh"] = value
        cell.write_text(json.dumps(doc))  # NaN as JSON's NaN literal, which greenhop never writes
    return damage


def _fifo(cell):
    cell.unlink()
    os.mkfifo(cell)


def _dev_zero(cell):
    cell.unlink()
    cell.symlink_to("/dev/zero")


@pytest.mark.parametrize("damage", [
    _metric(float("nan")),  # dropped the seed from the statistics, without a word
    _metric(10**400),       # OverflowError in the statistics, on every re-run
    # static's energy null, which greenhop never writes: before, accepted, and its cell's
    # saved_vs_static_pct (0) counted one seed more than its energy (stale)
    _metric(None),
    _fifo,                 # the read blocked for ever
    _dev_zero,             # the read never ended, gigabytes a second
], ids=["nan", "huge-integer", "null", "fifo", "dev-zero"])
def test_a_policy_cell_no_greenhop_wrote_is_set_aside_and_run_again(swept, capsys, damage):
    args, cells = swept
    cell = cells / "p000-s00002-static.json"
    damage(cell)
    code, stdout, err = clikit.run(capsys, *args)
    assert code == 0, err
    assert "4 cells (1 run now, 3 already there)" in stdout
    assert "p000-s00002-static.json was not a readable cell" in err
    assert json.loads(cell.read_text())["scenario"]["seed"] == 2


def test_a_metric_too_large_for_the_statistics_leaves_them_null_not_a_traceback(swept, capsys):
    """1e308 kWh is a number, but two of them overflow the mean: summary.json could not be
    written (allow_nan) and the finished sweep's summary and report were gone."""
    args, cells = swept
    for seed in (1, 2):
        cell = cells / f"p000-s0000{seed}-static.json"
        doc = json.loads(cell.read_text())
        doc["policies"]["static"]["job_nr_kwh"] = 1e308
        cell.write_text(json.dumps(doc))
    code, _, err = clikit.run(capsys, *args)
    assert code == 0, err
    out = cells.parent
    summary = json.loads((out / "summary.json").read_text())
    assert "NaN" not in (out / "summary.json").read_text()
    assert summary and (out / "report.html").is_file()


def test_a_folder_where_the_sweeps_lock_goes_is_one_line_naming_it(swept, capsys):
    args, cells = swept
    lock = cells.parent / ".lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    code, _, err = clikit.run(capsys, *args)
    clikit.one_line_error(code, err, f"{lock}: cannot take the sweep's lock here")


def test_the_set_aside_warning_is_printed_before_a_run_that_fails(swept, capsys,
                                                                   monkeypatch):
    import greenhop.sim.sweep as sweep

    def fail(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    args, cells = swept
    (cells / "p000-s00001-bounds.json").write_text("{}")
    monkeypatch.setattr(sweep, "group_cells", fail)
    code, _, err = clikit.run(capsys, *args)
    assert code != 0
    assert "warning: p000-s00001-bounds.json was not a readable cell" in err
    assert (cells / "p000-s00001-bounds.json.unreadable").read_text() == "{}"


def test_a_write_refused_by_the_folder_raises_its_own_error_only(tmp_path, monkeypatch):
    # a read-only folder refuses the temporary file and then its removal: before, the
    # removal's error was raised from inside the first (two chained tracebacks)
    import builtins
    from pathlib import Path

    from greenhop.sim.sweep_store import atomic_write

    def read_only(*_args, **_kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(builtins, "open", read_only)
    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(OSError) as info:
        atomic_write(tmp_path / "cell.json", "{}")
    assert info.value.__context__ is None and info.value.errno == 30
