"""What a live run does with a stop that cuts a move short while the destination's trainer
already trains, and with a job the horizon ends on whose trainer had finished its steps
(in-memory processes; the real ones: tests/runtime/test_stop_paths.py; a trainer that
freezes mid-run: tests/runtime/test_controller.py)."""

from __future__ import annotations

import time

from test_controller_kit import memory_controller

from greenhop.runtime.controller import AT_REST
from greenhop.runtime.memory import InMemoryExecutor


class _QuietAfterAMove(InMemoryExecutor):
    """A trainer started at a move's destination trains but reports no step until it is
    asked to stop (a slow restore's first log line): the move has not landed when a stop
    comes."""

    def start_trainer(self, job, site, spec, token, *, resume_step=None):
        pid, start = super().start_trainer(job, site, spec, token, resume_step=resume_step)
        if any(s[0] == job for s in self.starts[:-1]):  # not the job's first trainer
            self.trainers[pid].quiet = True
        return pid, start

    def _advance(self, t) -> None:
        super()._advance(t)
        if getattr(t, "quiet", False) and t.alive and not t.stop:
            t.printed = -1


def test_a_stop_past_its_deadline_while_restoring_keeps_the_destinations_checkpoint(tmp_path):
    """A --max-wall stop gives a move in flight no time to land: the trainer already
    started at the destination checkpoints there, and the job is stopped at that step (it
    read the source's older one, and the destination's newer checkpoint was never
    recorded: the resume called it foreign and moved it aside)."""
    ex = _QuietAfterAMove()
    ctl = memory_controller(tmp_path / "run.db", ex)
    ctl.cfg.max_wall_s = 5.0
    t0 = time.monotonic()
    seen = {}
    look = ctl._reconcile_job

    def spy(r):
        out = look(r)
        row = ctl.store.job(r["name"])
        if (not seen and row["phase"] == "restoring" and row["move_kind"] == "migrate"
                and row["trainer_pid"]
                and ex.trainers[row["trainer_pid"]].step > (row["expect_step"] or 0)):
            seen.update(name=row["name"], src=ctl.sites[row["site"]],
                        dst=ctl.sites[row["dest"]])
            time.sleep(max(0.0, t0 + ctl.cfg.max_wall_s - time.monotonic()) + 0.05)
        return out

    ctl._reconcile_job = spy
    ctl.prepare()
    summary = ctl.run()
    assert summary["status"] == "stopped" and summary.get("out_of_wall_time"), summary
    row = ctl.store.job(seen["name"])
    at_dst = ex.ckpt[(seen["name"], seen["dst"])]
    assert at_dst > ex.ckpt.get((seen["name"], seen["src"]), 0)
    assert row["phase"] == "stopped" and row["expect_step"] == row["real_step"] == at_dst
    ctl.store.close()
    # the next run resumes the job at the destination, from that checkpoint, to the end
    starts = len(ex.starts)
    again = memory_controller(tmp_path / "run.db", ex)
    again.prepare()
    assert again.run()["status"] == "done"
    first = next(s for s in ex.starts[starts:] if s[0] == seen["name"])
    assert first[1] == seen["dst"] and first[3] == at_dst, first
    assert again.store.job(seen["name"])["phase"] == "done"
    again.store.close()


def test_a_job_the_horizon_ends_on_with_its_training_done_ends_stopped(tmp_path):
    """wait-awhile keeps job-b waiting past the simulated end of its work while its trainer
    finishes all its steps: the finished run leaves no job `running` without a trainer."""
    ex = InMemoryExecutor()
    ctl = memory_controller(tmp_path / "run.db", ex, policy="wait-awhile", steps=60, every=10)
    ctl.prepare()
    assert ctl.run()["status"] == "done"
    rows = {r["name"]: r for r in ctl.store.jobs()}
    assert rows["job-b"]["phase"] == "stopped" and rows["job-b"]["real_step"] == 60
    assert all(r["phase"] in AT_REST and r["trainer_pid"] is None for r in rows.values())
    ctl.store.close()
