"""A run database whose stored state its controller cannot have written (a site index out of
range, a text where a number belongs, an unknown run status, an older schema) is one line,
exit code 2, naming the table, the row and the column, for ``greenhop status`` and for a
resumed run alike, and nothing stored is changed; ``greenhop replay`` with a scenario of other
steps than the run's names ``--scenario``, and an unknown logged policy is located."""

from __future__ import annotations

import json
import sqlite3

import pytest
from test_controller_kit import (
    TRAIN_ARGS,
    cli,
    edited_copy,
    file_digest,
    finished_run,
    inputs,
    memory_controller,
)

from greenhop.runtime.memory import InMemoryExecutor
from greenhop.runtime.store import SCHEMA_VERSION, check_schema
from greenhop.runtime.store_errors import DamagedDatabase, NotARunDatabase
from greenhop.runtime.workdir import Workdir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``(scenario copy, run.db, events.jsonl)`` of a finished in-memory run."""
    return finished_run(tmp_path_factory.mktemp("run"))




DAMAGE = {
    "job site out of range": (
        "UPDATE jobs SET site = 99 WHERE name = 'job-a'",
        "table jobs, row name 'job-a', column site: 99 is not a site of this run (0..2 "
        "expected: "),
    "job dest negative": (
        "UPDATE jobs SET dest = -1 WHERE name = 'job-b'",
        "table jobs, row name 'job-b', column dest: -1 is not a whole number >= 0 or NULL"),
    "surplus a text": (
        "UPDATE sites SET surplus_w = 'x' WHERE idx = 0",
        "table sites, row idx 0, column surplus_w: 'x' is not a finite number or NULL"),
    "real step a text": (
        "UPDATE jobs SET real_step = 'abc' WHERE name = 'job-b'",
        "table jobs, row name 'job-b', column real_step: 'abc' is not a whole number >= 0"),
    "unknown run status": (
        "UPDATE run SET status = 'weird'",
        "table run, row 1, column status: 'weird' is not a run status (one of live, "
        "stopped, done, failed expected)"),
    "run step past the run": (
        "UPDATE run SET step = n_steps + 1",
        "table run, row 1, column step:"),
    "time scale zero": (
        "UPDATE run SET time_scale = 0",
        "table run, row 1, column time_scale: 0.0 is not a number > 0"),
    "placed job without a site": (
        "UPDATE jobs SET site = NULL WHERE name = 'job-a'",
        "table jobs, row name 'job-a', column site: NULL, but a job in phase"),
    "sites out of order": (
        "UPDATE sites SET idx = 7 WHERE idx = 2",
        "table sites, row idx 7, column idx: 7 where 2 is expected"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
@pytest.mark.parametrize("as_json", [False, True])
def test_status_of_a_damaged_value_is_one_line_exit_2_naming_table_row_column(
        run, tmp_path, capsys, case, as_json):
    sql, message = DAMAGE[case]
    db = edited_copy(run[1], tmp_path / "run.db", sql)
    before = file_digest(db)
    code, out, err = cli(capsys, "status", "--db", db, *(["--json"] if as_json else []))
    assert code == 2 and out == "", (out, err)
    assert err.startswith(f"error: {db}: {message}"), err
    assert err.endswith("restore the database from a copy (nothing was changed)"), err
    assert "Traceback" not in err
    assert file_digest(db) == before


def test_status_of_an_intact_run_still_shows_it(run, tmp_path, capsys):
    code, out, err = cli(capsys, "status", "--db", run[1], "--json")
    assert code == 0, err
    snap = json.loads(out)
    assert snap["run"]["status"] == "done"
    assert all(isinstance(s["surplus_w"], float) for s in snap["sites"])
    assert {j["site"] for j in snap["jobs"]} <= {s["name"] for s in snap["sites"]}


def _stopped_damaged(run, tmp_path, sql):
    """A copy of the finished run recorded as stopped (resumable), with ``sql`` applied."""
    return edited_copy(run[1], tmp_path / "run.db", "UPDATE run SET status = 'stopped'", sql)


def _resume_is_refused(run, tmp_path, sql: str, match: str) -> None:
    """Resuming the stopped run damaged by ``sql`` raises DamagedDatabase matching
    ``match``, before any process starts, with the database byte-identical."""
    db = _stopped_damaged(run, tmp_path, sql)
    before = file_digest(db)
    ex = InMemoryExecutor()
    ctl = memory_controller(db, ex, path=run[0])
    try:
        with pytest.raises(DamagedDatabase, match=match):
            ctl.prepare()
    finally:
        ctl.store.close()
    assert ex.agents_started == 0  # refused before any process was started
    assert file_digest(db) == before


def test_a_resumed_run_refuses_a_damaged_state_before_writing_anything(run, tmp_path):
    _resume_is_refused(run, tmp_path, "UPDATE jobs SET site = 99 WHERE name = 'job-a'",
                       r"table jobs, row name 'job-a', column site: 99 .*"
                       r"\(nothing was changed\)")


def test_a_resumed_run_refuses_sites_other_than_its_scenarios(run, tmp_path):
    _resume_is_refused(run, tmp_path, "UPDATE sites SET name = 'elsewhere' WHERE idx = 1",
                       r"table sites: the run's sites are .*elsewhere.*nothing was changed")


def test_greenhop_run_resuming_a_damaged_database_is_exit_2_and_changes_no_file(
        run, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    db = edited_copy(run[1], work / "run.db", "UPDATE run SET status = 'stopped'",
                     "UPDATE run SET run_id = 'r1'",  # as `greenhop run` records one
                     "UPDATE jobs SET site = 99 WHERE name = 'job-a'")
    Workdir(work).record("r1", db)  # the marker the run wrote when it started
    marker = work / "greenhop-run.json"
    before = {p: file_digest(p) for p in (db, marker)}
    code, _, err = cli(capsys, "run", run[0], "--db", db, "--workdir", work, *TRAIN_ARGS)
    assert code == 2, err
    assert "resumed run" not in err and "Traceback" not in err, err
    assert err.startswith(f"error: {db}: table jobs, row name 'job-a', column site: 99 "), err
    assert err.endswith("restore the database from a copy (nothing was changed)"), err
    assert {p: file_digest(p) for p in before} == before
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        assert con.execute("SELECT status, owner_pid FROM run").fetchone() == ("stopped", None)


@pytest.mark.parametrize("argv", [("status", "--db", "{db}"), ("replay", "{db}", "--no-sim")])
def test_an_older_schema_is_exit_2_like_a_newer_one(run, tmp_path, capsys, argv):
    db = edited_copy(run[1], tmp_path / "run.db",
                     f"UPDATE schema_version SET version = {SCHEMA_VERSION - 1}")
    before = file_digest(db)
    code, _, err = cli(capsys, *(a.format(db=db) for a in argv))
    assert code == 2, err
    assert (f"error: {db}: run database schema version {SCHEMA_VERSION - 1}, but this "
            f"greenhop reads version {SCHEMA_VERSION}") in err, err
    assert file_digest(db) == before


def test_check_schema_raises_not_a_run_database_for_an_older_schema(run, tmp_path):
    db = edited_copy(run[1], tmp_path / "run.db", "UPDATE schema_version SET version = 1")
    con = sqlite3.connect(db)
    try:
        with pytest.raises(NotARunDatabase, match="schema version 1"):
            check_schema(con, db)
    finally:
        con.close()


def test_a_new_run_logs_its_steps_in_run_start(run):
    start = json.loads(run[2].read_text().splitlines()[0])
    assert start["kind"] == "run-start"
    assert start["body"]["n_steps"] == int(inputs(run[0])[1].n_steps)


def _shorter(sc, tmp_path):
    """A copy of the run's scenario ``sc`` with a shorter horizon (fewer steps)."""
    text = sc.read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("horizon"))
    other = tmp_path / "other.toml"
    other.write_text(text.replace(line, 'horizon = "6h"', 1))
    return other


@pytest.mark.parametrize("logged", [True, False])
def test_replay_with_a_scenario_of_other_steps_names_the_scenario_not_the_log(
        run, tmp_path, capsys, logged):
    sc, _, log = run
    other = _shorter(sc, tmp_path)
    if not logged:  # a log written before run-start recorded n_steps
        lines = log.read_text().splitlines()
        first = json.loads(lines[0])
        first["body"].pop("n_steps")
        log = tmp_path / "events.jsonl"
        log.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    code, out, err = _replay_cli(capsys, log, "--scenario", other, "--no-sim")
    assert code == 2 and out == "", (out, err)
    assert f"error: --scenario {other}: not the scenario the run was started with" in err, err
    assert "the log was edited or damaged" not in err
    assert f"pass the run's scenario ({sc})" in err


def _replay_cli(capsys, *args):
    return cli(capsys, "replay", *args)


def test_replay_of_a_logged_unknown_policy_names_the_line(run, tmp_path, capsys):
    lines = run[2].read_text().splitlines()
    first = json.loads(lines[0])
    first["body"]["policy"] = "no-such-policy"
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    code, _, err = _replay_cli(capsys, log, "--no-sim")
    assert code == 2, err
    assert err.startswith(f"error: {log}:1: run-start body: policy: unknown policy "
                          "'no-such-policy'; valid policy names: "), err


@pytest.mark.parametrize("log", ["cut", "missing", "whole"])
def test_a_finished_run_is_refused_and_an_event_log_without_its_end_is_written_again(
        run, tmp_path, capsys, log):
    """A controller killed between recording its run done and exporting the log's end left
    events.jsonl without run-done, and the finished run refused every start: the refusal
    now writes the log again from the database (which it leaves as it was)."""
    work = tmp_path / "work"
    work.mkdir()
    db = edited_copy(run[1], work / "run.db", "UPDATE run SET run_id = 'r1'")
    Workdir(work).record("r1", db)
    lines = run[2].read_text().splitlines(keepends=True)
    assert json.loads(lines[-1])["kind"] == "run-done"
    events = work / "events.jsonl"
    if log != "missing":
        events.write_text("".join(lines[:-1] if log == "cut" else lines))
    before = file_digest(db)
    code, _, err = cli(capsys, "run", run[0], "--db", db, "--workdir", work, *TRAIN_ARGS)
    assert code == 2 and "this run has already finished" in err, err
    assert ("written again from the database" in err) == (log != "whole"), err
    assert events.read_text() == "".join(lines)
    assert file_digest(db) == before
