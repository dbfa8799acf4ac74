"""The token bucket holds a stream to its rate."""

from __future__ import annotations

import math

import pytest

from greenhop.core.errors import ConfigError
from greenhop.runtime.ratelimit import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


@pytest.mark.parametrize("rate_bps", [1e6, 100e6, 1e9])
def test_long_run_rate_is_the_configured_rate(rate_bps) -> None:
    t = FakeTime()
    bucket = TokenBucket(rate_bps, clock=t.clock, sleep=t.sleep)
    total = 0
    for _ in range(2000):
        bucket.consume(65536)
        total += 65536
    expected_s = (total - bucket.burst_bytes) * 8 / rate_bps
    assert t.now == pytest.approx(expected_s, rel=1e-9)


def test_idle_time_refills_at_most_one_burst() -> None:
    t = FakeTime()
    bucket = TokenBucket(8e6, burst_bytes=1000, clock=t.clock, sleep=t.sleep)
    assert bucket.consume(1000) == 0
    t.now += 100.0  # long idle: only one burst comes back
    assert bucket.consume(1000) == 0
    assert bucket.consume(1000) == pytest.approx(1000 / 1e6)


def test_unlimited_and_invalid_rates() -> None:
    assert TokenBucket(math.inf).consume(10**9) == 0
    with pytest.raises(ConfigError, match="positive"):
        TokenBucket(0)
