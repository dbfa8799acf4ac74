"""Block dispatch equals step-by-step dispatch (links: tests/fleet/test_network.py)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop.fleet.dispatch import dispatch_block
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
