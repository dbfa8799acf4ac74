"""Each policy's rule on small scenarios, the registry, and the past-only window estimate."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.core.errors import ConfigError
from greenhop.core.observation import LeakageError, Migrate, Resume, Suspend
from greenhop.policies import POLICIES, Capabilities, HistoricalWindowEstimator, make_policy
from greenhop.policies.base import PolicyBase
from greenhop.policies.feasibility_aware import FeasibilityAwarePolicy
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario


class Spy(PolicyBase):
    """Records the actions of the wrapped policy per step."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities  # what it returns must keep to them
        self.actions: dict[int, list] = {}

    def decide(self, obs):
        acts = self.inner.decide(obs)
        if acts:
            self.actions[obs.step] = acts
        return acts


def three_sites(checkpoint="1GB", bandwidth="10Gbps", **job):
    sites = [simkit.site("a", power="0kW"), simkit.site("b", power="10kW"),
             simkit.site("c", power="5kW")]
    links = [{"a": "a", "b": "b", "bandwidth": bandwidth}, {"a": "a", "b": "c",
                                                             "bandwidth": bandwidth}]
    j = {"name": "j", "arrival": "0s", "work_gpu_h": 4.0, "checkpoint": checkpoint, "gpus": 2,
         "origin": "a"}
    j.update(job)
    return simkit.micro(sites=sites, links=links, jobs=[j], history="1d", horizon="6h")


def run(d, policy):
    inp = build_inputs(load_scenario(d))
    spy = Spy(policy)
    res = Engine(inp, spy).run()
    return spy, res


def test_registry_lists_the_four_policies_and_rejects_unknown_names():
    assert {"energy-greedy", "feasibility-aware", "forecast-feasibility", "oracle-window",
            "static", "threshold"} <= set(POLICIES.names())
    assert POLICIES.names() == sorted(POLICIES.names())
    with pytest.raises(ConfigError, match=r"valid policy names: .*energy-greedy"):
        make_policy("greedy")
    with pytest.raises(ConfigError, match="bad parameters"):
        make_policy("static", alpha=0.2)
    with pytest.raises(ConfigError, match="prefer"):
        make_policy("feasibility-aware", prefer="random")
    for bad in ({"min_dwell_s": -5}, {"min_dwell_s": float("nan")}, {"alpha": 0},
                {"alpha": float("inf")}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            make_policy("feasibility-aware", **bad)


def test_static_never_acts():
    spy, res = run(three_sites(), make_policy("static"))
    assert spy.actions == {} and res.migrations == []


def test_energy_greedy_moves_to_the_greatest_surplus_now():
    spy, res = run(three_sites(), make_policy("energy-greedy"))
    first = spy.actions[min(spy.actions)]
    assert first == [Migrate(0, 1)]          # b (9 kW surplus) beats c (4 kW)
    assert len(res.migrations) == 1          # then it stays: b covers it


def test_energy_greedy_ignores_feasibility():
    _spy, res = run(three_sites(checkpoint="3TB", bandwidth="1Gbps"), make_policy("energy-greedy"))
    assert res.migrations and res.migrations[0]["dst"] == 1


def test_feasibility_aware_moves_inside_the_feasible_domain():
    _spy, res = run(three_sites(), make_policy("feasibility-aware"))
    assert [m["dst"] for m in res.migrations] == [1]


def test_feasibility_aware_refuses_a_migration_outside_it():
    # 3 TB over 1 Gbit/s takes ~8 h: never inside 10% of any window here.
    spy, _res = run(three_sites(checkpoint="3TB", bandwidth="1Gbps"),
                   make_policy("feasibility-aware"))
    assert spy.actions == {}


def test_feasibility_aware_pinned_jobs_stay():
    spy, _res = run(three_sites(mobility="pinned"), make_policy("feasibility-aware"))
    assert spy.actions == {}


def test_feasibility_aware_dwell_time_holds_a_job():
    # b's surplus ends after 4 h; c keeps 4 kW. A 3 h dwell keeps the job at its arrival
    # site until 3 h and then at b until the horizon; without dwell it hops a -> b -> c.
    d = three_sites(work_gpu_h=20.0)
    d["sites"][1]["trace"] = {"kind": "values", "values": [10_000.0] * (288 + 48) + [0.0] * 300}
    _spy, res = run(d, FeasibilityAwarePolicy(min_dwell_s=3 * 3600))
    assert [(m["dst"], m["start_s"]) for m in res.migrations] == [(1, 3 * 3600.0)]
    _spy2, res2 = run(d, FeasibilityAwarePolicy(min_dwell_s=0))
    assert [m["dst"] for m in res2.migrations] == [1, 2]


def test_threshold_suspends_without_surplus_and_resumes_with_it():
    sites = [simkit.site("a", power=None, trace={"kind": "solar", "peak": "5kW"})]
    d = simkit.micro(sites=sites, links=[], history="0s", horizon="1d",
                     jobs=[{"name": "j", "arrival": "0s", "work_gpu_h": 6.0, "checkpoint": "1GB",
                            "gpus": 1, "origin": "a"}])
    spy, res = run(d, make_policy("threshold"))
    kinds = [type(a) for acts in spy.actions.values() for a in acts]
    assert kinds[0] is Suspend and Resume in kinds
    assert res.migrations == []
    # It trained only while the sun covered it: ~06:00 UTC onwards.
    assert res.job_finish_s[0] > 6 * 3600 + 6 * 3600


def test_threshold_meets_a_tight_deadline_without_any_surplus():
    sites = [simkit.site("a", power="0kW")]
    d = simkit.micro(sites=sites, links=[], history="0s", horizon="6h",
                     jobs=[{"name": "j", "arrival": "0s", "work_gpu_h": 2.0, "checkpoint": "1GB",
                            "gpus": 1, "origin": "a", "deadline": "2h10min"}])
    _spy, res = run(d, make_policy("threshold"))
    assert res.job_finish_s[0] <= 7800.0
    # ... whereas without a deadline it waits for surplus that never comes.
    del d["jobs"][0]["deadline"]
    _spy, res = run(d, make_policy("threshold"))
    assert np.isnan(res.job_finish_s[0])


class FakeObs:
    """The few Observation fields the window estimator reads."""

    def __init__(self, history, step, surplus_now):
        self.history = history
        self.step = step
        self.dt_s = history.dt_s
        self.n_sites = surplus_now.shape[0]
        self.start_unix_s = 0.0
        self.surplus_w = surplus_now
        self.window_threshold_w = 1.0
        self.window_forecast_s = None


def test_historical_estimate_is_the_mean_remaining_window_at_that_time_of_day():
    from greenhop.core.observation import SurplusHistory

    dt = 3600.0
    days = 5
    hours = np.arange(days * 24) % 24
    # A window from 06:00 to 12:00 UTC every day, plus a longer one (to 16:00) on day 2.
    surplus = np.where((hours >= 6) & (hours < 12), 100.0, -1.0)
    surplus[2 * 24 + 12: 2 * 24 + 16] = 100.0
    data = surplus[:, None]
    est = HistoricalWindowEstimator()
    now = 4 * 24 + 8      # day 4, 08:00, inside today's window
    h = SurplusHistory(data, offset=0, now_step=now, dt_s=dt)
    value = est.estimate(FakeObs(h, now, data[now]))
    # Past days at 08:00: 4 h remaining on days 0, 1, 3 and 8 h on day 2 -> mean 5 h.
    assert value[0] == pytest.approx(5 * 3600)
    # Outside a window the estimate is 0.
    h2 = SurplusHistory(data, offset=0, now_step=now + 6, dt_s=dt)
    assert est.estimate(FakeObs(h2, now + 6, data[now + 6]))[0] == 0.0


class Leaky(HistoricalWindowEstimator):
    """A deliberately leaking estimator: peeks at the next step."""

    def estimate(self, observation):
        observation.history.at(observation.step + 1)
        return super().estimate(observation)


def test_a_leaking_estimator_makes_the_simulation_fail_loudly():
    inp = build_inputs(load_scenario(three_sites()))
    with pytest.raises(LeakageError, match="nothing after now"):
        Engine(inp, FeasibilityAwarePolicy(estimator=Leaky())).run()


def _bad_values(default):
    """Values a scenario's policy_params could hold that a parameter with this default
    cannot take."""
    if isinstance(default, bool):
        return ["yes", 1]
    if isinstance(default, int | float):
        return ["abc", float("nan"), True, [1.0]]
    if isinstance(default, str):
        return ["nonsense", 3]
    return ["abc"]  # None: an estimator, a threshold or a quantile left to the scenario


BUILT_IN = ("carbonscaler", "cost-aware-greedy", "curtail-threshold", "feasibility-aware",
            "forecast-feasibility", "horizon-planner", "network-aware", "threshold",
            "wait-awhile")


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_parameter_of_a_wrong_type_is_a_config_error_naming_it(name):
    import inspect

    sig = inspect.signature(POLICIES.get(name).__init__)
    checked = 0
    for p in sig.parameters.values():
        if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        for bad in _bad_values(p.default):
            with pytest.raises(ConfigError) as info:
                make_policy(name, **{p.name: bad})
            message = str(info.value)
            # the parameter is named (a quantile given as `quantile` is checked as `q`)
            assert p.name in message or (p.name == "quantile" and "q " in message), message
            assert "\n" not in message
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize(("name", "params", "message"), [
    ("feasibility-aware", {"alpha": 5}, "alpha must be <= 1"),
    ("feasibility-aware", {"min_gain": -5}, "min_gain must be >= 0"),
    ("feasibility-aware", {"window_threshold_w": -5}, "window_threshold_w must be >= 0"),
    ("threshold", {"deadline_margin": -5}, "deadline_margin must be >= 0"),
    ("curtail-threshold", {"threshold_w": float("nan")}, "threshold_w must be a finite"),
    ("wait-awhile", {"horizon_s": 1e308}, r"horizon_s must be <= 3\.16224e\+07 s"),
    ("wait-awhile", {"profile_days": 2.5}, "profile_days must be a whole number"),
    ("network-aware", {"window_share": 0}, "window_share must be > 0"),
])
def test_out_of_range_parameters_are_refused(name, params, message):
    with pytest.raises(ConfigError, match=message):
        make_policy(name, **params)


def test_parameters_in_seconds_or_watts_take_their_unit_as_scenario_keys_do():
    assert make_policy("feasibility-aware", min_dwell_s="90min").min_dwell_s == 5400.0
    assert make_policy("curtail-threshold", threshold_w="5kW").threshold_w == 5000.0
    assert make_policy("horizon-planner", epoch_s="30min").epoch_s == 1800.0
    with pytest.raises(ConfigError, match="min_dwell_s: unknown duration unit"):
        make_policy("feasibility-aware", min_dwell_s="1 parsec")
    with pytest.raises(ConfigError, match="deadline_margin must be a finite number"):
        make_policy("threshold", deadline_margin="1h")  # a ratio has no unit


def test_an_action_the_capabilities_do_not_declare_stops_the_run_naming_it():
    from greenhop.core.errors import PolicyFailure
    from greenhop.core.observation import Suspend

    class Sneaky(PolicyBase):
        name = "sneaky"  # declares nothing, yet suspends

        def decide(self, obs):
            return [Suspend(0)] if obs.n_jobs else []

    with pytest.raises(PolicyFailure, match=r"policy 'sneaky' returned Suspend\(job=0\) at "
                                            r"step \d+ but its Capabilities do not declare "
                                            r"suspends=True"):
        run(three_sites(), Sneaky())

    class NotAnAction(PolicyBase):
        name = "not-an-action"
        capabilities = Capabilities(migrates=True)

        def decide(self, obs):
            return [("migrate", 0, 1)]

    with pytest.raises(PolicyFailure, match=r"returned \('migrate', 0, 1\) at step \d+, which "
                                            r"is no action"):
        run(three_sites(), NotAnAction())
