"""``greenhop status`` and ``replay`` only read the run database: an older file keeps its
bytes and journal mode, nothing is left beside it; a database another process holds is
"busy" (exit 1), a foreign, newer or table-less one exit 2."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys

import pytest
from test_controller_kit import cli, edited_copy, file_digest, memory_controller

from greenhop.runtime import store as store_mod
from greenhop.runtime.memory import InMemoryExecutor


@pytest.fixture(scope="module")
def finished_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "run.db"
    ctl = memory_controller(db, InMemoryExecutor())
    try:
        ctl.prepare()
        assert ctl.run()["status"] == "done"
    finally:
        ctl.store.close()
    return db






READERS = [("status", "--db", "{db}"), ("status", "--db", "{db}", "--json"),
           ("replay", "{db}", "--no-sim")]


@pytest.mark.parametrize("argv", READERS)
def test_an_older_database_is_read_without_a_change_or_a_file_left(
        finished_db, tmp_path, capsys, argv):
    db = edited_copy(finished_db, tmp_path / "old.db", "DROP TABLE operator_actions",
               "DROP TABLE grid_events")
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    con.close()
    before = file_digest(db)
    code, _, err = cli(capsys, *(a.format(db=db) for a in argv))
    assert code == 0, err
    assert file_digest(db) == before  # no table made, not switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.db"]


@pytest.mark.parametrize("argv", READERS)
def test_a_finished_wal_database_leaves_no_wal_or_shm_behind(finished_db, tmp_path, capsys,
                                                             argv):
    db = tmp_path / "run.db"
    shutil.copy(finished_db, db)
    code, _, err = cli(capsys, *(a.format(db=db) for a in argv))
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.db"]


def test_a_truncated_database_leaves_nothing_behind(finished_db, tmp_path, capsys):
    db = tmp_path / "cut.db"
    data = finished_db.read_bytes()
    db.write_bytes(data[:len(data) // 2])
    code, _, err = cli(capsys, "status", "--db", db)
    assert code == 2 and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.db"]


@pytest.mark.parametrize("argv", [("status", "--db", "{db}"), ("replay", "{db}", "--no-sim")])
def test_a_database_another_process_holds_is_busy_exit_1(finished_db, tmp_path, capsys,
                                                          monkeypatch, argv):
    monkeypatch.setattr(store_mod, "READ_TIMEOUT_S", 0.2)
    db = tmp_path / "run.db"
    shutil.copy(finished_db, db)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys\n"
         f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
         "c.execute('PRAGMA locking_mode=EXCLUSIVE'); c.execute('BEGIN EXCLUSIVE')\n"
         "print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = cli(capsys, *(a.format(db=db) for a in argv))
    finally:
        holder.stdin.close()
        holder.stdout.close()
        holder.wait(timeout=10)
    assert code == 1, err
    assert err == f"error: {db}: busy: held by another process; try again", err


@pytest.mark.parametrize("argv", [("status", "--db", "{db}"), ("replay", "{db}", "--no-sim")])
@pytest.mark.parametrize("kind", ["newer", "no tables"])
def test_a_foreign_newer_or_table_less_database_is_exit_2(finished_db, tmp_path, capsys,
                                                           argv, kind):
    if kind == "newer":
        db = edited_copy(finished_db, tmp_path / "run.db", "UPDATE schema_version SET version = 99")
        message = "run database schema version 99, newer than this greenhop reads (version 2)"
    else:
        db = edited_copy(finished_db, tmp_path / "run.db", *(
            f"DROP TABLE {t}" for t in ("run", "sites", "jobs", "checkpoints", "events",
                                        "operator_actions", "grid_events")))
        message = "not a greenhop run database (schema version 2 but no table run)"
    before = file_digest(db)
    code, _, err = cli(capsys, *(a.format(db=db) for a in argv))
    assert code == 2 and err == f"error: {db}: {message}; " + err.split("; ", 1)[1], err
    assert file_digest(db) == before


def test_a_database_with_a_wal_beside_it_is_read_with_that_wal(finished_db, tmp_path):
    # what a controller killed before it checkpointed leaves: the WAL holds committed rows
    db = tmp_path / "run.db"
    shutil.copy(finished_db, db)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("UPDATE run SET step = 12345")
    try:
        assert (tmp_path / "run.db-wal").stat().st_size > 0
        st = store_mod.Store.open(db, read_only=True)
        try:
            assert st.run_row()["step"] == 12345
        finally:
            st.close()
    finally:
        con.close()


def test_status_prints_a_long_job_error_whole_after_the_table(finished_db, tmp_path, capsys):
    """The jobs table cut an error at 80 characters, and the rest (where a trainer's
    failure says which file and line) was nowhere in the output."""
    tail = "the end of the message names the file: train.py line 42"
    error = "trainer exited 1: " + "x" * 120 + " " + tail
    db = edited_copy(finished_db, tmp_path / "run.db",
                     f"UPDATE jobs SET error = '{error}' WHERE idx = 0")
    code, out, _ = cli(capsys, "status", "--db", db)
    assert code == 0
    assert "(below)" in out
    after_table = out.split("job job-a error:")[1]  # whole, after the table
    assert "".join(error.split()) in "".join(after_table.split())
    # an agent's URL is folded in a narrow table, not cut ("mem://madr…")
    sites_table = out.split("┏")[1]
    assert "…" not in sites_table
    cells = "".join(line.split("│")[4].strip() for line in sites_table.splitlines()
                    if line.count("│") == 7)  # the agent column, row after row
    assert "mem://madrid-es" in cells and "mem://greensboro-nc" in cells
