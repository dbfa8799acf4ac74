"""The planner's blocks and past-only forecasts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenhop.core.observation import LeakageError, SurplusHistory
from greenhop.policies.planner_forecast import block_edges_s, diurnal_profile_w


@given(epoch_s=st.floats(60.0, 7200.0), extra_s=st.floats(0.0, 3 * 86400.0))
def test_blocks_cover_the_horizon_in_order(epoch_s, extra_s):
    horizon_s = epoch_s + extra_s
    e = block_edges_s(epoch_s, horizon_s)
    assert e[0] == 0.0 and e[1] == epoch_s
    assert e[-1] == horizon_s or abs(e[-1] - horizon_s) < 1e-6
    assert np.all(np.diff(e) > 0)
    assert np.all(np.diff(e)[1:] <= 6 * 3600.0 + 1e-6)


class _Obs:
    """The fields diurnal_profile_w reads."""

    def __init__(self, data, now_step, dt_s, offset):
        self.history = SurplusHistory(data, offset, now_step, dt_s)
        self.step = now_step
        self.dt_s = dt_s
        self.surplus_w = data[offset + now_step]


def test_diurnal_profile_is_the_mean_of_past_days_and_never_reads_ahead():
    dt = 3600.0
    days = 3
    rng = np.random.default_rng(0)
    data = rng.uniform(0, 100, size=(24 * 6, 2))
    now = 24 * 4 + 5  # day 4, 05:00 (no offset: step k is row k)
    obs = _Obs(data, now, dt, 0)
    prof = diurnal_profile_w(obs, 30, days)  # 30 hours ahead: some need two days back
    for o in (0, 1, 18, 19, 29):
        k0 = max(1, -(-o // 24))
        want = np.mean([data[now + o - (k0 + k) * 24] for k in range(days)], axis=0)
        assert np.allclose(prof[:, o], want)
    # the history refuses anything after now
    with pytest.raises(LeakageError):
        obs.history.slice(now, now + 2)


def test_a_deficit_does_not_cancel_the_surplus_of_its_block():
    from greenhop.policies.planner_forecast import forecast_from_steps, horizon_steps

    edges = block_edges_s(3600.0, 7 * 3600.0)           # 1 h, 1 h, 1 h, 3 h, 1 h
    dt = 1800.0
    n = horizon_steps(edges, dt)
    assert n == 14
    # site 0: +10 kW by day, -5 kW (base demand above renewables) by night, in turns
    step_w = np.where(np.arange(n) % 2 == 0, 10e3, -5e3)[None, :]
    fc = forecast_from_steps(edges, step_w, np.zeros(1), dt)
    np.testing.assert_allclose(fc.surplus_w[0], 5e3)    # half the time 10 kW, else none
    assert fc.step_surplus_w is step_w                   # the steps themselves are kept


@given(st.lists(st.floats(-1e6, 1e6), min_size=48, max_size=48))
def test_block_surplus_is_the_usable_energy_of_its_steps(values):
    from greenhop.policies.planner_forecast import forecast_from_steps, horizon_steps

    dt = 1800.0
    edges = block_edges_s(dt, 86400.0)      # every edge on a step's boundary
    step_w = np.asarray(values, dtype=float)[None, :horizon_steps(edges, dt)]
    fc = forecast_from_steps(edges, step_w, np.zeros(1), dt)
    assert np.all(fc.surplus_w >= 0.0)
    # the blocks' energy is the usable energy of the steps, no more, no less
    np.testing.assert_allclose((fc.surplus_w[0] * np.diff(edges)).sum(),
                               (np.maximum(step_w[0], 0.0) * dt).sum(), rtol=1e-9, atol=1e-3)
