"""The controller on the in-memory executor: state machine, store, fencing, sim parity."""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_controller_kit import LIVE, inputs, memory_controller, sim_run

from greenhop.core.errors import ConfigError
from greenhop.core.observation import RUNNING, SUSPENDED, Migrate, Resume, Suspend
from greenhop.policies.base import Capabilities, PolicyBase
from greenhop.runtime.memory import InMemoryExecutor
from greenhop.runtime.power import PowerSource, TraceReplaySource
from greenhop.runtime.states import PHASES, TRANSITIONS, StateError, check_transition
from greenhop.runtime.store import SCHEMA_VERSION, Store
from greenhop.runtime.store_errors import RunLockedError, StoreError


def _migrations(ctl) -> list[list]:
    names, sites = ctl.jobs, ctl.sites
    return [[m["decided_step"], names[m["job"]], sites[m["src"]], sites[m["dst"]]]
            for m in ctl.ledger.migrations]


def test_state_machine_is_closed_and_refuses_illegal_moves():
    assert set(TRANSITIONS) == set(PHASES)
    for targets in TRANSITIONS.values():
        assert targets <= set(PHASES)
    check_transition("j", "running", "saving")
    with pytest.raises(StateError, match="illegal transition done -> running"):
        check_transition("j", "done", "running")
    with pytest.raises(StateError, match="legal from pending: queued"):
        check_transition("j", "pending", "running")


def test_in_memory_run_makes_the_simulators_decisions_and_energy(tmp_path):
    ex = InMemoryExecutor()
    ctl = memory_controller(tmp_path / "run.db", ex)
    assert ctl.prepare() == "new"
    summary = ctl.run()
    assert summary["status"] == "done"
    sim, expected = sim_run(LIVE)
    assert _migrations(ctl) == expected
    for k in ("grid", "direct", "curtailed"):
        assert ctl.ledger.energy_j[k].sum() == pytest.approx(sim.energy_j[k].sum(), rel=1e-3)
    assert np.allclose(ctl.ledger.finish_s, sim.job_finish_s, atol=60.0)
    # every job trained all its steps; each start resumed the newest checkpoint
    sc, _inp = inputs(LIVE)
    for j, job in enumerate(ctl.jobs):
        site = sc.site_names[int(ctl.ledger.site[j])]
        assert ex.ckpt[(job, site)] == 300
    ctl.store.close()


def test_fencing_duplicate_and_stale_commands_have_no_effect(tmp_path):
    ex = InMemoryExecutor()
    ctl = memory_controller(tmp_path / "run.db", ex)
    ctl.prepare()
    ctl.run()
    # one trainer start per (job, token): a repeated start command was never executed twice
    keys = [(job, token) for job, _, token, _ in ex.starts]
    assert len(keys) == len(set(keys))
    for job in ctl.jobs:  # tokens only grow
        toks = [t for j, _, t, _ in ex.starts if j == job]
        assert toks == sorted(toks)
    # a transfer command repeated with the same token is one transfer; an old token's
    # result is invisible to the current one
    ex.ckpt[("x", "a")] = 5
    ex.start_transfer("x", "a", "b", 7)
    ex.start_transfer("x", "a", "b", 7)
    assert ex.transfers["x"][1] == ex.transfer_polls
    assert ex.transfer_status("x", 6) == ("none", None)
    row = ctl.store.job("job-a")
    assert ctl.command_is_current("job-a", row["token"])
    assert not ctl.command_is_current("job-a", row["token"] - 1)
    ctl.store.close()


def test_store_refuses_older_schema_and_foreign_files(tmp_path):
    db = tmp_path / "run.db"
    st = Store.open(db, create=True)
    st.con.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION - 1,))
    st.close()
    pattern = rf"schema version {SCHEMA_VERSION - 1}.*reads version {SCHEMA_VERSION}.*another --db"
    with pytest.raises(StoreError, match=pattern):
        Store.open(db)
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a greenhop run database"):
        Store.open(bad)
    with pytest.raises(ConfigError, match="no run database here"):
        Store.open(tmp_path / "missing.db")


@pytest.mark.parametrize("create", [False, True])
def test_another_sqlite_file_is_refused_and_left_byte_for_byte(tmp_path, create):
    import hashlib
    import sqlite3

    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.execute("INSERT INTO t VALUES (1)")
    con.commit()
    con.close()
    digest = hashlib.sha256(other.read_bytes()).hexdigest()
    with pytest.raises(StoreError, match="not a greenhop run database"):
        Store.open(other, create=create)
    # not switched to WAL mode, no -wal / -shm files beside it
    assert hashlib.sha256(other.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]
    empty = tmp_path / "empty.db"
    empty.touch()
    if not create:  # an empty file is a new database only where one may be created
        with pytest.raises(StoreError, match="not a greenhop run database"):
            Store.open(empty)
        assert empty.stat().st_size == 0


def test_double_start_is_refused_and_leaves_the_database_untouched(tmp_path):
    db = tmp_path / "run.db"
    first = memory_controller(db, InMemoryExecutor())
    first.prepare()
    before = first.store.con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    second = memory_controller(db, InMemoryExecutor())
    with pytest.raises(RunLockedError, match="already live on this database"):
        second.prepare()
    second.store.close()
    assert first.store.con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == before
    first.store.close()


def test_unknown_job_and_failed_transactions(tmp_path):
    st = Store.open(tmp_path / "run.db", create=True)
    ctl = memory_controller(tmp_path / "run.db", InMemoryExecutor())
    ctl.prepare()
    with pytest.raises(ConfigError, match=r"unknown job 'nope'.*job-a, job-b"):
        ctl.store.job("nope")
    with pytest.raises(RuntimeError), ctl.store.tx():
        ctl.store.update_job("job-a", phase="running")
        raise RuntimeError("boom")
    assert ctl.store.job("job-a")["phase"] == "pending"  # rolled back
    con = sqlite3.connect(tmp_path / "run.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    ctl.store.close()
    st.close()


def test_trace_replay_source_is_a_power_source():
    _sc, inp = inputs(LIVE)
    src = TraceReplaySource(inp.renewable_w, inp.history_steps)
    assert isinstance(src, PowerSource)
    assert np.array_equal(src.renewable_w(3), inp.renewable_w[inp.history_steps + 3])
    with pytest.raises(ConfigError, match="outside the replayed trace"):
        src.renewable_w(10**6)


def test_backoff_is_capped_exponential():
    from greenhop.runtime.controller import BACKOFF_CAP_S, backoff_s

    waits = [backoff_s(n) for n in range(1, 10)]
    assert waits[:5] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert all(a <= b for a, b in itertools.pairwise(waits))
    assert max(waits) == BACKOFF_CAP_S


def test_failing_transfers_back_off_then_the_job_is_failed_and_the_run_says_so(tmp_path):
    """Every transfer fails: the attempts are spaced by the backoff (not six in a row), the
    sixth ends the job `failed` with the error recorded, and the run ends `failed`."""
    import json

    from greenhop.runtime.controller import MAX_ATTEMPTS

    ex = InMemoryExecutor(transfer_fail_p=1.0)
    ctl = memory_controller(tmp_path / "run.db", ex)
    ctl.backoff_base_s = 0.02
    ctl.prepare()
    summary = ctl.run()
    assert summary["status"] == "failed" and "transfer" in summary["error"]
    rows = {r["name"]: dict(r) for r in ctl.store.jobs()}
    failed = [r for r in rows.values() if r["phase"] == "failed"]
    assert len(failed) == 1 and failed[0]["failed_from"] == "transferring"
    assert failed[0]["attempts"] == MAX_ATTEMPTS  # the row counts the attempt that failed
    assert "simulated link failure" in failed[0]["error"]
    ev = [(e["unix_s"], e["body"]) for e in ctl.store.events(("transfer-failed",))
          if e["job"] == failed[0]["name"]]
    assert len(ev) == MAX_ATTEMPTS
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(ev)]
    for gap, (_, body) in zip(gaps, ev, strict=False):
        assert gap >= body["backoff_s"] * 0.9 - 0.005  # each retry waited its backoff
    assert [b["backoff_s"] for _, b in ev] == sorted(b["backoff_s"] for _, b in ev)
    run = ctl.store.run_row()
    assert run["status"] == "failed" and run["error"] == summary["error"]
    kinds = [e["kind"] for e in ctl.store.events()]
    assert "job-failed" in kinds and kinds[-1] == "run-failed"
    assert json.loads(json.dumps(summary)) == summary  # JSON-ready for metrics.json
    ctl.store.close()


class _CrashAfterEachCheckpoint(InMemoryExecutor):
    """Every trainer dies (exit 1) in the same poll in which it saved a checkpoint newer
    than the one it started from, so the controller never sees it alive past it: many
    crashes over a job's run, each after durable progress."""

    def _advance(self, t) -> None:
        born = self.__dict__.setdefault("_born", {}).setdefault(t.pid, t.step)
        super()._advance(t)
        if t.alive and not t.stop and self.ckpt.get((t.job, t.site), 0) > born:
            t.alive, t.exit_code = False, 1


class _CrashAtTheEnd(InMemoryExecutor):
    """job-a's first trainers write the checkpoint of its last step and then exit 1 (a
    crash before ``session.finish()``); ``ends_ok_after`` of them do so, the next exits 0."""

    ends_ok_after = 2

    def _advance(self, t) -> None:
        super()._advance(t)
        crashed = self.__dict__.setdefault("_crashed", [0])
        if (t.job == "job-a" and not t.alive and t.exit_code == 0
                and crashed[0] < self.ends_ok_after):
            crashed[0] += 1
            t.exit_code = 1


def test_a_crash_after_the_last_checkpoint_is_a_crash_not_a_finished_job(tmp_path):
    """The last checkpoint was there, so the job was recorded done with exit 1 unseen: now
    the crash is a failed attempt, and a trainer that finishes (exit 0) ends the job."""
    ex = _CrashAtTheEnd()
    ctl = memory_controller(tmp_path / "run.db", ex)
    ctl.prepare()
    summary = ctl.run()
    assert summary["status"] == "done", summary.get("error")
    failed = [e for e in ctl.store.events(("trainer-failed",)) if e["job"] == "job-a"]
    assert failed  # none before: the job was done at the crash
    assert all("code 1" in e["body"]["error"] for e in failed)
    assert ctl.store.job("job-a")["phase"] == "done"
    ctl.store.close()


class _NeverFinishes(InMemoryExecutor):
    """job-a's trainers all die (exit 1) one step short of its last step."""

    def _advance(self, t) -> None:
        if (t.job == "job-a" and t.alive and not t.stop
                and t.step + self.steps_per_poll >= t.spec.steps - 1):
            t.step = t.printed = t.spec.steps - 1  # no checkpoint of its last step
            t.alive, t.exit_code = False, 1
            return
        super()._advance(t)


def test_a_trainer_crashing_while_finishing_is_retried_with_backoff_then_fails(tmp_path):
    """In `finishing` (the books done, the trainer not) a crash was restarted at once,
    without a count, for ever (until --max-wall); now as in `running`: each attempt
    counted with its backoff, and the job fails after MAX_ATTEMPTS in a row."""
    from greenhop.runtime.controller import MAX_ATTEMPTS

    ex = _NeverFinishes(steps_per_poll=1)  # slower than the books: they finish first
    ctl = memory_controller(tmp_path / "run.db", ex)
    ctl.prepare()
    summary = ctl.run()
    assert summary["status"] == "failed", summary
    assert f"({MAX_ATTEMPTS} attempts)" in summary["error"]
    failed = [e["body"] for e in ctl.store.events(("trainer-failed",)) if e["job"] == "job-a"]
    assert [b["attempt"] for b in failed][-MAX_ATTEMPTS:] == list(range(1, MAX_ATTEMPTS + 1))
    assert all("backoff_s" in b for b in failed)
    assert ctl.store.job("job-a")["failed_from"] == "finishing"
    ctl.store.close()


class _IgnoresStop(InMemoryExecutor):
    """job-b's trainers ignore the request to checkpoint and stop (SIGTERM) and train on."""

    def stop_trainer(self, pid, start):
        t = self.trainers.get(pid)
        if t is not None and t.job != "job-b":
            super().stop_trainer(pid, start)


def test_a_trainer_ignoring_the_stop_request_is_killed_and_the_move_goes_on(tmp_path):
    """It held its move in `saving` for as long as it trained (minutes, no word of why);
    past stop_honour_s it is killed, said so, and the move carries on from its last
    checkpoint."""
    ex = _IgnoresStop(steps_per_poll=1)
    ctl = memory_controller(tmp_path / "run.db", ex)
    ctl.stop_honour_s = 0.05
    ctl.prepare()
    summary = ctl.run()
    assert summary["status"] == "done", summary.get("error")
    killed = [e["body"]["error"] for e in ctl.store.events(("trainer-failed",))
              if e["job"] == "job-b"]
    assert killed and all("asked to checkpoint and stop" in w for w in killed)
    assert any(m[1] == "job-b" for m in _migrations(ctl))  # the policy's move was made
    assert ctl.store.job("job-b")["phase"] == "done"
    ctl.store.close()


class _CrashesWhenAskedToStop(InMemoryExecutor):
    """job-b's trainers die (exit 1, no checkpoint) when asked to checkpoint and stop."""

    def stop_trainer(self, pid, start):
        t = self.trainers.get(pid)
        if t is not None and t.job == "job-b" and t.alive:
            t.alive, t.exit_code = False, 1
            return
        super().stop_trainer(pid, start)


def test_a_trainer_crashing_while_asked_to_stop_is_a_logged_attempt(tmp_path):
    """A crash in `saving` (or `suspending`, `stopping`) was counted in the job's attempts
    but written nowhere: no trainer-failed event, no log line."""
    ex = _CrashesWhenAskedToStop(steps_per_poll=1)
    lines: list[str] = []
    ctl = memory_controller(tmp_path / "run.db", ex)
    ctl.log = lines.append
    ctl.prepare()
    summary = ctl.run()
    assert summary["status"] == "done", summary.get("error")
    failed = [e["body"] for e in ctl.store.events(("trainer-failed",)) if e["job"] == "job-b"]
    assert failed, "job-b was never asked to stop: the test is vacuous"
    assert all("code 1 while" in b["error"] and b["backoff_s"] == 0.0 for b in failed)
    assert all(b["attempt"] >= 1 for b in failed)
    assert any("job-b: trainer exited with code 1 while" in line for line in lines)
    assert any(m[1] == "job-b" for m in _migrations(ctl))  # its moves went on
    assert ctl.store.job("job-b")["phase"] == "done"
    ctl.store.close()


def test_crashes_spread_over_a_run_with_progress_between_them_do_not_fail_the_job(tmp_path):
    """More crashes than MAX_ATTEMPTS, but each after a new checkpoint: the failures never
    come MAX_ATTEMPTS in a row, so every job finishes (on the old count the first job to
    crash a sixth time failed the run)."""
    from greenhop.runtime.controller import MAX_ATTEMPTS

    ex = _CrashAfterEachCheckpoint(steps_per_poll=3)
    ctl = memory_controller(tmp_path / "run.db", ex)
    ctl.prepare()
    summary = ctl.run()
    assert summary["status"] == "done", summary.get("error")
    crashes: dict[str, list[int]] = {}
    for e in ctl.store.events(("trainer-failed",)):
        crashes.setdefault(e["job"], []).append(e["body"]["attempt"])
    assert max(len(c) for c in crashes.values()) > MAX_ATTEMPTS  # the test is not vacuous
    assert all(a == 1 for c in crashes.values() for a in c)  # each one a new streak
    assert all(r["real_step"] == r["total_steps"] for r in ctl.store.jobs())
    ctl.store.close()


def test_crashes_in_a_row_without_a_new_checkpoint_still_fail_the_job(tmp_path):
    from greenhop.runtime.controller import MAX_ATTEMPTS

    ex = InMemoryExecutor(crash_p=1.0)  # dies at its first poll, every time
    ctl = memory_controller(tmp_path / "run.db", ex)
    ctl.prepare()
    summary = ctl.run()
    assert summary["status"] == "failed" and f"({MAX_ATTEMPTS} attempts)" in summary["error"]
    name = next(r["name"] for r in ctl.store.jobs() if r["phase"] == "failed")
    attempts = [e["body"]["attempt"] for e in ctl.store.events(("trainer-failed",))
                if e["job"] == name]
    assert attempts == list(range(1, MAX_ATTEMPTS + 1))
    row = next(r for r in ctl.store.jobs() if r["name"] == name)
    assert row["attempts"] == MAX_ATTEMPTS  # as many as the error says
    ctl.store.close()


class _SuspendThenMove(PolicyBase):
    """Suspends job-a for the first decisions, then moves it, suspended, one site on; once
    it runs there, suspends it again and moves it on (a policy may migrate a suspended job:
    the fleet core admits it, so the live run must carry it out)."""

    name = "suspend-then-move"
    capabilities = Capabilities(migrates=True, suspends=True)

    def __init__(self) -> None:
        self.decisions = 0

    def decide(self, obs):
        self.decisions += 1
        if obs.job_phase[0] == RUNNING and self.decisions < 5:
            return [Suspend(0)]
        if obs.job_phase[0] == SUSPENDED:
            return [Migrate(0, (int(obs.job_site[0]) + 1) % obs.n_sites)]
        return []


def test_a_suspended_job_migrates_live_as_in_the_simulator(tmp_path):
    from greenhop.policies import POLICIES

    with POLICIES.temporary("suspend-then-move", _SuspendThenMove):
        sim, expected = sim_run(LIVE, policy="suspend-then-move")
        ex = InMemoryExecutor()
        ctl = memory_controller(tmp_path / "run.db", ex, policy="suspend-then-move")
        ctl.prepare()
        summary = ctl.run()
    assert summary["status"] == "done"
    got = _migrations(ctl)
    # two moves of job-a, each started while it was suspended: the live run took both
    assert [m[1] for m in got] == ["job-a", "job-a"] and len(expected) == 2
    assert got == expected
    # it trained every step, its checkpoint carried from one site to the next
    site = ctl.sites[int(ctl.ledger.site[0])]
    assert ex.ckpt[("job-a", site)] == 300
    assert np.allclose(ctl.ledger.finish_s, sim.job_finish_s, atol=60.0, equal_nan=True)
    ctl.store.close()


class _FailsAt(PolicyBase):
    """Moves nothing, then raises in decide at step 8 (a bug in a user's own policy)."""

    name = "fails-at-8"
    capabilities = Capabilities(migrates=True)
    error: type[Exception] = ValueError

    def decide(self, obs):
        if obs.step >= 8:
            raise self.error("boom")
        return []


@pytest.mark.parametrize(("error", "kind"), [(ValueError, "PolicyFailure"),
                                             (ConfigError, "ConfigError")])
def test_a_policy_failing_live_stops_every_trainer_and_records_the_run_failed(
        tmp_path, error, kind):
    """A policy's exception left the trainers training with no controller, the run
    recorded live and no run end; it ends as a failed job does: every trainer stopped
    after its checkpoint, the run failed with the policy's error, resumable."""
    from greenhop.policies import POLICIES
    from greenhop.runtime.controller import PolicyStopped

    cls = type("FailsAt", (_FailsAt,), {"error": error})
    with POLICIES.temporary("fails-at-8", cls):
        ex = InMemoryExecutor()
        ctl = memory_controller(tmp_path / "run.db", ex, policy="fails-at-8")
        ctl.prepare()
        summary = ctl.run()
    assert summary["status"] == "failed"
    assert "policy 'fails-at-8' failed at step 8" in summary["error"] and "boom" in \
        summary["error"]
    assert isinstance(ctl.failure, PolicyStopped)
    assert type(ctl.failure.original).__name__ == kind
    assert not [t for t in ex.trainers.values() if t.alive]  # none trains on
    rows = ctl.store.jobs()
    assert all(r["trainer_pid"] is None for r in rows)
    assert {r["phase"] for r in rows} <= {"stopped", "done", "pending"}
    run = ctl.store.run_row()
    assert run["status"] == "failed" and "boom" in run["error"]
    assert [e["kind"] for e in ctl.store.events()][-1] == "run-failed"
    ctl.store.close()


def _random_actions(seed: int):
    """A policy class whose every decision is drawn from ``(seed, step, job)``: suspends,
    resumes and migrations (to any site, its own and unreachable ones included) of running
    and suspended jobs, so the same observations give the same actions in both runs."""

    class RandomActions(PolicyBase):
        name = "random-actions"
        capabilities = Capabilities(migrates=True, suspends=True)

        def decide(self, obs):
            acts = []
            for j in range(obs.n_jobs):
                r = np.random.default_rng([seed, int(obs.step), j]).random(2)
                phase = obs.job_phase[j]
                if phase == RUNNING and r[0] < 0.15:
                    acts.append(Suspend(j))
                elif phase in (RUNNING, SUSPENDED) and r[0] < 0.35:
                    acts.append(Migrate(j, int(r[1] * obs.n_sites)))
                elif phase == SUSPENDED and r[0] < 0.7:
                    acts.append(Resume(j))
            return acts

    return RandomActions


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_any_sequence_of_actions_runs_live_as_in_the_simulator(seed):
    """Whatever a policy asks, in whatever order (suspend, then move, then resume...), the
    live run accepts and carries out what the simulator does: the same moves at the same
    steps, the same finish times and energy, and no illegal state transition."""
    import tempfile
    from pathlib import Path

    from greenhop.policies import POLICIES

    with POLICIES.temporary("random-actions", _random_actions(seed)), \
            tempfile.TemporaryDirectory() as tmp:
        sim, expected = sim_run(LIVE, policy="random-actions")
        ctl = memory_controller(Path(tmp) / "run.db", InMemoryExecutor(),
                                policy="random-actions")
        ctl.prepare()
        assert ctl.run()["status"] == "done"
        assert _migrations(ctl) == expected
        assert np.allclose(ctl.ledger.finish_s, sim.job_finish_s, atol=60.0, equal_nan=True)
        for k in ("grid", "direct", "curtailed"):
            assert ctl.ledger.energy_j[k].sum() == pytest.approx(sim.energy_j[k].sum(),
                                                                 rel=1e-3)
        ctl.store.close()


class _ManifestedMemory(InMemoryExecutor):
    """The in-memory executor whose sites report a manifest for their checkpoint, so the
    controller records where each checkpoint is (as real agents do)."""

    def manifests(self, job, site):
        step = self.ckpt.get((job, site))
        return [] if step is None else [(step, f"{job}@{site}:{step}")]


class _MoveSuspendLoseResume(PolicyBase):
    """Moves job-a one site on, lets it train there, suspends it, then deletes its only
    checkpoint at that site (as an operator's mistake would) and resumes it."""

    name = "move-suspend-lose-resume"
    capabilities = Capabilities(migrates=True, suspends=True)
    executor: InMemoryExecutor | None = None

    def __init__(self) -> None:
        self.decisions, self.home, self.lost = 0, None, None

    def decide(self, obs):
        self.decisions += 1
        site, phase = int(obs.job_site[0]), obs.job_phase[0]
        if self.home is None and phase == RUNNING and self.decisions >= 2:
            self.home = site
            return [Migrate(0, (site + 1) % obs.n_sites)]
        if self.home is not None and site != self.home and self.lost is None:
            if phase == RUNNING and self.decisions >= 8:
                return [Suspend(0)]
            if phase == SUSPENDED:
                self.lost = self.executor.ckpt.pop(("job-a", _site_name(obs, site)))
                return [Resume(0)]
        return []


def _site_name(obs, site: int) -> str:
    return inputs(LIVE)[0].site_names[site]


def test_a_lost_checkpoint_resumes_from_an_older_copy_recorded_at_another_site(tmp_path):
    """The only checkpoint of a suspended job at its site is deleted: the controller pulls
    the older copy the job's last move left at its source (recorded there), says so
    (`restore-failed`, `checkpoint-fallback`), and the job trains on, instead of
    failing with "no intact checkpoint" while an older one is on record."""
    from greenhop.policies import POLICIES

    ex = _ManifestedMemory()
    _MoveSuspendLoseResume.executor = ex
    with POLICIES.temporary("move-suspend-lose-resume", _MoveSuspendLoseResume):
        ctl = memory_controller(tmp_path / "run.db", ex, policy="move-suspend-lose-resume")
        ctl.prepare()
        summary = ctl.run()
    assert summary["status"] == "done", summary.get("error")
    fallback = [e["body"] for e in ctl.store.events(("checkpoint-fallback",))
                if e["job"] == "job-a"]
    assert len(fallback) == 1
    lost, older = fallback[0]["expected"], fallback[0]["step"]
    assert older < lost  # not vacuous: the copy pulled is older than the one lost
    failed = [e["body"]["error"] for e in ctl.store.events(("restore-failed",))
              if e["job"] == "job-a"]
    assert any(f"older step {older} from" in why for why in failed), failed
    # deleted, not damaged: said so (it read "does not verify")
    assert any(f"step {lost} of 'job-a' at" in why and "is missing; pulling" in why
               for why in failed), failed
    # the next trainer of job-a resumed from exactly that older step and trained on past
    # the step that was lost, to the end of the run
    resumed = [s for s in ex.starts if s[0] == "job-a" and s[3] == older]
    assert resumed and resumed[-1][2] > 1
    assert ctl.store.job("job-a")["real_step"] > lost
    ctl.store.close()


class _DeleteTheDatabase(PolicyBase):
    """Does nothing but delete the run database file at its third decision (a user's
    `rm run.db` while the run is live)."""

    name = "delete-the-database"
    capabilities = Capabilities()
    path = None

    def __init__(self) -> None:
        self.decisions = 0

    def decide(self, obs):
        self.decisions += 1
        if self.decisions == 3:
            self.path.unlink(missing_ok=True)
        return []


def test_a_database_deleted_mid_run_stops_the_run_and_its_records_are_saved(tmp_path,
                                                                            monkeypatch):
    """`rm run.db` while the run is live: the run notices at its next heartbeat, stops as
    Ctrl-C stops it (every job checkpointed), and saves the open database to a new file
    beside the old path (it ran on blind before, its books lost with the unlinked file);
    moved back, the same run resumes to its end."""
    import shutil

    from greenhop.policies import POLICIES
    from greenhop.runtime import controller as controller_mod

    monkeypatch.setattr(controller_mod, "HEARTBEAT_S", 0.0)
    db = tmp_path / "run.db"
    _DeleteTheDatabase.path = db
    ex = InMemoryExecutor()
    with POLICIES.temporary("delete-the-database", _DeleteTheDatabase):
        ctl = memory_controller(db, ex, policy="delete-the-database")
        ctl.prepare()
        summary = ctl.run()
        ctl.store.close()
    assert summary["status"] == "stopped"
    assert "was deleted while the run was live" in summary["error"]
    saved = Path(summary["recovered_db"])
    assert saved.parent == tmp_path and saved.name.startswith("run.db.recovered-")
    assert not db.exists()
    # nothing of the deleted file is left under its name to be read into a new one there
    assert not any(tmp_path.glob("run.db-*"))
    kept = Store.open(saved)
    assert kept.run_row()["status"] == "stopped"
    stopped_at = kept.run_row()["step"]
    assert 0 < stopped_at < inputs(LIVE)[1].n_steps
    kept.close()
    shutil.move(saved, db)
    with POLICIES.temporary("delete-the-database", _DeleteTheDatabase):
        _DeleteTheDatabase.path = tmp_path / "not-there"  # the resumed policy deletes nothing
        ctl = memory_controller(db, ex, policy="delete-the-database")
        ctl.prepare()
        again = ctl.run()
    assert again["status"] == "done", again.get("error")
    assert ctl.store.run_row()["step"] > stopped_at
    ctl.store.close()


@dataclass
class _FirstTrainerFreezes(InMemoryExecutor):
    """job-a's first trainer stops making steps at step ``freeze_at`` and never exits: at 0
    it never reports one (a hung import, a SIGSTOP at start), later it falls silent while
    it trains (a SIGSTOP, a hung collective)."""

    freeze_at: int = 0

    def _advance(self, t) -> None:
        first = next(p for p, tr in sorted(self.trainers.items()) if tr.job == "job-a")
        if t.pid != first or t.step < self.freeze_at:
            super()._advance(t)


@pytest.mark.parametrize(("freeze_at", "said"), [
    (0, "reported no step within 0.2 s of its start (hung or frozen); killed it"),
    (6, "reported no new step for 0.2 s after step 6 (hung or frozen); killed it")])
def test_a_trainer_that_stops_reporting_steps_is_killed_and_started_again(tmp_path,
                                                                         freeze_at, said):
    """A trainer that reports no step within the start timeout, or none after step 6 for
    as long, is killed and started again (one failed attempt, said why): the run
    finishes instead of waiting on it for ever. Frozen mid-run, it held its job in
    `finishing`, and the run's clock, until --max-wall, and outlived the run."""
    ex = _FirstTrainerFreezes(freeze_at=freeze_at)
    ctl = memory_controller(tmp_path / "run.db", ex)
    ctl.cfg.start_timeout_s = 0.2
    ctl.prepare()
    summary = ctl.run()
    assert summary["status"] == "done", summary.get("error")
    hung = min(p for p, tr in ex.trainers.items() if tr.job == "job-a")
    assert not ex.trainers[hung].alive and ex.trainers[hung].exit_code == -9
    why = [e["body"]["error"] for e in ctl.store.events(("trainer-failed",))
           if e["job"] == "job-a"]
    # at its start the retry also names the trainer's log
    assert len(why) == 1 and (why[0] == f"trainer {said}" if freeze_at else
                              why[0].startswith(f"trainer {said}; see ")), why
    assert len([s for s in ex.starts if s[0] == "job-a"]) >= 2
    assert ctl.store.job("job-a")["real_step"] == ctl.store.job("job-a")["total_steps"]
    ctl.store.close()


def test_actions_the_fleet_refuses_are_logged_as_given_not_by_a_wrong_name():
    """A live run logs each action of its policy by name; an index the fleet refuses (out
    of range, a bool, a float) is logged as given: an out-of-range one raised IndexError
    (a traceback mid-run), and `True` was logged as the second job."""
    from greenhop.runtime.replay import action_to_json

    jobs, sites = ["job-a", "job-b"], ["x", "y"]
    assert action_to_json(Migrate(np.int64(1), 0), sites, jobs) == ["migrate", "job-b", "x"]
    assert action_to_json(Migrate(99, 1), sites, jobs) == ["migrate", "99", "y"]
    assert action_to_json(Migrate(True, 1), sites, jobs) == ["migrate", "True", "y"]
    assert action_to_json(Suspend(0.5), sites, jobs) == ["suspend", "0.5"]
    assert action_to_json(Migrate(0, -1), sites, jobs) == ["migrate", "job-a", "-1"]


def _killed(summary):
    raise KeyboardInterrupt  # the process ends here, before the run is recorded done


def test_a_resume_says_when_the_policy_file_changed_and_names_it_when_decisions_differ(
        tmp_path):
    """A live run resumed with an edited policy file said nothing of it; when the edit
    changed the logged decisions the refusal blamed a non-deterministic policy or a changed
    scenario, not the file."""
    from greenhop.core.errors import RuntimeFailure
    from greenhop.policies import make_policy

    db, mine = tmp_path / "run.db", "/x/mine.py"
    ctl = memory_controller(db, InMemoryExecutor())
    ctl.cfg.policy_source = {"file": mine, "sha256": "a" * 64}
    try:
        ctl.prepare()
        with pytest.raises(KeyboardInterrupt):
            ctl.run(before_done=_killed)
        assert _migrations(ctl), "no move was logged: a policy without moves would replay"
    finally:
        ctl.store.close()
    lines: list[str] = []
    again = memory_controller(db, InMemoryExecutor())
    again.cfg.policy_source = {"file": mine, "sha256": "b" * 64}
    again.log = lines.append
    try:
        assert again.prepare() == "resumed"  # the same decisions: it goes on, and says so
    finally:
        again.store.close()
    assert any(f"the policy file {mine} changed since the run started" in m for m in lines)
    third = memory_controller(db, InMemoryExecutor())
    third.cfg.policy_source = {"file": mine, "sha256": "c" * 64}
    third.policy = make_policy("static")  # the edit makes it decide otherwise
    try:
        with pytest.raises(RuntimeFailure, match=f"the policy file {mine} changed since the "
                                                 "run started; start a new run"):
            third.prepare()
    finally:
        third.store.close()
