"""Issued-at / valid-for forecast tables.

A :class:`ForecastTable` holds every forecast issued over a period, densely:
``values[k, j, q]`` is quantile ``quantiles[q]`` of the quantity valid at
``issue_times[k] + horizons_s[j]``, issued at ``issue_times[k]``.

Time convention (the same as the Solcast files): a value labelled ``t`` is the
average over the interval *ending* at ``t`` and becomes known at ``t``. A
forecast issued at ``t`` may use every value labelled ``<= t`` and nothing
later (the no-leakage rule, see ``docs/forecasting.md``).

Validation (a :class:`~greenhop.core.errors.TraceError` says what, where and
how to fix it): issue times tz-aware, strictly increasing; horizons positive
and strictly increasing; quantiles strictly inside (0, 1) and increasing;
values finite with the right shape. Quantile crossing is repaired by sorting
along the quantile axis (a monotone rearrangement), which never widens the
spread of the set of values.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from greenhop.core.errors import TraceError

DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)


def check_quantiles(quantiles: Sequence[float], where: str = "quantiles") -> tuple[float, ...]:
    """Validate a quantile list: non-empty, strictly inside (0, 1), strictly increasing."""
    qs = tuple(float(q) for q in quantiles)
    if not qs:
        raise TraceError(f"{where}: no quantiles given; pass e.g. (0.1, 0.5, 0.9)")
    if any(not (0.0 < q < 1.0) for q in qs):
        raise TraceError(f"{where}: quantiles must lie strictly between 0 and 1, got {qs}; "
                         "write 0.1 for p10")
    if any(b <= a for a, b in itertools.pairwise(qs)):
        raise TraceError(f"{where}: quantiles must be strictly increasing, got {qs}; "
                         "sort them and drop duplicates")
    return qs


def check_horizons(horizons_s: Sequence[float], where: str = "horizons") -> np.ndarray:
    """Validate horizons [s]: non-empty, positive, strictly increasing."""
    h = np.asarray(horizons_s, dtype=float).reshape(-1)
    if h.size == 0:
        raise TraceError(f"{where}: no horizons given; pass e.g. [3600, 7200] (seconds)")
    if not np.all(np.isfinite(h)) or np.any(h <= 0):
        raise TraceError(f"{where}: horizons must be positive and finite [s], got {h.tolist()}")
    if np.any(np.diff(h) <= 0):
        raise TraceError(f"{where}: horizons must be strictly increasing, got {h.tolist()}; "
                         "sort them and drop duplicates")
    return h


def check_observed(series: pd.Series, where: str) -> None:
    """Raise a one-line :class:`TraceError` naming the first time of ``series`` (an observed
    series [W]) whose value is NaN or infinite: what comes from it would be NaN, and the
    error would then blame a forecast."""
    y = np.asarray(series, dtype=float)
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise TraceError(f"{where}: non-finite value in the observed series at "
                         f"{series.index[int(bad[0])]}; fill or drop gaps first")


def check_issue_times(issue_times, where: str = "issue times") -> pd.DatetimeIndex:
    """Validate issue times: a tz-aware index that never runs backwards or repeats."""
    idx = pd.DatetimeIndex(issue_times)
    if idx.tz is None:
        raise TraceError(f"{where}: issue times are naive; localize them, e.g. "
                         "index.tz_localize('UTC')")
    if len(idx) > 1:
        d = np.diff(idx.as_unit("ns").asi8)
        bad = np.flatnonzero(d <= 0)
        if bad.size:
            i = int(bad[0])
            word = "repeats" if d[i] == 0 else "runs backwards"
            raise TraceError(
                f"{where}: issue time {word} at position {i + 1} "
                f"({idx[i]} then {idx[i + 1]}); issue times must be strictly increasing: "
                "sort the forecast file by issue time and drop duplicate issues")
    return idx.tz_convert("UTC")


@dataclass(frozen=True)
class ForecastTable:
    """Every forecast issued over a period, indexed by issue step.

    Attributes:
        issue_times: when each forecast was issued (tz-aware UTC), length K.
        horizons_s: lead times [s], length H; forecast ``k, j`` is valid for
            ``issue_times[k] + horizons_s[j]``.
        quantiles: probability levels, length Q (e.g. 0.1, 0.5, 0.9).
        values: array (K, H, Q) in the unit of the forecast quantity
            (``unit``, e.g. "W").
        name: the model that issued it.
        unit: unit of ``values``.
    """

    issue_times: pd.DatetimeIndex
    horizons_s: np.ndarray
    quantiles: tuple[float, ...]
    values: np.ndarray
    name: str = "forecast"
    unit: str = "W"

    def __post_init__(self) -> None:
        where = f"forecast table '{self.name}'"
        idx = check_issue_times(self.issue_times, f"{where}: issue times").as_unit("ns")
        h = check_horizons(self.horizons_s, f"{where}: horizons")
        qs = check_quantiles(self.quantiles, f"{where}: quantiles")
        v = np.asarray(self.values, dtype=float)
        if v.shape != (len(idx), h.size, len(qs)):
            raise TraceError(f"{where}: values have shape {v.shape}, expected "
                             f"(issues, horizons, quantiles) = {(len(idx), h.size, len(qs))}")
        if not np.all(np.isfinite(v)):
            k = int(np.flatnonzero(~np.isfinite(v).all(axis=(1, 2)))[0])
            raise TraceError(f"{where}: non-finite value in the forecast issued at {idx[k]}; "
                             "fill or drop that issue")
        v = np.sort(v, axis=2)  # monotone rearrangement: p10 <= p50 <= p90
        v.flags.writeable = False
        object.__setattr__(self, "issue_times", idx)
        object.__setattr__(self, "horizons_s", h)
        object.__setattr__(self, "quantiles", qs)
        object.__setattr__(self, "values", v)

    # ----------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.issue_times)

    def quantile_index(self, q: float) -> int:
        """Position of quantile ``q`` in :attr:`quantiles`; unknown ones raise TraceError."""
        for i, x in enumerate(self.quantiles):
            if abs(x - q) < 1e-9:
                return i
        raise TraceError(f"forecast table '{self.name}' has no quantile {q}; "
                         f"it has {list(self.quantiles)}")

    def horizon_index(self, horizon_s: float) -> int:
        """Position of ``horizon_s`` [s] in :attr:`horizons_s`; unknown ones raise TraceError."""
        j = np.flatnonzero(np.isclose(self.horizons_s, horizon_s))
        if j.size == 0:
            raise TraceError(f"forecast table '{self.name}' has no horizon {horizon_s} s; "
                             f"it has {self.horizons_s.tolist()}")
        return int(j[0])

    def median(self) -> np.ndarray:
        """The point forecast (K, H): the 0.5 quantile, or the middle one."""
        try:
            return self.values[:, :, self.quantile_index(0.5)]
        except TraceError:
            return self.values[:, :, len(self.quantiles) // 2]

    def valid_times(self) -> np.ndarray:
        """Valid-for times as int64 ns since the epoch, shape (K, H)."""
        lead_ns = np.round(self.horizons_s * 1e9).astype(np.int64)
        return self.issue_times.as_unit("ns").asi8[:, None] + lead_ns[None, :]

    def issued_at_or_before(self, when) -> ForecastTable:
        """The forecasts issued at or before ``when`` (what an observer at ``when`` may see)."""
        t = pd.Timestamp(when)
        k = int(self.issue_times.searchsorted(t, side="right"))
        return self.take(slice(0, k))

    def take(self, rows) -> ForecastTable:
        """A table restricted to some issue rows (a slice or index array)."""
        return ForecastTable(self.issue_times[rows], self.horizons_s, self.quantiles,
                             np.array(self.values[rows]), self.name, self.unit)

    def with_values(self, values: np.ndarray, name: str | None = None) -> ForecastTable:
        """The same grid with new values (e.g. after calibration)."""
        return ForecastTable(self.issue_times, self.horizons_s, self.quantiles, values,
                             name or self.name, self.unit)

    def actuals(self, series: pd.Series) -> np.ndarray:
        """The observed values at every valid-for time, (K, H); NaN where not observed."""
        s = series.sort_index()
        pos = s.index.as_unit("ns").asi8
        vt = self.valid_times()
        j = np.searchsorted(pos, vt.ravel())
        j_c = np.clip(j, 0, len(pos) - 1)
        hit = (j < len(pos)) & (pos[j_c] == vt.ravel())
        out = np.where(hit, s.to_numpy(dtype=float)[j_c], np.nan)
        return out.reshape(vt.shape)

    def to_frame(self) -> pd.DataFrame:
        """Long format: one row per (issued_at, valid_for) with one column per quantile."""
        k, h = len(self.issue_times), self.horizons_s.size
        vt = pd.to_datetime(self.valid_times().ravel(), utc=True)
        data = {
            "issued_at": np.repeat(self.issue_times, h),
            "valid_for": vt,
            "horizon_s": np.tile(self.horizons_s, k),
        }
        for i, q in enumerate(self.quantiles):
            data[f"q{round(q * 100):02d}"] = self.values[:, :, i].ravel()
        return pd.DataFrame(data)

    # ------------------------------------------------------------ from files
    @classmethod
    def from_long(
        cls,
        frame: pd.DataFrame,
        *,
        issued_col: str = "issued_at",
        valid_col: str = "valid_for",
        value_cols: Sequence[str] | str = "value",
        quantiles: Sequence[float] = (0.5,),
        name: str = "replay",
        unit: str = "W",
        source: str = "forecast file",
    ) -> ForecastTable:
        """Build a table from long rows (issued_at, valid_for, value...), validated.

        The rows must come in issue order: an issue time that runs backwards
        in the file is an error (a merged or shuffled file), not silently
        sorted. Every issue must cover the same horizons (missing ones are an
        error naming the issue). Naive times are an error.
        """
        cols = [value_cols] if isinstance(value_cols, str) else list(value_cols)
        qs = check_quantiles(quantiles, f"{source}: quantiles")
        if len(cols) != len(qs):
            raise TraceError(f"{source}: {len(cols)} value columns but {len(qs)} quantiles; "
                             "give one quantile per value column")
        missing = [c for c in [issued_col, valid_col, *cols] if c not in frame.columns]
        if missing:
            raise TraceError(f"{source}: missing column(s) {missing}; it has "
                             f"{list(frame.columns)}")
        if frame.empty:
            raise TraceError(f"{source}: no rows; the forecast file is empty")
        issued = _times(frame, issued_col, source)
        valid = _times(frame, valid_col, source)
        if issued.tz is None or valid.tz is None:
            raise TraceError(f"{source}: times are naive (no time zone); localize them, "
                             "e.g. pd.to_datetime(col).dt.tz_localize('UTC')")
        ii = issued.as_unit("ns").asi8
        back = np.flatnonzero(np.diff(ii) < 0)
        if back.size:
            r = int(back[0]) + 1
            # line numbers of the file, as the other messages here give (its header: line 1)
            raise TraceError(
                f"{source}: issue time runs backwards at line {r + 2} ({issued[r - 1]} then "
                f"{issued[r]}); rows must be in issue order: sort the file by "
                f"'{issued_col}' (stable) or drop the out-of-order rows")
        lead = (valid.as_unit("ns").asi8 - ii) / 1e9
        bad = np.flatnonzero(lead <= 0)
        if bad.size:
            r = int(bad[0])
            raise TraceError(f"{source}: line {r + 2} is valid for {valid[r]}, not after its issue "
                             f"time {issued[r]}; a forecast must be valid after it is issued")
        uniq, start = np.unique(ii, return_index=True)
        counts = np.diff(np.append(start, len(ii)))
        horizons = lead[start[0]: start[0] + counts[0]]
        h = check_horizons(horizons, f"{source}: horizons of the first issue")
        for u, s0, c in zip(uniq, start, counts, strict=True):
            if c != h.size or not np.allclose(lead[s0: s0 + c], h):
                raise TraceError(
                    f"{source}: the issue at {pd.Timestamp(u, tz='UTC')} covers horizons "
                    f"{(lead[s0: s0 + c] / 60).round(1).tolist()} min, the first issue "
                    f"{(h / 60).round(1).tolist()} min; every issue must cover the same "
                    "horizons: drop incomplete issues")
        vals = np.stack([_numbers(frame, c, source) for c in cols], axis=1)
        vals = vals.reshape(len(uniq), h.size, len(qs))
        return cls(pd.DatetimeIndex(pd.to_datetime(uniq, utc=True)), h, qs, vals, name, unit)


def _first_unread(raw: pd.Series, parsed: pd.Series) -> int | None:
    """The position of the first entry of ``raw`` given but not read into ``parsed``."""
    bad = np.flatnonzero((parsed.isna() & raw.notna()).to_numpy())
    return int(bad[0]) if bad.size else None


def _times(frame: pd.DataFrame, col: str, source: str) -> pd.DatetimeIndex:
    """Column ``col`` as times; an entry that is not one is an error naming its line of the
    file (the header is line 1)."""
    try:
        return pd.DatetimeIndex(pd.to_datetime(frame[col]))
    except (ValueError, TypeError, OverflowError):
        pass
    # Offsets that differ from row to row (a local-time file crossing DST) make pandas
    # refuse "mixed timezones": they are valid, so read every time as UTC.
    parsed = pd.to_datetime(frame[col], errors="coerce", format="mixed", utc=True)
    r = _first_unread(frame[col], parsed)
    if r is None:
        # utc=True took a time without a zone as UTC: refuse one among zoned times (its
        # zone is unknown); all without one stay naive, for from_long to refuse.
        naive = [_naive(x) for x in frame[col]]
        if all(naive):
            return pd.DatetimeIndex(parsed).tz_localize(None)
        if any(naive):
            r, a = naive.index(True), naive.index(False)
            raise TraceError(
                f"{source}: column '{col}' at line {r + 2} ({frame[col].iloc[r]!r}) has no "
                f"time zone, but line {a + 2} ({frame[col].iloc[a]!r}) has one; give every "
                "time a zone, e.g. 2023-06-01T12:00:00Z")
        return pd.DatetimeIndex(parsed)
    at = f" at line {r + 2} ({frame[col].iloc[r]!r})"
    raise TraceError(f"{source}: column '{col}' is not a time{at}; write ISO 8601 times "
                     "with a zone, e.g. 2023-06-01T12:00:00Z")


def _naive(value) -> bool:
    """Whether ``value`` (a time already read by ``pd.to_datetime``) has no time zone."""
    try:
        return pd.Timestamp(value).tzinfo is None
    except (ValueError, TypeError, OverflowError):
        return False


def _numbers(frame: pd.DataFrame, col: str, source: str) -> np.ndarray:
    """Column ``col`` as floats; an entry that is not a number is an error naming its line."""
    try:
        return frame[col].to_numpy(dtype=float)
    except (ValueError, TypeError):
        pass
    r = _first_unread(frame[col], pd.to_numeric(frame[col], errors="coerce"))
    at = "" if r is None else f" at line {r + 2} ({frame[col].iloc[r]!r})"
    raise TraceError(f"{source}: column '{col}' holds a value that is not a number{at}; "
                     "forecast values are powers in W")
