"""Chaos: controller killed in every migration phase, a site agent killed mid-transfer, and a
soak of randomized fault schedules. Fixed seeds; every process is cleaned up."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time

import pytest
from test_controller_kit import (
    CHAOS,
    EVERY,
    LIVE,
    STEPS,
    db_jobs,
    db_sites,
    final_weights,
    kill_all_under,
    memory_controller,
    processes_under,
    reference_weights,
    sim_migrations,
    start_run,
    steps_lost,
    temp_leftovers,
    trainers_by_job,
    wait_for,
)

from greenhop.runtime.controller import Controller
from greenhop.runtime.memory import InMemoryExecutor


class _Crash(Exception):
    pass


class CrashingController(Controller):
    """Dies (like kill -9: nothing cleaned up) after ``crash_after`` reconcile passes."""

    crash_after: int | None = None

    def reconcile(self) -> bool:
        if self.crash_after is not None:
            self.crash_after -= 1
            if self.crash_after < 0:
                raise _Crash
        return super().reconcile()


def test_soak_60_random_fault_schedules_keep_every_invariant(tmp_path, monkeypatch):
    """Trainer crashes, failed transfers and controller deaths at random points, 60 seeds:
    never two live trainers of a job (the executor checks every start), every start resumes
    the newest checkpoint, every job finishes all its steps, and the decisions are the
    simulator's (the policy's state is rebuilt from the event log after each restart)."""
    from greenhop.runtime import controller as controller_mod

    # The executor caps a job's crashes since its last checkpoint (max_crash_streak below);
    # the controller counts a streak until a checkpoint newer than the one the trainer
    # resumed from. A crash just after a save at that very step ends the first streak and
    # not the second, so which poll the dice land on (timing) could still exhaust the
    # controller's MAX_ATTEMPTS = 6 (seed 19, "(6 attempts)", in a slower full-suite run).
    # What is tested here is that every fault is survived; giving up after many crashes in
    # a row is tested in test_controller.py.
    monkeypatch.setattr(controller_mod, "MAX_ATTEMPTS", 50)
    expected = sim_migrations(LIVE)
    for seed in range(60):
        rng = random.Random(seed)
        # At most 3 crashes of a job in a row without a new checkpoint (the controller
        # allows MAX_ATTEMPTS = 6 in a row): which poll the dice land on depends on
        # timing, so an uncapped schedule could exhaust a job's attempts now and then.
        ex = InMemoryExecutor(rng=random.Random(seed), crash_p=rng.choice([0.0, 0.01, 0.03]),
                              max_crash_streak=3, transfer_fail_p=rng.choice([0.0, 0.2]),
                              steps_per_poll=rng.choice([1, 3]))
        db = tmp_path / f"soak-{seed}.db"
        restarts = 0
        while True:
            ctl = memory_controller(db, ex, cls=CrashingController)
            ctl.crash_after = rng.randint(20, 400) if restarts < 3 else None
            ctl.prepare()
            try:
                summary = ctl.run()
            except _Crash:
                ex.controller_died()
                ctl.store.close()
                restarts += 1
                continue
            break
        assert summary["status"] == "done", (seed, summary.get("error"))
        got = [[m["decided_step"], ctl.jobs[m["job"]], ctl.sites[m["src"]],
                ctl.sites[m["dst"]]] for m in ctl.ledger.migrations]
        assert got == expected, seed
        for j, job in enumerate(ctl.jobs):
            assert ex.ckpt[(job, ctl.sites[int(ctl.ledger.site[j])])] == STEPS
            newest = max(v for (jj, _), v in ex.ckpt.items() if jj == job)
            assert newest == STEPS
        # a start never went back past the newest checkpoint anywhere
        seen: dict[str, int] = {}
        for job, _site, _token, step in ex.starts:
            assert step >= seen.get(job, 0) - 0, (seed, job)
            seen[job] = max(seen.get(job, 0), step)
        assert max(ex.lost_steps, default=0) <= EVERY
        assert not any(t.alive for t in ex.trainers.values())
        ctl.store.close()


class _Watch(threading.Thread):
    """Samples the processes under a work directory: the most live trainers one job had."""

    def __init__(self, workdir):
        super().__init__(daemon=True)
        self.workdir = workdir
        self.most: dict[str, int] = {}
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            for job, pids in trainers_by_job(self.workdir).items():
                self.most[job] = max(self.most.get(job, 0), len(pids))
            time.sleep(0.02)


def _tear_down(watch: _Watch, procs: list, work) -> None:
    """Stop the watcher and kill every process a chaos run started, even after a failure."""
    watch.stop_ev.set()
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    kill_all_under(work)


def _phase(db, phase):
    return any(j["phase"] == phase for j in db_jobs(db))


@pytest.mark.slow
def test_kill9_controller_in_every_migration_phase_and_an_agent_mid_transfer(tmp_path):
    work = tmp_path / "run"
    db = work / "run.db"
    refs = reference_weights(tmp_path.parent / "refs", 4)
    watch = _Watch(work)
    watch.start()
    procs = []
    try:
        for phase in ("saving", "transferring", "restoring"):
            proc = start_run(work, CHAOS, 18000, "--step-sleep", "0.02")
            procs.append(proc)
            wait_for(lambda phase=phase: _phase(db, phase), 120, f"a job in {phase}")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        # last life: kill the receiving site's agent while a checkpoint crosses the WAN
        proc = start_run(work, CHAOS, 18000, "--step-sleep", "0.02")
        procs.append(proc)
        moving = wait_for(lambda: [j for j in db_jobs(db) if j["phase"] == "transferring"],
                          120, "a transfer")
        dest = db_sites(db)[moving[0]["dest"]]
        staging = work / "sites" / dest["name"] / moving[0]["name"]
        # the pull (about 1 s at 1 Mbit/s) is under way once its staging directory exists
        # (not only its lock file, .incoming-<name>.lock, taken just before)
        wait_for(lambda: any(p.is_dir() for p in staging.glob(".incoming-*")), 30,
                 "the pull to begin", 0.002)
        os.kill(dest["agent_pid"], signal.SIGKILL)
        assert proc.wait(timeout=240) == 0, (work / "controller.log").read_text()[-3000:]
        log = (work / "controller.log").read_text()
        assert "done:" in log
        watch.stop_ev.set()
        watch.join()
        # exactly one live trainer per job at any sampled time, none left now
        assert max(watch.most.values()) == 1, watch.most
        wait_for(lambda: not processes_under(work), 10, "every process to exit")
        assert temp_leftovers(work) == []
        sites = [s["name"] for s in db_sites(db)]
        for j, row in enumerate(db_jobs(db)):
            assert row["phase"] == "done"
            step, sha = final_weights(work, row["name"], sites[row["site"]])
            assert step == STEPS
            assert sha == refs[j], row["name"]
            assert steps_lost(work, row["name"]) <= EVERY
        import sqlite3

        con = sqlite3.connect(db)
        kinds = [r[0] for r in con.execute("SELECT kind FROM events")]
        fails = con.execute("SELECT COUNT(*) FROM events WHERE kind = 'transfer-failed'")
        assert fails.fetchone()[0] >= 1  # the agent's death was seen and retried
        assert "agent-restart" in kinds  # ... and its successor recorded (pid, restarts)
        restarts = con.execute("SELECT SUM(agent_restarts) FROM sites").fetchone()[0]
        assert restarts >= 1
        assert kinds.count("run-resume") == 3
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
    finally:
        _tear_down(watch, procs, work)


@pytest.mark.slow
def test_random_kills_of_real_processes_keep_every_invariant(tmp_path):
    """Three seeded schedules of kill -9 at random moments (the controller, a trainer, a site
    agent) on real processes: each job ends with the weights of an uninterrupted run, never
    had two live trainers, lost at most one checkpoint interval, and nothing is left."""
    refs = reference_weights(tmp_path.parent / "refs", 4)
    # Bounded in time by each run's wait (240 s), not by a wall-clock assertion: a loaded
    # machine makes the three schedules slower, not wrong.
    for seed in range(3):
        rng = random.Random(100 + seed)
        work = tmp_path / f"s{seed}"
        db = work / "run.db"
        watch = _Watch(work)
        watch.start()
        procs = []
        try:
            proc = start_run(work, CHAOS, 36000, "--step-sleep", "0.01")
            procs.append(proc)
            for _ in range(3):
                time.sleep(rng.uniform(1.0, 4.0))
                if proc.poll() is not None:
                    break
                what = rng.choice(["controller", "trainer", "agent"])
                if what == "controller":
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
                    proc = start_run(work, CHAOS, 36000, "--step-sleep", "0.01")
                    procs.append(proc)
                elif what == "trainer":
                    live = [p for ps in trainers_by_job(work).values() for p in ps]
                    if live:
                        os.kill(rng.choice(live), signal.SIGKILL)
                else:
                    pids = [s["agent_pid"] for s in db_sites(db) if s["agent_pid"]]
                    if pids:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(rng.choice(pids), signal.SIGKILL)
            code = proc.wait(timeout=240)
            if code != 0 and "already finished" not in (work / "controller.log").read_text():
                raise AssertionError((work / "controller.log").read_text()[-3000:])
            watch.stop_ev.set()
            watch.join()
            assert max(watch.most.values()) == 1, (seed, watch.most)
            wait_for(lambda work=work: not processes_under(work), 10, "every process to exit")
            assert temp_leftovers(work) == [], seed
            sites = [s["name"] for s in db_sites(db)]
            for j, row in enumerate(db_jobs(db)):
                assert row["phase"] == "done", (seed, row)
                assert final_weights(work, row["name"], sites[row["site"]]) == (STEPS, refs[j])
                assert steps_lost(work, row["name"]) <= EVERY, (seed, row["name"])
        finally:
            _tear_down(watch, procs, work)
