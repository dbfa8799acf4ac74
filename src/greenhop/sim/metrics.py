"""Metrics of a run (docs/design.md section 4), as plain, rounded, JSON-ready numbers.

The headline is **job-attributable**: the sites' base load runs whatever the policy does
(it dominates their grid energy), so each scenario is also dispatched with base load only
(:func:`greenhop.sim.attribution.base_only_dispatch`) and the jobs are charged the
difference. Energies are summed over sites and the horizon [kWh] (for a live run stopped
early, over the steps it booked: :func:`run_metrics`'s ``steps``).

Job-attributable (the headline):

* ``job_nr_kwh``: grid energy with jobs minus grid energy of the same sites with base load
  only (``base_only_nr_kwh``): the non-renewable energy the jobs cause.
* ``job_energy_kwh``: facility energy the jobs drew (IT x PUE, idle during migrations, WAN
  energy); ``job_green_share``: ``1 - job_nr / job_energy``.
* ``job_nr_kwh_per_gpu_h``: ``job_nr_kwh`` per reference-GPU-hour of work done.
* ``curtailment_absorbed_kwh``: curtailed base-only minus curtailed with jobs.
* ``saved_vs_static_pct``: ``100 x (static - this) / static`` of ``job_nr_kwh``.
* ``bound_<kind>_kwh`` (``space``, ``spacetime``, ``time``; when the scenario asks for
  bounds, :mod:`greenhop.sim.bounds`): the offline bound priced at this policy's own work,
  a true lower bound on its ``job_nr_kwh``; ``gap_closed_<kind>_pct``:
  ``100 x (static - this) / (static - bound)`` of ``job_nr_kwh`` with that bound; ``None``
  with the reason in ``gap_closed_<kind>_why`` when the policy did less than 99 % of the
  bound's work, ran a job where the bound does not place it (for ``time``, away from
  static's site), or static is at the bound.

With grid signals (a scenario's ``[grid]`` zones, docs/grid.md): ``job_co2_kg``,
``job_co2_avg_kg``, ``job_energy_cost`` (and ``currency``), ``job_grid_green_kwh``: the
jobs' grid energy per step and site priced at that step's signals
(:func:`greenhop.sim.grid.grid_metrics`).

Site totals (context, not the headline): ``non_renewable_kwh`` (grid energy of the sites,
base load included), ``renewable_kwh`` (renewable energy that reached the load, directly or
through the battery), ``curtailed_kwh``, ``unmet_kwh`` (demand beyond the grid import
limit), ``demand_kwh``, ``site_saved_vs_static_pct``.

Time and stability:

* ``jct_mean_h`` / ``jct_p95_h``: completion time ``finish - arrival`` [h]; a job still
  unfinished at the horizon counts with ``horizon - arrival`` (a lower bound) and is
  counted in ``unfinished_jobs``.
* slowdown = ``JCT / ideal``, ideal = work / (GPUs x throughput of the arrival site, the
  job's origin even where it started elsewhere: a job on faster GPUs, moved or redirected
  from a drained or closed origin, has a slowdown under 1):
  ``slowdown_mean``, ``slowdown_p50``, ``slowdown_p90``; ``stability_cv``: its coefficient
  of variation (std / mean) across jobs.
* where the time went [h, summed over jobs]: ``queue_h`` (arrival to first start, waiting
  for GPU slots), ``downtime_h`` (migrations and resumes: save, transfer, restore),
  ``suspended_h`` (suspended by the policy).
* ``deadline_misses``: jobs with a deadline that finished after it, or had not finished
  when it passed within the horizon.

Migrations:

* ``migrations``: completed moves; ``window_closed_before_payback``: completed moves whose
  destination window (the true one, from the trace) closed during the move or before the
  move paid back its energy (``end + payback``); ``infeasible_migrations``: moves whose
  realised downtime exceeded ``alpha`` x the destination's true remaining window at the
  start; ``net_green_loss_migrations``: moves whose net green energy over the job's stay
  at the destination is negative (see :func:`net_green_gain_j`); ``aborted_migrations``,
  ``window_closed_mid_migration``; ``migrations_in_flight_at_end``: moves still in flight
  when the run ended (in none of the columns above; their time so far is in
  ``downtime_h``, their bytes in ``gb_moved``).
* ``gb_moved``: checkpoint bytes that crossed the WAN [GB = 1e9 B];
  ``network_kwh``: their network energy (bits x energy per bit along the path).
* ``oracle_gap_kwh`` and ``oracle_gap_closed_pct`` (on ``forecast-feasibility``, when
  ``feasibility-aware`` and ``oracle-window`` ran too): the gap ``G = NR(feasibility-aware)
  - NR(oracle-window)`` of job non-renewable energy [kWh] between the historical window
  estimate and the true future window, and ``100 x (NR(feasibility-aware) -
  NR(forecast-feasibility)) / G``, the share of it the forecasts close (100: as good as
  perfect foresight; 0: no better than the historical estimate; negative: worse).
  ``None`` when ``G <= 0`` (no gap to close). The same share on infeasible and on
  window-closed migrations: ``oracle_gap_infeasible`` / ``oracle_gap_closed_infeasible_pct``,
  ``oracle_gap_window_closed`` / ``oracle_gap_closed_window_closed_pct``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from greenhop.core.observation import ideal_throughput
from greenhop.sim.attribution import BaseOnly, base_only_dispatch
from greenhop.sim.distributed_jobs import spread_metrics
from greenhop.sim.dr_metrics import dr_metrics
from greenhop.sim.engine import RunResult
from greenhop.sim.grid import grid_metrics
from greenhop.sim.inputs import SimInputs

KWH = 3.6e6
#: the job-attributable headline, in the order tables show it
HEADLINE_KEYS = (
    "job_nr_kwh", "saved_vs_static_pct", "job_green_share", "gap_closed_space_pct",
    "gap_closed_spacetime_pct", "slowdown_p90", "stability_cv", "migrations",
    "window_closed_before_payback", "net_green_loss_migrations", "unfinished_jobs",
)
METRIC_KEYS = (
    "job_nr_kwh", "job_energy_kwh", "job_green_share", "job_nr_kwh_per_gpu_h",
    "curtailment_absorbed_kwh", "saved_vs_static_pct", "non_renewable_kwh", "renewable_kwh",
    "curtailed_kwh", "jct_mean_h", "jct_p95_h", "slowdown_p50", "slowdown_p90", "queue_h",
    "deadline_misses", "stability_cv", "migrations", "window_closed_before_payback",
    "net_green_loss_migrations", "gb_moved", "network_kwh",
)
#: a policy has a gap closed when it did at least this share of the bound's work (less work
#: is a saving of its own, not a better decision); the bound itself is priced at the
#: policy's own work, so a small shortfall does not make it invalid
WORK_SHARE_FOR_GAP = 0.99


def work_reference(metrics: dict[str, dict]) -> float | None:
    """The work [GPU-h] policies are held to: ``static``'s ``work_done_gpu_h`` (without
    ``static``, the most any policy did); None when no policy has the figure."""
    ref = metrics.get("static", {}).get("work_done_gpu_h")
    if ref is None:
        ref = max((m["work_done_gpu_h"] for m in metrics.values()
                   if m.get("work_done_gpu_h") is not None), default=None)
    return ref


def work_reference_name(metrics: dict[str, dict]) -> str:
    """What :func:`work_reference` is, in words: ``static's work`` or, without ``static``,
    ``the most work any policy did``."""
    return "static's work" if "static" in metrics else "the most work any policy did"


def short_of_work(metrics: dict[str, dict]) -> set[str]:
    """The policies of ``metrics`` that did less than :data:`WORK_SHARE_FOR_GAP` of the
    :func:`work_reference`: part of what they save is work left undone, so their
    ``saved_vs_static_pct`` is no better decision and they are not the best. A policy
    without the figure is not short."""
    ref = work_reference(metrics)
    return set() if ref is None else {
        p for p, m in metrics.items()
        if m.get("work_done_gpu_h") is not None
        and m["work_done_gpu_h"] < WORK_SHARE_FOR_GAP * ref}


def _r(x: float, digits: int = 6) -> float | None:
    if x is None or not np.isfinite(x):
        return None
    v = round(float(x), digits)
    return 0.0 if v == 0 else v


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else np.nan


def _segment_hours(res: RunResult, kind: str) -> float:
    return sum(end - start for _, _, start, end, k in res.segments if k == kind) / 3600.0


def net_green_gain_j(inp: SimInputs, res: RunResult, move: dict, stay_end_s: float,
                     segments: list[tuple] | None = None) -> float:
    """Net green energy of one completed move [J]: over the job's stay at the destination
    (from the move's end to ``stay_end_s``), the renewable energy the moved workers could
    draw there minus what they could have drawn at the source, minus the move's energy.

    Per step the green power open to the job at a site is its surplus left by the other
    jobs, capped at the job's facility power there: at the destination
    ``min(P_d, max(0, surplus_d - (jobs_d - P_d)))``, at the source (had it stayed)
    ``min(P_s, max(0, surplus_s - jobs_s))``. Batteries are left out (an approximation,
    documented in docs/simulator.md). Steps where the job was not running (suspended,
    migrating again) count nothing. ``segments``: the run's segments of this job (default:
    all of the run's).
    """
    dt = inp.scenario.step_s
    H = inp.history_steps
    j, src, dst = move["job"], move["src"], move["dst"]
    g = inp.job_g_move[j]
    p_dst = g * inp.gpu_power_w[dst] * inp.pue[dst]
    p_src = g * inp.gpu_power_w[src] * inp.pue[src]
    gain = 0.0
    for seg_job, site, start, end, kind in (res.segments if segments is None else segments):
        if seg_job != j or kind != "running" or site != dst:
            continue
        lo, hi = max(start, move["end_s"]), min(end, stay_end_s)
        if hi <= lo:
            continue
        k0, k1 = int(lo // dt), int(np.ceil(hi / dt - 1e-9))
        steps = np.arange(k0, min(k1, inp.n_steps))
        if steps.size == 0:
            continue
        # seconds of the stay inside each step
        secs = np.minimum((steps + 1) * dt, hi) - np.maximum(steps * dt, lo)
        sur_d = inp.surplus_w[H + steps, dst]
        sur_s = inp.surplus_w[H + steps, src]
        jobs_d = res.job_load_w[steps, dst]
        jobs_s = res.job_load_w[steps, src]
        green_d = np.minimum(p_dst, np.maximum(0.0, sur_d - (jobs_d - p_dst)))
        green_s = np.minimum(p_src, np.maximum(0.0, sur_s - jobs_s))
        gain += float(((green_d - green_s) * secs).sum())
    return gain - move["energy_j"]


def _net_green_losses(inp: SimInputs, res: RunResult, moves: list[dict]) -> int | None:
    if res.job_load_w.shape[0] != inp.n_steps or (moves and not res.segments):
        return None  # per-step loads or segments not kept (a live run's books)
    by_job: dict[int, list[dict]] = {}
    for m in sorted(moves, key=lambda m: m["start_s"]):
        by_job.setdefault(m["job"], []).append(m)
    segs: dict[int, list[tuple]] = {}
    for seg in res.segments:
        segs.setdefault(seg[0], []).append(seg)
    # the stay ends when the job left again: a completed move's start (an aborted move
    # restarts the job where it was, so its stay goes on)
    leaves: dict[int, list[float]] = {}
    for m in moves:
        leaves.setdefault(m["job"], []).append(m["start_s"])
    horizon = inp.scenario.horizon_s
    losses = 0
    for j, ms in by_job.items():
        fin = res.job_finish_s[j]
        end_job = horizon if np.isnan(fin) else float(fin)
        for m in ms:
            nxt = [s for s in leaves[j] if s >= m["end_s"]]
            stay_end = min([end_job, *nxt])
            if net_green_gain_j(inp, res, m, stay_end, segs.get(j, [])) < 0:
                losses += 1
    return losses


def ideal_time_s(inp: SimInputs) -> np.ndarray:
    """Each job's ideal time [s], ``[J]``: its work on its GPUs at the throughput of its
    arrival site (the fastest site it may use where it has none: :func:`ideal_throughput`),
    the denominator of its slowdown."""
    return inp.job_work_gpu_s / _ideal_rate(inp)


def _ideal_rate(inp: SimInputs) -> np.ndarray:
    """Each job's ideal rate of work [reference GPU-s per s], ``[J]``: its GPUs at the
    throughput :func:`ideal_time_s` divides by."""
    return inp.job_gpus * ideal_throughput(inp.throughput, inp.job_origin, inp.job_allowed)


def _booked_base(inp: SimInputs, base: BaseOnly | None, steps: int) -> BaseOnly:
    """The base-only dispatch over the first ``steps`` steps (``base``, the horizon's, when
    they are all of it). The dispatch is causal, so this is the horizon's cut short: the
    counterfactual of a run that booked only those steps."""
    if steps >= inp.n_steps:
        return base if base is not None else base_only_dispatch(inp)
    return base_only_dispatch(dataclasses.replace(
        inp, params=dataclasses.replace(inp.params, n_steps=steps)))


def _booked_rows(a: np.ndarray, steps: int, n_steps: int) -> np.ndarray:
    """``a`` (per step and site) as ``[n_steps, S]``: its first ``steps`` rows (the booked
    steps), 0 after them."""
    out = np.zeros((n_steps, a.shape[1]))
    out[:steps] = a[:steps]
    return out


def run_metrics(inp: SimInputs, res: RunResult, base: BaseOnly | None = None,
                steps: int | None = None) -> dict:
    """The metrics dict of one run; ``base`` is the scenario's base-only dispatch (computed
    when not given). ``steps``: the steps booked from the start (a live run stopped early
    books fewer than the horizon); the counterfactual, the energies compared with it and
    the end of the jobs' times are then those of the booked steps, so a partial run's
    figures are consistent (``job_nr_kwh >= 0``, ``job_green_share`` in [0, 1], absorbed
    <= curtailed). ``saved_vs_static_pct`` and the gaps are filled in by :func:`compare`."""
    sc = inp.scenario
    steps = inp.n_steps if steps is None else min(int(steps), inp.n_steps)
    base = _booked_base(inp, base, steps)
    e = res.energy_j
    grid_j = float(e["grid"].sum())
    base_grid_j = base.total_j("grid")
    job_nr_j = grid_j - base_grid_j
    job_energy_j = float(e["job_load"].sum())
    horizon_end = min(sc.horizon_s, steps * sc.step_s)  # the end of the booked steps [s]
    arrival = inp.job_arrival_s
    finished = ~np.isnan(res.job_finish_s)
    end = np.where(finished, res.job_finish_s, horizon_end)
    arrived = arrival < horizon_end
    jct_s = (end - arrival)[arrived]
    # An unfinished job's slowdown: it cannot finish before the horizon plus its remaining
    # work at its ideal rate (that of ideal_time_s), a lower bound on its completion, so
    # that leaving a job undone never reads as a slowdown under 1 (jct_s stays the time
    # it has had, the time booked).
    rate = _ideal_rate(inp)
    rest_s = np.where(finished, 0.0, np.maximum(res.job_remaining_gpu_s, 0.0) / rate)[arrived]
    slowdown = (jct_s + rest_s) / (inp.job_work_gpu_s / rate)[arrived]  # ideal_time_s
    started = ~np.isnan(res.job_start_s)
    queue_s = (np.where(started, res.job_start_s, horizon_end) - arrival)[arrived]
    deadline = inp.job_deadline_s
    # unfinished at a deadline that is the end of the horizon: missed (<=)
    missed = np.where(finished, res.job_finish_s > deadline + 1e-9,
                      deadline <= horizon_end + 1e-9)
    moves = [m for m in res.migrations if m["end_s"] is not None and not m["aborted"]]
    window_lost = infeasible = 0
    for m in moves:
        d = m["dst"]
        # the moved GPUs pay the move back (a partial job's staying ones never moved), as
        # the policies and net_green_gain_j count it
        p_job = inp.job_g_move[m["job"]] * inp.gpu_power_w[d] * inp.pue[d]
        payback_s = m["energy_j"] / max(p_job, 1e-9)
        # a redirected move's closed window is the one it left: judge the one it landed in
        closed = m["window_closed"] and not m["fallback"]
        # A window still open at the horizon is censored: its recorded length is a lower
        # bound, so a length short of the rule is no evidence; only a known length judges.
        if closed or (m["window_at_end_s"] < payback_s
                      and not m.get("window_at_end_censored", False)):
            window_lost += 1
        if (m["downtime_s"] > sc.alpha * m["window_at_start_s"] + 1e-9
                and not m.get("window_at_start_censored", False)):
            infeasible += 1
    carbon = inp.carbon_g_per_kwh
    has_c = ~np.isnan(carbon)
    n_jobs = len(inp.jobs)
    # the local steps an elastic group's missing workers skipped left their work, undone
    skipped_s = float(res.counters.get("worker_skipped_gpu_s", 0.0))
    work_done_h = (float((inp.job_work_gpu_s - res.job_remaining_gpu_s).sum())
                   - skipped_s) / 3600.0
    out = {
        # job-attributable energies to the millijoule (1e-9 kWh = 3.6 mJ): checked by hand
        "job_nr_kwh": _r(job_nr_j / KWH, 9),
        "job_energy_kwh": _r(job_energy_j / KWH, 9),
        "job_green_share": _r(1.0 - job_nr_j / job_energy_j if job_energy_j > 0 else np.nan, 6),
        "job_nr_kwh_per_gpu_h": _r(job_nr_j / KWH / work_done_h if work_done_h else np.nan, 6),
        "curtailment_absorbed_kwh": _r((base.total_j("curtailed") - float(e["curtailed"].sum()))
                                       / KWH, 9),
        "base_only_nr_kwh": _r(base_grid_j / KWH, 9),
        "saved_vs_static_pct": None,
        "non_renewable_kwh": _r(grid_j / KWH, 4),
        "site_saved_vs_static_pct": None,
        "renewable_kwh": _r(float(e["direct"].sum() + e["discharge"].sum()) / KWH, 4),
        "curtailed_kwh": _r(float(e["curtailed"].sum()) / KWH, 4),
        "unmet_kwh": _r(float(e["unmet"].sum()) / KWH, 4),
        "demand_kwh": _r(float(e["demand"].sum()) / KWH, 4),
        "jct_mean_h": _r(float(jct_s.mean()) / 3600.0 if jct_s.size else np.nan, 4),
        "jct_p95_h": _r(_pct(jct_s, 95) / 3600.0, 4),
        "stability_cv": _r(float(slowdown.std() / slowdown.mean()) if slowdown.size else np.nan,
                           6),
        "slowdown_mean": _r(float(slowdown.mean()) if slowdown.size else np.nan, 6),
        "slowdown_p50": _r(_pct(slowdown, 50), 6),
        "slowdown_p90": _r(_pct(slowdown, 90), 6),
        "queue_h": _r(float(queue_s.sum()) / 3600.0, 4),
        "downtime_h": _r(float(res.job_down_s.sum()) / 3600.0, 4),
        "suspended_h": _r(_segment_hours(res, "suspended"), 4),
        "deadline_misses": int((missed & arrived).sum()),
        "migrations": len(moves),
        # a move still in flight at the run's end is in none of the migration columns
        # (its end, and so its downtime and payback, are unknown); its time so far is in
        # downtime_h and its bytes in gb_moved
        "migrations_in_flight_at_end": sum(1 for m in res.migrations
                                           if m["end_s"] is None and not m["aborted"]),
        "migrations_per_job": _r(len(moves) / n_jobs if n_jobs else 0.0, 6),
        "window_closed_before_payback": window_lost,
        "infeasible_migrations": infeasible,
        "net_green_loss_migrations": _net_green_losses(inp, res, moves),
        "aborted_migrations": int(res.counters["aborted_migrations"]),
        "fallback_migrations": int(res.counters["fallback_migrations"]),
        "window_closed_mid_migration": int(res.counters["window_closed"]),
        "rejected_actions": int(res.counters["rejected_actions"]),
        "suspensions": int(res.counters["suspensions"]),
        "gb_moved": _r(res.counters["bytes_moved"] / 1e9, 6),
        "network_kwh": _r(res.counters["network_j"] / KWH, 6),
        "jobs": n_jobs,
        "finished_jobs": int(finished.sum()),
        "unfinished_jobs": int(n_jobs - finished.sum()),
        "work_done_gpu_h": _r(work_done_h, 4),
    }
    # Rescales of elastic jobs: counted from a run's first Scale action on.
    for key in ("scales", "rejected_scales"):
        if key in res.counters:
            out[key] = int(res.counters[key])
    # Actions naming a job or site the fleet does not have (a policy's bug, also rejected).
    if res.counters.get("actions_naming_nothing"):
        out["actions_naming_nothing"] = int(res.counters["actions_naming_nothing"])
        if getattr(res, "first_naming_nothing", None):
            out["actions_naming_nothing_first"] = res.first_naming_nothing
    out.update(dr_metrics(inp, res, steps))  # demand-response events, if the scenario has them
    out.update(spread_metrics(inp, res))  # jobs spread over sites, when it has them
    if has_c.any():
        out["carbon_kg"] = _r(float((e["grid"][has_c] * carbon[has_c]).sum()) / KWH / 1000, 4)
        out["job_carbon_kg"] = _r(
            float(((e["grid"] - base.energy_j["grid"])[has_c] * carbon[has_c]).sum())
            / KWH / 1000, 4)
    # carbon and cost of the jobs from the scenario's grid signals (docs/grid.md)
    T = inp.n_steps
    out.update(grid_metrics(inp.grid, _booked_rows(res.grid_w, steps, T),
                            _booked_rows(base.grid_w, steps, T), sc.step_s))
    # What the policy counted itself (e.g. the planner's solves and fallbacks), under names
    # of its own: one of greenhop's would replace that metric in every output
    taken = sorted(k for k in res.policy_counters
                   if k in out or k.startswith(_COMPARED_PREFIXES))
    if taken:
        from greenhop.core.errors import PolicyFailure

        raise PolicyFailure(
            f"policy {res.policy!r}: counters() returns {taken[0]!r}, the name of a metric "
            f"greenhop computes; give the counter a name of its own (e.g. "
            f"'{res.policy.replace('-', '_')}_{taken[0]}')")
    out.update({k: _r(float(v), 6) for k, v in sorted(res.policy_counters.items())})
    return out


_COMPARED_PREFIXES = ("saved_vs_static", "site_saved_vs_static", "gap_closed_",
                      "oracle_gap", "bound_")
"""Names of the metrics :func:`compare` and the bounds add after a run's own: no policy
counter may take them either."""


#: the policy whose share of the oracle gap is reported, and the two ends of the gap
FORECAST_POLICY, BASELINE_POLICY, ORACLE_POLICY = (
    "forecast-feasibility", "feasibility-aware", "oracle-window")


def gap_closed(static_kwh: float | None, policy_kwh: float | None, bound: dict,
               work_done_gpu_h: float | None, own_bound_kwh: float | None = None
               ) -> tuple[float | None, str | None]:
    """``(100 x (static - policy) / (static - bound), None)`` on ``job_nr_kwh``, or
    ``(None, why)`` when it is not defined: the policy did less than
    :data:`WORK_SHARE_FOR_GAP` of the work the bound requires (``bound["work_gpu_h"]``),
    the bound did not solve, the run has no bound of its own (``own_bound_kwh`` None), or
    static is at the bound. ``bound`` is the scenario's bound (its ``to_dict``);
    ``own_bound_kwh`` the bound priced at the policy's own work (a true lower bound for it,
    ``bound_<kind>_kwh``), the ``bound`` of the ratio.
    """
    if bound.get("job_nr_kwh") is None or bound.get("status") not in (None, "Optimal"):
        return None, f"the bound did not solve (status {bound.get('status')})"
    # Only the bound priced at this run's own work bounds it: the scenario's bound is priced
    # at static's work and is no lower bound for a run that did other work (a 200 % gap).
    b = own_bound_kwh
    if b is None:
        return None, ("no bound for this run (a bound with a slowdown quantile is not priced "
                      "at a run's own work)" if bound.get("slowdown_quantile") is not None
                      else "no bound for this run (it ran a job where the bound does not "
                      "place it: a pinned or partial job away from its origin, or, for the "
                      "time bound, any job away from the site static first ran it at; static "
                      "too, when a demand-response event moved one of its jobs)")
    if static_kwh is None or policy_kwh is None:
        return None, "static did not run"
    need = float(bound.get("work_gpu_h") or 0.0)
    done = float(work_done_gpu_h or 0.0)
    if done < need * WORK_SHARE_FOR_GAP:
        return None, (f"did {need - done:,.2f} GPU-h ({100 * (need - done) / need:.2f} %) less "
                      f"work than the bound requires ({need:,.1f} GPU-h); less work saves "
                      "energy by itself")
    if static_kwh - b <= 1e-9:
        return None, "static is at the bound already: no gap to close"
    return _r(100.0 * (static_kwh - policy_kwh) / (static_kwh - b), 2), None


def compare(metrics: dict[str, dict], bounds: dict[str, dict] | None = None
            ) -> dict[str, dict]:
    """Fill ``saved_vs_static_pct`` (job-attributable) and ``site_saved_vs_static_pct`` when
    ``static`` is among the runs; ``gap_closed_<kind>_pct`` for every bound in ``bounds``
    (``{kind: {job_nr_kwh, work_gpu_h, status, ...}}``); and the share of the
    ``feasibility-aware`` -> ``oracle-window`` gap that ``forecast-feasibility`` closes when
    all three ran."""
    static = metrics.get("static", {})
    base = static.get("job_nr_kwh")
    site_base = static.get("non_renewable_kwh")
    for m in metrics.values():
        if base:
            m["saved_vs_static_pct"] = _r(100.0 * (base - m["job_nr_kwh"]) / base, 4)
        if site_base:
            m["site_saved_vs_static_pct"] = _r(
                100.0 * (site_base - m["non_renewable_kwh"]) / site_base, 4)
        for kind, bound in (bounds or {}).items():
            # bound_<kind>_kwh None: the run has no bound of its own (no gap); absent: the
            # metrics were not priced per run, so the scenario's bound stands in
            own = m.get(f"bound_{kind}_kwh", bound.get("job_nr_kwh"))
            pct, why = gap_closed(base, m["job_nr_kwh"], bound, m.get("work_done_gpu_h"), own)
            m[f"gap_closed_{kind}_pct"] = pct
            if why is not None:
                m[f"gap_closed_{kind}_why"] = why
    fc = metrics.get(FORECAST_POLICY)
    fa = metrics.get(BASELINE_POLICY)
    oracle = metrics.get(ORACLE_POLICY)
    if fc is not None and fa is not None and oracle is not None:
        for key, suffix, digits in (("job_nr_kwh", "", 4),
                                    ("infeasible_migrations", "_infeasible", 0),
                                    ("window_closed_before_payback", "_window_closed", 0)):
            gap = fa[key] - oracle[key]
            fc[f"oracle_gap{suffix or '_kwh'}"] = _r(gap, digits) if digits else int(gap)
            fc[f"oracle_gap_closed{suffix}_pct"] = (
                _r(100.0 * (fa[key] - fc[key]) / gap, 2) if gap > 0 else None)
    return metrics
