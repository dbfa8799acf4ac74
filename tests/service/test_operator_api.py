"""Operator actions over HTTP: authentication, bad input refused with nothing changed, and a
drain of a live 3-site run (``greenhop run --serve`` with real trainers) that moves its jobs
off the site."""

from __future__ import annotations

import json
import subprocess
import threading

import httpx
import pytest
from servicekit import TOKEN, edited_copy, free_port, memory_run, rows, served, sse_events
from test_controller_kit import LIVE, db_jobs, greenhop_cmd, kill_all_under, start_run, wait_for

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def finished_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("op") / "run.db"
    assert memory_run(db)["status"] == "done"
    return db


@pytest.fixture
def stopped_db(finished_db, tmp_path):
    """A copy of the run, marked stopped (resumable): actions are taken."""
    return edited_copy(finished_db, tmp_path / "run.db", "UPDATE run SET status = 'stopped'")


def _state(db):
    return (rows(db, "SELECT * FROM operator_actions"),
            rows(db, "SELECT COUNT(*) AS n FROM events")[0]["n"],
            rows(db, "SELECT * FROM jobs"), rows(db, "SELECT status FROM run"))


def test_bad_requests_get_a_4xx_with_a_message_and_change_nothing(stopped_db):
    before = _state(stopped_db)
    with served(stopped_db, TOKEN) as url, httpx.Client(base_url=url, timeout=20) as c:
        cases = [
            ("/api/v1/sites/tokyo-jp/drain", {}, None, 401, "token"),
            ("/api/v1/sites/tokyo-jp/drain", {"Authorization": "Bearer nope-" + TOKEN}, None,
             401, "token"),
            ("/api/v1/sites/tokyo-jp/drain", {"Authorization": TOKEN}, None, 401, "Bearer"),
            ("/api/v1/sites/atlantis/drain", AUTH, None, 404, "unknown site 'atlantis'"),
            ("/api/v1/jobs/job-z/pin", AUTH, None, 404, "unknown job 'job-z'"),
            ("/api/v1/sites/tokyo-jp/drain", AUTH, b"{not json", 422, "not valid JSON"),
            ("/api/v1/jobs/job-a/pin", AUTH, b"[1, 2]", 422, "JSON object"),
            ("/api/v1/jobs/job-a/pin", AUTH, b'{"note": 5}', 422, "note"),
            ("/api/v1/policy/pause", AUTH, b'{"force": true}', 422, "force"),
            ("/api/v1/policy/pause", AUTH, b'{"note": "' + b"x" * 70_000 + b'"}', 413,
             "64 KiB"),
            # 60 kB of brackets: under the size limit, past the JSON parser's depth
            ("/api/v1/jobs/job-a/pin", AUTH, b"[" * 30_000 + b"]" * 30_000, 422,
             "nested too deeply"),
            ("/api/v1/policy/pause", AUTH, b'{"note": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
             422, "nested too deeply"),
            # a lone surrogate is a valid JSON escape, but no text: it could be stored,
            # not sent back (the answer would be a 500 after the write)
            ("/api/v1/sites/tokyo-jp/drain", AUTH, b'{"note": "ok \\ud800"}', 422,
             "request body.note: not printable text"),
            ("/api/v1/policy/pause", AUTH, b'{"\\udfff": 1}', 422, "request body.'\\udfff'"),
        ]
        for path, headers, body, code, words in cases:
            r = c.post(path, headers={**headers, "Content-Type": "application/json"},
                       content=body)
            assert r.status_code == code, (path, body and body[:20], r.text)
            assert words in r.json()["detail"], r.text
        r = c.post("/api/v1/sites/tokyo-jp/drain", headers=AUTH)
        assert r.status_code == 202, r.text  # the right token, a good request
    after = _state(stopped_db)
    assert after[0] == [{"id": 1, "kind": "drain", "target": "tokyo-jp",
                         "unix_s": after[0][0]["unix_s"], "applied_step": None}]
    assert after[1] == before[1] + 1 and after[2:] == before[2:]
    ev = rows(stopped_db, "SELECT * FROM events ORDER BY seq DESC LIMIT 1")[0]
    assert ev["kind"] == "operator-request"
    assert json.loads(ev["body"]) == {"id": 1, "action": "drain", "target": "tokyo-jp"}


def test_a_token_that_is_not_printable_is_refused(finished_db):
    from greenhop.core.errors import ConfigError
    from greenhop.service.app import create_app

    # no client can send a control character in a header: no request could ever match
    for token in ("a" * 35 + "\x01", "a" * 16 + "\x7f" + "a" * 16):
        with pytest.raises(ConfigError, match="printable ASCII"):
            create_app(finished_db, token=token)


def test_every_action_is_taken_with_the_token(stopped_db):
    with served(stopped_db, TOKEN) as url, httpx.Client(base_url=url, timeout=20) as c:
        for path in ("/api/v1/sites/madrid-es/drain", "/api/v1/sites/madrid-es/undrain",
                     "/api/v1/jobs/job-a/pin", "/api/v1/jobs/job-a/unpin",
                     "/api/v1/policy/pause", "/api/v1/policy/resume"):
            r = c.post(path, headers=AUTH, json={"note": f"maintenance of {path}"})
            assert r.status_code == 202, r.text
            assert r.json()["action"]["applied_step"] is None
            assert r.json()["action"]["note"] == f"maintenance of {path}"
            # no controller runs it: the request waits for the run's resume, and says so
            assert r.json()["applies"].startswith("when the run is resumed (its controller "
                                                  "is not running: status stopped)")
    got = [(a["kind"], a["target"]) for a in rows(stopped_db, "SELECT * FROM operator_actions")]
    assert got == [("drain", "madrid-es"), ("undrain", "madrid-es"), ("pin", "job-a"),
                   ("unpin", "job-a"), ("pause", None), ("resume", None)]
    # the operator's note is kept with the request, in the event log
    notes = [json.loads(e["body"]).get("note") for e in rows(
        stopped_db, "SELECT body FROM events WHERE kind = 'operator-request' ORDER BY seq")]
    assert notes[-6:] == [f"maintenance of /api/v1/{p}" for p in (
        "sites/madrid-es/drain", "sites/madrid-es/undrain", "jobs/job-a/pin",
        "jobs/job-a/unpin", "policy/pause", "policy/resume")]


def test_an_action_on_a_finished_run_is_refused(finished_db):
    before = _state(finished_db)
    with served(finished_db, TOKEN) as url, httpx.Client(base_url=url, timeout=20) as c:
        r = c.post("/api/v1/sites/tokyo-jp/drain", headers=AUTH)
        assert r.status_code == 409 and "finished" in r.json()["detail"]
    assert _state(finished_db) == before


def test_serve_refuses_bad_options_with_one_line(tmp_path, finished_db):
    cases = [
        (["serve", "--db", str(tmp_path / "none.db")], "no run database"),
        (["serve", "--db", str(tmp_path)], "is a directory"),
        (["serve", "--db", str(finished_db), "--token-file", str(tmp_path / "t")],
         "--token-file"),
        (["serve", "--db", str(finished_db), "--port", "70000"], "--port"),
    ]
    for args, words in cases:
        r = subprocess.run(greenhop_cmd(*args), capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def _stream_into(url: str, out: list) -> None:
    """Read the event stream until the run's last event (or the service goes away)."""
    try:
        with httpx.Client(base_url=url) as client, client.stream(
                "GET", "/api/v1/events/stream", timeout=httpx.Timeout(10, read=None)) as r:
            for event in sse_events(r.iter_lines(), ("run-done", "run-stopped", "run-failed")):
                out.append(event)  # one by one: another thread watches the list grow
    except httpx.HTTPError:
        return


@pytest.mark.slow
def test_a_drained_site_of_a_live_run_loses_its_jobs(tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    tok = tmp_path / "operator.token"
    tok.write_text(TOKEN + "\n")
    tok.chmod(0o600)
    port = free_port()
    proc = start_run(work, LIVE, 3600, "--step-sleep", "0.04", "--serve",
                     f"127.0.0.1:{port}", "--serve-token-file", str(tok))
    db = work / "run.db"
    c = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:

        def up():
            try:
                return c.get("/api/v1/run").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, 120, "the service of the run", poll_s=0.1)
        streamed: list[dict] = []
        reader = threading.Thread(target=_stream_into, args=(f"http://127.0.0.1:{port}",
                                                             streamed), daemon=True)
        reader.start()
        # two jobs run at Tokyo (the policy brought them there in the morning)
        wait_for(lambda: sum(1 for j in db_jobs(db) if j["site"] == 1
                             and j["phase"] == "running") >= 2, 120, "jobs at tokyo-jp")
        before = rows(db, "SELECT * FROM operator_actions")
        r = c.post("/api/v1/sites/tokyo-jp/drain")
        assert r.status_code == 401
        r = c.post("/api/v1/sites/tokyo-jp/drain", headers={"Authorization": "Bearer x" * 8})
        assert r.status_code == 401
        assert rows(db, "SELECT * FROM operator_actions") == before == []
        r = c.post("/api/v1/sites/tokyo-jp/drain", headers=AUTH)
        assert r.status_code == 202, r.text
        assert r.json()["applies"] == "at the start of the controller's next step"
        wait_for(lambda: [s for s in c.get("/api/v1/sites").json() if s["drained"]], 60,
                 "the drain to be applied", poll_s=0.05)
        code = proc.wait(timeout=300)
        assert code == 0, (work / "controller.log").read_text()[-3000:]
    finally:
        c.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all_under(work)
    applied = rows(db, "SELECT * FROM operator_actions")
    assert [(a["kind"], a["target"]) for a in applied] == [("drain", "tokyo-jp")]
    t0 = applied[0]["applied_step"]
    evs = [{**r, "body": json.loads(r["body"])} for r in
           rows(db, "SELECT * FROM events ORDER BY seq")]
    off = [e for e in evs if e["kind"] == "migrate" and e["body"].get("by") == "operator"]
    assert off and all(e["body"]["src"] == "tokyo-jp" and e["step"] >= t0 for e in off)
    later = [e for e in evs if e["kind"] in ("migrate", "place") and e["step"] >= t0]
    assert all(e["body"]["dst"] != "tokyo-jp" for e in later)
    # the jobs left Tokyo and none came back (the database's own record)
    assert {e["job"] for e in off} >= {"job-a", "job-b"}
    assert all(j["site"] != 1 for j in db_jobs(db))
    op = [e for e in evs if e["kind"] == "operator"]
    assert [(e["step"], e["body"]["action"]) for e in op] == [(t0, "drain")]
    # the event stream, read while the run went on, delivered every event once, in order
    reader.join(timeout=30)
    assert [(g["id"], g["event"], g["data"]["data"]) for g in streamed] == [
        (e["seq"], e["kind"], e["body"]) for e in evs]
    log = [json.loads(line) for line in (work / "events.jsonl").read_text().splitlines()]
    assert [g["id"] for g in streamed] == [e["seq"] for e in log]


def _post_raw(app, receive, send) -> None:
    """POST /api/v1/policy/pause to ``app`` at the ASGI level, with the token."""
    import asyncio

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "path": "/api/v1/policy/pause",
             "raw_path": b"/api/v1/policy/pause", "root_path": "", "scheme": "http",
             "query_string": b"",
             "headers": [(b"authorization", f"Bearer {TOKEN}".encode()),
                         (b"content-type", b"application/json"),
                         (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))


def test_a_client_gone_mid_body_is_answered_without_an_error_in_the_log(stopped_db):
    """A disconnect mid-body raised ClientDisconnect through the app: a traceback in the
    service's log for every client that went away."""
    from greenhop.service.app import create_app

    app = create_app(stopped_db, token=TOKEN)
    messages = iter([{"type": "http.request", "body": b'{"note": "x', "more_body": True},
                      {"type": "http.disconnect"}])
    answer = {}

    async def receive():
        return next(messages)

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]

    _post_raw(app, receive, send)  # raised ClientDisconnect before
    assert answer["status"] == 400


def test_a_chunked_body_past_the_limit_is_refused_before_it_is_read_whole(stopped_db):
    """A chunked body declares no length, so the up-front check let it through and the
    whole of it (50 MB in the probe) was read into memory before the 413."""

    from greenhop.service.app import MAX_BODY_BYTES, create_app

    app = create_app(stopped_db, token=TOKEN)
    chunk = b" " * (16 * 1024)
    total = 50 * 2**20 // len(chunk)
    sent = 0
    answer: dict = {}

    async def receive():
        nonlocal sent
        sent += 1
        return {"type": "http.request", "body": chunk, "more_body": sent < total}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]

    _post_raw(app, receive, send)
    assert answer["status"] == 413
    assert sent * len(chunk) <= MAX_BODY_BYTES + 2 * len(chunk)  # read up to the limit only
