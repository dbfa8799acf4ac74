"""The sync map's smallest H is the smallest H the sync rule accepts."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from greenhop.model import evaluate_distributed, min_sync_every


def _ok(p, n, h, bw, **kw) -> bool:
    return bool(evaluate_distributed(p, n, h, bw, 3600.0, **kw).sync_feasible)


def test_the_ceil_that_rounds_below_the_rule_is_stepped_up():
    # 7e8 params, 4 workers, bf16: 2 x 3/4 x 7e8 x 2 B = 2.1e9 B = 16.8e9 bit at 0.8 x
    # 100 Mbit/s: 210 s, + 3 x 10 ms = 210.03 s. Budget 0.1 x H x 0.3 s: H = 7001 on paper,
    # but 0.1 x (7001 x 0.3) rounds below 210.03 in floating point: the rule wants 7002.
    kw = dict(step_s=0.3, sync_share=0.1, rtt_s=0.01)
    h = min_sync_every(7e8, 4, 1e8, **kw)
    assert not _ok(7e8, 4, 7001, 1e8, **kw)
    assert h == 7002 and _ok(7e8, 4, h, 1e8, **kw)


@settings(max_examples=300, deadline=None)
@given(p=st.sampled_from([1e8, 1.3e9, 3e9, 7e9, 1e10, 13e9]), k=st.integers(1, 9),
       n=st.integers(2, 8), bw=st.sampled_from([1e8, 1e9, 2.5e9, 4e9, 1e10]),
       rtt=st.sampled_from([0.001, 0.01, 0.02, 0.05]),
       step=st.sampled_from([1.0, 0.1, 0.3, 1.7]), share=st.sampled_from([0.1, 0.3, 0.7, 1.0]))
@example(p=7e8, k=1, n=4, bw=1e8, rtt=0.01, step=0.3, share=0.1)       # ceil one too low
@example(p=3e9, k=7, n=3, bw=1e8, rtt=0.05, step=0.3, share=0.1)       # ceil one too high
def test_min_sync_every_is_the_smallest_h_the_rule_accepts(p, k, n, bw, rtt, step, share):
    kw = dict(step_s=step, sync_share=share, rtt_s=rtt)
    h = float(min_sync_every(p * k, n, bw, **kw))
    assert h >= 1 and h == np.floor(h)
    assert _ok(p * k, n, h, bw, **kw)
    assert h == 1 or not _ok(p * k, n, h - 1, bw, **kw)


def test_it_broadcasts_and_each_entry_is_the_boundary():
    bw = np.array([1e8, 1e9, 1e10])
    h = min_sync_every(7e8, 4, bw, step_s=0.3, sync_share=0.1, rtt_s=0.01)
    assert h.shape == (3,)
    for hi, b in zip(h.tolist(), bw.tolist(), strict=True):
        kw = dict(step_s=0.3, sync_share=0.1, rtt_s=0.01)
        assert _ok(7e8, 4, hi, b, **kw) and (hi == 1 or not _ok(7e8, 4, hi - 1, b, **kw))
