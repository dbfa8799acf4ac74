"""Backtests: run a forecaster over a real series as it would run live, and score it.

Scores per horizon, over the evaluation issues (after a warm-up used for
fitting and calibration):

* ``mae``, ``rmse`` of the median forecast [unit of the series];
* ``skill`` = 1 - RMSE / RMSE(persistence) on the same pairs (> 0: better
  than persistence);
* ``pinball``: mean pinball (quantile) loss over the quantile levels;
* ``coverage``: share of outcomes inside [lowest, highest] quantile after
  calibration (``coverage_raw`` before it), over all pairs and over the
  *active* pairs only (outcome or forecast above the series' floor by 1% of
  its range: for PV, daytime), because the zero-error nights of PV inflate
  the all-pairs figure (``n_active`` counts them; the summary's
  ``coverage_active`` pools the active pairs of all horizons);
* window forecasts (when a threshold is given): MAE and bias of the median
  remaining window against the realised one [h], the share of realised
  durations inside [p10, p90] (and below p10 / above p90), after the
  duration calibration and before it (``*_raw``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from greenhop.core.errors import ConfigError
from greenhop.forecast.base import (
    Forecaster,
    check_spacing,
    create_forecaster,
    issue_forecasts,
    series_step_s,
)
from greenhop.forecast.conformal import calibrate
from greenhop.forecast.table import DEFAULT_QUANTILES, ForecastTable
from greenhop.forecast.windows import WindowForecastTable, forecast_windows, realized_windows

DAY_S = 86400.0


def pinball_loss(actual: np.ndarray, forecast: np.ndarray, q: float) -> np.ndarray:
    """Pinball loss of quantile ``q``: ``max(q (y - f), (q - 1)(y - f))`` elementwise."""
    d = np.asarray(actual) - np.asarray(forecast)
    return np.maximum(q * d, (q - 1.0) * d)


@dataclass
class BacktestResult:
    """Scores and forecasts of one backtest."""

    site: str
    model: str
    unit: str
    per_horizon: pd.DataFrame
    summary: dict
    raw: ForecastTable
    calibrated: ForecastTable
    series: pd.Series
    eval_start: pd.Timestamp
    windows: WindowForecastTable | None = None
    window_metrics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready: summary, per-horizon table and window scores."""
        rows = self.per_horizon.reset_index().to_dict(orient="records")
        return {
            "site": self.site,
            "model": self.model,
            "unit": self.unit,
            "eval_start": self.eval_start.isoformat(),
            "eval_end": self.series.index[-1].isoformat(),
            "summary": self.summary,
            "per_horizon": [{k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                             for k, v in r.items()} for r in rows],
            "windows": self.window_metrics,
        }


def _metrics(table: ForecastTable, raw: ForecastTable, actual: np.ndarray, pers: np.ndarray,
             rows: np.ndarray, floor: float, span: float) -> pd.DataFrame:
    qs = table.quantiles
    out = []
    for j, h in enumerate(table.horizons_s):
        a = actual[rows, j]
        ok = ~np.isnan(a)
        a = a[ok]
        v = table.values[rows, j][ok]
        vr = raw.values[rows, j][ok]
        p = pers[rows, j][ok]
        n = int(a.size)
        if n == 0:
            continue
        med = table.median()[rows, j][ok]
        rmse = float(np.sqrt(np.mean((med - a) ** 2)))
        rmse_p = float(np.sqrt(np.mean((p - a) ** 2)))
        lo, hi = v[:, 0], v[:, -1]
        inside = (a >= lo) & (a <= hi)
        inside_raw = (a >= vr[:, 0]) & (a <= vr[:, -1])
        active = (np.maximum(a, hi) - floor) > 0.01 * span
        out.append({
            "horizon_h": float(h / 3600.0),
            "n": n,
            "n_active": int(active.sum()),
            "mae": float(np.mean(np.abs(med - a))),
            "rmse": rmse,
            "rmse_persistence": rmse_p,
            "skill": float(1.0 - rmse / rmse_p) if rmse_p > 0 else float("nan"),
            "pinball": float(np.mean([pinball_loss(a, v[:, i], q).mean()
                                      for i, q in enumerate(qs)])),
            "coverage": float(inside.mean()),
            "coverage_active": float(inside[active].mean()) if active.any() else float("nan"),
            "coverage_raw": float(inside_raw.mean()),
            "width_mean": float(np.mean(hi - lo)),
        })
    return pd.DataFrame(out).set_index("horizon_h")


def _pooled(share: pd.Series, count: pd.Series) -> float:
    """The share over all pairs pooled from per-horizon shares and counts (NaN: no pairs)."""
    w = count.to_numpy(dtype=float)
    v = share.to_numpy(dtype=float)
    ok = w > 0
    return float(np.sum(v[ok] * w[ok]) / np.sum(w[ok])) if ok.any() else float("nan")


def backtest(
    series: pd.Series,
    model: Forecaster | str,
    *,
    horizons_s: Sequence[float] = (3600.0, 7200.0, 10800.0, 14400.0),
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    warmup_s: float = 10 * DAY_S,
    issue_every_s: float = 900.0,
    refit_every_s: float = 2 * DAY_S,
    calibration_window_s: float = 7 * DAY_S,
    threshold: float | None = None,
    window_horizons_s: Sequence[float] | None = None,
    site: str = "series",
    unit: str = "W",
    model_options: dict | None = None,
    progress=None,
) -> BacktestResult:
    """Backtest ``model`` on ``series``: issue, calibrate, score; optionally window forecasts.

    Args:
        series: observed values (interval-start labels, regular step).
        model: a forecaster or a registered name (``model_options`` go to it).
        horizons_s: horizons scored [s].
        quantiles: quantile levels; the first and last bound the interval.
        warmup_s: issues before ``start + warmup_s`` only feed fitting and
            calibration; scores use the later ones [s].
        issue_every_s, refit_every_s: as in :func:`issue_forecasts` [s].
        calibration_window_s: rolling conformal history [s].
        threshold: window threshold in the series' unit; None: no window scores.
        window_horizons_s: horizon grid for window paths [s] (default: half-hourly
            to 4 h, then hourly to 24 h, those on the series' steps, cut to the series).
    """
    step = series_step_s(series, f"backtest '{site}'")
    span_s = (len(series) - 1) * step
    where = f"backtest '{site}'"
    warmup_s = check_spacing(warmup_s, step, "warmup_s", where, whole_steps=False,
                             allow_zero=True)
    issue_every_s = check_spacing(issue_every_s, step, "issue_every_s", where)
    refit_every_s = check_spacing(refit_every_s, step, "refit_every_s", where, whole_steps=False)
    calibration_window_s = check_spacing(calibration_window_s, step, "calibration_window_s",
                                         where, whole_steps=False)
    if threshold is not None and not np.isfinite(float(threshold)):
        raise ConfigError(f"{where}: threshold must be finite, got {threshold!r}")
    fc = create_forecaster(model, **(model_options or {})) if isinstance(model, str) else model
    grid = np.asarray(horizons_s, dtype=float)
    if threshold is not None:
        if window_horizons_s is not None:
            wh = np.asarray(window_horizons_s, dtype=float)
        else:  # the default grid, on the series' own steps (an hourly one has no 30 min)
            wh = np.concatenate([np.arange(1, 9) * 1800.0, np.arange(5, 25) * 3600.0])
            wh = wh[np.isclose(np.round(wh / step) * step, wh)]
        wh = wh[wh <= min(span_s - warmup_s, 24 * 3600.0)]
        grid = np.union1d(grid, wh)
    if warmup_s + grid.max() >= span_s:
        raise ConfigError(f"backtest '{site}': warm-up {warmup_s / 86400:g} d plus the longest "
                          f"horizon {grid.max() / 3600:g} h exceed the series "
                          f"({span_s / 86400:g} d); shorten them or give a longer series")
    raw = issue_forecasts(fc, series, horizons_s=grid, quantiles=quantiles,
                          issue_every_s=issue_every_s, refit_every_s=refit_every_s,
                          progress=progress)
    cal = calibrate(raw, series, window_s=calibration_window_s)
    eval_start = series.index[0] + pd.Timedelta(seconds=warmup_s)
    rows = np.flatnonzero(raw.issue_times >= eval_start)
    if rows.size == 0:
        raise ConfigError(f"backtest '{site}': no issue after the warm-up (issued every "
                          f"{issue_every_s / 3600:g} h); shorten the warm-up or the issue "
                          "spacing")
    actual = cal.actuals(series)
    pos = series.index.searchsorted(raw.issue_times)
    pers = np.broadcast_to(series.to_numpy(dtype=float)[pos][:, None], actual.shape)
    y = series.to_numpy(dtype=float)
    floor, span = float(y.min()), float(np.ptp(y)) or 1.0
    keep = np.isin(raw.horizons_s, np.asarray(horizons_s, dtype=float))
    sub = np.flatnonzero(keep)
    table_sc = ForecastTable(cal.issue_times, cal.horizons_s[sub], cal.quantiles,
                             cal.values[:, sub], cal.name, cal.unit)
    table_raw = ForecastTable(raw.issue_times, raw.horizons_s[sub], raw.quantiles,
                              raw.values[:, sub], raw.name, raw.unit)
    per_h = _metrics(table_sc, table_raw, actual[:, sub], pers[:, sub], rows, floor, span)
    summary = {
        "skill_1_4h_mean": float(per_h.loc[(per_h.index >= 1) & (per_h.index <= 4), "skill"]
                                 .mean()) if ((per_h.index >= 1) & (per_h.index <= 4)).any()
        else float("nan"),
        "mae_mean": float(per_h["mae"].mean()),
        "rmse_mean": float(per_h["rmse"].mean()),
        "skill_mean": float(per_h["skill"].mean()),
        "pinball_mean": float(per_h["pinball"].mean()),
        "coverage": float(np.average(per_h["coverage"], weights=per_h["n"])),
        # pooled over the active pairs: each horizon weighs by its number of active pairs
        "coverage_active": _pooled(per_h["coverage_active"], per_h["n_active"]),
        "coverage_raw": float(np.average(per_h["coverage_raw"], weights=per_h["n"])),
        "interval": [cal.quantiles[0], cal.quantiles[-1]],
        "issues_scored": int(rows.size),
    }
    result = BacktestResult(site, fc.name, unit, per_h, summary, raw, cal, series, eval_start)
    if threshold is not None:
        wf = forecast_windows(cal, series, threshold, window_s=calibration_window_s)
        real = realized_windows(series, threshold, wf.horizon_s, wf.issue_times)
        r = real["remaining_s"].to_numpy()[rows]
        ok = ~np.isnan(r)
        f = wf.remaining_s[rows][ok]
        r = r[ok]
        iw = wf.in_window[rows][ok]
        med = f[:, wf.qpos(0.5)] if 0.5 in wf.quantiles else f[:, f.shape[1] // 2]
        inside = (r >= f[:, 0]) & (r <= f[:, -1])
        wr = forecast_windows(cal, series, threshold, calibrate=False)
        fr = wr.remaining_s[rows][ok]
        inside_raw = (r >= fr[:, 0]) & (r <= fr[:, -1])
        med_raw = fr[:, fr.shape[1] // 2]
        result.windows = wf
        result.window_metrics = {
            "threshold": float(threshold),
            "horizon_h": wf.horizon_s / 3600.0,
            "n": int(r.size),
            "mae_h": float(np.mean(np.abs(med - r)) / 3600.0) if r.size else float("nan"),
            "bias_h": float(np.mean(med - r) / 3600.0) if r.size else float("nan"),
            "coverage": float(inside.mean()) if r.size else float("nan"),
            "in_window_n": int(iw.sum()),
            "in_window_mae_h": float(np.mean(np.abs(med - r)[iw]) / 3600.0) if iw.any()
            else float("nan"),
            "in_window_coverage": float(inside[iw].mean()) if iw.any() else float("nan"),
            "below_p10": float(np.mean(r < f[:, 0])) if r.size else float("nan"),
            "above_p90": float(np.mean(r > f[:, -1])) if r.size else float("nan"),
            "mae_raw_h": float(np.mean(np.abs(med_raw - r)) / 3600.0) if r.size
            else float("nan"),
            "coverage_raw": float(inside_raw.mean()) if r.size else float("nan"),
        }
    return result


def plot_backtest(result: BacktestResult, path, *, horizon_s: float | None = None,
                  days: float = 4.0) -> None:
    """Forecast (median and interval) against actual for one horizon over the last days."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tab = result.calibrated
    h = horizon_s if horizon_s is not None else float(
        tab.horizons_s[np.argmin(np.abs(tab.horizons_s - 3600.0))])
    j = tab.horizon_index(h)
    end = result.series.index[-1]
    t0 = max(result.eval_start, end - pd.Timedelta(days=days))
    rows = np.flatnonzero(tab.issue_times >= t0)
    valid = tab.issue_times[rows] + pd.Timedelta(seconds=float(h))
    fig, axes = plt.subplots(2 if result.windows is not None else 1, 1, figsize=(11, 6.5 if
                             result.windows is not None else 3.8), sharex=True, squeeze=False)
    ax = axes[0, 0]
    s = result.series[(result.series.index >= t0) & (result.series.index <= end)]
    # in kW where the tables print kW (a site's surplus in W reads 250000 on the axis)
    k, unit = (1e-3, "kW") if result.unit == "W" else (1.0, result.unit)
    ax.plot(s.index, k * s.to_numpy(), color="black", lw=1.0, label="actual")
    v = k * tab.values[rows, j]
    ax.fill_between(valid, v[:, 0], v[:, -1], color="tab:green", alpha=0.25, lw=0,
                    label=f"p{round(tab.quantiles[0] * 100)}-p{round(tab.quantiles[-1] * 100)} "
                          "(calibrated)")
    ax.plot(valid, k * tab.median()[rows, j], color="tab:green", lw=1.2,
            label=f"{result.model} median, {h / 3600:g} h ahead")
    ax.set_ylabel(f"{result.site} [{unit}]")
    ax.legend(loc="upper left", fontsize=8, ncols=3)
    ax.set_title(f"{result.model} forecast {h / 3600:g} h ahead vs actual: "
                 f"skill {result.per_horizon.loc[h / 3600, 'skill']:+.2f}, "
                 f"coverage {result.per_horizon.loc[h / 3600, 'coverage']:.0%}", fontsize=10)
    if result.windows is not None:
        wf = result.windows
        wrows = np.flatnonzero(wf.issue_times >= t0)
        real = realized_windows(result.series, wf.threshold_w, wf.horizon_s,
                                wf.issue_times[wrows])
        ax2 = axes[1, 0]
        ax2.plot(wf.issue_times[wrows], real["remaining_s"] / 3600, color="black", lw=1.0,
                 label="realised remaining window")
        r = wf.remaining_s[wrows] / 3600
        ax2.fill_between(wf.issue_times[wrows], r[:, 0], r[:, -1], color="tab:blue",
                         alpha=0.25, lw=0, label="forecast p10-p90")
        ax2.plot(wf.issue_times[wrows], r[:, r.shape[1] // 2], color="tab:blue", lw=1.0,
                 label="forecast p50")
        ax2.set_ylabel("window [h]")
        ax2.legend(loc="upper left", fontsize=8, ncols=3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
