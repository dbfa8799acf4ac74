"""An in-memory executor: simulated trainers, agents and transfers, no processes.

It implements :class:`~greenhop.runtime.executor.Executor` with plain Python
objects that follow the same protocol as the real ones (a trainer advances a few
steps per poll, checkpoints every ``every_steps``, checkpoints and exits 75 on a
stop request, exits 0 at its last step; a transfer takes a few polls). Faults
can be injected: a trainer crash (exit 1, its in-flight steps lost since the last
checkpoint), a failed transfer, or the controller's death (every trainer is told
to stop, as ``PR_SET_PDEATHSIG`` does for real processes). The benchmark and the
soak test drive the real controller with it; it also *checks* the safety
invariant on every start: never two live trainers of one job.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from greenhop.runtime.executor import Executor, TrainerSpec, TrainerStatus


class InvariantViolation(AssertionError):
    """The controller did something the safety rules forbid."""


@dataclass
class _Trainer:
    job: str
    site: str
    spec: TrainerSpec
    token: int
    step: int
    pid: int
    alive: bool = True
    exit_code: int | None = None
    stop: bool = False
    printed: int = -1


@dataclass
class InMemoryExecutor(Executor):
    """Simulated processes. ``steps_per_poll``: training steps a live trainer makes each
    time the controller looks; ``transfer_polls``: polls a transfer takes; ``crash_p``: the
    chance a live trainer crashes at a poll; ``max_crash_streak``: crashes of one job in a row
    without a new checkpoint in between, after which it runs crash-free until it saves one
    (``None``: no cap). The cap keeps a random fault schedule survivable: the controller
    gives a job a bounded number of attempts, and a schedule that crashes it more often
    than that in a row tests the dice, not the controller."""

    steps_per_poll: int = 3
    transfer_polls: int = 2
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    crash_p: float = 0.0
    max_crash_streak: int | None = None
    transfer_fail_p: float = 0.0
    ckpt: dict = field(default_factory=dict)          # (job, site) -> checkpoint step
    trainers: dict = field(default_factory=dict)      # pid -> _Trainer
    transfers: dict = field(default_factory=dict)     # job -> [token, polls_left, src, dst, fail]
    next_pid: int = 1000
    starts: list = field(default_factory=list)
    lost_steps: list = field(default_factory=list)
    agents_started: int = 0
    crash_streak: dict = field(default_factory=dict)  # job -> crashes since its last checkpoint

    # ------------------------------------------------------------ agents
    def start_agents(self, sites, rates_bps):
        self.agents_started += 1
        return {s: (1, f"mem://{s}") for s in sites}

    def ensure_agent(self, site):
        return 1, f"mem://{site}"

    def stop_agents(self):
        pass

    # ------------------------------------------------------------ trainers
    def start_trainer(self, job, site, spec, token, *, resume_step=None):
        live = [t for t in self.trainers.values() if t.job == job and t.alive]
        if live:
            raise InvariantViolation(f"second live trainer of {job}: {live}")
        self.next_pid += 1
        step = self.ckpt.get((job, site), 0)
        t = _Trainer(job, site, spec, token, step, self.next_pid)
        self.trainers[t.pid] = t
        self.starts.append((job, site, token, step))
        return t.pid, "t0"

    def _advance(self, t: _Trainer) -> None:
        if not t.alive:
            return
        streak = self.crash_streak.get(t.job, 0)
        if (self.crash_p and self.rng.random() < self.crash_p
                and (self.max_crash_streak is None or streak < self.max_crash_streak)):
            self.crash_streak[t.job] = streak + 1
            t.alive, t.exit_code = False, 1
            self.lost_steps.append(t.step - self.ckpt.get((t.job, t.site), 0))
            return
        if t.stop:
            self.ckpt[(t.job, t.site)] = t.step
            t.alive, t.exit_code = False, 75
            return
        for _ in range(self.steps_per_poll):
            if t.step >= t.spec.steps:
                break
            t.step += 1
            t.printed = t.step
            if t.spec.every_steps and t.step % t.spec.every_steps == 0:
                self.ckpt[(t.job, t.site)] = t.step
                self.crash_streak[t.job] = 0
        if t.step >= t.spec.steps:
            self.ckpt[(t.job, t.site)] = t.step
            t.alive, t.exit_code = False, 0

    def trainer_status(self, job, pid, start, token):
        t = self.trainers.get(pid) if pid else None
        if t is None:
            return TrainerStatus(False, None, -1)
        self._advance(t)
        return TrainerStatus(t.alive, t.exit_code, t.printed)

    def is_alive(self, pid, start):
        t = self.trainers.get(pid) if pid else None
        return bool(t and t.alive)

    def stop_trainer(self, pid, start):
        t = self.trainers.get(pid)
        if t is not None and t.alive:
            t.stop = True

    def kill_trainer(self, pid, start):
        t = self.trainers.get(pid)
        if t is not None and t.alive:
            t.alive, t.exit_code = False, -9

    def controller_died(self) -> None:
        """What PR_SET_PDEATHSIG does: every trainer checkpoints and exits."""
        for t in self.trainers.values():
            if t.alive:
                self.ckpt[(t.job, t.site)] = t.step
                t.alive, t.exit_code = False, 75
        self.transfers.clear()

    # ------------------------------------------------------------ transfers
    def start_transfer(self, job, src, dst, token, *, accept=None):
        cur = self.transfers.get(job)
        if cur is not None and cur[0] == token:
            return
        fail = bool(self.transfer_fail_p and self.rng.random() < self.transfer_fail_p)
        self.transfers[job] = [token, self.transfer_polls, src, dst, fail]

    def transfer_status(self, job, token):
        cur = self.transfers.get(job)
        if cur is None or cur[0] != token:
            return "none", None
        if cur[1] > 0:
            cur[1] -= 1
            return "running", None
        if cur[4]:
            return "failed", "simulated link failure"
        step = self.ckpt.get((job, cur[2]))
        if step is None:
            return "failed", f"no checkpoint of {job} at {cur[2]}"
        self.ckpt[(job, cur[3])] = step
        return "done", {"total_bytes": 100_000, "step": step}

    def checkpoint_step(self, job, site):
        return self.ckpt.get((job, site))
