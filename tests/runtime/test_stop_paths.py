"""How a live run ends short of its end, on real processes (controller, agents, trainers,
``--serve``'s service, all on 127.0.0.1): a controller killed with -9 leaves no service
holding the port; ``--max-wall`` running out stops the run as Ctrl-C does; Ctrl-C says
which job did not checkpoint; a start refused because the database is live elsewhere
writes nothing. Every run is bounded in time and cleaned up."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess

import pytest
from test_controller_kit import (
    CHAOS,
    db_jobs,
    db_sites,
    greenhop_cmd,
    kill_all_under,
    processes_under,
    start_run,
    wait_for,
)

from greenhop.workload import describe, latest_complete

pytestmark = pytest.mark.slow

AT_REST = ("pending", "queued", "suspended", "stopped", "done")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_row(db) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    con.row_factory = sqlite3.Row
    row = dict(con.execute("SELECT * FROM run").fetchone())
    con.close()
    return row


def _event_kinds(db) -> list[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    kinds = [k for (k,) in con.execute("SELECT kind FROM events ORDER BY seq")]
    con.close()
    return kinds


def _training(db) -> bool:
    return any(j["phase"] == "running" and j["real_step"] > 0 for j in db_jobs(db))


def _stop(proc: subprocess.Popen, work) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    kill_all_under(work)


def test_the_service_dies_with_a_kill9_controller_and_the_same_command_resumes(tmp_path):
    """``--serve``'s child gets a parent-death signal like the agents: after ``kill -9`` of
    the controller nothing of the run is left, the port is free, and the same command
    starts again (resumed) and serves again."""
    work = tmp_path / "run"
    db = work / "run.db"
    port = _free_port()
    args = ("--step-sleep", "0.02", "--serve", f"127.0.0.1:{port}")
    proc = start_run(work, CHAOS, 18000, *args)
    again = None
    try:
        wait_for(lambda: _training(db), 120, "training")
        served = [p for p, cmd in processes_under(work).items() if " serve " in cmd]
        assert len(served) == 1
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        wait_for(lambda: not any(p in processes_under(work) for p in served), 10,
                 "the service to die with its controller")
        wait_for(lambda: not processes_under(work), 30, "every process of the run to exit")
        log = work / "controller.log"
        before = len(log.read_text())
        again = start_run(work, CHAOS, 18000, *args)
        wait_for(lambda: again.poll() is not None or "resumed run" in log.read_text()[before:],
                 120, "the same command to start")
        text = " ".join(log.read_text()[before:].split())
        assert again.poll() is None, text
        assert "Address already in use" not in text and "serving the run at" in text
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        os.kill(again.pid, signal.SIGINT)
        assert again.wait(timeout=150) == 0, text
    finally:
        _stop(proc, work)
        if again is not None:
            _stop(again, work)


def test_max_wall_stops_like_ctrl_c_records_it_and_the_run_resumes(tmp_path):
    """``--max-wall`` running out: one-line error, exit 1, and the run stops as Ctrl-C
    stops it: every trainer checkpoints and exits, the run is ``stopped`` (owner cleared,
    the reason recorded, a ``run-stopped`` event), ``events.jsonl`` and ``metrics.json``
    are written; started again (with more time) it resumes to the end."""
    work = tmp_path / "run"
    db = work / "run.db"
    proc = start_run(work, CHAOS, 1200, "--step-sleep", "0.05", "--max-wall", "12")
    try:
        code = proc.wait(timeout=200)
        log = (work / "controller.log").read_text()
        flat = " ".join(log.split())
        assert code == 1, log[-3000:]
        assert "Traceback" not in log
        assert flat.count("error:") == 1 and "did not settle within 12 s" in flat
        assert "run the same command again" in flat
        run = _run_row(db)
        assert run["status"] == "stopped" and run["owner_pid"] is None
        assert "did not settle" in run["error"]
        assert _event_kinds(db)[-1] == "run-stopped"
        assert (work / "events.jsonl").is_file() and (work / "metrics.json").is_file()
        ended = json.loads((work / "events.jsonl").read_text().splitlines()[-1])
        assert ended["kind"] == "run-stopped" and "did not settle" in ended["body"]["error"]
        wait_for(lambda: not processes_under(work), 10, "every process to exit")
        sites = [s["name"] for s in db_sites(db)]
        jobs = db_jobs(db)
        assert not any(j["trainer_pid"] for j in jobs), jobs
        stopped = [j for j in jobs if j["phase"] == "stopped"]
        assert stopped, jobs  # trainers were asked to checkpoint, not left to PDEATHSIG
        for j in (j for j in stopped if j["real_step"] > 0):  # one at step 0: no step yet
            # a job stopped mid-move while restoring checkpointed at its destination, where
            # its trainer was (and where the next run resumes it)
            at = j["dest"] if j["move_kind"] == "migrate" and j["dest"] is not None \
                else j["site"]
            ckpt = latest_complete(work / "sites" / sites[at] / j["name"])
            assert describe(ckpt)["step"] == j["real_step"], j
        resumed = start_run(work, CHAOS, 36000, "--step-sleep", "0.01", "--max-wall", "10min")
        try:
            assert resumed.wait(timeout=300) == 0, \
                (work / "controller.log").read_text()[-3000:]
        finally:
            _stop(resumed, work)
        assert "resumed run" in " ".join((work / "controller.log").read_text().split())
        assert _run_row(db)["status"] == "done"
    finally:
        _stop(proc, work)


def test_ctrl_c_names_the_job_whose_trainer_did_not_checkpoint(tmp_path):
    """Ctrl-C while one trainer is frozen (SIGSTOP): the other jobs checkpoint; a second
    Ctrl-C stops waiting for the frozen one, and the last line names it instead of
    claiming that every job checkpointed."""
    work = tmp_path / "run"
    db = work / "run.db"
    proc = start_run(work, CHAOS, 18000, "--step-sleep", "0.02")
    frozen = None
    try:
        wait_for(lambda: _training(db), 120, "training")
        job = next(j for j in db_jobs(db) if j["phase"] == "running" and j["real_step"] > 0)
        frozen = job["trainer_pid"]
        os.kill(frozen, signal.SIGSTOP)
        os.kill(proc.pid, signal.SIGINT)

        def others_stopped() -> bool:
            rows = db_jobs(db)
            me = next(j for j in rows if j["name"] == job["name"])
            return me["phase"] == "stopping" and all(
                j["phase"] in AT_REST for j in rows if j["name"] != job["name"])

        wait_for(others_stopped, 60, "the other jobs to checkpoint")
        os.kill(proc.pid, signal.SIGINT)  # do not wait for the frozen trainer
        assert proc.wait(timeout=30) == 1  # not a clean stop: a script must see it
        flat = " ".join((work / "controller.log").read_text().split())
        assert "every job checkpointed" not in flat
        assert "error: stopped at step" in flat
        assert f"{job['name']} (stopping) did not finish checkpointing" in flat
        assert "resumes it from the last intact checkpoint" in flat
        assert f"{job['name']}: its trainer did not exit within the stop; killed it" in flat
        assert _run_row(db)["status"] == "stopped"
        # the frozen trainer does not outlive the run (SIGKILL reaches a stopped process)
        wait_for(lambda: not processes_under(work), 10, "every process to exit")
    finally:
        if frozen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(frozen, signal.SIGKILL)
        _stop(proc, work)


def test_a_start_refused_for_a_live_database_writes_nothing(tmp_path):
    """``--db`` of a run that is live, with another work directory: refused (exit 1)
    before the new work directory, its secret or its logs exist."""
    work = tmp_path / "run"
    db = work / "run.db"
    proc = start_run(work, CHAOS, 18000, "--step-sleep", "0.02")
    try:
        wait_for(lambda: _training(db), 120, "training")
        other = tmp_path / "other"
        out = subprocess.run(greenhop_cmd("run", str(CHAOS), "--workdir", str(other), "--db",
                                          str(db)), capture_output=True, text=True, timeout=120)
        assert out.returncode == 1, out.stderr
        assert "already live" in out.stderr and "Traceback" not in out.stderr
        assert not other.exists()
        assert _run_row(db)["owner_pid"] == proc.pid
    finally:
        _stop(proc, work)
