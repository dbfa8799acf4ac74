"""Per-site timelines: surplus (renewable minus base load) and grid import on the left
axis, the jobs' load on its own right axis, one row per site, one shared, zoomable time
axis."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from greenhop.viz import style


def date_text(unix_s: float) -> str:
    """``unix_s`` [s] as the UTC date string Plotly reads on a date axis."""
    return datetime.fromtimestamp(float(unix_s), UTC).strftime("%Y-%m-%d %H:%M:%S")


def _kw(values_w) -> list:
    a = np.asarray(values_w, dtype=float) / 1e3
    return np.where(np.isfinite(a), np.round(a, 3), np.nan).tolist()


def _x(steps: np.ndarray, start_unix_s: float, step_s: float) -> dict:
    """The x of a trace: ``x0``/``dx`` when the steps are contiguous (no array), else dates."""
    if steps.size and np.all(np.diff(steps) == 1):
        return {"x0": date_text(start_unix_s + steps[0] * step_s), "dx": step_s * 1e3}
    return {"x": [date_text(start_unix_s + s * step_s) for s in steps]}


def site_timelines(sites, *, start_unix_s: float, step_s: float, surplus_w, job_load_w,
                   grid_w=None, steps=None, max_sites: int = 12,
                   title: str = "surplus, grid import and job load") -> dict:
    """The timelines of ``sites`` (names) as a Plotly figure.

    Args:
        start_unix_s: time of step 0 [s since the epoch, UTC].
        step_s: step length [s].
        surplus_w, job_load_w, grid_w: per step and site [W], shape (steps, sites);
            ``grid_w`` may be ``None`` (not booked).
        steps: the step index of each row (default ``0..n-1``).
        max_sites: rows drawn at most (the first sites); the title says when cut.
    """
    surplus = np.atleast_2d(np.asarray(surplus_w, dtype=float))
    load = np.atleast_2d(np.asarray(job_load_w, dtype=float))
    grid = None if grid_w is None else np.atleast_2d(np.asarray(grid_w, dtype=float))
    steps = np.arange(surplus.shape[0]) if steps is None else np.asarray(steps, dtype=int)
    names = list(sites)[:max_sites]
    n = max(len(names), 1)
    xs = _x(steps, start_unix_s, step_s)
    gap = 0.35 / n if n > 1 else 0.0
    data: list[dict] = []
    layout = style.base_layout(
        title + ("" if len(sites) <= max_sites else f" (first {max_sites} of {len(sites)} sites)"),
        height=110 + 190 * n, hovermode="x unified", uirevision="timeline",
        xaxis={"type": "date", "anchor": f"y{2 * n - 1 if n > 1 else ''}",
               "title": {"text": "time [UTC]"}, "showgrid": True, "gridcolor": "#eceff1"},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1.0,
                "xanchor": "right"})
    for i, name in enumerate(names):
        left, right = 2 * i + 1, 2 * i + 2
        ya, yb = ("y" if left == 1 else f"y{left}"), f"y{right}"
        top = 1.0 - i / n
        layout[f"yaxis{'' if left == 1 else left}"] = {
            "domain": [max(0.0, top - 1.0 / n + gap), top], "title": {"text": f"{name}<br>[kW]"},
            "zeroline": True, "zerolinecolor": "#90a4ae", "gridcolor": "#eceff1",
            "fixedrange": False}
        layout[f"yaxis{right}"] = {
            "overlaying": ya, "side": "right", "rangemode": "tozero", "showgrid": False,
            "tickmode": "auto", "nticks": 4,  # its own ticks, not the left axis' (sync)
            "title": {"text": "job load [kW]", "font": {"color": style.JOB_LOAD}},
            "tickfont": {"color": style.JOB_LOAD}}
        first = i == 0
        s = surplus[:, i] if surplus.shape[1] > i else np.zeros(len(steps))
        data += [
            {"type": "scatter", "mode": "lines", "name": "surplus", "legendgroup": "surplus",
             "showlegend": first, "y": _kw(np.maximum(s, 0)), **xs, "yaxis": ya,
             "fill": "tozeroy", "line": {"width": 0}, "fillcolor": style.SURPLUS,
             "hovertemplate": f"{name} surplus %{{y:.2f}} kW<extra></extra>"},
            {"type": "scatter", "mode": "lines", "name": "deficit", "legendgroup": "deficit",
             "showlegend": first, "y": _kw(np.minimum(s, 0)), **xs, "yaxis": ya,
             "fill": "tozeroy", "line": {"width": 0}, "fillcolor": style.DEFICIT,
             "hoverinfo": "skip"},
        ]
        if grid is not None and grid.shape[1] > i:
            data.append({"type": "scatter", "mode": "lines", "name": "grid import",
                         "legendgroup": "grid", "showlegend": first, "y": _kw(grid[:, i]), **xs,
                         "yaxis": ya, "line": {"width": 1, "color": style.GRID},
                         "hovertemplate": f"{name} grid %{{y:.2f}} kW<extra></extra>"})
        if load.shape[1] > i:
            data.append({"type": "scatter", "mode": "lines", "name": "job load (right axis)",
                         "legendgroup": "load", "showlegend": first, "y": _kw(load[:, i]),
                         **xs, "yaxis": yb, "line": {"width": 1.4, "color": style.JOB_LOAD},
                         "hovertemplate": f"{name} job load %{{y:.2f}} kW<extra></extra>"})
    return {"data": data, "layout": layout}
