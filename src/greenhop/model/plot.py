"""The feasibility map: checkpoint size against WAN bandwidth, one boundary per window.

:func:`map_boundaries` is pure numpy and is the one source of the boundaries: the CLI's
map (:func:`draw_feasibility_map`), the reports' and the dashboard's interactive map
(``greenhop.viz.feasibility``) all draw it, with the same default windows and axes.
:func:`draw_feasibility_map` imports matplotlib lazily (the model stays import-light) and
draws without pyplot, so it leaves no global state behind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from greenhop.core import units
from greenhop.model import constants as C
from greenhop.model.feasibility import min_bandwidth_bps
from greenhop.model.presets import REFERENCE_MODELS

DEFAULT_WINDOWS_S = (3600.0, 2.5 * 3600.0, 5 * 3600.0, 9.5 * 3600.0)
"""Window lengths [s] of the default map: 1 h and the 2.5-9.5 h range of mean windows in
real curtailment data (Tomei et al. 2025)."""

DEFAULT_SIZE_RANGE_BYTES = (1e9, 1e12)
"""Checkpoint-size axis [B] of the default map (x)."""

DEFAULT_BANDWIDTH_RANGE_BPS = (1e8, 1e11)
"""Nominal-bandwidth axis [bit/s] of the default map (y)."""


def map_boundaries(sizes_bytes, windows_s, **model) -> np.ndarray:
    """Smallest feasible nominal bandwidth [bit/s] for each window (rows) and size (columns).

    ``inf`` where no bandwidth suffices. ``model`` takes the options of ``evaluate``.
    """
    sizes = np.asarray(sizes_bytes, dtype=float)[None, :]
    windows = np.asarray(windows_s, dtype=float)[:, None]
    return np.asarray(min_bandwidth_bps(sizes, windows, **model))


def _loss_text(opts: dict) -> str:
    loss = opts.get("loss", 0.0)
    if not loss:
        return "no packet loss"
    rtt = units.format_duration(opts.get("rtt_s", C.RTT_S))
    return f"loss {loss:g} at RTT {rtt} over {opts.get('streams', C.STREAMS)} streams"


def _window_text(window_s: float) -> str:
    return f"{window_s / 3600:.3g} h" if window_s >= 3600 else units.format_duration(window_s)


def _decades(low: float, high: float) -> np.ndarray:
    return 10.0 ** np.arange(np.ceil(np.log10(low) - 1e-9), np.floor(np.log10(high) + 1e-9) + 1)


def rates_text(model: dict) -> str:
    """Every rate that shapes the feasibility curves, in one line (``model``: options of
    :func:`greenhop.model.evaluate`, rates in B/s): efficiency, startup, disk write and
    read, packet loss. The map's title and the report's interactive map both say it."""
    eff = model.get("efficiency", C.EFFICIENCY)
    startup = model.get("startup_s", C.STARTUP_S)

    def disk(key: str, default: float) -> str:
        rate = model.get(key, default)
        return "free" if np.isinf(rate) else f"{units.format_size(rate)}/s"

    return (f"efficiency {eff:g}, startup {units.format_duration(startup)}, "
            f"disk write {disk('write_Bps', C.WRITE_BPS)}, read {disk('read_Bps', C.READ_BPS)}, "
            f"{_loss_text(model)}")


def map_title(alpha: float, model: dict) -> str:
    """The feasibility map's two-line title: the rule and :func:`rates_text`."""
    return (f"Migration is feasible when downtime ≤ {alpha:g} × window W (shaded side of each "
            f"curve)\n{rates_text(model)}")


def feasible_anywhere(need_bps, max_bandwidth_bps: float) -> bool:
    """True when some boundary of :func:`map_boundaries` (``need_bps`` [bit/s], one row per
    window, inf where no bandwidth suffices) lies at or below ``max_bandwidth_bps``: some
    point of the map is feasible."""
    need = np.asarray(need_bps, dtype=float)
    return bool(np.any(np.isfinite(need) & (need <= max_bandwidth_bps)))


def draw_feasibility_map(
    path,
    *,
    windows_s=DEFAULT_WINDOWS_S,
    size_range_bytes=DEFAULT_SIZE_RANGE_BYTES,
    bandwidth_range_bps=DEFAULT_BANDWIDTH_RANGE_BPS,
    swap_axes: bool = False,
    alpha=C.ALPHA,
    **model,
) -> Path:
    """Draw the feasible domain to ``path`` (.png, .svg or .pdf) and return the path.

    Args:
        windows_s: window lengths [s], one boundary curve each.
        size_range_bytes: checkpoint-size axis (min, max) [B], log scale.
        bandwidth_range_bps: nominal-bandwidth axis (min, max) [bit/s], log scale.
        swap_axes: bandwidth on x, checkpoint size on y.
        alpha, model: options of :func:`greenhop.model.evaluate` (time side).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    windows = sorted(float(w) for w in windows_s)
    s_lo, s_hi = size_range_bytes
    b_lo, b_hi = bandwidth_range_bps
    sizes = np.geomspace(s_lo, s_hi, 400)
    need = map_boundaries(sizes, windows, alpha=alpha, **model)

    fig = Figure(figsize=(8.0, 5.6), layout="constrained")
    ax = fig.subplots()
    colors = ["#00441b", "#238b45", "#41ab5d", "#78c679", "#2171b5", "#6baed6"]
    top = b_hi * 10  # beyond the axis, so shading reaches the edge
    for i, (w_s, bw) in enumerate(zip(windows, need, strict=True)):
        color = colors[i % len(colors)]
        shown = np.where(np.isfinite(bw), np.minimum(bw, top), top)
        label = f"W = {_window_text(w_s)}"
        x, y = (shown, sizes) if swap_axes else (sizes, shown)
        ax.plot(x, y, color=color, lw=2.2, label=label, zorder=3)
        if swap_axes:
            ax.fill_betweenx(sizes, shown, top, color=color, alpha=0.14, lw=0, zorder=1)
        else:
            ax.fill_between(sizes, shown, top, color=color, alpha=0.14, lw=0, zorder=1)

    for ref in REFERENCE_MODELS:
        if not s_lo <= ref.checkpoint_bytes <= s_hi:
            continue
        text = f"{ref.name}\n{units.format_size(ref.checkpoint_bytes)}"
        near_end = ref.checkpoint_bytes > s_lo * (s_hi / s_lo) ** 0.9
        if swap_axes:
            ax.axhline(ref.checkpoint_bytes, color="0.3", ls="--", lw=1, zorder=2)
            ax.annotate(text.replace("\n", " "), (b_lo, ref.checkpoint_bytes),
                        xytext=(4, -3 if near_end else 3), textcoords="offset points",
                        fontsize=8.5, color="0.2", va="top" if near_end else "bottom")
        else:
            ax.axvline(ref.checkpoint_bytes, color="0.3", ls="--", lw=1, zorder=2)
            ax.annotate(text, (ref.checkpoint_bytes, b_hi), xytext=(-3 if near_end else 3, -4),
                        textcoords="offset points", fontsize=8.5, color="0.2", va="top",
                        ha="right" if near_end else "left")

    size_axis, rate_axis = (ax.yaxis, ax.xaxis) if swap_axes else (ax.xaxis, ax.yaxis)
    ax.set_xscale("log")
    ax.set_yscale("log")
    size_lim, rate_lim = (s_lo, s_hi), (b_lo, b_hi)
    ax.set_xlim(*(rate_lim if swap_axes else size_lim))
    ax.set_ylim(*(size_lim if swap_axes else rate_lim))
    for axis, fmt, lo, hi in ((size_axis, units.format_size, s_lo, s_hi),
                              (rate_axis, units.format_rate, b_lo, b_hi)):
        axis.set_major_locator(FixedLocator(_decades(lo, hi)))
        axis.set_major_formatter(FuncFormatter(lambda v, _pos, fmt=fmt: fmt(v)))
        axis.set_minor_formatter(NullFormatter())
    size_label = "checkpoint size S [B, decimal prefixes]"
    rate_label = "nominal WAN bandwidth [bit/s]"
    ax.set_xlabel(rate_label if swap_axes else size_label)
    ax.set_ylabel(size_label if swap_axes else rate_label)
    ax.grid(True, which="major", color="0.85", lw=0.8)
    ax.grid(True, which="minor", color="0.93", lw=0.5)

    box = {"boxstyle": "round,pad=0.3", "fc": "white", "ec": "none", "alpha": 0.8}
    feasible_xy, infeasible_xy = ((0.08, 0.62), (0.92, 0.12)) if not swap_axes else (
        (0.92, 0.12), (0.03, 0.74))
    if feasible_anywhere(need, b_hi):
        ax.text(*feasible_xy, "feasible", transform=ax.transAxes, fontsize=12,
                color="#00441b", weight="bold", ha="left" if not swap_axes else "right",
                bbox=box, zorder=4)
        ax.text(*infeasible_xy, f"not feasible\n(even in {_window_text(windows[-1])})",
                transform=ax.transAxes, fontsize=10, color="#8b1a1a",
                ha="right" if not swap_axes else "left", bbox=box, zorder=4)
    else:  # no curve enters the map: a "feasible" label would sit on an empty plot
        ax.text(0.42, 0.5, f"nothing is feasible on this map:\neven at "
                f"{units.format_rate(b_hi)}, every size's downtime\nis more than alpha x "
                f"the longest window ({_window_text(windows[-1])})",
                transform=ax.transAxes, fontsize=10.5, color="#8b1a1a", ha="center",
                va="center", bbox=box, zorder=4)

    ax.set_title(map_title(alpha, model), fontsize=10.5)
    ax.legend(title="surplus window", loc="center right",
              fontsize=9, title_fontsize=9, framealpha=0.9)
    out = Path(path)
    fig.savefig(out, dpi=150)
    return out
