"""Offline lower bounds on the job-attributable grid energy (``job_nr_kwh``), solved as LPs.

``job_nr_kwh`` of a run is its grid energy minus the grid energy of the same sites with base
load only (:func:`greenhop.sim.attribution.base_only_dispatch`). A bound answers: *with free,
instant migration, how low could that go for the work* ``static`` *did?* Three kinds:

* ``spacetime``: each job does at least the work ``static`` completed for it by the horizon,
  at any time after its arrival (before its deadline with ``deadlines=True``), never faster
  than its GPUs allow, anywhere it may run, within every site's GPU slots.
* ``space``: each job does, in every time block, exactly the work ``static`` did in it: only
  *where* is free (placement and instant migration), not *when*.
* ``time``: as ``spacetime``, but each job runs only at the site ``static`` ran it at: only
  *when* is free (waiting, suspending, resuming), not *where*; a lower bound for the runs
  that never move a job from static's site (:meth:`BoundResult.for_run` says ``None`` for
  the others). Not among a scenario's default ``[bounds] kinds``.

``spacetime`` (or ``time``) with ``max_slowdown=X`` asks each job's work to be done before
its arrival plus ``X`` times its ideal time (the denominator of its slowdown,
:func:`greenhop.sim.metrics.ideal_time_s`; or the horizon, if sooner): a lower bound for the
runs in which no job's slowdown exceeds ``X`` (and, for ``time``, no job moves), to set a
target for energy against the slowdown it allows. With ``slowdown_quantile=q`` as well, only
as many jobs as the metric's ``q`` quantile of the slowdowns being at most ``X`` requires (a
relaxation: a share of each job may be exempt, the shares summing to the number of jobs
allowed past ``X``).

The LP (:mod:`greenhop.sim.bounds_lp`) minimises the grid energy of all sites with a free
dispatch of renewables, batteries (charged from renewables only, with their efficiency,
power and state-of-charge limits) and grid. The simulator's greedy dispatch of any schedule
that does the same work per job (``spacetime``, ``time``: in total; ``space``: per block)
is a feasible point of that LP, and the LP also leaves out migration downtime, idle and network
energy (more demand never lowers the grid energy it needs), so the LP optimum minus the
base-only grid energy is a **true lower bound** on ``job_nr_kwh`` of such a run. Time is
aggregated into blocks (1 h by default) by summing every per-step constraint over the block:
a relaxation, so the bound stays a lower bound.

A run of a real policy does slightly different work (migrations cost time, a suspended job
works later). The LP's prices of work (its dual solution, which stays feasible when only the
required work changes) turn the one solve into a bound for *that run's own work*:
``job_nr_kwh + price x (its work - static's work)`` (weak duality;
:meth:`BoundResult.for_run`). That number is a true lower bound on the run's
``job_nr_kwh`` for every run, whatever its work; see ``docs/bounds.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.scaling import DEFAULT_SERIAL_SHARE, effective_gpus, split_throughput
from greenhop.core.units import format_size
from greenhop.sim.bounds_lp import (
    H_S,
    KWH_J,
    LpInput,
    LpSize,
    plan_size,
    solve,
)
from greenhop.sim.engine import Engine, RunResult
from greenhop.sim.inputs import SimInputs
from greenhop.sim.metrics import ideal_time_s
from greenhop.sim.scenario import BOUND_KINDS

__all__ = ["BOUND_KINDS", "BoundResult", "BoundTooLargeError", "allowed_past_quantile",
           "check_max_slowdown", "compute_bound", "cumulative_work_gpu_s"]

#: default memory limit of one bound's LP [bytes] (estimated before it is built)
DEFAULT_MAX_MEMORY_BYTES = 4e9


class BoundTooLargeError(ConfigError):
    """The bound's LP would need more memory than allowed."""


def first_sites(inputs: SimInputs, run: RunResult) -> np.ndarray:
    """Per job, the site ``run`` first ran it at (its home: where a partial job's staying
    GPUs are; for ``static``, the one site it ran at), ``[J]``; -1 where it never ran."""
    home = np.full(len(inputs.jobs), -1, dtype=np.int64)
    segs = [s for s in run.segments if s[4] == "running"]
    if not segs:
        return home
    j = np.array([s[0] for s in segs], dtype=np.int64)
    site = np.array([s[1] for s in segs], dtype=np.int64)
    t0 = np.array([s[2] for s in segs], dtype=float)
    first = np.full(len(inputs.jobs), np.inf)
    np.minimum.at(first, j, t0)
    is_first = t0 == first[j]
    home[j[is_first]] = site[is_first]
    return home


def cumulative_work_gpu_s(inputs: SimInputs, run: RunResult, times_s: np.ndarray,
                          until_s: np.ndarray | None = None) -> np.ndarray:
    """Work each job of ``run`` had done by each of ``times_s`` [reference-GPU-s], ``[J, K]``.

    Read from the run's segments (always recorded): a ``running`` segment at site ``s`` does
    ``GPUs x throughput`` per second (a partial job with staying GPUs at the slower of its
    site and its home, the site it started at; an elastic job on the segment's own GPU count,
    at its point of the speedup curve, :func:`greenhop.core.scaling.effective_gpus`; a
    worker of a job spread over sites at the share of its running time its group's pace let
    it work). ``until_s`` [J] stops counting each job's work at that time (its deadline).
    """
    J = len(inputs.jobs)
    times = np.asarray(times_s, dtype=float)
    out = np.zeros((J, times.size))
    counts = run.segment_gpus or [int(inputs.job_gpus[s[0]]) for s in run.segments]
    running = [k for k, s in enumerate(run.segments) if s[4] == "running"]
    segs = [run.segments[k] for k in running]
    if not segs:
        return out
    j = np.array([s[0] for s in segs], dtype=np.int64)
    site = np.array([s[1] for s in segs], dtype=np.int64)
    t0 = np.array([s[2] for s in segs], dtype=float)
    t1 = np.array([s[3] for s in segs], dtype=float)
    home = first_sites(inputs, run)
    tp = inputs.throughput
    tp_run = split_throughput(tp[site], tp[home[j]], inputs.job_g_stay[j] > 0)
    serial = np.array([DEFAULT_SERIAL_SHARE if job.serial_share is None else job.serial_share
                       for job in inputs.jobs], dtype=float).reshape(J)
    gpus = np.array([counts[k] for k in running], dtype=float)
    nominal = inputs.job_gpus[j].astype(float)
    rate = np.where(gpus == nominal, nominal, effective_gpus(gpus, nominal, serial[j])) * tp_run
    worker = np.array([job.worker is not None for job in inputs.jobs], dtype=bool)
    if worker.any():
        # A worker of a job spread over sites waits, inside its running segments, at each
        # outer step's barrier and exchange (docs/distributed.md): the group's pace, not
        # its own, sets its work. Its rate is scaled so its segments add up to the work it
        # did (the run's work_done_gpu_h), spread over its running time as the waits are.
        full = np.zeros(J)
        np.add.at(full, j, rate * (t1 - t0))
        done = np.asarray(inputs.job_work_gpu_s, dtype=float) - run.job_remaining_gpu_s
        scale = np.where(worker & (full > 0), done / np.where(full > 0, full, 1.0), 1.0)
        rate = rate * np.minimum(scale, 1.0)[j]
    stop = np.full(J, np.inf) if until_s is None else np.asarray(until_s, dtype=float)
    for k in range(0, len(segs), 256):
        sl = slice(k, k + 256)
        at = np.minimum(times[None, :], stop[j[sl], None])
        run_s = np.clip(at - t0[sl, None], 0.0, (t1[sl] - t0[sl])[:, None])
        np.add.at(out, j[sl], rate[sl, None] * run_s)
    return out


def rounded_down(kwh: float | None, digits: int = 4) -> float | None:
    """A lower bound [kWh] rounded *down* to ``digits`` decimals, so that it stays below
    what it bounds (rounded to nearest, 37.207898 read 37.2079, above a run's 37.207898);
    None for None or a value that is not finite; never -0.0."""
    if kwh is None or not np.isfinite(kwh):
        return None
    scale = 10.0 ** digits
    # + 1e-6 (of the last digit): a solver's -1e-12 is 0, not -0.0001
    return math.floor(float(kwh) * scale + 1e-6) / scale + 0.0


@dataclass(frozen=True, eq=False)
class BoundResult:
    """One offline bound of a scenario.

    Attributes:
        kind: ``space``, ``spacetime`` or ``time``.
        job_nr_kwh: the bound on job-attributable grid energy [kWh] for static's work;
            ``None`` unless HiGHS proved optimality.
        work_gpu_h: total work the bound requires [reference-GPU-h].
        solve_s: wall time of building and solving the LP [s].
        status: HiGHS's model status string (``Optimal``, ``Time limit reached``, ...).
        method: how the LP was aggregated, in words.
        job_work_gpu_s: work each job must do [reference-GPU-s], ``[J]``.
        block_edges_s: block boundaries [s after start], ``[B+1]``.
        job_window_end_s: end of each job's window (deadline or horizon) [s], ``[J]``.
        job_block_work_gpu_s: static's work per job and block [reference-GPU-s], ``[J, B]``
            (for ``space`` the LP's fixed profile).
        job_price: ``spacetime``, ``time``: the price of each job's total work [kWh per
            reference-GPU-s], ``[J]``; ``block_price``: ``space``: the price of each job's
            work in each block, ``[J, B]`` (``None`` unless optimal).
        deadlines: whether work counts only before each job's deadline.
        max_slowdown: the slowdown cap of a ``spacetime`` or ``time`` bound (``None``: none).
        slowdown_quantile: the quantile of the slowdowns the cap holds for (``None``: every
            job).
        whole_exemptions: whether the jobs that pass the cap were chosen whole (a MILP,
            answered by its dual bound) rather than as shares (the LP relaxation).
        lp_size: columns, rows and nonzeros of the LP.
        grid_kwh: the LP's total grid energy [kWh]; ``base_only_kwh``: the base-only
            dispatch's [kWh]; ``static_job_nr_kwh``: static's job grid energy [kWh].
        job_site: ``time``: the site each job must run at (where static ran it; -1 for a
            job static never ran), ``[J]``; ``None`` for the other kinds.
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
    job_block_work_gpu_s: np.ndarray
    job_price: np.ndarray | None
    block_price: np.ndarray | None
    deadlines: bool
    lp_size: LpSize
    grid_kwh: float | None
    base_only_kwh: float
    static_job_nr_kwh: float
    extra: dict = field(default_factory=dict)
    max_slowdown: float | None = None
    slowdown_quantile: float | None = None
    whole_exemptions: bool = False
    job_site: np.ndarray | None = None

    def to_dict(self) -> dict:
        """``{job_nr_kwh, work_gpu_h, solve_s, status}`` and context keys (rounded, JSON-ready)."""
        def r(x, d):
            # + 0.0: a solver's -1e-12 rounds to -0.0, printed "-0.0"
            return None if x is None or not np.isfinite(x) else round(float(x), d) + 0.0

        return {
            "job_nr_kwh": rounded_down(self.job_nr_kwh), "work_gpu_h": r(self.work_gpu_h, 4),
            "solve_s": r(self.solve_s, 3), "status": self.status, "method": self.method,
            "deadlines": self.deadlines, "max_slowdown": self.max_slowdown,
            "slowdown_quantile": self.slowdown_quantile,
            "whole_exemptions": self.whole_exemptions,
            "static_job_nr_kwh": r(self.static_job_nr_kwh, 4),
            "lp_cols": self.lp_size.cols, "lp_rows": self.lp_size.rows,
            "lp_nnz": self.lp_size.nnz,
        }

    def for_run(self, inputs: SimInputs, run: RunResult) -> float | None:
        """A true lower bound on ``run``'s ``job_nr_kwh`` [kWh], for the work it actually did.

        ``job_nr_kwh + sum(price x (run's work - static's work))`` over the LP's work rows
        (``spacetime``: each job's total inside its window) or fixed work columns
        (``space``: each job's work per block): by weak duality the LP's dual solution
        bounds the same LP with the run's work in place of static's, and the run's own
        dispatch is a feasible point of that LP. Work a run did where the LP has no price
        (a job static never started) only adds demand and is left out, which keeps the
        bound valid. ``None`` when the bound did not solve, when the run placed a pinned
        or partial job away from its origin (the LP has no such placement), for a ``time``
        bound when the run ran a job static ran anywhere but at static's site, or for a
        bound with a slowdown quantile (a run's work enters that LP's coefficients, not
        only its right-hand sides).
        """
        if (self.job_nr_kwh is None or self.slowdown_quantile is not None
                or not _homed_at_origin(inputs, run).all()):
            return None
        if self.job_site is not None and not _kept_at(run, self.job_site).all():
            return None
        cum = cumulative_work_gpu_s(inputs, run, self.block_edges_s, self.job_window_end_s)
        if self.kind != "space":
            delta = cum[:, -1] - self.job_work_gpu_s
            shift = float(np.dot(self.job_price, delta))
        else:
            delta = np.diff(cum, axis=1) - self.job_block_work_gpu_s
            shift = float((self.block_price * delta).sum())
        return _job_grid_kwh(self.grid_kwh + shift, self.base_only_kwh)


def _job_grid_kwh(grid_kwh: float, base_only_kwh: float) -> float:
    """The jobs' grid energy bounded by an LP's grid energy ``grid_kwh`` [kWh], never
    below 0. The LP's own difference can be: its blocks net renewables and load inside
    each block and it dispatches batteries with hindsight, so it may find less grid
    energy than the simulator's base-only dispatch. A run's jobs only add load to the
    greedy dispatch, which never lowers its grid energy, so 0 bounds every run too."""
    return max(0.0, grid_kwh - base_only_kwh)


def _homed_at_origin(inputs: SimInputs, run: RunResult) -> np.ndarray:
    """Per job, whether ``run`` kept it where the LP assumes: a pinned job with an origin ran
    only there, a partial job with an origin and staying GPUs started there (its home).
    The engine always does; only a policy that places such a job elsewhere breaks it."""
    from greenhop.core.observation import PINNED

    origin = inputs.job_origin
    ok = _kept_at(run, np.where((origin >= 0) & (inputs.job_mobility == PINNED), origin, -1))
    home = first_sites(inputs, run)
    started_away = (origin >= 0) & (home >= 0) & (home != origin)
    ok[started_away & (inputs.job_g_stay > 0)] = False
    return ok


def _kept_at(run: RunResult, job_site: np.ndarray) -> np.ndarray:
    """Per job, whether ``run`` ran it only at ``job_site`` (always true where -1)."""
    ok = np.ones(len(job_site), dtype=bool)
    for j, s, _t0, _t1, kind in run.segments:
        if kind == "running" and job_site[j] >= 0 and s != job_site[j]:
            ok[j] = False
    return ok


#: how far below an integer ``q (n - 1)`` may be and still be floored to the integer
#: below: ``np.percentile`` computes its index in its own order of operations (the
#: percent divided by 100, then times ``n - 1``), a few ulp from ``q * (n - 1)``
_INDEX_ROUNDING = 1e-9


def allowed_past_quantile(n: int, q: float) -> int:
    """The most of ``n`` values that can lie above a cap their ``q`` quantile keeps:
    ``np.percentile``'s linear quantile is at least the ``floor(q (n - 1))``-th smallest
    value (from 0), so that one and all below it are within the cap.

    Where ``q (n - 1)`` is within rounding of an integer, the index is taken just below
    it: one exemption more than the exact count, never one fewer, so the bound stays
    below every run whichever way ``np.percentile`` rounds."""
    if n <= 0:
        return 0
    index = max(0, int(np.floor(q * (n - 1) - _INDEX_ROUNDING)))
    return n - index - 1


def _block_steps(inputs: SimInputs, block_s: float) -> int:
    """Steps per block: ``block_s`` rounded to whole steps, at least 1, at most the run
    (a block past the horizon is the horizon)."""
    return int(min(max(1, round(min(block_s, inputs.scenario.horizon_s) / inputs.scenario.step_s)),
                   max(inputs.n_steps, 1)))


def _blocks(inputs: SimInputs, block_s: float) -> np.ndarray:
    T = inputs.n_steps
    k = _block_steps(inputs, block_s)
    return np.unique(np.append(np.arange(0, T, k), T)).astype(np.int64)


#: ``whole_exemptions``: HiGHS stops its MILP once its best schedule is within this share
#: of static's job grid energy of its dual bound (the answer, valid at any gap)
MIP_GAP_SHARE = 0.01


def check_max_slowdown(kind: str, max_slowdown: float | None, quantile: float | None = None,
                       whole_exemptions: bool = False, *, options: bool = False) -> None:
    """Raise ConfigError, starting with the parameter's name (its command-line option,
    ``--max-slowdown``, with ``options``), unless ``max_slowdown`` is ``None`` or a finite
    number >= 1 on a ``spacetime`` or ``time`` bound, ``quantile`` is ``None`` or in (0, 1) with a
    ``max_slowdown``, and ``whole_exemptions`` comes with a ``quantile``."""
    def label(param: str) -> str:
        return "--" + param.replace("_", "-") if options else param

    name, quantile_name = label("max_slowdown"), label("slowdown_quantile")
    if whole_exemptions and quantile is None:
        raise ConfigError(f"{label('whole_exemptions')}: only a slowdown quantile has "
                          f"exemptions; give {quantile_name} (and {name})")
    if quantile is not None:
        if max_slowdown is None:
            raise ConfigError(f"{quantile_name}: give the slowdown the quantile must keep "
                              f"({name})")
        if not 0 < quantile < 1:
            raise ConfigError(f"{quantile_name}: a quantile is strictly between 0 and 1 "
                              f"(0.9: the slowdown p90), got {quantile:g}")
    if max_slowdown is None:
        return
    if kind == "space":
        raise ConfigError(f"{name}: only the spacetime and time bounds take a slowdown cap "
                          "(space keeps static's profile over time)")
    if not (np.isfinite(max_slowdown) and max_slowdown >= 1):
        raise ConfigError(f"{name}: must be a finite number >= 1 (1: every job within its ideal "
                          "time at its arrival site; a job moved to a faster site can beat it, "
                          f"which the cap does not ask for), got {max_slowdown:g}")


def compute_bound(
    inputs: SimInputs,
    kind: str,
    *,
    static: RunResult | None = None,
    deadlines: bool = False,
    max_slowdown: float | None = None,
    slowdown_quantile: float | None = None,
    whole_exemptions: bool = False,
    max_memory_bytes: float = DEFAULT_MAX_MEMORY_BYTES,
    progress: Callable[[str], None] | None = None,
    block_s: float = 3600.0,
    time_limit_s: float = 600.0,
) -> BoundResult:
    """Solve the ``kind`` bound (``space``, ``spacetime`` or ``time``) of ``inputs``.

    Args:
        inputs: the scenario's arrays (:func:`greenhop.sim.inputs.build_inputs`).
        kind: one of :data:`BOUND_KINDS`.
        static: the ``static`` policy's run on the same inputs; run here when ``None``.
        deadlines: count work only before each job's deadline (required work: what static
            did before it).
        max_slowdown: ``spacetime`` and ``time`` only: each job's required work must be
            done before its arrival plus this many times its ideal time [-], >= 1 (``None``:
            no cap). A cap no schedule meets within the GPU slots leaves the LP infeasible
            (``job_nr_kwh`` ``None``, status ``Infeasible``).
        slowdown_quantile: with ``max_slowdown``: hold the cap for the metric's quantile
            (``np.percentile``, linear) of the arrived jobs' slowdowns instead of every job,
            in (0, 1); 0.9 bounds the runs whose ``slowdown_p90`` is at most the cap.
        whole_exemptions: with ``slowdown_quantile``: choose the jobs that may pass the cap
            whole (one binary per job, a MILP solved until its best schedule is within
            :data:`MIP_GAP_SHARE` of static's job grid energy of its dual bound, which is
            the answer) instead of as shares of jobs (the LP relaxation: faster, lower).
        max_memory_bytes: refuse (:class:`BoundTooLargeError`) an LP whose estimated peak
            memory is larger [bytes]; default 4 GB.
        progress: optional ``callable(message)`` told what is being done.
        block_s: length of a time block [s], rounded to whole steps (1 step: no aggregation).
        time_limit_s: HiGHS's time limit [s], > 0; past it the status says so and
            ``job_nr_kwh`` is ``None``, except with ``whole_exemptions``, where it is the
            dual bound branch and bound had reached (still a lower bound, looser).
    """
    from greenhop.policies import make_policy
    from greenhop.sim.attribution import base_only_dispatch

    if kind not in BOUND_KINDS:
        raise ConfigError(f"bound kind: unknown kind {kind!r}; valid kinds: "
                          f"{', '.join(BOUND_KINDS)}")
    if not block_s > 0:
        raise ConfigError(f"block_s: must be > 0 s, got {block_s!r}")
    if not time_limit_s > 0:
        raise ConfigError(f"time_limit_s: must be > 0 s, got {time_limit_s!r}")
    check_max_slowdown(kind, max_slowdown, slowdown_quantile, whole_exemptions)
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
    cum = cumulative_work_gpu_s(inputs, static, edges_s, window_end)     # [J, B+1]
    required = cum[:, -1].copy()
    cap_hi, exempt_max = None, 0.0
    if max_slowdown is not None:
        with np.errstate(over="ignore"):  # a cap of 1e308: past the horizon, no cap
            cap_s = inputs.job_arrival_s + max_slowdown * ideal_time_s(inputs)
        if slowdown_quantile is None:
            # the same work, in a window that ends when the slowdown would pass the cap
            window_end = np.minimum(window_end, cap_s)
        else:
            cap_hi = np.searchsorted(edges_s[:-1], cap_s, side="left")
            arrived = int((inputs.job_arrival_s < inputs.scenario.horizon_s).sum())
            exempt_max = float(allowed_past_quantile(arrived, slowdown_quantile))
    avail_s = np.clip(np.minimum(edges_s[None, 1:], window_end[:, None])
                      - np.maximum(edges_s[None, :-1], start[:, None]), 0.0, None)
    required[required < 1e-9 * np.maximum(inputs.job_work_gpu_s, 1.0)] = 0.0
    per_block = np.diff(cum, axis=1)
    per_block[required == 0] = 0.0
    base_j = base_only_dispatch(inputs).total_j("grid")
    static_nr = (float(static.energy_j["grid"].sum()) - base_j) / KWH_J
    job_site = first_sites(inputs, static) if kind == "time" else None
    lp_in = LpInput(edges=edges, avail_h=avail_s / H_S, required_gpu_h=required / H_S,
                    profile_gpu_h=per_block / H_S if kind == "space" else None,
                    job_site=job_site,
                    cap_hi=cap_hi, exempt_max=exempt_max,
                    whole_exemptions=bool(whole_exemptions),
                    mip_gap_kwh=MIP_GAP_SHARE * max(static_nr, 0.0))
    size = plan_size(inputs, lp_in)
    if size.bytes > max_memory_bytes:
        raise BoundTooLargeError(
            f"bound {kind}: the LP would have up to {size.cols:,} columns, {size.rows:,} rows "
            f"and {size.nnz:,} nonzeros (an estimate from above: the LP built may be "
            f"smaller), about {format_size(size.bytes)}, over the limit of "
            f"{format_size(max_memory_bytes)} (greenhop bound --max-memory); shorten the horizon, "
            "use fewer jobs, or longer time blocks (greenhop bound --block, block_s)")
    say(f"solving the {kind} LP (up to {size.cols:,} columns, {size.rows:,} rows)")
    sol = solve(inputs, lp_in, time_limit_s=time_limit_s)
    nr = None if sol.grid_j is None else _job_grid_kwh(sol.grid_j / KWH_J, base_j / KWH_J)
    nblock = _block_steps(inputs, block_s)
    method = (f"blocks of {nblock} step{'s' if nblock > 1 else ''} ({nblock * dt:g} s), "
              "jobs aggregated per placement class")
    if whole_exemptions:
        method += (f"; whole jobs pass the cap (MILP, its dual bound, within "
                   f"{MIP_GAP_SHARE:.0%} of static's job grid energy of its best schedule)")
    # prices per reference-GPU-h -> per reference-GPU-s
    job_price = None if sol.job_price is None else sol.job_price / H_S
    block_price = None if sol.block_price is None else sol.block_price / H_S
    return BoundResult(
        kind=kind, job_nr_kwh=nr, work_gpu_h=float(required.sum()) / H_S,
        solve_s=sol.solve_s, status=sol.status, method=method, job_work_gpu_s=required,
        block_edges_s=edges_s, job_window_end_s=window_end, job_block_work_gpu_s=per_block,
        job_price=job_price, block_price=block_price, deadlines=bool(deadlines),
        lp_size=sol.size, max_slowdown=None if max_slowdown is None else float(max_slowdown),
        slowdown_quantile=None if slowdown_quantile is None else float(slowdown_quantile),
        whole_exemptions=bool(whole_exemptions),
        grid_kwh=None if sol.grid_j is None else sol.grid_j / KWH_J,
        base_only_kwh=base_j / KWH_J, static_job_nr_kwh=static_nr, job_site=job_site)
