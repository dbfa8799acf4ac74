"""Block dispatch equals step-by-step dispatch; routing and fair link sharing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop.core.specs import LinkSpec
from greenhop.policies.network import build_network
from greenhop.sim.energy import dispatch_block
from greenhop.traces.dispatch import dispatch_step


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 400), st.integers(0, 10_000), st.sampled_from([0.7, 0.9, 1.0]),
       st.sampled_from([0.0, 0.2]), st.sampled_from([np.inf, 2500.0]))
def test_block_dispatch_equals_sequential_steps(n, seed, eta, min_soc, limit):
    rng = np.random.default_rng(seed)
    S = 3
    ren = np.maximum(rng.normal(2000, 2500, (n, S)), 0)
    dem = rng.uniform(500, 4000, (n, S))
    cap = np.array([0.0, 5e6, 2e7])
    pmax = np.array([0.0, 1500.0, 3000.0])
    kw = dict(capacity_j=cap, max_power_w=pmax, round_trip_efficiency=np.full(S, eta),
              min_soc=np.full(S, min_soc), grid_import_limit_w=np.full(S, limit))
    soc0 = np.maximum(cap * 0.5, cap * min_soc)
    block = dispatch_block(ren, dem, soc0.copy(), 300.0, **kw)
    soc = soc0.copy()
    for t in range(n):
        f = dispatch_step(ren[t], dem[t], soc, 300.0, **kw)
        for k in ("direct_w", "charge_w", "discharge_w", "grid_w", "curtailed_w", "unmet_w"):
            np.testing.assert_allclose(block[k][t], getattr(f, k), atol=1e-6)
        soc = f.soc_j
    np.testing.assert_allclose(block["soc_end_j"], soc, atol=1e-3)


def test_shortest_path_routing_over_hops():
    links = (LinkSpec("a", "b", 10e9, rtt_s=0.01, network_j_per_bit=1e-7),
             LinkSpec("b", "c", 1e9, rtt_s=0.01, efficiency=0.5, network_j_per_bit=2e-7),
             LinkSpec("a", "c", 100e9, rtt_s=0.5))
    net = build_network(("a", "b", "c", "d"), links)
    # a -> c goes via b (20 ms) rather than the direct 500 ms link.
    assert net.hops[0, 2] == 2
    assert net.rtt_s[0, 2] == pytest.approx(0.02)
    assert net.bandwidth_bps[0, 2] == 1e9 and net.efficiency[0, 2] == 0.5
    assert net.j_per_bit[0, 2] == pytest.approx(3e-7)
    assert net.route[0 * 4 + 2].tolist() == [True, True, False]
    # d is unreachable.
    assert net.hops[0, 3] == -1 and net.bandwidth_bps[0, 3] == 0


def test_fair_share_uses_each_transfer_bottleneck():
    links = (LinkSpec("a", "b", 10e9, efficiency=1.0), LinkSpec("b", "c", 4e9, efficiency=1.0))
    net = build_network(("a", "b", "c"), links)
    rates, counts = net.transfer_rates_bps(np.array([0, 0, 1]), np.array([1, 2, 2]))
    # a-b carries 2 transfers (5 Gbit/s each); b-c carries 2 (2 Gbit/s each).
    assert counts.tolist() == [2, 2]
    assert rates.tolist() == pytest.approx([5e9, 2e9, 2e9])


def test_lossy_path_is_capped_by_tcp():
    net = build_network(("a", "b"), (LinkSpec("a", "b", 100e9, rtt_s=0.1, loss=1e-4,
                                              efficiency=1.0, streams=2),))
    rate, _ = net.transfer_rates_bps(np.array([0]), np.array([1]))
    mathis = 1460 * 8 / 0.1 * np.sqrt(1.5) / np.sqrt(1e-4)
    assert rate[0] == pytest.approx(2 * mathis)
