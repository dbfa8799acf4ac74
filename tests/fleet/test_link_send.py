"""``LinkLoad.send``: transfers share the links max-min fairly among those sending at each
moment within a step, against a brute-force fine time grid."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop.core.specs import LinkSpec
from greenhop.fleet.network import LinkLoad, build_network

G = 1e9
SPAN_S = 300.0


def _load() -> LinkLoad:
    # a - b - c in a chain (a -> c crosses both), plus a direct a - d
    net = build_network(tuple("abcd"), (LinkSpec("a", "b", 10 * G, efficiency=1.0),
                                        LinkSpec("b", "c", 4 * G, efficiency=1.0),
                                        LinkSpec("a", "d", 2 * G, efficiency=1.0)))
    return LinkLoad(net, write_Bps=1e9, read_Bps=1e9, startup_s=0.0)


def _fine_grid(load, src, dst, start, bits, n=3000):
    """The same step cut into ``n`` slices, rates solved per slice among the transfers
    sending at its start (converges to the exact answer as ``n`` grows)."""
    left = bits.astype(float).copy()
    end = np.full(left.size, SPAN_S)
    h = SPAN_S / n
    for i in range(n):
        t = i * h
        on = np.flatnonzero((start <= t) & (left > 0))
        if not on.size:
            continue
        rates, _ = load.network.transfer_rates_bps(src[on], dst[on])
        step = np.minimum(left[on], rates * h)
        fin = step >= left[on]
        end[on[fin]] = t + left[on[fin]] / rates[fin]
        left[on] -= step
    return bits - left, end


pairs = st.sampled_from([(0, 1), (0, 2), (1, 2), (0, 3), (2, 0), (1, 0)])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(pairs, st.floats(0.0, SPAN_S), st.floats(1e9, 3e12)),
                min_size=1, max_size=5))
def test_send_equals_the_fine_grid(transfers):
    src = np.array([p[0] for p, _, _ in transfers])
    dst = np.array([p[1] for p, _, _ in transfers])
    start = np.array([s for _, s, _ in transfers])
    bits = np.array([b for _, _, b in transfers])
    load = _load()
    sent, end = load.send(src, dst, start, bits, SPAN_S)
    want_sent, want_end = _fine_grid(load, src, dst, start, bits)
    # a slice of the grid lags a start or an end by at most its width
    tol = 4 * SPAN_S / 3000 * 10 * G
    assert sent == pytest.approx(want_sent, abs=tol)
    assert end == pytest.approx(want_end, abs=4 * SPAN_S / 3000 + 1e-6)
    assert (sent <= bits + 1e-3).all() and (end >= np.minimum(start, SPAN_S) - 1e-9).all()
    # what policies see next: only the transfers with bits left
    left = bits - sent > 1e-3
    assert load.in_flight.sum() == left.sum()


def test_a_transfer_that_ends_gives_its_share_to_the_others_at_once():
    """a -> b 100 Gbit and 1,000 Gbit together on the 10 G link: 5 G each until the first
    ends at 20 s, then 10 G for the other: 1,000 Gbit by 20 + 900 / 10 = 110 s."""
    load = _load()
    sent, end = load.send(np.array([0, 0]), np.array([1, 1]), np.zeros(2),
                          np.array([100 * G, 1000 * G]), SPAN_S)
    assert end.tolist() == pytest.approx([20.0, 110.0])
    assert sent.tolist() == pytest.approx([100 * G, 1000 * G])
    assert load.active_transfers.sum() == 0
