"""Objective tradeoffs of a finished sweep: each objective against ``energy``, paired by seed.

A sweep over ``--set grid.objective=energy,carbon,cost`` runs every policy under every
objective on the same seeds (the same jobs and traces). For one policy and one metric,
the difference ``objective - energy`` per seed is paired (:func:`greenhop.sim.stats.
paired_difference`: mean, 95% bootstrap interval, share of seeds where it is lower)::

    python -m greenhop.sim.grid_tradeoffs SWEEP_DIR [POLICY ...]

prints the markdown table of ``docs/grid.md``, one per policy and, where the sweep has
other grid columns (``--set alpha=0.5,0.8``), per value of them. A cells.csv that is not
a sweep's, a sweep without ``grid.objective`` or without its ``energy`` cells (the
baseline) is a one-line error, exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from greenhop.core.errors import UserError
from greenhop.sim import stats

KEY = "grid.objective"
METRICS = (("job_co2_kg", "kg CO2"), ("job_co2_avg_kg", "kg CO2 (avg)"),
           ("job_energy_cost", "cost, the [grid] currency"), ("job_nr_kwh", "kWh"),
           ("migrations", "moves"), ("jct_mean_h", "JCT h"))


def check_columns(cells: pd.DataFrame) -> None:
    """Refuse cells that are not a sweep's (``policy`` and ``seed`` columns) or whose sweep
    has no ``grid.objective`` grid (UserError)."""
    missing = [c for c in ("policy", "seed") if c not in cells.columns]
    if missing:
        raise UserError(f"not a sweep's cells: no column {', '.join(map(repr, missing))}")
    if KEY not in cells.columns:
        raise UserError(f"the sweep has no '{KEY}' grid; run it with --set "
                        f"{KEY}=energy,carbon,cost")


def objective_tradeoffs(cells: pd.DataFrame, policy: str, baseline: str = "energy",
                        metrics=METRICS) -> list[dict]:
    """Per objective other than ``baseline`` and per metric: the means of both and the
    paired difference over the seeds both ran (``{"objective", "metric", "mean",
    "baseline_mean", "diff": paired_difference(...)}``)."""
    check_columns(cells)
    rows = cells[cells["policy"] == policy]
    if rows.empty:
        raise UserError(f"policy {policy!r} is not in the sweep; policies: "
                        f"{', '.join(sorted(map(str, cells['policy'].unique())))}")
    if rows.duplicated([KEY, "seed"]).any():
        raise UserError(f"policy {policy!r}: several cells per objective and seed (another "
                        "grid column); pair within one value of it")
    base = rows[rows[KEY] == baseline].set_index("seed")
    if base.empty:
        raise UserError(f"no cell has {KEY}={baseline}, the baseline the others are paired "
                        f"with (objectives: {', '.join(sorted(map(str, rows[KEY].unique())))}"
                        f"); run the sweep with {baseline} among them")
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

    def g(x, spec=".4g"):  # no value (no seed in common, no number): a dash
        return "–" if x is None or x != x else format(x, spec)

    lines = [f"| {policy}: objective | metric | mean (energy) | mean (objective) | "
             "paired diff, 95% CI | seeds lower |", "|---|---|---|---|---|---|"]
    for r in rows:
        d = r["diff"]
        ci = ("–" if d["ci_lo"] is None
              else f"{d['mean']:+.4g} [{d['ci_lo']:+.4g}, {d['ci_hi']:+.4g}]")
        lines.append(f"| {r['objective']} | {r['metric']} ({r['unit']}) | "
                     f"{g(r['baseline_mean'])} | {g(r['mean'])} | {ci} | "
                     f"{g(d['share_a_lt_b_pct'], '.0f')}% of {d['n']} |")
    return "\n".join(lines)


def other_grid_columns(cells: pd.DataFrame) -> list[str]:
    """The sweep's grid columns other than ``grid.objective``: a sweep's cells have
    ``scenario, seed``, its grid columns, then ``policy`` and the metrics."""
    cols = list(cells.columns)
    return [c for c in cols[cols.index("seed") + 1:cols.index("policy")] if c != KEY]


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m greenhop.sim.grid_tradeoffs",
        description="Each grid objective of a finished sweep (--set grid.objective=energy,"
                    "carbon,cost) against energy, paired by seed, as markdown tables "
                    "(docs/grid.md).")
    parser.add_argument("sweep_dir", metavar="SWEEP_DIR", help="the sweep's --out folder "
                        "(its cells.csv is read)")
    parser.add_argument("policies", metavar="POLICY", nargs="*", default=[],
                        help="the policies to show (default: every policy of the sweep)")
    args = parser.parse_args(argv)  # --help: exit 0; a usage error: exit 2
    argv = [args.sweep_dir, *args.policies]
    path = Path(argv[0]) / "cells.csv"
    if not path.is_file():
        print(f"error: {path} does not exist; give a finished sweep's folder",
              file=sys.stderr)
        return 2
    text = []
    try:
        try:
            cells = pd.read_csv(path)
        except (ValueError, UnicodeDecodeError) as exc:  # pandas' parser errors too
            raise UserError(f"not a CSV file ({str(exc).splitlines()[0]})") from None
        check_columns(cells)
        policies = argv[1:] or sorted(p for p in cells["policy"].unique()
                                      if not str(p).startswith("bound:"))
        others = other_grid_columns(cells)
        for policy in policies:
            parts = cells.groupby(others, dropna=False) if others else [((), cells)]
            for values, part in parts:
                title = ", ".join([str(policy), *(f"{c}={v}" for c, v in
                                                  zip(others, values, strict=True))])
                text.append(tradeoffs_markdown(objective_tradeoffs(part, policy), title))
    except UserError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 2
    print("\n\n".join(text) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
