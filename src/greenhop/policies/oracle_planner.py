"""``oracle-planner``: ``horizon-planner`` fed the **true future** surplus and windows.

**Not a deployable policy.** It plans on each site's true surplus over the horizon and
its true remaining window, which no one knows at decision time. It exists to split the
planner's distance to the bounds in two: what a perfect surplus forecast would win (the
oracle's lead over ``horizon-planner``) and what the plan's own limits cost even with it
(the oracle's distance to the ``spacetime`` bound: checkpoints, transfers, the alpha rule,
one move per job per plan, the delay weight). Measured on the packaged scenarios, it has
no lead: it uses more grid energy than ``horizon-planner`` (docs/planner.md, *Perfect
foresight*), so it is a comparison, not a ceiling.

The truth comes through the simulator's explicit future channel, as for
``oracle-window`` (:class:`~greenhop.sim.forecasts.TrueWindows`, bound before the run);
the Observation's history still refuses anything after now. A live run refuses it.
Everything else (the LP, the rounding, the rules, the fallback, the parameters) is the
planner's own code; only the forecast differs.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.observation import Observation
from greenhop.policies.base import POLICIES, Capabilities
from greenhop.policies.horizon_planner import HorizonPlannerPolicy
from greenhop.policies.planner_forecast import (
    HorizonForecast,
    forecast_from_steps,
    horizon_steps,
)

#: planner options that choose a forecast, which the oracle replaces by the truth
_FORECAST_OPTIONS = ("window", "rest", "q", "quantile", "history_days")


@POLICIES.register("oracle-planner")
class OraclePlannerPolicy(HorizonPlannerPolicy):
    """``horizon-planner`` on the true future surplus and windows, for comparison.

    Takes :class:`~greenhop.policies.horizon_planner.HorizonPlannerPolicy`'s parameters
    except those that choose a forecast (``window``, ``rest``, ``q``, ``history_days``;
    the scenario's ``quantile`` is ignored). It sees the future: never deploy it.
    """

    name = "oracle-planner"
    summary = ("horizon-planner on the true future surplus and windows (for comparison; "
               "simulator only)")
    capabilities = Capabilities(migrates=True, suspends=True, places=True,
                                sees_future=True)

    def __init__(self, **kwargs) -> None:
        kwargs.pop("quantile", None)  # the scenario's forecast quantile: no forecast here
        given = sorted(k for k in _FORECAST_OPTIONS if k in kwargs)
        if given:
            raise ConfigError(f"oracle-planner: {', '.join(given)} choose(s) a forecast, and "
                              "this planner plans on the true future; set them on "
                              "horizon-planner")
        try:
            super().__init__(**kwargs)
        except ConfigError as exc:  # the planner's checks, named after this policy
            raise ConfigError(str(exc).replace("horizon-planner:", "oracle-planner:", 1)) from None
        self._truth = None

    def bind_true_windows(self, source) -> None:
        """Receive the true windows and surplus (the simulator's explicit future channel)."""
        self._truth = source

    def _forecast(self, obs: Observation, hist_window_s: np.ndarray) -> HorizonForecast:
        if self._truth is None:
            raise ConfigError("oracle-planner sees the future and runs only in the simulator, "
                              "which hands it the true surplus; use horizon-planner elsewhere")
        edges = self._edges_s
        step_w = np.asarray(self._truth.surplus_ahead_w(obs.step, horizon_steps(edges, obs.dt_s)),
                            dtype=float)
        window = np.asarray(self._truth.remaining_s(obs.step), dtype=float)
        return forecast_from_steps(edges, step_w, window, obs.dt_s)
