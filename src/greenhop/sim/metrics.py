"""Metrics of a run (DESIGN.md section 4), as plain, rounded, JSON-ready numbers.

Definitions (energies summed over sites and the horizon):

* ``non_renewable_kwh``: energy the grid supplied; ``renewable_kwh``: renewable energy
  that reached the load, directly or through the battery (``direct + discharge``);
  ``curtailed_kwh``: renewable energy neither used nor stored; ``unmet_kwh``: demand
  beyond the grid import limit.
* ``saved_vs_static_pct``: ``100 x (static - this) / static`` non-renewable energy.
* ``carbon_kg``: grid energy x the site's carbon intensity (sites with one given).
* ``jct_mean_h`` / ``jct_p95_h``: completion time ``finish - arrival`` [h]; a job still
  unfinished at the horizon counts with ``horizon - arrival`` (a lower bound) and is
  counted in ``unfinished_jobs``.
* ``stability_cv``: coefficient of variation (std / mean) across jobs of the slowdown
  ``JCT / ideal``, ideal = work / (GPUs x throughput of the arrival site).
* ``migrations``: completed moves; ``regretted_migrations``: completed moves whose
  destination window (the true one, from the trace) closed before the migration
  paid back its energy (``end + payback``), or during the migration;
  ``infeasible_migrations``: moves whose realised downtime exceeded ``alpha`` x the
  destination's true remaining window at the start; ``aborted_migrations``,
  ``window_closed_mid_migration``.
* ``gb_moved``: checkpoint bytes that crossed the WAN [GB = 1e9 B];
  ``network_kwh``: their network energy (bits x energy per bit along the path).
* ``oracle_gap_kwh`` and ``oracle_gap_closed_pct`` (on ``forecast-feasibility``, when
  ``feasibility-aware`` and ``oracle-window`` ran too): the gap ``G = NR(feasibility-aware)
  - NR(oracle-window)`` of non-renewable energy [kWh] between the historical window
  estimate and the true future window, and ``100 x (NR(feasibility-aware) -
  NR(forecast-feasibility)) / G``, the share of it the forecasts close (100: as good as
  perfect foresight; 0: no better than the historical estimate; negative: worse).
  ``None`` when ``G <= 0`` (no gap to close). The same share on infeasible and on
  regretted migrations: ``oracle_gap_infeasible`` / ``oracle_gap_closed_infeasible_pct``,
  ``oracle_gap_regretted`` / ``oracle_gap_closed_regretted_pct``.
"""

from __future__ import annotations

import numpy as np

from greenhop.sim.engine import RunResult
from greenhop.sim.inputs import SimInputs

KWH = 3.6e6
METRIC_KEYS = (
    "non_renewable_kwh", "renewable_kwh", "curtailed_kwh", "saved_vs_static_pct",
    "jct_mean_h", "jct_p95_h", "stability_cv", "migrations", "regretted_migrations",
    "gb_moved", "network_kwh",
)


def _r(x: float, digits: int = 6) -> float | None:
    if x is None or not np.isfinite(x):
        return None
    v = round(float(x), digits)
    return 0.0 if v == 0 else v


def run_metrics(inp: SimInputs, res: RunResult) -> dict:
    """The metrics dict of one run (``saved_vs_static_pct`` filled in by :func:`compare`)."""
    sc = inp.scenario
    e = res.energy_j
    grid_j = float(e["grid"].sum())
    horizon_end = sc.horizon_s
    arrival = inp.job_arrival_s
    finished = ~np.isnan(res.job_finish_s)
    end = np.where(finished, res.job_finish_s, horizon_end)
    arrived = arrival < horizon_end
    jct_s = (end - arrival)[arrived]
    origin = inp.job_origin.copy()
    ideal_tp = np.where(origin >= 0, inp.throughput[np.maximum(origin, 0)], 1.0)
    ideal_s = inp.job_work_gpu_s / (inp.job_gpus * ideal_tp)
    slowdown = jct_s / ideal_s[arrived]
    moves = [m for m in res.migrations if m["end_s"] is not None and not m["aborted"]]
    regretted = infeasible = 0
    for m in moves:
        d = m["dst"]
        p_job = inp.job_gpus[m["job"]] * inp.gpu_power_w[d] * inp.pue[d]
        payback_s = m["energy_j"] / max(p_job, 1e-9)
        if m["window_closed"] or m["window_at_end_s"] < payback_s:
            regretted += 1
        if m["downtime_s"] > sc.alpha * m["window_at_start_s"] + 1e-9:
            infeasible += 1
    carbon = inp.carbon_g_per_kwh
    has_c = ~np.isnan(carbon)
    n_jobs = len(inp.jobs)
    work_done_h = float((inp.job_work_gpu_s - res.job_remaining_gpu_s).sum()) / 3600.0
    out = {
        "non_renewable_kwh": _r(grid_j / KWH, 4),
        "renewable_kwh": _r(float(e["direct"].sum() + e["discharge"].sum()) / KWH, 4),
        "curtailed_kwh": _r(float(e["curtailed"].sum()) / KWH, 4),
        "unmet_kwh": _r(float(e["unmet"].sum()) / KWH, 4),
        "demand_kwh": _r(float(e["demand"].sum()) / KWH, 4),
        "job_kwh": _r(float(e["job_load"].sum()) / KWH, 4),
        "saved_vs_static_pct": None,
        "jct_mean_h": _r(float(jct_s.mean()) / 3600.0 if jct_s.size else np.nan, 4),
        "jct_p95_h": _r(float(np.percentile(jct_s, 95)) / 3600.0 if jct_s.size else np.nan, 4),
        "stability_cv": _r(float(slowdown.std() / slowdown.mean()) if slowdown.size else np.nan,
                           6),
        "slowdown_mean": _r(float(slowdown.mean()) if slowdown.size else np.nan, 6),
        "migrations": len(moves),
        "migrations_per_job": _r(len(moves) / n_jobs if n_jobs else 0.0, 6),
        "regretted_migrations": regretted,
        "infeasible_migrations": infeasible,
        "aborted_migrations": int(res.counters["aborted_migrations"]),
        "fallback_migrations": int(res.counters["fallback_migrations"]),
        "window_closed_mid_migration": int(res.counters["window_closed"]),
        "rejected_actions": int(res.counters["rejected_actions"]),
        "suspensions": int(res.counters["suspensions"]),
        "gb_moved": _r(res.counters["bytes_moved"] / 1e9, 6),
        "network_kwh": _r(res.counters["network_j"] / KWH, 6),
        "downtime_h": _r(float(res.job_down_s.sum()) / 3600.0, 4),
        "jobs": n_jobs,
        "finished_jobs": int(finished.sum()),
        "unfinished_jobs": int(n_jobs - finished.sum()),
        "work_done_gpu_h": _r(work_done_h, 4),
        "non_renewable_kwh_per_gpu_h": _r(grid_j / KWH / work_done_h if work_done_h else np.nan,
                                          6),
    }
    if has_c.any():
        out["carbon_kg"] = _r(float((e["grid"][has_c] * carbon[has_c]).sum()) / KWH / 1000, 4)
    return out


#: the policy whose share of the oracle gap is reported, and the two ends of the gap
FORECAST_POLICY, BASELINE_POLICY, ORACLE_POLICY = (
    "forecast-feasibility", "feasibility-aware", "oracle-window")


def compare(metrics: dict[str, dict]) -> dict[str, dict]:
    """Fill ``saved_vs_static_pct`` when ``static`` is among the runs, and the share of the
    ``feasibility-aware`` -> ``oracle-window`` gap that ``forecast-feasibility`` closes when
    all three are."""
    base = metrics.get("static", {}).get("non_renewable_kwh")
    for m in metrics.values():
        if base:
            m["saved_vs_static_pct"] = _r(100.0 * (base - m["non_renewable_kwh"]) / base, 4)
    fc = metrics.get(FORECAST_POLICY)
    fa = metrics.get(BASELINE_POLICY)
    oracle = metrics.get(ORACLE_POLICY)
    if fc is not None and fa is not None and oracle is not None:
        for key, suffix, digits in (("non_renewable_kwh", "", 4),
                                    ("infeasible_migrations", "_infeasible", 0),
                                    ("regretted_migrations", "_regretted", 0)):
            gap = fa[key] - oracle[key]
            fc[f"oracle_gap{suffix or '_kwh'}"] = _r(gap, digits) if digits else int(gap)
            fc[f"oracle_gap_closed{suffix}_pct"] = (
                _r(100.0 * (fa[key] - fc[key]) / gap, 2) if gap > 0 else None)
    return metrics
