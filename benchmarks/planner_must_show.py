"""The planner's must-shows, read from `greenhop sweep` directories (one per scenario).

docs/planner.md (*20-seed results*, *Seeds 21-40*) states `horizon-planner`'s comparisons
as paired differences over seeds; this prints that table from the sweeps' `summary.json`,
with a verdict per cell, so a user can check it on seeds of their own:

    greenhop sweep caiso-curtailment --seeds 21-40 --out sweeps/caiso-curtailment \
        -p static,energy-greedy,feasibility-aware,cost-aware-greedy,network-aware,horizon-planner
    .venv/bin/python benchmarks/planner_must_show.py sweeps/default sweeps/caiso-curtailment

Each cell is the planner minus the other policy, paired by seed: mean [95% bootstrap
interval] (the sweep's own statistics), and a verdict: `met` (the interval's upper end
<= 0; below 0 where the must-show says "below"), `tie` (the interval holds 0, or "below"
is asked and it ends at 0), `not met` (the interval's lower end > 0). Energy is compared
with every other published policy of the sweep that did at least as much work as the
planner (mean GPU-h over the seeds). Deadline misses are compared as means (the sweep does
not pair them); the space-time gap closed is the planner's mean over the seeds that have
one, against 80%. A sweep without a policy a row needs leaves that cell `–`. A sweep run
with `--set KEY=V` (one value per key: a setting tried) is read as that setting, named in
its column's head; a sweep over a grid of several points is refused (sweep each setting
apart). A cell over one seed (one value: a one-seed sweep, or one seed with a gap closed)
has no interval: it shows the mean with `no interval, n=1`, and a paired cell's verdict is
then `–`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from greenhop.sim.sweep_report import seed_text

PLANNER = "horizon-planner"
PUBLISHED = ("feasibility-aware", "cost-aware-greedy", "network-aware", "wait-awhile",
             "carbonscaler", "curtail-threshold")
"""Policies the energy row compares with, when they did at least the planner's work."""
GAP_TARGET = 80.0


def verdict(d: dict, strict: bool = False) -> str:
    """``met`` / ``tie`` / ``not met`` for "planner minus other <= 0" (``strict``: < 0)."""
    lo, hi = d.get("ci_lo"), d.get("ci_hi")
    if lo is None or hi is None:
        return "–"
    if hi < 0 or (hi <= 0 and not strict):
        return "met"
    return "not met" if lo > 0 else "tie"


def paired(point: dict, metric: str, other: str) -> dict | None:
    """The sweep's paired difference ``planner - other`` on ``metric``, or ``None``."""
    for d in point["paired"]:
        if d["a"] == PLANNER and d["b"] == other and d["metric"] == metric:
            return d
    return None


def num(x: float) -> str:
    """A signed number with as many decimals as its size needs (kWh: none; CV: three)."""
    size = abs(x)
    digits = 0 if size >= 100 else 1 if size >= 10 else 2 if size >= 0.1 else 3
    return f"{x:+,.{digits}f}"


def fmt(d: dict | None, strict: bool = False) -> str:
    if d is None or d.get("mean") is None:
        return "–"
    ci = (f" (no interval, n={d.get('n')})" if d.get("ci_lo") is None or d.get("ci_hi") is None
          else f" [{num(d['ci_lo'])}, {num(d['ci_hi'])}]")
    return f"{num(d['mean'])}{ci}: {verdict(d, strict)}"


def gap_cell(gap: dict) -> str:
    """The planner's mean gap closed [%] over the seeds that have one, against the target;
    over one seed, the mean without an interval."""
    if gap.get("mean") is None:
        return "–"
    spread = (f"% (no interval, n={gap['n']})" if gap.get("half_width") is None
              else f" ± {gap['half_width']:.0f}% ({gap['n']} seeds)")
    return f"{gap['mean']:.0f}{spread}: {'met' if gap['mean'] >= GAP_TARGET else 'not met'}"


def mean_of(point: dict, policy: str, metric: str) -> float | None:
    stat = point["metrics"].get(policy, {}).get(metric)
    return None if not stat else stat.get("mean")


def rows(summary: dict) -> dict[str, str]:
    """The must-show rows of one scenario's sweep, by row name."""
    point = summary["points"][0]
    have = set(summary["policies"])
    if PLANNER not in have:
        raise SystemExit(f"{summary['scenario']}: the sweep has no {PLANNER}")
    out: dict[str, str] = {}

    def vs(metric: str, other: str, strict: bool = False) -> str:
        return fmt(paired(point, metric, other), strict) if other in have else "–"

    out["job grid energy <= energy-greedy's"] = vs("job_nr_kwh", "energy-greedy")
    work = mean_of(point, PLANNER, "work_done_gpu_h") or 0.0
    cells = []
    for other in PUBLISHED:
        if other in have and (mean_of(point, other, "work_done_gpu_h") or 0.0) >= work:
            cells.append(f"{other} {vs('job_nr_kwh', other)}")
    out["<= each published policy's that does as much work"] = "; ".join(cells) or "–"
    out["slowdown p90 below energy-greedy's"] = vs("slowdown_p90", "energy-greedy", True)
    out["stability CV below energy-greedy's"] = vs("stability_cv", "energy-greedy", True)
    out["window-closed moves <= feasibility-aware's"] = vs("window_closed_before_payback",
                                                           "feasibility-aware")
    out["net-green-loss moves <= feasibility-aware's"] = vs("net_green_loss_migrations",
                                                            "feasibility-aware")
    a, b = mean_of(point, PLANNER, "deadline_misses"), mean_of(point, "static",
                                                               "deadline_misses")
    out["deadline misses <= static's (means)"] = (
        "–" if a is None or b is None else
        f"{a:.2f} vs {b:.2f}: {'met' if a <= b else 'not met'}")
    out["unfinished jobs <= static's"] = vs("unfinished_jobs", "static")
    gap = point.get("gap_closed", {}).get(PLANNER, {}).get("gap_closed_spacetime_pct") or {}
    out[f"gap closed, space-time >= {GAP_TARGET:.0f}%"] = gap_cell(gap)
    return out


def setting(summary: dict) -> str:
    """``, KEY=V, ...`` for a sweep run with ``--set`` (one value per key): the sweep's own
    label of its one grid point; ``""`` without ``--set``."""
    label = summary["points"][0].get("label") if summary.get("grid") else ""
    return f", {label}" if label else ""


def table(summaries: list[dict]) -> str:
    """A Markdown table: one row per must-show, one column per scenario."""
    by = [rows(s) for s in summaries]
    head = "| must-show | " + " | ".join(
        f"{s['scenario']} (seeds {seed_text(s['seeds'])}{setting(s)})" for s in summaries) + " |"
    lines = [head, "|---" * (len(summaries) + 1) + "|"]
    for name in by[0]:
        lines.append(f"| {name} | " + " | ".join(r[name] for r in by) + " |")
    return "\n".join(lines)


def load(path: Path) -> dict:
    f = path / "summary.json"
    if not f.is_file():
        raise SystemExit(f"{f} does not exist; give finished `greenhop sweep` directories")
    try:
        summary = json.loads(f.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SystemExit(f"{f}: not a `greenhop sweep` summary ({exc})") from None
    if not isinstance(summary, dict) or not summary.get("points"):
        raise SystemExit(f"{f}: not a `greenhop sweep` summary (no grid points)")
    # one point (each --set key given one value: a setting tried) is read as that setting
    points = len(summary["points"])
    if points > 1:
        raise SystemExit(f"{path}: a sweep over a grid of {points} points; "
                         "give one sweep per setting (one value per --set key)")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweeps", nargs="+", type=Path, help="sweep directories, one per scenario")
    args = ap.parse_args(argv)
    print(table([load(p) for p in args.sweeps]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
