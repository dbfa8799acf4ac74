"""Rolling conformal calibration of quantile forecasts.

For every quantile level ``q`` we shift the raw forecast by ``c_q``, the
empirical ``q``-quantile of the residuals ``actual - forecast_q`` over a
rolling calibration set (split conformal quantile regression, one tail at a
time): then about a share ``q`` of new outcomes falls below the shifted
forecast. The calibration set is *Mondrian*: pairs are grouped by horizon and
by the time of day of the valid time (blocks of ``bin_h`` hours), so the
zero-error nights of a PV series do not shrink the daytime intervals.

No leakage: the shift used for a forecast issued at ``t`` is computed from
pairs whose valid time is ``<= t`` (their outcome was observed by then) and
whose issue time is within ``window_s`` before ``t``. Shifts are recomputed
every ``recalibrate_every_s``, at the start of each block, from the pairs
known at that moment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenhop.core.errors import ConfigError
from greenhop.forecast.table import ForecastTable, check_observed

DAY_S = 86400.0
BIN_H = 3.0
"""Width of the time-of-day blocks of the valid time the calibration groups pairs by [h]."""
MIN_PAIRS = 30
"""Fewest pairs a (horizon, block) group needs; with fewer, all blocks of the horizon are
pooled (a PV series' zero-error nights then narrow or widen the day's intervals)."""


def _level(q: float, n: int) -> tuple[float, str]:
    """Finite-sample conservative level and numpy method for the q-quantile of n scores."""
    if q > 0.5:
        return min(1.0, q * (n + 1) / n), "higher"
    if q < 0.5:
        return max(0.0, q - (1.0 - q) / n), "lower"
    return 0.5, "linear"


def shift_quantiles(residuals: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
    """The shift per quantile level: ``c[i]`` = quantile ``quantiles[i]`` of ``residuals[:, i]``.

    ``residuals`` is (n, Q): actual minus forecast for each level.
    """
    n = residuals.shape[0]
    out = np.empty(len(quantiles))
    for i, q in enumerate(quantiles):
        level, method = _level(q, n)
        out[i] = np.quantile(residuals[:, i], level, method=method)
    return out


def rolling_window_ns(window_s: float, issue_ns: np.ndarray) -> int:
    """A rolling window [ns]; one longer than the issues' span holds them all, so it is cut
    to that span (a huge window stays an int64)."""
    span_s = (int(issue_ns[-1]) - int(issue_ns[0])) / 1e9 + 1.0
    return int(min(window_s, span_s) * 1e9)


def calibrate(
    table: ForecastTable,
    series: pd.Series,
    *,
    window_s: float = 14 * DAY_S,
    recalibrate_every_s: float = 6 * 3600.0,
    bin_h: float = BIN_H,
    min_pairs: int = MIN_PAIRS,
    shift_median: bool = False,
) -> ForecastTable:
    """Conformally calibrate every quantile of ``table`` on a rolling history of ``series``.

    Args:
        table: raw forecasts.
        series: the observed series (only values labelled at or before each
            recalibration time are used for it).
        window_s: length of the rolling calibration history [s] (by issue time).
        recalibrate_every_s: how often the shifts are recomputed [s].
        bin_h: width of the time-of-day bins of the valid time [h] (24: one bin).
        min_pairs: fewest pairs a (horizon, bin) group needs; with fewer it
            falls back to all bins of the horizon, and with fewer still the
            raw forecast is kept.
        shift_median: also shift the 0.5 quantile (a bias correction). Off by
            default, so a model's point forecast stays its own (persistence
            stays persistence).

    Returns:
        A table on the same grid, named ``<name>+conformal``. Values are
        clipped to the range observed so far and re-sorted across quantiles.
    """
    if window_s <= 0 or recalibrate_every_s <= 0 or not (0 < bin_h <= 24) or min_pairs < 1:
        raise ConfigError("calibrate: window and recalibration period must be positive, "
                          f"bin_h in (0, 24] and min_pairs >= 1; got window_s={window_s}, "
                          f"recalibrate_every_s={recalibrate_every_s}, bin_h={bin_h}, "
                          f"min_pairs={min_pairs}")
    check_observed(series, "calibrate")
    qs = table.quantiles
    v = np.array(table.values)
    actual = table.actuals(series)  # (K, H)
    resid = actual[:, :, None] - v  # (K, H, Q)
    issue_ns = table.issue_times.as_unit("ns").asi8
    valid_ns = table.valid_times()
    tod_h = ((valid_ns // 10**9) % int(DAY_S)) / 3600.0
    nbins = max(1, int(np.ceil(24.0 / bin_h)))
    bins = np.minimum((tod_h // bin_h).astype(np.int64), nbins - 1)  # (K, H)
    s = series.sort_index()
    s_ns = s.index.as_unit("ns").asi8
    s_val = s.to_numpy(dtype=float)
    run_min = np.minimum.accumulate(s_val)
    run_max = np.maximum.accumulate(s_val)

    out = v.copy()
    block_ns = int(recalibrate_every_s * 1e9)
    block_id = (issue_ns - issue_ns[0]) // block_ns
    win_ns = rolling_window_ns(window_s, issue_ns)
    known = ~np.isnan(actual)
    for b in np.unique(block_id):
        rows = np.flatnonzero(block_id == b)
        t_ns = issue_ns[rows[0]]
        # pairs whose outcome is known at t and issued within the window
        cal_rows = np.flatnonzero((issue_ns >= t_ns - win_ns) & (issue_ns < t_ns))
        for j in range(table.horizons_s.size):
            ok = known[cal_rows, j] & (valid_ns[cal_rows, j] <= t_ns)
            rr = cal_rows[ok]
            pooled = shift_quantiles(resid[rr, j, :], qs) if rr.size >= min_pairs else None
            for bb in np.unique(bins[rows, j]):
                target = rows[bins[rows, j] == bb]
                sel = rr[bins[rr, j] == bb]
                if sel.size >= min_pairs:
                    c = shift_quantiles(resid[sel, j, :], qs)
                elif pooled is not None:
                    c = pooled
                else:
                    continue
                if not shift_median:
                    c = np.where(np.isclose(qs, 0.5), 0.0, c)
                out[target, j, :] += c[None, :]
    # never beyond the range observed up to each issue
    i = np.searchsorted(s_ns, issue_ns, side="right") - 1
    seen = i >= 0
    ic = np.maximum(i, 0)
    lo = np.where(seen, run_min[ic], -np.inf)[:, None, None]
    hi = np.where(seen, run_max[ic], np.inf)[:, None, None]
    out = np.clip(out, lo, hi)
    return table.with_values(order_around_median(out, qs), name=f"{table.name}+conformal")


def order_around_median(values: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
    """Make quantiles non-crossing without moving the median (last axis = quantiles).

    Levels below 0.5 are capped at the median, levels above floored at it,
    then each side is sorted: the point forecast stays what the model said.
    """
    v = np.array(values, dtype=float)
    qs = np.asarray(quantiles)
    mid = np.flatnonzero(np.isclose(qs, 0.5))
    if mid.size:
        med = v[..., mid[0]: mid[0] + 1]
        lo, hi = qs < 0.5, qs > 0.5
        v[..., lo] = np.minimum(v[..., lo], med)
        v[..., hi] = np.maximum(v[..., hi], med)
    return np.sort(v, axis=-1)
