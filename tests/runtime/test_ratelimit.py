"""The token bucket holds a stream to its rate, small transfers too (the burst was at least
64 KiB: 5 s of a 100 kbit/s link, so a 94 kB checkpoint crossed it 3x too fast)."""

from __future__ import annotations

import math
import time

import pytest

from greenhop.core.errors import ConfigError
from greenhop.runtime.ratelimit import BURST_S, TokenBucket


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


@pytest.mark.parametrize("rate_bps", [1e5, 1e6, 1e7])
def test_a_transfer_takes_its_size_at_the_rate_less_one_burst_time(rate_bps) -> None:
    t = FakeTime()
    bucket = TokenBucket(rate_bps, clock=t.clock, sleep=t.sleep)
    size = 94_330
    for off in range(0, size, 65536):  # the agent's blocks
        bucket.consume(min(65536, size - off))
    assert t.now >= size * 8 / rate_bps - BURST_S - 1e-9


def test_a_small_checkpoint_over_a_slow_link_keeps_to_the_rate(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from greenhop.runtime.agent import SiteAgent
    from greenhop.runtime.transfer import pull_checkpoint
    from greenhop.workload import save_checkpoint

    g = torch.Generator().manual_seed(0)
    path = save_checkpoint(tmp_path / "src" / "job", 1,
                           {"model": {"w": torch.randn(25_000, generator=g)}})
    size = sum(p.stat().st_size for p in path.iterdir())
    rate_bps = 1e6
    with SiteAgent(tmp_path / "src", rate_bps=rate_bps) as agent:
        t0 = time.monotonic()
        pull_checkpoint(agent.url, "job", tmp_path / "dst")
        took = time.monotonic() - t0
    assert took >= 0.95 * size * 8 / rate_bps - BURST_S, (took, size)
