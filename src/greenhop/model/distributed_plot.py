"""The sync map: the feasibility-map analogue of a job spread over sites.

For each model size, the shortest sync interval H (inner steps per outer step) whose
pseudo-gradient exchange fits the sync rule (``sync_s <= sync_share x H x step_s``,
:mod:`greenhop.model.distributed`) as a function of the WAN's nominal bandwidth. Above a
curve the job may span sites at that interval; below it the workers would wait too long.
:func:`sync_boundaries` is pure numpy; :func:`draw_sync_map` imports matplotlib lazily and
draws without pyplot, like :func:`greenhop.model.plot.draw_feasibility_map`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from greenhop.core import units
from greenhop.model import distributed as D

DEFAULT_PARAMS = (1.3e9, 7e9, 13e9, 70e9)
"""Model sizes of the default map [parameters]: 1.3 B, 7 B, 13 B and 70 B."""

DEFAULT_BANDWIDTH_RANGE_BPS = (1e8, 1e11)
"""Nominal-bandwidth axis [bit/s]: 100 Mbit/s to 100 Gbit/s."""


def sync_boundaries(params, bandwidths_bps, workers: int = 3, **model) -> np.ndarray:
    """Smallest feasible sync interval H [inner steps] per model size (rows) and bandwidth
    (columns); ``model`` takes the options of :func:`~greenhop.model.distributed.min_sync_every`."""
    p = np.asarray(params, dtype=float)[:, None]
    bw = np.asarray(bandwidths_bps, dtype=float)[None, :]
    return np.asarray(D.min_sync_every(p, workers, bw, **model), dtype=float)


def sync_table(params=DEFAULT_PARAMS, bandwidths_bps=(1e8, 1e9, 1e10, 1e11), workers: int = 3,
               **model) -> str:
    """The boundaries as a Markdown table: one row per model size, one column per bandwidth."""
    h = sync_boundaries(params, bandwidths_bps, workers, **model)
    head = "| model | " + " | ".join(units.format_rate(b) for b in bandwidths_bps) + " |"
    rule = "|---|" + "---:|" * len(bandwidths_bps)
    rows = [f"| {units.format_params(p)} {'param' if p == 1 else 'params'} | "
            + " | ".join(_steps(v) for v in row) + " |" for p, row in zip(params, h, strict=True)]
    return "\n".join([head, rule, *rows])


def _steps(h: float) -> str:
    """A sync interval [inner steps]: digits with separators up to 10^12, above that in
    powers of ten (a sub-microsecond --step-time gives H of hundreds of digits)."""
    return f"{int(h):,}" if h < 1e12 else f"{h:.3g}"


def draw_sync_map(path, *, params=DEFAULT_PARAMS,
                  bandwidth_range_bps=DEFAULT_BANDWIDTH_RANGE_BPS, workers: int = 3,
                  **model) -> Path:
    """Draw the sync map to ``path`` (.png, .svg or .pdf) and return the path.

    Args:
        params: model sizes [parameters], one boundary curve each.
        bandwidth_range_bps: nominal-bandwidth axis (min, max) [bit/s], log scale.
        workers: N workers, one per site.
        model: options of :func:`greenhop.model.distributed.evaluate_distributed`
            (``step_s``, ``sync_share``, ``bytes_per_value``, ``efficiency``, ``loss``, ...).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    b_lo, b_hi = bandwidth_range_bps
    bws = np.geomspace(b_lo, b_hi, 300)
    need = sync_boundaries(params, bws, workers, **model)
    fig = Figure(figsize=(8.0, 5.6), layout="constrained")
    ax = fig.subplots()
    colors = ["#00441b", "#238b45", "#2171b5", "#6a51a3", "#cb181d"]
    top = float(need.max()) * 10
    for i, (p, h) in enumerate(zip(params, need, strict=True)):
        color = colors[i % len(colors)]
        noun = "parameter" if p == 1 else "parameters"
        ax.plot(bws, h, color=color, lw=2.2, label=f"{units.format_params(p)} {noun}", zorder=3)
        ax.fill_between(bws, h, top, color=color, alpha=0.10, lw=0, zorder=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(b_lo, b_hi)
    ax.set_ylim(max(1.0, float(need.min()) / 2), top)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: units.format_rate(v)))
    ax.set_xlabel("nominal WAN bandwidth between the workers' sites [bit/s]")
    ax.set_ylabel("smallest sync interval H [inner steps]")
    ax.grid(True, which="major", color="0.85", lw=0.8)
    ax.grid(True, which="minor", color="0.93", lw=0.5)
    step = model.get("step_s", D.STEP_S)
    share = model.get("sync_share", D.SYNC_SHARE)
    per_value = model.get("bytes_per_value", D.SYNC_BYTES_PER_VALUE)
    ax.set_title(
        f"A job may span {workers} sites when its exchange takes ≤ {share:g} × H × step "
        f"(shaded side)\nring all-reduce of {per_value:g}-byte pseudo-gradients, step "
        f"{units.format_duration(step)}, loss {model.get('loss', 0.0):g}", fontsize=10.5)
    ax.legend(title="model size", loc="upper right", fontsize=9, title_fontsize=9,
              framealpha=0.9)
    out = Path(path)
    fig.savefig(out, dpi=150)
    return out
