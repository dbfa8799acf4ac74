"""Live window forecasts: a forecast-driven policy gets, at every decision of a live run,
the window forecasts the simulator shows at that step (the same code on the surplus
measured so far), and so makes the simulator's decisions; replay reproduces them."""

from __future__ import annotations

import numpy as np
import pytest
from test_controller_kit import LIVE, inputs, memory_controller, sim_migrations

from greenhop.fleet.forecasts import LiveWindowForecasts, step_index
from greenhop.policies import make_policy
from greenhop.runtime.ledger import Ledger, live_forecasts
from greenhop.runtime.memory import InMemoryExecutor
from greenhop.runtime.replay import replay_decisions
from greenhop.sim.forecasts import build_window_forecasts

POLICY = "forecast-feasibility"


@pytest.fixture(scope="module")
def forecast_scenario(tmp_path_factory):
    """The live 3-site scenario with a forecast-driven policy."""
    text = LIVE.read_text().replace('policies = ["feasibility-aware"]', f'policies = ["{POLICY}"]')
    assert POLICY in text
    path = tmp_path_factory.mktemp("fc") / "live-forecast.toml"
    path.write_text(text)
    return path


def test_fleet_step_index_is_the_simulators(forecast_scenario):
    _sc, inp = inputs(forecast_scenario)
    assert step_index(inp.params, len(inp.index)).equals(inp.index)


def test_live_forecasts_at_each_step_equal_the_simulators(forecast_scenario):
    sc, inp = inputs(forecast_scenario)
    sim = build_window_forecasts(inp, sc.forecast)
    led = Ledger(inp, forecasts=LiveWindowForecasts(inp, sc.forecast, sc.seed))
    H = inp.history_steps
    compared = 0
    for t in range(inp.n_steps):
        led.record_power(t, inp.renewable_w[H + t])
        if t % 4:
            continue
        got = led.observation(t).window_forecast_q_s
        want = sim.at(t)
        assert got.shape == want.shape
        assert np.allclose(got, want, rtol=0, atol=1e-6, equal_nan=True), t
        compared += int(np.isfinite(want).sum())
    assert compared > 0  # some forecasts were issued and compared


def test_live_forecasts_use_only_measured_power(forecast_scenario):
    """A step whose power was not recorded cannot be forecast from (no silent NaN)."""
    sc, inp = inputs(forecast_scenario)
    led = Ledger(inp, forecasts=LiveWindowForecasts(inp, sc.forecast, sc.seed))
    led.record_power(0, inp.renewable_w[inp.history_steps])
    with pytest.raises(Exception, match="not measured"):
        led.forecasts.at(3, led.core.power.surplus_w)


def test_no_forecasts_for_a_policy_that_does_not_read_them(forecast_scenario):
    sc, inp = inputs(forecast_scenario)
    assert live_forecasts(inp, make_policy("feasibility-aware"), sc.forecast) is None
    fc = live_forecasts(inp, make_policy(POLICY), sc.forecast, sc.seed)
    assert isinstance(fc, LiveWindowForecasts) and fc.quantiles == sc.forecast.quantiles


def test_forecast_policy_live_sees_the_simulators_forecasts_and_decides_alike(
        forecast_scenario, tmp_path):
    sc, inp = inputs(forecast_scenario)
    sim_fc = build_window_forecasts(inp, sc.forecast)
    ctl = memory_controller(tmp_path / "run.db", InMemoryExecutor(), path=forecast_scenario)
    seen: list[tuple[int, np.ndarray | None]] = []
    decide = ctl.policy.decide

    def recording_decide(obs):
        q = obs.window_forecast_q_s
        seen.append((obs.step, None if q is None else np.array(q)))
        return decide(obs)

    ctl.policy.decide = recording_decide
    assert ctl.prepare() == "new"
    assert ctl.run()["status"] == "done"
    assert len(seen) >= 5
    for step, q in seen:
        assert q is not None, f"step {step}: the live policy got no window forecasts"
        assert np.allclose(q, sim_fc.at(step), rtol=0, atol=1e-6, equal_nan=True), step
    assert any(np.isfinite(q).any() for _step, q in seen)
    live = [[m["decided_step"], ctl.jobs[m["job"]], ctl.sites[m["src"]], ctl.sites[m["dst"]]]
            for m in ctl.ledger.migrations]
    assert live == sim_migrations(forecast_scenario)
    decisions = list(ctl.store.events(("decision",)))
    assert decisions
    # Replay on a fresh ledger recomputes the forecasts from the logged power alone.
    fresh = make_policy(POLICY, quantile=sc.forecast.quantile)
    scratch = Ledger(inp, forecasts=live_forecasts(inp, fresh, sc.forecast, sc.seed))
    res = replay_decisions(scratch, fresh, list(ctl.store.events(("power", "decision"))))
    assert res["mismatches"] == [] and res["decisions"] == len(decisions)
    ctl.store.close()
