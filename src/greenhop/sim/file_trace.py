"""A scenario site's renewable power from the user's own trace file (trace kind ``file``).

The file is read by :func:`greenhop.traces.user_trace.read_trace` (the reader of
``greenhop windows --trace``: the same checks, the same units), shifted by the trace's
``offset`` (simulated time ``t`` sees the file's ``t + offset``), resampled onto the run's
steps keeping its energy (:func:`greenhop.traces.resample.resample_energy`), and scaled by
``scale``. Steps a ``gaps = "break"`` file leaves missing count as no renewable power.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from greenhop.core.errors import TraceError

FILE_TRACE_UNITS = ("W", "kW", "MW", "GW", "Wh", "kWh", "MWh")
"""Units a site's trace file may be in: a power, or an energy per interval (converted to
mean power)."""


@functools.lru_cache(maxsize=16)
def _read(path: str, column: str, unit: str, time_column: str | None, label: str,
          gaps: str, mtime_ns: int) -> pd.Series:
    """The file's power series [W] (cached while the file is unchanged: a sweep's cells
    and the scenario check read it once)."""
    from greenhop.traces.user_trace import read_trace

    return read_trace(path, column, unit, time_column=time_column, gaps=gaps, label=label)


def file_trace_series(trace) -> pd.Series:
    """The power [W] of ``trace`` (a ``file`` :class:`~greenhop.sim.scenario_sites.TraceSpec`)
    on the file's own UTC steps; :class:`TraceError` naming the file for a bad one."""
    path = Path(trace.path)
    try:
        mtime_ns = path.stat().st_mtime_ns
    except OSError as exc:
        raise TraceError(f"{path}: cannot read the trace file ({exc.strerror or exc})") from None
    return _read(str(path), trace.column, trace.unit, trace.time_column, trace.label,
                 trace.gaps, mtime_ns)


def file_trace_w(trace, index: pd.DatetimeIndex) -> np.ndarray:
    """``scale x`` the file's mean power [W] over each step starting at ``index`` (the
    file's time ``t + offset`` at simulated time ``t``); a step the file does not cover is
    a :class:`TraceError` that says the file's span and the one asked for."""
    series = file_trace_series(trace)
    shifted = index + pd.Timedelta(seconds=trace.offset_s)
    from greenhop.traces.resample import resample_energy

    values = resample_energy(series, shifted, what=f"trace file {trace.path}").to_numpy()
    return trace.scale * np.nan_to_num(values, nan=0.0)
