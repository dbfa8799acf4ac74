"""Past-only surplus forecasts over a planning horizon, for ``horizon-planner``.

The planner needs each site's surplus power [W] over coarse time blocks of the horizon and
each site's remaining window [s]. Both come from what the Observation carries, nothing
later than now:

* **persistence inside the forecast window**: a site that is in a window now (surplus at or
  above ``window_threshold_w``) keeps its current surplus for the remaining window at
  forecast quantile ``q`` (``Observation.window_forecast_q_s``, interpolated between the
  levels it carries);
* **a diurnal profile** for the rest: the mean surplus at the same time of day over the
  last ``days`` days of ``Observation.history`` (for a step ``o`` steps ahead, days
  ``k >= max(1, ceil(o / steps_per_day))`` back, so every value read is from the past);
* the first step is the surplus measured now.

Where no window forecast exists (``None`` or ``NaN``), the remaining window is the run of
profile steps at or above the threshold starting now (0 for a site not in a window).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greenhop.core.observation import Observation

DAY_S = 86400.0


def block_edges_s(epoch_s: float, horizon_s: float) -> np.ndarray:
    """Block boundaries [s] from now: the first epoch, hourly blocks to 3 h, 3-hour blocks to
    12 h, then 6-hour blocks to the horizon (the last one cut at the horizon): fine where the
    forecast is good and the decision near, coarse after."""
    edges = [0.0, float(epoch_s)]
    t = float(epoch_s)
    while t < horizon_s - 1e-9:
        step = 3600.0 if t < 3 * 3600.0 else (3 * 3600.0 if t < 12 * 3600.0 else 6 * 3600.0)
        t = min(t + step, float(horizon_s))
        edges.append(t)
    return np.asarray(edges)


def quantile_column(obs: Observation, q: float) -> np.ndarray | None:
    """Quantile ``q`` of every site's window forecast [s] (linear between the levels the
    Observation carries, clipped to its range); ``None`` without forecasts."""
    wq = obs.window_forecast_q_s
    if wq is None or not obs.window_forecast_quantiles:
        return None
    levels = np.asarray(obs.window_forecast_quantiles, dtype=float)
    if levels.size == 1:
        return np.asarray(wq[:, 0], dtype=float)
    k = int(np.clip(np.searchsorted(levels, q), 1, levels.size - 1))
    lo, hi = levels[k - 1], levels[k]
    w = float(np.clip((q - lo) / (hi - lo), 0.0, 1.0))
    return (1.0 - w) * np.asarray(wq[:, k - 1], float) + w * np.asarray(wq[:, k], float)


@dataclass(frozen=True)
class HorizonForecast:
    """Forecast surplus per site and block, and the remaining window per site.

    Attributes:
        edges_s: block boundaries from now [s], ``[B + 1]``.
        surplus_w: mean forecast surplus (where positive) of each site in each block [W],
            ``[S, B]``.
        window_s: remaining window at quantile ``q`` where a site is in a window now, else 0 [s].
        step_surplus_w: the per-step forecast behind ``surplus_w`` [W], ``[S, n]``.
    """

    edges_s: np.ndarray
    surplus_w: np.ndarray
    window_s: np.ndarray
    step_surplus_w: np.ndarray


def diurnal_profile_w(obs: Observation, n_steps: int, days: int) -> np.ndarray:
    """Mean surplus [W] at the same time of day over the last ``days`` days, for steps
    ``0 .. n_steps-1`` ahead, ``[S, n_steps]``; reads only the past (see module docstring).
    Where no past day is available, the current surplus stands in."""
    hist = obs.history
    spd = max(1, round(DAY_S / obs.dt_s))
    offs = np.arange(n_steps)
    k0 = np.maximum(1, -(-offs // spd))  # ceil(o / spd), at least one day back
    ks = k0[:, None] + np.arange(days)[None, :]  # [n, days]
    steps = obs.step + offs[:, None] - ks * spd
    first = max(hist.first_step, int(steps.min()))
    data = np.asarray(hist.slice(first, obs.step + 1), dtype=float)  # [m, S]
    ok = steps >= first
    idx = np.clip(steps - first, 0, max(data.shape[0] - 1, 0))
    if data.shape[0] == 0:
        return np.repeat(np.asarray(obs.surplus_w, float)[:, None], n_steps, axis=1)
    vals = data[idx]  # [n, days, S]
    cnt = ok.sum(axis=1)  # [n]
    mean = (vals * ok[:, :, None]).sum(axis=1) / np.maximum(cnt, 1)[:, None]
    mean = np.where(cnt[:, None] > 0, mean, np.asarray(obs.surplus_w, float)[None, :])
    return mean.T


def horizon_forecast(obs: Observation, edges_s: np.ndarray, q: float, days: int = 3,
                     threshold_w: float | None = None, rest: str = "diurnal",
                     window_s: np.ndarray | None = None) -> HorizonForecast:
    """Block surplus [W] and remaining windows [s] for every site (see module docstring);
    ``window_s`` replaces the window forecast where given (e.g. a historical estimate);
    ``rest="persistence"`` replaces the diurnal profile by the surplus now."""
    dt = obs.dt_s
    n = horizon_steps(edges_s, dt)
    thr = obs.window_threshold_w if threshold_w is None else threshold_w
    now = np.asarray(obs.surplus_w, dtype=float)
    if rest == "persistence":
        prof = np.repeat(now[:, None], n, axis=1)
    else:
        prof = diurnal_profile_w(obs, n, days)  # [S, n]
    inside = now >= thr
    fc = quantile_column(obs, q)
    # Window of the profile: steps at or above the threshold from now on.
    above = prof >= thr
    above[:, 0] = inside
    run = np.where(above.all(axis=1), n, np.argmin(above, axis=1)) * dt
    window = run.astype(float)
    if window_s is not None:
        window = np.asarray(window_s, dtype=float)
    elif fc is not None:
        window = np.where(np.isnan(fc), window, fc)
    window = np.where(inside, np.maximum(window, 0.0), 0.0)
    t_step = np.arange(n) * dt
    persist = inside[:, None] & (t_step[None, :] < window[:, None])
    step_w = np.where(persist, now[:, None], prof)
    step_w[:, 0] = now
    return forecast_from_steps(edges_s, step_w, window, dt)


def horizon_steps(edges_s: np.ndarray, dt_s: float) -> int:
    """Number of steps of ``dt_s`` [s] that cover the horizon ``edges_s[-1]`` [s]."""
    return max(1, int(np.ceil(float(edges_s[-1]) / dt_s - 1e-9)))


def forecast_from_steps(edges_s: np.ndarray, step_w: np.ndarray, window_s: np.ndarray,
                        dt_s: float) -> HorizonForecast:
    """A :class:`HorizonForecast` from a per-step surplus forecast ``step_w`` [W],
    ``[S, n]`` with ``n = horizon_steps(edges_s, dt_s)``, and remaining windows [s]: the
    block surplus is the mean over the steps each block covers (whole steps up to rounding)
    of their surplus where positive. A deficit (base demand above the renewables, at night)
    is no surplus a job could use, and must not cancel the surplus of the block's other
    steps: a 6-hour block with 3 hours at +10 kW and 3 at -5 kW offers 5 kW on average, not
    2.5."""
    n = step_w.shape[1]
    lo = np.minimum((edges_s[:-1] / dt_s).astype(np.int64), n - 1)
    hi = np.maximum(np.minimum(np.ceil(edges_s[1:] / dt_s - 1e-9).astype(np.int64), n), lo + 1)
    usable = np.maximum(step_w, 0.0)
    csum = np.concatenate([np.zeros((step_w.shape[0], 1)), np.cumsum(usable, axis=1)], axis=1)
    block = (csum[:, hi] - csum[:, lo]) / (hi - lo)[None, :]
    return HorizonForecast(edges_s=edges_s, surplus_w=block,
                           window_s=np.asarray(window_s, dtype=float), step_surplus_w=step_w)
