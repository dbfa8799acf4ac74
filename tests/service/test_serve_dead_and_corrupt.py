"""``greenhop serve`` tells a dead run from a live one (as ``greenhop status`` does), answers
503 naming the event when an event body is not JSON, says "busy" for a database another
process holds, leaves nothing beside a finished run's file, and names a live run's work
directory and an IPv6 address as they are."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import httpx
import pytest
from servicekit import edited_copy, free_port, memory_run, served

from greenhop.cli.main import main
from greenhop.runtime import store as store_mod
from greenhop.runtime.store_errors import DatabaseBusy
from greenhop.service.data import RunReader
from greenhop.service.figures import placement_figure
from greenhop.service.outputs import scan_outputs
from greenhop.service.server import base_url


@pytest.fixture(scope="module")
def finished_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "run.db"
    assert memory_run(db)["status"] == "done"
    return db


def test_a_run_recorded_live_whose_controller_is_gone_is_dead(finished_db, tmp_path):
    # what `kill -9` of the controller leaves: status live, no owner lock held
    db = edited_copy(finished_db, tmp_path / "run.db", "UPDATE run SET status = 'live'")
    with served(db) as url, httpx.Client(base_url=url, timeout=20) as c:
        assert c.get("/api/v1/run").json()["status"] == "dead"
        metrics = c.get("/metrics").text
    assert "greenhop_run_live 0.0" in metrics and "greenhop_run_finished 0.0" in metrics
    owner = store_mod.Store.open(db)
    owner.acquire()  # a controller holds it: live again
    try:
        assert RunReader(db).run()["status"] == "live"
    finally:
        owner.close()


def test_an_event_body_that_is_not_json_is_503_naming_the_event(finished_db, tmp_path):
    db = edited_copy(finished_db, tmp_path / "run.db",
                     "UPDATE events SET body = '{bad' WHERE kind IN ('power', 'booked', "
                     "'place', 'migrate', 'phase')")
    with served(db) as url, httpx.Client(base_url=url, timeout=20) as c:
        for path in ("/api/v1/events", "/api/v1/migrations", "/api/v1/timeline",
                     "/api/v1/placements", "/metrics", "/api/v1/figures/timeline",
                     "/api/v1/figures/placement"):
            r = c.get(path)
            assert r.status_code == 503, (path, r.status_code, r.text[:200])
            detail = r.json()["detail"]
            assert f"{db}: event " in detail and "the body is not JSON" in detail, detail


@pytest.mark.parametrize(("edit", "paths"), [
    ("UPDATE events SET body = '{}' WHERE kind = 'migrate'",
     ("/api/v1/migrations", "/api/v1/placements", "/api/v1/figures/placement", "/metrics")),
    ("""UPDATE events SET body = json_set(body, '$.demand_w', 'x', '$.job_load_w',
        json('[1, 2]')) WHERE kind = 'booked'""",
     ("/api/v1/timeline", "/api/v1/figures/timeline", "/metrics")),
    ("UPDATE events SET body = '{\"renewable_w\": \"abc\"}' WHERE kind = 'power'",
     ("/api/v1/timeline",)),
])
def test_an_event_body_of_the_wrong_shape_is_503_naming_the_view(finished_db, tmp_path, edit,
                                                                  paths):
    """JSON bodies missing a key or holding a string where numbers belong were a 500
    ("internal error (KeyError)"); the database is all these views read."""
    db = edited_copy(finished_db, tmp_path / "run.db", edit)
    with served(db) as url, httpx.Client(base_url=url, timeout=20) as c:
        for path in paths:
            r = c.get(path)
            assert r.status_code == 503, (path, r.status_code, r.text[:200])
            detail = r.json()["detail"]
            assert f"{db}: a recorded event has an unexpected shape" in detail, detail
        assert c.get("/api/v1/run").status_code == 200  # what does not read them still works


@pytest.mark.parametrize(("edit", "paths", "needle"), [
    ("UPDATE jobs SET site = 99 WHERE name = 'job-a'", ("/api/v1/jobs", "/api/v1/run"),
     "table jobs, row name 'job-a', column site: 99 is not a site of this run"),
    ("UPDATE run SET status = 'zombie'", ("/api/v1/run", "/api/v1/sites"),
     "table run, row 1, column status: 'zombie' is not a run status"),
    ("UPDATE jobs SET phase = 'flying' WHERE name = 'job-b'", ("/api/v1/jobs",
                                                               "/api/v1/migrations"),
     "'flying'"),
])
def test_stored_state_status_refuses_is_a_503_naming_table_row_and_column(
        finished_db, tmp_path, capsys, edit, paths, needle):
    """serve answered a job's site 99 as "a recorded event has an unexpected shape", and
    a run status 'zombie' or a phase 'flying' with 200: the rows pass the check greenhop
    status makes, with its message."""
    db = edited_copy(finished_db, tmp_path / "run.db", edit)
    with pytest.raises(SystemExit) as exc:
        main(["status", "--db", str(db)])
    assert exc.value.code == 2 and needle in " ".join(capsys.readouterr().err.split())
    with served(db) as url, httpx.Client(base_url=url, timeout=20) as c:
        for path in paths:
            r = c.get(path)
            assert r.status_code == 503, (path, r.status_code, r.text[:200])
            assert needle in r.json()["detail"], (path, r.json()["detail"])


def test_a_database_another_process_holds_is_busy(finished_db, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(store_mod, "READ_TIMEOUT_S", 0.2)
    db = tmp_path / "run.db"
    shutil.copy(finished_db, db)
    with subprocess.Popen(
            [sys.executable, "-c", "import sqlite3, sys\n"
             f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
             "c.execute('PRAGMA locking_mode=EXCLUSIVE'); c.execute('BEGIN EXCLUSIVE')\n"
             "print('held', flush=True); sys.stdin.read()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseBusy, match="busy: held by another process; try again"):
            RunReader(db)
        with pytest.raises(SystemExit) as exc:
            main(["serve", "--db", str(db), "--port", str(free_port())])
        holder.stdin.close()
    err = " ".join(capsys.readouterr().err.split())
    assert exc.value.code == 1 and err == f"error: {db}: busy: held by another process; try again"


def test_a_table_less_database_is_refused_with_exit_2(finished_db, tmp_path, capsys):
    db = edited_copy(finished_db, tmp_path / "run.db", *(
        f"DROP TABLE {t}" for t in ("run", "sites", "jobs", "checkpoints", "events",
                                    "operator_actions", "grid_events")))
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--db", str(db), "--port", str(free_port())])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "schema version 2 but no table run" in err, err


def test_serving_a_finished_run_leaves_no_wal_or_shm_behind(finished_db, tmp_path):
    db = tmp_path / "run.db"
    shutil.copy(finished_db, db)
    with served(db) as url, httpx.Client(base_url=url, timeout=20) as c:
        assert c.get("/api/v1/jobs").status_code == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.db"]


def test_without_its_scenario_the_placement_figure_starts_at_the_run_not_1970(
        finished_db, tmp_path):
    db = edited_copy(finished_db, tmp_path / "run.db",
                     f"UPDATE run SET scenario = '{tmp_path / 'gone.toml'}'")
    reader = RunReader(db)
    assert reader.scenario_inputs(wait=True) is None
    run = reader.run()
    assert run["start_unix_s"] is None and run["step_s"] == 900.0  # from the booked steps
    bases = [b for trace in placement_figure(reader)["data"] for b in trace.get("base", [])]
    assert bases and not any(str(b).startswith("1970") for b in bases), bases[:3]


def test_a_live_runs_work_directory_is_listed_as_live(tmp_path):
    doc = {"policies": {"static": {"jobs": 1}}, "scenario": {"name": "s"},
           "live": {"status": "done"}}
    (tmp_path / "metrics.json").write_text(json.dumps(doc))
    (out,) = scan_outputs([tmp_path])
    assert out.kind == "live" and out.entry()["policies"] == ["static"]
    assert out.entry()["scenario"] == "s"


def test_an_ipv6_address_is_written_in_brackets():
    assert base_url("::1", 80) == "http://[::1]:80/"
    assert base_url("127.0.0.1", 8080) == "http://127.0.0.1:8080/"
