"""Real hourly wind and solar curtailment of the California ISO, 2016-06-30 to 2017-05-10.

Provenance: CAISO's published daily reports "Wind and Solar Real-Time Dispatch
Curtailment", as converted to CSV in the MIT-licensed repository
``ahrensdaniel/caiso-curtailment-scraper`` (commit ``06e7b526``, folder
``ctmtcsv/``). greenhop packages one concatenated copy (245 KB) as
``greenhop/data/caiso/caiso_curtailment_hourly_2016-2017.csv``; the README beside
it records the provenance, the columns, the gaps and reference window statistics.

File format: a header ``interval_start_utc,total_mwh,solar_mwh,wind_mwh``, then one
row per hour: the start of the hour in UTC (ISO 8601 with ``Z`` or an offset) and
the energy curtailed in that hour [MWh] in total, from solar and from wind.

Result: :func:`read_caiso_curtailment` returns the mean curtailed power of each hour
in SI, columns ``total_w``, ``solar_w``, ``wind_w`` [W] (1 MWh in an hour = 1e6 W),
on a tz-aware UTC index of interval starts.

Gaps: thirteen days are missing from the reports and two DST-ambiguous hours were
dropped. Their hours are **absent** from the index (not zero and not NaN), so
:func:`greenhop.traces.windows.find_windows` ends a window at a gap;
:func:`missing_hours` lists them. Nothing is interpolated.

Validation is strict: a missing file, a wrong header, a row with too few or too
many fields, a naive or unparseable timestamp, one not on a whole hour, a
duplicate, backwards or sub-hourly step, a value that is not a finite
non-negative number, or ``total != solar + wind`` raises
:class:`~greenhop.core.errors.TraceError` naming the file, the row (and line) and
the column.
"""

from __future__ import annotations

import csv
import functools
import math
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from greenhop.core.errors import TraceError

HEADER = ("interval_start_utc", "total_mwh", "solar_mwh", "wind_mwh")
#: the columns of the result (mean power over the hour [W]) and the CSV column of each
COLUMNS = {"total_w": "total_mwh", "solar_w": "solar_mwh", "wind_w": "wind_mwh"}
STEP_S = 3600.0
_W_PER_MWH_PER_HOUR = 1e6
#: ``total`` may differ from ``solar + wind`` by this much (rounding of the reports) [MWh]
SUM_TOLERANCE_MWH = 0.5
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


def packaged_path() -> Path:
    """The packaged CSV (``greenhop/data/caiso/caiso_curtailment_hourly_2016-2017.csv``)."""
    return Path(str(resources.files("greenhop") / "data" / "caiso"
                    / "caiso_curtailment_hourly_2016-2017.csv"))


def _where(path: Path, i: int, lines: list[int]) -> str:
    """``file: row N (line M)`` of data row ``i`` (0-based), ``lines`` the line of the file
    each data row starts on (the header is line 1; blank lines are skipped)."""
    return f"{path}: row {i + 1} (line {lines[i]})"


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """The data rows of ``path``, each with the line of the file it starts on."""
    if not path.exists():
        raise TraceError(f"CAISO curtailment file {path} does not exist; pass the path of "
                         "the CSV, or none for the packaged copy")
    if path.is_dir():
        raise TraceError(f"CAISO curtailment path {path} is a folder; give the .csv file")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            rows, line = [], 1
            for row in reader:
                rows.append((line, row))
                line = reader.line_num + 1  # a quoted value may span lines
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not UTF-8 text; give the CSV file") from None
    if not rows:
        raise TraceError(f"{path}: the file is empty; expected the header "
                         f"{','.join(HEADER)} and hourly rows")
    header = tuple(c.strip() for c in rows[0][1])
    if header != HEADER:
        unknown = [c for c in header if c not in HEADER]
        missing = [c for c in HEADER if c not in header]
        detail = (f"unknown column {unknown[0]!r}" if unknown
                  else f"missing column {missing[0]!r}" if missing else "columns out of order")
        raise TraceError(f"{path}: line 1: {detail}; the header must be exactly "
                         f"{','.join(HEADER)}")
    body = [(n, r) for n, r in rows[1:] if r]  # an empty line is skipped
    if len(body) < 2:
        raise TraceError(f"{path}: {len(body)} data rows; a curtailment series needs at "
                         "least two hours")
    return body


def _parse(path: Path, body: list[tuple[int, list[str]]]) -> tuple[pd.DatetimeIndex,
                                                                    np.ndarray]:
    lines = [n for n, _ in body]
    values = np.empty((len(body), 3))
    stamps: list[str] = []
    for i, (_, row) in enumerate(body):
        if len(row) != len(HEADER):
            raise TraceError(f"{_where(path, i, lines)}: {len(row)} fields, expected {len(HEADER)} "
                             f"({','.join(HEADER)})")
        stamp = row[0].strip()
        if not stamp:
            raise TraceError(f"{_where(path, i, lines)}, column interval_start_utc: missing "
                             "timestamp")
        if not _OFFSET.search(stamp):
            raise TraceError(f"{_where(path, i, lines)}, column interval_start_utc: timestamp "
                             f"{stamp!r} has no time zone; write it in UTC such as "
                             "2016-06-30T07:00:00Z")
        stamps.append(stamp)
        for k, col in enumerate(HEADER[1:]):
            text = row[k + 1].strip()
            try:
                v = float(text)
            except ValueError:
                raise TraceError(f"{_where(path, i, lines)}, column {col}: {text!r} is not a "
                                 "number; write the curtailed energy in MWh") from None
            if not math.isfinite(v) or v < 0:
                raise TraceError(f"{_where(path, i, lines)}, column {col}: {text!r} is not a "
                                 "finite non-negative energy in MWh")
            values[i, k] = v
    parsed = pd.to_datetime(pd.Series(stamps), utc=True, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        i = int(bad[0])
        raise TraceError(f"{_where(path, i, lines)}, column interval_start_utc: cannot parse "
                         f"timestamp {stamps[i]!r}; use ISO 8601 such as 2016-06-30T07:00:00Z")
    index = pd.DatetimeIndex(parsed).as_unit("s")
    secs = index.asi8
    off = np.flatnonzero(secs % int(STEP_S) != 0)
    if len(off):
        i = int(off[0])
        raise TraceError(f"{_where(path, i, lines)}, column interval_start_utc: {index[i]} is not "
                         "the start of a whole hour; the series is hourly")
    steps = np.diff(secs)
    bad_step = np.flatnonzero(steps < STEP_S)
    if len(bad_step):
        i = int(bad_step[0]) + 1
        what = ("duplicates" if steps[i - 1] == 0 else
                "comes before" if steps[i - 1] < 0 else "is less than an hour after")
        raise TraceError(f"{_where(path, i, lines)}, column interval_start_utc: {index[i]} {what} "
                         f"the previous row ({index[i - 1]}); keep one row per hour in "
                         "time order")
    mismatch = np.flatnonzero(np.abs(values[:, 0] - values[:, 1] - values[:, 2])
                              > SUM_TOLERANCE_MWH)
    if len(mismatch):
        i = int(mismatch[0])
        raise TraceError(f"{_where(path, i, lines)}, column total_mwh: {values[i, 0]:g} MWh is not "
                         f"solar_mwh + wind_mwh = {values[i, 1] + values[i, 2]:g} MWh")
    return index, values


def _read(path: Path) -> pd.DataFrame:
    index, values = _parse(path, _rows(path))
    frame = pd.DataFrame(values * _W_PER_MWH_PER_HOUR, index=index, columns=list(COLUMNS))
    frame.index.name = "interval_start_utc"
    return frame


@functools.lru_cache(maxsize=1)
def _packaged() -> pd.DataFrame:
    return _read(packaged_path())


def read_caiso_curtailment(path: str | Path | None = None) -> pd.DataFrame:
    """Hourly CAISO wind and solar curtailment as mean power [W] on a UTC hourly index.

    Args:
        path: a CSV in the format of the module docstring; ``None`` reads the packaged copy.

    Returns:
        DataFrame with ``total_w``, ``solar_w``, ``wind_w`` [W] (the hour's curtailed
        energy / 1 h) on a tz-aware UTC index of interval starts. Missing hours are
        absent from the index (see :func:`missing_hours`). ``attrs`` records the source.

    Raises:
        TraceError: malformed input; the message names the file, row, line and column.
    """
    p = packaged_path() if path is None else Path(path)
    frame = _packaged().copy() if path is None else _read(p)
    frame.attrs.update(
        source=str(p), label="interval start", step_s=STEP_S, unit="W",
        provenance=("CAISO daily 'Wind and Solar Real-Time Dispatch Curtailment' reports; "
                    "CSV conversion ahrensdaniel/caiso-curtailment-scraper 06e7b526 "
                    "ctmtcsv/ (MIT)"))
    return frame


def missing_hours(frame: pd.DataFrame) -> pd.DatetimeIndex:
    """Hours between the first and last row of ``frame`` that are absent (the gaps)."""
    full = pd.date_range(frame.index[0], frame.index[-1], freq=pd.Timedelta(seconds=STEP_S))
    return full.difference(frame.index)


def covered_range() -> tuple[pd.Timestamp, pd.Timestamp]:
    """First hour start and last hour end of the packaged series (UTC)."""
    index = read_caiso_curtailment().index
    return index[0], index[-1] + pd.Timedelta(seconds=STEP_S)
