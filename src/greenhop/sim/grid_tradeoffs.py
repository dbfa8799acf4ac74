"""Objective tradeoffs of a finished sweep: each objective against ``energy``, paired by seed.

A sweep over ``--set grid.objective=energy,carbon,cost`` runs every policy under every
objective on the same seeds (the same jobs and traces). For one policy and one metric,
the difference ``objective - energy`` per seed is paired (:func:`greenhop.sim.stats.
paired_difference`: mean, 95% bootstrap interval, share of seeds where it is lower)::

    python -m greenhop.sim.grid_tradeoffs SWEEP_DIR [POLICY ...]

prints the markdown table of ``docs/grid.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from greenhop.core.errors import UserError
from greenhop.sim import stats

KEY = "grid.objective"
METRICS = (("job_co2_kg", "kg CO2"), ("job_co2_avg_kg", "kg CO2 (avg)"),
           ("job_energy_cost", "cost"), ("job_nr_kwh", "kWh"), ("migrations", "moves"),
           ("jct_mean_h", "JCT h"))


def objective_tradeoffs(cells: pd.DataFrame, policy: str, baseline: str = "energy",
                        metrics=METRICS) -> list[dict]:
    """Per objective other than ``baseline`` and per metric: the means of both and the
    paired difference over the seeds both ran (``{"objective", "metric", "mean",
    "baseline_mean", "diff": paired_difference(...)}``)."""
    if KEY not in cells.columns:
        raise UserError(f"the sweep has no '{KEY}' grid; run it with --set "
                        f"{KEY}=energy,carbon,cost")
    rows = cells[cells["policy"] == policy]
    if rows.empty:
        raise UserError(f"policy {policy!r} is not in the sweep; policies: "
                        f"{', '.join(sorted(cells['policy'].unique()))}")
    base = rows[rows[KEY] == baseline].set_index("seed")
    out = []
    for objective in [o for o in rows[KEY].unique() if o != baseline]:
        other = rows[rows[KEY] == objective].set_index("seed")
        seeds = sorted(set(base.index) & set(other.index))
        for metric, unit in metrics:
            if metric not in rows.columns:
                continue
            a = [other.at[s, metric] for s in seeds]
            b = [base.at[s, metric] for s in seeds]
            out.append({"objective": objective, "metric": metric, "unit": unit,
                        "mean": stats.describe(a)["mean"],
                        "baseline_mean": stats.describe(b)["mean"],
                        "diff": stats.paired_difference(a, b)})
    return out


def tradeoffs_markdown(rows: list[dict], policy: str) -> str:
    """The rows of :func:`objective_tradeoffs` as a markdown table."""
    lines = [f"| {policy}: objective | metric | mean (energy) | mean (objective) | "
             "paired diff, 95% CI | seeds lower |", "|---|---|---|---|---|---|"]
    for r in rows:
        d = r["diff"]
        ci = ("–" if d["ci_lo"] is None
              else f"{d['mean']:+.4g} [{d['ci_lo']:+.4g}, {d['ci_hi']:+.4g}]")
        lines.append(f"| {r['objective']} | {r['metric']} ({r['unit']}) | "
                     f"{r['baseline_mean']:.4g} | {r['mean']:.4g} | {ci} | "
                     f"{d['share_a_lt_b_pct']:.0f}% of {d['n']} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m greenhop.sim.grid_tradeoffs SWEEP_DIR [POLICY ...]",
              file=sys.stderr)
        return 2
    path = Path(argv[0]) / "cells.csv"
    try:
        if not path.is_file():
            raise UserError(f"{path} does not exist; give a finished sweep's folder")
        cells = pd.read_csv(path)
        policies = argv[1:] or sorted(p for p in cells["policy"].unique()
                                      if not str(p).startswith("bound:"))
        for policy in policies:
            print(tradeoffs_markdown(objective_tradeoffs(cells, policy), policy))
            print()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
