"""Property tests of the feasibility model: monotonicity, boundaries, broadcasting."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from greenhop.model import evaluate, max_checkpoint_bytes, min_bandwidth_bps, min_window_seconds

PROPS = settings(max_examples=40, deadline=None)


def _log(lo: float, hi: float):
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: 10.0**e)


sizes = _log(1e6, 1e13)
rates = _log(1e6, 1e12)
windows = _log(60.0, 1e6)


@st.composite
def model_options(draw) -> dict:
    lossy = draw(st.booleans())
    return dict(
        alpha=draw(st.floats(0.01, 1.0)),
        efficiency=draw(st.floats(0.1, 1.0)),
        streams=draw(st.integers(1, 16)),
        rtt_s=draw(_log(1e-3, 0.3)),
        loss=draw(_log(1e-8, 1e-2)) if lossy else 0.0,
        write_Bps=draw(st.one_of(st.just(math.inf), _log(1e8, 1e10))),
        read_Bps=draw(st.one_of(st.just(math.inf), _log(1e8, 1e10))),
        startup_s=draw(st.floats(0.0, 600.0)),
    )


@PROPS
@given(s=sizes, factor=st.floats(1.0, 100.0), bw=rates, w=windows, opts=model_options())
def test_monotone_in_checkpoint_size(s, factor, bw, w, opts) -> None:
    small, large = evaluate(s, bw, w, **opts), evaluate(s * factor, bw, w, **opts)
    assert large.downtime_s >= small.downtime_s
    assert not (large.feasible and not small.feasible)


@PROPS
@given(s=sizes, bw=rates, factor=st.floats(1.0, 100.0), w=windows, opts=model_options())
def test_monotone_in_bandwidth(s, bw, factor, w, opts) -> None:
    slow, fast = evaluate(s, bw, w, **opts), evaluate(s, bw * factor, w, **opts)
    assert fast.downtime_s <= slow.downtime_s
    assert not (slow.feasible and not fast.feasible)


@PROPS
@given(s=sizes, bw=rates, w=windows, factor=st.floats(1.0, 100.0), opts=model_options())
def test_monotone_in_window(s, bw, w, factor, opts) -> None:
    short, long = evaluate(s, bw, w, **opts), evaluate(s, bw, w * factor, **opts)
    assert long.downtime_s == short.downtime_s
    assert not (short.feasible and not long.feasible)


@PROPS
@given(bw=rates, w=windows, opts=model_options())
def test_largest_checkpoint_is_the_boundary(bw, w, opts) -> None:
    s_max = max_checkpoint_bytes(bw, w, **opts)
    assume(s_max > 1e3)
    assert evaluate(s_max * (1 - 1e-9), bw, w, **opts).feasible
    assert not evaluate(s_max * (1 + 1e-6), bw, w, **opts).feasible


@PROPS
@given(s=sizes, bw=rates, opts=model_options())
def test_shortest_window_is_the_boundary(s, bw, opts) -> None:
    w_min = min_window_seconds(s, bw, **opts)
    assert evaluate(s, bw, w_min * (1 + 1e-9), **opts).feasible
    assert not evaluate(s, bw, w_min * (1 - 1e-6), **opts).feasible


@PROPS
@given(s=sizes, w=windows, opts=model_options())
def test_smallest_bandwidth_is_the_boundary(s, w, opts) -> None:
    bw_min = min_bandwidth_bps(s, w, **opts)
    if math.isinf(bw_min):
        # No bandwidth suffices: not even an absurdly fast link.
        assert not evaluate(s, 1e18, w, **opts).feasible
    else:
        assert evaluate(s, bw_min * (1 + 1e-9), w, **opts).feasible
        assert not evaluate(s, bw_min * (1 - 1e-6), w, **opts).feasible


@PROPS
@given(
    data=st.lists(st.tuples(sizes, rates, windows, st.floats(0.01, 1.0),
                            st.one_of(st.just(0.0), _log(1e-8, 1e-2)), st.floats(0.0, 600.0)),
                  min_size=1, max_size=6),
    energy=st.tuples(_log(10.0, 1e5), st.floats(0.0, 500.0), st.floats(0.01, 1.0)),
)
def test_broadcasting_equals_scalar_calls(data, energy) -> None:
    s, bw, w, alpha, loss, startup = (np.array(col) for col in zip(*data, strict=True))
    job_w, idle_w, gain = energy
    common = dict(job_power_w=job_w, idle_power_w=idle_w, green_gain=gain, rtt_s=0.05)
    vector = evaluate(s, bw, w, alpha=alpha, loss=loss, startup_s=startup, **common).to_dict()
    for i in range(len(data)):
        scalar = evaluate(float(s[i]), float(bw[i]), float(w[i]), alpha=float(alpha[i]),
                          loss=float(loss[i]), startup_s=float(startup[i]), **common).to_dict()
        for key, value in scalar.items():
            assert vector[key][i] == value or (math.isnan(value) and math.isnan(vector[key][i]))


@PROPS
@given(s=st.lists(sizes, min_size=2, max_size=5), bw=st.lists(rates, min_size=2, max_size=5))
def test_outer_grid_equals_scalar_calls(s, bw) -> None:
    grid = evaluate(np.array(s)[:, None], np.array(bw)[None, :], 9000.0)
    for i, size in enumerate(s):
        for j, rate in enumerate(bw):
            one = evaluate(size, rate, 9000.0)
            assert grid.downtime_s[i, j] == one.downtime_s
            assert grid.min_bandwidth_bps[i, j] == one.min_bandwidth_bps
            assert grid.feasible[i, j] == one.feasible
