"""The service's REST API, SSE stream and /metrics on a real uvicorn server, against a run
database the real controller wrote (simulated processes, live 3-site scenario, a drain)."""

from __future__ import annotations

import itertools
import json
import sqlite3

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from servicekit import TOKEN, edited_copy, memory_run, rows, served, sse_events

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def run_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("api") / "run.db"
    assert memory_run(db, {12: [("drain", "tokyo-jp")]})["status"] == "done"
    return db


@pytest.fixture(scope="module")
def client(run_db):
    with served(run_db) as url, httpx.Client(base_url=url, timeout=20) as c:
        c.served_app = url.app
        yield c


def _events(db):
    return rows(db, "SELECT * FROM events ORDER BY seq")


def test_run_sites_and_jobs_are_the_databases(client, run_db):
    run = client.get("/api/v1/run").json()
    db_run = rows(run_db, "SELECT * FROM run")[0]
    assert (run["status"], run["step"], run["n_steps"], run["policy"]) == (
        "done", db_run["step"], db_run["n_steps"], db_run["policy"])
    assert run["sites"] == ["madrid-es", "tokyo-jp", "greensboro-nc"]
    assert run["step_s"] == 900.0 and run["paused"] is False
    sites = client.get("/api/v1/sites").json()
    db_sites = rows(run_db, "SELECT * FROM sites ORDER BY idx")
    assert [s["name"] for s in sites] == [s["name"] for s in db_sites]
    assert [s["surplus_w"] for s in sites] == [s["surplus_w"] for s in db_sites]
    assert [s["drained"] for s in sites] == [False, True, False]
    jobs = client.get("/api/v1/jobs").json()
    assert isinstance(jobs, list) and [j["name"] for j in jobs] == [
        "job-a", "job-b", "job-c", "job-d"]
    names = [s["name"] for s in db_sites]
    for j, r in zip(jobs, rows(run_db, "SELECT * FROM jobs ORDER BY idx"), strict=True):
        assert (j["phase"], j["site"], j["real_step"], j["progress"], j["pinned"]) == (
            r["phase"], names[r["site"]], r["real_step"], 1.0, False)


def test_migrations_and_placements_follow_the_event_log(client, run_db):
    migs = client.get("/api/v1/migrations").json()
    logged = [(r["job"], json.loads(r["body"])["src"], json.loads(r["body"])["dst"])
              for r in _events(run_db) if r["kind"] == "migrate"]
    assert [(m["job"], m["src"], m["dst"]) for m in migs] == logged
    assert all(m["finished"] and m["phase"] == "done" and m["bytes_moved"] == 100_000
               for m in migs)
    assert {m["by"] for m in migs} == {"policy", "operator"}
    stays = client.get("/api/v1/placements").json()
    for job in ("job-a", "job-b", "job-c", "job-d"):
        mine = [s for s in stays if s["job"] == job]
        # one stay per place or move, each starting where the previous one ended
        assert len(mine) == 1 + sum(1 for m in migs if m["job"] == job)
        assert all(a["to_step"] == b["from_step"] for a, b in itertools.pairwise(mine))
        assert mine[-1]["to_step"] is not None  # done


def test_events_are_paged_in_id_order(client, run_db):
    want = [r["seq"] for r in _events(run_db)]
    got, after = [], 0
    while True:
        page = client.get("/api/v1/events", params={"after": after, "limit": 37}).json()
        if not page:
            break
        got += [e["id"] for e in page]
        after = page[-1]["id"]
    assert got == want
    first = client.get("/api/v1/events", params={"limit": 1}).json()[0]
    assert first["kind"] == "run-start" and first["data"]["policy"] == "feasibility-aware"


def test_timeline_has_every_booked_step_with_its_job_load(client, run_db):
    tl = client.get("/api/v1/timeline").json()
    booked = {r["step"]: json.loads(r["body"]) for r in _events(run_db)
              if r["kind"] == "booked"}
    assert tl["steps"] == list(range(48))
    for i, site in enumerate(["madrid-es", "tokyo-jp", "greensboro-nc"]):
        load = tl["sites"][site]["job_load_w"]
        assert load == [booked[t]["job_load_w"][i] if t in booked else 0.0
                        for t in tl["steps"]]
    assert sum(sum(s["job_load_w"]) for s in tl["sites"].values()) > 0


def test_feasibility_lists_no_candidates_when_nothing_runs(client):
    f = client.get("/api/v1/feasibility").json()
    assert f["alpha"] == pytest.approx(0.1) and f["moves"] == []


def test_openapi_lists_the_reads_and_no_write_without_a_token(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/run", "/api/v1/sites", "/api/v1/jobs", "/api/v1/migrations",
            "/api/v1/events", "/api/v1/events/stream"} <= set(spec["paths"])
    assert not any("post" in ops for ops in spec["paths"].values())
    for path in ("/api/v1/sites/tokyo-jp/drain", "/api/v1/jobs/job-a/pin",
                 "/api/v1/policy/pause", "/api/v1/grid/events"):
        r = client.post(path, headers=AUTH)
        # it says why, where a bare "Not Found" left the client guessing
        assert r.status_code == 404, path
        assert "started without a token" in r.json()["detail"], path
        assert "--token-file" in r.json()["detail"], path


def _metrics(client) -> dict:
    out = {}
    for fam in text_string_to_metric_families(client.get("/metrics").text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_parse_and_their_counters_equal_the_database(client, run_db):
    m = _metrics(client)
    evs = _events(run_db)
    booked = [json.loads(r["body"]) for r in evs if r["kind"] == "booked"]
    sites = ["madrid-es", "tokyo-jp", "greensboro-nc"]
    # jobs by state
    phases = {}
    for r in rows(run_db, "SELECT phase FROM jobs"):
        phases[r["phase"]] = phases.get(r["phase"], 0) + 1
    assert {k[1][0][1]: v for k, v in m.items() if k[0] == "greenhop_jobs"} == phases
    # migrations by phase, and started
    n_moves = sum(1 for r in evs if r["kind"] == "migrate")
    assert m[("greenhop_migrations", (("phase", "done"),))] == n_moves
    assert m[("greenhop_migrations_started_total", ())] == n_moves
    led = json.loads(rows(run_db, "SELECT ledger FROM run")[0]["ledger"])
    assert m[("greenhop_transferred_bytes_total", ())] == led["fleet"]["counters"][
        "bytes_moved"] == n_moves * 100_000
    # the jobs' non-renewable energy and each site's grid energy over the booked steps
    job_j = sum(sum(b["job_grid_w"]) * b["step_s"] for b in booked)
    assert m[("greenhop_job_nonrenewable_joules_total", ())] == pytest.approx(job_j)
    assert job_j > 0
    for i, s in enumerate(sites):
        grid = sum(b["grid_w"][i] * b["step_s"] for b in booked)
        assert m[("greenhop_site_grid_import_joules_total", (("site", s),))] == \
            pytest.approx(grid)
        last = booked[-1]
        assert m[("greenhop_site_grid_import_watts", (("site", s),))] == last["grid_w"][i]
        assert m[("greenhop_site_renewable_used_watts", (("site", s),))] == pytest.approx(
            max(0.0, last["demand_w"][i] - last["grid_w"][i]))
    for r in rows(run_db, "SELECT * FROM sites"):
        assert m[("greenhop_site_surplus_watts", (("site", r["name"]),))] == r["surplus_w"]
    # the reconcile-loop histogram holds every pass of every booked step
    passes = sum(b["reconcile"]["count"] for b in booked)
    assert passes > 48
    assert m[("greenhop_reconcile_loop_duration_seconds_count", ())] == passes
    assert m[("greenhop_reconcile_loop_duration_seconds_bucket", (("le", "+Inf"),))] == passes
    assert m[("greenhop_reconcile_loop_duration_seconds_sum", ())] == pytest.approx(
        sum(b["reconcile"]["sum"] for b in booked))
    # every finished migration has a save, transfer and restore phase in the histogram
    for phase in ("save", "transfer", "restore"):
        assert m[("greenhop_migration_phase_duration_seconds_count",
                  (("phase", phase),))] == n_moves
    assert m[("greenhop_run_finished", ())] == 1.0


def _read_sse(client, headers=None, until_kind="run-done", params=None, timeout_s=30.0):
    with client.stream("GET", "/api/v1/events/stream", headers=headers or {},
                       params=params or {}, timeout=timeout_s) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        return list(sse_events(r.iter_lines(), (until_kind,)))


def test_the_event_stream_delivers_every_event_in_order(client, run_db):
    want = _events(run_db)
    got = _read_sse(client)
    assert [g["id"] for g in got] == [r["seq"] for r in want]
    assert [g["event"] for g in got] == [r["kind"] for r in want]
    assert [g["data"]["data"] for g in got] == [json.loads(r["body"]) for r in want]
    # a reconnecting client sends Last-Event-ID and gets the rest, nothing twice
    mid = want[len(want) // 2]["seq"]
    rest = _read_sse(client, headers={"Last-Event-ID": str(mid)})
    assert [g["id"] for g in rest] == [r["seq"] for r in want if r["seq"] > mid]


def test_the_event_stream_matches_the_exported_log(client, run_db, tmp_path):
    from greenhop.runtime.event_log import export_events, read_events
    from greenhop.runtime.store import Store

    st = Store.open(run_db)
    try:
        log = read_events(export_events(st, tmp_path / "events.jsonl"))
    finally:
        st.close()
    got = _read_sse(client)
    assert [(g["id"], g["event"], g["data"]["data"]) for g in got] == [
        (e["seq"], e["kind"], e["body"]) for e in log]


def test_out_of_range_event_ids_are_refused_or_ignored_never_a_500(client, run_db):
    for after in (2**63, 10**30):
        r = client.get("/api/v1/events", params={"after": after})
        assert r.status_code == 422 and "after" in r.text, (after, r.text)
        with client.stream("GET", "/api/v1/events/stream", params={"after": after}) as s:
            assert s.status_code == 422
    # "²" and "1¹" pass str.isdigit() but not int(), nor does a number of 5000 digits
    # (int() stops at 4300): the header is ignored, as "abc" is
    n = len(_events(run_db))
    for bad in ("²".encode("latin-1"), "1¹".encode("latin-1"), b"abc", str(2**64).encode(),
                b"9" * 5000):
        got = _read_sse(client, headers={"Last-Event-ID": bad})
        assert len(got) == n, bad


def test_the_shared_views_stay_bounded_whatever_the_clients_ask(client):
    from greenhop.service.app import MAX_VIEWS

    state = client.served_app.state
    for limit in range(1, MAX_VIEWS + 60):
        assert client.get("/api/v1/events", params={"limit": limit}).status_code == 200
    assert 0 < len(state.views) <= MAX_VIEWS


def test_head_answers_like_get_without_a_body(client):
    for path in ("/api/v1/run", "/api/v1/jobs", "/metrics", "/"):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200, (path, head.status_code)
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.content == b""
    assert client.head("/api/v1/nowhere").status_code == 404


def test_head_on_the_event_stream_answers_the_headers_and_ends(client):
    # the stream's body never ends: a HEAD that waited for it would hold the connection
    with httpx.Client(base_url=str(client.base_url), timeout=5) as c:
        head = c.head("/api/v1/events/stream")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"].startswith("text/event-stream")
        assert head.headers["cache-control"] == "no-cache"
        # the same keep-alive connection answers the next request at once
        assert c.get("/api/v1/run").status_code == 200


def test_work_done_is_the_books_share_of_modelled_work_not_the_trainers_steps(run_db, tmp_path):
    """A job whose trainer has run all its steps but whose modelled work is half done in
    the run's books (the books set the pace) shows `progress` 1.0 and `work_done` 0.5:
    the run counts it unfinished, and so does the API."""
    from greenhop.service.data import build_scenario_inputs

    led = json.loads(rows(run_db, "SELECT ledger FROM run")[0]["ledger"])
    work = build_scenario_inputs(rows(run_db, "SELECT scenario FROM run")[0]["scenario"]
                                 )[1].job_work_gpu_s
    led["fleet"]["remaining_gpu_s"][1] = 0.5 * float(work[1])
    db = edited_copy(run_db, tmp_path / "half.db")
    con = sqlite3.connect(db)
    con.execute("UPDATE run SET ledger = ? WHERE id = 1", (json.dumps(led),))
    con.commit()
    con.close()
    with served(db) as url, httpx.Client(base_url=url, timeout=20) as c:
        jobs = {j["name"]: j for j in c.get("/api/v1/jobs").json()}
    assert jobs["job-b"]["progress"] == 1.0
    assert jobs["job-b"]["work_done"] == pytest.approx(0.5)
    assert all(jobs[n]["work_done"] == 1.0 for n in ("job-a", "job-c", "job-d"))


def test_a_405_allows_head_beside_get(client):
    """Every GET route answers HEAD too; the 405 said ``Allow: GET``."""
    for method, path in (("POST", "/api/v1/run"), ("DELETE", "/api/v1/jobs"),
                         ("OPTIONS", "/metrics"), ("PUT", "/api/v1/events")):
        r = client.request(method, path)
        assert r.status_code == 405, (method, path, r.status_code)
        assert r.headers["allow"] == "GET, HEAD", (method, path, r.headers["allow"])
        assert client.head(path).status_code == 200


def test_the_trailing_slash_redirect_names_no_host(client):
    """The redirect's Location was built from the Host header (an absolute URL to any host
    a client named)."""
    for path, want in (("/api/v1/sites/", "/api/v1/sites"),
                       ("/api/v1/events/?after=3&limit=2", "/api/v1/events?after=3&limit=2")):
        r = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == want, (path, r.headers)
        assert client.get(path, follow_redirects=True).status_code == 200  # the same server


def test_the_job_grid_counter_says_what_it_counts_and_that_it_is_not_job_nr_kwh(client):
    """Its HELP said "the jobs' non-renewable (grid) energy", as metrics.json's job_nr_kwh is
    described, though it sums min(job load, grid import) per step: lower with a battery."""
    fams = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    doc = fams["greenhop_job_nonrenewable_joules"].documentation
    assert "min(job load, grid import)" in doc and "per site and booked step" in doc
    assert "Not metrics.json's job_nr_kwh" in doc and "battery" in doc


@pytest.mark.parametrize(("path", "needle"), [
    ("/api/v1/events?after=-1", "query parameter after: "),
    ("/api/v1/events?limit=0", "query parameter limit: "),
    ("/api/v1/events?after=ten", "query parameter after: "),
])
def test_a_bad_query_parameter_is_a_one_line_detail_naming_it(client, path, needle):
    """FastAPI answered a list of objects here; every other 4xx is one line."""
    r = client.get(path)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail.startswith(needle) and "\n" not in detail, detail
