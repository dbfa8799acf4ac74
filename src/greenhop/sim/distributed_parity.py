"""What the simulator expects of a job spread over sites: the figures a live run must match.

:func:`expected_counts` runs the simulator on a scenario with a schedule of single-worker
moves (``(outer_step, worker, site)``: once the job has completed ``outer_step`` outer
steps, move that worker to that site) and returns, for one spread job, the number of
outer steps, the pseudo-gradient bytes exchanged (every taking-part worker's
pseudo-gradient once per outer step), the bytes the ring puts on the WAN and each
worker's moves. A live DiLoCo run of the same job (same workers, ``sync_every``,
``outer_steps``, model size and exchange precision) with the same move schedule must
report the same outer steps, pseudo-gradient bytes and moves (docs/distributed.md).
"""

from __future__ import annotations

from greenhop.core.errors import ConfigError
from greenhop.core.observation import RUNNING, Migrate
from greenhop.policies.base import PolicyBase
from greenhop.sim.distributed_jobs import worker_name
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario


class ScheduledWorkerMoves(PolicyBase):
    """Moves single workers of one spread job after given outer steps (nothing else)."""

    name = "scheduled-worker-moves"

    def __init__(self, job: str, moves) -> None:
        self.job = job
        self.moves = sorted((int(k), int(w), str(s)) for k, w, s in moves)
        self.issued: set[int] = set()
        self.groups = None                    # the engine's Groups, bound before the run

    def decide(self, obs):
        group = next(g for g in self.groups.groups if g.name == self.job)
        out = []
        for i, (k, w, site) in enumerate(self.moves):
            j = obs.job_names.index(worker_name(self.job, w))
            if i not in self.issued and group.outer_done >= k and obs.job_phase[j] == RUNNING:
                self.issued.add(i)
                out.append(Migrate(j, site))
        return out


def expected_counts(scenario, job: str, moves=()) -> dict:
    """Run ``scenario`` (a path, a packaged name, a dict or a Scenario) with the worker
    moves ``moves`` of spread job ``job``; returns ``outer_steps``, ``pseudo_gradient_bytes``
    [B], ``sync_bytes`` (the ring's WAN bytes) [B], ``worker_moves`` (worker index ->
    moves), ``finished`` and ``per_outer_step`` (end time [s] and workers taking part)."""
    sc = load_scenario(scenario)
    inp = build_inputs(sc)
    if not any(j.worker is not None and j.worker.group == job for j in inp.jobs):
        raise ConfigError(f"no job spread over sites named '{job}' in scenario '{sc.name}'")
    policy = ScheduledWorkerMoves(job, moves)
    engine = Engine(inp, policy)
    policy.groups = engine.core.groups
    engine.run()
    summary = next(s for s in engine.core.groups.summary() if s["job"] == job)
    group = next(g for g in engine.core.groups.groups if g.name == job)
    return {
        "outer_steps": summary["outer_steps"],
        "pseudo_gradient_bytes": summary["pseudo_gradient_bytes"],
        "sync_bytes": summary["sync_bytes"],
        "worker_moves": {i: summary["worker_moves"][worker_name(job, i)]
                         for i in range(summary["workers"])},
        "finished": summary["finish_s"] is not None,
        "per_outer_step": [dict(r) for r in group.log],
    }
