"""A run database a read-only probe found mishandled: a job in a phase no code knows (the
run ended "done" with the job stranded)."""

from __future__ import annotations

import hashlib

import pytest
from test_controller_kit import memory_controller

from greenhop.cli.main import main
from greenhop.runtime.memory import InMemoryExecutor
from greenhop.runtime.store_errors import DamagedDatabase


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_unknown_phase_is_one_line_naming_file_job_and_phase(tmp_path, capsys):
    db = tmp_path / "run.db"
    first = memory_controller(db, InMemoryExecutor())
    first.prepare()
    job = first.jobs[0]
    with first.store.tx():
        first.store.con.execute("UPDATE jobs SET phase = 'transferrinX' WHERE name = ?", (job,))
    first.store.close()
    before = _digest(db)
    again = memory_controller(db, InMemoryExecutor())
    try:
        with pytest.raises(DamagedDatabase) as err:
            again.prepare()
    finally:
        again.store.close()
    text = str(err.value)
    assert str(db) in text and repr(job) in text and "'transferrinX'" in text, text
    assert "\n" not in text
    assert _digest(db) == before
    with pytest.raises(SystemExit) as exc:
        main(["status", "--db", str(db)])
    out = capsys.readouterr().err
    assert exc.value.code == 2 and "transferrinX" in out and "Traceback" not in out, out
    assert _digest(db) == before
