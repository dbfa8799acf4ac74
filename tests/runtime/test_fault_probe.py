"""Faults where the controller's records and the processes can part, on the in-memory
executor: a controller dead between booking a step and deciding the next, progress saved
that the controller never saw (it died, or Ctrl-C made the trainer checkpoint), a resume
with another --train-steps or --workload, two starts racing for one database."""

from __future__ import annotations

import pytest
from test_controller_kit import EVERY, LIVE, STEPS, memory_controller, sim_migrations

from greenhop.runtime.controller import Controller
from greenhop.runtime.memory import InMemoryExecutor


class _Crash(Exception):
    pass


class DiesAfterBooking(Controller):
    """Dies (like kill -9: nothing cleaned up) right after booking step ``die_after``, before
    step ``die_after + 1`` is decided."""

    die_after: int | None = None

    def _book(self, t: int, deadline: float) -> bool:
        booked = super()._book(t, deadline)
        if booked and t == self.die_after:
            raise _Crash
        return booked


def _decided_moves() -> list[int]:
    """Steps at which the simulator's run of LIVE decides a migration."""
    return sorted({step for step, *_ in sim_migrations(LIVE)})


@pytest.mark.parametrize("step", _decided_moves())
def test_a_controller_dead_between_booking_and_deciding_a_move_resumes(tmp_path, step):
    """Killed after booking the step before a migration is decided: the restart recovers
    every job to `starting`, then decides that step. The decision acts on settled jobs (not
    a refused `starting -> saving`), and the run ends as the simulator's."""
    ex = InMemoryExecutor()
    db = tmp_path / "run.db"
    ctl = memory_controller(db, ex, cls=DiesAfterBooking)
    ctl.die_after = step - 1
    ctl.prepare()
    with pytest.raises(_Crash):
        ctl.run()
    ex.controller_died()
    ctl.store.close()
    ctl = memory_controller(db, ex, cls=DiesAfterBooking)
    assert ctl.prepare() == "resumed"
    assert int(ctl.store.run_row()["decided_step"]) == step - 1  # the step is still to decide
    summary = ctl.run()
    assert summary["status"] == "done", summary
    got = [[m["decided_step"], ctl.jobs[m["job"]], ctl.sites[m["src"]], ctl.sites[m["dst"]]]
           for m in ctl.ledger.migrations]
    assert got == sim_migrations(LIVE)
    for j, job in enumerate(ctl.jobs):
        assert ex.ckpt[(job, ctl.sites[int(ctl.ledger.site[j])])] == STEPS
    assert not any(t.alive for t in ex.trainers.values())
    ctl.store.close()


class CrashesAtStart(InMemoryExecutor):
    """Crashes (exit 1) the next ``crashes`` trainers of ``job`` at their first poll, before
    they train a step."""

    def __init__(self, job: str, crashes: int, **kw) -> None:
        super().__init__(**kw)
        self.job, self.crashes, self.doomed = job, crashes, set()

    def start_trainer(self, job, site, spec, token, *, resume_step=None):
        pid, start = super().start_trainer(job, site, spec, token, resume_step=resume_step)
        if job == self.job and self.crashes > 0:
            self.crashes -= 1
            self.doomed.add(pid)
        return pid, start

    def _advance(self, t) -> None:
        if t.pid in self.doomed and t.alive:
            self.doomed.discard(t.pid)
            t.alive, t.exit_code = False, 1
            return
        super()._advance(t)


class DiesOnceRunning(Controller):
    """Dies (like kill -9) right after ``job`` enters `running` with ``attempts`` failed
    attempts behind it, before it sees the trainer's progress."""

    job: str = ""
    attempts: int = 0

    def _set(self, row, phase=None, **fields) -> None:
        super()._set(row, phase, **fields)
        if (phase == "running" and row["name"] == self.job
                and row["attempts"] == self.attempts):
            raise _Crash


def _one_crash_short_of_failing(tmp_path, job: str, steps_per_poll: int, cls):
    """A prepared in-memory run whose ``job`` trainer crashes at start MAX_ATTEMPTS - 1
    times, under a controller of class ``cls``; returns (database path, executor, it)."""
    from greenhop.runtime.controller import MAX_ATTEMPTS

    ex = CrashesAtStart(job, MAX_ATTEMPTS - 1, steps_per_poll=steps_per_poll)
    db = tmp_path / "run.db"
    ctl = memory_controller(db, ex, cls=cls)
    ctl.job, ctl.attempts = job, MAX_ATTEMPTS - 1
    ctl.prepare()
    return db, ex, ctl


def _survives_one_more_crash(db, ex, job: str) -> None:
    """Restart the run on ``db`` with one more crash of ``job``'s trainer to come: the run
    finishes and the job is done (its row of failed attempts was ended by progress)."""
    ex.crashes = 1
    ctl = memory_controller(db, ex)
    ctl.prepare()
    summary = ctl.run()
    assert summary["status"] == "done", summary.get("error")
    assert ex.crashes == 0 and ctl.store.job(job)["phase"] == "done"
    ctl.store.close()


def test_progress_a_dead_controller_did_not_see_ends_the_row_of_failed_attempts(tmp_path):
    """A job's trainer crashes at start MAX_ATTEMPTS - 1 times, then trains a checkpoint
    interval in one go; the controller dies before it sees that. The restart resumes from the
    newer checkpoint: that progress ends the row, so one more crash does not fail the job."""
    job = "job-a"
    db, ex, ctl = _one_crash_short_of_failing(tmp_path, job, 30, DiesOnceRunning)
    with pytest.raises(_Crash):
        ctl.run()
    ex.controller_died()  # its trainer checkpoints past the step it resumed from
    ctl.store.close()
    assert max(v for (j, _), v in ex.ckpt.items() if j == job) > EVERY
    _survives_one_more_crash(db, ex, job)


def _rows(db) -> tuple:
    """Every row of the run database's tables that a start would change."""
    import sqlite3

    con = sqlite3.connect(db)
    out = tuple(tuple(map(tuple, con.execute(f"SELECT * FROM {t}")))
                for t in ("run", "jobs", "sites", "events"))
    con.close()
    return out


@pytest.mark.parametrize(("other", "said"), [
    # the jobs' length is part of the run: the books and the checkpoints count to it
    ({"steps": STEPS + 100}, rf"job 'job-a' for {STEPS} steps, not {STEPS + 100}; resume it "
                             rf"with --train-steps {STEPS}"),
    # a job's checkpoints are its workload's (before, every trainer failed on them and the
    # run failed after its retries)
    ({"workload": "lm"}, r"job 'job-a' with workload 'mlp', not 'lm'; resume it with "
                         r"--workload mlp"),
])
def test_a_resume_with_other_job_settings_is_refused_and_writes_nothing(tmp_path, other, said):
    """A restart with another --train-steps or --workload is refused in one line naming the
    run's, before anything is written; the same command as before resumes the run to the
    end."""
    from greenhop.core.errors import ConfigError

    ex = InMemoryExecutor()
    db = tmp_path / "run.db"
    ctl = memory_controller(db, ex, cls=DiesAfterBooking)
    ctl.die_after = 5
    ctl.prepare()
    with pytest.raises(_Crash):
        ctl.run()
    ex.controller_died()
    ctl.store.close()
    before = _rows(db)
    refused = memory_controller(db, ex, **other)
    with pytest.raises(ConfigError, match=said):
        refused.prepare()
    refused.store.close()
    assert _rows(db) == before
    ctl = memory_controller(db, ex)
    ctl.prepare()
    assert ctl.run()["status"] == "done"
    assert {v for (j, _), v in ex.ckpt.items()} <= set(range(STEPS + 1))
    ctl.store.close()


def test_a_start_racing_one_that_has_not_written_its_pid_yet_says_so(tmp_path):
    """Two starts at once: the one refused while the other holds the lock but has not
    recorded its pid yet is told that a controller is starting, not `pid None`."""
    from greenhop.runtime.store import Store
    from greenhop.runtime.store_errors import RunLockedError

    db = tmp_path / "run.db"
    first = Store.open(db, create=True)
    first.acquire()
    second = Store.open(db)
    with pytest.raises(RunLockedError, match=r"already live on this database \(its "
                                             r"controller is starting\)"):
        second.acquire()
    second.close()
    first.close()


class StopsOnceRunning(Controller):
    """Ctrl-C (the flag SIGINT sets), once: when ``job`` trains a few steps past where it
    resumed (less than a checkpoint interval) with ``attempts`` failed attempts behind it."""

    job: str = ""
    attempts: int | None = None

    def reconcile(self) -> bool:
        settled = super().reconcile()
        r = self.store.job(self.job)
        if r["phase"] == "running" and r["attempts"] == self.attempts and r["real_step"] >= 5:
            self.attempts = None
            self.stop_requested = True
        return settled


def test_a_checkpoint_saved_on_ctrl_c_ends_the_row_of_failed_attempts(tmp_path):
    """A job's trainer crashes at start MAX_ATTEMPTS - 1 times; the next one trains a few
    steps and Ctrl-C makes it checkpoint there, past where it resumed. The run resumes from
    that newer checkpoint: the progress ends the row, so one more crash does not fail it."""
    job = "job-a"
    db, ex, ctl = _one_crash_short_of_failing(tmp_path, job, 1, StopsOnceRunning)
    assert ctl.run()["status"] == "stopped"
    ctl.store.close()
    saved = max(v for (j, _), v in ex.ckpt.items() if j == job)
    assert 0 < saved < EVERY  # the checkpoint Ctrl-C asked for, not a periodic one
    _survives_one_more_crash(db, ex, job)


def test_a_job_the_horizon_ends_on_is_checkpointed_and_its_trainer_stopped(tmp_path):
    """threshold keeps job-b training to the end of live-3site's horizon without finishing
    it (as the simulator does). The run is done, but job-b's trainer does not train on: it
    checkpointed where it was and stopped, and the run-done event names the unfinished jobs
    (before, job-b stayed `running` with a live trainer in a finished run)."""
    ex = InMemoryExecutor(steps_per_poll=1)
    ctl = memory_controller(tmp_path / "run.db", ex, policy="threshold")
    ctl.prepare()
    summary = ctl.run()
    assert summary["status"] == "done" and summary["not_checkpointed"] == []
    assert not [t.job for t in ex.trainers.values() if t.alive]
    rows = {r["name"]: r for r in ctl.store.jobs()}
    unfinished = sorted(n for n, r in rows.items() if r["phase"] != "done")
    assert "job-b" in unfinished and rows["job-b"]["phase"] == "stopped"
    assert all(rows[n]["trainer_pid"] is None for n in unfinished)
    saved = max(v for (j, _), v in ex.ckpt.items() if j == "job-b")
    assert saved == rows["job-b"]["real_step"] and saved % EVERY != 0  # saved on the stop
    (done,) = ctl.store.events(("run-done",))
    assert sorted(done["body"]["unfinished"]) == unfinished
    ctl.store.close()
