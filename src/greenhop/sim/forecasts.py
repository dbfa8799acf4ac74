"""Window forecasts in the simulator, and the separate channel of the true windows.

:func:`build_window_forecasts` runs the scenario's forecaster (``[forecast]``) over
each site's surplus the way it would run live, once per scenario run, and puts the
result on the simulator's step grid: at step ``k`` a policy sees the latest window
forecast issued at or before ``k`` (the value of step ``k`` is measured at ``k``, as in
:class:`~greenhop.core.observation.SurplusHistory`), aged by the time since its issue.

No leakage, by construction and checked:

* the forecaster is fitted on ``series[: issue + 1]`` only and predicts from a series
  that ends at the last issue of the batch (:func:`greenhop.forecast.issue_forecasts`);
* every batch of predictions is audited: its first, last and a seeded random issue
  are predicted again from a series cut at that issue, and must come out identical.
  A forecaster that reads a value after its issue time fails loudly with
  :class:`~greenhop.core.observation.LeakageError` instead of quietly looking good;
* calibration uses only outcomes known at each issue (:mod:`greenhop.forecast`).

:class:`TrueWindows` is the other channel: the true remaining window from the traces,
handed only to a policy that declares ``sees_future`` (``oracle-window``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenhop.core.errors import ConfigError, UserError
from greenhop.core.observation import LeakageError

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
        quantiles: levels computed and handed to policies (always includes ``quantile``).
        issue_every_s: spacing of issued forecasts [s].
        refit_every_s: refit period of learned models [s].
        calibration_window_s: rolling conformal history [s].
        horizon_s: longest lead of the window paths [s]; durations are capped there.
        files: ``replay`` only: per site, the issued surplus forecasts
            (:class:`~greenhop.forecast.ForecastTable`, read and validated at load).
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


def parse_forecast(t, step_s: float, history_s: float, site_names: tuple[str, ...],
                   site_location: dict[str, tuple[float, float]],
                   base_dir: Path) -> ForecastSpec:
    """Validate the ``[forecast]`` table ``t`` (a :class:`~greenhop.sim.schema.Table`)."""
    from greenhop.forecast import FORECASTERS, create_forecaster
    from greenhop.policies.forecast_feasibility import check_quantile

    d = ForecastSpec()
    model = t.string("model", d.model)
    if model not in FORECASTERS:
        raise ConfigError(f"{t.where('model')}: unknown forecaster '{model}'; valid forecaster "
                          f"names: {', '.join(FORECASTERS.names())}")
    q = check_quantile(t.raw("quantile", d.quantile), t.where("quantile"))
    quantiles = tuple(sorted({*d.quantiles, round(q, 9)}))
    issue_every = t.duration("issue_every", max(d.issue_every_s, step_s), lo=0, lo_open=True)
    ratio = issue_every / step_s
    if abs(ratio - round(ratio)) > 1e-9:
        raise ConfigError(f"{t.where('issue_every')}: must be a whole number of steps of "
                          f"{step_s:g} s, got {issue_every:g} s")
    refit = t.duration("refit_every", d.refit_every_s, lo=0, lo_open=True)
    cal = t.duration("calibration_window", d.calibration_window_s, lo=0, lo_open=True)
    horizon = t.duration("horizon", d.horizon_s, lo=0, lo_open=True)
    if horizon < step_s or abs(horizon / step_s - round(horizon / step_s)) > 1e-9:
        raise ConfigError(f"{t.where('horizon')}: must be a whole number (>= 1) of steps of "
                          f"{step_s:g} s, got {horizon:g} s")
    if horizon > history_s:
        raise ConfigError(
            f"{t.where('horizon')}: {horizon / 3600:g} h is longer than the history "
            f"({history_s / 3600:g} h): no forecast could be issued and checked at the start; "
            "give a longer history or a shorter forecast.horizon")
    options = {}
    if t.has("options"):
        ot = t.table("options")
        options = dict(ot.data)
    files: dict[str, Any] = {}
    if t.has("files"):
        if model != "replay":
            raise ConfigError(f"{t.where('files')}: forecast files are replayed by the "
                              f"'replay' model; set forecast.model = \"replay\" (got '{model}')")
        ft = t.table("files")
        for site, path in ft.data.items():
            where = ft.where(site)
            if site not in site_names:
                raise ConfigError(f"{where}: unknown site '{site}'; sites in this scenario: "
                                  f"{', '.join(site_names)}")
            if not isinstance(path, str) or not path.strip():
                raise ConfigError(f"{where}: expected the path of a CSV file, got {path!r}")
            files[site] = read_forecast_file(Path(path) if Path(path).is_absolute()
                                             else base_dir / path, where)
    if model == "replay":
        missing = [s for s in site_names if s not in files]
        if missing:
            raise ConfigError(f"{t.where('files')}: replay needs the issued forecasts of every "
                              f"site; missing: {', '.join(missing)} (add forecast.files."
                              f"{missing[0]} = \"path.csv\")")
    else:
        # Build the forecaster once now, so a bad option is reported with its key path.
        site = site_names[0]
        try:
            create_forecaster(model, **_site_options(model, options, site_location.get(site)))
        except UserError as exc:
            raise ConfigError(f"{t.where('options')}: {exc}") from None
    t.done()
    return ForecastSpec(model, q, options, quantiles, issue_every, refit, cal, horizon, files)


def read_forecast_file(path: Path, where: str):
    """A long CSV of issued surplus forecasts: ``issued_at, valid_for, value`` [W] (or
    quantile columns ``q10, q50, q90``), rows in issue order; errors name ``where``."""
    from greenhop.forecast import ForecastTable

    if not path.is_file():
        raise ConfigError(f"{where}: forecast file {str(path)!r} does not exist")
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot read {str(path)!r} as CSV: {exc}") from None
    qcols = sorted(c for c in frame.columns if c.startswith("q") and c[1:].isdigit())
    cols, qs = (qcols, [int(c[1:]) / 100 for c in qcols]) if qcols else ("value", (0.5,))
    try:
        return ForecastTable.from_long(frame, value_cols=cols, quantiles=qs, source=str(path))
    except UserError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _site_options(model: str, options: dict, location: tuple[float, float] | None) -> dict:
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
class SimWindowForecasts:
    """Window forecasts on the simulator's grid.

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


def build_window_forecasts(inputs, spec: ForecastSpec,
                           progress: Callable[[int, int], None] | None = None
                           ) -> SimWindowForecasts:
    """Issue, calibrate and align the window forecasts of every site of ``inputs``."""
    from greenhop.forecast import create_forecaster
    from greenhop.forecast.base import issue_forecasts
    from greenhop.forecast.conformal import calibrate
    from greenhop.forecast.pipeline import WINDOW_HORIZONS_S
    from greenhop.forecast.windows import forecast_windows

    sc = inputs.scenario
    dt = sc.step_s
    H, T = inputs.history_steps, inputs.n_steps
    index = inputs.index
    grid_ns = index[H:].as_unit("ns").asi8
    S = len(sc.sites)
    Q = len(spec.quantiles)
    out = np.full((T, S, Q), np.nan)
    issued = np.full((T, S), np.iinfo(np.int64).min, dtype=np.int64)
    horizons = WINDOW_HORIZONS_S[spec.horizon_s + 1e-9 >= WINDOW_HORIZONS_S]
    if horizons.size == 0 or horizons[-1] < spec.horizon_s - 1e-9:
        horizons = np.append(horizons, spec.horizon_s)
    horizons = np.unique(np.maximum(np.round(horizons / dt), 1) * dt)
    name = spec.model
    for i, site in enumerate(sc.sites):
        if progress is not None:
            progress(i, S)
        where = f"forecast (site '{site.name}')"
        series = pd.Series(inputs.surplus_w[:, i], index=index)
        try:
            if spec.model == "replay":
                table = spec.files[site.name]
                model = create_forecaster("replay", table=table)
                hz = table.horizons_s
                hz = hz[np.isclose(np.round(hz / dt) * dt, hz)]
                site_h = hz if hz.size else horizons
            else:
                loc = (site.spec.latitude_deg, site.spec.longitude_deg)
                model = create_forecaster(spec.model, **_site_options(spec.model, spec.options,
                                                                      loc))
                site_h = horizons
            audited = AuditedForecaster(model, site.name, seed=sc.seed + i)
            raw = issue_forecasts(audited, series, horizons_s=site_h, quantiles=spec.quantiles,
                                  issue_every_s=spec.issue_every_s,
                                  refit_every_s=spec.refit_every_s)
            cal = calibrate(raw, series, window_s=spec.calibration_window_s)
            wf = forecast_windows(cal, series, sc.window_threshold_w,
                                  window_s=spec.calibration_window_s)
        except LeakageError:
            raise
        except UserError as exc:
            raise ConfigError(f"{where}: {exc}; see forecast.model / forecast.horizon / "
                              "history in docs/simulator.md") from None
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
    out.flags.writeable = False
    issued.flags.writeable = False
    return SimWindowForecasts(spec.quantiles, out, issued, name)


# --------------------------------------------------------------------- the future channel
class TrueWindows:
    """The true remaining window per site and step [s], from the actual traces.

    Future knowledge: handed only to a policy that declares ``sees_future`` (the
    ``oracle-window`` comparison ceiling), never through the Observation.
    """

    def __init__(self, remaining_window_s: np.ndarray) -> None:
        view = remaining_window_s.view()
        view.flags.writeable = False
        self._rem = view

    def remaining_s(self, step: int) -> np.ndarray:
        """True remaining window of every site from ``step`` on [s] (0 outside a window)."""
        return self._rem[int(step)]

