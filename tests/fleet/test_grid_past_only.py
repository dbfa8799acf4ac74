"""The grid weights an Observation carries are past-only: what is published by now.

Carbon intensity is forecast from the past (the same time of day on the latest day up to
now; nothing after now is visible); day-ahead prices are published a day ahead (their
rule in greenhop.traces.grid_signals). Every step of the scenario has a distinct
intensity, so a future value anywhere reachable from an Observation would be recognised
(the probe of test_observation_past_only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_observation_past_only import HISTORY_STEPS, STEPS, Probe, scenario

from greenhop.fleet.grid import GridFeed, GridSignals
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario
from greenhop.traces.grid_signals import day_ahead_known_until


def carbon(site: int) -> list[float]:
    return [300.0 + 50.0 * site + 1.7 * k + 0.0123456789 for k in range(HISTORY_STEPS + STEPS)]


def test_no_future_weight_is_reachable_from_an_observation():
    d = scenario()
    d["grid"] = {"objective": "carbon", "forecast_horizon": "1h", "zones": [
        {"name": "za", "sites": ["a"], "carbon": carbon(0)},
        {"name": "zb", "sites": ["b"], "carbon": carbon(1)}]}
    inp = build_inputs(load_scenario(d))
    weight = inp.grid.weights()
    ren, sur = inp.renewable_w, inp.surplus_w
    seen = []

    def future_of(step: int) -> np.ndarray:
        later = slice(HISTORY_STEPS + step + 1, None)
        return np.concatenate([ren[later].ravel(), sur[later].ravel(), weight[later].ravel()])

    class GridProbe(Probe):
        def decide(self, obs):
            now = weight[HISTORY_STEPS + obs.step]
            assert obs.grid_objective == "carbon"
            assert obs.grid_weight_per_j == pytest.approx(now, rel=0, abs=0)
            # seasonal naive: step now + k is seen as step now + k - 1 day (here 288 steps
            # of 5 min reach back before the history, so the present weight stands in)
            assert np.array_equal(obs.grid_weight_forecast_per_j,
                                  np.tile(now, (12, 1)))
            with pytest.raises(ValueError, match="read-only"):
                obs.grid_weight_forecast_per_j[...] = 0
            seen.append(obs.step)
            return super().decide(obs)

    probe = GridProbe(future_of)
    Engine(inp, probe).run()
    assert probe.checked == len(seen) > 10


def test_day_ahead_prices_are_seen_as_published_then_held():
    index = pd.date_range("2023-06-01", periods=72, freq="h", tz="UTC")
    known = day_ahead_known_until(index)
    # before noon: up to 21:00 of the same day; from noon: up to 21:00 of the next day
    assert known[0] == 21 and known[11] == 21
    assert known[12] == 45 and known[30] == 45 and known[36] == 69
    n, S = len(index), 1
    price = (np.arange(n, dtype=float) + 1.0)[:, None]
    sig = GridSignals("cost", "EUR", 0, np.full((n, S), np.nan), np.full((n, S), np.nan),
                      price, np.zeros((n, S), bool), known[:, None])
    feed = GridFeed(sig, forecast_steps=48, step_s=3600.0)
    w = sig.weights()
    fc = feed.forecast(12).copy()
    assert np.array_equal(fc[:34, 0], w[12:46, 0])        # published through step 45
    assert np.array_equal(fc[34:, 0], w[46 - 24:60 - 24, 0])   # then the day before
    fc0 = feed.forecast(0)
    assert np.array_equal(fc0[:22, 0], w[:22, 0])
    assert np.all(fc0[22:24, 0] == w[21, 0])              # no earlier day: the latest held
    assert np.array_equal(fc0[24:46, 0], w[:22, 0])       # day 2 seen as day 1


def test_a_carbon_forecast_repeats_the_latest_day():
    n, S = 96, 2
    carbon = np.arange(n * S, dtype=float).reshape(n, S) + 100.0
    sig = GridSignals("carbon", "EUR", 48, carbon, carbon, np.full((n, S), np.nan),
                      np.zeros((n, S), bool), np.tile(np.arange(n)[:, None], (1, S)))
    feed = GridFeed(sig, forecast_steps=30, step_s=3600.0)
    w = sig.weights()
    fc = feed.forecast(0)                                   # row 48 is now
    assert np.array_equal(fc[0], w[48])
    assert np.array_equal(fc[1:25], w[25:49])               # yesterday's hours, then now
    assert np.array_equal(fc[25:], w[25:30])               # two days back


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=60), st.integers(min_value=1, max_value=3),
       st.integers(min_value=1, max_value=30), st.integers(min_value=1, max_value=12),
       st.data())
def test_a_forecast_never_depends_on_unpublished_weights(n, S, F, period_steps, data):
    """Whatever the weights after what is published at a step, the forecast issued at that
    step is the same, and its first row is the weight now."""
    history = data.draw(st.integers(min_value=0, max_value=n - 1))
    ahead = data.draw(st.lists(st.integers(min_value=0, max_value=n), min_size=n,
                               max_size=n))
    known = np.minimum(np.arange(n) + np.array(ahead), n - 1)[:, None].repeat(S, axis=1)
    rng = np.random.default_rng(n * 7 + S)
    carbon = rng.uniform(10, 900, size=(n, S))

    def feed(values):
        sig = GridSignals("carbon", "EUR", history, values, values, np.full((n, S), np.nan),
                          np.zeros((n, S), bool), known)
        return GridFeed(sig, forecast_steps=F, step_s=86400.0 / period_steps), sig

    f1, sig1 = feed(carbon)
    for step in range(-history, n - history):
        row = history + step
        later = carbon.copy()
        later[known[row, 0] + 1:] += 1000.0                 # change every unpublished row
        f2, _ = feed(later)
        fc = f1.forecast(step).copy()
        assert np.array_equal(fc, f2.forecast(step))
        assert np.array_equal(fc[0], sig1.weights()[row])
