"""One call from an observed surplus series to calibrated window forecasts.

This is what a simulator precomputes once per site before a run: every
forecast a live orchestrator would have issued, refitted and calibrated only
on the data known at each issue. A policy then reads
``table.aligned(start, dt_s, n_steps).remaining(k, 0.1)`` in O(1) per query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from greenhop.forecast.base import Forecaster, create_forecaster, issue_forecasts
from greenhop.forecast.conformal import calibrate
from greenhop.forecast.table import DEFAULT_QUANTILES
from greenhop.forecast.windows import FleetWindowForecast, WindowForecastTable, forecast_windows

DAY_S = 86400.0

#: Horizon grid of window paths [s]: half-hourly to 4 h, then hourly to 24 h.
WINDOW_HORIZONS_S = np.concatenate([np.arange(1, 9) * 1800.0, np.arange(5, 25) * 3600.0])


def window_forecasts(
    surplus_w: pd.Series,
    threshold_w: float,
    *,
    model: Forecaster | str = "gbm",
    model_options: dict | None = None,
    horizons_s: Sequence[float] | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    issue_every_s: float | None = None,
    refit_every_s: float = 2 * DAY_S,
    calibration_window_s: float = 7 * DAY_S,
) -> WindowForecastTable:
    """Calibrated window-duration forecasts of one site, issued along ``surplus_w``.

    Args:
        surplus_w: observed surplus [W] (tz-aware UTC, regular step).
        threshold_w: a window is where surplus >= threshold [W].
        model, model_options: forecaster (name and options, or an instance).
        horizons_s: path grid [s] (default :data:`WINDOW_HORIZONS_S`, cut to
            the history); durations are capped at its last horizon.
        quantiles: levels of the durations (p10, p50, p90 by default).
        issue_every_s: spacing of issues [s] (default: every step).
        refit_every_s, calibration_window_s: refit period and rolling conformal
            history [s].
    """
    fc = create_forecaster(model, **(model_options or {})) if isinstance(model, str) else model
    grid = np.asarray(WINDOW_HORIZONS_S if horizons_s is None else horizons_s, dtype=float)
    table = issue_forecasts(fc, surplus_w, horizons_s=grid, quantiles=quantiles,
                            issue_every_s=issue_every_s, refit_every_s=refit_every_s)
    table = calibrate(table, surplus_w, window_s=calibration_window_s)
    return forecast_windows(table, surplus_w, threshold_w, window_s=calibration_window_s)


def fleet_window_forecasts(
    surplus_by_site: Mapping[str, pd.Series],
    threshold_w: float | Mapping[str, float],
    start,
    step_s: float,
    n_steps: int,
    *,
    known_after_s: float = 0.0,
    **kwargs,
) -> FleetWindowForecast:
    """:func:`window_forecasts` per site, aligned on one simulator grid and stacked."""
    tables = {}
    for name, s in surplus_by_site.items():
        thr = threshold_w[name] if isinstance(threshold_w, Mapping) else threshold_w
        tables[name] = window_forecasts(s, thr, **kwargs).aligned(start, step_s, n_steps,
                                                                   known_after_s)
    return FleetWindowForecast.stack(tables)
