"""forecast-feasibility decides on a quantile of the window forecast; oracle-window on the
true window; both reuse the feasibility-aware rule."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.core.errors import ConfigError
from greenhop.fleet.forecasts import WindowForecasts
from greenhop.policies import make_policy
from greenhop.policies.base import PolicyBase
from greenhop.policies.feasibility_aware import FeasibilityAwarePolicy
from greenhop.policies.forecast_feasibility import (
    ForecastFeasibilityPolicy,
    ForecastQuantileEstimator,
)
from greenhop.policies.oracle_window import OracleWindowPolicy
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

# A 20 GB checkpoint over 1 Gbit/s (80% efficiency) + save/restore/startup: about 4 min of
# downtime; with alpha = 0.1 the destination's window must last at least about 40 min.
WINDOW_NEEDED_S = 2400.0


def three_sites():
    sites = [simkit.site("a", power="0kW"), simkit.site("b", power="10kW"),
             simkit.site("c", power="5kW")]
    links = [{"a": "a", "b": "b", "bandwidth": "1Gbps"}, {"a": "a", "b": "c",
                                                          "bandwidth": "1Gbps"}]
    job = {"name": "j", "arrival": "0s", "work_gpu_h": 4.0, "checkpoint": "20GB", "gpus": 2,
           "origin": "a"}
    return simkit.micro(sites=sites, links=links, jobs=[job], history="1d", horizon="6h")


def forecasts(inp, p10_s: float, p50_s: float, p90_s: float) -> WindowForecasts:
    """The same window forecast for every site and step."""
    rem = np.empty((inp.n_steps, 3, 3))
    rem[:] = (p10_s, p50_s, p90_s)
    return WindowForecasts((0.1, 0.5, 0.9), rem, np.zeros((inp.n_steps, 3), np.int64),
                              "fixed")


def moves(policy, wf=None):
    inp = build_inputs(load_scenario(three_sites()))
    res = Engine(inp, policy, window_forecasts=wf).run()
    return [m["dst"] for m in res.migrations]


def test_both_are_the_feasibility_aware_rule():
    assert issubclass(ForecastFeasibilityPolicy, FeasibilityAwarePolicy)
    assert issubclass(OracleWindowPolicy, FeasibilityAwarePolicy)
    assert ForecastFeasibilityPolicy.decide is FeasibilityAwarePolicy.decide
    assert OracleWindowPolicy.decide is FeasibilityAwarePolicy.decide


def test_forecast_feasibility_is_risk_averse_with_the_p10_by_default():
    inp = build_inputs(load_scenario(three_sites()))
    wf = forecasts(inp, 600.0, 10 * 3600.0, 20 * 3600.0)     # p10 too short, p50 ample
    assert moves(make_policy("forecast-feasibility"), wf) == []
    assert moves(make_policy("forecast-feasibility", quantile=0.5), wf) == [1]
    long = forecasts(inp, 8 * 3600.0, 10 * 3600.0, 20 * 3600.0)
    assert moves(make_policy("forecast-feasibility"), long) == [1]


def test_forecast_feasibility_without_forecasts_falls_back_to_the_historical_estimate():
    assert moves(make_policy("forecast-feasibility")) == moves(make_policy("feasibility-aware"))


def test_forecast_estimate_is_zero_outside_a_window_and_fills_gaps():
    inp = build_inputs(load_scenario(three_sites()))
    wf = forecasts(inp, 3600.0, 7200.0, 9000.0)
    rem = np.array(wf.remaining_s)
    rem[:, 2, :] = np.nan                                   # site c: nothing issued yet
    wf = WindowForecasts(wf.quantiles, rem, wf.issued_step, "gappy")
    est = ForecastQuantileEstimator(0.5)
    seen = {}

    class Probe(PolicyBase):
        name = "probe"

        def decide(self, obs):
            seen[obs.step] = est.estimate(obs)
            return []

    Engine(inp, Probe(), window_forecasts=wf).run()
    first = seen[min(seen)]
    assert first[0] == 0.0             # a: no surplus, not in a window
    assert first[1] == 7200.0          # b: the p50
    assert np.isfinite(first[2])       # c: the historical estimate stands in


def test_a_quantile_the_forecasts_lack_is_an_error():
    inp = build_inputs(load_scenario(three_sites()))
    with pytest.raises(ConfigError, match=r"carry the quantiles \[0.1, 0.5, 0.9\], not 0.25"):
        moves(make_policy("forecast-feasibility", quantile=0.25), forecasts(inp, 1, 2, 3))


@pytest.mark.parametrize("q", [0, 1, 1.5, -0.2, True, "p10"])
def test_quantile_outside_zero_one_is_refused(q):
    with pytest.raises(ConfigError, match="quantile"):
        make_policy("forecast-feasibility", quantile=q)


def test_neither_takes_an_estimator():
    with pytest.raises(ConfigError, match=r"bad parameters|estimator"):
        make_policy("forecast-feasibility", estimator=object())
    with pytest.raises(ConfigError, match=r"bad parameters|estimator"):
        make_policy("oracle-window", estimator=object())


def test_oracle_window_follows_the_true_window():
    # The truth: b's window lasts the whole run, so the oracle moves there like the rule.
    assert moves(make_policy("oracle-window")) == [1]
