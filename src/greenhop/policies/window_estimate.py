"""Estimate each site's remaining surplus window from the past only.

:class:`HistoricalWindowEstimator` is the default estimate the
``feasibility-aware`` policy uses when the Observation carries no forecast
(``window_forecast_s is None``): for a site that is in a window now, the
estimate is the **mean remaining window observed at that site at the same time
of day** on earlier days (over every past step that was inside a window, whose
window has since ended). It reads only ``observation.history``, which refuses
anything after now, so it cannot leak the future. A forecaster (greenhop.forecast) replaces
it by filling ``Observation.window_forecast_s``; any object with
``estimate(observation) -> ndarray[S]`` can be passed to the policy instead.

A window is a maximal run of steps with surplus at or above ``threshold_w`` (as in
:func:`greenhop.traces.windows.remaining_window_s`).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from greenhop.core.observation import Observation
from greenhop.policies.base import estimator_param, threshold_param


class WindowEstimator(Protocol):
    """Remaining surplus window per site [s] (0 where no window is open now)."""

    def estimate(self, observation: Observation) -> np.ndarray: ...


class HistoricalWindowEstimator:
    """Mean remaining window at the same time of day, learnt incrementally from history.

    Args:
        threshold_w: surplus at or above which a step belongs to a window [W]; ``None``
            (default) uses the Observation's ``window_threshold_w``.
        min_samples: past observations a time-of-day slot needs; with fewer, the site's
            mean over all slots is used; with none at all (no window has ended yet), the
            age of the open window.
        slot_s: width of the time-of-day bins [s] (default: the step).
    """

    def __init__(self, threshold_w: float | None = None, min_samples: int = 1,
                 slot_s: float | None = None) -> None:
        self.threshold_w = threshold_w
        self.min_samples = int(min_samples)
        self.slot_s = slot_s
        self._next_step: int | None = None

    def _init(self, obs: Observation) -> None:
        n_sites = obs.n_sites
        self._dt = obs.dt_s
        self._slot = float(self.slot_s or obs.dt_s)
        self._n_slots = max(1, int(np.ceil(86400.0 / self._slot)))
        self._sums = np.zeros((n_sites, self._n_slots))
        self._counts = np.zeros((n_sites, self._n_slots))
        self._tot_sums = np.zeros(n_sites)
        self._tot_counts = np.zeros(n_sites)
        # Means kept as windows end, so that a step only looks them up.
        self._means = np.zeros((n_sites, self._n_slots))
        self._tot_means = np.zeros(n_sites)
        self._open = np.zeros(n_sites, dtype=bool)
        self._run_start = np.zeros(n_sites, dtype=np.int64)
        self._next_step = obs.history.first_step
        self._first_step = obs.history.first_step
        self._start_unix = obs.start_unix_s
        self._thr = float(obs.window_threshold_w if self.threshold_w is None else self.threshold_w)

    def _slots_of(self, steps: np.ndarray) -> np.ndarray:
        tod = np.mod(self._start_unix + steps * self._dt, 86400.0)
        return np.minimum((tod // self._slot).astype(np.int64), self._n_slots - 1)

    def _learn(self, obs: Observation) -> None:
        first = self._next_step
        inside_rows = obs.history.slice(first, obs.step + 1) >= self._thr
        for k in range(inside_rows.shape[0]):
            inside = inside_rows[k]
            changed = inside != self._open
            if not changed.any():  # the common step: no window opened or closed
                continue
            step = first + k
            ended = changed & self._open
            for s in np.flatnonzero(ended).tolist():
                run = np.arange(max(int(self._run_start[s]), self._first_step), step)
                if run.size:
                    slots = self._slots_of(run)
                    remaining = (step - run) * self._dt
                    if run.size <= self._n_slots:  # consecutive steps: distinct slots
                        self._sums[s, slots] += remaining
                        self._counts[s, slots] += 1.0
                    else:
                        np.add.at(self._sums[s], slots, remaining)
                        np.add.at(self._counts[s], slots, 1.0)
                    self._tot_sums[s] += remaining.sum()
                    self._tot_counts[s] += run.size
                    self._means[s, slots] = (self._sums[s, slots]
                                             / np.maximum(self._counts[s, slots], 1.0))
                    self._tot_means[s] = self._tot_sums[s] / max(self._tot_counts[s], 1.0)
            started = changed & inside
            self._run_start[started] = step
            self._open = inside.copy()
        self._next_step = obs.step + 1

    def estimate(self, observation: Observation) -> np.ndarray:
        """Estimated remaining window per site [s]; 0 where the site is not in a window now."""
        if self._next_step is None or observation.step + 1 < self._next_step:
            self._init(observation)
        self._learn(observation)
        tod = (self._start_unix + observation.step * self._dt) % 86400.0
        slot = min(int(tod // self._slot), self._n_slots - 1)
        learnt = self._counts[:, slot] >= self.min_samples
        est = np.where(learnt, self._means[:, slot], self._tot_means)
        unlearnt = self._tot_counts <= 0
        if unlearnt.any():
            # Without any finished window to learn from, the age of the open window is the
            # estimate (a window seen lasting this long is expected to last about as long
            # again).
            age = (observation.step + 1 - self._run_start) * self._dt
            est = np.where(learnt | ~unlearnt, est, age)
        return np.where(self._open, est, 0.0)


def window_estimate_s(observation: Observation, estimator: WindowEstimator) -> np.ndarray:
    """The forecast in the Observation when there is one, else ``estimator``'s estimate [s]."""
    if observation.window_forecast_s is not None:
        return np.asarray(observation.window_forecast_s, dtype=float)
    return estimator.estimate(observation)


def estimator_or_default(policy: str, estimator, window_threshold_w) -> WindowEstimator:
    """A policy's ``estimator`` parameter, else the default :class:`HistoricalWindowEstimator`
    at ``window_threshold_w`` [W] (``None``: the Observation's), both checked and named
    with ``policy`` when wrong."""
    return estimator_param(policy, "estimator", estimator) or HistoricalWindowEstimator(
        threshold_w=threshold_param(policy, "window_threshold_w", window_threshold_w))
