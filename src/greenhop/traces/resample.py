"""Energy-conserving resampling of power series onto any regular UTC step.

A power series is read as piecewise constant: the value at timestamp ``t_i``
(interval-start labelling) holds over ``[t_i, t_i + step)``. The cumulative
energy is integrated exactly and differenced over the target intervals, so
``sum(target power x target step) == sum(source power x source step)`` over any
span both cover (tested), whether the target step is finer (e.g. hourly TMY to
5-minute simulation steps) or coarser. Target intervals that reach into a gap
of the source (missing timestamps) come out as NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenhop.core.errors import TraceError


def seconds(index: pd.DatetimeIndex) -> np.ndarray:
    """Seconds since the Unix epoch of each timestamp [s] (float, any time unit)."""
    return index.as_unit("ns").asi8.astype(np.float64) / 1e9


def infer_step_s(index: pd.DatetimeIndex, what: str = "series") -> float:
    """The regular step of ``index`` [s]: its most common spacing; raises if undefined."""
    if len(index) < 2:
        if index.freq is not None:
            return pd.Timedelta(index.freq).total_seconds()
        raise TraceError(f"{what} has fewer than 2 timestamps, so its time step is undefined; "
                         "give at least two rows")
    diffs = np.diff(seconds(index))
    values, counts = np.unique(diffs, return_counts=True)
    return float(values[np.argmax(counts)])


def check_utc_index(index: object, what: str = "index") -> pd.DatetimeIndex:
    """Raise TraceError unless ``index`` is a non-empty tz-aware UTC DatetimeIndex."""
    if not isinstance(index, pd.DatetimeIndex):
        raise TraceError(f"{what} must be a pandas DatetimeIndex, got {type(index).__name__}")
    if len(index) == 0:
        raise TraceError(f"{what} is empty; give at least one timestamp")
    if index.tz is None:
        raise TraceError(f"{what} is naive (no time zone); localise it with "
                         ".tz_localize('UTC') or build it with tz='UTC'")
    if str(index.tz) != "UTC":
        raise TraceError(f"{what} is in time zone {index.tz}; convert it with .tz_convert('UTC')")
    return index


def covered_range(series: pd.Series, step_s: float | None = None) -> tuple[pd.Timestamp,
                                                                            pd.Timestamp]:
    """First interval start and last interval end covered by ``series``."""
    step = step_s if step_s is not None else infer_step_s(series.index)
    return series.index[0], series.index[-1] + pd.Timedelta(seconds=step)


def resample_energy(series: pd.Series, index: pd.DatetimeIndex, *,
                    source_step_s: float | None = None, what: str = "trace") -> pd.Series:
    """Resample a power series onto ``index`` keeping its energy.

    Args:
        series: power [W] (or any rate) on an interval-start, tz-aware index.
        index: target interval starts; regular step (inferred from spacing).
        source_step_s: the source step [s]; inferred from ``series`` if omitted.
        what: name used in error messages.

    Returns:
        Mean power over each target interval, on exactly ``index``.

    Raises:
        TraceError: when the target reaches outside the covered range (the
            message states that range).
    """
    index = check_utc_index(index, "target index")
    src_index = check_utc_index(series.index, f"{what} index")
    src_step = source_step_s if source_step_s is not None else infer_step_s(src_index, what)
    tgt_step = infer_step_s(index, "target index")
    ts = seconds(src_index)
    if np.any(np.diff(ts) <= 0):
        raise TraceError(f"{what} timestamps must increase strictly; sort and de-duplicate them")
    values = np.asarray(series.to_numpy(dtype=float), dtype=float)
    start, end = ts[0], ts[-1] + src_step
    tt = seconds(index)
    lo, hi = tt[0], tt[-1] + tgt_step
    if lo < start - 1e-6 or hi > end + 1e-6:
        first = pd.Timestamp(start, unit="s", tz="UTC")
        last = pd.Timestamp(end, unit="s", tz="UTC")
        raise TraceError(
            f"{what} covers {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC, but "
            f"{pd.Timestamp(lo, unit='s', tz='UTC'):%Y-%m-%d %H:%M} to "
            f"{pd.Timestamp(hi, unit='s', tz='UTC'):%Y-%m-%d %H:%M} UTC was asked for; "
            "ask for a span inside the covered range"
        )
    # Boundaries of each source interval: [t_i, t_i + step); gaps have no energy and no coverage.
    ends = np.minimum(ts + src_step, np.append(ts[1:], np.inf))
    finite = np.isfinite(values)
    energy = np.where(finite, values, 0.0) * (ends - ts)
    covered = np.where(finite, ends - ts, 0.0)
    # Cumulative energy and coverage at every source boundary (start and end of each interval).
    bounds = np.empty(2 * len(ts))
    bounds[0::2] = ts
    bounds[1::2] = ends
    cum_e = np.zeros(2 * len(ts))
    cum_c = np.zeros(2 * len(ts))
    cum_e[1::2] = np.cumsum(energy)
    cum_e[2::2] = cum_e[1:-1:2]
    cum_c[1::2] = np.cumsum(covered)
    cum_c[2::2] = cum_c[1:-1:2]
    edges = np.append(tt, tt[-1] + tgt_step)
    # Within each interval energy grows linearly; in a gap it stays flat.
    e_at = np.interp(edges, bounds, cum_e)
    c_at = np.interp(edges, bounds, cum_c)
    widths = np.diff(edges)
    out = np.diff(e_at) / widths
    incomplete = np.diff(c_at) < widths * (1 - 1e-9)
    out[incomplete] = np.nan
    return pd.Series(out, index=index, name=series.name)
