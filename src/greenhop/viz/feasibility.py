"""The feasibility map as an interactive figure: checkpoint size (x) against nominal WAN
bandwidth (y), one boundary per window from :func:`greenhop.model.plot.map_boundaries`
(the function and default windows and axes of ``greenhop feasibility-map``), the feasible
side shaded, and points (migrations made, or candidate moves) with one marker per series.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from greenhop.core import units
from greenhop.model import constants as C
from greenhop.model.plot import (
    DEFAULT_BANDWIDTH_RANGE_BPS,
    DEFAULT_SIZE_RANGE_BYTES,
    DEFAULT_WINDOWS_S,
    map_boundaries,
    rates_text,
)
from greenhop.model.presets import REFERENCE_MODELS
from greenhop.viz import style

_CURVE_COLORS = ("#00441b", "#238b45", "#41ab5d", "#2171b5", "#6baed6", "#78c679")


def _window_text(window_s: float) -> str:
    return f"{window_s / 3600:.3g} h" if window_s >= 3600 else units.format_duration(window_s)


def _decades(lo: float, hi: float) -> list[float]:
    return list(10.0 ** np.arange(np.ceil(np.log10(lo) - 1e-9), np.floor(np.log10(hi) + 1e-9) + 1))


def _widen(rng: tuple[float, float], values) -> tuple[float, float]:
    """``rng`` grown to whole decades around every positive finite value."""
    v = np.asarray([x for x in values if x and np.isfinite(x) and x > 0], dtype=float)
    lo, hi = rng
    if v.size:
        lo = min(lo, 10.0 ** np.floor(np.log10(v.min())))
        hi = max(hi, 10.0 ** np.ceil(np.log10(v.max())))
    return float(lo), float(hi)


def _rgba(hex_color: str, a: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{a})"


def feasibility_map_figure(series: dict[str, list[dict]] | None = None, *,
                           windows_s=DEFAULT_WINDOWS_S, alpha: float = C.ALPHA,
                           size_range_bytes=DEFAULT_SIZE_RANGE_BYTES,
                           bandwidth_range_bps=DEFAULT_BANDWIDTH_RANGE_BPS,
                           styles: dict[str, dict] | None = None,
                           title: str | None = None, **model) -> dict:
    """The map as a Plotly figure.

    Args:
        series: ``{name: [{"bytes", "bandwidth_bps", "text"?}, ...]}``: points [B], [bit/s];
            identical points are drawn once, sized by how many they are.
        windows_s: window lengths [s], one boundary each.
        alpha, model: options of :func:`greenhop.model.evaluate` (time side), e.g.
            ``write_Bps``, ``read_Bps``, ``startup_s``, ``efficiency``.
        styles: ``{name: {"symbol", "color"}}``; default :func:`style.policy_styles`.
    """
    series = {k: v for k, v in (series or {}).items()}
    styles = styles or style.policy_styles(list(series))
    points = [p for pts in series.values() for p in pts]
    s_lo, s_hi = _widen(size_range_bytes, [p["bytes"] for p in points])
    b_lo, b_hi = _widen(bandwidth_range_bps, [p["bandwidth_bps"] for p in points])
    windows = sorted(float(w) for w in windows_s)
    sizes = np.geomspace(s_lo, s_hi, 200)
    need = np.atleast_2d(map_boundaries(sizes, windows, alpha=alpha, **model))
    top = b_hi * 10.0  # beyond the axis, so the shading reaches the edge
    data: list[dict] = []
    for i, (w_s, bw) in enumerate(zip(windows, need, strict=True)):
        color = _CURVE_COLORS[i % len(_CURVE_COLORS)]
        shown = np.where(np.isfinite(bw), np.minimum(bw, top), top)
        data.append({"type": "scatter", "mode": "lines", "x": [*sizes, *sizes[::-1]],
                     "y": [*shown, *([top] * sizes.size)], "fill": "toself",
                     "fillcolor": _rgba(color, 0.07), "line": {"width": 0},
                     "hoverinfo": "skip", "showlegend": False})
        data.append({"type": "scatter", "mode": "lines", "name": f"W = {_window_text(w_s)}",
                     "legendgroup": "boundary", "x": sizes, "y": shown,
                     "line": {"width": 2.2, "color": color},
                     "hovertemplate": (f"W = {_window_text(w_s)}: %{{x:.3s}}B needs "
                                       "≥ %{y:.3s}bit/s<extra></extra>")})
    ref_x, ref_y, ref_t = [], [], []
    for ref in REFERENCE_MODELS:
        if s_lo <= ref.checkpoint_bytes <= s_hi:
            ref_x += [ref.checkpoint_bytes, ref.checkpoint_bytes, None]
            ref_y += [b_lo, b_hi, None]
            label = f"{ref.name} ({units.format_size(ref.checkpoint_bytes)})"
            ref_t += [label, label, None]
    if ref_x:
        data.append({"type": "scatter", "mode": "lines", "name": "reference models",
                     "x": ref_x, "y": ref_y, "hovertext": ref_t, "hoverinfo": "text",
                     "line": {"width": 1, "dash": "dash", "color": "#616161"}})
    drawn = [name for name, pts in series.items() if pts]
    for k, name in enumerate(drawn):
        pts = series[name]
        # Series side by side (a few % apart on the log axis) so that two policies' moves
        # at the same place stay visible; the hover text gives the true values.
        dodge = 10.0 ** (0.02 * (k - (len(drawn) - 1) / 2))
        st = styles.get(name, {"symbol": "circle", "color": "#455a64"})
        count = Counter((float(p["bytes"]), float(p["bandwidth_bps"])) for p in pts)
        texts: dict[tuple, list[str]] = {}
        for p in pts:
            texts.setdefault((float(p["bytes"]), float(p["bandwidth_bps"])), []).append(
                str(p.get("text", "")))
        keys = list(count)
        n = np.array([count[key] for key in keys], dtype=float)
        data.append({
            "type": "scatter", "mode": "markers", "name": f"{name}: {len(pts)}",
            "x": [key[0] * dodge for key in keys], "y": [key[1] for key in keys],
            "hovertext": [f"{name}: {count[key]} x {units.format_size(key[0])} over "
                          f"{units.format_rate(key[1])}" + _listed(texts[key]) for key in keys],
            "hoverinfo": "text",
            "marker": {"symbol": f"{st['symbol'].removesuffix('-open')}-open",
                       "color": st["color"], "size": np.round(8 + 3 * np.sqrt(n - 1), 1),
                       "line": {"width": 1.6, "color": st["color"]}}})
    head = title or f"Migration is feasible when downtime ≤ {alpha:g} × window W"
    layout = style.base_layout(
        f"{head}<br><sup>feasible above each curve (shaded); {rates_text(model)}; marker "
        "size: points at the same place</sup>",
        height=560, uirevision="feasibility",
        xaxis={"type": "log", "range": [np.log10(s_lo), np.log10(s_hi)],
               "title": {"text": "checkpoint size S [B, decimal prefixes]"},
               "tickvals": _decades(s_lo, s_hi),
               "ticktext": [units.format_size(v) for v in _decades(s_lo, s_hi)],
               "gridcolor": "#e0e0e0"},
        yaxis={"type": "log", "range": [np.log10(b_lo), np.log10(b_hi)],
               "title": {"text": "nominal WAN bandwidth [bit/s]"},
               "tickvals": _decades(b_lo, b_hi),
               "ticktext": [units.format_rate(v) for v in _decades(b_lo, b_hi)],
               "gridcolor": "#e0e0e0"},
        legend={"orientation": "v", "x": 1.02, "y": 1.0})
    layout["margin"] = {"l": 80, "r": 20, "t": 80, "b": 60}
    return {"data": data, "layout": layout}


HOVER_MOVES = 5
"""Moves a marker's hover text lists by name; the rest are counted."""


def _listed(texts: list[str]) -> str:
    """The first :data:`HOVER_MOVES` of a marker's move texts, one per line, and how many
    more there are (the count in the first line covers them all)."""
    named = [t for t in texts if t]
    if not named:
        return ""
    more = len(named) - HOVER_MOVES
    return "<br>" + "<br>".join(named[:HOVER_MOVES]) + (f"<br>… and {more} more" if more > 0
                                                        else "")
