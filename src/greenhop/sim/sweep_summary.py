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

from greenhop.sim import stats
from greenhop.sim.metrics import gap_closed
from greenhop.sim.sweep_store import SweepStore, atomic_write

#: headline metrics, each with the fallbacks used when a cell lacks it
HEADLINE = (
    ("job_nr_kwh", "non_renewable_kwh"),
    ("job_green_share",),
    ("slowdown_p90", "jct_p95_h"),
    ("stability_cv",),
    ("migrations",),
    ("window_closed_before_payback", "regretted_migrations"),
    ("net_green_loss_migrations",),
)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


def tidy_frame(spec, store: SweepStore) -> pd.DataFrame:
    """One row per cell: ``scenario, seed, policy``, one column per grid key, one column
    per numeric metric (and ``_point``, the grid point's index, dropped on output). A
    bounds cell gives one row per kind (policy ``bound:KIND``) with
    ``job_nr_kwh``, ``work_done_gpu_h`` (the bound's work), ``solve_s`` and ``status``."""
    from greenhop.sim.sweep import BOUNDS

    points = spec.points
    grid_keys = [k for k, _ in spec.grid]
    rows = []
    for cell in spec.cells():
        doc = json.loads(store.read_cell(cell.key))
        base = {"_point": cell.point, "scenario": spec.scenario_name, "seed": cell.seed}
        base.update({k: points[cell.point][k] for k in grid_keys})
        if cell.policy == BOUNDS:
            for kind, b in sorted(doc.items()):
                row = dict(base, policy=f"bound:{kind}", job_nr_kwh=_number(b.get("job_nr_kwh")),
                           work_done_gpu_h=_number(b.get("work_gpu_h")),
                           solve_s=_number(b.get("solve_s")), status=b.get("status"))
                rows.append(row)
            continue
        m = doc["policies"][cell.policy]
        row = dict(base, policy=cell.policy)
        row.update({k: _number(v) for k, v in sorted(m.items())
                    if _number(v) is not None or v is None})
        rows.append(row)
    df = _fill_gaps(spec, pd.DataFrame(rows))
    for k in grid_keys:  # a column of one type (numbers, or else text)
        if not all(_number(v) is not None for v in df[k]):
            df[k] = df[k].map(lambda v: v if isinstance(v, str) else json.dumps(v))
    return df


def _fill_gaps(spec, df: pd.DataFrame) -> pd.DataFrame:
    """Replace each policy row's ``gap_closed_<kind>_pct`` by the value from the static,
    policy and bound cells of the same seed (a one-policy cell cannot know its static
    run), and drop the text ``gap_closed_<kind>_why`` columns (reasons: summary.json)."""
    df = df.drop(columns=[c for c in df.columns if c.startswith("gap_closed_")
                          and c.endswith("_why")])
    nr = "job_nr_kwh"
    if nr not in df.columns:
        return df
    for p, kinds in enumerate(spec.point_bounds):
        for kind in kinds:
            col = f"gap_closed_{kind}_pct"
            if col not in df.columns:
                df[col] = float("nan")
            df[col] = df[col].astype(float)
            for seed in spec.seeds:
                here = (df["_point"] == p) & (df["seed"] == seed)
                static = df[here & (df["policy"] == "static")]
                bound = df[here & (df["policy"] == f"bound:{kind}")]
                for i in df.index[here & ~df["policy"].str.startswith("bound:")]:
                    row = df.loc[[i]]
                    value, _ = gap_closed(
                        _one(static, nr), _one(row, nr), _bound_dict(bound),
                        _one(row, "work_done_gpu_h"), _one(row, f"bound_{kind}_kwh"))
                    df.loc[i, col] = float("nan") if value is None else value
    return df


def _bound_dict(rows: pd.DataFrame) -> dict:
    """The bound cell's ``to_dict`` keys that :func:`greenhop.sim.metrics.gap_closed` reads
    (``{}`` when the seed has no bound row)."""
    if rows.empty:
        return {"job_nr_kwh": None, "status": "missing"}
    status = rows["status"].iloc[0] if "status" in rows.columns else None
    return {"job_nr_kwh": _one(rows, "job_nr_kwh"), "work_gpu_h": _one(rows, "work_done_gpu_h"),
            "status": None if pd.isna(status) else status}


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
    policy and bound kind the gap closed per seed and its mean."""
    fixed = {"_point", "scenario", "seed", "policy", "solve_s", "status",
             *(k for k, _ in spec.grid)}
    metric_cols = sorted(c for c in df.columns if c not in fixed
                         and pd.api.types.is_numeric_dtype(df[c]))
    pol_df = df[~df["policy"].str.startswith("bound:")]
    present = {c for c in metric_cols if pol_df[c].notna().any()}
    headline = _resolve(present) + sorted(c for c in present if c.startswith("gap_closed_"))
    points_out = []
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
        entry = {"point": p, "label": spec.point_label(p), "values": _jsonable(values),
                 "metrics": per_policy, "paired": paired}
        kinds = spec.point_bounds[p]
        if kinds:
            entry["bounds"], entry["gap_closed"] = _gaps(spec, sel, by_seed, kinds)
        points_out.append(entry)
    return {
        "scenario": spec.scenario_name,
        "seeds": list(spec.seeds),
        "policies": list(spec.policies),
        "grid": [{"key": k, "values": _jsonable(list(v))} for k, v in spec.grid],
        "headline": headline,
        "statistics": {"interval": "percentile bootstrap of the mean over seeds",
                       "level": stats.LEVEL, "resamples": stats.N_RESAMPLES,
                       "rng_seed": stats.BOOTSTRAP_SEED},
        "cells": len(spec.cells()),
        "points": points_out,
    }


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


def _jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str))


def write_final(spec, store: SweepStore) -> tuple[dict[str, Path], dict]:
    """Write ``cells.parquet``, ``cells.csv``, ``summary.json`` and ``report.html``
    (each atomically); returns their paths and the summary."""
    from greenhop.sim.sweep_report import render_sweep_report

    full = tidy_frame(spec, store)
    summary = summarize(spec, full)
    df = full.drop(columns="_point")
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    paths = {name: store.path(name) for name in ("cells.parquet", "cells.csv", "summary.json",
                                                 "report.html")}
    atomic_write(paths["cells.parquet"], buf.getvalue())
    atomic_write(paths["cells.csv"], df.to_csv(index=False, lineterminator="\n"))
    atomic_write(paths["summary.json"],
                 json.dumps(summary, sort_keys=True, indent=2, allow_nan=False) + "\n")
    atomic_write(paths["report.html"], render_sweep_report(spec, full, summary))
    return paths, summary
