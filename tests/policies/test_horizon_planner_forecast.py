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
