"""A user's policy that misbehaves: one line naming the policy, the step (or its building)
and the line of the user's file, with exit code 1 for the user's code failing and 2 for
bad parameters; indices that are no whole number are rejected actions, not truncated."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import clikit
import simkit

from greenhop.core.errors import ConfigError, PolicyFailure
from greenhop.core.observation import LeakageError, Migrate, Suspend
from greenhop.fleet.admission import resolve
from greenhop.policies import POLICIES, Capabilities, PolicyBase, make_policy, plugins
from greenhop.policies.plugins import load_policy_file, parse_policy_file
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

# two sites, one link, one job at "a" (2 h in 5-min steps): the smallest run
SCENARIO = """
name = "faults"
start = "2023-01-01T00:00:00Z"
horizon = "2h"
step = "5min"
history = "0s"
policies = ["static"]
window_threshold = "500W"  # surplus 2 kW - 1 kW x PUE 1.2 = 800 W: windows open

[[sites]]
name = "a"
latitude = 0.0
longitude = 0.0
gpu_slots = 2
base_load = "1kW"
trace = { kind = "constant", power = "2kW" }

[[sites]]
name = "b"
latitude = 0.0
longitude = 0.0
gpu_slots = 2
base_load = "1kW"
trace = { kind = "constant", power = "2kW" }

[[links]]
a = "a"
b = "b"
bandwidth = "10Gbps"

[[jobs]]
name = "j1"
arrival = "0s"
work_gpu_h = 1.0
checkpoint = "1GB"
gpus = 1
origin = "a"
"""

HEAD = """\
from greenhop.policies import Capabilities, PolicyBase


class Mine(PolicyBase):
    name = "mine"
    capabilities = Capabilities(migrates=True)
"""


@pytest.fixture(autouse=True)
def forget_loaded():
    """Policies loaded by a test are forgotten after it."""
    before = set(POLICIES.names())
    yield
    for name in set(POLICIES.names()) - before:
        plugins.forget(name)


@pytest.fixture
def scenario(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENHOP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def policy_file(tmp_path: Path, body: str) -> Path:
    """``HEAD`` (class ``Mine``, from line 4) with ``body`` (its methods) in mine.py."""
    path = tmp_path / "mine.py"
    path.write_text(HEAD + textwrap.indent(textwrap.dedent(body), "    "), encoding="utf-8")
    return path


def idle_policy_file(tmp_path: Path, *, capabilities: str = "Capabilities(migrates=True)",
                     name: str = "mine") -> Path:
    """mine.py with class ``Mine`` declaring ``capabilities`` and named ``name``, whose
    ``decide`` does nothing."""
    path = tmp_path / "mine.py"
    path.write_text(HEAD.replace("Capabilities(migrates=True)", capabilities)
                    .replace('name = "mine"', f'name = "{name}"')
                    + "\n    def decide(self, obs):\n        return []\n", encoding="utf-8")
    return path


def line_of(path: Path, text: str) -> int:
    """The number of the line of ``path`` that holds ``text``."""
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if text in ln)


def simulate(capsys, scenario: Path, mine: Path, *extra: str) -> tuple[int, str, Path]:
    """``greenhop simulate`` with ``mine.py:Mine``; returns (exit code, stderr, --out)."""
    out = scenario.parent / "out"
    code, _, err = clikit.run(capsys, "simulate", str(scenario), "-p", "mine", "--out",
                              str(out), "--no-report", "--policy-file", f"{mine}:Mine", *extra)
    return code, err, out


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------- 1. SystemExit in decide


def test_a_system_exit_in_decide_is_a_policy_failure_not_a_silent_exit_0(capsys, scenario,
                                                                         tmp_path):
    mine = policy_file(tmp_path, """
        def decide(self, obs):
            if obs.step >= 2:
                raise SystemExit(0)
            return []
        """)
    code, err, out = simulate(capsys, scenario, mine)
    assert code == 1
    line = one_line(err)
    assert re.search(r"policy 'mine' failed at step 2 \(600 s\): SystemExit: 0", line), line
    assert f"{mine}:{line_of(mine, 'SystemExit(0)')} in decide" in line
    assert not (out / "metrics.json").exists()


def test_a_keyboard_interrupt_in_decide_is_not_swallowed():
    class Interrupted(PolicyBase):
        name = "interrupted"

        def decide(self, obs):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Engine(build_inputs(load_scenario(simkit.micro())), Interrupted()).run()


# ---------------------------------------------------------------- 2. __init__ raising


@pytest.mark.parametrize("statement, kind", [
    ("raise ValueError('no good')", "ValueError: no good"),
    ("raise RuntimeError('broken')", "RuntimeError: broken"),
    ("raise SystemExit(3)", "SystemExit: 3"),
])
def test_an_init_that_raises_is_one_line_with_exit_1_naming_the_file_line(
        capsys, scenario, tmp_path, statement, kind):
    mine = policy_file(tmp_path, f"""
        def __init__(self):
            {statement}

        def decide(self, obs):
            return []
        """)
    code, err, _ = simulate(capsys, scenario, mine)
    assert code == 1, err
    line = one_line(err)
    assert "policy 'mine' failed while being built" in line, line
    assert kind in line and "bad parameters" not in line
    assert f"{mine}:{line_of(mine, statement)} in __init__" in line


def test_an_init_that_raises_names_the_parameters_it_was_given(tmp_path):
    mine = policy_file(tmp_path, """
        def __init__(self, margin_w=0.0):
            self.margin_w = float(margin_w)

        def decide(self, obs):
            return []
        """)
    load_policy_file(parse_policy_file(f"{mine}:Mine"))
    with pytest.raises(PolicyFailure, match=r"policy 'mine' failed while being built with "
                                            r"\{'margin_w': 'lots'\}: ValueError: could not "
                                            r"convert") as info:
        make_policy("mine", margin_w="lots")
    assert f"{mine}:{line_of(mine, 'float(margin_w)')} in __init__" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


def test_bad_parameters_of_a_file_policy_stay_exit_2(capsys, scenario, tmp_path):
    mine = policy_file(tmp_path, """
        def __init__(self, margin_w=0.0):
            from greenhop.policies.base import number_param

            self.margin_w = number_param(self.name, "margin_w", margin_w, lo=0.0)

        def decide(self, obs):
            return []
        """)
    load_policy_file(parse_policy_file(f"{mine}:Mine"))
    with pytest.raises(ConfigError, match=r"policy 'mine': bad parameters \['colour'\]"):
        make_policy("mine", colour="green")
    with pytest.raises(ConfigError, match="mine: margin_w must be >= 0"):
        make_policy("mine", margin_w=-1)
    plugins.forget("mine")
    table = scenario.parent / "t.toml"
    table.write_text(SCENARIO.replace('policies = ["static"]', "") + (
        '\n[policies.mine]\nfile = "mine.py"\nclass = "Mine"\nmargin_w = -1\n'))
    code, _, err = clikit.run(capsys, "simulate", str(table), "--no-report", "--out",
                              str(tmp_path / "out"))
    assert code == 2
    assert "margin_w must be >= 0" in one_line(err)


def test_bad_parameters_of_built_in_policies_keep_their_messages():
    with pytest.raises(ConfigError, match=r"policy 'static': bad parameters \['alpha'\]"):
        make_policy("static", alpha=0.2)
    with pytest.raises(ConfigError, match=r"bad parameters|estimator"):
        make_policy("oracle-window", estimator=object())


# ---------------------------------------------------------------- 3. indices that are no int


def test_only_whole_number_types_are_indices():
    index = {"a": 0, "b": 1}
    for key, want in [(1, 1), (np.int64(1), 1), (np.int32(0), 0), (np.uint8(1), 1),
                      ("b", 1), (2, -1), (-1, -1), ("c", -1)]:
        assert resolve(key, index, 2) == want, key
    for key in (0.5, 1.0, True, False, np.float64(1.0), np.bool_(True), None, "1"):
        assert resolve(key, index, 2) == -1, key


class Once(PolicyBase):
    """Returns ``actions`` at step 1, nothing else."""

    name = "once"
    capabilities = Capabilities(migrates=True, suspends=True)

    def __init__(self, actions):
        self.actions = actions

    def decide(self, obs):
        return list(self.actions) if obs.step == 1 else []


@pytest.mark.parametrize("action", [
    Migrate(0.5, 1), Migrate(True, 1), Migrate(0, 1.0), Migrate(np.float64(0.0), 1),
    Migrate(0, True), Suspend(0.0), Suspend(False),
], ids=repr)
def test_an_action_with_a_non_integer_index_is_rejected(action):
    # two jobs at a, so Migrate(True, ...) would move the second one
    doc = simkit.micro(jobs=[
        {"name": n, "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": "1GB", "gpus": 1,
         "origin": "a"} for n in ("j1", "j2")])
    res = Engine(build_inputs(load_scenario(doc)), Once([action])).run()
    assert res.counters["rejected_actions"] == 1
    assert res.counters.get("migrations_started", 0) == 0
    assert res.counters.get("suspensions", 0) == 0
    assert list(res.job_migrations) == [0, 0]


def test_numpy_integer_indices_are_still_accepted():
    res = Engine(build_inputs(load_scenario(simkit.micro())),
                 Once([Migrate(np.int64(0), np.int32(1))])).run()
    assert res.counters.get("rejected_actions", 0) == 0
    assert res.counters["migrations_started"] == 1


# ---------------------------------------------------------------- 4. greenhop errors in decide


def test_reading_the_future_names_the_policy_step_and_line_keeping_exit_1(capsys, scenario,
                                                                          tmp_path):
    mine = policy_file(tmp_path, """
        def decide(self, obs):
            obs.history.at(obs.step + 5)
            return []
        """)
    code, err, _ = simulate(capsys, scenario, mine)
    assert code == 1  # a LeakageError is no UserError: exit 1, as before
    line = one_line(err)
    assert ("policy 'mine' failed at step 0 (0 s): LeakageError: surplus history asked for "
            "step 5") in line, line
    assert f"{mine}:{line_of(mine, 'obs.step + 5')} in decide" in line


def test_a_greenhop_error_in_decide_keeps_its_class_and_cause():
    class Peeks(PolicyBase):
        name = "peeks"

        def decide(self, obs):
            obs.history.at(obs.step + 1)
            return []

    with pytest.raises(LeakageError, match=r"^policy 'peeks' failed at step 0 \(0 s\): "
                                           r"LeakageError: surplus history asked for step 1"
                       ) as info:
        Engine(build_inputs(load_scenario(simkit.micro())), Peeks()).run()
    assert f"{__file__}:" in str(info.value) and "in decide" in str(info.value)
    assert isinstance(info.value.__cause__, LeakageError)

    class AsksAMissingLevel(PolicyBase):
        name = "missing-level"

        def decide(self, obs):
            raise ConfigError("window forecasts: no quantile 0.3")

    with pytest.raises(ConfigError, match=r"^policy 'missing-level' failed at step 0 .*"
                                          r"ConfigError: window forecasts: no quantile 0.3"):
        Engine(build_inputs(load_scenario(simkit.micro())), AsksAMissingLevel()).run()


# ---------------------------------------------------------------- 5. decide returning None


def test_decide_returning_none_names_the_policy_step_and_its_decide(capsys, scenario,
                                                                    tmp_path):
    mine = policy_file(tmp_path, """
        def decide(self, obs):
            if obs.step >= 1:
                return None
            return []
        """)
    code, err, _ = simulate(capsys, scenario, mine)
    assert code == 1
    line = one_line(err)
    assert ("policy 'mine': decide() returned None at step 1; return a list of actions (an "
            "empty list to do nothing)") in line, line
    assert f"{mine}:{line_of(mine, 'def decide')} in Mine.decide" in line
    assert "base.py" not in line and "NoneType" not in line


def test_decide_returning_a_single_action_is_refused_the_same_way():
    class Bare(PolicyBase):
        name = "bare"
        capabilities = Capabilities(suspends=True)

        def decide(self, obs):
            return Suspend(0)

    with pytest.raises(PolicyFailure, match=r"policy 'bare': decide\(\) returned "
                                            r"Suspend\(job=0\) at step 0; return a list"):
        Engine(build_inputs(load_scenario(simkit.micro())), Bare()).run()


def test_a_generator_decide_still_works_and_its_errors_name_its_line():
    class Gen(PolicyBase):
        name = "gen"
        capabilities = Capabilities(suspends=True)

        def decide(self, obs):
            if obs.step == 2:
                raise ValueError("in a generator")
            yield from ()

    with pytest.raises(PolicyFailure, match=r"policy 'gen' failed at step 2 .*ValueError: "
                                            r"in a generator"):
        Engine(build_inputs(load_scenario(simkit.micro())), Gen()).run()


def test_an_integer_past_any_float_is_a_parameter_error_not_numpy_text():
    """``min_dwell_s = 1`` and 400 zeros gave numpy's "ufunc 'isfinite' not supported"."""
    from greenhop.core.errors import ConfigError
    from greenhop.policies.base import number_param

    with pytest.raises(ConfigError) as info:
        number_param("carbonscaler", "min_dwell_s", 10**400, lo=0.0, unit="s")
    text = str(info.value)
    assert text.startswith("carbonscaler: min_dwell_s must be a finite number [s]")
    assert "ufunc" not in text and len(text) < 160


# ------------------------------------------- counters(), capabilities, names, returns


@pytest.mark.parametrize(("body", "expect"), [
    ("raise RuntimeError('ctr')", r"policy 'mine' failed in counters\(\): RuntimeError: ctr "
                                  r"\(.*mine\.py:\d+ in counters\)"),
    ("return ['x']", r"policy 'mine': counters\(\) returned \['x'\]; return a dict"),
    ("return {'n': object()}", r"policy 'mine': counters\(\) returned 'n': <object object"),
    ("return {'n': float('nan')}", r"returned 'n': nan; each counter is a name \(str\) and a "
                                   r"finite number"),
    ("return {1: 2}", r"returned 1: 2; each counter is a name"),
    ("return {'n': 10**400}", r"returned 'n': 10+…; each counter is a name"),
    # a name of greenhop's own metrics replaced that metric in metrics.json, the report
    # and the sweep's cells (then the table failed on a float where a count belongs)
    ("return {'migrations': 12345.0}", r"policy 'mine': counters\(\) returns 'migrations', "
                                       r"the name of a metric greenhop computes; give the "
                                       r"counter a name of its own \(e\.g\. 'mine_migrations'\)"),
    ("return {'job_nr_kwh': -1.0}", r"returns 'job_nr_kwh', the name of a metric"),
    ("return {'saved_vs_static_pct': 99.0}", r"returns 'saved_vs_static_pct', the name of"),
])
def test_a_bad_counters_is_one_line_naming_the_policy(capsys, scenario, tmp_path, body,
                                                      expect):
    """counters() is read after the run: a failure there was a bare traceback from the
    engine or the metrics (and on Ray a message naming nothing)."""
    mine = policy_file(tmp_path, f"""
        def decide(self, obs):
            return []

        def counters(self):
            {body}
        """)
    code, err, out = simulate(capsys, scenario, mine)
    assert code == 1
    assert re.search(expect, one_line(err)), err
    assert not (out / "metrics.json").exists()


def test_counters_of_a_policy_reach_the_metrics_as_numbers(tmp_path):
    from greenhop.policies.base import policy_counters

    class Counts(PolicyBase):
        name = "counts"

        def decide(self, obs):
            return []

        def counters(self):
            return {"solves": 3, "share": np.float64(0.5)}

    assert policy_counters(Counts()) == {"solves": 3.0, "share": 0.5}


@pytest.mark.parametrize("acting", ["migrates", "suspends", "scales", "places"])
def test_a_passive_policy_that_declares_an_action_is_refused(acting):
    """``passive`` lets the mechanism skip ``decide``: with an action declared too, the
    policy's actions never came, and the run said nothing."""
    with pytest.raises(ValueError, match=f"passive=True, {acting}=True"):
        Capabilities(passive=True, **{acting: True})
    assert Capabilities(passive=True).passive


def test_a_policy_file_with_contradictory_capabilities_is_exit_2(capsys, scenario, tmp_path):
    mine = idle_policy_file(tmp_path, capabilities="Capabilities(passive=True, suspends=True)")
    code, err, _ = simulate(capsys, scenario, mine)
    assert code == 2
    assert "a passive policy never acts" in one_line(err)


@pytest.mark.parametrize(("action", "shown"), [
    ("Migrate(int(j), 'zzz')", "Migrate(job=0, dest='zzz')"),
    ("Migrate(999, 'b')", "Migrate(job=999, dest='b')"),
    ("Migrate('nobody', 'b')", "Migrate(job='nobody', dest='b')"),
])
def test_actions_naming_nothing_are_counted_and_warned_about(capsys, scenario, tmp_path,
                                                            action, shown):
    """A misspelt site or a wrong job index was only a rejected action: the run looked like
    static's, with nothing said. It is now counted apart and warned about, with the first."""
    mine = policy_file(tmp_path, f"""
        def decide(self, obs):
            from greenhop.core.observation import RUNNING, Migrate
            return [{action} for j in obs.jobs_in(RUNNING)]
        """)
    code, err, out = simulate(capsys, scenario, mine)
    assert code == 0, err
    text = " ".join(err.split())
    assert "warning: policy 'mine':" in text and "named a job or site the fleet does not have" \
        in text and f"(first at step 1: {shown})" in text, text
    import json

    m = json.loads((out / "metrics.json").read_text())["policies"]["mine"]
    assert m["actions_naming_nothing"] == m["rejected_actions"] > 0
    assert m["actions_naming_nothing_first"] == f"step 1: {shown}"


def test_a_sweep_warns_of_actions_naming_nothing_as_simulate_does(capsys, scenario,
                                                                  tmp_path):
    """A sweep exited 0 in silence: only its cells counted the rejected actions."""
    mine = policy_file(tmp_path, """
        def decide(self, obs):
            from greenhop.core.observation import RUNNING, Migrate
            return [Migrate(int(j), 'zzz') for j in obs.jobs_in(RUNNING)]
        """)
    code, _, err = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1-2", "--serial",
                              "-p", "mine", "--out", str(tmp_path / "sw"), "--policy-file",
                              f"{mine}:Mine")
    assert code == 0, err
    text = " ".join(err.split())
    assert "warning: policy 'mine':" in text and " in 2 of 2 runs named a job or site the " \
        "fleet does not have and were rejected" in text, text


def test_an_action_the_fleet_refuses_is_not_counted_as_naming_nothing():
    """A move to a full site names a real job and site: rejected, not a typo."""
    d = simkit.micro()
    d["sites"][1]["gpu_slots"] = 0
    res = Engine(build_inputs(load_scenario(d)), simkit.MoveAt(1, "b")).run()
    assert res.counters["rejected_actions"] >= 1
    assert "actions_naming_nothing" not in res.counters and res.first_naming_nothing is None


@pytest.mark.parametrize(("ret", "shown"), [
    ("{'migrate': 0}", "{'migrate': 0}"), ("b'ab'", "b'ab'")])
def test_decide_returning_a_mapping_or_bytes_is_refused_naming_its_decide(capsys, scenario,
                                                                         tmp_path, ret,
                                                                         shown):
    """A dict was iterated (its keys read as actions) and refused as "'migrate' ... is no
    action", naming a key and no line."""
    mine = policy_file(tmp_path, f"""
        def decide(self, obs):
            return {ret}
        """)
    code, err, _ = simulate(capsys, scenario, mine)
    line = one_line(err)
    assert code == 1
    assert f"decide() returned {shown} at step 0; return a list of actions" in line, line
    assert f"{mine}:{line_of(mine, 'def decide')} in Mine.decide" in line, line


def test_decide_returning_a_set_is_refused_as_a_run_that_would_not_repeat(capsys, scenario,
                                                                        tmp_path):
    """A set of actions was taken in its hash order, which changes from one process to the
    next (PYTHONHASHSEED): the same command acted in another order each time."""
    mine = policy_file(tmp_path, """
        def decide(self, obs):
            return set()
        """)
    code, err, _ = simulate(capsys, scenario, mine)
    line = one_line(err)
    assert code == 1
    assert "decide() returned a set at step 0; its order changes from one run to the next" \
        in line, line
    assert f"{mine}:{line_of(mine, 'def decide')} in Mine.decide" in line, line


def test_an_item_that_is_no_action_names_the_policys_decide(capsys, scenario, tmp_path):
    mine = policy_file(tmp_path, """
        def decide(self, obs):
            return [None]
        """)
    code, err, _ = simulate(capsys, scenario, mine)
    line = one_line(err)
    assert code == 1 and "returned None at step 0, which is no action" in line
    assert f"{mine}:{line_of(mine, 'def decide')} in Mine.decide" in line, line


def test_an_exception_that_cannot_be_printed_is_still_one_line(capsys, scenario, tmp_path):
    """An exception whose __str__ raises gave a 65-line traceback from greenhop's own code."""
    mine = policy_file(tmp_path, """
        def decide(self, obs):
            class Odd(Exception):
                def __str__(self):
                    raise RuntimeError("no text")
            raise Odd()
        """)
    code, err, _ = simulate(capsys, scenario, mine)
    line = one_line(err)
    assert code == 1 and "Odd: <Odd that cannot be printed>" in line, line


def test_a_forecast_reading_policy_without_a_quantile_parameter_is_told_to_take_one(
        capsys, scenario, tmp_path):
    """It said "bad parameters ['quantile']: Mine() takes no arguments", a parameter the
    user never gave."""
    mine = idle_policy_file(tmp_path, capabilities="Capabilities(window_forecasts=True)")
    code, err, _ = simulate(capsys, scenario, mine)
    assert code == 2
    assert ("policy 'mine' declares window_forecasts=True, so it is built with the forecast "
            "quantile it reads: give its __init__ a `quantile` parameter") in one_line(err)


def test_a_decide_that_cannot_be_called_names_the_users_decide(capsys, scenario, tmp_path):
    """``def decide(self)`` failed in the call itself, and the message named greenhop's
    line that made the call."""
    mine = policy_file(tmp_path, """
        def decide(self):
            return []
        """)
    code, err, _ = simulate(capsys, scenario, mine)
    line = one_line(err)
    assert code == 1 and "TypeError: Mine.decide() takes 1 positional argument" in line
    assert f"({mine}:{line_of(mine, 'def decide')} in Mine.decide)" in line, line
    assert "greenhop/policies/base.py" not in line


def test_an_async_decide_is_one_line_without_a_never_awaited_warning(capsys, scenario,
                                                                    tmp_path):
    mine = policy_file(tmp_path, """
        async def decide(self, obs):
            return []
        """)
    code, err, _ = simulate(capsys, scenario, mine)
    line = one_line(err)  # no "coroutine ... was never awaited" lines after it
    assert code == 1 and "decide() returned a coroutine at step 0" in line, line
    assert "make it a plain `def`" in line


def test_a_name_that_differs_from_a_registered_one_only_in_case_is_refused(capsys, scenario,
                                                                           tmp_path):
    """A policy's name is also a folder name; 'Static' beside 'static' would be one folder
    on a file system that ignores case."""
    mine = idle_policy_file(tmp_path, name="Static")
    code, _, err = clikit.run(capsys, "simulate", str(scenario), "--out",
                              str(tmp_path / "out"), "--policy-file", f"{mine}:Mine")
    assert code == 2
    assert "policy name 'Static' differs from the policy 'static' only in case" in one_line(err)


def test_what_a_policy_prints_does_not_break_simulates_json(capsys, scenario, tmp_path):
    import json

    mine = policy_file(tmp_path, """
        def decide(self, obs):
            print("thinking", obs.step)
            return []
        """)
    code, out, err = clikit.run(capsys, "simulate", str(scenario), "-p", "mine", "--json",
                                "--policy-file", f"{mine}:Mine")
    assert code == 0, err
    assert list(json.loads(out)["policies"]) == ["mine"]
    assert "thinking 0" in err
