"""Comparisons of policies: bars of a few metrics side by side (simulation report),
means with intervals over seeds, every seed as a dot, and mean energy against mean
slowdown with the frontier (sweep report)."""

from __future__ import annotations

import math

import numpy as np

from greenhop.viz import style


def _ok(v) -> bool:
    return v is not None and isinstance(v, int | float) and math.isfinite(v)


def policy_bars(metrics: dict[str, dict], keys, *, withheld=None) -> tuple[dict | None, list]:
    """Bars of ``keys`` (``[(metric, label), ...]``) per policy, one panel per metric.

    ``withheld``: ``{(policy, metric): why}`` values not drawn (a ratio over a tiny
    denominator); the bar is left out and marked "n/a". Returns ``(figure, omitted)``:
    panels where every value is zero or undefined are left out (``omitted`` lists their
    labels) and the figure is ``None`` when none is left.
    """
    withheld = withheld or {}
    policies = list(metrics)
    styles = style.policy_styles(policies)
    shown, omitted = [], []
    for key, label in keys:
        vals = [metrics[p].get(key) for p in policies]
        if any(_ok(v) and v != 0 and (p, key) not in withheld
               for p, v in zip(policies, vals, strict=True)):
            shown.append((key, label))
        else:
            omitted.append(label)
    if not shown:
        return None, omitted
    n = len(shown)
    data, annotations = [], []
    layout = style.base_layout("", height=360, showlegend=False, bargap=0.25)
    layout["margin"] = {"l": 50, "r": 20, "t": 40, "b": 110}
    for i, (key, label) in enumerate(shown):
        ax = "" if i == 0 else str(i + 1)
        lo, hi = i / n + 0.012, (i + 1) / n - 0.035
        layout[f"xaxis{ax}"] = {"domain": [lo, hi], "anchor": f"y{ax}", "tickangle": -35,
                                "tickfont": {"size": 10}, "type": "category"}
        layout[f"yaxis{ax}"] = {"anchor": f"x{ax}", "gridcolor": "#eceff1", "zeroline": True}
        annotations.append({"text": f"<b>{label}</b>", "xref": "paper", "yref": "paper",
                            "x": (lo + hi) / 2, "y": 1.02, "showarrow": False,
                            "xanchor": "center", "yanchor": "bottom", "font": {"size": 11}})
        y, text = [], []
        for p in policies:
            v = metrics[p].get(key)
            if (p, key) in withheld:
                y.append(0.0)
                text.append("n/a")
            else:
                y.append(float(v) if _ok(v) else 0.0)
                text.append("" if _ok(v) else "–")
        data.append({"type": "bar", "x": policies, "y": y, "text": text,
                     "textposition": "outside", "xaxis": f"x{ax}", "yaxis": f"y{ax}",
                     "marker": {"color": [styles[p]["color"] for p in policies]},
                     # 6 significant digits, trailing zeros dropped: 667 moves, not 667.000
                     "hovertemplate": f"%{{x}}<br>{label}: %{{y:,.6~g}}<extra></extra>"})
    layout["annotations"] = annotations
    return {"data": data, "layout": layout}, omitted


def interval_figure(policies, *, x_labels=None, x_title: str = "", means, seeds,
                    title: str, y_title: str = "") -> dict:
    """Mean and interval per policy (x: the policies, or ``x_labels`` points), every
    seed's value as a dot beside it; one marker and colour per policy.

    Args:
        means: ``{policy: [(mean, lo, hi) or None per point]}``.
        seeds: ``{policy: [[value per seed] per point]}``.
    """
    policies = list(policies)
    styles = style.policy_styles(policies)
    n_points = 1 if not x_labels else len(x_labels)
    rng = np.random.default_rng(0)  # fixed jitter: the report is reproducible
    width = 0.6 / max(len(policies), 1)
    data = []
    for i, pol in enumerate(policies):
        st = styles[pol]
        if n_points == 1 and not x_labels:
            centre, off = np.array([float(i)]), 0.0
        else:
            centre, off = np.arange(n_points, dtype=float), (i - (len(policies) - 1) / 2) * width
        xs, ys = [], []
        for p in range(n_points):
            vals = [v for v in (seeds.get(pol, [[]] * n_points)[p] or []) if _ok(v)]
            spread = 0.18 if not x_labels else width / 4
            xs += list(centre[p] + off - 0.12 + rng.uniform(-spread / 2, spread / 2, len(vals)))
            ys += vals
        data.append({"type": "scatter", "mode": "markers", "name": f"{pol} (seeds)",
                     "legendgroup": pol, "showlegend": False, "x": xs, "y": ys,
                     "marker": {"symbol": st["symbol"], "color": st["color"], "size": 5,
                                "opacity": 0.35},
                     "hovertemplate": f"{pol}: %{{y:.4g}}<extra>one seed</extra>"})
        m = [means.get(pol, [None] * n_points)[p] for p in range(n_points)]
        mx = [centre[p] + off + 0.1 for p in range(n_points)]
        my = [t[0] if t and _ok(t[0]) else None for t in m]
        plus = [t[2] - t[0] if t and _ok(t[0]) and _ok(t[2]) else 0.0 for t in m]
        minus = [t[0] - t[1] if t and _ok(t[0]) and _ok(t[1]) else 0.0 for t in m]
        data.append({"type": "scatter", "mode": "markers+lines" if x_labels else "markers",
                     "name": pol, "legendgroup": pol, "x": mx, "y": my,
                     "error_y": {"type": "data", "symmetric": False, "array": plus,
                                 "arrayminus": minus, "color": st["color"], "width": 4},
                     "marker": {"symbol": st["symbol"], "color": st["color"], "size": 10},
                     "line": {"color": st["color"], "width": 1},
                     "hovertemplate": f"{pol}: mean %{{y:.4g}}<extra></extra>"})
    if x_labels:
        ticks, text = list(range(n_points)), list(x_labels)
    else:
        ticks, text = list(range(len(policies))), policies
    layout = style.base_layout(title, height=400,
                               xaxis={"tickvals": ticks, "ticktext": text,
                                      "title": {"text": x_title}, "zeroline": False},
                               yaxis={"title": {"text": y_title}, "gridcolor": "#eceff1"},
                               legend={"orientation": "v", "x": 1.02, "y": 1.0})
    return {"data": data, "layout": layout}


def frontier_figure(entries, policies, *, x_title: str, y_title: str, grid: bool,
                    title: str) -> dict:
    """Mean energy (x) against mean slowdown (y) of each policy and grid point, with the
    95% interval of each mean as error bars; the points on the frontier joined by a line.

    Args:
        entries: :func:`greenhop.sim.sweep_frontier.frontier`'s ``entries``.
        grid: whether the sweep has a grid (hover and labels then name the point).
    """
    styles = style.policy_styles(list(policies))

    def bars(d: dict, lo: bool) -> float:
        edge = d.get("ci_lo" if lo else "ci_hi")
        return abs(d["mean"] - edge) if _ok(edge) else 0.0

    data = []
    for pol in policies:
        own = [e for e in entries if e["policy"] == pol]
        if not own:
            continue
        st = styles[pol]
        data.append({
            "type": "scatter", "mode": "markers", "name": pol, "legendgroup": pol,
            "x": [e["x"]["mean"] for e in own], "y": [e["y"]["mean"] for e in own],
            "text": [e["label"] if grid else pol for e in own],
            "error_x": {"type": "data", "symmetric": False, "color": st["color"],
                        "array": [bars(e["x"], False) for e in own],
                        "arrayminus": [bars(e["x"], True) for e in own], "width": 3},
            "error_y": {"type": "data", "symmetric": False, "color": st["color"],
                        "array": [bars(e["y"], False) for e in own],
                        "arrayminus": [bars(e["y"], True) for e in own], "width": 3},
            "marker": {"symbol": st["symbol"], "color": st["color"], "size": 11,
                       "line": {"color": ["#1d2630" if e["on_front"] else st["color"]
                                          for e in own], "width": 2}},
            "hovertemplate": f"{pol}<br>%{{text}}<br>{x_title}: %{{x:,.4g}}<br>"
                             f"{y_title}: %{{y:.4g}}<extra></extra>"})
    front = sorted((e for e in entries if e["on_front"]), key=lambda e: e["x"]["mean"])
    data.append({"type": "scatter", "mode": "lines", "name": "frontier",
                 "x": [e["x"]["mean"] for e in front], "y": [e["y"]["mean"] for e in front],
                 "line": {"color": "#1d2630", "width": 1, "dash": "dot"},
                 "hoverinfo": "skip"})
    layout = style.base_layout(title, height=460,
                               xaxis={"title": {"text": x_title}, "gridcolor": "#eceff1"},
                               yaxis={"title": {"text": y_title}, "gridcolor": "#eceff1"},
                               legend={"orientation": "v", "x": 1.02, "y": 1.0})
    return {"data": data, "layout": layout}
