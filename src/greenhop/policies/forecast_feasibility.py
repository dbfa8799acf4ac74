"""``forecast-feasibility``: the feasibility-aware rule, deciding on a quantile of a window
forecast.

The rule, the hysteresis and the choice of destination are those of
:class:`~greenhop.policies.feasibility_aware.FeasibilityAwarePolicy` (this class
subclasses it and changes only where the destination's remaining window comes from):
a migration is feasible when its downtime fits in ``alpha`` x the ``quantile`` of the
destination's **forecast** remaining window (p10 by default: risk-averse, the window
lasts at least that long in about 90% of cases when the forecast is calibrated).

The forecasts come from the mechanism in ``Observation.window_forecast_q_s`` (the
simulator fills it from the scenario's ``[forecast]`` table with forecasts issued at or
before now only). A site that is not in a window now has no remaining window (0). Where
no forecast has been issued yet (``NaN``), or the mechanism has none at all (``None``),
the historical time-of-day estimate of ``feasibility-aware`` stands in.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.observation import Observation
from greenhop.policies.base import POLICIES, Capabilities
from greenhop.policies.feasibility_aware import FeasibilityAwarePolicy
from greenhop.policies.window_estimate import HistoricalWindowEstimator, WindowEstimator

DEFAULT_QUANTILE = 0.1


def check_quantile(quantile: float, where: str = "quantile") -> float:
    """``quantile`` as a float strictly inside (0, 1), else a ConfigError naming ``where``."""
    if isinstance(quantile, bool) or not isinstance(quantile, int | float):
        raise ConfigError(f"{where}: expected a number in (0, 1) such as 0.1, got {quantile!r}")
    q = float(quantile)
    if not 0.0 < q < 1.0:
        raise ConfigError(f"{where}: a quantile must be strictly between 0 and 1 (0.1 = p10), "
                          f"got {quantile!r}")
    return q


class ForecastQuantileEstimator:
    """Remaining window per site [s] from a quantile of the Observation's window forecasts.

    Args:
        quantile: level read from ``Observation.window_forecast_q_s`` [-].
        fallback: estimate used where no forecast is available (default: the historical
            time-of-day mean, :class:`HistoricalWindowEstimator`).
        threshold_w: surplus at or above which a site is in a window [W] (``None``: the
            Observation's ``window_threshold_w``).
    """

    def __init__(self, quantile: float = DEFAULT_QUANTILE,
                 fallback: WindowEstimator | None = None,
                 threshold_w: float | None = None) -> None:
        self.quantile = check_quantile(quantile, "forecast-feasibility: quantile")
        self.fallback = fallback or HistoricalWindowEstimator(threshold_w=threshold_w)
        self.threshold_w = threshold_w

    def estimate(self, observation: Observation) -> np.ndarray:
        """The forecast quantile where the site is in a window now, 0 elsewhere [s]."""
        obs = observation
        fc = obs.window_forecast_at(self.quantile)
        if fc is None:
            return self.fallback.estimate(obs)
        est = np.asarray(fc, dtype=float)
        missing = np.isnan(est)
        if missing.any():
            est = np.where(missing, self.fallback.estimate(obs), est)
        thr = obs.window_threshold_w if self.threshold_w is None else self.threshold_w
        return np.where(obs.surplus_w >= thr, est, 0.0)


@POLICIES.register("forecast-feasibility")
class ForecastFeasibilityPolicy(FeasibilityAwarePolicy):
    """``feasibility-aware`` deciding on a quantile of the destination's window forecast.

    Args:
        quantile: forecast level the feasibility test uses (default 0.1, p10: a risk-averse
            choice; 0.5 is the median). In the simulator the scenario's ``forecast.quantile``
            is the default.
        **kwargs: the parameters of
            :class:`~greenhop.policies.feasibility_aware.FeasibilityAwarePolicy` (``alpha``,
            ``min_dwell_s``, ``min_gain``, ``require_justified``, ``window_threshold_w``,
            ``prefer``).
    """

    name = "forecast-feasibility"
    summary = "feasibility-aware on a quantile of a window forecast"
    capabilities = Capabilities(migrates=True, window_forecasts=True)
    #: the simulator computes window forecasts only when a policy of the run needs them
    use_observation_forecast = False

    def __init__(self, quantile: float = DEFAULT_QUANTILE, **kwargs) -> None:
        if "estimator" in kwargs:
            raise ConfigError("forecast-feasibility: the window comes from the forecasts; "
                              "use feasibility-aware to pass an estimator")
        thr = kwargs.get("window_threshold_w")
        est = ForecastQuantileEstimator(quantile, threshold_w=thr)
        super().__init__(estimator=est, **kwargs)
        self.quantile = est.quantile
