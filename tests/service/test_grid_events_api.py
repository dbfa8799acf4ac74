"""``POST /api/v1/grid/events``: a demand-response event for a live run, behind the token;
bad input is a 422 with one line naming the field, and stores nothing."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from servicekit import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from test_grid_event_cli import live_run_db

from greenhop.runtime.store import Store

TOKEN = "s3cret-grid-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.contextmanager
def serving(db):
    """The service of ``db`` on a real uvicorn server in a thread (the write endpoints do
    not need the scenario's traces: no waiting for them)."""
    import uvicorn

    from greenhop.service.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db, token=TOKEN), host="127.0.0.1",
                                           port=port, log_level="warning", access_log=False))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and th.is_alive(), "the service did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        th.join(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = live_run_db(tmp_path_factory.mktemp("api") / "run.db", step=4)
    with serving(db) as url, httpx.Client(base_url=url, timeout=30) as c:
        c.db = db
        yield c


@pytest.fixture
def client(server):
    st = Store.open(server.db)
    with st.tx():
        st.con.execute("DELETE FROM grid_events")
    st.close()
    return server


def stored(db):
    st = Store.open(db)
    try:
        return st.grid_events()
    finally:
        st.close()


def test_an_event_is_filed_for_the_controllers_next_step(client):
    r = client.post("/api/v1/grid/events", headers=AUTH, json={
        "id": "peak", "site": "greensboro-nc", "from": "+1h", "duration": "3h", "lead": "1h",
        "limit": "40kW"})
    assert r.status_code == 202, r.text
    ev = r.json()["event"]
    assert ev["id"] == "peak" and ev["body"]["limit_w"] == 40_000
    now = 1685577600.0 + 4 * 900  # the run is at step 4
    assert ev["body"]["start_unix_s"] == now + 3600 and ev["body"]["announced_unix_s"] == now
    assert [(e["id"], e["applied_step"]) for e in stored(client.db)] == [("peak", None)]
    again = client.post("/api/v1/grid/events", headers=AUTH, json={
        "id": "peak", "site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "40kW"})
    assert again.status_code == 422 and "already has an event" in again.json()["detail"]


@pytest.mark.parametrize(("body", "message"), [
    ({"site": "greensboro-nc", "from": "+2h", "to": "+1h", "limit": "40kW"},
     "ends at or before its start"),
    ({"zone": "nowhere", "from": "+1h", "to": "+2h", "limit": "40kW"}, "unknown zone"),
    # without an id, the request is named, not an id made up and never stored
    ({"zone": "nowhere", "from": "+1h", "to": "+2h", "limit": "40kW"},
     "request body: unknown zone 'nowhere'"),
    ({"id": "x" * 200, "site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "40kW"},
     "at most 128 characters, got 200"),
    # the scenario's rule: a price needs the run's [[grid.zones]] (this run has none)
    ({"site": "greensboro-nc", "from": "+1h", "to": "+2h", "price": 500},
     "request body.price: a price event needs [[grid.zones]]"),
    ({"site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "10W"},
     "below its base load"),
    ({"site": "greensboro-nc", "from": "+1h", "to": "+2h"}, "limit"),
    ({"site": "greensboro-nc", "when": "+1h"}, "request body.when: unknown key"),
    (["not", "an", "object"], "expected a JSON object"),
    # numbers and times no float or datetime holds, and text SQLite cannot store
    ({"site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": 10**400},
     "request body.limit: the number 1000"),
    ({"site": "greensboro-nc", "from": "+1h", "duration": 10**400, "limit": "40kW"},
     "request body.duration: the number"),
    ({"site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "40kW", "price": 10**400},
     "request body.price: the number"),
    ({"site": "greensboro-nc", "from": "0001-01-01T00:00:00+01:00", "to": "+2h",
      "limit": "40kW"}, "request body.from: '0001-01-01T00:00:00+01:00' is out of range"),
    ({"id": "\ud800", "site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "40kW"},
     "printable"),
    ({"site": "greensboro-nc", "from": "+1h", "to": "+2h", "announce": "+3h",
      "limit": "40kW"}, "the announcement comes after the start"),
    ({"site": "greensboro-nc", "from": "9999-01-01T00:00:00Z", "to": "9999-01-02T00:00:00Z",
      "limit": "40kW"}, "the event starts after the run ends"),
    # without an id, the message names the request, not an id the client never sent
    ({"site": "nope", "from": "+1h", "to": "+2h", "limit": "40kW"},
     "request body: unknown site 'nope'"),
    ({"site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "10W"},
     "request body: limit 10 W at site 'greensboro-nc' is below its base load"),
    # an event under way, announced now by default: the start is the reason, not announce
    ({"site": "greensboro-nc", "from": "2023-06-01T00:30:00Z", "to": "+2h", "limit": "40kW"},
     "request body.from: the event starts before the run's present (step 4, "
     "2023-06-01T01:00:00Z) and would be announced now, after its start"),
    # text that cannot be sent back, wherever it is: refused before anything is stored
    ({"\ud800": 1, "site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "40kW"},
     "request body.'\\ud800': not printable text"),
    ({"sites": ["greensboro-nc", "x\udc00"], "from": "+1h", "to": "+2h", "limit": "40kW"},
     "request body.sites[1]: not printable text"),
    # finite numbers that lead to times outside the years 1-9999, or absurd magnitudes
    ({"site": "greensboro-nc", "from": "+1h", "duration": "1h", "lead": 1e308,
      "limit": "40kW"}, "request body.lead: 1e+308 gives a time outside the years 1 to 9999"),
    ({"site": "greensboro-nc", "from": "+1h", "duration": 1e308, "limit": "40kW"},
     "request body.duration: 1e+308 gives a time outside the years 1 to 9999"),
    ({"site": "greensboro-nc", "from": -1e308, "to": "+2h", "limit": "40kW"},
     "request body.from: -1e+308 gives a time outside"),
    ({"site": "greensboro-nc", "from": "+1h", "to": 1e15, "limit": "40kW"},
     "request body.to: 1000000000000000.0 gives a time outside"),
    ({"site": "greensboro-nc", "from": "+1h", "to": "+2h", "announce": -1e300,
      "limit": "40kW"}, "request body.announce: -1e+300 gives a time outside"),
    ({"site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": 1e308},
     "request body.limit: must be between 0 and 1e+12 W"),
    ({"site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "1e300W"},
     "request body.limit: must be between 0 and 1e+12 W"),
    ({"site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "40kW", "price": -1e308},
     "request body.price: must be between -1e+09 and 1e+09 per MWh"),
    # names of the wrong type were stored as their text ("['a']", "1.5") or dropped (0)
    *[({"id": bad, "site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "40kW"},
       "request body.id: expected a string") for bad in (["a"], 1.5, 0, False, {})],
    ({"id": " ", "site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "40kW"},
     "request body.id: must not be blank"),
    ({"site": ["greensboro-nc"], "from": "+1h", "to": "+2h", "limit": "40kW"},
     "request body.site: expected a string"),
    ({"zone": 5, "from": "+1h", "to": "+2h", "limit": "40kW"},
     "request body.zone: expected a string"),
])
def test_bad_events_are_422_with_one_line_and_nothing_stored(client, body, message):
    # json.dumps escapes a lone surrogate ("\\ud800"), which UTF-8 cannot carry raw
    r = client.post("/api/v1/grid/events", content=json.dumps(body).encode(),
                    headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"] and "\n" not in r.json()["detail"]
    assert stored(client.db) == []


def test_the_example_of_the_422_message_is_an_event_the_run_takes(client):
    r = client.post("/api/v1/grid/events", headers=AUTH, json=["not", "an", "object"])
    assert r.status_code == 422, r.text
    example = r.json()["detail"].split("e.g. ", 1)[1]
    r = client.post("/api/v1/grid/events", headers=AUTH, json=json.loads(example))
    assert r.status_code == 202, r.text


def test_without_the_token_nothing_is_filed(client):
    r = client.post("/api/v1/grid/events", json={"site": "greensboro-nc", "from": "+1h",
                                                  "to": "+2h", "limit": "40kW"})
    assert r.status_code == 401 and stored(client.db) == []


def test_an_event_without_an_id_gets_a_free_one(client):
    now = int(1685577600.0 + 4 * 900)  # the run is at step 4
    body = {"site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "40kW"}
    mine = client.post("/api/v1/grid/events", headers=AUTH, json={"id": f"event-{now}-2",
                                                                   **body})
    assert mine.status_code == 202, mine.text
    ids = [mine.json()["event"]["id"]]
    for _ in range(2):
        r = client.post("/api/v1/grid/events", headers=AUTH, json=body)
        assert r.status_code == 202, r.text
        ids.append(r.json()["event"]["id"])
    assert ids == [f"event-{now}-2", f"event-{now}-3", f"event-{now}-4"]
    assert sorted(e["id"] for e in stored(client.db)) == sorted(ids)


def test_an_event_for_a_run_whose_scenario_is_gone_is_409_and_stores_nothing(tmp_path):
    import sqlite3

    db = live_run_db(tmp_path / "run.db", step=4)
    con = sqlite3.connect(db)
    con.execute("UPDATE run SET scenario = ?", (str(tmp_path / "moved-away.toml"),))
    con.commit()
    con.close()
    with serving(db) as url, httpx.Client(base_url=url, timeout=30) as c:
        r = c.post("/api/v1/grid/events", headers=AUTH, json={
            "site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "40kW"})
    assert r.status_code == 409 and "moved-away.toml is gone" in r.json()["detail"], r.text
    assert stored(db) == []


def test_events_sent_at_once_without_an_id_are_all_filed_with_their_own(client):
    """Twenty requests at once chose the same free id and all but a few were refused with
    "give another id", an id the client never gave."""
    from concurrent.futures import ThreadPoolExecutor

    body = {"site": "greensboro-nc", "from": "+1h", "to": "+2h", "reduce": "25%"}
    url = str(client.base_url)

    def post(_):
        with httpx.Client(base_url=url, timeout=60) as c:
            return c.post("/api/v1/grid/events", headers=AUTH, json=body)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))
    assert [r.status_code for r in answers] == [202] * 20, [r.text for r in answers]
    ids = [r.json()["event"]["id"] for r in answers]
    assert len(set(ids)) == 20
    assert sorted(e["id"] for e in stored(client.db)) == sorted(ids)


def test_an_event_without_an_announcement_is_announced_now_as_on_the_command_line(client):
    r = client.post("/api/v1/grid/events", headers=AUTH, json={
        "site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "40kW"})
    assert r.status_code == 202, r.text
    now = 1685577600.0 + 4 * 900  # the run is at step 4
    assert r.json()["event"]["body"]["announced_unix_s"] == now


@pytest.mark.parametrize(("edit", "message"), [
    (lambda text: text.replace('start = "2023-06-01T00:00:00Z"',
                               'start = "2030-01-01T00:00:00Z"'), "changed since the run started"),
    (lambda text: "this is = = not toml\n", "changed since the run started"),
])
def test_an_event_for_a_run_whose_scenario_was_edited_is_409_and_stores_nothing(
        tmp_path, edit, message):
    """An edited file put the event on another clock (a start in 2030: an event that never
    applies, accepted); a broken one was a 422, as if the request were at fault."""
    import hashlib
    import sqlite3

    from test_grid_event_cli import LIVE

    mine = tmp_path / "live.toml"
    mine.write_text(LIVE.read_text())
    db = live_run_db(tmp_path / "run.db", step=4)
    con = sqlite3.connect(db)
    con.execute("UPDATE run SET scenario = ?, scenario_sha256 = ?",
                (str(mine), hashlib.sha256(mine.read_bytes()).hexdigest()))
    con.commit()
    con.close()
    body = {"site": "greensboro-nc", "from": "+1h", "to": "+2h", "limit": "40kW"}
    with serving(db) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert c.post("/api/v1/grid/events", headers=AUTH, json=body).status_code == 202
        mine.write_text(edit(mine.read_text()))
        r = c.post("/api/v1/grid/events", headers=AUTH, json=body)
    assert r.status_code == 409 and message in r.json()["detail"], r.text
    assert len(stored(db)) == 1


def test_grid_list_and_the_api_show_each_filed_event_pending_taken_up_or_ignored(
        capsys, tmp_path, monkeypatch):
    """The events filed with a run and what became of each, as the controller records it
    (its `grid-event` log entry, with `error` for one it could not take up): there was no
    way to see that an event had been ignored but the controller's own output."""
    from clikit import run

    db = live_run_db(tmp_path / "run.db", step=2)
    for eid in ("soon", "later", "broken"):
        code, _, err = run(capsys, "grid", "event", "--site", "tokyo-jp", "--from", "+1h",
                           "--to", "+3h", "--limit", "30kW", "--id", eid, "--db", str(db))
        assert code == 0, err
    st = Store.open(db)
    with st.tx():  # what the controller writes when it takes them up at step 3
        for eid, body in (("soon", {"id": "soon"}),
                          ("broken", {"id": "broken", "error": "event 'broken': unknown "
                                      "zone 'DE' (zones: none defined); ignored"})):
            st.con.execute("UPDATE grid_events SET applied_step = 3 WHERE id = ?", (eid,))
            st.event(3, "grid-event", body)
    st.close()
    code, out, err = run(capsys, "grid", "list", "--db", str(db), "--json")
    assert code == 0, err
    got = {e["id"]: (e["state"], e["taken_up_step"], e["error"]) for e in json.loads(out)}
    assert got == {"soon": ("taken up", 3, None), "later": ("pending", None, None),
                   "broken": ("ignored", 3, "event 'broken': unknown zone 'DE' (zones: "
                              "none defined); ignored")}
    monkeypatch.setenv("COLUMNS", "250")  # a row per event
    code, out, _ = run(capsys, "grid", "list", "--db", str(db))
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert code == 0 and set(rows) == {"soon", "later", "broken"}
    assert "taken up (step 3)" in rows["soon"] and "30.0 kW" in rows["soon"]
    assert "│ pending" in rows["later"]
    assert "ignored: event 'broken': unknown zone 'DE' (zones: none defined) " in rows["broken"]
    code, out, _ = run(capsys, "status", "--db", str(db))
    assert "grid events: 1 pending, 1 taken up, 1 ignored" in out
    with serving(db) as url:  # the same list from the service, without a token
        r = httpx.get(f"{url}/api/v1/grid/events", timeout=30)
    assert r.status_code == 200 and r.json() == json.loads(
        run(capsys, "grid", "list", "--db", str(db), "--json")[1])
