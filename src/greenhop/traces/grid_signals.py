"""Grid signals on a run's clock: carbon intensity, energy price, grid surplus.

Each named signal (:data:`SIGNALS`) is a real series read offline from an installed
package or a packaged file, on an interval-start UTC index:

* ``de-lifecycle``, ``de-direct``: hourly carbon intensity of Germany 2021-2024
  [gCO2eq/kWh] (Electricity Maps via mosaik-emissions, :mod:`greenhop.traces.emissions`).
  These are *average* intensities of the grid mix; used as a marginal signal they are a
  proxy (``docs/grid.md``).
* ``caiso-north-marginal``: WattTime's marginal operating emission rate of CAISO North,
  2023-06-08 to 2023-07-08, 5-minute [gCO2/kWh] (:mod:`greenhop.traces.vessim_data`;
  present after ``greenhop data fetch watttime2023_caiso-north``).
* ``nl-day-ahead``: hourly day-ahead prices of the Netherlands 2015-2024 [EUR/MWh]
  (ENTSO-E's published prices as shipped in the MIT-licensed ``ev2gym`` wheel,
  ``ev2gym/data/Netherlands_day-ahead-2015-2024.csv``; read from the installed package,
  never imported; see :func:`read_nl_day_ahead`).
* ``caiso-curtailment``: hourly wind and solar curtailment of the California ISO
  2016-06-30 to 2017-05-10, mean power [W] (:mod:`greenhop.traces.caiso`): a grid-surplus
  signal.

:func:`on_clock` puts a signal on a run's steps (the mean over each step of the value
held over its interval); :func:`known_until` says, per step, up to which step the signal
is published at that step (its issued forecast): day-ahead prices are known a day ahead
(rule in :func:`day_ahead_known_until`); every other signal only up to now (persistence).
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from greenhop.core.errors import ConfigError, TraceError
from greenhop.core.files import not_a_file_reason
from greenhop.core.grid_events import MAX_PRICE_PER_MWH
from greenhop.traces.user_trace import NS_CLOCK_YEARS, past_ns_clock

#: what a signal measures -> its unit
KINDS = {"carbon": "gCO2/kWh", "price": "currency/MWh", "curtailment": "W"}


@dataclass(frozen=True)
class SignalInfo:
    """One named grid signal: its kind (a key of :data:`KINDS`), what it is, its source."""

    name: str
    kind: str
    what: str
    source: str
    step_s: float
    currency: str | None = None
    day_ahead: bool = False


SIGNALS: dict[str, SignalInfo] = {s.name: s for s in (
    SignalInfo("de-lifecycle", "carbon", "Germany, hourly lifecycle carbon intensity "
               "2021-2024 (average mix)", "Electricity Maps via mosaik-emissions", 3600.0),
    SignalInfo("de-direct", "carbon", "Germany, hourly direct carbon intensity 2021-2024 "
               "(average mix)", "Electricity Maps via mosaik-emissions", 3600.0),
    SignalInfo("caiso-north-marginal", "carbon", "CAISO North marginal emission rate "
               "2023-06-08 to 2023-07-08, 5 min", "WattTime via vessim", 300.0),
    SignalInfo("nl-day-ahead", "price", "Netherlands hourly day-ahead price 2015-2024",
               "ENTSO-E via the ev2gym wheel", 3600.0, currency="EUR", day_ahead=True),
    SignalInfo("caiso-curtailment", "curtailment", "CAISO hourly wind + solar curtailment "
               "2016-06-30 to 2017-05-10", "CAISO daily reports (packaged)", 3600.0),
)}

# ---------------------------------------------------------------- Netherlands day-ahead

NL_FILE = "Netherlands_day-ahead-2015-2024.csv"
NL_HEADER = ("Country", "Datetime (UTC)", "Datetime (Local)", "Price (EUR/MWhe)")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_DMY = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}$")


def nl_day_ahead_path() -> Path:
    """The CSV inside the installed ``ev2gym`` package (the package is not imported)."""
    spec = importlib.util.find_spec("ev2gym")
    if spec is None or not spec.submodule_search_locations:
        raise TraceError("the Netherlands day-ahead prices come with the ev2gym wheel, which "
                         "is not installed; install it with: pip install --no-deps ev2gym")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / NL_FILE
        if path.is_file():
            return path
    raise TraceError(f"ev2gym is installed but data/{NL_FILE} is missing; reinstall it with: "
                     "pip install --no-deps --force-reinstall ev2gym")


def _stamp(text: str) -> pd.Timestamp | None:
    """A UTC hour start in either of the file's formats (``2015-01-01 00:00:00`` or
    ``31/12/2022 23:00``, day first), or None when ``text`` is in neither."""
    text = text.strip()
    if _ISO.match(text):
        fmt = "%Y-%m-%d %H:%M:%S"
    elif _DMY.match(text):
        fmt = "%d/%m/%Y %H:%M"
    else:
        return None
    try:
        return pd.Timestamp(pd.to_datetime(text, format=fmt)).tz_localize("UTC")
    except ValueError:
        return None


def read_nl_day_ahead(path: str | Path | None = None, *, allow_gaps: bool = False) -> pd.Series:
    """Hourly day-ahead prices [EUR/MWh] on an interval-start UTC index, strictly validated.

    The file's ``Datetime (UTC)`` column is used (its local column repeats the autumn
    DST hour; the UTC one does not), in either of its two formats. Two stretches of the
    shipped file overlap (2023-01-01 to 2023-09-30 appears twice, with equal prices): an
    hour repeated with the *same* price is kept once; a repeated hour with a different
    price is an error. One row with no timestamps between the stretches is skipped.

    Args:
        path: a CSV in the same format; default the one in the installed ev2gym wheel.
        allow_gaps: keep missing hours absent from the index (the shipped file lacks
            2023-12-30 23:00 and 2024-12-30 23:00 UTC; :func:`on_clock` refuses a run
            that needs them). Without it a gap is an error naming the row.

    Raises:
        TraceError: naming the file, the row (and line) and the column: wrong header,
            unparseable time or price, a price beyond +-1e9 per MWh, a non-hourly stamp,
            a conflicting duplicate, a gap; an unreadable file. A UTF-8 BOM is accepted.
    """
    p = Path(path) if path is not None else nl_day_ahead_path()
    if not p.is_file():
        raise TraceError(f"price file {p} {not_a_file_reason(p)}; give an hourly price CSV")
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark, invisible in errors
        with p.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError:
        raise TraceError(f"{p}: not UTF-8 text; give the CSV file") from None
    except OSError as exc:  # permission denied, an I/O error
        raise TraceError(f"cannot read {p} ({exc.strerror})") from None
    if not rows or tuple(c.strip() for c in rows[0]) != NL_HEADER:
        got = ",".join(rows[0]) if rows else "an empty file"
        raise TraceError(f"{p}: line 1: expected the header {','.join(NL_HEADER)}, got {got}")
    body = rows[1:]
    for i, row in enumerate(body):
        if len(row) != len(NL_HEADER):
            raise TraceError(f"{_where(p, i)}: expected {len(NL_HEADER)} fields, got {len(row)}")
    if not body:
        raise TraceError(f"{p}: no price rows after the header")
    utc = pd.Series([r[1].strip() for r in body])
    local = pd.Series([r[2].strip() for r in body])
    keep = (utc != "") | (local != "")          # the separator row between the stretches
    iso, dmy = utc.str.match(_ISO), utc.str.match(_DMY)
    stamps = pd.Series(pd.NaT, index=utc.index, dtype="datetime64[ns]")
    for rows_of, fmt in ((iso, "%Y-%m-%d %H:%M:%S"), (dmy, "%d/%m/%Y %H:%M")):
        parsed = pd.to_datetime(utc[rows_of], format=fmt, errors="coerce")
        # a year the nanosecond clock does not hold (9999) would overflow it
        far = parsed.index[past_ns_clock(parsed)]
        if len(far):
            raise TraceError(f"{_where(p, far[0])}, column 'Datetime (UTC)': "
                             f"{utc[far[0]]!r} is outside the years {NS_CLOCK_YEARS}")
        stamps[rows_of] = parsed
    bad = np.flatnonzero(keep & stamps.isna())
    if bad.size:
        raise TraceError(f"{_where(p, bad[0])}, column 'Datetime (UTC)': {utc[bad[0]]!r} is "
                         "neither 'YYYY-MM-DD HH:MM:SS' nor 'DD/MM/YYYY HH:MM'")
    prices = pd.to_numeric(pd.Series([r[3] for r in body]), errors="coerce")
    bad = np.flatnonzero(keep & ~np.isfinite(prices.to_numpy(dtype=float)))
    if bad.size:
        raise TraceError(f"{_where(p, bad[0])}, column 'Price (EUR/MWhe)': expected a finite "
                         f"number, got {body[bad[0]][3]!r}")
    # finite but absurd prices overflow the step means and run costs (1e308 -> inf)
    bad = np.flatnonzero(keep & (prices.abs() > MAX_PRICE_PER_MWH).to_numpy())
    if bad.size:
        raise TraceError(f"{_where(p, bad[0])}, column 'Price (EUR/MWhe)': must be between "
                         f"{-MAX_PRICE_PER_MWH:g} and {MAX_PRICE_PER_MWH:g} per MWh, got "
                         f"{body[bad[0]][3]!r}; check the price's unit")
    frame = pd.DataFrame({"t": stamps, "price": prices, "row": np.arange(len(body))})[keep]
    off_hour = np.flatnonzero((frame["t"].dt.minute != 0) | (frame["t"].dt.second != 0))
    if off_hour.size:
        i = int(frame["row"].iloc[off_hour[0]])
        raise TraceError(f"{_where(p, i)}, column 'Datetime (UTC)': {utc[i]!r} is not on a "
                         "whole hour")
    # A repeated hour is kept once when its price agrees (the file's two stretches overlap).
    first = frame.drop_duplicates("t", keep="first").set_index("t")
    again = frame[frame["t"].duplicated(keep="first")]
    clash = again[again["price"].to_numpy() != first.loc[again["t"], "price"].to_numpy()]
    if len(clash):
        i, t = int(clash["row"].iloc[0]), clash["t"].iloc[0]
        j = int(first.loc[t, "row"])
        raise TraceError(f"{_where(p, i)}, column 'Datetime (UTC)': hour {t:%Y-%m-%d %H:%M} "
                         f"UTC is already given in row {j + 1} with price "
                         f"{first.loc[t, 'price']:g}, here {clash['price'].iloc[0]:g}; keep one")
    first = first.sort_index()
    index = pd.DatetimeIndex(first.index).tz_localize("UTC")
    out = pd.Series(first["price"].to_numpy(dtype=float), index=index, name="price_per_mwh")
    gaps = _gaps(index)
    if len(gaps) and not allow_gaps:
        before = first["row"].iloc[index.searchsorted(gaps[0]) - 1]
        raise TraceError(f"{_where(p, int(before))}, column 'Datetime (UTC)': the hour after "
                         f"it, {gaps[0]:%Y-%m-%d %H:%M} UTC, is missing ({len(gaps)} missing "
                         "hours in all); a price trace must be hourly without gaps")
    out.attrs.update(source=SIGNALS["nl-day-ahead"].source, unit="EUR/MWh",
                     label="interval start", file=str(p))
    return out


def _where(path: Path, i: int) -> str:
    """``file: row N (line M)`` of data row ``i`` (0-based; the header is line 1)."""
    return f"{path}: row {i + 1} (line {i + 2})"


def _gaps(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    full = pd.date_range(index[0], index[-1], freq="h", tz="UTC")
    return full.difference(index)


@functools.lru_cache(maxsize=1)
def _nl_packaged() -> pd.Series:
    return read_nl_day_ahead(allow_gaps=True)


def nl_missing_hours() -> pd.DatetimeIndex:
    """The hours (UTC starts) the shipped price file lacks."""
    return _gaps(_nl_packaged().index)


# ---------------------------------------------------------------- any signal


def check_signal(name: str, kind: str, where: str) -> SignalInfo:
    """The signal called ``name``, which must be of ``kind``; ConfigError naming ``where``."""
    info = SIGNALS.get(name)
    if info is None:
        valid = ", ".join(n for n, s in SIGNALS.items() if s.kind == kind)
        raise ConfigError(f"{where}: unknown {kind} signal {name!r}; valid: {valid}")
    if info.kind != kind:
        raise ConfigError(f"{where}: {name!r} is a {info.kind} signal, not a {kind} signal")
    return info


def signal_series(name: str) -> pd.Series:
    """The whole series of signal ``name`` in the unit of its kind (:data:`KINDS`)."""
    if name in ("de-lifecycle", "de-direct"):
        from greenhop.traces.emissions import read_germany_carbon_intensity

        return read_germany_carbon_intensity(scope=name.removeprefix("de-"))
    if name == "caiso-north-marginal":
        from greenhop.traces.vessim_data import read_watttime_caiso_north

        return read_watttime_caiso_north()["actual_g_per_kwh"]
    if name == "nl-day-ahead":
        return _nl_packaged()
    if name == "caiso-curtailment":
        from greenhop.traces.caiso import read_caiso_curtailment

        return read_caiso_curtailment()["total_w"]
    raise ConfigError(f"unknown grid signal {name!r}; valid: {', '.join(SIGNALS)}")


def on_clock(name: str, index: pd.DatetimeIndex, *, offset_s: float = 0.0,
             where: str = "grid") -> np.ndarray:
    """Signal ``name`` on the steps starting at ``index`` (UTC), shifted so that simulated
    time ``t`` sees the signal's time ``t + offset_s``: the mean over each step of the value
    held over its interval, shape ``[len(index)]``.

    Raises:
        TraceError: a step outside the series' span or touching a missing interval; the
            message names ``where``, the span needed and the span covered.
    """
    return series_on_clock(signal_series(name), SIGNALS[name].step_s, index,
                            offset_s=offset_s, what=f"grid signal {name!r}", where=where)


def series_on_clock(series: pd.Series, step_s: float, index: pd.DatetimeIndex, *,
                    offset_s: float = 0.0, what: str = "grid signal",
                    where: str = "grid") -> np.ndarray:
    """:func:`on_clock` for any interval-start UTC ``series`` of step ``step_s`` [s]."""
    from greenhop.traces.resample import resample_energy

    shifted = index + pd.Timedelta(seconds=offset_s)
    try:
        values = resample_energy(series, shifted, source_step_s=step_s, what=what).to_numpy()
    except TraceError as exc:
        raise TraceError(f"{where}: {exc}") from None
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise TraceError(f"{where}: {what} has no value for the step starting "
                         f"{shifted[bad[0]]:%Y-%m-%d %H:%M} UTC (signal time; a gap in the "
                         f"data, {bad.size} steps in all); move start or the offset")
    return values


def day_ahead_known_until(index: pd.DatetimeIndex, offset_s: float = 0.0) -> np.ndarray:
    """Per step, the last step whose day-ahead price is published at that step's start.

    Rule (conservative, on UTC): the day-ahead auction's results are out by 12:00 UTC of
    day D and cover the delivery day D+1 in Central European time, which ends at 22:00
    UTC (summer) or 23:00 UTC (winter) of D+1. So at signal time ``tau`` prices are known
    for every interval starting before 22:00 UTC of D+1 when ``tau`` is at or after 12:00
    UTC of D, else before 22:00 UTC of D. A step (of ``index``'s spacing) counts as known
    only if it ends by then: a 2 h step from 21:00 holds an hour not yet published.
    """
    shifted = index + pd.Timedelta(seconds=offset_s)
    t = shifted.as_unit("s").asi8.astype(np.int64)
    step = int(t[1] - t[0]) if len(t) > 1 else 0
    day = (t // 86400) * 86400
    ahead = np.where(t - day >= 12 * 3600, 86400, 0)
    end = day + ahead + 22 * 3600                # the first interval start not yet known
    last = np.searchsorted(t + step, end, side="right") - 1  # the last step ending by then
    return np.maximum(last, np.arange(len(t)))  # the present step is always known


def known_until(name: str, index: pd.DatetimeIndex, offset_s: float = 0.0) -> np.ndarray:
    """Per step, the last step of ``index`` whose value of signal ``name`` is published at
    that step: a day ahead for day-ahead prices, else the step itself (persistence)."""
    if SIGNALS[name].day_ahead:
        return day_ahead_known_until(index, offset_s)
    return np.arange(len(index))
