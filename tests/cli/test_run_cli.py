"""``greenhop run | status | replay | compare``: Ctrl-C and resume, and clear errors for bad
scenarios and commands (the database is never left inconsistent)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from greenhop.cli import main as cli_main

pytest.importorskip("torch")

SCENARIOS = Path(__file__).resolve().parents[2] / "src" / "greenhop" / "data" / "scenarios"
LIVE = SCENARIOS / "live-3site.toml"
CHAOS = SCENARIOS / "live-chaos.toml"
TRAIN = ["--train-steps", "300", "--checkpoint-every", "25", "--step-sleep", "0.01"]


def cli(*args: str, timeout: float = 240, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "greenhop", *args], capture_output=True,
                          text=True, timeout=timeout, **kw)


def inproc(capsys, *args: str) -> tuple[int, str]:
    """Run the CLI in this process; (exit code, stderr)."""
    with pytest.raises(SystemExit) as exc:
        cli_main.main(list(args))
    return int(exc.value.code or 0), capsys.readouterr().err


def _procs_under(path: Path) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if str(path) in cmd and state != "Z":
                out.append(int(p.name))
    return out


def _kill_under(path: Path) -> None:
    for pid in _procs_under(path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _jobs(db: Path) -> list[dict]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        con.row_factory = sqlite3.Row
        rows = [dict(r) for r in con.execute("SELECT * FROM jobs")]
        con.close()
        return rows
    except sqlite3.Error:
        return []


@pytest.fixture(scope="module")
def stopped_then_resumed(tmp_path_factory):
    """A run interrupted by Ctrl-C (SIGINT) once jobs train, then resumed to the end."""
    work = tmp_path_factory.mktemp("ctrlc") / "run"
    work.mkdir(parents=True)
    db = work / "run.db"
    facts = {}
    with open(work / "first.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "greenhop", "run", str(LIVE), "--workdir", str(work),
             "--time-scale", "900", *TRAIN], stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            running = [j for j in _jobs(db) if j["phase"] == "running" and j["real_step"] > 0]
            if len(running) >= 2:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no job started training")
        facts["live_status"] = json.loads(cli("status", "--db", str(db), "--json").stdout)
        facts["live_human"] = cli("status", "--db", str(db)).stdout
        os.kill(proc.pid, signal.SIGINT)
        facts["first_code"] = proc.wait(timeout=120)
        facts["first_log"] = (work / "first.log").read_text()
        facts["after_stop_procs"] = _procs_under(work)
        facts["after_stop_jobs"] = _jobs(db)
        facts["after_stop_status"] = json.loads(
            cli("status", "--db", str(db), "--json").stdout)
        facts["after_stop_ckpts"] = {
            j["name"]: sorted(p.name for p in (work / "sites" / j["site"] / j["name"])
                              .glob("step-*")) for j in facts["after_stop_status"]["jobs"]
            if j["site"]}
        second = cli("run", str(LIVE), "--workdir", str(work), "--time-scale", "18000", *TRAIN,
                     timeout=300)
        facts["second"] = second
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_under(work)
    return work, facts


@pytest.mark.slow
def test_status_shows_a_live_run(stopped_then_resumed):
    _work, f = stopped_then_resumed
    snap = f["live_status"]
    assert snap["run"]["status"] == "live" and snap["run"]["owner_pid"]
    assert {s["name"] for s in snap["sites"]} == {"madrid-es", "tokyo-jp", "greensboro-nc"}
    assert all(s["surplus_w"] is not None and s["agent_url"] for s in snap["sites"])
    assert any(j["phase"] == "running" and j["step"] > 0 for j in snap["jobs"])
    assert "migrations in progress" in f["live_human"] and "surplus kW" in f["live_human"]


@pytest.mark.slow
def test_ctrl_c_checkpoints_every_job_and_exits_clean(stopped_then_resumed):
    _work, f = stopped_then_resumed
    assert f["first_code"] == 0, f["first_log"][-2000:]
    assert "every job checkpointed" in f["first_log"]
    assert f["after_stop_procs"] == []          # no trainer, no agent left behind
    assert f["after_stop_status"]["run"]["status"] == "stopped"
    for j in f["after_stop_jobs"]:  # at rest: stopped, not started, done, or done training
        assert j["phase"] in ("stopped", "pending", "queued", "done") or (
            j["phase"] == "running" and j["real_step"] == j["total_steps"]), j
        assert j["trainer_pid"] is None
    trained = [j for j in f["after_stop_jobs"] if j["phase"] == "stopped"]
    assert trained
    for j in trained:                            # the checkpoint holds the step it stopped at
        steps = f["after_stop_ckpts"][j["name"]]
        assert steps and int(steps[-1].split("-")[1]) == j["real_step"]


@pytest.mark.slow
def test_starting_again_resumes_the_run_to_the_end(stopped_then_resumed):
    work, f = stopped_then_resumed
    second = f["second"]
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed run" in second.stderr
    status = json.loads(cli("status", "--db", str(work / "run.db"), "--json").stdout)
    assert status["run"]["status"] == "done"
    assert all(j["phase"] == "done" and j["step"] == 300 for j in status["jobs"])
    rep = cli("replay", str(work / "run.db"), "--json")
    assert rep.returncode == 0, rep.stdout + rep.stderr
    out = json.loads(rep.stdout)
    assert out["mismatches"] == [] and out["same_as_sim"]
    human = cli("status", "--db", str(work / "run.db"))
    assert "job-a" in human.stdout and "madrid-es" in human.stdout


def test_status_of_an_unknown_job_and_a_finished_run_are_clear_errors(stopped_then_resumed,
                                                                      capsys):
    work, _ = stopped_then_resumed
    db = str(work / "run.db")
    code, err = inproc(capsys, "status", "--db", db, "--job", "nope")
    assert code == 2 and "unknown job 'nope'" in err and "job-a" in err
    code, err = inproc(capsys, "run", str(LIVE), "--db", db, "--workdir", str(work))
    assert code == 2 and "already finished" in err
    code, err = inproc(capsys, "run", str(CHAOS), "--db", db, "--workdir", str(work))
    assert code == 2 and "other contents" in err
    # from another work directory: refused before it is made (it got a lock, logs, a
    # secret and a copy of the run's events, and the refusal said events.jsonl lacked the
    # run's end, of the new folder)
    other = work.parent / "elsewhere"
    for scenario, says in ((LIVE, "already finished"), (CHAOS, "other contents")):
        code, err = inproc(capsys, "run", str(scenario), "--db", db, "--workdir", str(other))
        assert code == 2 and says in err and "lacked the run's end" not in err, err
        assert not other.exists()


def test_bad_scenarios_and_options_get_one_line_errors(tmp_path, capsys):
    w = str(tmp_path / "w")
    code, err = inproc(capsys, "run", str(tmp_path / "missing.toml"), "--workdir", w)
    assert code == 2 and "no such scenario file" in err
    code, err = inproc(capsys, "run", str(LIVE), "--policy", "nope", "--workdir", w)
    assert code == 2 and "unknown policy" in err.lower()
    code, err = inproc(capsys, "run", str(LIVE), "--time-scale", "0", "--workdir", w)
    assert code == 2 and "--time-scale" in err
    # a step longer than --max-wall: it sat at step 0 for the hour (1e-9: 28,000 years)
    code, err = inproc(capsys, "run", str(LIVE), "--time-scale", "1e-9", "--workdir", w)
    assert code == 2 and "longer than --max-wall (1 h): the run would stop before its " \
        "first step" in " ".join(err.split())
    assert not (tmp_path / "w").exists()
    code, err = inproc(capsys, "run", str(LIVE), "--workload", "resnet", "--workdir", w)
    assert code == 2 and "unknown workload" in err
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nhorizon = "-1h"\n')
    code, err = inproc(capsys, "run", str(bad), "--workdir", w)
    assert code == 2 and "Traceback" not in err
    # A policy that rescales jobs cannot run live: refused before any process starts.
    code, err = inproc(capsys, "run", str(LIVE), "--policy", "carbonscaler", "--workdir", w)
    assert code == 2 and "carbonscaler" in err and "scales" in err and "Traceback" not in err
    assert _procs_under(tmp_path / "w") == []
    # ... and a policy that sees the future, before the work directory is made
    for name in ("oracle-window", "oracle-planner"):
        fresh = tmp_path / f"w-{name}"
        code, err = inproc(capsys, "run", str(LIVE), "--policy", name, "--workdir", str(fresh))
        assert code == 2 and f"policy '{name}' sees the future" in err, err
        assert not fresh.exists()
    # ... and a forecasting policy whose default 24 h forecast horizon passes the history
    short = tmp_path / "short-history.toml"
    short.write_text(LIVE.read_text().replace('history = "3d"', 'history = "2h"'))
    fresh = tmp_path / "w-forecasts"
    code, err = inproc(capsys, "run", str(short), "--policy", "forecast-feasibility",
                       "--workdir", str(fresh))
    assert code == 2 and "short-history.toml: forecast.horizon (24 h unless" in err, err
    assert "longer than the history (2 h)" in err and not fresh.exists()
    code, err = inproc(capsys, "status", "--db", str(tmp_path / "none.db"))
    assert code == 2 and "no run database" in err
    code, err = inproc(capsys, "replay", str(tmp_path / "none.jsonl"))
    assert code == 2 and "no such event log" in err
    (tmp_path / "m.json").write_text("{}")
    code, err = inproc(capsys, "compare", str(tmp_path / "m.json"), str(tmp_path / "m.json"))
    assert code == 2 and "not a greenhop metrics.json" in err
    # a sweep's summary.json (a list of policies), policies that are not tables, deep JSON
    for i, text in enumerate(('{"policies": ["static"], "points": []}', '{"policies": 5}',
                              '{"policies": {"static": 5}}', "[" * 100_000)):
        other = tmp_path / f"other{i}.json"
        other.write_text(text)
        code, err = inproc(capsys, "compare", str(other), str(tmp_path / "m.json"))
        assert code == 2 and f"{other}: not a greenhop metrics.json" in err, (text[:20], err)
        assert "Traceback" not in err
    cut = tmp_path / "cut.json"
    cut.write_text('{"policies": {"static": {"job_nr_kwh": 1')
    code, err = inproc(capsys, "compare", str(cut), str(cut))
    assert code == 2 and f"{cut}: not valid JSON (" in err and "line 1" in err
    a, b, words = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "w.json"
    a.write_text('{"policies": {"static": {"job_nr_kwh": 2.0}}}')
    b.write_text('{"policies": {"energy-greedy": {"job_nr_kwh": 1.0}}}')
    words.write_text('{"policies": {"static": {"job_nr_kwh": "two"}}}')
    code, err = inproc(capsys, "compare", str(a), str(b))
    assert code == 0 and "no policy is in both files; comparing" in " ".join(err.split())
    code, err = inproc(capsys, "compare", str(a), str(words))
    assert code == 2 and "no numeric metric in common for static" in err
    # what is not compared is said, not dropped without a word
    mixed = tmp_path / "mixed.json"
    mixed.write_text('{"policies": {"static": {"job_nr_kwh": 1.0, "met": true, "x": 3}}}')
    both = tmp_path / "both.json"
    both.write_text('{"policies": {"static": {"job_nr_kwh": 2.0, "met": 1, "y": 3}}}')
    code, err = inproc(capsys, "compare", str(mixed), str(both))
    text = " ".join(err.split())
    assert code == 0 and "note: not compared:" in text
    assert "met (yes/no in one file, a number in the other)" in text
    assert f"x (only in {mixed})" in text and f"y (only in {both})" in text
    code, err = inproc(capsys, "compare", str(a), str(words))
    assert "job_nr_kwh (a number in one file only)" in " ".join(err.split())
    for value in ("nan", "inf", "-1"):
        fresh = tmp_path / f"w-{value}"
        code, err = inproc(capsys, "run", str(LIVE), "--time-scale", value, "--workdir",
                           str(fresh))
        assert code == 2 and "--time-scale: must be a finite number > 0" in err, (value, err)
        assert not fresh.exists()  # refused before the work directory is made
    code, err = inproc(capsys, "run", str(LIVE), "--step-sleep", "2h", "--workdir",
                       str(tmp_path / "w-sleep"))
    assert code == 2 and "--step-sleep: at most 3600 s" in err, err


def test_an_older_schema_and_a_double_start_are_refused_and_nothing_changes(tmp_path, capsys):
    from greenhop.runtime.store import Store

    old = tmp_path / "old.db"
    st = Store.open(old, create=True)
    st.con.execute("UPDATE schema_version SET version = 0")
    st.close()
    # another greenhop's file, as a newer schema is: exit 2
    code, err = inproc(capsys, "status", "--db", str(old))
    assert code == 2 and "schema version 0" in err
    code, err = inproc(capsys, "run", str(LIVE), "--db", str(old), "--workdir",
                       str(tmp_path / "w"))
    assert code == 2 and "schema version 0" in err

    db = tmp_path / "live.db"
    owner = Store.open(db, create=True)
    owner.acquire()  # a controller is live on this file
    try:
        code, err = inproc(capsys, "run", str(LIVE), "--db", str(db), "--workdir",
                           str(tmp_path / "w"))
        assert code == 1 and "already live on this database" in err
        assert owner.run_row() is None  # the refused start wrote nothing
        assert owner.con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        owner.close()
    assert _procs_under(tmp_path / "w") == []


def test_directories_unreadable_files_and_unwritable_workdirs_are_one_line_errors(tmp_path,
                                                                                   capsys):
    """status / replay / run pointed at a directory or a file that is not theirs, and a
    work directory that cannot be created: one line, exit 2, nothing stored changes."""
    d = tmp_path / "adir"
    d.mkdir()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00\x01not sqlite" * 100)
    before = junk.read_bytes()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = [
        (("status", "--db", str(d)), "is a directory"),
        (("replay", str(d)), "is a directory"),
        (("run", str(LIVE), "--db", str(d), "--workdir", str(tmp_path / "w1")), "is a directory"),
        (("run", str(d), "--workdir", str(tmp_path / "w2")), "is a directory"),
        (("run", str(LIVE), "--workdir", str(blocker / "sub")), "--workdir"),
        (("run", str(LIVE), "--workdir", str(blocker)), "--workdir"),
        (("status", "--db", str(junk)), "not a greenhop run database"),
        (("replay", str(junk)), "not a JSON event"),
        (("run", str(LIVE), "--agent", "nowhere", "--workdir", str(tmp_path / "w3")),
         "SITE=URL"),
    ]
    # an event log of JSON lines that are not greenhop's events, and one of another run
    alien = tmp_path / "alien.jsonl"
    alien.write_text('{"not": "an event"}\n')
    other_run = tmp_path / "other-run.jsonl"
    other_run.write_text(json.dumps({
        "seq": 1, "step": 0, "unix_s": 0.0, "kind": "run-start", "job": None,
        "body": {"scenario": str(LIVE), "policy": "static", "sites": ["x", "y"],
                 "jobs": ["j"]}}) + "\n")
    cases += [(("replay", str(alien)), f"{alien}:1: not a greenhop event"),
              (("replay", str(other_run), "--no-sim"),
               "not the scenario of this run: the run's sites are x, y")]
    for args, what in cases:
        code, err = inproc(capsys, *args)
        assert code == 2, (args, err)
        assert what in " ".join(err.split()) and "Traceback" not in err, (args, err)
        assert len(err.strip().splitlines()) <= 4, err  # one message (wrapped by the console)
    assert junk.read_bytes() == before and blocker.read_text() == "x"
    assert _procs_under(tmp_path) == []


def test_a_start_refused_after_its_database_was_made_leaves_no_database(capsys, tmp_path):
    """A refusal found once the run database was opened (here --agent without the agents'
    token) left an empty database file with every table and no run."""
    db = tmp_path / "dbs" / "x.db"
    db.parent.mkdir()
    code, err = inproc(capsys, "run", str(LIVE), "--workdir", str(tmp_path / "work"), "--db",
                       str(db), "--agent", "madrid-es=http://127.0.0.1:9")
    assert code == 2 and "--agent: the controller needs the run's --token-file" in err
    assert list(db.parent.iterdir()) == []


def test_a_refused_start_on_an_empty_database_file_leaves_it_empty(capsys, tmp_path):
    """Given an existing 0-byte --db, a refused start wrote the schema into it (57 kB): it
    then read as a run that has not started yet, not as no run database."""
    db = tmp_path / "dbs" / "x.db"
    db.parent.mkdir()
    db.write_bytes(b"")
    code, err = inproc(capsys, "run", str(LIVE), "--workdir", str(tmp_path / "work"), "--db",
                       str(db), "--agent", "madrid-es=http://127.0.0.1:9")
    assert code == 2 and "--agent: the controller needs the run's --token-file" in err
    assert [p.name for p in db.parent.iterdir()] == ["x.db"] and db.stat().st_size == 0


def test_a_file_where_a_sites_folder_belongs_is_one_line_and_leaves_nothing(tmp_path):
    """A file at sites/tokyo-jp gave a 51-line FileExistsError traceback (exit 1)."""
    work = tmp_path / "run"
    (work / "sites").mkdir(parents=True)
    (work / "sites" / "tokyo-jp").write_text("junk")
    try:
        r = cli("run", str(LIVE), "--workdir", str(work), "--time-scale", "18000", *TRAIN,
                timeout=120)
        left = _procs_under(work)
    finally:
        _kill_under(work)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1
    assert f"{work / 'sites' / 'tokyo-jp'}: is not a folder, but site 'tokyo-jp' keeps its " \
           "checkpoints there" in " ".join(r.stderr.split())
    assert left == [] and (work / "sites" / "tokyo-jp").read_text() == "junk"
