"""The Clock seam: the simulator runs on virtual time, the runtime on the wall clock.

Both sides give the mechanism ``now_s()`` (seconds since the run's start) and
``sleep_until(t_s)``; policies never see a clock, only the time in their
Observation.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Time source of a run, in seconds since the run's start [s]."""

    def now_s(self) -> float: ...

    def sleep_until(self, t_s: float) -> None: ...


class VirtualClock:
    """Simulated time: ``sleep_until`` jumps there at once (never backwards)."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)

    def now_s(self) -> float:
        return self._now_s

    def sleep_until(self, t_s: float) -> None:
        if t_s < self._now_s:
            raise ValueError(f"virtual time cannot go back from {self._now_s} s to {t_s} s")
        self._now_s = float(t_s)


class ScaledWallClock:
    """Wall-clock time sped up by ``time_scale`` (3600 = one simulated hour per second)."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self.time_scale = float(time_scale)
        self._t0 = time.monotonic()

    def now_s(self) -> float:
        return (time.monotonic() - self._t0) * self.time_scale

    def sleep_until(self, t_s: float) -> None:
        delay = (t_s - self.now_s()) / self.time_scale
        if delay > 0:
            time.sleep(delay)
