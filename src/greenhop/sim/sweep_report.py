"""A self-contained HTML report of a sweep: one file that opens offline.

Like the simulation report (:mod:`greenhop.sim.report`), the figures are interactive
Plotly figures from :mod:`greenhop.viz` with plotly.js inlined, styles are inline CSS.
Per headline metric: the mean and 95% interval per policy with every seed's value beside
it (with the grid on the x axis when there is one), one marker per policy; mean energy
against mean slowdown p90 of every policy and grid point, with the frontier
(:mod:`greenhop.sim.sweep_frontier`); tables of the means, of the paired differences
(between policies, and on a grid each point against the first), and of the gap closed to
the offline bounds.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from greenhop import viz
from greenhop.sim.report import metric_title
from greenhop.sim.sweep_frontier import ENTRIES_SEP, entry_name
from greenhop.viz.ratios import floor_for

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1200px;color:#1d2630;background:#fff;line-height:1.45}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;
border-bottom:2px solid #2e7d32;padding-bottom:.2rem}h3{font-size:1.02rem}
.sub{color:#5a6570;margin-top:0}.wide{overflow-x:auto}
table{border-collapse:collapse;font-size:.8rem;margin:.8rem 0}
th,td{border:1px solid #d5dbe0;padding:.3rem .45rem;text-align:right}
th{background:#eef3ee}td:first-child,th:first-child{text-align:left}
.figure{border:1px solid #e3e7ea;margin:.4rem 0}
.note{color:#5a6570;font-size:.88rem}
td.warn{background:#fff3e0;color:#e65100}
.warning{background:#fff3e0;border-left:4px solid #ef6c00;padding:.4rem .7rem;font-size:.9rem}
"""


def number(x: float, digits: int = 3, *, signed: bool = False) -> str:
    """``x`` for a table: ``digits`` significant digits (as ``g`` gives them: no trailing
    zeros), more where the number is ``10**digits`` or more (its whole part, never
    rounded away: 15,962 and 16,040 kWh stay apart), with thousands separators;
    scientific notation only outside [1e-3, 1e9). ``signed``: a ``+`` before a positive
    number (a difference). 1300.21 -> ``1,300``; 0.05234 -> ``0.0523``; 2.5 -> ``2.5``;
    0 -> ``0``."""
    sign = "+" if signed else ""
    size = abs(x)
    if size == 0:
        return "0"
    if not 1e-3 <= size < 1e9:  # also NaN and infinity, which the report may be given
        return f"{x:{sign}.{digits}g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(size)))
    text = f"{x:{sign},.{decimals}f}"
    return text.rstrip("0").rstrip(".") if decimals else text


def mean_pm(d: dict | None, *, signed: bool = False) -> str:
    """``mean ± half-width`` of a statistic ``{n, mean, half_width, ...}`` (summary.json),
    with :func:`number` (the half-width to 2 significant digits); the mean alone when
    there is no interval (one value), ``–`` without a mean. What the report and the
    screen (``greenhop sweep``) show alike."""
    if not d or d.get("mean") is None:
        return "–"
    mean = number(d["mean"], signed=signed)
    if d.get("half_width") is None:
        return mean
    return f"{mean} ± {number(d['half_width'], 2)}"


def seed_text(seeds: Iterable[int], most: int = 8) -> str:
    """The seeds as runs: ``1, 3, 5-7`` (sorted, each run of consecutive seeds as
    ``first-last``); past ``most`` runs, the first ones, ``…`` and the last one."""
    runs: list[list[int]] = []
    for s in sorted(set(seeds)):
        if runs and s == runs[-1][1] + 1:
            runs[-1][1] = s
        else:
            runs.append([s, s])
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in runs]
    if len(parts) > most:
        parts = [*parts[:most - 2], "…", parts[-1]]
    return ", ".join(parts)


def seeds_over(counts: Iterable[int], total: int) -> str:
    """``N seeds`` of a figure's title, ``k of N seeds`` (or ``k-m of N seeds``) when its
    values are fewer: a seed without a value (null) is left out of the statistics."""
    counts = list(counts)
    if not counts or min(counts) >= total:
        return f"{total} seeds"
    low, high = min(counts), max(counts)
    return f"{low} of {total} seeds" if low == high else f"{low}-{high} of {total} seeds"


def _metric_figure(spec, df: pd.DataFrame, summary: dict, metric: str, index: int) -> str:
    """Mean and 95% interval per policy (x: policies, or the grid points), seeds as dots."""
    n_points = spec.n_points
    means, seeds, counts = {}, {}, []
    for pol in spec.policies:
        means[pol], seeds[pol] = [], []
        for p in range(n_points):
            d = summary["points"][p]["metrics"].get(pol, {}).get(metric)
            if d and d.get("mean") is not None:
                counts.append(d["n"])
            means[pol].append(None if not d or d.get("mean") is None
                              else (d["mean"], d.get("ci_lo"), d.get("ci_hi")))
            rows = (df["policy"] == pol) & (df["_point"] == p if "_point" in df else True)
            vals = df[rows][metric].dropna().to_numpy(float) if metric in df else np.array([])
            seeds[pol].append(vals.tolist())
    x_labels, x_title = None, ""
    if n_points > 1:
        if len(spec.grid) == 1:  # one dimension: its values on the axis, its key below
            x_labels, x_title = list(spec.grid_texts[0]), spec.grid[0][0]
        else:
            x_labels = [spec.point_label(p) for p in range(n_points)]
            x_title = f"grid point ({', '.join(k for k, _ in spec.grid)})"
    fig = viz.interval_figure(
        spec.policies, x_labels=x_labels, x_title=x_title, means=means, seeds=seeds,
        title=f"{metric_title(metric)}: mean and 95% interval over "
              f"{seeds_over(counts, len(spec.seeds))} (faint markers: one seed each)",
        y_title=metric_title(metric))
    return viz.figure_block(fig, f"fig-metric-{index}")


def _means_table(spec, summary: dict, p: int) -> str:
    head = "".join(_metric_th(m) for m in summary["headline"])
    rows = []
    for pol in spec.policies:
        ms = summary["points"][p]["metrics"].get(pol, {})
        cells = "".join(f"<td>{mean_pm(ms.get(m))}</td>" for m in summary["headline"])
        rows.append(f"<tr><td>{html.escape(pol)}</td>{cells}</tr>")
    return f"<div class='wide'><table><tr><th>policy</th>{head}</tr>{''.join(rows)}</table></div>"


def _paired_table(spec, summary: dict, p: int) -> str:
    order = {pol: i for i, pol in enumerate(spec.policies)}
    rows = []
    for e in summary["points"][p]["paired"]:
        if order[e["a"]] <= order[e["b"]] and e["b"] != "static":
            continue  # each pair once: later policy minus earlier one, or X - static
        rows.append(f"<tr><td>{html.escape(e['a'])} − {html.escape(e['b'])}</td>"
                    f"{_metric_td(e['metric'])}{_difference_cells(e)}</tr>")
    if not rows:
        return "<p class='note'>One policy: no paired differences.</p>"
    return ("<div class='wide'><table><tr><th>A − B</th><th>metric</th><th>mean</th>"
            "<th>95% interval</th><th>seeds with A &lt; B</th><th>seeds</th></tr>"
            + "".join(rows) + "</table></div>")


def _metric_th(key: str) -> str:
    """A table head naming the metric ``key`` as the report's figures do, with the key
    summary.json and cells.csv use in its tooltip."""
    return f'<th title="{html.escape(key)}">{html.escape(metric_title(key))}</th>'


def _metric_td(key: str) -> str:
    """A table cell naming the metric ``key`` (see :func:`_metric_th`)."""
    return f'<td title="{html.escape(key)}">{html.escape(metric_title(key))}</td>'


def _difference_cells(e: dict) -> str:
    """A paired difference's cells: mean, 95% interval, share of seeds with A < B, seeds."""
    share = "–" if e["share_a_lt_b_pct"] is None else f"{e['share_a_lt_b_pct']:.0f}%"
    ci = "–" if e["ci_lo"] is None else (f"[{number(e['ci_lo'], signed=True)}, "
                                         f"{number(e['ci_hi'], signed=True)}]")
    mean = "–" if e["mean"] is None else number(e["mean"], signed=True)
    return f"<td>{mean}</td><td>{ci}</td><td>{share}</td><td>{e['n']}</td>"


def _vs_first_table(spec, summary: dict, p: int) -> str:
    """Grid point ``p`` minus the first point, per policy and headline metric."""
    rows = [f"<tr><td>{html.escape(e['policy'])}</td>{_metric_td(e['metric'])}"
            f"{_difference_cells(e)}</tr>" for e in summary["points"][p].get("vs_first", [])]
    if not rows:
        return ""
    title = f"{spec.point_label(p)} − {spec.point_label(0)}"
    return (f"<h3>Against the first grid point: {html.escape(title)}</h3>"
            "<div class='wide'><table><tr><th>policy</th><th>metric</th><th>mean</th>"
            "<th>95% interval</th><th>seeds lower</th><th>seeds</th></tr>"
            + "".join(rows) + "</table></div>")


def _gap_denominators(summary: dict, p: int) -> dict[str, tuple[float, float]]:
    """Per gap column, ``(static - bound, floor)`` [kWh] from the means over seeds; a gap
    below its floor makes the share of it noise (:mod:`greenhop.viz.ratios`)."""
    point = summary["points"][p]
    static = ((point["metrics"].get("static") or {}).get("job_nr_kwh") or {}).get("mean")
    out = {}
    for kind, b in (point.get("bounds") or {}).items():
        bound = (b.get("job_nr_kwh") or {}).get("mean")
        if static is not None and bound is not None:
            out[f"gap_closed_{kind}_pct"] = (static - bound, floor_for(static))
    return out


def _gap_table(spec, summary: dict, p: int) -> str:
    gaps = summary["points"][p].get("gap_closed")
    if not gaps:
        return ""
    kinds = sorted({k for g in gaps.values() for k in g})
    denominators = _gap_denominators(summary, p)
    head = "".join(_metric_th(k) for k in kinds)
    rows, warned = [], []
    for pol in spec.policies:
        g = gaps.get(pol, {})
        cells = []
        for k in kinds:
            d = g.get(k)
            gap, floor = denominators.get(k, (None, 0.0))
            guard = viz.guarded_pct(None if not d else d.get("mean"), gap, floor=floor)
            if guard.warn:
                cells.append(f'<td class="warn" title="{html.escape(guard.why)}">'
                             f"{html.escape(guard.text)}</td>")
                if k not in warned:
                    warned.append(k)
                continue
            txt = mean_pm(d)
            if d and d["n"] < len(spec.seeds):
                reasons = sorted({e["reason"] for e in d["per_seed"] if e["reason"]})
                txt += f" ({d['n']}/{len(spec.seeds)} seeds; " + html.escape(
                    "; ".join(reasons)[:160]) + ")"
            cells.append(f"<td>{txt}</td>")
        rows.append(f"<tr><td>{html.escape(pol)}</td>{''.join(cells)}</tr>")
    warning = "".join(
        f'<p class="warning">&#9888; {html.escape(metric_title(k))} not shown: the mean gap '
        f"between static and the bound, {denominators[k][0]:,.1f} kWh, is below "
        f"{denominators[k][1]:,.1f} kWh (5% of static's): the share of it is noise.</p>"
        for k in warned)
    return (f"<h3>Gap closed to the offline bounds [%]</h3>{warning}<div class='wide'><table>"
            f"<tr><th>policy</th>{head}</tr>{''.join(rows)}</table></div>"
            "<p class='note'>100 x (static − policy) / (static − bound) on job non-renewable "
            "energy, per seed, only where the policy did at least the bound's work.</p>")


def _frontier_part(spec, summary: dict) -> list[str]:
    """The energy-slowdown figure and the table of the settings on the frontier."""
    front = summary.get("frontier")
    if not front or len(front["entries"]) < 2:
        return []
    x_key, y_key = front["x"], front["y"]
    grid = bool(spec.grid)
    counts = [e[axis]["n"] for e in front["entries"] for axis in ("x", "y")]
    fig = viz.frontier_figure(
        front["entries"], spec.policies, x_title=metric_title(x_key),
        y_title=metric_title(y_key), grid=grid,
        title=f"{metric_title(x_key)} against {metric_title(y_key)}: means with 95% intervals over "
              f"{seeds_over(counts, len(spec.seeds))} (outlined: on the frontier)")
    names = {(e["policy"], e["point"]): entry_name(e, grid) for e in front["entries"]}
    rows = []
    for e in sorted(front["entries"], key=lambda e: (not e["on_front"], e["x"]["mean"])):
        beaten = ENTRIES_SEP.join(names[(d["policy"], d["point"])] for d in e["dominated_by"])
        rows.append(f"<tr><td>{html.escape(names[(e['policy'], e['point'])])}</td>"
                    f"<td>{mean_pm(e['x'])}</td><td>{mean_pm(e['y'])}</td>"
                    f"<td>{'yes' if e['on_front'] else 'no'}</td>"
                    f"<td>{html.escape(beaten) or '–'}</td></tr>")
    return [
        "<h2>Energy against slowdown</h2>",
        '<p class="note">A setting is on the frontier when no other has a mean at most its '
        "own on both and lower on one; every other setting is beaten on both by a setting "
        "on the frontier. Means over the seeds: where intervals overlap, the paired "
        "differences below say whether the order holds seed by seed.</p>",
        viz.figure_block(fig, "fig-frontier"),
        f'<div class="wide"><table><tr><th>policy</th>{_metric_th(x_key)}'
        f"{_metric_th(y_key)}<th>on the frontier</th><th>beaten on both by</th>"
        f"</tr>{''.join(rows)}</table></div>"]


FEW_SEEDS = 10
"""Fewer seeds than this get a note (on screen and in the report): their intervals say
little."""


def few_seeds_note(n_seeds: int) -> str | None:
    """The note for a sweep of ``n_seeds`` (2 .. :data:`FEW_SEEDS` - 1), else ``None``."""
    if not 1 < n_seeds < FEW_SEEDS:
        return None
    return (f"{n_seeds} seeds give wide 95% intervals, close to the range of the seeds' "
            "values and often lopsided about the mean (± is their half-width; summary.json "
            f"has both ends); state a claim over {FEW_SEEDS} seeds or more")


def render_sweep_report(spec, df: pd.DataFrame, summary: dict) -> str:
    """The sweep report as HTML text (``df``: the tidy cells with ``_point``)."""
    st = summary["statistics"]
    grid = "; ".join(f"{k} = {', '.join(t)}" for (k, _), t in zip(spec.grid, spec.grid_texts,
                                                                   strict=True)) or "none"
    seeds = spec.seeds
    parts = [
        f"<h1>greenhop sweep — {html.escape(spec.scenario_name)}</h1>",
        f'<p class="sub">{len(spec.policies)} policies x {len(seeds)} seeds '
        f"({seed_text(seeds)}) x {spec.n_points} grid point(s); grid: "
        f"{html.escape(grid)}; {summary['cells']} cells.</p>",
        f'<p class="note">Intervals: {st["level"] * 100:g}% {html.escape(st["interval"])} '
        f"({st['resamples']} resamples, RNG seed {st['rng_seed']}). Paired differences are "
        "per seed (A − B on the same seed), then averaged. Definitions: docs/sweep.md.</p>",
    ]
    if few := few_seeds_note(len(seeds)):  # as on screen: the report is what is shared
        parts.append(f'<p class="warning">&#9888; {html.escape(few)}.</p>')
    parts += [
        "<h2>Headline metrics</h2>",
    ]
    for i, m in enumerate(summary["headline"]):
        parts.append(_metric_figure(spec, df, summary, m, i))
    parts += _frontier_part(spec, summary)
    for p in range(spec.n_points):
        title = f" — {html.escape(spec.point_label(p))}" if spec.grid else ""
        parts += [f"<h2>Means ± half-width of the 95% interval{title}</h2>",
                  _means_table(spec, summary, p),
                  f"<h3>Paired differences{title}</h3>", _paired_table(spec, summary, p),
                  _vs_first_table(spec, summary, p), _gap_table(spec, summary, p)]
    return viz.render_page(f"greenhop sweep — {spec.scenario_name}", _CSS, parts)
