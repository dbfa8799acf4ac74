"""Offline lower bounds on the job-attributable grid energy (``job_nr_kwh``), solved as LPs.

``job_nr_kwh`` of a run is its grid energy minus the grid energy of the same sites with base
load only (:func:`greenhop.sim.attribution.base_only_dispatch`). A bound answers: *with free,
instant migration, how low could that go for the work* ``static`` *did?* Two kinds:

* ``spacetime``: each job does at least the work ``static`` completed for it by the horizon,
  at any time after its arrival (before its deadline with ``deadlines=True``), never faster
  than its GPUs allow, anywhere it may run, within every site's GPU slots.
* ``space``: the same, and in addition no job's cumulative work may, at the end of any
  block, exceed ``static``'s running time by then x its GPUs x its best throughput: it may
  lag ``static`` (migrations and suspensions cost time) and run on faster GPUs, but not run
  earlier or longer. Where ``static`` ran a job from its arrival on its fastest GPUs this is
  no constraint at all, so ``space`` differs from ``spacetime`` only through jobs ``static``
  queued or ran on slower GPUs (and a run that starts such a job earlier is not covered).

The LP (:mod:`greenhop.sim.bounds_lp`) minimises the grid energy of all sites with a free
dispatch of renewables, batteries (charged from renewables only, with their efficiency,
power and state-of-charge limits) and grid. The simulator's greedy dispatch of any schedule
that satisfies the constraints above is a feasible point of that LP, and the LP also leaves
out migration downtime, idle and network energy (more demand never lowers the grid energy
it needs), so the LP optimum minus the base-only grid energy is a **true lower bound** on
``job_nr_kwh`` of every run that the bound *covers*: a run that did, per job, at least the
bound's required work (:attr:`BoundResult.job_work_gpu_s`) inside the job's window; for
``space`` the work counted is what remains after cutting every excursion above the cap
(see :meth:`BoundResult.covers`). Time is aggregated into blocks
(1 h by default) by summing every per-step constraint over the block: a relaxation, so the
bound stays a lower bound. See ``docs/bounds.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.sim.bounds_lp import (
    H_S,
    KWH_J,
    LpInput,
    LpSize,
    best_rate_per_gpu,
    plan_size,
    solve,
)
from greenhop.sim.engine import Engine, RunResult
from greenhop.sim.inputs import SimInputs
from greenhop.sim.scenario import BOUND_KINDS

__all__ = ["BOUND_KINDS", "BoundResult", "BoundTooLargeError", "compute_bound",
           "cumulative_work_gpu_s"]

#: default memory limit of one bound's LP [bytes] (estimated before it is built)
DEFAULT_MAX_MEMORY_BYTES = 4e9
#: relative tolerance of "did at least the bound's work"
WORK_RTOL = 1e-6


class BoundTooLargeError(ConfigError):
    """The bound's LP would need more memory than allowed."""


def cumulative_work_gpu_s(inputs: SimInputs, run: RunResult, times_s: np.ndarray,
                          until_s: np.ndarray | None = None, *, seconds: bool = False
                          ) -> np.ndarray:
    """Work each job of ``run`` had done by each of ``times_s`` [reference-GPU-s], ``[J, K]``.

    Read from the run's segments (always recorded): a ``running`` segment at site ``s`` does
    ``GPUs x throughput`` per second (a partial job with staying GPUs at the slower of its
    site and its home, the site it started at). ``until_s`` [J] stops counting each job's work
    at that time (its deadline). ``seconds=True`` counts time spent running [s] instead.
    """
    J = len(inputs.jobs)
    times = np.asarray(times_s, dtype=float)
    out = np.zeros((J, times.size))
    segs = [s for s in run.segments if s[4] == "running"]
    if not segs:
        return out
    j = np.array([s[0] for s in segs], dtype=np.int64)
    site = np.array([s[1] for s in segs], dtype=np.int64)
    t0 = np.array([s[2] for s in segs], dtype=float)
    t1 = np.array([s[3] for s in segs], dtype=float)
    first = np.full(J, np.inf)
    np.minimum.at(first, j, t0)
    home = np.full(J, -1, dtype=np.int64)
    is_first = t0 == first[j]
    home[j[is_first]] = site[is_first]
    tp = inputs.throughput
    tp_run = np.where(inputs.job_g_stay[j] > 0, np.minimum(tp[site], tp[home[j]]), tp[site])
    rate = np.ones(len(segs)) if seconds else inputs.job_gpus[j] * tp_run
    stop = np.full(J, np.inf) if until_s is None else np.asarray(until_s, dtype=float)
    for k in range(0, len(segs), 256):
        sl = slice(k, k + 256)
        at = np.minimum(times[None, :], stop[j[sl], None])
        run_s = np.clip(at - t0[sl, None], 0.0, (t1[sl] - t0[sl])[:, None])
        np.add.at(out, j[sl], rate[sl, None] * run_s)
    return out


@dataclass(frozen=True, eq=False)
class BoundResult:
    """One offline bound of a scenario.

    Attributes:
        kind: ``space`` or ``spacetime``.
        job_nr_kwh: the bound on job-attributable grid energy [kWh]; ``None`` unless HiGHS
            proved optimality.
        work_gpu_h: total work the bound requires [reference-GPU-h].
        solve_s: wall time of building and solving the LP [s].
        status: HiGHS's model status string (``Optimal``, ``Time limit reached``, ...).
        method: how the LP was aggregated, in words.
        job_work_gpu_s: work each job must do [reference-GPU-s], ``[J]``.
        block_edges_s: block boundaries [s after start], ``[B+1]``.
        job_window_end_s: end of each job's window (deadline or horizon) [s], ``[J]``.
        job_cap_gpu_s: ``space`` only: the cumulative work each job may have done by each
            block end (static's running time by then x GPUs x best throughput)
            [reference-GPU-s], ``[J, B]``.
        deadlines: whether work counts only before each job's deadline.
        lp_size: columns, rows and nonzeros of the LP.
        grid_kwh: the LP's total grid energy [kWh]; ``base_only_kwh``: the base-only
            dispatch's [kWh]; ``static_job_nr_kwh``: static's job grid energy [kWh].
    """

    kind: str
    job_nr_kwh: float | None
    work_gpu_h: float
    solve_s: float
    status: str
    method: str
    job_work_gpu_s: np.ndarray
    block_edges_s: np.ndarray
    job_window_end_s: np.ndarray
    job_cap_gpu_s: np.ndarray | None
    deadlines: bool
    lp_size: LpSize
    grid_kwh: float | None
    base_only_kwh: float
    static_job_nr_kwh: float
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """``{job_nr_kwh, work_gpu_h, solve_s, status}`` and context keys (rounded, JSON-ready)."""
        def r(x, d):
            return None if x is None or not np.isfinite(x) else round(float(x), d)

        return {
            "job_nr_kwh": r(self.job_nr_kwh, 4), "work_gpu_h": r(self.work_gpu_h, 4),
            "solve_s": r(self.solve_s, 3), "status": self.status, "method": self.method,
            "deadlines": self.deadlines, "static_job_nr_kwh": r(self.static_job_nr_kwh, 4),
            "lp_cols": self.lp_size.cols, "lp_rows": self.lp_size.rows,
            "lp_nnz": self.lp_size.nnz,
        }

    def job_covered_gpu_s(self, inputs: SimInputs, run: RunResult) -> np.ndarray:
        """Per job, the work of ``run`` the bound's LP can account for [reference-GPU-s]:
        work inside the job's window; for ``space``, cut to the cap at every block end
        (``W'_b = min(cap_b, W'_{b-1} + w_b)``; dropping work only removes demand, so the
        run's own dispatch stays a feasible point of the LP)."""
        cum = cumulative_work_gpu_s(inputs, run, self.block_edges_s, self.job_window_end_s)
        if self.job_cap_gpu_s is None:
            kept = cum[:, -1]
        else:
            per_block = np.diff(cum, axis=1)
            kept = np.zeros(cum.shape[0])
            for b in range(per_block.shape[1]):
                kept = np.minimum(self.job_cap_gpu_s[:, b], kept + per_block[:, b])
        return np.where(_homed_at_origin(inputs, run), kept, 0.0)

    def covers(self, inputs: SimInputs, run: RunResult) -> bool:
        """Whether the bound is a lower bound for ``run``: every job's counted work
        (:meth:`job_covered_gpu_s`) is at least the required work, within
        :data:`WORK_RTOL` relative (a run that much short of the work could be below the
        bound by at most that share of the jobs' energy).

        Without deadlines, ``spacetime`` covers exactly the runs that did at least
        :attr:`job_work_gpu_s` for every job; ``space`` and deadlines need the run's
        segments, which this reads."""
        done = self.job_covered_gpu_s(inputs, run)
        need = self.job_work_gpu_s
        return bool(np.all(done >= need * (1.0 - WORK_RTOL) - 1e-9))


def _homed_at_origin(inputs: SimInputs, run: RunResult) -> np.ndarray:
    """Per job, whether ``run`` kept it where the LP assumes: a pinned job with an origin ran
    only there, a partial job with an origin and staying GPUs started there (its home).
    The engine always does; only a policy that places such a job elsewhere breaks it."""
    from greenhop.core.observation import PINNED

    ok = np.ones(len(inputs.jobs), dtype=bool)
    first: dict[int, tuple[float, int]] = {}
    for j, site, t0, _t1, kind in run.segments:
        if kind != "running" or inputs.job_origin[j] < 0:
            continue
        if inputs.job_mobility[j] == PINNED and site != inputs.job_origin[j]:
            ok[j] = False
        if j not in first or t0 < first[j][0]:
            first[j] = (t0, site)
    for j, (_t0, site) in first.items():
        if inputs.job_g_stay[j] > 0 and site != inputs.job_origin[j]:
            ok[j] = False
    return ok


def _blocks(inputs: SimInputs, block_s: float) -> np.ndarray:
    dt = inputs.scenario.step_s
    T = inputs.n_steps
    k = max(1, round(block_s / dt))
    return np.unique(np.append(np.arange(0, T, k), T)).astype(np.int64)


def compute_bound(
    inputs: SimInputs,
    kind: str,
    *,
    static: RunResult | None = None,
    deadlines: bool = False,
    max_memory_bytes: float = DEFAULT_MAX_MEMORY_BYTES,
    progress: Callable[[str], None] | None = None,
    block_s: float = 3600.0,
    time_limit_s: float = 600.0,
) -> BoundResult:
    """Solve the ``kind`` bound (``space`` or ``spacetime``) of ``inputs``.

    Args:
        inputs: the scenario's arrays (:func:`greenhop.sim.inputs.build_inputs`).
        kind: one of :data:`BOUND_KINDS`.
        static: the ``static`` policy's run on the same inputs; run here when ``None``.
        deadlines: count work only before each job's deadline (required work: what static
            did before it).
        max_memory_bytes: refuse (:class:`BoundTooLargeError`) an LP whose estimated peak
            memory is larger [bytes]; default 4 GB.
        progress: optional ``callable(message)`` told what is being done.
        block_s: length of a time block [s], rounded to whole steps (1 step: no aggregation).
        time_limit_s: HiGHS's time limit [s]; past it the status says so and
            ``job_nr_kwh`` is ``None``.
    """
    from greenhop.policies import make_policy
    from greenhop.sim.attribution import base_only_dispatch

    if kind not in BOUND_KINDS:
        raise ConfigError(f"bound kind: unknown kind {kind!r}; valid kinds: "
                          f"{', '.join(BOUND_KINDS)}")
    if not block_s > 0:
        raise ConfigError(f"block_s: must be > 0 s, got {block_s!r}")
    say = progress or (lambda _msg: None)
    if static is None:
        say("running static")
        static = Engine(inputs, make_policy("static")).run()
    dt = inputs.scenario.step_s
    T = inputs.n_steps
    horizon_s = T * dt
    edges = _blocks(inputs, block_s)
    edges_s = edges * dt
    window_end = np.full(len(inputs.jobs), horizon_s)
    if deadlines:
        window_end = np.minimum(window_end, inputs.job_deadline_s)
    start = inputs.job_arrival_step * dt
    avail_s = np.clip(np.minimum(edges_s[None, 1:], window_end[:, None])
                      - np.maximum(edges_s[None, :-1], start[:, None]), 0.0, None)
    cum = cumulative_work_gpu_s(inputs, static, edges_s, window_end)     # [J, B+1]
    required = cum[:, -1].copy()
    required[required < 1e-9 * np.maximum(inputs.job_work_gpu_s, 1.0)] = 0.0
    cap = None
    if kind == "space":
        # Static's running time by each block end at the job's best rate: a run may be ahead
        # of static's work only by running on faster GPUs, never by running earlier or longer.
        ran_s = cumulative_work_gpu_s(inputs, static, edges_s, window_end, seconds=True)
        best = np.array([best_rate_per_gpu(inputs, j) for j in range(len(inputs.jobs))])
        cap = np.maximum(ran_s[:, 1:] * (inputs.job_gpus * best)[:, None], cum[:, 1:])
    lp_in = LpInput(edges=edges, avail_h=avail_s / H_S, required_gpu_h=required / H_S,
                    cap_gpu_h=None if cap is None else cap / H_S)
    size = plan_size(inputs, lp_in)
    if size.bytes > max_memory_bytes:
        raise BoundTooLargeError(
            f"bound {kind}: the LP would have {size.cols:,} columns, {size.rows:,} rows and "
            f"{size.nnz:,} nonzeros, about {size.bytes / 1e9:.2f} GB, over the limit of "
            f"{max_memory_bytes / 1e9:.2f} GB (max_memory_bytes); shorten the horizon, use "
            "fewer jobs, or longer blocks (block_s)")
    say(f"solving the {kind} LP ({size.cols:,} columns, {size.rows:,} rows)")
    sol = solve(inputs, lp_in, time_limit_s=time_limit_s)
    base_j = base_only_dispatch(inputs).total_j("grid")
    static_nr = (float(static.energy_j["grid"].sum()) - base_j) / KWH_J
    nr = None if sol.grid_j is None else (sol.grid_j - base_j) / KWH_J
    nblock = max(1, round(block_s / dt))
    method = (f"blocks of {nblock} step{'s' if nblock > 1 else ''} ({nblock * dt:g} s), "
              "jobs aggregated per placement class")
    return BoundResult(
        kind=kind, job_nr_kwh=nr, work_gpu_h=float(required.sum()) / H_S,
        solve_s=sol.solve_s, status=sol.status, method=method, job_work_gpu_s=required,
        block_edges_s=edges_s, job_window_end_s=window_end,
        job_cap_gpu_s=cap, deadlines=bool(deadlines), lp_size=sol.size,
        grid_kwh=None if sol.grid_j is None else sol.grid_j / KWH_J,
        base_only_kwh=base_j / KWH_J, static_job_nr_kwh=static_nr)
