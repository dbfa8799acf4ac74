"""Window forecasts in the simulator: only what was issued by now, leak-proof, the oracle's
separate channel, the oracle-gap metrics, and bad [forecast] tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import simkit

from greenhop.core.errors import ConfigError, UserError
from greenhop.core.observation import LeakageError
from greenhop.forecast import FORECASTERS
from greenhop.forecast.models import Persistence
from greenhop.policies import make_policy
from greenhop.policies.base import PolicyBase
from greenhop.sim import load_scenario, simulate
from greenhop.sim.engine import Engine
from greenhop.sim.forecasts import TrueWindows, build_window_forecasts
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import compare

STEPS_PER_DAY = 48  # 30-min steps


def _wavy(days: float, seed: int, peak_w: float = 9000.0) -> list[float]:
    """A daily solar-like shape with random clouds [W], 30-min steps."""
    n = int(days * STEPS_PER_DAY)
    t = np.arange(n) / STEPS_PER_DAY
    sun = np.maximum(0.0, np.sin(2 * np.pi * (t - 0.25)))
    rng = np.random.default_rng(seed)
    k = np.clip(0.75 + 0.3 * rng.standard_normal(n).cumsum() / np.sqrt(n), 0.2, 1.0)
    return list(np.round(peak_w * sun * k, 3))


def small(**over) -> dict:
    """Three sites on 30-min steps with varying traces; 2 days of history, 2 days run."""
    days = 4
    sites = [simkit.site("a", power=None, slots=8, trace={"kind": "values",
                                                          "values": _wavy(days, 1)}),
             simkit.site("b", power=None, slots=8, trace={"kind": "values",
                                                          "values": _wavy(days, 2)}),
             simkit.site("c", power=None, slots=8, trace={"kind": "values",
                                                          "values": _wavy(days, 3, 6000.0)})]
    links = [{"a": "a", "b": "b", "bandwidth": "10Gbps"},
             {"a": "b", "b": "c", "bandwidth": "10Gbps"}]
    jobs = [{"name": f"j{i}", "arrival": f"{i}h", "work_gpu_h": 6.0, "checkpoint": "20GB",
             "gpus": 2, "origin": "abc"[i % 3]} for i in range(6)]
    d = simkit.micro(sites=sites, links=links, jobs=jobs, step="30min", history="2d",
                     horizon="2d",
                     policies=["feasibility-aware", "forecast-feasibility", "oracle-window"],
                     forecast={"model": "seasonal-naive", "issue_every": "30min",
                               "horizon": "12h", "calibration_window": "1d"})
    d.update(over)
    return d


class Recorder(PolicyBase):
    """Wraps a policy and keeps a copy of the forecasts each Observation carried."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities  # what it returns must keep to them
        self.seen: dict[int, np.ndarray] = {}
        self.levels = None

    def decide(self, obs):
        if obs.window_forecast_q_s is not None:
            self.seen[obs.step] = np.array(obs.window_forecast_q_s)
            self.levels = obs.window_forecast_quantiles
        return self.inner.decide(obs)


def _forecasts(d):
    sc = load_scenario(d)
    inp = build_inputs(sc)
    return inp, build_window_forecasts(inp, sc.forecast)


def test_observations_carry_the_forecasts_issued_at_or_before_now():
    inp, wf = _forecasts(small())
    assert wf.remaining_s.shape == (inp.n_steps, 3, 3) and wf.quantiles == (0.1, 0.5, 0.9)
    assert np.all(wf.issued_step <= np.arange(inp.n_steps)[:, None])
    assert not np.isnan(wf.remaining_s).any()
    assert np.all(np.diff(wf.remaining_s, axis=2) >= 0)  # p10 <= p50 <= p90
    assert not wf.remaining_s.flags.writeable
    rec = Recorder(make_policy("forecast-feasibility"))
    Engine(inp, rec, window_forecasts=wf).run()
    assert rec.seen and rec.levels == (0.1, 0.5, 0.9)
    for step, seen in rec.seen.items():
        np.testing.assert_array_equal(seen, wf.remaining_s[step])


def test_changing_the_future_changes_no_forecast_seen_before_it():
    d = small()
    cut = 2 * STEPS_PER_DAY + 30           # a step of the run (history is 2 days)
    other = small()
    for s in other["sites"]:
        vals = np.array(s["trace"]["values"])
        vals[cut + 1:] = np.random.default_rng(7).uniform(0, 9000, vals.size - cut - 1)
        s["trace"]["values"] = list(vals)
    _, a = _forecasts(d)
    _, b = _forecasts(other)
    k = cut - 2 * STEPS_PER_DAY            # run step of the cut
    np.testing.assert_array_equal(a.remaining_s[: k + 1], b.remaining_s[: k + 1])
    assert not np.array_equal(a.remaining_s[k + 1:], b.remaining_s[k + 1:])


# ------------------------------------------------------------------ leaking forecasters
class _PeeksNext(Persistence):
    """Deliberately leaking: forecasts the value one step after the issue."""

    name = "test-peeks-next"

    def predict_many(self, series, issue_positions, horizons_s, quantiles):
        y = series.to_numpy(dtype=float)
        nxt = y[np.asarray(issue_positions) + 1]        # reads after now
        return np.broadcast_to(nxt[:, None, None],
                               (nxt.size, len(horizons_s), len(quantiles))).copy()


class _PeeksQuietly(Persistence):
    """Deliberately leaking, without ever indexing past the end: the next value if known."""

    name = "test-peeks-quietly"

    def predict_many(self, series, issue_positions, horizons_s, quantiles):
        y = series.to_numpy(dtype=float)
        p = np.minimum(np.asarray(issue_positions) + 1, y.size - 1)   # reads after now
        return np.broadcast_to(y[p][:, None, None],
                               (p.size, len(horizons_s), len(quantiles))).copy()


@pytest.mark.parametrize("leaker", [_PeeksNext, _PeeksQuietly])
def test_a_leaking_forecaster_makes_the_simulation_fail_loudly(leaker):
    model = leaker.name
    d = small(policies=["forecast-feasibility"])
    d["forecast"]["model"] = model
    with FORECASTERS.temporary(model, leaker), pytest.raises(
        LeakageError, match=f"forecaster '{model}'.*after its issue time"
    ):
        simulate(d)
    assert model not in FORECASTERS


def test_honest_forecasters_pass_the_audit():
    for model in ("persistence", "seasonal-naive"):
        d = small(policies=["forecast-feasibility"])
        d["forecast"]["model"] = model
        simulate(d)


# ------------------------------------------------------------------ the oracle's channel
class SpyFuture(PolicyBase):
    """A policy that would take the true windows, but does not declare sees_future."""

    name = "spy"

    def __init__(self):
        self.bound = False

    def bind_true_windows(self, source):
        self.bound = True

    def decide(self, obs):
        return []


def test_oracle_gets_the_truth_through_its_own_channel_only():
    inp = build_inputs(load_scenario(small()))
    oracle = make_policy("oracle-window")
    seen = {}
    real = oracle.estimator.estimate

    def record(obs):
        seen[obs.step] = np.array(real(obs))
        return seen[obs.step]

    oracle.estimator.estimate = record
    Engine(inp, oracle).run()
    assert seen
    for step, w in seen.items():
        np.testing.assert_array_equal(w, inp.remaining_window_s[step])
    spy = SpyFuture()
    Engine(inp, spy).run()
    assert not spy.bound                      # no declaration, no future


@pytest.mark.parametrize("name", ["oracle-window", "oracle-planner"])
def test_oracle_outside_the_simulator_fails_loudly(name):
    inp = build_inputs(load_scenario(small()))
    oracle = make_policy(name)

    class Plain(PolicyBase):  # an Observation source without the channel
        def decide(self, obs):
            return oracle.decide(obs)

    with pytest.raises(ConfigError, match="sees the future and runs only in the simulator"):
        Engine(inp, Plain()).run()


def test_oracle_planner_plans_on_the_true_surplus_and_windows():
    inp = build_inputs(load_scenario(small()))
    oracle = make_policy("oracle-planner", epoch_s=3600.0, horizon_s=6 * 3600.0)
    real = oracle._forecast
    seen = []

    def record(obs, hist):
        fc = real(obs, hist)
        seen.append((obs.step, np.array(obs.surplus_w), fc))
        return fc

    oracle._forecast = record
    Engine(inp, oracle).run()
    assert len(seen) > 5
    H, T = inp.history_steps, inp.n_steps
    for step, now_w, fc in seen:
        n = fc.step_surplus_w.shape[1]
        assert n == 12                          # 6 h of 30-min steps
        np.testing.assert_allclose(fc.step_surplus_w[:, 0], now_w)   # aligned with now
        ahead = inp.surplus_w[H + np.minimum(np.arange(step, step + n), T - 1)].T
        np.testing.assert_allclose(fc.step_surplus_w, ahead)         # the truth ahead
        np.testing.assert_array_equal(fc.window_s, inp.remaining_window_s[step])
        # each block's surplus is the mean of its steps' usable (positive) surplus: the
        # first epoch is two steps
        np.testing.assert_allclose(fc.surplus_w[:, 0],
                                   np.maximum(ahead[:, :2], 0.0).mean(axis=1))
    # a planner on the past sees something else somewhere (the check above is not vacuous)
    assert any(not np.allclose(fc.step_surplus_w, fc.step_surplus_w[:, :1])
               for _, _, fc in seen)


def test_oracle_planner_takes_no_forecast_options():
    for key, value in (("window", "history"), ("rest", "diurnal"), ("q", 0.5)):
        with pytest.raises(ConfigError, match=f"oracle-planner: {key} choose"):
            make_policy("oracle-planner", **{key: value})
    make_policy("oracle-planner", quantile=0.1)   # the scenario's quantile: ignored
    with pytest.raises(ConfigError, match="oracle-planner: lam must be"):
        make_policy("oracle-planner", lam=-1)     # the planner's own checks stand
    with pytest.raises(ConfigError, match="oracle-planner: unknown option"):
        make_policy("oracle-planner", lamda=1)


def test_true_surplus_ahead_is_read_only_and_holds_the_last_step_past_the_end():
    sur = np.arange(6.0).reshape(3, 2)
    tw = TrueWindows(np.zeros((3, 2)), sur)
    np.testing.assert_array_equal(tw.surplus_ahead_w(1, 4), [[2, 4, 4, 4], [3, 5, 5, 5]])
    tw.surplus_ahead_w(0, 2)[0, 0] = 99.0       # a copy: the truth is untouched
    assert tw.surplus_ahead_w(0, 1)[0, 0] == 0.0
    with pytest.raises(ConfigError, match="no surplus"):
        TrueWindows(np.zeros((3, 2))).surplus_ahead_w(0, 1)


def test_true_windows_are_read_only():
    tw = TrueWindows(np.zeros((3, 2)))
    with pytest.raises(ValueError):
        tw.remaining_s(0)[0] = 1.0


# ------------------------------------------------------------------ metrics and report
def test_metrics_and_report_show_the_share_of_the_oracle_gap(tmp_path):
    res = simulate(small())
    doc = json.loads(res.to_json())
    ff = doc["policies"]["forecast-feasibility"]
    for key in ("oracle_gap_kwh", "oracle_gap_closed_pct", "oracle_gap_infeasible",
                "oracle_gap_closed_infeasible_pct", "oracle_gap_window_closed",
                "oracle_gap_closed_window_closed_pct"):
        assert key in ff
    assert "oracle_gap_closed_pct" not in doc["policies"]["feasibility-aware"]
    assert doc["scenario"]["forecast"]["quantile"] == 0.1
    paths = res.write(tmp_path)
    html = paths["report"].read_text(encoding="utf-8")
    assert "oracle gap closed" in html and "sees the future" in html


def test_oracle_gap_closed_is_defined_on_non_renewable_energy():
    def m(nr, inf=0, reg=0):
        return {"job_nr_kwh": nr, "non_renewable_kwh": nr, "infeasible_migrations": inf,
                "window_closed_before_payback": reg}

    out = compare({"feasibility-aware": m(100.0, 10, 4), "forecast-feasibility": m(97.0, 4, 4),
                   "oracle-window": m(90.0, 2, 4)})
    ff = out["forecast-feasibility"]
    assert ff["oracle_gap_kwh"] == 10.0 and ff["oracle_gap_closed_pct"] == 30.0
    assert ff["oracle_gap_infeasible"] == 8 and ff["oracle_gap_closed_infeasible_pct"] == 75.0
    assert ff["oracle_gap_window_closed"] == 0
    assert ff["oracle_gap_closed_window_closed_pct"] is None
    none = compare({"feasibility-aware": m(90.0), "forecast-feasibility": m(95.0),
                    "oracle-window": m(91.0)})
    assert none["forecast-feasibility"]["oracle_gap_closed_pct"] is None


def test_forecasts_are_computed_only_when_a_policy_needs_them():
    res = simulate(small(policies=["feasibility-aware", "oracle-window"]))
    assert res.window_forecasts is None
    assert "forecast" not in json.loads(res.to_json())["scenario"]


# ------------------------------------------------------------------ replay from files
def _write_forecast_csv(path, inp, site_idx, backwards=False):
    """Perfect surplus forecasts issued every 30 min for 30 min .. 12 h ahead."""
    series = inp.surplus_w[:, site_idx]
    rows = []
    dt = 1800
    for p in range(0, len(series) - 24):
        for h in range(1, 25):
            rows.append((inp.index[p], inp.index[p] + pd.Timedelta(seconds=h * dt),
                         series[min(p + h, len(series) - 1)]))
    frame = pd.DataFrame(rows, columns=["issued_at", "valid_for", "value"])
    if backwards:
        frame = pd.concat([frame.iloc[50:], frame.iloc[:50]])
    frame.to_csv(path, index=False)


def test_replay_of_forecast_files_from_the_scenario(tmp_path):
    d = small(policies=["forecast-feasibility"])
    inp = build_inputs(load_scenario(d))
    files = {}
    for i, name in enumerate("abc"):
        path = tmp_path / f"{name}.csv"
        _write_forecast_csv(path, inp, i)
        files[name] = str(path)
    d["forecast"] = {"model": "replay", "files": files, "horizon": "12h", "issue_every": "30min",
                     "calibration_window": "1d"}
    res = simulate(d)
    assert res.window_forecasts is not None
    assert "replay" in res.window_forecasts.name


# ------------------------------------------------------------------ bad [forecast] tables
def _fc(**kv):
    d = small()
    d["forecast"].update(kv)
    return d


@pytest.mark.parametrize(("scenario", "message"), [
    (_fc(model="prophet"), r"forecast\.model: unknown forecaster 'prophet'; valid forecaster "
                           r"names: .*seasonal-naive"),
    (_fc(quantile=0.0), r"forecast\.quantile: a quantile must be strictly between 0 and 1"),
    (_fc(quantile=1.0), r"forecast\.quantile: a quantile must be strictly between 0 and 1"),
    (_fc(quantile=1.5), r"forecast\.quantile: a quantile must be strictly between 0 and 1"),
    (_fc(quantile=-0.1), r"forecast\.quantile: a quantile must be strictly between"),
    (_fc(quantile="p10"), r"forecast\.quantile: expected a number in \(0, 1\)"),
    (_fc(horizon="3d"), r"forecast\.horizon: 72 h is longer than the history \(48 h\)"),
    (_fc(horizon="10min"), r"forecast\.horizon: must be a whole number"),
    (_fc(issue_every="45min"), r"forecast\.issue_every: must be a whole number of steps"),
    (_fc(options={"period_s": -5}), r"forecast\.options: seasonal-naive: period must be"),
    (_fc(options={"colour": "red"}), r"forecast\.options: forecaster 'seasonal-naive': bad "
                                     r"option"),
    (_fc(modle="gbm"), r"forecast\.modle: unknown key"),
    (_fc(model="replay"), r"forecast\.files: replay needs the issued forecasts of every site"),
    (_fc(files={"a": "a.csv"}), r"forecast\.files: forecast files are replayed by the 'replay'"),
    (_fc(model="replay", files={"z": "z.csv"}), r"forecast\.files\.z: unknown site 'z'"),
    (_fc(model="replay", files={"a": "/nonexistent/a.csv"}),
     r"forecast\.files\.a: forecast file .* does not exist"),
    (small(policy_params={"forecast-feasibility": {"quantile": 2}}),
     r"policy_params\.forecast-feasibility\.quantile: a quantile must be strictly between 0 "
     r"and 1"),
], ids=["unknown-model", "quantile-0", "quantile-1", "quantile-1.5", "quantile-negative",
        "quantile-string", "horizon-beyond-history", "horizon-not-steps", "issue-every-odd",
        "bad-option-value", "unknown-option", "typo-key", "replay-without-files",
        "files-without-replay", "files-unknown-site", "files-missing",
        "policy-quantile-out-of-range"])
def test_bad_forecast_tables_are_refused_with_the_key_path(scenario, message):
    with pytest.raises(UserError, match=message):
        simulate(scenario)


def test_a_forecast_file_whose_issue_times_run_backwards_is_refused(tmp_path):
    d = small(policies=["forecast-feasibility"])
    inp = build_inputs(load_scenario(d))
    files = {}
    for i, name in enumerate("abc"):
        path = tmp_path / f"{name}.csv"
        _write_forecast_csv(path, inp, i, backwards=(name == "b"))
        files[name] = str(path)
    d["forecast"] = {"model": "replay", "files": files, "horizon": "12h"}
    with pytest.raises(ConfigError, match=r"forecast\.files\.b: .*issue time runs backwards at "
                                          r"line .*sort the file by 'issued_at'"):
        load_scenario(d)


def test_a_run_too_short_for_the_forecaster_says_so():
    d = small(history="12h", horizon="6h", policies=["forecast-feasibility"])
    d["forecast"]["horizon"] = "12h"
    with pytest.raises(ConfigError, match=r"forecast \(site 'a'\): seasonal-naive: needs 24 h "
                                          r"of history"):
        simulate(d)


def test_the_planner_gets_window_forecasts_exactly_when_its_window_option_asks():
    from greenhop.fleet.forecasts import ForecastSpec
    from greenhop.policies.planner_forecast import quantile_column
    from greenhop.runtime.ledger import live_forecasts

    opts = {"epoch_s": 3600.0, "horizon_s": 6 * 3600.0}
    history = simulate(small(policies=["horizon-planner"],
                             policy_params={"horizon-planner": opts}))
    assert history.window_forecasts is None
    # jobs long enough to be planned through the day's windows
    jobs = [{"name": f"j{i}", "arrival": f"{i}h", "work_gpu_h": 40.0, "checkpoint": "20GB",
             "gpus": 2, "origin": "abc"[i % 3]} for i in range(6)]
    d = small(policies=["horizon-planner"], jobs=jobs,
              policy_params={"horizon-planner": {**opts, "window": "forecast", "q": 0.5}})
    assert simulate(d).window_forecasts is not None
    # the plan's windows are the forecasts' quantile q where a site is in a window
    inp = build_inputs(load_scenario(d))
    planner = make_policy("horizon-planner", **opts, window="forecast", q=0.5)
    real, seen = planner._forecast, []

    def record(obs, hist):
        fc = real(obs, hist)
        seen.append((obs, fc))
        return fc

    planner._forecast = record
    Engine(inp, planner, window_forecasts=build_window_forecasts(
        inp, load_scenario(d).forecast)).run()
    in_window = 0
    for obs, fc in seen:
        q_s = quantile_column(obs, 0.5)
        assert q_s is not None
        mask = fc.window_s > 0
        np.testing.assert_allclose(fc.window_s[mask], q_s[mask])
        in_window += int(mask.sum())
    assert in_window > 0
    # and a live run computes them for it too, not for the default planner
    assert live_forecasts(inp, planner, ForecastSpec(), 0) is not None
    assert live_forecasts(inp, make_policy("horizon-planner"), ForecastSpec(), 0) is None


def test_a_default_horizon_longer_than_history_and_run_names_both_and_the_default():
    """Without a [forecast] table the horizon is the default 24 h, unchecked at parse time;
    with no history a forecasting policy cannot get a forecast. The error says where the
    24 h came from (it read "longer than the history (11.5 h)" of a scenario whose history
    is 0 h)."""
    d = small(history="0s", horizon="12h", policies=["forecast-feasibility"])
    del d["forecast"]
    with pytest.raises(UserError, match=r"forecast\.horizon \(24 h unless a \[forecast\] table "
                       r"sets it\): 24 h is longer than the history \(0 h\)"):
        simulate(d)


def test_the_default_forecast_horizon_is_held_to_the_history_as_a_table_s_is():
    """A [forecast] table whose horizon passes the history is refused when read; without
    the table the default 24 h passed a 2 h history unchecked and the forecasting policy
    ran (exit 0, no word). It is refused too, naming the file and the default, before the
    traces are read, and only where a policy uses forecasts."""
    d = small(history="2h", horizon="2d", policies=["static", "forecast-feasibility"])
    del d["forecast"]
    with pytest.raises(UserError, match=r"forecast\.horizon \(24 h unless a \[forecast\] table "
                       r"sets it\): 24 h is longer than the history \(2 h\)"):
        simulate(d)
    with_table = dict(d, forecast={"horizon": "1d"})
    with pytest.raises(UserError, match=r"forecast\.horizon: 24 h is longer than the history"):
        simulate(with_table)
    assert set(simulate(d, policies=["static", "feasibility-aware"]).runs) == {
        "static", "feasibility-aware"}
