"""A token bucket that holds a byte stream to a configured link rate."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from greenhop.core.errors import ConfigError

BURST_S = 0.05
"""Default bucket depth as time at the configured rate [s]: deep enough that a sender
descheduled for a few tens of milliseconds (a busy machine) loses no link time,
shallow enough that a multi-second transfer cannot run measurably above the rate."""


class TokenBucket:
    """Limit throughput to ``rate_bps`` [bit/s] with bursts of at most ``burst_bytes`` [B]
    (default :data:`BURST_S` of link time: any transfer takes at least its size at the
    rate less :data:`BURST_S`).

    :meth:`consume` takes ``n`` bytes of tokens and sleeps off any debt, so the
    long-run rate is exact and a large write is never refused. One bucket shared
    by several connections models one link they share. ``rate_bps = inf``
    disables the limit.
    """

    def __init__(
        self,
        rate_bps: float,
        burst_bytes: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (rate_bps > 0):
            raise ConfigError(f"link rate must be positive (or inf); got {rate_bps} bit/s")
        self.rate_bps = float(rate_bps)
        self.rate_Bps = self.rate_bps / 8.0
        if burst_bytes is None:
            # BURST_S of link time, no byte floor: a floor of 64 KiB was 5 s at 100 kbit/s,
            # and a 94 kB checkpoint crossed such a link 3x faster than the rate
            burst_bytes = 256 * 1024 if math.isinf(self.rate_Bps) else self.rate_Bps * BURST_S
        if not (burst_bytes > 0):
            raise ConfigError(f"burst must be positive; got {burst_bytes} B")
        self.burst_bytes = float(burst_bytes)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst_bytes
        self._last = clock()
        self._lock = threading.Lock()

    @property
    def unlimited(self) -> bool:
        return math.isinf(self.rate_bps)

    def reserve(self, n_bytes: int) -> float:
        """Take ``n_bytes`` tokens without sleeping; return how long the caller must wait
        before sending them [s] (an event loop awaits it instead of blocking)."""
        if self.unlimited or n_bytes <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst_bytes, self._tokens + (now - self._last) * self.rate_Bps)
            self._last = now
            self._tokens -= n_bytes
            return -self._tokens / self.rate_Bps if self._tokens < 0 else 0.0

    def consume(self, n_bytes: int) -> float:
        """Take ``n_bytes`` tokens, sleeping until the rate allows it; return the wait [s]."""
        wait_s = self.reserve(n_bytes)
        if wait_s > 0:
            self._sleep(wait_s)
        return wait_s
