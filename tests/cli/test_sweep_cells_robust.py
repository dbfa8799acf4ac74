"""``greenhop sweep`` over stored cells it did not write as they are: a bounds or policy cell
damaged, short of a kind or copied from another seed is kept aside and runs again, and the
warning saying so is printed before anything runs."""

from __future__ import annotations

import json

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
