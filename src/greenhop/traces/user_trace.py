"""Read the user's own power or carbon-intensity trace from CSV or Parquet, strictly validated.

The user names the value column and its unit explicitly; greenhop never
guesses. The timestamps must carry a UTC offset (``2023-06-01T12:00Z`` or
``2023-06-01 14:00+02:00``) and label the **start** of each interval unless
``label="end"`` is given. The result is a tz-aware UTC series in SI units
(``power_w`` [W], or ``carbon_g_per_kwh`` [gCO2/kWh]).

Checks, each a :class:`~greenhop.core.errors.TraceError` that says what was
wrong, where (row number and timestamp) and how to fix it: missing file,
unknown format, unreadable file, unknown column or unit, missing, naive,
unparseable, duplicate or non-monotonic timestamps, irregular spacing, gaps,
NaN / infinite / non-numeric / negative values (a ``signed`` surplus trace may be negative),
and too short a span.
Repairs happen only when asked for: ``gaps="interpolate"`` fills gaps and NaN
runs up to ``max_gap_s`` by linear interpolation in time; ``gaps="break"``
keeps the gaps (missing steps) so that windows never span them.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from greenhop.core.errors import TraceError
from greenhop.core.files import not_a_file_reason
from greenhop.core.units import (
    MAX_CARBON_G_PER_KWH,
    MAX_CARBON_TEXT,
    MAX_POWER_TEXT,
    MAX_POWER_W,
)

#: unit -> (quantity, factor to SI, is the value an energy per interval)
UNITS: dict[str, tuple[str, float, bool]] = {
    "W": ("power_w", 1.0, False),
    "kW": ("power_w", 1e3, False),
    "MW": ("power_w", 1e6, False),
    "GW": ("power_w", 1e9, False),
    "Wh": ("power_w", 3600.0, True),
    "kWh": ("power_w", 3.6e6, True),
    "MWh": ("power_w", 3.6e9, True),
    "gCO2/kWh": ("carbon_g_per_kwh", 1.0, False),
    "kgCO2/MWh": ("carbon_g_per_kwh", 1.0, False),
    "tCO2/MWh": ("carbon_g_per_kwh", 1000.0, False),
    "lbCO2/MWh": ("carbon_g_per_kwh", 0.45359237, False),
}
MAX_SI: dict[str, tuple[float, str]] = {"power_w": (MAX_POWER_W, MAX_POWER_TEXT),
                                         "carbon_g_per_kwh": (MAX_CARBON_G_PER_KWH,
                                                              MAX_CARBON_TEXT)}
"""Largest plausible value of each quantity once in SI units (a site's power, a grid's
intensity): far above any real one, low enough that sums over a year stay finite."""
GAP_MODES = ("error", "break", "interpolate")
NA_TEXTS = ["", "NaN", "nan", "NAN", "NA", "N/A", "NULL", "null"]
"""CSV values that mean a missing value (as an empty field does): ``gaps`` decides what
becomes of them."""
TIME_COLUMN_GUESSES = ("time", "timestamp", "datetime", "date", "interval_start",
                       "interval_start_utc", "time_utc")
# A zone at the end of a time: Z, UTC, GMT, +HH:MM, +HHMM, or +HH right after a time of day
# (a bare "-01" may be the day of a date without a time, so it needs the time before it).
_ZONE_WORD = r"(?i)\s*(?:UTC|GMT|(?<=\d)z)$"
"""A zone written as a word (``UTC``, ``GMT``) or a lowercase ``z`` at the end of a time."""
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2}|UTC|GMT|[T ]\d{2}(:?\d{2}){0,2}([.,]\d+)?\s*[+-]\d{2})$",
                     re.IGNORECASE)


NS_CLOCK_YEARS = "1678 to 2261"
"""The whole years int64 nanoseconds since 1970 hold (pandas' clock: 1677-09-21 to
2262-04-11), as error messages name them."""


def past_ns_clock(times) -> np.ndarray:
    """Positions of ``times`` (naive or UTC, any unit; NaT is not past) outside the
    nanosecond clock: converting them would overflow."""
    t = pd.DatetimeIndex(times)
    lo, hi = pd.Timestamp.min, pd.Timestamp.max
    if t.tz is not None:
        lo, hi = lo.tz_localize("UTC"), hi.tz_localize("UTC")
    return np.flatnonzero((t < lo) | (t > hi))


def _nanoseconds(times: pd.DatetimeIndex, path, kind: str,
                 lines: list[int] | None = None) -> np.ndarray:
    """``times`` as int64 nanoseconds since 1970; a time outside what they hold is a
    TraceError naming its row, not an overflow."""
    try:
        return times.as_unit("ns").asi8
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        i = int(past_ns_clock(times)[0])
        raise TraceError(f"{path}: time {times[i]} at {_where(kind, i, lines)} is outside the "
                         f"years {NS_CLOCK_YEARS} that greenhop's time axis holds; check the time "
                         "column") from None


def _where(kind: str, i: int, lines: list[int] | None = None) -> str:
    """Human position of data row ``i`` (0-based); ``lines``: the line of the file each
    data row of a CSV is on (blank lines are skipped, so row ``i`` may be below line
    ``i + 2``)."""
    if kind == "csv":
        return f"row {i + 1} (line {lines[i] if lines else i + 2} of the file)"
    return f"row {i + 1}"


def _csv_lines(path: Path, n_rows: int) -> list[int] | None:
    """The line (from 1) each of the ``n_rows`` data rows of CSV ``path`` starts on, as
    pandas reads them: lines that are empty or hold only spaces are skipped; a quoted
    value may span lines. None when the count differs from pandas' (no line is better
    than a wrong one)."""
    starts, line = [], 1
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        for row in reader:
            if len(row) > 1 or (row and row[0].strip()):
                starts.append(line)
            line = reader.line_num + 1
    return starts[1:] if len(starts) == n_rows + 1 else None  # the first is the header


def _read_table(path: Path) -> tuple[pd.DataFrame, str, list[int] | None]:
    if not path.exists():
        raise TraceError(f"trace file {path} does not exist; check the path")
    if not path.is_file():
        raise TraceError(f"trace path {path} {not_a_file_reason(path)}; give a .csv or "
                         ".parquet file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=NA_TEXTS)
        except pd.errors.EmptyDataError:
            raise TraceError(f"{path}: the file is empty; give a header line and data rows"
                             ) from None
        except UnicodeDecodeError:
            raise TraceError(f"{path}: {_not_utf8(path)}; save it as comma-separated UTF-8 "
                             "text (a spreadsheet's 'CSV UTF-8')") from None
        except pd.errors.ParserError as exc:
            raise TraceError(f"{path}: not a readable CSV file ({str(exc).strip()}); "
                             "save it as comma-separated UTF-8 text") from None
        if not isinstance(table.index, pd.RangeIndex):
            # pandas read the first data line's extra fields as an index
            raise TraceError(f"{path}: line 2 has more fields "
                             f"({len(table.columns) + table.index.nlevels}) than the header "
                             f"({len(table.columns)} columns); every row needs exactly one "
                             "value per header column"
                             + _separator_hint([str(c) for c in table.columns]))
        header = pd.read_csv(path, header=None, nrows=1, dtype=str,
                             keep_default_na=False).iloc[0].tolist()
        if len(set(header)) < len(header):
            table.columns = header  # pandas renamed repeats 'name.1': keep them visible
        return table, "csv", _csv_lines(path, len(table))
    if suffix in (".parquet", ".pq"):
        try:
            table = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types
            raise TraceError(f"{path}: not a readable Parquet file ({type(exc).__name__}: "
                             f"{str(exc).strip()[:120]}); write it with DataFrame.to_parquet"
                             ) from None
        if isinstance(table.index, pd.DatetimeIndex):
            table = table.reset_index()
        return table, "parquet", None
    raise TraceError(f"{path}: unknown trace format {suffix or '(no extension)'!r}; "
                     "use a .csv or .parquet file")


def _separator_hint(columns: list[str]) -> str:
    """A hint when the header reads as one column holding ``;`` or tabs: the file is
    separated by something other than commas, which CSV here is not."""
    if len(columns) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs")):
            if sep in columns[0]:
                return (f"; the header looks separated by {name}: save the file with "
                        "commas between the columns")
    return ""


def _parse_times(raw: pd.Series, path: Path, kind: str, col: str, lines: list[int] | None = None,
                 guessed: bool = False) -> pd.DatetimeIndex:
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        times = pd.DatetimeIndex(raw)
        bad = np.flatnonzero(times.isna())
        if len(bad):
            raise TraceError(f"{path}: missing timestamp in column {col!r} at "
                             f"{_where(kind, bad[0], lines)}; every row needs a time")
        return times.tz_convert("UTC")
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        raise TraceError(f"{path}: timestamps in column {col!r} have no time zone (naive); "
                         "store them as UTC-aware timestamps, e.g. "
                         "df[col] = df[col].dt.tz_localize('UTC')")
    text = raw.astype("string")
    for i, value in enumerate(text.tolist()):
        if value is None or value is pd.NA or str(value).strip() == "":
            raise TraceError(f"{path}: missing timestamp in column {col!r} at "
                             f"{_where(kind, i, lines)}; every row needs a time")
    # Parsed first (a timestamp without an offset is read as UTC here), so that text which is
    # no time at all is reported as such, not as a time without a zone.
    # "... UTC" / "GMT" (database exports) and a lowercase "z" mean Z, which ISO 8601
    # parsing takes; the text itself stays as written for the messages below
    iso = text.str.strip().str.replace(_ZONE_WORD, "Z", regex=True)
    parsed = pd.to_datetime(iso, utc=True, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        i = bad[0]
        chosen = (f"; greenhop took {col!r} as the time column: name another with "
                  "--time-column (time_column=...)" if guessed else "")
        raise TraceError(f"{path}: cannot parse timestamp {text.iloc[i]!r} at "
                         f"{_where(kind, i, lines)} in column {col!r}; use ISO 8601 such as "
                         f"2023-06-01T12:00:00+00:00{chosen}")
    for i, value in enumerate(text.tolist()):
        if not _OFFSET.search(str(value).strip()):
            raise TraceError(
                f"{path}: timestamp {value!r} at {_where(kind, i, lines)} has no time zone "
                "(naive); write it with a UTC offset, e.g. 2023-06-01T12:00Z or "
                "2023-06-01 14:00+02:00")
    return pd.DatetimeIndex(parsed)


SECOND_STEP_ROWS = 3
"""Consecutive spacings of one length longer than the step that make a second sampling
rate, not gaps: a file logged hourly, then every minute (read as gaps, ``gaps='break'``
kept each hourly row for one minute and dropped the rest of its hour without a word)."""


def _refuse_a_second_step(path, diffs_s: np.ndarray, step_s: float, times, kind: str,
                          lines) -> None:
    """A :class:`TraceError` when the spacing settles on another length than ``step_s``
    (the most common) for :data:`SECOND_STEP_ROWS` rows in a row, naming where."""
    longer = diffs_s > step_s
    # same[i]: spacing i repeats spacing i - 1, both longer than the step
    same = longer[1:] & longer[:-1] & (diffs_s[1:] == diffs_s[:-1])
    k = SECOND_STEP_ROWS - 1  # repeats in a row that make SECOND_STEP_ROWS such spacings
    if len(same) >= k:
        runs = np.flatnonzero(np.convolve(same, np.ones(k, dtype=int), "valid") == k)
        if len(runs):
            first = int(runs[0])  # the first spacing of that run
            n = int(np.sum(diffs_s == diffs_s[first]))
            raise TraceError(
                f"{path}: the sampling changes: every {step_s:g} s on most rows, but every "
                f"{diffs_s[first]:g} s on {n} from {_where(kind, first, lines)} "
                f"({times[first]}); resample the trace to one step (e.g. pandas' "
                "resample) rather than read the longer spacing as gaps")


def _not_utf8(path: Path) -> str:
    """Where the file at ``path`` stops being UTF-8: line and byte (pandas reads it in
    chunks, so its own position, "position 2", is within a chunk)."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return (f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line} (its byte {col}) "
                "(Windows-1252 or Latin-1, as an older spreadsheet saves it?)")
    return "not UTF-8 text"


def _column_hint(name: str, columns: list[str]) -> str:
    """Why ``name`` is not among ``columns`` where it can be told: a header written with
    spaces around a name, or a file with no header (its first row read as one)."""
    if any(c.strip() == name for c in columns):
        return "; the header has spaces around the name: remove them"
    try:
        pd.Timestamp(columns[0])
        return ("; the first row looks like data, not a header: add a header line naming "
                "the columns (e.g. time,pv_kw)")
    except (ValueError, TypeError):
        return ""


def read_trace(path: str | Path, column: str, unit: str, *, time_column: str | None = None,
               gaps: str = "error", max_gap_s: float = 3600.0, min_span_s: float = 3600.0,
               label: str = "start", signed: bool = False) -> pd.Series:
    """Read column ``column`` in ``unit`` from a CSV or Parquet file as a UTC series in SI.

    Args:
        path: ``.csv`` or ``.parquet`` file.
        column: the value column.
        unit: one of :data:`UNITS` (power W/kW/MW/GW; energy per interval Wh/kWh/MWh,
            converted to mean power; carbon intensity gCO2/kWh, kgCO2/MWh, tCO2/MWh,
            lbCO2/MWh).
        time_column: timestamp column; default: the first of
            :data:`TIME_COLUMN_GUESSES` present, else the first column.
        gaps: ``error`` (default), ``break`` (keep missing steps; windows never span
            them) or ``interpolate`` (fill gaps and NaN runs up to ``max_gap_s``).
        max_gap_s: longest gap ``interpolate`` fills [s].
        min_span_s: shortest accepted time span [s].
        label: ``start`` or ``end``: which end of its interval a timestamp labels.
        signed: the values are a surplus (renewable - load), negative whenever the load
            exceeds generation: negative values are kept (default: a power or an intensity,
            which cannot be negative, so they are refused). A power unit only.

    Returns:
        Series named ``power_w`` [W] or ``carbon_g_per_kwh`` [gCO2/kWh] on an
        interval-start UTC DatetimeIndex; ``attrs`` records the provenance.
    """
    path = Path(path)
    if unit not in UNITS:
        raise TraceError(f"unknown unit {unit!r} for {path.name}; use one of "
                         f"{', '.join(UNITS)}")
    if gaps not in GAP_MODES:
        raise TraceError(f"unknown gap mode {gaps!r}; use one of {', '.join(GAP_MODES)}")
    if label not in ("start", "end"):
        raise TraceError(f"label must be 'start' or 'end', got {label!r}")
    if signed and UNITS[unit][0] != "power_w":
        raise TraceError(f"unit {unit} is a carbon intensity; only a power (surplus) trace "
                         "can be signed")
    table, kind, lines = _read_table(path)
    columns = [str(c) for c in table.columns]
    if len(table) == 0:
        raise TraceError(f"{path}: no data rows under the header; add at least two rows")
    guessed = time_column is None
    if time_column is None:
        time_column = next((c for c in TIME_COLUMN_GUESSES if c in columns), columns[0])
    elif time_column not in columns:
        raise TraceError(f"{path}: no time column {time_column!r}; columns are "
                         f"{', '.join(map(repr, columns))}{_column_hint(time_column, columns)}"
                         f"{_separator_hint(columns)}")
    if column not in columns:
        raise TraceError(f"{path}: no column {column!r}; columns are "
                         f"{', '.join(map(repr, columns))}{_column_hint(column, columns)}"
                         f"{_separator_hint(columns)}")
    for name in (time_column, column):
        if columns.count(name) > 1:
            raise TraceError(f"{path}: {columns.count(name)} columns are named {name!r}; "
                             "rename all but one so the column to read is unambiguous")
    if column == time_column:
        raise TraceError(f"{path}: column {column!r} is the time column; name the value "
                         "column with --column and the time column with --time-column")
    times = _parse_times(table[time_column], path, kind, time_column, lines, guessed)

    raw = table[column]
    if kind == "parquet" and not (pd.api.types.is_integer_dtype(raw.dtype)
                                  or pd.api.types.is_float_dtype(raw.dtype)):
        # pd.to_numeric would read booleans as 0/1 and durations as their nanosecond count
        raise TraceError(f"{path}: column {column!r} holds {raw.dtype} values, not numbers; "
                         f"store the values in {unit} as a float or integer column")
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    was_given = ~raw.isna().to_numpy()
    bad = np.flatnonzero(np.isnan(values) & was_given)
    if len(bad):
        i = bad[0]
        raise TraceError(f"{path}: value {raw.iloc[i]!r} in column {column!r} at "
                         f"{_where(kind, i, lines)} is not a number; write plain numbers in {unit}")
    inf = np.flatnonzero(np.isinf(values))
    if len(inf):
        raise TraceError(f"{path}: infinite value in column {column!r} at "
                         f"{_where(kind, inf[0], lines)} ({times[inf[0]]}); replace it with the "
                         "measured value")

    ts = _nanoseconds(times, path, kind, lines)
    dup = np.flatnonzero(np.diff(ts) == 0)
    if len(dup):
        i = dup[0] + 1
        raise TraceError(f"{path}: duplicate timestamp {times[i]} at {_where(kind, i, lines)} "
                         f"(same as {_where(kind, i - 1, lines)}); keep one row per time")
    back = np.flatnonzero(np.diff(ts) < 0)
    if len(back):
        i = back[0] + 1
        raise TraceError(f"{path}: timestamps go backwards at {_where(kind, i, lines)}: {times[i]} "
                         f"comes after {times[i - 1]}; sort the rows by time")
    if len(times) < 2:
        raise TraceError(f"{path}: only one row; a trace needs at least two rows to have a "
                         "time step")
    diffs_s = np.diff(ts) / 1e9
    uniq, counts = np.unique(diffs_s, return_counts=True)
    step_s = float(uniq[np.argmax(counts)])
    off = np.flatnonzero(np.abs(diffs_s / step_s - np.round(diffs_s / step_s)) > 1e-9)
    if len(off):
        i = off[0] + 1
        raise TraceError(f"{path}: irregular spacing at {_where(kind, i, lines)} ({times[i]}): "
                         f"{diffs_s[off[0]]:g} s after the previous row, but the step is "
                         f"{step_s:g} s; resample the trace to a regular step")
    _refuse_a_second_step(path, diffs_s, step_s, times, kind, lines)
    span_s = float((ts[-1] - ts[0]) / 1e9 + step_s)
    if span_s < min_span_s:
        raise TraceError(f"{path}: the trace spans only {span_s:g} s ({times[0]} to "
                         f"{times[-1]}); give at least {min_span_s:g} s of data")

    quantity, factor, per_interval = UNITS[unit]
    neg = np.flatnonzero(values < 0)
    if len(neg) and not signed:
        i = neg[0]
        raise TraceError(f"{path}: negative value {values[i]:g} {unit} in column {column!r} at "
                         f"{_where(kind, i, lines)} ({times[i]}); {quantity.split('_')[0]} cannot "
                         "be negative: fix the sign or clip it to 0")
    with np.errstate(over="ignore"):
        si = (values / step_s if per_interval else values) * factor
    huge = np.flatnonzero(np.isinf(si))
    if len(huge):
        i = huge[0]
        raise TraceError(f"{path}: value {values[i]:g} {unit} in column {column!r} at "
                         f"{_where(kind, i, lines)} ({times[i]}) is too large: it overflows to "
                         "infinity once converted to SI units; check the value and the unit")
    cap, cap_text = MAX_SI[quantity]
    huge = np.flatnonzero(np.abs(si) > cap)
    if len(huge):
        i = huge[0]
        raise TraceError(f"{path}: value {values[i]:g} {unit} in column {column!r} at "
                         f"{_where(kind, i, lines)} ({times[i]}) is more than {cap_text}"
                         f"{'' if values[i] >= 0 else ' below zero'}, far above "
                         "any real one; check the value and the unit")
    nan = np.flatnonzero(np.isnan(values))
    gap_pos = np.flatnonzero(diffs_s > step_s)
    if gaps == "error":
        if len(nan):
            i = nan[0]
            raise TraceError(f"{path}: missing value (NaN) in column {column!r} at "
                             f"{_where(kind, i, lines)} ({times[i]}); fill it, or pass "
                             "gaps='interpolate' (--gaps interpolate) to fill short runs")
        if len(gap_pos):
            i = gap_pos[0]
            raise TraceError(
                f"{path}: gap of {diffs_s[i] - step_s:g} s after {times[i]} "
                f"({_where(kind, i, lines)}): the next row is {times[i + 1]}; add the missing "
                "rows, or pass gaps='break' (--gaps break) to end windows at gaps or "
                "gaps='interpolate' "
                "(--gaps interpolate) to fill short ones"
            )
    series = pd.Series(si, index=times, name=quantity)
    if gaps == "interpolate":
        full = pd.date_range(times[0], times[-1], freq=pd.Timedelta(seconds=step_s))
        series = series.reindex(full)
        missing = series.isna().to_numpy()
        starts = np.flatnonzero(missing & ~np.concatenate([[False], missing[:-1]]))
        stops = np.flatnonzero(missing & ~np.concatenate([missing[1:], [False]])) + 1
        for a, b in zip(starts, stops, strict=True):
            length_s = (b - a) * step_s
            if a == 0 or b == len(series):
                raise TraceError(f"{path}: missing values at the {'start' if a == 0 else 'end'}"
                                 f" of the trace ({full[a]}) cannot be interpolated; trim them")
            if length_s > max_gap_s:
                raise TraceError(f"{path}: gap of {length_s:g} s from {full[a]} is longer than "
                                 f"the {max_gap_s:g} s interpolation limit; add the missing rows, "
                                 "pass gaps='break' (--gaps break) to end windows at gaps, or "
                                 "(from Python) raise max_gap_s")
        series = series.interpolate(method="time")
    elif gaps == "break":
        series = series[~np.isnan(values)]
    if label == "end":
        series.index = series.index - pd.Timedelta(seconds=step_s)
    series.index = pd.DatetimeIndex(series.index).tz_convert("UTC")
    series.index.name = "interval_start_utc"
    series.attrs.update(source=str(path), column=column, unit=unit, step_s=step_s,
                        label="interval start", gaps=gaps, signed=signed)
    return series
