"""Surplus windows: maximal intervals where surplus power stays at or above a threshold.

A window is a maximal run of consecutive steps whose surplus is ``>=
threshold_w`` (ties count as inside) that lasts at least ``min_duration_s``.
A missing step (a gap in the index, or NaN) ends a window: a window never
spans missing data. Each step of length ``dt`` labelled with its start ``t``
covers ``[t, t + dt)``, so a window of ``n`` steps lasts ``n x dt``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenhop.core.errors import TraceError
from greenhop.traces.resample import infer_step_s, seconds

WINDOW_COLUMNS = ("start", "end", "duration_s", "energy_j")


def _runs(inside: np.ndarray, breaks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) positions of runs of True, split where ``breaks`` is True.

    ``breaks[i]`` True means step ``i`` cannot continue a run from step ``i-1``.
    """
    inside = np.asarray(inside, dtype=bool)
    n = inside.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    prev = np.concatenate([[False], inside[:-1]])
    starts_mask = inside & ~prev
    if breaks is not None:
        starts_mask |= inside & breaks
    starts = np.flatnonzero(starts_mask)
    nxt = np.concatenate([inside[1:], [False]])
    stop_mask = inside & ~nxt
    if breaks is not None:
        stop_mask |= inside & np.concatenate([breaks[1:], [False]])
    stops = np.flatnonzero(stop_mask) + 1
    return starts, stops


def _check_args(threshold_w: float, min_duration_s: float) -> None:
    if not np.isfinite(threshold_w):
        raise TraceError(f"threshold must be a finite power in W, got {threshold_w!r}")
    if not np.isfinite(min_duration_s) or min_duration_s < 0:
        raise TraceError(f"minimum duration must be >= 0 s, got {min_duration_s!r}")


def find_windows(surplus_w: pd.Series, threshold_w: float, min_duration_s: float,
                 step_s: float | None = None) -> pd.DataFrame:
    """Windows of ``surplus_w`` [W] at or above ``threshold_w`` [W] lasting >= ``min_duration_s``.

    Args:
        surplus_w: surplus power on an interval-start DatetimeIndex (regular step; gaps
            in the index and NaN values break windows).
        threshold_w: power threshold [W]; a step equal to it is inside.
        min_duration_s: shortest window kept [s].
        step_s: the step [s]; inferred (most common spacing) when omitted.

    Returns:
        DataFrame with ``start``, ``end`` (exclusive) timestamps, ``duration_s`` [s]
        and ``energy_j`` [J] (surplus energy inside the window), one row per window
        in time order.
    """
    _check_args(threshold_w, min_duration_s)
    if not isinstance(surplus_w.index, pd.DatetimeIndex):
        raise TraceError("surplus series needs a DatetimeIndex of interval starts")
    empty = pd.DataFrame({"start": pd.Series(dtype="datetime64[ns, UTC]"),
                          "end": pd.Series(dtype="datetime64[ns, UTC]"),
                          "duration_s": pd.Series(dtype=float),
                          "energy_j": pd.Series(dtype=float)})
    if len(surplus_w) == 0:
        return empty
    step = step_s if step_s is not None else infer_step_s(surplus_w.index, "surplus series")
    values = surplus_w.to_numpy(dtype=float)
    inside = np.nan_to_num(values, nan=-np.inf) >= threshold_w
    ts = seconds(surplus_w.index)
    breaks = np.concatenate([[False], np.diff(ts) > step * (1 + 1e-9)])
    starts, stops = _runs(inside, breaks)
    durations = (stops - starts) * step
    keep = durations >= min_duration_s - 1e-9
    starts, stops, durations = starts[keep], stops[keep], durations[keep]
    if len(starts) == 0:
        return empty
    cum = np.concatenate([[0.0], np.cumsum(np.where(inside, values, 0.0))])
    energy = (cum[stops] - cum[starts]) * step
    index = surplus_w.index
    return pd.DataFrame({
        "start": index[starts],
        "end": index[stops - 1] + pd.Timedelta(seconds=step),
        "duration_s": durations.astype(float),
        "energy_j": energy,
    })


def _stats_from(windows: pd.DataFrame, total_s: float) -> dict:
    hours = windows["duration_s"].to_numpy(dtype=float) / 3600.0
    count = len(hours)

    def q(p: float) -> float:
        return float(np.percentile(hours, p)) if count else 0.0

    return {
        "count": int(count),
        "mean_h": float(hours.mean()) if count else 0.0,
        "median_h": q(50),
        "p10_h": q(10),
        "p90_h": q(90),
        "max_h": float(hours.max()) if count else 0.0,
        "total_h": float(hours.sum()),
        "duty_factor": float(hours.sum() * 3600.0 / total_s) if total_s > 0 else 0.0,
        "energy_kwh": float(windows["energy_j"].sum() / 3.6e6),
    }


def window_stats(surplus_w: pd.Series, threshold_w: float, min_duration_s: float,
                 step_s: float | None = None) -> dict:
    """Statistics of the windows of ``surplus_w`` (see :func:`find_windows`).

    Returns a dict: ``count``; ``mean_h``, ``median_h``, ``p10_h``, ``p90_h``,
    ``max_h``, ``total_h`` window durations [h]; ``duty_factor`` share of the
    covered time inside windows [-]; ``energy_kwh`` surplus energy inside
    windows [kWh]; ``span_h`` covered time [h] (missing steps excluded);
    ``threshold_w`` [W] and ``min_duration_s`` [s].
    """
    if len(surplus_w) == 0:
        raise TraceError("surplus series is empty; give at least two steps")
    step = step_s if step_s is not None else infer_step_s(surplus_w.index, "surplus series")
    windows = find_windows(surplus_w, threshold_w, min_duration_s, step)
    total_s = float(np.isfinite(surplus_w.to_numpy(dtype=float)).sum()) * step
    out = _stats_from(windows, total_s)
    out.update(span_h=total_s / 3600.0, threshold_w=float(threshold_w),
               min_duration_s=float(min_duration_s))
    return out


def in_window_mask(surplus_w: pd.Series, threshold_w: float, min_duration_s: float,
                   step_s: float | None = None) -> np.ndarray:
    """Boolean array: is each step inside a window (of at least the minimum duration)?"""
    step = step_s if step_s is not None else infer_step_s(surplus_w.index, "surplus series")
    values = np.nan_to_num(surplus_w.to_numpy(dtype=float), nan=-np.inf)
    ts = seconds(surplus_w.index)
    breaks = np.concatenate([[False], np.diff(ts) > step * (1 + 1e-9)])
    return remaining_window_s(values, threshold_w, step, min_duration_s, breaks=breaks) > 0


def fleet_complementarity(surplus_by_site: pd.DataFrame, threshold_w: float | dict,
                          min_duration_s: float, step_s: float | None = None) -> dict:
    """How well the sites' windows complement each other.

    Args:
        surplus_by_site: one column of surplus power [W] per site, shared index.
        threshold_w: threshold [W], one for all or a dict per site.
        min_duration_s: shortest window [s].

    Returns:
        ``any_share`` share of time at least one site is in a window [-];
        ``all_share`` share with every site in a window [-]; ``mean_sites`` mean
        number of sites in a window [-]; ``duty_factor`` per site [-];
        ``sites`` the column names.
    """
    if surplus_by_site.shape[1] == 0 or surplus_by_site.shape[0] == 0:
        raise TraceError("fleet surplus table is empty; give at least one site and one step")
    masks = []
    for name in surplus_by_site.columns:
        thr = threshold_w[name] if isinstance(threshold_w, dict) else threshold_w
        masks.append(in_window_mask(surplus_by_site[name], thr, min_duration_s, step_s))
    stack = np.vstack(masks)
    counts = stack.sum(axis=0)
    return {
        "sites": [str(c) for c in surplus_by_site.columns],
        "any_share": float((counts > 0).mean()),
        "all_share": float((counts == stack.shape[0]).mean()),
        "mean_sites": float(counts.mean()),
        "duty_factor": {str(c): float(m.mean()) for c, m in zip(surplus_by_site.columns, stack,
                                                                 strict=True)},
    }


def remaining_window_s(surplus_w: np.ndarray, threshold_w: float, dt_s: float,
                       min_duration_s: float = 0.0, *, breaks: np.ndarray | None = None
                       ) -> np.ndarray:
    """Remaining duration [s] of the window each step is in (0 outside windows).

    For step ``i`` inside a window that ends (exclusive) at step ``j``, the value
    is ``(j - i) x dt_s``: the time from the start of step ``i`` to the end of the
    window, i.e. what perfect foresight knows at that step. Windows shorter than
    ``min_duration_s`` count as no window. Works along the last axis, so a
    ``(sites, steps)`` array gives one row per site. Vectorised: no Python loop
    over steps.

    Args:
        surplus_w: surplus power [W], shape ``(steps,)`` or ``(sites, steps)``; NaN is outside.
        threshold_w: threshold [W] (scalar or one per site, broadcast on the first axis).
        dt_s: step length [s].
        min_duration_s: shortest window that counts [s].
        breaks: optional boolean array, True where a step cannot continue the previous one.
    """
    values = np.asarray(surplus_w, dtype=float)
    if values.ndim == 2:
        thr = np.broadcast_to(np.asarray(threshold_w, dtype=float), (values.shape[0],))
        return np.vstack([remaining_window_s(row, t, dt_s, min_duration_s, breaks=breaks)
                          for row, t in zip(values, thr, strict=True)])
    _check_args(float(threshold_w), min_duration_s)
    if dt_s <= 0:
        raise TraceError(f"step must be positive, got {dt_s!r} s")
    inside = np.nan_to_num(values, nan=-np.inf) >= threshold_w
    n = inside.shape[0]
    out = np.zeros(n)
    starts, stops = _runs(inside, breaks)
    if len(starts) == 0:
        return out
    lengths = stops - starts
    keep = lengths * dt_s >= min_duration_s - 1e-9
    starts, stops = starts[keep], stops[keep]
    if len(starts) == 0:
        return out
    # Mark each kept run's stop position: for step i, the stop of its run is the run's stop.
    run_id = np.zeros(n, dtype=np.int64)
    np.add.at(run_id, starts, 1)
    ids = np.cumsum(run_id) - 1  # index of the latest run start at or before i
    delta = np.zeros(n + 1, dtype=np.int64)
    np.add.at(delta, starts, 1)
    np.add.at(delta, stops, -1)
    member = np.cumsum(delta[:-1]) > 0
    pos = np.arange(n)
    out[member] = (stops[ids[member]] - pos[member]) * dt_s
    return out
