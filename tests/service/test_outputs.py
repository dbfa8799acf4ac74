"""``greenhop serve --outputs``: finished simulation and sweep folders under
``/api/v1/outputs``, on a real uvicorn server; nothing outside the folders is served."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servicekit import TOKEN, free_port, greenhop_cmd, memory_run

SIM_TESTS = Path(__file__).resolve().parents[1] / "sim"
if str(SIM_TESTS) not in sys.path:
    sys.path.insert(0, str(SIM_TESTS))

import sweepkit  # noqa: E402

from greenhop.cli.main import main  # noqa: E402
from greenhop.core.errors import ConfigError  # noqa: E402
from greenhop.service.outputs import NO_RUN, scan_outputs  # noqa: E402

RUN_PATHS = ("/run", "/sites", "/jobs", "/migrations", "/events", "/events/stream",
             "/timeline", "/placements", "/feasibility", "/grid/events", "/figures/timeline",
             "/figures/placement", "/figures/feasibility")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """A finished simulation folder, a second one with the same folder name and no report,
    and a finished sweep folder, each written by greenhop itself."""
    from greenhop.sim.api import simulate
    from greenhop.sim.sweep import prepare_sweep, run_sweep

    root = tmp_path_factory.mktemp("outputs")
    scenario = sweepkit.write(root, horizon="1d", jobs=3)
    result = simulate(scenario, policies=["static", "energy-greedy"])
    result.write(root / "sim")
    result.write(root / "other" / "sim", report=False)
    spec = prepare_sweep(scenario, seeds="1-2", policies=["static", "energy-greedy"])
    run_sweep(spec, root / "sweep", serial=True)
    (root / "secret.txt").write_text("not for the web\n")
    return {"sim": root / "sim", "sim2": root / "other" / "sim", "sweep": root / "sweep",
            "root": root}


@contextlib.contextmanager
def serving(outputs, db: Path | None = None, token: str | None = None):
    """The service with ``outputs`` (and the run ``db``) on uvicorn in a thread."""
    import uvicorn

    from greenhop.service.app import create_app

    app = create_app(db, token=token, outputs=outputs)
    if db is not None:
        app.state.reader.scenario_inputs(wait=True)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=1))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and th.is_alive(), "the service did not start"
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        th.join(timeout=10)


@pytest.fixture(scope="module")
def client(folders):
    outs = scan_outputs([folders["sim"], folders["sweep"], folders["sim2"]])
    with serving(outs) as c:
        yield c


def test_the_list_names_each_folder_uniquely_with_its_kind_policies_and_scenario(
        client, folders):
    r = client.get("/api/v1/outputs")
    assert r.status_code == 200
    got = {e["name"]: e for e in r.json()}
    assert list(got) == ["sim", "sweep", "sim-2"]
    assert got["sim"] == {"name": "sim", "kind": "simulation", "path": str(folders["sim"]),
                          "policies": ["energy-greedy", "static"],
                          "scenario": "sweep-small", "report": True}
    assert got["sweep"]["kind"] == "sweep" and got["sweep"]["scenario"] == "sweep-small"
    assert got["sweep"]["policies"] == ["static", "energy-greedy"]
    assert got["sim-2"]["path"] == str(folders["sim2"]) and got["sim-2"]["report"] is False
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/outputs", "/api/v1/outputs/{name}",
            "/api/v1/outputs/{name}/report"} <= set(paths)


def test_each_output_is_its_metrics_or_summary_file(client, folders):
    sim = client.get("/api/v1/outputs/sim")
    assert sim.status_code == 200 and sim.headers["content-type"] == "application/json"
    assert sim.json() == json.loads((folders["sim"] / "metrics.json").read_text())
    sweep = client.get("/api/v1/outputs/sweep")
    assert sweep.json() == json.loads((folders["sweep"] / "summary.json").read_text())


def test_the_report_is_the_folders_html_file_byte_for_byte(client, folders):
    for name, folder in (("sim", folders["sim"]), ("sweep", folders["sweep"])):
        r = client.get(f"/api/v1/outputs/{name}/report")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert r.content == (folder / "report.html").read_bytes()


def test_a_report_is_sent_gzipped_to_a_client_that_asks_and_plain_to_one_that_does_not(
        client, folders):
    import gzip

    page = (folders["sim"] / "report.html").read_bytes()
    with client.stream("GET", "/api/v1/outputs/sim/report",
                       headers={"Accept-Encoding": "gzip"}) as r:
        wire = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip"
    assert gzip.decompress(wire) == page and len(wire) < len(page) / 2
    with client.stream("GET", "/api/v1/outputs/sim/report",
                       headers={"Accept-Encoding": "identity"}) as r:
        wire = b"".join(r.iter_raw())
    assert "content-encoding" not in r.headers and wire == page


def test_unknown_names_and_a_missing_report_are_404_with_a_message(client):
    r = client.get("/api/v1/outputs/nope")
    assert r.status_code == 404 and "unknown output 'nope'" in r.json()["detail"]
    assert "sim, sweep, sim-2" in r.json()["detail"]
    assert client.get("/api/v1/outputs/nope/report").status_code == 404
    r = client.get("/api/v1/outputs/sim-2/report")
    assert r.status_code == 404 and "no report.html" in r.json()["detail"]


def test_a_missing_report_is_explained_by_what_the_folder_is(tmp_path):
    """"written with --no-report?" was said of a live run's folder (a live run writes no
    report) and of a folder deleted while served."""
    from greenhop.service.outputs import Output

    (tmp_path / "live").mkdir()
    live = Output("live", "live", tmp_path / "live", tmp_path / "live" / "metrics.json")
    assert live.report() is None and live.why_no_report() == "a live run writes none"
    sim = Output("sim", "simulation", tmp_path / "sim", tmp_path / "sim" / "metrics.json")
    assert sim.why_no_report() == f"its folder {tmp_path / 'sim'} is gone"
    (tmp_path / "sim").mkdir()
    assert "written with --no-report?" in sim.why_no_report()


@pytest.mark.parametrize("path", [
    "/api/v1/outputs/..", "/api/v1/outputs/../report", "/api/v1/outputs/%2e%2e/report",
    "/api/v1/outputs/sim%2F..%2Fsecret.txt", "/api/v1/outputs/sim/..%2F..%2Fsecret.txt",
    "/api/v1/outputs/sim/metrics.json", "/api/v1/outputs/sim/report.html",
    "/api/v1/outputs/..%2Fsecret.txt/report", "/api/v1/outputs/sim%2Freport.html",
    "/api/v1/outputs/%2Fetc%2Fpasswd", "/api/v1/outputs/sim/report/..%2F..%2Fsecret.txt",
])
def test_path_tricks_never_reach_the_disk(client, path):
    r = client.get(path)
    assert r.status_code == 404, (path, r.text[:200])
    assert b"not for the web" not in r.content and b"root:" not in r.content


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=1, max_size=30).filter(lambda s: s not in {"sim", "sweep",
                                                                         "sim-2"}))
def test_any_other_name_is_404(client, name):
    from urllib.parse import quote

    listing = client.get("/api/v1/outputs").content
    for tail in ("", "/report"):
        r = client.get(f"/api/v1/outputs/{quote(name, safe='')}{tail}", follow_redirects=True)
        # a name of slashes alone only redirects to the listing (the router's trailing slash)
        assert r.status_code == 404 or r.content == listing, (name, r.status_code)
        assert b"not for the web" not in r.content


def test_a_report_link_leading_outside_its_folder_is_not_served(folders, tmp_path):
    import shutil

    folder = tmp_path / "linked"
    folder.mkdir()
    shutil.copy(folders["sim"] / "metrics.json", folder / "metrics.json")
    (folder / "report.html").symlink_to(folders["root"] / "secret.txt")
    with serving(scan_outputs([folder])) as c:
        assert c.get("/api/v1/outputs").json()[0]["report"] is False
        r = c.get("/api/v1/outputs/linked/report")
        assert r.status_code == 404 and b"not for the web" not in r.content


def test_a_data_file_link_leading_outside_its_folder_is_never_served(folders, tmp_path):
    import shutil

    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"secret": "not for the web", "policies": {},
                                   "scenario": {}}))
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "metrics.json").symlink_to(outside)
    with pytest.raises(ConfigError, match="not a plain file in this folder"):
        scan_outputs([linked])
    # swapped for a link after the service started: 404, and the listing still answers
    swapped = tmp_path / "swapped"
    shutil.copytree(folders["sim"], swapped)
    with serving(scan_outputs([swapped, folders["sweep"]])) as c:
        assert c.get("/api/v1/outputs/swapped").status_code == 200
        (swapped / "metrics.json").unlink()
        (swapped / "metrics.json").symlink_to(outside)
        r = c.get("/api/v1/outputs/swapped")
        assert r.status_code == 404 and b"not for the web" not in r.content, r.text
        listing = c.get("/api/v1/outputs")
        assert listing.status_code == 200 and b"not for the web" not in listing.content
        assert [e["name"] for e in listing.json()] == ["swapped", "sweep"]


def test_an_output_nested_too_deeply_is_refused_or_404_never_a_500(folders, tmp_path, capsys):
    import shutil

    deep = "[" * 100_000 + "]" * 100_000
    bad = tmp_path / "deep"
    bad.mkdir()
    (bad / "metrics.json").write_text('{"policies": {}, "scenario": {}, "x": ' + deep + "}")
    code, err = _cli(capsys, "--outputs", str(bad), "--port", str(free_port()))
    assert code == 2 and "nested too deeply" in err and len(err.strip().splitlines()) == 1, err
    later = tmp_path / "later"
    shutil.copytree(folders["sweep"], later)
    with serving(scan_outputs([later, folders["sim"]])) as c:
        (later / "summary.json").write_text('{"policies": [], "points": ' + deep + "}")
        r = c.get("/api/v1/outputs/later")
        assert r.status_code == 404 and "nested too deeply" in r.json()["detail"], r.text
        listing = c.get("/api/v1/outputs")
        assert listing.status_code == 200
        assert [e["name"] for e in listing.json()] == ["later", "sim"]


def test_without_a_run_the_run_endpoints_answer_404_no_live_run(client):
    for path in RUN_PATHS:
        r = client.get(f"/api/v1{path}")
        assert r.status_code == 404, (path, r.status_code, r.text[:200])
        assert r.json()["detail"] == NO_RUN, path
    assert client.get("/metrics").status_code == 404


def test_without_a_run_the_page_lists_the_outputs_and_polls_nothing(client):
    """``/`` was the live-run dashboard, whose script polled the run's endpoints (404 here)
    for ever."""
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert NO_RUN in page and "<script" not in page  # nothing to poll with
    for name, report in (("sim", True), ("sweep", True), ("sim-2", False)):
        assert f'data-output="{name}"' in page
        assert f'href="/api/v1/outputs/{name}"' in page
        assert (f'href="/api/v1/outputs/{name}/report"' in page) == report, name


@pytest.mark.slow
def test_without_a_run_the_page_works_in_a_browser(client, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "viz"))
    import chromekit

    drv = chromekit.driver(tmp_path, height=900)
    try:
        drv.get(f"{client.base_url}/")
        time.sleep(1.0)  # a page that polled would have asked by now
        links = drv.execute_script(
            "return Array.from(document.querySelectorAll('#outputs a')).map(a => a.href);")
        loaded = chromekit.resources(drv)
        errors = chromekit.console_errors(drv)
        drv.get(next(u for u in links if u.endswith("/sim/report")))
        drawn = drv.execute_script("return document.querySelectorAll('.js-plotly-plot').length;")
        errors += chromekit.console_errors(drv)
    finally:
        drv.quit()
    assert errors == []
    assert not [u for u in loaded if "/api/v1/" in u], loaded  # no run API polled
    assert chromekit.outside(loaded) == [] and drawn > 0


def test_outputs_are_served_beside_a_run(folders, tmp_path):
    db = tmp_path / "run.db"
    memory_run(db)
    with serving(scan_outputs([folders["sim"]]), db=db, token=TOKEN) as c:
        assert c.get("/api/v1/run").json()["status"] == "done"
        assert [e["name"] for e in c.get("/api/v1/outputs").json()] == ["sim"]
        assert c.get("/api/v1/outputs/sim").json()["scenario"]["name"] == "sweep-small"


# ---------------------------------------------------------------- the command line


def _cli(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(["serve", *args])
    return info.value.code or 0, capsys.readouterr().err


def test_a_folder_that_is_not_an_output_is_refused_before_serving(capsys, folders, tmp_path):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "manifest.json").write_text('{"greenhop_sweep": 1}\n')
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metrics.json").write_text("{not json")
    alien = tmp_path / "alien"
    alien.mkdir()
    (alien / "metrics.json").write_text('{"loss": 0.1}')
    cases = [(tmp_path, "not a greenhop output"),
             (tmp_path / "missing", "no such directory"),
             (folders["root"] / "secret.txt", "is a file"),
             (unfinished, "a sweep that has not finished"),
             (broken, "cannot be read as JSON"),
             (alien, "is not greenhop's")]
    for path, words in cases:
        code, err = _cli(capsys, "--outputs", str(folders["sim"]), "--outputs", str(path),
                         "--port", str(free_port()))
        assert code == 2, (path, err)
        assert f"--outputs {path}" in err and words in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_serving_nothing_or_actions_without_a_run_is_refused(capsys, folders, tmp_path,
                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = _cli(capsys, "--port", str(free_port()))
    assert code == 2 and "nothing to serve" in err and "--outputs" in err, err
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    code, err = _cli(capsys, "--outputs", str(folders["sim"]), "--token-file", str(token))
    assert code == 2 and "--token-file" in err and "--db" in err, err
    assert len(err.strip().splitlines()) == 1


def test_greenhop_serve_outputs_serves_them(folders, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(greenhop_cmd("serve", "--outputs", str(folders["sim"]),
                                             "--outputs", str(folders["sweep"]),
                                             "--port", str(port)),
                                stdout=subprocess.DEVNULL, stderr=fh, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/outputs", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the service did not answer"
                time.sleep(0.2)
        assert [(e["name"], e["kind"]) for e in r.json()] == [("sim", "simulation"),
                                                               ("sweep", "sweep")]
        page = httpx.get(f"http://127.0.0.1:{port}/api/v1/outputs/sweep/report", timeout=5)
        assert page.content == (folders["sweep"] / "report.html").read_bytes()
        assert "2 outputs (/api/v1/outputs)" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
