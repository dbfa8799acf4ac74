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

import math

from greenhop.core.errors import ConfigError
from greenhop.core.observation import RUNNING, Migrate
from greenhop.policies.base import Capabilities, PolicyBase
from greenhop.sim.distributed_jobs import worker_name
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

_STEP_S = 300.0
"""The step of :func:`parity_scenario`'s scenarios [s] (its horizon is a whole number of
them)."""


class ScheduledWorkerMoves(PolicyBase):
    """Moves single workers of one spread job after given outer steps (nothing else)."""

    name = "scheduled-worker-moves"
    capabilities = Capabilities(migrates=True)

    def __init__(self, job: str, moves) -> None:
        self.job = job
        self.moves = sorted(_move(m) for m in moves)
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


def _move(m) -> tuple[int, int, str]:
    """``(outer_step, worker, site)`` from a tuple or an object with those attributes."""
    if hasattr(m, "outer_step"):
        return int(m.outer_step), int(m.worker), str(m.site)
    k, w, site = m
    return int(k), int(w), str(site)


def _check_moves(inp, job: str, moves) -> None:
    """Refuse, in one line naming the move and the job, a move the live driver would
    refuse: a worker out of range, an unknown site or the site the worker is at, an outer
    step outside ``1 .. T-1``."""
    members = sorted((j.worker.index, i) for i, j in enumerate(inp.jobs)
                     if j.worker is not None and j.worker.group == job)
    n, total = len(members), inp.jobs[members[0][1]].worker.outer_steps
    at = {w: (inp.site_names[inp.job_origin[i]] if inp.job_origin[i] >= 0 else None)
          for w, i in members}
    order = []
    for pos, m in enumerate(moves):
        try:
            k, w, site = _move(m)
        except (TypeError, ValueError, AttributeError):
            raise ConfigError(f"moves[{pos}]: job '{job}': a move is (outer_step, worker, "
                              f"site); got {m!r}") from None
        order.append((k, pos, w, site))
    seen = set()
    for k, pos, w, site in sorted(order):
        where = f"moves[{pos}]: job '{job}'"
        if not 0 <= w < n:
            raise ConfigError(f"{where}: worker {w} is not one of its workers 0..{n - 1}")
        if site not in inp.site_names:
            raise ConfigError(f"{where}: unknown site '{site}'; sites: "
                              f"{', '.join(sorted(inp.site_names))}")
        if not 1 <= k <= total - 1:
            raise ConfigError(f"{where}: outer step {k} is outside 1..{total - 1} (a move "
                              "happens between two of its outer steps)")
        if at[w] == site:
            raise ConfigError(f"{where}: worker {w} is already at '{site}' then")
        if (k, w) in seen:
            raise ConfigError(f"{where}: worker {w} moves twice after outer step {k}")
        seen.add((k, w))
        at[w] = site


def parity_scenario(workers: int, sync_every: int, outer_steps: int, model_params: float, *,
                    sites: tuple[str, ...] | list[str], placement=None,
                    sync_precision: str = "fp32", job: str = "diloco",
                    outer_step_s: float = 600.0) -> dict:
    """A scenario dict of one spread job on ``sites`` (a full mesh of 10 Gbit/s links,
    constant surplus, room for every worker at every site), for :func:`expected_counts`:
    the same workers, interval, outer steps, model size and exchange precision as a live
    run; ``placement`` gives each worker's first site (default: worker i at
    ``sites[i % len(sites)]``). Each outer step is ``outer_step_s`` of training."""
    sites = list(sites)
    place = list(placement) if placement is not None else [
        sites[i % len(sites)] for i in range(workers)]
    horizon_s = 2 * outer_steps * outer_step_s + 86400.0
    horizon_s = _STEP_S * math.ceil(horizon_s / _STEP_S)  # a whole number of steps
    return {
        "name": f"parity-{job}", "start": "2023-06-01T00:00:00Z",
        "horizon": f"{int(horizon_s)}s", "step": f"{int(_STEP_S)}s", "history": "0s",
        "policies": ["static"],
        "sites": [{"name": s, "latitude": 0.0, "longitude": 0.0, "gpu_slots": workers,
                   "base_load": "1kW", "gpu_power": "400W", "gpu_idle": "50W",
                   "trace": {"kind": "constant", "power": "100kW"}} for s in sites],
        "links": [{"a": a, "b": b, "bandwidth": "10Gbps"}
                  for i, a in enumerate(sites) for b in sites[i + 1:]],
        "jobs": [{"name": job, "work_gpu_h": workers * outer_steps * outer_step_s / 3600.0,
                  "gpus": 1, "workers": workers, "sync_every": sync_every,
                  "outer_steps": outer_steps, "model_params": float(model_params),
                  "sync_precision": sync_precision, "worker_sites": place}],
    }


def expected_counts(scenario, job: str, moves=()) -> dict:
    """Run ``scenario`` (a path, a packaged name, a dict or a Scenario) with the worker
    moves ``moves`` of spread job ``job`` (``(outer_step, worker, site)`` tuples or objects
    with those attributes, such as the live driver's moves); returns ``outer_steps``,
    ``pseudo_gradient_bytes`` [B], ``sync_bytes`` (the ring's WAN bytes) [B],
    ``worker_moves`` (worker index -> moves), ``finished`` and ``per_outer_step`` (end
    time [s] and workers taking part)."""
    sc = load_scenario(scenario)
    inp = build_inputs(sc)
    if not any(j.worker is not None and j.worker.group == job for j in inp.jobs):
        raise ConfigError(f"no job spread over sites named '{job}' in scenario '{sc.name}'")
    moves = list(moves)
    _check_moves(inp, job, moves)
    policy = ScheduledWorkerMoves(job, moves)
    engine = Engine(inp, policy)
    policy.groups = engine.core.groups
    engine.run()
    summary = next(s for s in engine.core.groups.summary() if s["job"] == job)
    group = next(g for g in engine.core.groups.groups if g.name == job)
    return {
        "outer_steps": summary["outer_steps"],
        "pseudo_gradient_bytes": round(summary["pseudo_gradient_bytes"]),
        "sync_bytes": summary["sync_bytes"],
        "worker_moves": {i: summary["worker_moves"][worker_name(job, i)]
                         for i in range(summary["workers"])},
        "finished": summary["finish_s"] is not None,
        "per_outer_step": [dict(r) for r in group.log],
    }
