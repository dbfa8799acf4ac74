"""Live runs used the way a new user or an attacker would: Ctrl-C in every migration phase,
corrupt checkpoints at rest, garbage in staging, two controllers on one work directory,
job names that are paths, a dead controller in ``status``. Real processes throughout
(controller, agents, trainers); every run is bounded in time and cleaned up."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess

import pytest
from test_controller_kit import (
    CHAOS,
    EVERY,
    STEPS,
    db_jobs,
    final_weights,
    greenhop_cmd,
    kill_all_under,
    processes_under,
    reference_weights,
    start_run,
    steps_lost,
    temp_leftovers,
    trainers_by_job,
    wait_for,
)

pytestmark = pytest.mark.slow


def _events(db, kinds=None) -> list[dict]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM events ORDER BY seq")]
    con.close()
    return [r for r in rows if kinds is None or r["kind"] in kinds]


def _status(db) -> dict:
    out = subprocess.run(greenhop_cmd("status", "--db", str(db), "--json"), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _flip(path, offset=-40) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _largest(ckpt_dir):
    return max((p for p in ckpt_dir.iterdir() if p.suffix == ".safetensors"),
               key=lambda p: p.stat().st_size)


def _finish(work, *extra, timeout=240) -> str:
    proc = start_run(work, CHAOS, 36000, "--step-sleep", "0.01", *extra)
    try:
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = (work / "controller.log").read_text()
    assert code == 0, log[-3000:]
    return log


def _check_done(work, refs) -> None:
    db = work / "run.db"
    st = _status(db)
    assert st["run"]["status"] == "done"
    for j, row in enumerate(db_jobs(db)):
        assert row["phase"] == "done", row
        site = st["jobs"][j]["site"]
        assert final_weights(work, row["name"], site) == (STEPS, refs[j]), row["name"]
        assert steps_lost(work, row["name"]) <= EVERY, row["name"]
    metrics = json.loads((work / "metrics.json").read_text())
    m = next(iter(metrics["policies"].values()))
    assert m["finished_jobs"] == m["jobs"] == 4       # the books closed every job ...
    wait_for(lambda: not processes_under(work), 10, "every process to exit")
    assert temp_leftovers(work) == []


def test_ctrl_c_in_every_migration_phase_and_a_corrupt_pulled_copy(tmp_path):
    """SIGINT while a job is saving, transferring and restoring: each time every trainer
    checkpoints and exits (none trains on), the run is `stopped`. The last start runs to
    the end while a byte is flipped in a checkpoint a migration just pulled: that copy is
    found corrupt (by the controller's check or the trainer's, told the exact step to
    load) and pulled again. Every job ends with the weights of an uninterrupted run and
    no move is left open in the books."""
    work = tmp_path / "run"
    db = work / "run.db"
    refs = reference_weights(tmp_path.parent / "refs", 4)
    try:
        for phase in ("saving", "transferring", "restoring"):
            proc = start_run(work, CHAOS, 18000, "--step-sleep", "0.02")
            wait_for(lambda phase=phase: any(j["phase"] == phase for j in db_jobs(db)), 120,
                     f"a job in {phase}")
            os.kill(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=150) == 0, (work / "controller.log").read_text()[-3000:]
            assert trainers_by_job(work) == {}, phase         # nobody trains on
            rows = db_jobs(db)
            # every job is at rest: stopped with a checkpoint, not started, or done training
            assert all(r["phase"] in ("stopped", "pending", "queued", "done") or (
                r["phase"] == "running" and r["real_step"] == STEPS) for r in rows), rows
            assert all(r["trainer_pid"] is None for r in rows)
            assert _status(db)["run"]["status"] == "stopped"
        seen = {j["name"] for j in db_jobs(db) if j["token"] > 1}
        proc = start_run(work, CHAOS, 18000, "--step-sleep", "0.02")
        moving = wait_for(lambda: [j for j in db_jobs(db) if j["phase"] == "restoring"
                                   and j["move_kind"] == "migrate" and j["dest"] is not None],
                          180, "a pulled checkpoint")
        row = moving[0]
        sites = [s["name"] for s in _status(db)["sites"]]
        newest = sorted((work / "sites" / sites[row["dest"]] / row["name"]).glob("step-*"))[-1]
        _flip(_largest(newest))
        assert proc.wait(timeout=240) == 0, (work / "controller.log").read_text()[-3000:]
        kinds = {e["kind"] for e in _events(db) if e["job"] == row["name"]}
        if "checkpoint-corrupt" in kinds:
            assert kinds & {"restore-failed", "trainer-failed"}, kinds
        # else the trainer had loaded the pulled copy before the byte flipped (a race the
        # flip can lose on a loaded machine): that copy is not read again, and the weights
        # check below still holds. Corruption found before any load, deterministically:
        # test_corrupt_checkpoints_fall_back_verified_or_fail_loudly.
        assert seen  # some job had moved before the last start
        _check_done(work, refs)
    finally:
        kill_all_under(work)


def _stop_when_trained(work, db, min_step=60, max_step=200):
    """Ctrl-C once two jobs train between ``min_step`` and ``max_step`` (two checkpoints
    each, far from their end)."""
    proc = start_run(work, CHAOS, 18000, "--step-sleep", "0.02")
    try:
        wait_for(lambda: sum(1 for j in db_jobs(db) if j["phase"] == "running"
                             and min_step <= j["real_step"] <= max_step) >= 2, 240,
                 "two jobs training")  # four trainers starting on a loaded 2-core machine
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=150) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_corrupt_checkpoints_fall_back_verified_or_fail_loudly(tmp_path):
    """Stopped with Ctrl-C, then bytes flipped at rest: in the newest checkpoint of one job
    (the restart falls back to its older intact checkpoint, logged) and in every checkpoint
    of another. The restart fails loudly (exit 1, `failed` in status, an event), it never
    restarts that job from step 0. Once its checkpoints are restored from a backup, the
    same command retries the failed job and every job ends bit-identical."""
    refs = reference_weights(tmp_path.parent / "refs", 4)
    work = tmp_path / "run"
    db = work / "run.db"
    try:
        _stop_when_trained(work, db)
        st = _status(db)
        stopped = [j for j in st["jobs"] if j["phase"] == "stopped" and j["step"] >= 50
                   and len(list((work / "sites" / j["site"] / j["name"]).glob("step-*"))) == 2]
        newest_job, all_job = stopped[0], stopped[1]
        dirs = {j["name"]: work / "sites" / j["site"] / j["name"] for j in stopped[:2]}
        backup = tmp_path / "backup"

        # every copy of that job, also those its moves left at other sites (the controller
        # would pull the newest one recorded there rather than fail)
        everywhere = sorted((work / "sites").glob(f"*/{all_job['name']}"))
        for d in everywhere:
            shutil.copytree(d, backup / d.parent.name)
        steps = {n: sorted(d.glob("step-*")) for n, d in dirs.items()}
        assert all(len(v) == 2 for v in steps.values()), steps
        _flip(_largest(steps[newest_job["name"]][-1]))
        for p in (p for d in everywhere for p in d.glob("step-*")):
            _flip(_largest(p))
        logs_before = set((work / "logs").glob(f"{all_job['name']}.*.log"))
        proc = start_run(work, CHAOS, 36000, "--step-sleep", "0.01")
        assert proc.wait(timeout=120) == 1
        log = (work / "controller.log").read_text()
        assert "no intact checkpoint" in log and "Traceback" not in log
        st = _status(db)
        assert st["run"]["status"] == "failed" and "no intact checkpoint" in st["run"]["error"]
        row = next(j for j in st["jobs"] if j["name"] == all_job["name"])
        assert row["phase"] == "failed" and row["error"]
        assert [e["job"] for e in _events(db, ("job-failed",))] == [all_job["name"]]
        # nothing trained from scratch: no trainer of that job was started again
        assert set((work / "logs").glob(f"{all_job['name']}.*.log")) == logs_before
        assert trainers_by_job(work) == {}
        # the operator restores the checkpoints; the same command retries the failed job
        for d in everywhere:
            shutil.rmtree(d)
            shutil.copytree(backup / d.parent.name, d)
        _finish(work)
        fb = _events(db, ("checkpoint-fallback",))
        assert newest_job["name"] in [e["job"] for e in fb]
        body = json.loads(next(e for e in fb if e["job"] == newest_job["name"])["body"])
        assert body["step"] == int(steps[newest_job["name"]][0].name.split("-")[1])
        assert _events(db, ("checkpoint-corrupt",))
        _check_done(work, refs)
    finally:
        kill_all_under(work)


def test_two_controllers_a_dead_one_in_status_and_an_old_work_directory(tmp_path):
    """Two controllers with two databases on one work directory: the second is refused
    before it starts anything. `greenhop status` reports a controller killed with -9 as
    dead, with no live trainer. A new database in a directory holding an earlier run's
    checkpoints is refused unless --resume or --fresh says what to do with them."""
    work = tmp_path / "run"
    db = work / "run.db"
    proc = start_run(work, CHAOS, 18000, "--step-sleep", "0.02")
    try:
        wait_for(lambda: any(j["phase"] == "running" and j["real_step"] > 0
                             for j in db_jobs(db)), 120, "training")
        other = subprocess.run(greenhop_cmd("run", str(CHAOS), "--workdir", str(work), "--db",
                                            str(tmp_path / "other.db")),
                               capture_output=True, text=True, timeout=120)
        assert other.returncode == 1
        assert "another greenhop run" in other.stderr and "Traceback" not in other.stderr
        assert max(len(p) for p in trainers_by_job(work).values()) == 1
        live = _status(db)
        assert live["run"]["status"] == "live" and live["run"]["owner_pid"] == proc.pid
        assert all(s["agent_health"] == "ok" for s in live["sites"])
        assert any(j["trainer_alive"] for j in live["jobs"])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        wait_for(lambda: not trainers_by_job(work), 30, "the trainers to checkpoint and exit")
        dead = _status(db)
        assert dead["run"]["status"] == "dead" and dead["run"]["dead_since"]
        assert dead["run"]["owner_pid"] is None
        assert not any(j["trainer_alive"] for j in dead["jobs"])
        human = subprocess.run(greenhop_cmd("status", "--db", str(db)), capture_output=True,
                               text=True, timeout=60).stdout
        assert "dead since" in " ".join(human.split()) and "(dead)" in human
        before = {(str(p), p.stat().st_ino) for p in (work / "sites").rglob("step-*")}
        assert before
        new = tmp_path / "new.db"
        args = ("run", str(CHAOS), "--workdir", str(work), "--db", str(new),
                "--train-steps", str(STEPS), "--checkpoint-every", str(EVERY))
        refused = subprocess.run(greenhop_cmd(*args), capture_output=True, text=True,
                                 timeout=120)
        assert refused.returncode == 2, refused.stderr
        msg = " ".join(refused.stderr.split())
        assert "--resume" in msg and "--fresh" in msg and "holds the checkpoints" in msg
        assert {(str(p), p.stat().st_ino) for p in (work / "sites").rglob("step-*")} == before
        fresh = subprocess.run(greenhop_cmd(*args, "--fresh", "--time-scale", "1e9",
                                            "--max-wall", "10"),
                               capture_output=True, text=True, timeout=120)
        assert "removed the earlier run's checkpoints" in " ".join(fresh.stderr.split())
        after = {(str(p), p.stat().st_ino) for p in (work / "sites").rglob("step-*")}
        assert not (after & before)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all_under(work)


def test_job_names_that_are_paths_never_leave_the_work_directory(tmp_path):
    evil = tmp_path / "evil.toml"
    evil.write_text(CHAOS.read_text().replace('name = "job-a"', 'name = "../../escape"', 1))
    work = tmp_path / "deep" / "run"
    out = subprocess.run(greenhop_cmd("run", str(evil), "--workdir", str(work)),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "invalid job name '../../escape'" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "escape").exists() and not (tmp_path / "deep" / "escape").exists()
    assert not (work / "sites").exists()
    assert processes_under(work) == {}
