"""The built-in forecasters, registered by name in :data:`~greenhop.forecast.base.FORECASTERS`.

* ``persistence``: the last observed value at every horizon.
* ``seasonal-naive``: the value at the same time of day on the latest day
  already observed ("same time yesterday" for horizons up to a day).
* ``clear-sky-persistence``: PV only. The pvlib clear-sky irradiance at the
  valid time times the clear-sky index observed over the last hour
  (``k = sum(y) / sum(clear-sky)``), carried over the night.
* ``gbm``: scikit-learn ``HistGradientBoostingRegressor`` with quantile loss,
  one model per quantile, horizon as a feature. Features: horizon, time of
  day and day of year of the valid time, clear-sky at the issue and valid
  times, the current value, the last hour's mean, the value an hour ago, the
  clear-sky index, the clear-sky-persistence forecast and the seasonal-naive
  value.
* ``replay``: real forecasts as they were issued (e.g. the Solcast files):
  at issue time ``t`` it returns the latest forecast issued at or before ``t``.

Point models return the same value for every quantile; the spread comes from
the conformal calibration (:mod:`greenhop.forecast.conformal`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenhop.core.errors import ConfigError, TraceError, require
from greenhop.forecast.base import FORECASTERS, BaseForecaster, series_step_s
from greenhop.forecast.table import ForecastTable

DAY_S = 86400.0


# ----------------------------------------------------------------- helpers
def clearsky_ghi_w_m2(index: pd.DatetimeIndex, latitude_deg: float, longitude_deg: float,
                      step_s: float | None = None) -> np.ndarray:
    """pvlib Ineichen clear-sky GHI [W/m^2] for intervals *ending* at ``index``.

    Evaluated at the interval midpoints (``index - step/2``) with pvlib's
    bundled Linke-turbidity climatology.
    """
    pvlib = require("pvlib", "pv")
    from greenhop.traces.tmy import quiet_third_party

    times = index
    if step_s and np.isfinite(step_s):
        times = index - pd.Timedelta(seconds=step_s / 2)
    loc = pvlib.location.Location(latitude_deg, longitude_deg, tz="UTC")
    with quiet_third_party():
        cs = loc.get_clearsky(times, model="ineichen")
    return cs["ghi"].to_numpy(dtype=float)


def _option(model: str, name: str, value, *, integer: bool = False, low: float | None = None,
            low_open: bool = False, high: float | None = None) -> float | int:
    """A numeric forecaster option, checked at construction (one-line ConfigError).

    ``low``/``high`` bound it (``low_open``: strictly above ``low``); ``integer``
    asks for a whole number.
    """
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{model}: option {name} must be {kind}, got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ConfigError(f"{model}: option {name} must be finite, got {value!r}")
    if integer and v != round(v):
        raise ConfigError(f"{model}: option {name} must be a whole number, got {value!r}")
    if low is not None and (v <= low if low_open else v < low):
        raise ConfigError(f"{model}: option {name} must be {'>' if low_open else '>='} "
                          f"{low:g}, got {value!r}")
    if high is not None and v > high:
        raise ConfigError(f"{model}: option {name} must be <= {high:g}, got {value!r}")
    return round(v) if integer else v


def _location(model: str, latitude_deg, longitude_deg) -> tuple[float | None, float | None]:
    """Checked (latitude, longitude) [degrees]: both given or neither."""
    if (latitude_deg is None) != (longitude_deg is None):
        raise ConfigError(f"{model}: give both latitude_deg and longitude_deg (degrees) or "
                          "neither")
    if latitude_deg is None:
        return None, None
    return (_option(model, "latitude_deg", latitude_deg, low=-90.0, high=90.0),
            _option(model, "longitude_deg", longitude_deg, low=-180.0, high=180.0))


def _extended_index(index: pd.DatetimeIndex, step_s: float, extra_steps: int) -> pd.DatetimeIndex:
    return pd.date_range(index[0], periods=len(index) + extra_steps,
                         freq=pd.Timedelta(seconds=step_s))


def _rolling_mean_upto(y: np.ndarray, window: int) -> np.ndarray:
    """Mean of y[p-window+1 .. p] (shorter at the start), for every p."""
    c = np.concatenate([[0.0], np.cumsum(y)])
    p = np.arange(y.size)
    lo = np.maximum(0, p - window + 1)
    return (c[p + 1] - c[lo]) / (p + 1 - lo)


def _envelope(y: np.ndarray, day_steps: int, days: int = 7) -> np.ndarray:
    """env[p] = max(y[p - d*day]) for d = 0..days-1 (only values at or before p)."""
    env = y.copy()
    for d in range(1, days):
        sh = np.full(y.size, -np.inf)
        if d * day_steps < y.size:
            sh[d * day_steps:] = y[: y.size - d * day_steps]
        env = np.maximum(env, sh)
    return env


class _one_thread:
    """Limit native thread pools to one thread (the machine is shared; avoids oversubscription)."""

    def __enter__(self):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - shipped with scikit-learn
            self._ctx = None
            return self
        self._ctx = threadpool_limits(1)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        if self._ctx is not None:
            self._ctx.__exit__(*exc)
        return False


# ----------------------------------------------------------------- baselines
@FORECASTERS.register("persistence")
class Persistence(BaseForecaster):
    """y(t + h) = y(t): the last observed value at every horizon."""

    name = "persistence"

    def predict_many(self, series, issue_positions, horizons_s, quantiles):
        y = series.to_numpy(dtype=float)
        last = y[np.asarray(issue_positions)]
        return np.broadcast_to(last[:, None, None],
                               (last.size, len(horizons_s), len(quantiles))).copy()


@FORECASTERS.register("seasonal-naive")
class SeasonalNaive(BaseForecaster):
    """y(t + h) = y(t + h - n x period) with the smallest n that makes it observed.

    ``period_s`` defaults to one day: "the same time yesterday".
    """

    name = "seasonal-naive"

    def __init__(self, period_s: float = DAY_S) -> None:
        super().__init__()
        period = _option("seasonal-naive", "period_s", period_s)
        if period <= 0:
            raise ConfigError(f"seasonal-naive: period must be positive (option period_s), got "
                              f"{period_s!r} s")
        self.period_s = period
        self.min_history_s = self.period_s

    def _period_steps(self, step_s: float) -> int:
        """The period in steps; it must be a whole number (>= 1) of steps of the series."""
        ratio = self.period_s / step_s
        if ratio < 1.0 - 1e-9 or abs(ratio - round(ratio)) > 1e-9 * max(1.0, ratio):
            raise ConfigError(f"{self.name}: option period_s={self.period_s:g} s must be a whole "
                              f"number (>= 1) of steps of the series step {step_s:g} s")
        return round(ratio)

    def predict_many(self, series, issue_positions, horizons_s, quantiles):
        step = series_step_s(series, f"{self.name}: series")
        y = series.to_numpy(dtype=float)
        p = np.asarray(issue_positions)[:, None]
        s = self._steps(horizons_s, step)[None, :]
        period = self._period_steps(step)
        n = np.ceil(s / period).astype(np.int64)
        src = p + s - n * period
        if np.any(src < 0):
            raise ConfigError(f"{self.name}: an issue at {series.index[int(p.min())]} has less "
                              f"than {self.period_s / 3600:g} h of history; start later")
        v = y[src]
        return np.repeat(v[:, :, None], len(quantiles), axis=2)


class _ClearSkyMixin:
    """Clear-sky reference for a series: pvlib if a location is given, else an envelope."""

    latitude_deg: float | None
    longitude_deg: float | None

    def _clearsky(self, series: pd.Series, step_s: float, extra_steps: int) -> np.ndarray:
        """Clear-sky reference over the series index extended by ``extra_steps`` (cached)."""
        need = len(series) + extra_steps
        key = (series.index[0].value, step_s, self.latitude_deg, self.longitude_deg)
        cache = getattr(self, "_cs_cache", None)
        if cache is None or cache[0] != key or cache[1].size < need:
            ext = _extended_index(series.index, step_s, extra_steps + 2 * int(DAY_S / step_s))
            cache = (key, clearsky_ghi_w_m2(ext, self.latitude_deg, self.longitude_deg, step_s))
            self._cs_cache = cache
        return cache[1][:need]


@FORECASTERS.register("clear-sky-persistence")
class ClearSkyPersistence(BaseForecaster, _ClearSkyMixin):
    """PV: y(t + h) = k(t) x clear-sky(t + h), k the clear-sky index of the last hour.

    Args:
        latitude_deg, longitude_deg: the PV site [degrees].
        index_window_s: span over which the clear-sky index is measured [s].
        min_clearsky_w_m2: below this clear-sky GHI [W/m^2] the index is not
            measured (dawn, dusk, night): the last measured one is carried.
            Before the first such measurement the index is the ratio of all
            values so far to all clear-sky so far once that clear-sky sum
            reaches ``min_clearsky_w_m2`` (at least 1 W/m^2), and 1 before it
            (no information: the forecast is the clear-sky value itself).
    """

    name = "clear-sky-persistence"

    def __init__(self, latitude_deg: float | None = None, longitude_deg: float | None = None,
                 index_window_s: float = 3600.0, min_clearsky_w_m2: float = 50.0) -> None:
        super().__init__()
        if latitude_deg is None or longitude_deg is None:
            raise ConfigError("clear-sky-persistence needs the site's location: pass "
                              "latitude_deg and longitude_deg (degrees)")
        self.latitude_deg, self.longitude_deg = _location(self.name, latitude_deg,
                                                          longitude_deg)
        self.index_window_s = _option(self.name, "index_window_s", index_window_s, low=0.0,
                                      low_open=True)
        self.min_clearsky_w_m2 = _option(self.name, "min_clearsky_w_m2", min_clearsky_w_m2,
                                         low=0.0)

    def clearsky_index(self, y: np.ndarray, cs: np.ndarray, step_s: float) -> np.ndarray:
        """k[p] from values at or before p, carried forward where the sun is low."""
        w = max(1, round(self.index_window_s / step_s))
        ys = _rolling_mean_upto(y, w)
        cm = _rolling_mean_upto(cs, w)
        k = np.where(cm >= self.min_clearsky_w_m2, ys / np.maximum(cm, 1e-9), np.nan)
        k = pd.Series(k).ffill().to_numpy()
        # before the first daylight: the overall ratio of what is known so far, once the
        # clear-sky sum is large enough to mean something; before that (night, the first
        # minutes of dawn) there is no information and the index is 1 (a ratio of
        # near-zero numbers once forecast 1e11 W/m^2 at the first sunrise)
        cum_cs = np.cumsum(cs)
        ok = cum_cs >= max(self.min_clearsky_w_m2, 1.0)
        cum = np.where(ok, np.cumsum(y) / np.where(ok, cum_cs, 1.0), 1.0)
        return np.where(np.isnan(k), cum, k)

    def predict_many(self, series, issue_positions, horizons_s, quantiles):
        step = series_step_s(series, f"{self.name}: series")
        s = self._steps(horizons_s, step)
        y = series.to_numpy(dtype=float)
        cs = self._clearsky(series, step, int(s.max()))
        k = self.clearsky_index(y, cs[: y.size], step)
        p = np.asarray(issue_positions)
        v = k[p][:, None] * cs[p[:, None] + s[None, :]]
        return np.repeat(v[:, :, None], len(quantiles), axis=2)


# ----------------------------------------------------------------- learned
@FORECASTERS.register("gbm")
class GradientBoosting(BaseForecaster, _ClearSkyMixin):
    """Quantile gradient boosting (scikit-learn HistGradientBoostingRegressor).

    Args:
        latitude_deg, longitude_deg: site location [degrees]; with it the
            clear-sky features come from pvlib, without it from an empirical
            envelope (the maximum at the same time of day over the last 7 days
            already observed), so non-PV series work too.
        train_window_s: trailing history used for each fit [s].
        train_stride_s: spacing of the training issues [s].
        max_iter, learning_rate, max_leaf_nodes, min_samples_leaf: boosting
            hyper-parameters.
        seed: random state (results are deterministic).
        horizon_groups_s: upper bounds [s] splitting the horizons into groups,
            one model per group and quantile (one model across 0.5-24 h lets the
            long horizons drown the recent-value features of the short ones).
        min_history_s: history before the first fit [s] (a model fitted on a
            day or two issues forecasts unlike the later ones and spoils the
            rolling calibration).
        offset: the trees learn ``y - offset`` and the offset is added back:
            ``"clear-sky-persistence"`` (the feature of that name),
            ``"persistence"`` (the current value), ``"none"``; ``"auto"``
            takes clear-sky persistence when a location is given, else
            persistence. Learning the residual of a good baseline is what
            makes the trees accurate at short horizons; learning ``y`` itself
            also fails when most targets tie at one value (PV nights: the
            quantile baseline sticks at 0).
    """

    name = "gbm"
    min_history_s = DAY_S

    def __init__(self, latitude_deg: float | None = None, longitude_deg: float | None = None,
                 train_window_s: float = 21 * DAY_S, train_stride_s: float = 1800.0,
                 max_iter: int = 150, learning_rate: float = 0.06, max_leaf_nodes: int = 31,
                 min_samples_leaf: int = 40, seed: int = 0,
                 horizon_groups_s: tuple[float, ...] = (5400.0, 16200.0, 43200.0),
                 min_history_s: float = 3 * DAY_S, offset: str = "auto") -> None:
        super().__init__()
        name = self.name
        self.latitude_deg, self.longitude_deg = _location(name, latitude_deg, longitude_deg)
        self.train_window_s = _option(name, "train_window_s", train_window_s, low=0.0,
                                      low_open=True)
        self.train_stride_s = _option(name, "train_stride_s", train_stride_s, low=0.0,
                                      low_open=True)
        self.params = dict(
            max_iter=_option(name, "max_iter", max_iter, integer=True, low=1),
            learning_rate=_option(name, "learning_rate", learning_rate, low=0.0, low_open=True),
            max_leaf_nodes=_option(name, "max_leaf_nodes", max_leaf_nodes, integer=True, low=2),
            min_samples_leaf=_option(name, "min_samples_leaf", min_samples_leaf, integer=True,
                                     low=1))
        self.seed = _option(name, "seed", seed, integer=True, low=0, high=2**32 - 1)
        self.min_history_s = _option(name, "min_history_s", min_history_s, low=0.0)
        if offset not in ("auto", "clear-sky-persistence", "persistence", "none"):
            raise ConfigError(f"gbm: unknown offset '{offset}'; use auto, "
                              "clear-sky-persistence, persistence or none")
        self.offset = offset
        if isinstance(horizon_groups_s, (str, bytes)) or not hasattr(horizon_groups_s,
                                                                     "__iter__"):
            raise ConfigError(f"gbm: option horizon_groups_s must be a list of horizons [s], "
                              f"got {horizon_groups_s!r}")
        self.horizon_groups_s = tuple(sorted(
            _option(name, "horizon_groups_s", g, low=0.0, low_open=True)
            for g in horizon_groups_s))
        self._models: dict[tuple[int, float], object] = {}
        self._fit_horizons: np.ndarray | None = None
        self._quantile_levels: tuple[float, ...] = (0.1, 0.5, 0.9)
        self._bounds = (-np.inf, np.inf)

    # features -------------------------------------------------------------
    def _reference(self, series: pd.Series, step_s: float, extra: int) -> np.ndarray:
        """Clear-sky GHI over the index extended by ``extra`` steps, or the envelope."""
        if self.latitude_deg is not None and self.longitude_deg is not None:
            return self._clearsky(series, step_s, extra)
        return _envelope(series.to_numpy(dtype=float), round(DAY_S / step_s))

    def _features(self, series: pd.Series, step_s: float, positions: np.ndarray,
                  steps: np.ndarray, ref: np.ndarray, ref_is_clearsky: bool) -> np.ndarray:
        y = series.to_numpy(dtype=float)
        day = round(DAY_S / step_s)
        hour = max(1, round(3600.0 / step_s))
        p = positions[:, None]
        s = steps[None, :]
        tgt = p + s
        t0 = series.index[0]
        tgt_time_s = (t0.value / 1e9) + tgt * step_s
        tod = 2 * np.pi * (tgt_time_s % DAY_S) / DAY_S
        ymean = _rolling_mean_upto(y, hour)
        rmean = _rolling_mean_upto(ref[: y.size], hour)
        if ref_is_clearsky:
            k = np.where(rmean >= 50.0, ymean / np.maximum(rmean, 1e-9), np.nan)
        else:
            # the "is there any reference here" floor scales with the largest envelope
            # value seen so far (a running maximum: never a value after p)
            floor = 1e-9 * (np.maximum.accumulate(np.abs(ref[: y.size])) + 1)
            k = np.where(rmean > floor, ymean / np.where(rmean == 0, 1.0, rmean), np.nan)
        k = pd.Series(k).ffill().fillna(1.0).to_numpy()
        lag_h = np.maximum(p - hour, 0)
        n = np.ceil(s / day).astype(np.int64)
        src = np.maximum(tgt - n * day, 0)
        shape = tgt.shape
        # the envelope is built from observed values: at a future slot use the latest
        # same slot already observed (src), never ref[tgt]
        ref_tgt = ref[tgt] if ref_is_clearsky else ref[src]
        cols = [
            np.broadcast_to(s * step_s / 3600.0, shape),
            np.sin(tod), np.cos(tod),
            ref_tgt, np.broadcast_to(ref[p], shape),
            np.broadcast_to(y[p], shape), np.broadcast_to(ymean[p], shape),
            np.broadcast_to(y[lag_h], shape), np.broadcast_to(k[p], shape),
            k[p] * ref_tgt, y[src],
        ]
        return np.stack([np.asarray(c, dtype=float).ravel() for c in cols], axis=1)

    def _offset_of(self, x: np.ndarray) -> np.ndarray:
        kind = self.offset
        if kind == "auto":
            kind = "clear-sky-persistence" if self.latitude_deg is not None else "persistence"
        if kind == "clear-sky-persistence":
            return x[:, 9]
        if kind == "persistence":
            return x[:, 5]
        return np.zeros(x.shape[0])

    def _group_of(self, horizons_s: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.horizon_groups_s), horizons_s, side="left")

    # fit / predict --------------------------------------------------------
    def prepare(self, horizons_s: np.ndarray, quantiles: tuple[float, ...]) -> None:
        """Horizons [s] and quantile levels the next fit learns (default 1-24 h; p10/p50/p90)."""
        self._fit_horizons = np.asarray(horizons_s, dtype=float)
        self._quantile_levels = tuple(float(q) for q in quantiles)

    def fit(self, history: pd.Series) -> None:
        super().fit(history)
        step = self.step_s
        if not np.isfinite(step):
            raise ConfigError("gbm: the history has a single value; give at least a day")
        horizons = self._fit_horizons
        if horizons is None:
            horizons = np.arange(1, 25) * 3600.0
        steps = np.unique(np.maximum(1, np.round(horizons / step).astype(np.int64)))
        n = len(history)
        span_s = (n - 1) * step
        if span_s < self.min_history_s:
            raise ConfigError(f"gbm: needs at least {self.min_history_s / 3600:g} h of history "
                              f"to fit, got {span_s / 3600:g} h; give a longer history")
        first = max(0, n - 1 - round(self.train_window_s / step))
        stride = max(1, round(self.train_stride_s / step))
        pos = np.arange(first, n, stride, dtype=np.int64)
        if pos.size < 2:
            raise ConfigError("gbm: too little history to train; give more history")
        ref = self._reference(history, step, int(steps.max()))
        x = self._features(history, step, pos, steps, ref, self.latitude_deg is not None)
        tgt = (pos[:, None] + steps[None, :]).ravel()
        ok = tgt < n  # only targets already observed
        if ok.sum() < 50:
            raise ConfigError(f"gbm: only {int(ok.sum())} training pairs whose target is observed;"
                              " the history is too short for these horizons: give more history")
        y = history.to_numpy(dtype=float)
        x = x[ok]
        target = y[tgt[ok]] - self._offset_of(x)
        # a deterministic jitter far below any meaningful power breaks exact ties
        jitter = np.random.default_rng(self.seed).standard_normal(target.size)
        target = target + 1e-6 * (float(np.ptp(y)) + 1.0) * jitter
        sk = require("sklearn.ensemble", "forecast")
        groups = self._group_of(x[:, 0] * 3600.0)
        self._models = {}
        with _one_thread():
            for g in np.unique(groups):
                sel = groups == g
                for q in self._quantile_levels:
                    m = sk.HistGradientBoostingRegressor(loss="quantile", quantile=q,
                                                         early_stopping=False,
                                                         random_state=self.seed, **self.params)
                    m.fit(x[sel], target[sel])
                    self._models[(int(g), q)] = m
        self._bounds = (float(y.min()), float(y.max()))

    def predict_many(self, series, issue_positions, horizons_s, quantiles):
        if not self._models:
            raise ConfigError("gbm: predict before fit; call fit(history) first")
        fitted_q = sorted({q for _, q in self._models})
        missing = [q for q in quantiles if q not in fitted_q]
        if missing:
            raise ConfigError(f"gbm: fitted for quantiles {fitted_q}, asked for {missing}; "
                              "call prepare(horizons_s, quantiles) before fit()")
        step = series_step_s(series, f"{self.name}: series")
        steps = self._steps(horizons_s, step)
        ref = self._reference(series, step, int(steps.max()))
        pos = np.asarray(issue_positions, dtype=np.int64)
        x = self._features(series, step, pos, steps, ref, self.latitude_deg is not None)
        out = np.empty((pos.size * steps.size, len(quantiles)))
        groups = self._group_of(x[:, 0] * 3600.0)
        off = self._offset_of(x)
        fitted_g = sorted({g for g, _ in self._models})
        with _one_thread():
            for g in np.unique(groups):
                sel = groups == g
                # a horizon group not seen in training uses the nearest fitted one
                gg = min(fitted_g, key=lambda f: abs(f - int(g)))
                for i, q in enumerate(quantiles):
                    out[sel, i] = self._models[(gg, q)].predict(x[sel]) + off[sel]
        out = out.reshape(pos.size, steps.size, len(quantiles))
        return np.clip(out, *self._bounds)


# ----------------------------------------------------------------- replay
@FORECASTERS.register("replay")
class Replay(BaseForecaster):
    """Replays forecasts as they were really issued.

    Args:
        table: the issued forecasts (:class:`ForecastTable`, e.g. from
            :func:`greenhop.forecast.data.read_solcast`).

    At issue time ``t`` it answers with the latest forecast issued at or
    before ``t``, re-aligned to the requested lead times; a lead time that
    the issued forecast does not cover is a ConfigError.
    """

    name = "replay"

    def __init__(self, table: ForecastTable | None = None) -> None:
        super().__init__()
        if table is None:
            raise ConfigError("replay needs the issued forecasts: pass table=ForecastTable(...) "
                              "(e.g. greenhop.forecast.data.read_solcast(...).forecasts)")
        self.table = table

    def issue_range(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last issue time of the replayed forecasts (the driver stays inside)."""
        return self.table.issue_times[0], self.table.issue_times[-1]

    def predict_many(self, series, issue_positions, horizons_s, quantiles):
        t = series.index[np.asarray(issue_positions)]
        k = self.table.issue_times.searchsorted(t, side="right") - 1
        if np.any(k < 0):
            first = t[int(np.flatnonzero(k < 0)[0])]
            raise TraceError(f"replay: no forecast issued at or before {first}; the issued "
                             f"forecasts start at {self.table.issue_times[0]}: start later")
        age_s = (t.as_unit("ns").asi8 - self.table.issue_times[k].as_unit("ns").asi8) / 1e9
        lead = age_s[:, None] + np.asarray(horizons_s)[None, :]
        hz = self.table.horizons_s
        j = np.searchsorted(hz, lead - 1e-6)
        jc = np.clip(j, 0, hz.size - 1)
        if np.any((j >= hz.size) | ~np.isclose(hz[jc], lead)):
            bad = lead[(j >= hz.size) | ~np.isclose(hz[jc], lead)].max()
            raise ConfigError(f"replay: the issued forecasts cover lead times "
                              f"{hz.min() / 60:g}-{hz.max() / 60:g} min; a lead of "
                              f"{bad / 60:g} min was asked: use horizons within that range")
        qmap = []
        for q in quantiles:
            try:
                qmap.append(self.table.quantile_index(q))
            except TraceError:
                qmap.append(None)
        med = self.table.median()
        out = np.empty((len(k), lead.shape[1], len(quantiles)))
        for i, qi in enumerate(qmap):
            src = med if qi is None else self.table.values[:, :, qi]
            out[:, :, i] = src[k[:, None], jc]
        return out
