"""The README's comparison table of policies from one or more `greenhop sweep` directories.

Reads each directory's ``summary.json`` (one scenario; several directories of the same
scenario and seeds are merged, e.g. a sweep of one more policy) and prints a Markdown
table: mean ± the half-width of the 95 % interval over the seeds, for every policy, with
the bounds below it. Gap closed is left out (``–``) for a policy that did less than the
bounds' work (the sweep gives no value for it).

    .venv/bin/python benchmarks/policy_table.py sweeps/default [more-sweeps/default]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ORDER = ("static", "energy-greedy", "cost-aware-greedy", "network-aware", "feasibility-aware",
         "forecast-feasibility", "oracle-window", "horizon-planner", "oracle-planner", "threshold",
         "curtail-threshold", "wait-awhile", "carbonscaler")
"""Baseline, movers, the planner, temporal shifters, scaling: the README's order."""

COLUMNS = (
    ("job_nr_kwh", "job grid kWh", "{:,.0f}"),
    ("saved_vs_static_pct", "saved %", "{:.1f}"),
    ("gap_closed_space_pct", "gap closed, space %", "{:.0f}"),
    ("gap_closed_spacetime_pct", "gap closed, space-time %", "{:.0f}"),
    ("slowdown_p90", "slowdown p90", "{:.2f}"),
    ("stability_cv", "stability CV", "{:.3f}"),
    ("migrations", "moves", "{:.0f}"),
    ("infeasible_migrations", "infeasible moves", "{:.1f}"),
    ("window_closed_before_payback", "window closed before payback", "{:.1f}"),
    ("net_green_loss_migrations", "net green loss moves", "{:.1f}"),
    ("unfinished_jobs", "unfinished jobs", "{:.1f}"),
)


def cell(stat: dict | None, fmt: str) -> str:
    if not stat or stat.get("mean") is None:
        return "–"
    hw = stat.get("half_width")
    return fmt.format(stat["mean"]) + ("" if hw is None else " ± " + fmt.format(hw))


def load(directory: Path) -> dict:
    """A sweep directory's summary; a missing or unreadable one is a one-line error, exit 2."""
    path = directory / "summary.json"
    try:
        summary = json.loads(path.read_text())
        summary["points"][0]["metrics"]
    except FileNotFoundError:
        _fail(f"{path}: not found; give the --out directory of a finished `greenhop sweep`")
    except OSError as exc:
        _fail(f"{path}: cannot read it ({exc.strerror})")
    except (ValueError, KeyError, IndexError, TypeError):
        _fail(f"{path}: not a sweep summary (no points with metrics)")
    return summary


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweeps", nargs="+", type=Path, help="sweep output directories")
    a = ap.parse_args()
    summaries = [load(d) for d in a.sweeps]
    scenarios = {s["scenario"] if isinstance(s["scenario"], str) else json.dumps(s["scenario"])
                 for s in summaries}
    seeds = {json.dumps(s["seeds"]) for s in summaries}
    if len(scenarios) > 1 or len(seeds) > 1:
        print(f"error: the sweeps differ in scenario or seeds ({scenarios}, {seeds})",
              file=sys.stderr)
        return 2
    rows: dict[str, list[str]] = {}
    bounds: dict[str, dict] = {}
    for s in summaries:
        point = s["points"][0]
        gaps = point.get("gap_closed", {})
        for policy, metrics in point["metrics"].items():
            out = []
            for key, _, fmt in COLUMNS:
                stat = gaps.get(policy, {}).get(key, metrics.get(key)) \
                    if key.startswith("gap_closed") else metrics.get(key)
                out.append(cell(stat, fmt))
            rows[policy] = out
        bounds.update(point.get("bounds", {}))
    print("| policy | " + " | ".join(c[1] for c in COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for policy in sorted(rows, key=lambda p: (ORDER.index(p) if p in ORDER else len(ORDER), p)):
        print(f"| {policy} | " + " | ".join(rows[policy]) + " |")
    if bounds:
        print("\nBounds: " + ", ".join(
            f"`{kind}` {cell(b['job_nr_kwh'], '{:,.0f}')} kWh" for kind, b in bounds.items()) + ".")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
