"""Surplus forecasting: the Forecaster protocol, baselines, a learned model, replay of
issued forecasts, conformal calibration, window-duration forecasts and backtests.

Forecasters are chosen by name (:data:`FORECASTERS`): ``persistence``,
``seasonal-naive``, ``clear-sky-persistence``, ``gbm``, ``replay``. See
``docs/forecasting.md``.
"""

from greenhop.forecast import models as _models  # noqa: F401  (registers the forecasters)
from greenhop.forecast.base import (
    FORECASTERS,
    BaseForecaster,
    Forecaster,
    create_forecaster,
    issue_forecasts,
)
from greenhop.forecast.conformal import calibrate
from greenhop.forecast.pipeline import fleet_window_forecasts, window_forecasts
from greenhop.forecast.table import DEFAULT_QUANTILES, ForecastTable
from greenhop.forecast.windows import (
    FleetWindowForecast,
    WindowForecastTable,
    forecast_windows,
    forecast_windows_fleet,
    realized_windows,
)

__all__ = [
    "DEFAULT_QUANTILES",
    "FORECASTERS",
    "BaseForecaster",
    "FleetWindowForecast",
    "ForecastTable",
    "Forecaster",
    "WindowForecastTable",
    "calibrate",
    "create_forecaster",
    "fleet_window_forecasts",
    "forecast_windows",
    "forecast_windows_fleet",
    "issue_forecasts",
    "realized_windows",
    "window_forecasts",
]
