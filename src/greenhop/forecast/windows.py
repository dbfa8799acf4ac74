"""Window forecasts: how long the current (or next) surplus window will last.

From a surplus forecast table (quantile paths issued at each step) and the
surplus observed at the issue time, :func:`forecast_windows` derives, for
every issue ``k``:

* ``in_window[k]``: the observed surplus at the issue time meets the threshold;
* ``remaining_s[k, q]``: if in a window, the time until the ``q``-quantile path
  first drops below the threshold; otherwise the duration of the next window
  the path enters (0 if none within the horizon). Capped at ``horizon_s``, the
  longest forecast horizon: a value equal to ``horizon_s`` means "at least".
* ``start_in_s[k]``: 0 in a window, else when the median path enters the
  next window (``inf`` if not within the horizon).

Lower surplus paths give shorter current windows, so p10 <= p50 <= p90 holds
by construction in a window and is enforced by sorting elsewhere. The
durations are then calibrated by rolling conformal shifts against the realised
windows (:func:`realized_windows`), grouped by ``in_window``, using only issues
whose whole horizon had passed by the recalibration time (no leakage).

For a policy: :meth:`WindowForecastTable.aligned` maps the table onto the
simulator's step grid once; then ``table.remaining(k, 0.1)`` is an O(1) array
look-up ("p10 of the remaining window, issued at or before step k"), and
:class:`FleetWindowForecast` does the same for many sites.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from greenhop.core.errors import ConfigError, TraceError
from greenhop.forecast.conformal import rolling_window_ns, shift_quantiles
from greenhop.forecast.table import (
    ForecastTable,
    check_issue_times,
    check_observed,
    check_quantiles,
)

DAY_S = 86400.0


# ------------------------------------------------------------------ paths
def _path_windows(now_w: np.ndarray, paths_w: np.ndarray, horizons_s: np.ndarray,
                  threshold_w: float) -> tuple[np.ndarray, np.ndarray]:
    """Remaining/next-window duration and start [s] along each path.

    ``now_w`` (K,), ``paths_w`` (K, H): values at time 0 and at ``horizons_s``.
    Crossings are linearly interpolated between points.
    """
    k = now_w.size
    t = np.concatenate([[0.0], horizons_s])
    y = np.concatenate([now_w[:, None], paths_w], axis=1)  # (K, H+1)
    above = y >= threshold_w
    cap = float(horizons_s[-1])
    cols = np.arange(t.size)[None, :]

    def crossing(idx: np.ndarray) -> np.ndarray:
        """Time of the threshold crossing between points idx-1 and idx."""
        r = np.arange(k)
        a, b = y[r, idx - 1], y[r, idx]
        ta, tb = t[idx - 1], t[idx]
        denom = np.where(a == b, 1.0, a - b)
        frac = np.clip((a - threshold_w) / denom, 0.0, 1.0)
        return ta + frac * (tb - ta)

    # first up-crossing (0 if already above)
    has_up = above.any(axis=1)
    up = np.where(has_up, np.argmax(above, axis=1), 0)
    start = np.where(up == 0, 0.0, crossing(np.maximum(up, 1)))
    start = np.where(has_up, start, np.inf)
    # first down-crossing after the start
    below_after = (~above) & (cols > up[:, None])
    has_down = below_after.any(axis=1)
    down = np.where(has_down, np.argmax(below_after, axis=1), 1)
    end = np.where(has_down, crossing(np.maximum(down, 1)), cap)
    dur = np.where(has_up, np.maximum(end - np.where(np.isfinite(start), start, 0.0), 0.0), 0.0)
    return dur, start


def _check_window_inputs(series: pd.Series, threshold_w: float, where: str) -> None:
    """A finite threshold and an observed series without NaN/inf (one-line errors)."""
    try:
        thr = float(threshold_w)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: threshold must be a number [W], got "
                          f"{threshold_w!r}") from None
    if not np.isfinite(thr):
        raise ConfigError(f"{where}: threshold must be finite, got {threshold_w!r}")
    check_observed(series, where)


def realized_windows(series: pd.Series, threshold_w: float, horizon_s: float,
                     times: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """What really happened: for each time, in_window, remaining_s, start_in_s.

    Measured on the series' own step grid (a value labelled ``t`` holds for
    the step ending at ``t``), within ``horizon_s`` after each time, the same
    definition as the forecast. Rows whose horizon runs past the series' end
    are NaN (not yet known).
    """
    _check_window_inputs(series, threshold_w, "realized_windows")
    s = series.sort_index()
    step_ns = int(np.diff(s.index.as_unit("ns").asi8[:2])[0]) if len(s) > 1 else 0
    if step_ns <= 0:
        raise TraceError("realized_windows: the series needs at least two values")
    step_s = step_ns / 1e9
    y = s.to_numpy(dtype=float)
    n = y.size
    hs = round(horizon_s / step_s)
    horizons = np.arange(1, hs + 1) * step_s
    pos = np.arange(n) if times is None else s.index.searchsorted(times)
    pos = np.asarray(pos, dtype=np.int64)
    ok = (pos + hs < n) & (pos < n)
    grid = np.clip(pos[:, None] + np.arange(1, hs + 1)[None, :], 0, n - 1)
    paths = y[grid]
    now = y[np.clip(pos, 0, n - 1)]
    # step semantics: a window lasts while values stay above; no interpolation
    above = np.concatenate([now[:, None], paths], axis=1) >= threshold_w
    t = np.concatenate([[0.0], horizons])
    has_up = above.any(axis=1)
    up = np.argmax(above, axis=1)
    start = np.where(has_up, np.where(up == 0, 0.0, t[up] - step_s), np.inf)
    below_after = (~above) & (np.arange(t.size)[None, :] > up[:, None])
    has_down = below_after.any(axis=1)
    down = np.argmax(below_after, axis=1)
    end = np.where(has_down, t[down] - step_s, horizons[-1])
    dur = np.where(has_up, np.maximum(end - np.where(np.isfinite(start), start, 0.0), 0.0), 0.0)
    idx = s.index[np.clip(pos, 0, n - 1)] if times is None else pd.DatetimeIndex(times)
    return pd.DataFrame({
        "in_window": np.where(ok, above[:, 0], False),
        "remaining_s": np.where(ok, dur, np.nan),
        "start_in_s": np.where(ok, start, np.nan),
    }, index=idx)


# ------------------------------------------------------------------ tables
@dataclass(frozen=True)
class WindowForecastTable:
    """Window-duration forecasts of one site, indexed by issue step.

    Attributes:
        issue_times: tz-aware UTC, strictly increasing, length K.
        quantiles: levels of ``remaining_s`` (e.g. 0.1, 0.5, 0.9).
        remaining_s: (K, Q) remaining duration of the current window, or
            duration of the next one when not in a window [s]; NaN where no
            forecast had been issued yet.
        start_in_s: (K,) time until the next window starts [s]: 0 in a window,
            inf if none within the horizon.
        in_window: (K,) whether the surplus at issue time meets the threshold.
        horizon_s: longest forecast horizon [s]; durations are capped there.
        threshold_w: surplus threshold that defines a window [W].
        name: the model (and calibration) behind it.
    """

    issue_times: pd.DatetimeIndex
    quantiles: tuple[float, ...]
    remaining_s: np.ndarray
    start_in_s: np.ndarray
    in_window: np.ndarray
    horizon_s: float
    threshold_w: float
    name: str = "window-forecast"

    def __post_init__(self) -> None:
        idx = check_issue_times(self.issue_times, f"window forecast '{self.name}'")
        qs = check_quantiles(self.quantiles, f"window forecast '{self.name}'")
        r = np.asarray(self.remaining_s, dtype=float)
        if r.shape != (len(idx), len(qs)):
            raise TraceError(f"window forecast '{self.name}': remaining_s has shape {r.shape}, "
                             f"expected {(len(idx), len(qs))}")
        for a in (r, self.start_in_s, self.in_window):
            a_ = np.asarray(a)
            a_.flags.writeable = False
        object.__setattr__(self, "issue_times", idx)
        object.__setattr__(self, "quantiles", qs)
        object.__setattr__(self, "remaining_s", r)
        object.__setattr__(self, "start_in_s", np.asarray(self.start_in_s, dtype=float))
        object.__setattr__(self, "in_window", np.asarray(self.in_window, dtype=bool))
        object.__setattr__(self, "_qpos", {round(q, 9): i for i, q in enumerate(qs)})

    def __len__(self) -> int:
        return len(self.issue_times)

    def qpos(self, q: float) -> int:
        """Column of quantile ``q`` in :attr:`remaining_s`."""
        try:
            return self._qpos[round(float(q), 9)]
        except KeyError:
            raise ConfigError(f"window forecast '{self.name}' has quantiles "
                              f"{list(self.quantiles)}, not {q}") from None

    def remaining(self, k: int, q: float = 0.1) -> float:
        """Quantile ``q`` of the remaining window [s] issued at row ``k``: O(1)."""
        return float(self.remaining_s[k, self.qpos(q)])

    def row_at(self, when) -> int:
        """Row of the latest forecast issued at or before ``when`` (-1 if none)."""
        return int(self.issue_times.searchsorted(pd.Timestamp(when), side="right")) - 1

    def aligned(self, start, step_s: float, n_steps: int,
                known_after_s: float = 0.0) -> WindowForecastTable:
        """The table on a simulator grid: row ``k`` = latest issued at or before ``start + k dt``.

        ``known_after_s`` [s]: a forecast labelled ``t`` counts as issued at
        ``t + known_after_s``; pass the series step when its labels are interval
        starts and a step's own value must not be known during that step.
        Steps before the first issue get NaN durations (nothing issued yet).
        """
        grid = pd.date_range(pd.Timestamp(start), periods=n_steps,
                             freq=pd.Timedelta(seconds=step_s))
        if grid.tz is None:
            raise ConfigError("aligned: start must be tz-aware (UTC)")
        if known_after_s < 0:
            raise ConfigError(f"aligned: known_after_s must be >= 0 s, got {known_after_s}")
        rows = self.issue_times.searchsorted(
            grid - pd.Timedelta(seconds=known_after_s), side="right") - 1
        none = rows < 0
        rc = np.maximum(rows, 0)
        rem = self.remaining_s[rc].copy()
        rem[none] = np.nan
        st = np.where(none, np.nan, self.start_in_s[rc])
        iw = np.where(none, False, self.in_window[rc])
        return WindowForecastTable(grid.tz_convert("UTC"), self.quantiles, rem, st, iw,
                                   self.horizon_s, self.threshold_w, self.name)

    def to_frame(self) -> pd.DataFrame:
        """One row per issue: in_window, start_in_s, and one remaining column per quantile."""
        data = {"in_window": self.in_window, "start_in_s": self.start_in_s}
        for i, q in enumerate(self.quantiles):
            data[f"remaining_q{round(q * 100):02d}_s"] = self.remaining_s[:, i]
        return pd.DataFrame(data, index=self.issue_times)


@dataclass(frozen=True)
class FleetWindowForecast:
    """Window forecasts of many sites on one issue grid: ``remaining_s[site, k, q]``."""

    sites: tuple[str, ...]
    issue_times: pd.DatetimeIndex
    quantiles: tuple[float, ...]
    remaining_s: np.ndarray  # (S, K, Q)
    in_window: np.ndarray  # (S, K)

    @classmethod
    def stack(cls, tables: Mapping[str, WindowForecastTable]) -> FleetWindowForecast:
        """Stack per-site tables that share issue times and quantiles."""
        if not tables:
            raise ConfigError("FleetWindowForecast.stack: no site tables given")
        names = tuple(tables)
        first = tables[names[0]]
        for n in names[1:]:
            t = tables[n]
            if not t.issue_times.equals(first.issue_times) or t.quantiles != first.quantiles:
                raise ConfigError(f"FleetWindowForecast.stack: site '{n}' has other issue times "
                                  f"or quantiles than '{names[0]}'; align them first with "
                                  "WindowForecastTable.aligned(start, step_s, n_steps)")
        return cls(names, first.issue_times, first.quantiles,
                   np.stack([tables[n].remaining_s for n in names]),
                   np.stack([tables[n].in_window for n in names]))

    def site_index(self, site: str) -> int:
        """Position of ``site``; unknown names list the valid ones."""
        try:
            return self.sites.index(site)
        except ValueError:
            raise ConfigError(f"unknown site '{site}'; sites with window forecasts: "
                              f"{', '.join(self.sites)}") from None

    def remaining(self, site: int, k: int, q: float = 0.1) -> float:
        """Quantile ``q`` of site ``site``'s remaining window issued at step ``k`` [s]: O(1)."""
        qi = self.quantiles.index(q) if q in self.quantiles else None
        if qi is None:
            raise ConfigError(f"no quantile {q}; have {list(self.quantiles)}")
        return float(self.remaining_s[site, k, qi])


# ------------------------------------------------------------------ building
def forecast_windows(
    table: ForecastTable,
    series: pd.Series,
    threshold_w: float,
    *,
    calibrate: bool = True,
    window_s: float = 14 * DAY_S,
    recalibrate_every_s: float = 6 * 3600.0,
    min_pairs: int = 30,
) -> WindowForecastTable:
    """Window-duration quantiles from a surplus forecast table, conformally calibrated.

    Args:
        table: surplus forecasts [W] (ideally already calibrated).
        series: observed surplus [W]; the value at each issue time is the
            starting point of every path, and later values calibrate.
        threshold_w: a window is where surplus >= threshold [W].
        calibrate: apply rolling conformal shifts to the durations.
        window_s, recalibrate_every_s, min_pairs: as in
            :func:`greenhop.forecast.conformal.calibrate`.
    """
    _check_window_inputs(series, threshold_w, "forecast_windows")
    s = series.sort_index()
    pos = s.index.searchsorted(table.issue_times)
    if np.any(pos >= len(s)) or np.any(s.index[np.minimum(pos, len(s) - 1)] != table.issue_times):
        raise TraceError("forecast_windows: some issue times are not labels of the observed "
                         "series; issue forecasts from the same series")
    now = s.to_numpy(dtype=float)[pos]
    qs = table.quantiles
    rem = np.empty((len(table), len(qs)))
    start = np.empty((len(table), len(qs)))
    for i in range(len(qs)):
        rem[:, i], start[:, i] = _path_windows(now, table.values[:, :, i], table.horizons_s,
                                               threshold_w)
    try:
        mid = table.quantile_index(0.5)
    except TraceError:
        mid = len(qs) // 2
    in_win = now >= threshold_w
    cap = float(table.horizons_s[-1])
    rem = np.sort(rem, axis=1)
    name = table.name
    if calibrate:
        rem = _calibrate_durations(table.issue_times, rem, in_win, s, threshold_w, cap, qs,
                                   window_s, recalibrate_every_s, min_pairs)
        name = f"{name}+window-conformal"
    return WindowForecastTable(table.issue_times, qs, rem, start[:, mid], in_win, cap,
                               float(threshold_w), name)


def _calibrate_durations(issue_times, rem, in_win, series, threshold_w, cap, qs,
                         window_s, recalibrate_every_s, min_pairs, bin_h=6.0):
    """Rolling conformal shifts of the durations, Mondrian by (in_window, issue time of day)."""
    real = realized_windows(series, threshold_w, cap, issue_times)["remaining_s"].to_numpy()
    resid = real[:, None] - rem
    issue_ns = issue_times.as_unit("ns").asi8
    known_ns = issue_ns + int(cap * 1e9)  # outcome fully observed at issue + horizon
    tod_h = ((issue_ns // 10**9) % int(DAY_S)) / 3600.0
    group = in_win.astype(np.int64) * 100 + (tod_h // bin_h).astype(np.int64)
    out = rem.copy()
    block = (issue_ns - issue_ns[0]) // int(recalibrate_every_s * 1e9)
    win = rolling_window_ns(window_s, issue_ns)
    for b in np.unique(block):
        rows = np.flatnonzero(block == b)
        t = issue_ns[rows[0]]
        cal = (known_ns <= t) & (issue_ns >= t - win) & ~np.isnan(real)
        for g in np.unique(group[rows]):
            target = rows[group[rows] == g]
            sel = np.flatnonzero(cal & (group == g))
            if sel.size < min_pairs:  # fall back to the state alone
                sel = np.flatnonzero(cal & (in_win == in_win[target[0]]))
            if sel.size >= min_pairs:
                out[target] += shift_quantiles(resid[sel], qs)[None, :]
    return np.sort(np.clip(out, 0.0, cap), axis=1)


def forecast_windows_fleet(tables: Mapping[str, ForecastTable],
                           series: Mapping[str, pd.Series],
                           threshold_w: float | Mapping[str, float],
                           quantiles: Sequence[float] | None = None,
                           **kwargs) -> dict[str, WindowForecastTable]:
    """:func:`forecast_windows` for each site (thresholds per site or one for all)."""
    out = {}
    for name, tab in tables.items():
        if name not in series:
            raise ConfigError(f"forecast_windows_fleet: no observed series for site '{name}'")
        thr = threshold_w[name] if isinstance(threshold_w, Mapping) else threshold_w
        out[name] = forecast_windows(tab, series[name], thr, **kwargs)
    return out
