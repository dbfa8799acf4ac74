"""The Forecaster protocol, the forecaster registry and the rolling issue driver.

A forecaster is fitted on history up to a time ``t`` and then issues, for any
issue position ``p`` (the forecast is issued at ``series.index[p]``), the
quantiles of the series at lead times ``horizons_s``. :func:`issue_forecasts`
runs a forecaster over a whole series the way it would run live: it refits
every ``refit_every_s`` on the history known at that moment and issues at
every ``issue_every_s``. The result is a :class:`~greenhop.forecast.table.ForecastTable`.

The no-leakage rule: a forecast issued at ``t`` depends only on values
labelled ``<= t``. Every implementation here keeps it (tested by changing the
data after ``t`` and checking that nothing issued at or before ``t`` moves).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from greenhop.core.errors import ConfigError, TraceError, UserError
from greenhop.core.registry import Registry
from greenhop.forecast.table import (
    DEFAULT_QUANTILES,
    ForecastTable,
    check_horizons,
    check_quantiles,
)


@runtime_checkable
class Forecaster(Protocol):
    """What every forecaster offers.

    ``fit(history)`` learns from a series known up to its last label.
    ``predict_many(series, issue_positions, horizons_s, quantiles)`` returns an
    array (K, H, Q): row ``k`` is the forecast issued at
    ``series.index[issue_positions[k]]`` and may use only
    ``series.iloc[: issue_positions[k] + 1]``.
    """

    name: str
    min_history_s: float

    def fit(self, history: pd.Series) -> None: ...

    def predict_many(self, series: pd.Series, issue_positions: np.ndarray,
                     horizons_s: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray: ...


FORECASTERS: Registry[Forecaster] = Registry("forecaster")


def create_forecaster(name: str, /, **kwargs) -> Forecaster:
    """Build the forecaster registered as ``name`` (unknown names list the valid ones)."""
    import greenhop.forecast.models  # noqa: F401  (registers the built-in models)

    factory = FORECASTERS.get(name)
    try:
        return factory(**kwargs)
    except UserError:
        raise
    except (TypeError, ValueError) as exc:
        # an unknown option (TypeError) or a value a model could not convert (ValueError)
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"forecaster '{name}': bad option ({msg}); see its "
                          "docstring") from None


def series_step_s(series: pd.Series, where: str = "series") -> float:
    """Validate a forecastable series and return its step [s].

    It must be non-empty, tz-aware, strictly increasing, regular and finite.
    """
    if not isinstance(series, pd.Series):
        raise TraceError(f"{where}: expected a pandas Series with a DatetimeIndex, "
                         f"got {type(series).__name__}")
    if len(series) == 0:
        raise TraceError(f"{where}: the history is empty; a forecaster needs at least one "
                         "observed value (pass the series up to the issue time)")
    idx = series.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise TraceError(f"{where}: the index must be a DatetimeIndex, got "
                         f"{type(idx).__name__}")
    if idx.tz is None:
        raise TraceError(f"{where}: the index is naive; localize it, e.g. "
                         "series.tz_localize('UTC')")
    values = series.to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise TraceError(f"{where}: non-finite value at {idx[int(bad[0])]}; fill or drop "
                         "gaps before forecasting")
    if len(series) == 1:
        return float("nan")
    d = np.diff(idx.as_unit("ns").asi8)
    if np.any(d <= 0):
        i = int(np.flatnonzero(d <= 0)[0])
        raise TraceError(f"{where}: timestamps not strictly increasing at {idx[i + 1]}; "
                         "sort the series and drop duplicates")
    if np.any(d != d[0]):
        i = int(np.flatnonzero(d != d[0])[0])
        raise TraceError(f"{where}: irregular step at {idx[i + 1]} ({d[i] / 1e9:g} s instead of "
                         f"{d[0] / 1e9:g} s); resample the series to a regular step")
    return float(d[0] / 1e9)


def check_horizons_fit(horizons_s: np.ndarray, step_s: float, history_s: float,
                       where: str) -> np.ndarray:
    """Horizons must be whole steps and no longer than the history [s]."""
    if np.isfinite(step_s):
        ratio = horizons_s / step_s
        if not np.allclose(ratio, np.round(ratio)):
            raise ConfigError(f"{where}: horizons {horizons_s.tolist()} s are not whole "
                              f"multiples of the series step {step_s:g} s; pick horizons on "
                              "the step grid")
    if horizons_s.max() > history_s:
        raise ConfigError(
            f"{where}: horizon {horizons_s.max() / 3600:g} h is longer than the history "
            f"({history_s / 3600:g} h); give more history or shorter horizons")
    return horizons_s


def check_spacing(value, step_s: float, what: str, where: str, *, whole_steps: bool = True,
                  allow_zero: bool = False) -> float:
    """A time span argument [s]: finite, positive (or >= 0), optionally whole steps."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {what} must be a number of seconds, got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ConfigError(f"{where}: {what} must be {'>= 0' if allow_zero else 'positive'} "
                          f"and finite, got {value!r} s")
    if whole_steps and np.isfinite(step_s):
        ratio = v / step_s
        if abs(ratio - round(ratio)) > 1e-9 * max(1.0, ratio):
            raise ConfigError(f"{where}: {what} {v:g} s is not a whole number of steps of the "
                              f"series step {step_s:g} s")
    return v


class BaseForecaster:
    """Shared plumbing: validation, a per-issue ``predict``, history bounds.

    Subclasses implement :meth:`predict_many` (vectorised over issues) and,
    where they learn, :meth:`fit`.
    """

    name = "base"
    #: shortest history [s] a forecast can be issued from (besides the horizon rule)
    min_history_s: float = 0.0

    def __init__(self) -> None:
        self.step_s: float | None = None

    def fit(self, history: pd.Series) -> None:
        """Learn from ``history`` (values labelled up to its last timestamp)."""
        self.step_s = series_step_s(history, f"{self.name}: history")

    def predict(self, history: pd.Series, horizons_s: Sequence[float],
                quantiles: Sequence[float] = DEFAULT_QUANTILES) -> np.ndarray:
        """The forecast issued at the last timestamp of ``history``: array (H, Q)."""
        step = series_step_s(history, f"{self.name}: history")
        h = check_horizons(horizons_s, f"{self.name}: horizons")
        qs = check_quantiles(quantiles, f"{self.name}: quantiles")
        span = (len(history) - 1) * step if np.isfinite(step) else 0.0
        check_horizons_fit(h, step, max(span, 0.0), f"{self.name}")
        return self.predict_many(history, np.array([len(history) - 1]), h, qs)[0]

    def predict_many(self, series: pd.Series, issue_positions: np.ndarray,
                     horizons_s: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
        raise NotImplementedError

    def prepare(self, horizons_s: np.ndarray, quantiles: tuple[float, ...]) -> None:
        """Told the horizons [s] and quantiles before fitting (learned models use it)."""

    # helpers for subclasses
    @staticmethod
    def _steps(horizons_s: np.ndarray, step_s: float) -> np.ndarray:
        return np.round(horizons_s / step_s).astype(np.int64)


def issue_forecasts(
    forecaster: Forecaster | str,
    series: pd.Series,
    *,
    horizons_s: Sequence[float],
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    start=None,
    end=None,
    issue_every_s: float | None = None,
    refit_every_s: float = 86400.0,
    min_history_s: float | None = None,
    progress=None,
) -> ForecastTable:
    """Run ``forecaster`` over ``series`` as it would run live; return every issued forecast.

    Args:
        forecaster: a forecaster or a registered name.
        series: the observed series (tz-aware, regular step) [unit of the series].
        horizons_s: lead times [s], whole multiples of the series step.
        quantiles: probability levels.
        start, end: first and last issue time (default: as soon as the history
            is long enough, and the last label).
        issue_every_s: spacing of issues [s] (default: the series step); a
            positive whole number of steps, else a ConfigError.
        refit_every_s: the model is refitted on the history known at the first
            issue of each block of this length [s] (positive).
        min_history_s: history needed before the first issue [s] (default:
            the longest horizon, or the model's own minimum if larger; >= 0).
        progress: optional callable ``progress(done, total)``.

    Returns:
        A :class:`ForecastTable`; row ``k`` depends only on values labelled
        ``<= issue_times[k]``.
    """
    model = create_forecaster(forecaster) if isinstance(forecaster, str) else forecaster
    step = series_step_s(series, f"{model.name}: series")
    if not np.isfinite(step):
        raise ConfigError(f"{model.name}: the series has a single value; a rolling forecast "
                          "needs a history longer than the longest horizon")
    h = check_horizons(horizons_s, f"{model.name}: horizons")
    qs = check_quantiles(quantiles, f"{model.name}: quantiles")
    if issue_every_s is not None:
        issue_every_s = check_spacing(issue_every_s, step, "issue_every_s", model.name)
    refit_every_s = check_spacing(refit_every_s, step, "refit_every_s", model.name,
                                  whole_steps=False)
    if min_history_s is not None:
        min_history_s = check_spacing(min_history_s, step, "min_history_s", model.name,
                                      whole_steps=False, allow_zero=True)
    span_s = (len(series) - 1) * step
    check_horizons_fit(h, step, span_s, f"{model.name}")
    need_s = max(float(h.max()), float(getattr(model, "min_history_s", 0.0)),
                 float(min_history_s or 0.0))
    if need_s > span_s:
        raise ConfigError(f"{model.name}: needs {need_s / 3600:g} h of history but the series "
                          f"spans {span_s / 3600:g} h; give a longer series")
    idx = series.index
    first = int(np.ceil(need_s / step))
    if start is not None:
        first = max(first, int(idx.searchsorted(pd.Timestamp(start), side="left")))
    last = len(series) - 1
    if hasattr(model, "issue_range"):  # e.g. replay: only where forecasts were issued
        lo, hi = model.issue_range()
        first = max(first, int(idx.searchsorted(lo, side="left")))
        last = min(last, int(idx.searchsorted(hi, side="right")) - 1)
    if end is not None:
        last = min(last, int(idx.searchsorted(pd.Timestamp(end), side="right")) - 1)
    if first > last:
        raise ConfigError(f"{model.name}: no issue time between {idx[min(first, len(idx) - 1)]} "
                          f"and {idx[max(last, 0)]}; widen start/end or give more history")
    stride = max(1, round((issue_every_s or step) / step))
    positions = np.arange(first, last + 1, stride, dtype=np.int64)
    if hasattr(model, "prepare"):
        model.prepare(h, qs)
    block = max(1, round(min(refit_every_s, span_s) / step))  # longer: one fit for all
    out = np.empty((positions.size, h.size, len(qs)))
    block_ids = (positions - positions[0]) // block
    uniq = np.unique(block_ids)
    for n, b in enumerate(uniq):
        sel = np.flatnonzero(block_ids == b)
        p0 = int(positions[sel[0]])
        model.fit(series.iloc[: p0 + 1])
        p_last = int(positions[sel[-1]])
        out[sel] = model.predict_many(series.iloc[: p_last + 1], positions[sel], h, qs)
        if progress is not None:
            progress(n + 1, len(uniq))
    return ForecastTable(idx[positions], h, qs, out, name=model.name)
