"""Window forecasts for the fleet: the scenario's forecaster run as it would run live.

:func:`issue_window_forecasts` runs the ``[forecast]`` forecaster over each site's surplus
series (history included), calibrates it and turns it into quantiles of the remaining (or
next) surplus window, on the fleet's step grid: at step ``k`` a policy sees the latest
window forecast issued at or before ``k`` (the value of step ``k`` is measured at ``k``),
aged by the time since its issue. The simulator calls it once on the whole trace
(``greenhop.sim.forecasts.build_window_forecasts``); a live run calls it through
:class:`LiveWindowForecasts` on the surplus measured so far. Every forecast issued at
``t`` depends only on values labelled ``<= t`` (checked by :class:`AuditedForecaster`), so
both see the same numbers at the same step.

No leakage, by construction and checked:

* the forecaster is fitted on ``series[: issue + 1]`` only and predicts from a series
  that ends at the last issue of the batch (:func:`greenhop.forecast.issue_forecasts`);
* every batch of predictions is audited: its first, last and a seeded random issue
  are predicted again from a series cut at that issue, and must come out identical.
  A forecaster that reads a value after its issue time fails loudly with
  :class:`~greenhop.core.observation.LeakageError` instead of quietly looking good;
* calibration uses only outcomes known at each issue (:mod:`greenhop.forecast`).

Units: seconds, watts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from greenhop.core.errors import ConfigError, UserError
from greenhop.core.observation import LeakageError
from greenhop.core.readonly import readonly
from greenhop.fleet.inputs import FleetInputs, FleetParams

DAY_S = 86400.0
#: models whose options take the site location (filled from the site when not given)
LOCATED_MODELS = ("gbm", "clear-sky-persistence")


@dataclass(frozen=True)
class ForecastSpec:
    """The scenario's ``[forecast]`` table (SI units).

    Attributes:
        model: forecaster name (``greenhop.forecast.FORECASTERS``).
        quantile: level ``forecast-feasibility`` decides on by default [-].
        options: keyword options of the forecaster (``latitude_deg`` / ``longitude_deg``
            are filled from each site for ``gbm`` and ``clear-sky-persistence``).
        quantiles: levels computed and handed to policies (always includes ``quantile``,
            and a scenario's policy ``quantile`` parameters, see
            :func:`greenhop.sim.forecasts.with_policy_quantiles`).
        issue_every_s: spacing of issued forecasts [s].
        refit_every_s: refit period of learned models [s].
        calibration_window_s: rolling conformal history [s].
        horizon_s: longest lead of the window paths [s]; durations are capped there.
        files: ``replay`` only: per site, the issued surplus forecasts
            (:class:`~greenhop.forecast.ForecastTable`, read and validated at load).
        locations: per site, ``(latitude_deg, longitude_deg)``, filled into the options of
            the models that take a location (``gbm``, ``clear-sky-persistence``).
    """

    model: str = "seasonal-naive"
    quantile: float = 0.1
    options: dict[str, Any] = field(default_factory=dict)
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    issue_every_s: float = 900.0
    refit_every_s: float = 2 * DAY_S
    calibration_window_s: float = 7 * DAY_S
    horizon_s: float = DAY_S
    files: dict[str, Any] = field(default_factory=dict)
    locations: dict[str, tuple[float, float]] = field(default_factory=dict)


def site_options(model: str, options: dict, location: tuple[float, float] | None) -> dict:
    """``options`` with the site's location filled in for the models that take one."""
    opts = dict(options)
    if model in LOCATED_MODELS and location is not None:
        opts.setdefault("latitude_deg", location[0])
        opts.setdefault("longitude_deg", location[1])
    return opts


# --------------------------------------------------------------------- audit
class AuditedForecaster:
    """Wraps a forecaster; re-predicts sample issues from a series cut at the issue.

    A forecast issued at ``t`` must not change when the data after ``t`` are removed.
    Any difference, or an ``IndexError`` from a series that ends at the issue, is a
    :class:`LeakageError` naming the forecaster and the issue time.
    """

    def __init__(self, inner, site: str, seed: int = 0) -> None:
        self.inner = inner
        self.site = site
        self.name = inner.name
        self.min_history_s = getattr(inner, "min_history_s", 0.0)
        self._rng = np.random.default_rng(seed)
        if hasattr(inner, "issue_range"):
            self.issue_range = inner.issue_range

    def prepare(self, horizons_s, quantiles) -> None:
        if hasattr(self.inner, "prepare"):
            self.inner.prepare(horizons_s, quantiles)

    def fit(self, history: pd.Series) -> None:
        self.inner.fit(history)

    def _leak(self, when, detail: str) -> LeakageError:
        return LeakageError(
            f"forecast.model: forecaster '{self.name}' at site '{self.site}' used data after "
            f"its issue time {when}: {detail}. A forecast issued at t may only use values "
            "labelled <= t (docs/forecasting.md, the no-leakage rule); fix the forecaster")

    def predict_many(self, series, issue_positions, horizons_s, quantiles):
        pos = np.asarray(issue_positions, dtype=np.int64)
        try:
            out = np.asarray(self.inner.predict_many(series, pos, horizons_s, quantiles))
        except IndexError as exc:
            raise self._leak(series.index[int(pos[-1])],
                             f"it indexed past the end of a series that ends there ({exc})"
                             ) from None
        picks = {0, pos.size - 1, int(self._rng.integers(pos.size))}
        for i in sorted(picks):
            p = int(pos[i])
            try:
                again = np.asarray(self.inner.predict_many(series.iloc[: p + 1], pos[i:i + 1],
                                                           horizons_s, quantiles))[0]
            except IndexError as exc:
                raise self._leak(series.index[p], f"it indexed past the end of a series cut "
                                 f"at the issue ({exc})") from None
            if not np.allclose(again, out[i], rtol=1e-9, atol=1e-9, equal_nan=True):
                raise self._leak(series.index[p], "its forecast changed when the data after "
                                 "the issue time were removed")
        return out


# --------------------------------------------------------------------- window forecasts
@dataclass(frozen=True)
class WindowForecasts:
    """Window forecasts on the fleet's step grid (steps ``0 .. T-1``).

    Attributes:
        quantiles: levels of the last axis [-].
        remaining_s: ``[T, S, Q]`` quantiles of each site's remaining (or next) window [s],
            the latest forecast issued at or before each step, minus its age where the site
            was in a window at the issue; NaN before the first issue. Read-only.
        issued_step: ``[T, S]`` step of the issue behind each value (< 0: history; the
            minimum over steps is checked to be <= the step itself).
        name: the forecaster and its calibration.
    """

    quantiles: tuple[float, ...]
    remaining_s: np.ndarray
    issued_step: np.ndarray
    name: str

    def at(self, step: int) -> np.ndarray:
        """``[S, Q]`` view for ``step`` (read-only)."""
        return self.remaining_s[step]


def step_index(params: FleetParams, n_rows: int) -> pd.DatetimeIndex:
    """UTC start times of ``n_rows`` steps from the first history step on."""
    dt = params.step_s
    first = pd.Timestamp(params.start_unix_s - params.history_steps * dt, unit="s", tz="UTC")
    return pd.date_range(first, periods=n_rows, freq=pd.Timedelta(seconds=dt))


def issue_window_forecasts(inputs: FleetInputs, surplus_w: np.ndarray, spec: ForecastSpec,
                           seed: int = 0,
                           progress: Callable[[int, int], None] | None = None
                           ) -> WindowForecasts:
    """Issue, calibrate and align the window forecasts of every site.

    Args:
        inputs: the fleet (its step grid, sites and window threshold).
        surplus_w: ``[H + T, S]`` surplus [W], the ``H`` history steps first; ``T`` may be
            shorter than the run (a live run passes what it has measured).
        spec: the scenario's ``[forecast]`` table.
        seed: seeds the audit's random sample of issues (site ``i`` uses ``seed + i``).
        progress: optional ``progress(site, n_sites)``.

    Returns:
        :class:`WindowForecasts` for steps ``0 .. T-1``.
    """
    from greenhop.forecast import create_forecaster
    from greenhop.forecast.base import issue_forecasts
    from greenhop.forecast.conformal import calibrate
    from greenhop.forecast.pipeline import WINDOW_HORIZONS_S
    from greenhop.forecast.windows import forecast_windows

    params = inputs.params
    dt = params.step_s
    H = params.history_steps
    surplus_w = np.asarray(surplus_w, dtype=float)
    T = surplus_w.shape[0] - H
    index = step_index(params, surplus_w.shape[0])
    grid_ns = index[H:].as_unit("ns").asi8
    S = len(params.site_names)
    Q = len(spec.quantiles)
    out = np.full((T, S, Q), np.nan)
    issued = np.full((T, S), np.iinfo(np.int64).min, dtype=np.int64)
    horizons = WINDOW_HORIZONS_S[spec.horizon_s + 1e-9 >= WINDOW_HORIZONS_S]
    if horizons.size == 0 or horizons[-1] < spec.horizon_s - 1e-9:
        horizons = np.append(horizons, spec.horizon_s)
    horizons = np.unique(np.maximum(np.round(horizons / dt), 1) * dt)
    name = spec.model
    for i, site in enumerate(params.site_names):
        if progress is not None:
            progress(i, S)
        where = f"forecast (site '{site}')"
        series = pd.Series(surplus_w[:, i], index=index)
        try:
            if spec.model == "replay":
                table = spec.files[site]
                model = create_forecaster("replay", table=table)
                hz = table.horizons_s
                hz = hz[np.isclose(np.round(hz / dt) * dt, hz)]
                site_h = hz if hz.size else horizons
            else:
                model = create_forecaster(spec.model, **site_options(
                    spec.model, spec.options, spec.locations.get(site)))
                site_h = horizons
            audited = AuditedForecaster(model, site, seed=seed + i)
            raw = issue_forecasts(audited, series, horizons_s=site_h, quantiles=spec.quantiles,
                                  issue_every_s=spec.issue_every_s,
                                  refit_every_s=spec.refit_every_s)
            cal = calibrate(raw, series, window_s=spec.calibration_window_s)
            wf = forecast_windows(cal, series, params.window_threshold_w,
                                  window_s=spec.calibration_window_s)
        except LeakageError:
            raise
        except UserError as exc:
            raise ConfigError(
                f"{where}: {exc} (its series: the scenario's history, {H * dt / 3600:g} h, "
                f"and the run, {T * dt / 3600:g} h; forecast.horizon is "
                f"{spec.horizon_s / 3600:g} h, 24 h unless a [forecast] table sets it); see "
                "forecast.model / forecast.horizon / history in docs/simulator.md") from None
        name = wf.name
        # Row k = latest issue at or before step k (a value labelled k is known at k).
        iss_ns = wf.issue_times.as_unit("ns").asi8
        rows = np.searchsorted(iss_ns, grid_ns, side="right") - 1
        has = rows >= 0
        rc = np.maximum(rows, 0)
        age_s = (grid_ns - iss_ns[rc]) / 1e9
        rem = wf.remaining_s[rc]
        rem = np.where(wf.in_window[rc][:, None], np.maximum(rem - age_s[:, None], 0.0), rem)
        out[:, i, :] = np.where(has[:, None], rem, np.nan)
        step_of = np.round((iss_ns[rc] - grid_ns[0]) / 1e9 / dt).astype(np.int64)
        issued[:, i] = np.where(has, step_of, issued[:, i])
    if progress is not None:
        progress(S, S)
    if np.any(issued > np.arange(T)[:, None]):  # pragma: no cover - guarded above
        raise LeakageError("window forecasts: a step was given a forecast issued after it")
    return WindowForecasts(spec.quantiles, readonly(out), readonly(issued), name)


class LiveWindowForecasts:
    """Window forecasts of a live run, from the surplus measured so far.

    At step ``t`` the forecaster runs on the history and the measured steps ``0 .. t``
    (:func:`issue_window_forecasts` on that prefix) and the row of step ``t`` is returned:
    the forecast the simulator shows at ``t`` when the measured surplus is the trace's.
    Recomputed once per step asked (a live run asks at its decisions), so the cost grows
    with the history; the live scenarios' histories are days, not years.

    Args:
        inputs: the fleet.
        spec: the scenario's ``[forecast]`` table.
        seed: as for :func:`issue_window_forecasts` (the scenario's seed).
    """

    def __init__(self, inputs: FleetInputs, spec: ForecastSpec, seed: int = 0) -> None:
        self.inputs = inputs
        self.spec = spec
        self.seed = int(seed)
        self.quantiles = spec.quantiles
        self._step = -1
        self._row: np.ndarray | None = None

    def at(self, step: int, surplus_w: np.ndarray) -> np.ndarray:
        """``[S, Q]`` remaining-window quantiles [s] at ``step``, from ``surplus_w`` (the
        ``[H + step + 1, S]`` surplus known at ``step``, history first) [W]."""
        if step != self._step:
            known = np.asarray(surplus_w)[: self.inputs.history_steps + step + 1]
            if np.isnan(known).any():
                raise ConfigError(f"live forecasts: the surplus of some step up to {step} "
                                  "was not measured; forecasts need every step so far")
            wf = issue_window_forecasts(self.inputs, known, self.spec, self.seed)
            self._row = wf.at(step)
            self._step = int(step)
        return self._row
