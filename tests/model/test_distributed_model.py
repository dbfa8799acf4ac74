"""The multi-site cost model: hand-worked sync and move terms, properties, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop.core.errors import ConfigError
from greenhop.model import constants as C
from greenhop.model import evaluate_distributed, min_sync_every, ring_bytes_per_worker

PROPS = settings(max_examples=40, deadline=None)


def test_7b_bf16_every_500_steps_over_1gbps_with_rtt_and_loss():
    # 7e9 parameters, bf16 pseudo-gradients, 3 workers, 1 Gbit/s, RTT 50 ms, loss 1e-4.
    cost = evaluate_distributed(7e9, 3, 500, 1e9, 3600.0, rtt_s=0.05, loss=1e-4, step_s=1.0)
    # Ring: each worker sends 2 (3 - 1) / 3 x 7e9 x 2 B = 18.6667 GB.
    assert cost.sync_bytes == pytest.approx(18.666666666666668e9)
    assert cost.total_sync_bytes == pytest.approx(56e9)
    # Mathis per stream: 1460 B x 8 / 0.05 s x sqrt(1.5) / sqrt(1e-4) = 28.610 Mbit/s;
    # 8 streams = 228.88 Mbit/s < 0.8 x 1 Gbit/s, so the loss caps the rate.
    mathis = 1460 * 8 / 0.05 * math.sqrt(1.5) / 0.01
    assert mathis == pytest.approx(28.6105e6, rel=1e-4)
    assert cost.effective_bps == pytest.approx(8 * mathis)
    # sync = 8 x 18.6667e9 / 228.88e6 + (3 - 1) x 0.05 = 652.45 + 0.10 s.
    assert cost.sync_s == pytest.approx(8 * 18.666666666666668e9 / (8 * mathis) + 0.1)
    assert cost.sync_s == pytest.approx(652.55, abs=0.01)
    # Compute 500 x 1 s; budget 0.1 x 500 = 50 s: not feasible.
    assert cost.compute_s == 500.0 and cost.sync_budget_s == 50.0
    assert not cost.sync_feasible
    # Energy: network 8 x 56e9 B x 8.4e-7 J/bit = 376,320 J; idle 3 x 70 W x 652.55 s.
    assert cost.sync_network_energy_j == pytest.approx(376_320.0)
    assert cost.sync_idle_energy_j == pytest.approx(3 * 70.0 * cost.sync_s)
    assert cost.sync_energy_j == pytest.approx(376_320.0 + 3 * 70.0 * 652.55, rel=1e-5)


def test_lossless_sync_uses_efficiency_times_bandwidth():
    # 2 workers, 1e9 params bf16: 2 (1/2) 2e9 = 2e9 B; rate 0.8 x 10 Gbit/s; rtt 20 ms.
    cost = evaluate_distributed(1e9, 2, 100, 10e9, 3600.0, step_s=2.0)
    assert cost.sync_bytes == 2e9
    assert cost.sync_s == pytest.approx(16e9 / 8e9 + 0.02)
    assert cost.sync_budget_s == pytest.approx(0.1 * 200.0)
    assert cost.sync_feasible and cost.slowdown == pytest.approx(202.02 / 200.0)


def test_worker_move_is_a_migration_of_its_own_state():
    # 1e9 params x 16 B = 16 GB; save 8 s + transfer 8 x 16e9 / 8e8 = 160 s + restore
    # 8 s + 60 s startup = 236 s; budget 0.1 x 3600 = 360 s.
    cost = evaluate_distributed(1e9, 4, 500, 1e9, 3600.0)
    assert cost.worker_state_bytes == 16e9
    assert cost.worker_move_s == pytest.approx(236.0)
    assert cost.worker_move_feasible
    short = evaluate_distributed(1e9, 4, 500, 1e9, 2000.0)
    assert not short.worker_move_feasible and not short.feasible
    given_state = evaluate_distributed(1e9, 4, 500, 1e9, 3600.0, worker_state_bytes=4e9)
    assert given_state.worker_move_s == pytest.approx(2 + 40 + 2 + 60)


def test_one_worker_exchanges_nothing():
    cost = evaluate_distributed(7e9, 1, 10, 1e9, 3600.0)
    assert cost.sync_bytes == 0 and cost.sync_s == 0 and cost.sync_energy_j == 0
    assert cost.sync_feasible


def test_min_sync_every_is_the_boundary():
    h = min_sync_every(1e9, 2, 1e9)
    # sync = 16e9 / 8e8 + 0.02 = 20.02 s; 0.1 x H x 1 s >= 20.02 -> H = 201.
    assert h == 201
    assert evaluate_distributed(1e9, 2, h, 1e9, 3600.0).sync_feasible
    assert not evaluate_distributed(1e9, 2, h - 1, 1e9, 3600.0).sync_feasible


def test_broadcasts_over_a_grid():
    cost = evaluate_distributed(7e9, 4, np.array([[100], [1000]]), np.array([1e9, 1e10, 1e11]),
                                3600.0)
    assert cost.sync_feasible.shape == (2, 3)
    # 21e9 B per worker: 210 s, 21 s, 2.1 s (+ 0.06 s) against budgets of 10 s and 100 s.
    assert cost.sync_feasible.tolist() == [[False, False, True], [False, True, True]]


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(workers=0), "workers must be a whole number >= 1"),
    (dict(workers=2.5), "workers must be a whole number"),
    (dict(sync_every=0), "sync interval must be a whole number >= 1"),
    (dict(sync_share=0.0), "sync share must be in"),
    (dict(step_s=-1.0), "step time must be positive"),
])
def test_bad_input_is_one_clear_error(kwargs, match):
    args = dict(params=1e9, workers=2, sync_every=10, bandwidth_bps=1e9, window_s=3600.0)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        evaluate_distributed(**args)


def _log(lo: float, hi: float):
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: 10.0**e)


@PROPS
@given(params=_log(1e6, 1e12), n=st.integers(1, 64), bw=_log(1e7, 1e12),
       factor=st.floats(1.0, 100.0), loss=st.one_of(st.just(0.0), _log(1e-8, 1e-2)))
def test_sync_time_monotone_in_bytes_and_inverse_bandwidth(params, n, bw, factor, loss):
    base = evaluate_distributed(params, n, 100, bw, 3600.0, loss=loss)
    more_bytes = evaluate_distributed(params * factor, n, 100, bw, 3600.0, loss=loss)
    faster = evaluate_distributed(params, n, 100, bw * factor, 3600.0, loss=loss)
    assert more_bytes.sync_s >= base.sync_s
    assert faster.sync_s <= base.sync_s
    assert more_bytes.sync_energy_j >= base.sync_energy_j
    # a looser sync rule never turns a feasible job infeasible
    if base.sync_feasible:
        assert evaluate_distributed(params, n, 200, bw, 3600.0, loss=loss).sync_feasible


@PROPS
@given(params=_log(1e6, 1e12), n=st.integers(1, 256), b=st.sampled_from([1.0, 2.0, 4.0]))
def test_more_workers_never_fewer_bytes_per_worker(params, n, b):
    one, two = ring_bytes_per_worker(params, n, b), ring_bytes_per_worker(params, n + 1, b)
    assert two >= one
    assert two < 2 * params * b  # the ring never sends more than twice the model per worker


def test_defaults_are_the_migration_constants():
    cost = evaluate_distributed(1e9, 2, 100, 1e9, 3600.0, idle_power_w=0.0)
    assert cost.sync_network_energy_j == pytest.approx(8 * 4e9 * C.NETWORK_J_PER_BIT)
