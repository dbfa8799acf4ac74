"""The energy-slowdown frontier of a sweep: the settings no other setting beats on both.

Each (policy, grid point) of a sweep is one point in the plane of its mean job grid
energy [kWh] (``job_nr_kwh``, else ``non_renewable_kwh``) and its mean slowdown p90 [-]
(``slowdown_p90``, else ``jct_p95_h`` [h]); both are better lower. A point is **on the
frontier** when no other point's means are at most its own on both axes and lower on one
(Pareto optimal on the means). Every other point is dominated by at least one point on
the frontier, and its entry names them: tuning a policy along ``lam`` or a slowdown
budget moves it along the frontier, and a setting off it is worse than another on both.

The frontier is a statement about means over the sweep's seeds. Where two points'
intervals overlap, the order may not hold on other seeds; the paired differences of
``summary.json`` say whether it does.
"""

from __future__ import annotations

from collections.abc import Sequence

#: the energy axis [kWh], with the fallback used when a sweep's cells lack the first
#: (the sweep summary's headline uses the same chain)
ENERGY = ("job_nr_kwh", "non_renewable_kwh")
#: the slowdown axis, with its fallback (the JCT p95 [h]) likewise
SLOWDOWN = ("slowdown_p90", "jct_p95_h")
AXES = (ENERGY, SLOWDOWN)


POINTS_SEP = " | "
"""Between the grid points an entry stands for (a point's own label joins its keys with
", ")."""
ENTRIES_SEP = "; "
"""Between entries named in one cell (the settings that beat another)."""

SAME_EVERYWHERE = "same at every grid point"
"""Label of a policy's one entry when its energy and slowdown statistics are the same at
every grid point (a grid key it does not read, or one that moves only its other metrics)."""


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is at most ``b`` on both axes and lower on one (both minimised)."""
    return a[0] <= b[0] and a[1] <= b[1] and (a[0] < b[0] or a[1] < b[1])


def pareto_front(xy: Sequence[Sequence[float]]) -> list[bool]:
    """For each point, whether no other point dominates it (equal points are both on it)."""
    return [not any(dominates(o, p) for o in xy) for p in xy]


def frontier(summary: dict) -> dict | None:
    """The frontier of a sweep's ``summary`` (as :func:`~greenhop.sim.sweep_summary.
    summarize` builds it): ``{"x": metric, "y": metric, "entries": [...]}``, one entry per
    policy and grid point with both means: ``{policy, point, points, label, x, y,
    on_front, dominated_by}`` (``x`` and ``y`` the metric's ``{n, mean, ci_lo, ci_hi,
    half_width}``; ``dominated_by``: the ``{policy, point}`` on the frontier that beat it).
    A policy with the same energy and slowdown statistics at several grid points (a grid
    key it does not read, or one that moves only its other metrics) has one entry for them
    all: ``points`` lists them, ``point`` is the first.
    ``None`` when the sweep has no value on one of the axes."""
    points = summary["points"]
    # the summary's headline already holds the first metric of each chain the sweep has
    x_key, y_key = (next((m for m in chain if m in summary["headline"]), None)
                    for chain in AXES)
    if x_key is None or y_key is None:
        return None
    entries = []
    for e in points:
        for pol in summary["policies"]:
            m = e["metrics"].get(pol, {})
            x, y = m.get(x_key) or {}, m.get(y_key) or {}
            if x.get("mean") is None or y.get("mean") is None:
                continue
            same = next((en for en in entries if en["policy"] == pol
                         and (en["x"], en["y"]) == (x, y)), None)
            if same is not None:  # the grid does not touch this policy: one entry
                same["points"].append(e["point"])
                same["label"] = SAME_EVERYWHERE if len(same["points"]) == len(points) \
                    else POINTS_SEP.join(points[q]["label"] for q in same["points"])
                continue
            entries.append({"policy": pol, "point": e["point"], "points": [e["point"]],
                            "label": e["label"], "x": x, "y": y})
    xy = [(en["x"]["mean"], en["y"]["mean"]) for en in entries]
    front = pareto_front(xy)
    for i, en in enumerate(entries):
        en["on_front"] = front[i]
        en["dominated_by"] = [{"policy": entries[k]["policy"], "point": entries[k]["point"]}
                              for k in range(len(entries))
                              if front[k] and dominates(xy[k], xy[i])]
    return {"x": x_key, "y": y_key, "entries": entries}


def entry_name(entry: dict, grid: bool) -> str:
    """``policy`` or, on a grid, ``policy @ label``."""
    return f"{entry['policy']} @ {entry['label']}" if grid else entry["policy"]
