"""A self-contained HTML report of a sweep: opens offline, no scripts, no external URLs.

Like the simulation report (:mod:`greenhop.sim.report`), figures are drawn with
matplotlib's object API and embedded as base64 PNG, styles are inline CSS. Per headline
metric: the mean and 95% interval per policy with every seed's value beside it (with
the grid on the x axis when there is one); tables of the means, of the paired
differences, and of the gap closed to the offline bounds.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1200px;color:#1d2630;background:#fff;line-height:1.45}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;
border-bottom:2px solid #2e7d32;padding-bottom:.2rem}h3{font-size:1.02rem}
.sub{color:#5a6570;margin-top:0}.wide{overflow-x:auto}
table{border-collapse:collapse;font-size:.8rem;margin:.8rem 0}
th,td{border:1px solid #d5dbe0;padding:.3rem .45rem;text-align:right}
th{background:#eef3ee}td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto;border:1px solid #e3e7ea;margin:.4rem 0}
.note{color:#5a6570;font-size:.88rem}
"""
_COLORS = ["#607d8b", "#ef6c00", "#2e7d32", "#1565c0", "#8e24aa", "#6d4c41", "#c62828",
           "#00838f"]


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _pm(d: dict | None, digits: int = 3) -> str:
    if not d or d.get("mean") is None:
        return "–"
    if d.get("half_width") is None:
        return f"{d['mean']:.{digits}g}"
    return f"{d['mean']:.{digits}g} ± {d['half_width']:.2g}"


def _metric_figure(spec, df: pd.DataFrame, summary: dict, metric: str) -> str:
    """Mean and 95% interval per policy (x: policies, or the grid points), seeds as dots."""
    from matplotlib.figure import Figure

    n_points = len(spec.points)
    rng = np.random.default_rng(0)  # fixed jitter: the report is reproducible
    fig = Figure(figsize=(7.5 if n_points > 1 else 6, 3.6))
    ax = fig.subplots()
    pols = list(spec.policies)
    if n_points == 1:
        for i, pol in enumerate(pols):
            c = _COLORS[i % len(_COLORS)]
            vals = df[(df["policy"] == pol)][metric].dropna().to_numpy(float) \
                if metric in df else np.array([])
            ax.scatter(i + rng.uniform(-0.18, 0.18, vals.size), vals, s=12, alpha=0.4, color=c,
                       lw=0)
            d = summary["points"][0]["metrics"].get(pol, {}).get(metric)
            if d and d["mean"] is not None:
                lo = d["ci_lo"] if d["ci_lo"] is not None else d["mean"]
                hi = d["ci_hi"] if d["ci_hi"] is not None else d["mean"]
                ax.errorbar([i + 0.3], [d["mean"]], yerr=[[d["mean"] - lo], [hi - d["mean"]]],
                            fmt="o", color=c, capsize=4, ms=5)
        ax.set_xticks(range(len(pols)), pols, rotation=25, ha="right", fontsize=8)
    else:
        x = np.arange(n_points)
        width = 0.6 / max(len(pols), 1)
        for i, pol in enumerate(pols):
            c = _COLORS[i % len(_COLORS)]
            off = (i - (len(pols) - 1) / 2) * width
            means, lo, hi = [], [], []
            for p in range(n_points):
                d = summary["points"][p]["metrics"].get(pol, {}).get(metric) or {}
                m = d.get("mean")
                means.append(np.nan if m is None else m)
                lo.append(np.nan if d.get("ci_lo") is None else m - d["ci_lo"])
                hi.append(np.nan if d.get("ci_hi") is None else d["ci_hi"] - m)
                vals = df[(df["_point"] == p) & (df["policy"] == pol)][metric].dropna() \
                    .to_numpy(float) if metric in df else np.array([])
                ax.scatter(p + off + rng.uniform(-width / 4, width / 4, vals.size), vals, s=9,
                           alpha=0.35, color=c, lw=0)
            ax.errorbar(x + off, means, yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], fmt="o-",
                        color=c, capsize=3, ms=4, lw=1, label=pol)
        if len(spec.grid) == 1:  # one dimension: its values on the axis, its key below
            ax.set_xticks(x, list(spec.grid_texts[0]), fontsize=8)
            ax.set_xlabel(spec.grid[0][0], fontsize=9)
        else:
            ax.set_xticks(x, [spec.point_label(p) for p in range(n_points)], rotation=20,
                          ha="right", fontsize=8)
            ax.set_xlabel(f"grid point ({', '.join(k for k, _ in spec.grid)})", fontsize=9)
        ax.legend(fontsize=7, ncol=min(len(pols), 4))
    ax.set_title(f"{metric}: mean and 95% interval over {len(spec.seeds)} seeds "
                 "(dots: one seed each)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _means_table(spec, summary: dict, p: int) -> str:
    head = "".join(f"<th>{html.escape(m)}</th>" for m in summary["headline"])
    rows = []
    for pol in spec.policies:
        ms = summary["points"][p]["metrics"].get(pol, {})
        cells = "".join(f"<td>{_pm(ms.get(m))}</td>" for m in summary["headline"])
        rows.append(f"<tr><td>{html.escape(pol)}</td>{cells}</tr>")
    return f"<div class='wide'><table><tr><th>policy</th>{head}</tr>{''.join(rows)}</table></div>"


def _paired_table(spec, summary: dict, p: int) -> str:
    order = {pol: i for i, pol in enumerate(spec.policies)}
    rows = []
    for e in summary["points"][p]["paired"]:
        if order[e["a"]] <= order[e["b"]] and e["b"] != "static":
            continue  # each pair once: later policy minus earlier one, or X - static
        share = "–" if e["share_a_lt_b_pct"] is None else f"{e['share_a_lt_b_pct']:.0f}%"
        ci = ("–" if e["ci_lo"] is None
              else f"[{e['ci_lo']:.4g}, {e['ci_hi']:.4g}]")
        mean = "–" if e["mean"] is None else f"{e['mean']:+.4g}"
        rows.append(f"<tr><td>{html.escape(e['a'])} − {html.escape(e['b'])}</td>"
                    f"<td>{html.escape(e['metric'])}</td><td>{mean}</td><td>{ci}</td>"
                    f"<td>{share}</td><td>{e['n']}</td></tr>")
    if not rows:
        return "<p class='note'>One policy: no paired differences.</p>"
    return ("<div class='wide'><table><tr><th>A − B</th><th>metric</th><th>mean</th>"
            "<th>95% interval</th><th>seeds with A &lt; B</th><th>seeds</th></tr>"
            + "".join(rows) + "</table></div>")


def _gap_table(spec, summary: dict, p: int) -> str:
    gaps = summary["points"][p].get("gap_closed")
    if not gaps:
        return ""
    kinds = sorted({k for g in gaps.values() for k in g})
    head = "".join(f"<th>{html.escape(k)}</th>" for k in kinds)
    rows = []
    for pol in spec.policies:
        g = gaps.get(pol, {})
        cells = []
        for k in kinds:
            d = g.get(k)
            txt = _pm(d)
            if d and d["n"] < len(spec.seeds):
                reasons = sorted({e["reason"] for e in d["per_seed"] if e["reason"]})
                txt += f" ({d['n']}/{len(spec.seeds)} seeds; " + html.escape(
                    "; ".join(reasons)[:160]) + ")"
            cells.append(f"<td>{txt}</td>")
        rows.append(f"<tr><td>{html.escape(pol)}</td>{''.join(cells)}</tr>")
    return (f"<h3>Gap closed to the offline bounds [%]</h3><div class='wide'><table><tr>"
            f"<th>policy</th>{head}</tr>{''.join(rows)}</table></div>"
            "<p class='note'>100 x (static − policy) / (static − bound) on job non-renewable "
            "energy, per seed, only where the policy did at least the bound's work.</p>")


def render_sweep_report(spec, df: pd.DataFrame, summary: dict) -> str:
    """The sweep report as HTML text (``df``: the tidy cells with ``_point``)."""
    st = summary["statistics"]
    grid = "; ".join(f"{k} = {', '.join(t)}" for (k, _), t in zip(spec.grid, spec.grid_texts,
                                                                   strict=True)) or "none"
    seeds = spec.seeds
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>greenhop sweep — {html.escape(spec.scenario_name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>greenhop sweep — {html.escape(spec.scenario_name)}</h1>",
        f'<p class="sub">{len(spec.policies)} policies x {len(seeds)} seeds '
        f"({seeds[0]}–{seeds[-1]}) x {len(spec.points)} grid point(s); grid: "
        f"{html.escape(grid)}; {summary['cells']} cells.</p>",
        f'<p class="note">Intervals: {st["level"] * 100:g}% {html.escape(st["interval"])} '
        f"({st['resamples']} resamples, RNG seed {st['rng_seed']}). Paired differences are "
        "per seed (A − B on the same seed), then averaged. Definitions: docs/sweep.md.</p>",
        "<h2>Headline metrics</h2>",
    ]
    for m in summary["headline"]:
        parts.append(_metric_figure(spec, df, summary, m))
    for p in range(len(spec.points)):
        title = f" — {html.escape(spec.point_label(p))}" if spec.grid else ""
        parts += [f"<h2>Means ± half-width of the 95% interval{title}</h2>",
                  _means_table(spec, summary, p),
                  f"<h3>Paired differences{title}</h3>", _paired_table(spec, summary, p),
                  _gap_table(spec, summary, p)]
    parts.append("</body></html>")
    return "\n".join(parts)
