"""The run database behind ``greenhop serve``: any file name is opened read-only as
itself, a database of another schema or a damaged one is refused before serving, and one
that breaks while served answers a JSON 503, never a bare 500."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time

import httpx
import pytest
from servicekit import TOKEN, edited_copy, free_port, memory_run, rows, served, sse_events

from greenhop.cli.main import main
from greenhop.core.errors import ConfigError
from greenhop.service.data import RunReader


@pytest.fixture(scope="module")
def finished_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "run.db"
    assert memory_run(db)["status"] == "done"
    return db


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["run#1.db", "run?x.db", "run%41.db", "a b&c=d.db"])
def test_a_file_name_with_uri_characters_is_opened_as_itself_read_only(
        finished_db, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / name
    shutil.copy(finished_db, db)
    # a decoy where a name cut at '#' or '?' would lead, and another file '%41' could mean
    edited_copy(finished_db, tmp_path / "run", "UPDATE run SET scenario = 'the-wrong-file'")
    before = sorted(p.name for p in tmp_path.iterdir())
    digest = _digest(db)
    with served(db) as url, httpx.Client(base_url=url, timeout=20) as c:
        run = c.get("/api/v1/run").json()
    assert run["status"] == "done" and run["scenario"] != "the-wrong-file"
    # nothing created but the database's own WAL index files
    after = sorted(p.name for p in tmp_path.iterdir()
                   if p.name not in (f"{name}-wal", f"{name}-shm"))
    assert after == before
    assert _digest(db) == digest


def test_a_database_of_another_schema_version_is_refused_before_serving(
        finished_db, tmp_path, capsys):
    db = edited_copy(finished_db, tmp_path / "run.db", "UPDATE schema_version SET version = 999")
    with pytest.raises(ConfigError, match="schema version 999"):
        RunReader(db)
    with pytest.raises(SystemExit) as info:
        main(["serve", "--db", str(db), "--port", str(free_port())])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "--db" in err and "999" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_alien_table_layout_is_refused_before_serving(tmp_path):
    db = tmp_path / "other.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE run (x)")
    con.execute("CREATE TABLE schema_version (version INTEGER)")
    con.execute("INSERT INTO schema_version VALUES (999)")
    con.commit()
    con.close()
    with pytest.raises(ConfigError, match="schema version 999"):
        RunReader(db)


def test_a_damaged_database_is_refused_before_serving_and_left_as_it_was(finished_db, tmp_path):
    db = tmp_path / "run.db"
    shutil.copy(finished_db, db)
    con = sqlite3.connect(db)
    page = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    raw = bytearray(db.read_bytes())
    # every page after the schema's first pages: the tables' rows are lost, not the schema
    raw[3 * page:] = b"\xff" * (len(raw) - 3 * page)
    db.write_bytes(bytes(raw))
    digest = _digest(db)
    with pytest.raises(ConfigError) as info:
        RunReader(db)
    assert str(info.value).startswith(f"--db {db}") and "\n" not in str(info.value)
    assert _digest(db) == digest


def test_a_database_gone_while_served_answers_json_503(finished_db, tmp_path):
    db = tmp_path / "run.db"
    shutil.copy(finished_db, db)
    with served(db) as url, httpx.Client(base_url=url, timeout=20) as c:
        assert c.get("/api/v1/jobs").status_code == 200
        db.unlink()
        for path in ("/api/v1/events?after=3", "/api/v1/timeline", "/metrics"):
            r = c.get(path)
            assert r.status_code == 503, (path, r.status_code, r.text[:200])
            assert "run database cannot be read" in r.json()["detail"]


def test_a_database_replaced_by_another_schema_version_answers_503_and_takes_nothing(
        finished_db, tmp_path):
    db = edited_copy(finished_db, tmp_path / "run.db", "UPDATE run SET status = 'stopped'")
    other = edited_copy(db, tmp_path / "other.db", "UPDATE schema_version SET version = 999")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with served(db, TOKEN) as url, httpx.Client(base_url=url, timeout=20) as c:
        assert c.get("/api/v1/run").status_code == 200
        os.replace(other, db)
        # writes and reads alike: the file is no longer one this service can read
        for method, path in (("POST", "/api/v1/sites/tokyo-jp/drain"),
                             ("POST", "/api/v1/policy/pause"), ("GET", "/api/v1/jobs"),
                             ("GET", "/metrics")):
            r = c.request(method, path, headers=auth)
            assert r.status_code == 503, (path, r.status_code, r.text[:200])
            detail = r.json()["detail"]
            assert "run database cannot be read" in detail and "999" in detail, detail
        r = c.post("/api/v1/grid/events", headers=auth, json={
            "site": "tokyo-jp", "from": "+1h", "to": "+2h", "reduce": "25%"})
        assert r.status_code == 503 and "999" in r.json()["detail"], r.text
    assert rows(db, "SELECT * FROM operator_actions") == []
    assert rows(db, "SELECT * FROM grid_events") == []


def test_the_event_stream_outlives_a_short_database_outage(finished_db, tmp_path):
    db = tmp_path / "run.db"
    shutil.copy(finished_db, db)
    last = rows(db, "SELECT MAX(seq) AS n FROM events")[0]["n"]
    got: list[dict] = []
    opened = threading.Event()

    def read(url):
        try:
            with httpx.Client(base_url=url, timeout=httpx.Timeout(10, read=30)) as c, \
                    c.stream("GET", "/api/v1/events/stream", params={"after": last}) as r:
                opened.set()
                got.extend(sse_events(r.iter_lines(), ("after-outage",)))
        except httpx.HTTPError:
            return

    with served(db) as url:
        reader = threading.Thread(target=read, args=(url,), daemon=True)
        reader.start()
        assert opened.wait(10)
        time.sleep(0.5)  # the shared poller runs
        db.rename(tmp_path / "away.db")  # every poll now fails: the file is gone
        time.sleep(1.5)
        (tmp_path / "away.db").rename(db)
        con = sqlite3.connect(db)
        for kind in ("back", "after-outage"):
            con.execute("INSERT INTO events (step, unix_s, kind, job, body) VALUES "
                        "(?, ?, ?, NULL, ?)", (99, time.time(), kind, json.dumps({})))
        con.commit()
        con.close()
        reader.join(timeout=15)  # the old poller died: nothing came, ever
    assert [(e["id"], e["event"]) for e in got] == [(last + 1, "back"),
                                                     (last + 2, "after-outage")]


def test_a_run_not_started_yet_has_every_key_of_a_started_one(finished_db, tmp_path):
    from greenhop.runtime.store import Store

    fresh = tmp_path / "fresh.db"
    Store.open(fresh, create=True).close()  # the schema, no run row yet
    waiting, started = RunReader(fresh).run(), RunReader(finished_db).run()
    assert waiting["status"] == "starting" and set(waiting) == set(started)
    assert waiting["error"] is None and waiting["time_scale"] is None
