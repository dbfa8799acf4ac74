"""A run database with a damaged page, or whose disk fails, is one line naming the file
(exit 2 for a damaged file, 1 for a failure the same command gets past), never a
traceback; the file is left as it is."""

from __future__ import annotations

import hashlib
import sqlite3
import time

import pytest

from greenhop.cli.main import main
from greenhop.runtime.store import Store
from greenhop.runtime.store_errors import DamagedDatabase, DatabaseFailure, failure


def _stopped_run(path):
    """A new run database at ``path`` holding a stopped run's row and its start event
    (the store left open)."""
    st = Store.open(path, create=True)
    now = time.time()
    with st.tx():
        st.con.execute(
            "INSERT INTO run (id, scenario, scenario_sha256, policy, time_scale, status, "
            "n_steps, started_unix_s, updated_unix_s, ledger) VALUES "
            "(1, 's.toml', 'x', 'static', 60, 'stopped', 4, ?, ?, '{}')", (now, now))
        st.event(0, "run-start", {"policy": "static"})
    return st


def _damaged_run_db(tmp_path):
    """A run database whose run row's ledger and one event's body are not UTF-8 (what a
    flipped page of text gives)."""
    path = tmp_path / "run.db"
    st = _stopped_run(path)
    with st.tx():
        st.con.execute("UPDATE run SET ledger = CAST(X'7BFFFE7D' AS TEXT)")
        st.con.execute("UPDATE events SET body = CAST(X'7BFFFE7D' AS TEXT)")
    st.close()
    return path


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("argv", [["status", "--db", "{db}"], ["replay", "{db}"]])
def test_a_damaged_database_is_one_line_exit_2_and_left_as_it_is(tmp_path, capsys, argv):
    db = _damaged_run_db(tmp_path)
    before = _digest(db)
    with pytest.raises(SystemExit) as exc:
        main([a.format(db=db) for a in argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3, err
    assert f"{db}: the run database is damaged" in " ".join(err.split())
    assert _digest(db) == before


def _run_db_with_a_damaged_middle_page(tmp_path):
    """A stopped run's database with many events, one page in the middle of the file
    overwritten with 0xff (what a bad disk sector gives): pages the status table reads
    may be intact, so only a check of every page sees it."""
    path = tmp_path / "run.db"
    st = _stopped_run(path)
    with st.tx():
        for i in range(3000):
            st.event(0, "recover", {"message": f"line {i} " + "x" * 40})
    st.close()
    con = sqlite3.connect(path)
    page = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    raw = bytearray(path.read_bytes())
    middle = (len(raw) // page // 2) * page
    raw[middle:middle + page] = b"\xff" * page
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("argv", [["status", "--db", "{db}"], ["status", "--db", "{db}",
                                                                "--json"], ["replay", "{db}"]])
def test_a_damaged_page_anywhere_is_refused_by_status_and_replay(tmp_path, capsys, argv):
    """status showed the full table of such a file (exit 0) where serve refused it."""
    db = _run_db_with_a_damaged_middle_page(tmp_path)
    before = _digest(db)
    with pytest.raises(SystemExit) as exc:
        main([a.format(db=db) for a in argv])
    out, err = capsys.readouterr()
    assert exc.value.code == 2, (out, err)
    assert "Traceback" not in err and out == "", err
    assert f"{db}: the database file is damaged" in " ".join(err.split()), err
    assert _digest(db) == before


def test_a_failing_disk_is_a_store_error_the_code_can_still_catch_as_sqlite(tmp_path):
    # "database or disk is full" and a damaged page, as SQLite raises them
    full = failure(tmp_path / "run.db", sqlite3.OperationalError("database or disk is full"))
    assert isinstance(full, DatabaseFailure) and isinstance(full, sqlite3.OperationalError)
    assert "run the same command again" in str(full) and str(tmp_path) in str(full)
    bad = failure(tmp_path / "run.db",
                   sqlite3.DatabaseError("database disk image is malformed"))
    assert isinstance(bad, DamagedDatabase) and isinstance(bad, sqlite3.DatabaseError)
    # a read-only file: a write fails, and the fix is not free space (it said so)
    ro = failure(tmp_path / "run.db",
                 sqlite3.OperationalError("attempt to write a readonly database"))
    assert isinstance(ro, DatabaseFailure)
    assert "cannot be written" in str(ro) and "read-only" in str(ro)
    assert "free disk space" not in str(ro)
