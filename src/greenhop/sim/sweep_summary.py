"""A finished sweep's tables and statistics: ``cells.parquet`` / ``cells.csv`` (one row per
cell) and ``summary.json`` (means with 95% bootstrap intervals, paired differences,
gap closed to the bounds), computed with :mod:`greenhop.sim.stats`.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from greenhop.core.units import finite_float
from greenhop.sim import stats
from greenhop.sim.metrics import compare, gap_closed
from greenhop.sim.sweep_frontier import ENERGY, SLOWDOWN, frontier
from greenhop.sim.sweep_grid import json_value
from greenhop.sim.sweep_store import FINAL_FILES, REPORT, SUMMARY, SweepStore, atomic_write

#: headline metrics, each with the fallbacks used when a cell lacks it
HEADLINE = (
    ENERGY,
    ("job_green_share",),
    SLOWDOWN,
    ("stability_cv",),
    ("migrations",),
    ("window_closed_before_payback", "regretted_migrations"),
    ("net_green_loss_migrations",),
    ("unfinished_jobs",),
    ("job_co2_kg",),          # with grid signals only (docs/grid.md)
    ("job_energy_cost",),
)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return finite_float(v)


def _finite_or_null(v: Any) -> Any:
    """``v`` with every NaN or infinity (a statistic of cells too large to sum, 1e308 kWh)
    as ``null``, which JSON has."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite_or_null(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite_or_null(x) for x in v]
    return v


def tidy_frame(spec, store: SweepStore) -> pd.DataFrame:
    """One row per cell: ``scenario, seed, policy``, one column per grid key, one column
    per numeric metric (and ``_point``, the grid point's index, dropped on output). A
    bounds cell gives one row per kind (policy ``bound:KIND``) with
    ``job_nr_kwh``, ``work_done_gpu_h`` (the bound's work), ``solve_s`` and ``status``.

    A one-policy cell cannot know its seed's ``static`` run, so the comparisons
    (``saved_vs_static_pct``, ``gap_closed_<kind>_pct``, the oracle gap) are filled in here
    per grid point and seed with the simulator's own :func:`greenhop.sim.metrics.compare`
    over that seed's cells, exactly as ``simulate`` fills them for a run of all policies;
    the text reasons (``..._why``) go to ``summary.json``, not to the tables."""
    from greenhop.sim.sweep import BOUNDS

    points = spec.points
    grid_keys = [k for k, _ in spec.grid]
    seeds: dict[tuple[int, int], dict] = {}
    for cell in spec.cells():
        doc = json.loads(store.read_cell(cell.key))
        entry = seeds.setdefault((cell.point, cell.seed), {"policies": {}, "bounds": None})
        if cell.policy == BOUNDS:
            entry["bounds"] = doc
        else:
            m = {k: v for k, v in doc["policies"][cell.policy].items()
                 if not k.endswith("_why")}
            entry["policies"][cell.policy] = m
    rows = []
    for (point, seed), entry in seeds.items():
        compare(entry["policies"], entry["bounds"])
        base = {"_point": point, "scenario": spec.scenario_name, "seed": seed}
        base.update({k: points[point][k] for k in grid_keys})
        for kind, b in sorted((entry["bounds"] or {}).items()):
            rows.append(dict(base, policy=f"bound:{kind}", job_nr_kwh=_number(b.get("job_nr_kwh")),
                             work_done_gpu_h=_number(b.get("work_gpu_h")),
                             solve_s=_number(b.get("solve_s")), status=b.get("status")))
        for policy, m in entry["policies"].items():
            row = dict(base, policy=policy)
            row.update({k: _number(v) for k, v in sorted(m.items())
                        if _number(v) is not None or v is None})
            rows.append(row)
    df = pd.DataFrame(rows)
    for k in grid_keys:  # a column of one type (numbers, or else text)
        if not all(_number(v) is not None for v in df[k]):
            df[k] = df[k].map(lambda v: v if isinstance(v, str) else json.dumps(v))
    return df


def _one(rows: pd.DataFrame, col: str) -> float | None:
    if rows.empty or col not in rows.columns or pd.isna(rows[col].iloc[0]):
        return None
    return float(rows[col].iloc[0])


def _resolve(metrics: set[str]) -> list[str]:
    """The headline metrics present (first available of each fallback chain)."""
    out = []
    for chain in HEADLINE:
        hit = next((m for m in chain if m in metrics), None)
        if hit is not None:
            out.append(hit)
    return out


def summarize(spec, df: pd.DataFrame) -> dict:
    """``summary.json``: per grid point, per policy and metric the mean and 95% interval,
    paired differences on the headline metrics for every ordered pair of policies, and per
    policy and bound kind the gap closed per seed and its mean. On a grid, every point
    after the first also has ``vs_first``: per policy and headline metric, the paired
    difference of this point minus the first one, seed by seed (put the reference value
    first in ``--set``). ``frontier``: which policy and grid point no other beats on both
    mean job grid energy and mean slowdown p90 (:mod:`greenhop.sim.sweep_frontier`)."""
    fixed = {"_point", "scenario", "seed", "policy", "solve_s", "status",
             *(k for k, _ in spec.grid)}
    metric_cols = sorted(c for c in df.columns if c not in fixed
                         and pd.api.types.is_numeric_dtype(df[c]))
    pol_df = df[~df["policy"].str.startswith("bound:")]
    present = {c for c in metric_cols if pol_df[c].notna().any()}
    headline = _resolve(present) + sorted(c for c in present if c.startswith("gap_closed_"))
    points_out = []
    first_by_seed: dict[str, pd.DataFrame] = {}
    for p, values in enumerate(spec.points):
        sel = df[df["_point"] == p]
        per_policy: dict[str, dict] = {}
        by_seed: dict[str, pd.DataFrame] = {}
        for pol in spec.policies:
            rows = sel[sel["policy"] == pol].set_index("seed").reindex(list(spec.seeds))
            by_seed[pol] = rows
            per_policy[pol] = {m: stats.describe(_col(rows, m)) for m in metric_cols
                               if m in present}
        paired = []
        for a in spec.policies:
            for b in spec.policies:
                if a == b:
                    continue
                for m in headline:
                    d = stats.paired_difference(_col(by_seed[a], m), _col(by_seed[b], m))
                    paired.append({"a": a, "b": b, "metric": m, **d})
        entry = {"point": p, "label": spec.point_label(p), "values": json_value(values),
                 "metrics": per_policy, "paired": paired}
        if p == 0:
            first_by_seed = by_seed
        else:
            entry["vs_first"] = [
                {"policy": pol, "metric": m,
                 **stats.paired_difference(_col(by_seed[pol], m),
                                           _col(first_by_seed[pol], m))}
                for pol in spec.policies for m in headline]
        kinds = spec.point_bounds[p]
        if kinds:
            entry["bounds"], entry["gap_closed"] = _gaps(spec, sel, by_seed, kinds)
        points_out.append(entry)
    summary = {
        "scenario": spec.scenario_name,
        "seeds": list(spec.seeds),
        "policies": list(spec.policies),
        "grid": [{"key": k, "values": json_value(list(v))} for k, v in spec.grid],
        "headline": headline,
        "statistics": {"interval": "percentile bootstrap of the mean over seeds",
                       "level": stats.LEVEL, "resamples": stats.N_RESAMPLES,
                       "rng_seed": stats.BOOTSTRAP_SEED},
        "cells": len(spec.cells()),
        "points": points_out,
    }
    summary["frontier"] = frontier(summary)
    return summary


def _col(rows: pd.DataFrame, metric: str) -> list[float | None]:
    if metric not in rows.columns:
        return [None] * len(rows)
    return [None if pd.isna(v) else float(v) for v in rows[metric]]


def _gaps(spec, sel: pd.DataFrame, by_seed: dict, kinds) -> tuple[dict, dict]:
    nr = _resolve(set(sel.columns))[0] if _resolve(set(sel.columns)) else "job_nr_kwh"
    bounds, gaps = {}, {}
    static = by_seed.get("static")
    for kind in kinds:
        b = sel[sel["policy"] == f"bound:{kind}"].set_index("seed").reindex(list(spec.seeds))
        bounds[kind] = {"job_nr_kwh": stats.describe(_col(b, "job_nr_kwh")),
                        "work_gpu_h": stats.describe(_col(b, "work_done_gpu_h")),
                        "status": [None if pd.isna(s) else s for s in b["status"]]}
        for pol in spec.policies:
            rows = by_seed[pol]
            per_seed = []
            own = (_col(rows, f"bound_{kind}_kwh") if f"bound_{kind}_kwh" in rows.columns
                   else [None] * len(spec.seeds))
            for i, seed in enumerate(spec.seeds):
                bound = {"job_nr_kwh": _col(b, "job_nr_kwh")[i],
                         "work_gpu_h": _col(b, "work_done_gpu_h")[i],
                         "status": b["status"].iloc[i]}
                value, reason = gap_closed(
                    None if static is None else _col(static, nr)[i],
                    _col(rows, nr)[i], bound, _col(rows, "work_done_gpu_h")[i], own[i])
                per_seed.append({"seed": seed, "value": value, "reason": reason})
            gaps.setdefault(pol, {})[f"gap_closed_{kind}_pct"] = {
                **stats.describe([e["value"] for e in per_seed]), "per_seed": per_seed}
    return bounds, gaps


def write_final(spec, store: SweepStore) -> tuple[dict[str, Path], dict]:
    """Write ``cells.parquet``, ``cells.csv``, ``summary.json`` and ``report.html``
    (each atomically); returns their paths and the summary."""
    from greenhop.sim.sweep_report import render_sweep_report

    full = tidy_frame(spec, store)
    summary = summarize(spec, full)
    df = full.drop(columns="_point")
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    paths = {name: store.path(name) for name in FINAL_FILES}
    atomic_write(paths["cells.parquet"], buf.getvalue())
    atomic_write(paths["cells.csv"], df.to_csv(index=False, lineterminator="\n"))
    atomic_write(paths[SUMMARY], json.dumps(_finite_or_null(summary), sort_keys=True,
                                            indent=2, allow_nan=False) + "\n")
    atomic_write(paths[REPORT], render_sweep_report(spec, full, summary))
    return paths, summary
