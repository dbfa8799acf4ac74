"""Grid signals per site and step, the objective's weight of grid energy, and what of it
a policy may see.

A scenario's grid zones give every site per step (history and horizon, ``[H+T, S]``) a
marginal and an average carbon intensity [gCO2/kWh], an energy price [currency/MWh] and
a flag saying that the grid supply counts as green (a negative-price or high-curtailment
hour, ``docs/grid.md``). The objective turns them into the weight of one joule of grid
energy (:func:`grid_weights`):

* ``energy``: 1 everywhere (today's objective: every joule of grid energy counts);
* ``carbon`` / ``carbon-average``: marginal / average intensity [g/J];
* ``cost``: the price [currency/J], a negative price weighing 0;

and 0 in green hours under the three non-energy objectives.

What a policy sees (:meth:`GridFeed.attach`): the weight now and the weights of the
next ``F`` steps as issued at or before now, copied into buffers of their own: for each
site and target step, the true weight where it is published by now (``known_until``,
e.g. day-ahead prices), else the weight of the same time of day on the latest day that
is published (a seasonal-naive forecast; before the first day of the data, the latest
published weight). Nothing after that is reachable from the Observation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.observation import Observation

OBJECTIVES = ("energy", "carbon", "carbon-average", "cost")
J_PER_KWH = 3.6e6
J_PER_MWH = 3.6e9


def grid_weights(objective: str, carbon_g_per_kwh: np.ndarray, carbon_avg_g_per_kwh: np.ndarray,
                 price_per_mwh: np.ndarray, green: np.ndarray) -> np.ndarray:
    """The weight of one joule of grid energy per step and site under ``objective``
    [1, g/J or currency/J]. The scenario parser requires every site to have the signal
    its objective needs, so no weight is NaN."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    shape = np.shape(green)
    if objective == "energy":
        return np.ones(shape)
    if objective == "carbon":
        w = np.asarray(carbon_g_per_kwh, dtype=float) / J_PER_KWH
    elif objective == "carbon-average":
        w = np.asarray(carbon_avg_g_per_kwh, dtype=float) / J_PER_KWH
    else:
        w = np.maximum(np.asarray(price_per_mwh, dtype=float), 0.0) / J_PER_MWH
    return np.where(np.asarray(green, dtype=bool), 0.0, w)


@dataclass(frozen=True)
class GridSignals:
    """Grid signals of a run per step (history and horizon) and site, ``[H+T, S]``.

    Attributes:
        objective: one of :data:`OBJECTIVES`.
        currency: the currency of ``price_per_mwh`` (e.g. ``EUR``).
        history_steps: ``H``: row ``H + k`` is step ``k`` of the run.
        carbon_g_per_kwh: marginal intensity [gCO2/kWh] (NaN where none is configured).
        carbon_avg_g_per_kwh: average intensity [gCO2/kWh] (NaN where none).
        price_per_mwh: price [currency/MWh] (NaN where none).
        green: the grid supply counts as green (negative price, high curtailment).
        known_until: the last row whose weight is published at each row (``>=`` the row).
        forecast_horizon_s: how far ahead policies see the weights [s].
    """

    objective: str
    currency: str
    history_steps: int
    carbon_g_per_kwh: np.ndarray
    carbon_avg_g_per_kwh: np.ndarray
    price_per_mwh: np.ndarray
    green: np.ndarray
    known_until: np.ndarray
    forecast_horizon_s: float = 86400.0

    def weights(self, objective: str | None = None) -> np.ndarray:
        """Weight of a joule of grid energy ``[H+T, S]`` under ``objective`` (default own)."""
        return grid_weights(objective or self.objective, self.carbon_g_per_kwh,
                            self.carbon_avg_g_per_kwh, self.price_per_mwh, self.green)

    def horizon(self, values: np.ndarray) -> np.ndarray:
        """The rows of the run's steps (history dropped), ``[T, S]``."""
        return values[self.history_steps:]


class GridFeed:
    """Hands a policy the objective's weights of grid energy, past-only (see module doc)."""

    def __init__(self, signals: GridSignals, forecast_steps: int, step_s: float) -> None:
        self.signals = signals
        self.period = max(round(86400.0 / float(step_s)), 1)   # steps per day
        self.weight = signals.weights()
        self.forecast_steps = max(int(forecast_steps), 1)
        n_sites = self.weight.shape[1]
        self.now_w = np.zeros(n_sites)
        self.fc_w = np.zeros((self.forecast_steps, n_sites))
        self._cols = np.arange(n_sites)

    def forecast(self, step: int) -> np.ndarray:
        """The weights of steps ``step .. step+F-1`` as issued at ``step``, ``[F, S]`` (a
        view of this feed's buffer)."""
        row = self.signals.history_steps + step
        last = self.weight.shape[0] - 1
        known = self.signals.known_until[row]                     # [S]
        targets = np.minimum(row + np.arange(self.forecast_steps), last)[:, None]
        # beyond what is published: the same time of day on the latest published day
        days = np.maximum(-((known[None, :] - targets) // self.period), 0)
        rows = targets - days * self.period
        rows = np.where(rows < 0, known[None, :], rows)
        self.fc_w[:] = self.weight[rows, self._cols[None, :]]
        return self.fc_w

    def attach(self, obs: Observation) -> Observation:
        """``obs`` with the grid objective and its weights now and ahead (read-only)."""
        if self.signals.objective == "energy":
            return obs
        fc = self.forecast(obs.step)
        self.now_w[:] = fc[0]
        now, ahead = self.now_w.view(), fc.view()
        now.flags.writeable = False
        ahead.flags.writeable = False
        return replace(obs, grid_objective=self.signals.objective, grid_weight_per_j=now,
                       grid_weight_forecast_per_j=ahead)
