"""Your own policies: loading a class from a file, from an installed package's entry point
and from a scenario's ``[policies.NAME]`` table; one-line errors naming file, line or key;
and the example policy (examples/my_policy.py) doing what its docstring says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.core.errors import ConfigError
from greenhop.core.observation import Migrate, Suspend
from greenhop.core.registry import Registry
from greenhop.policies import POLICIES, Capabilities, PolicyBase, make_policy, plugins
from greenhop.policies.plugins import (
    PolicyFile,
    load_entry_points,
    load_policy_file,
    parse_policy_file,
    plugin_origin,
)
from greenhop.sim import simulate
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "my_policy.py"

GOOD = '''
from greenhop.core.observation import Suspend
from greenhop.policies import Capabilities, PolicyBase


class Pause(PolicyBase):
    name = "pause-all"
    summary = "suspends every running job"
    capabilities = Capabilities(suspends=True)

    def __init__(self, after_s: float = 0.0):
        self.after_s = after_s

    def decide(self, obs):
        return []
'''


@pytest.fixture
def loaded():
    """Names loaded into the global registry during a test, forgotten after it."""
    before = set(POLICIES.names())
    yield
    for name in set(POLICIES.names()) - before:
        plugins.forget(name)


def write(tmp_path: Path, text: str, name: str = "mine.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ---------------------------------------------------------------- by path


def test_a_file_policy_is_registered_under_its_name_and_built_by_name(tmp_path, loaded):
    path = write(tmp_path, GOOD)
    name = load_policy_file(parse_policy_file(f"{path}:Pause"))
    assert name == "pause-all" and "pause-all" in POLICIES
    policy = make_policy("pause-all", after_s=5.0)
    assert isinstance(policy, PolicyBase) and policy.after_s == 5.0
    assert policy.capabilities == Capabilities(suspends=True)
    assert plugin_origin("pause-all") == f"{path.resolve()}:Pause"
    assert plugin_origin("static") is None
    # loading the same file again is a no-op: the same class under the same name
    cls = POLICIES.get("pause-all")
    assert load_policy_file(parse_policy_file(f"{path}:Pause")) == "pause-all"
    assert POLICIES.get("pause-all") is cls


def test_a_given_name_replaces_the_class_name(tmp_path, loaded):
    path = write(tmp_path, GOOD)
    name = load_policy_file(parse_policy_file(f"hold={path}:Pause"))
    assert name == "hold" and "pause-all" not in POLICIES
    policy = make_policy("hold")
    assert policy.name == "hold" and type(policy).__name__ == "Pause"


def test_a_relative_path_is_taken_from_the_base_directory(tmp_path, loaded):
    write(tmp_path, GOOD)
    ref = parse_policy_file("mine.py:Pause", base_dir=tmp_path)
    assert ref == PolicyFile((tmp_path / "mine.py").resolve(), "Pause", None)


def test_a_changed_file_replaces_its_earlier_class(tmp_path, loaded):
    path = write(tmp_path, GOOD)
    load_policy_file(parse_policy_file(f"{path}:Pause"))
    write(tmp_path, GOOD.replace("after_s: float = 0.0", "after_s: float = 7.0"))
    load_policy_file(parse_policy_file(f"{path}:Pause"))
    assert make_policy("pause-all").after_s == 7.0


@pytest.mark.parametrize("body, spec, message", [
    (None, "missing.py:X", "missing.py: no such file"),
    (GOOD, "mine.py:Nope", "has no class 'Nope'; policy classes in it: Pause"),
    ("import math\n", "mine.py:Nope", "it defines no PolicyBase subclass"),
    ("class X:\n    def decide(self, obs):\n        return []\n", "mine.py:X",
     "not a subclass of greenhop.policies.PolicyBase"),
    ("X = 3\n", "mine.py:X", "mine.py:X is int, not a subclass"),
    ("from greenhop.policies import PolicyBase\n", "mine.py:PolicyBase",
     "mine.py:PolicyBase is PolicyBase itself, not a subclass"),
    ("x = 1\ndef broken(:\n    pass\n", "mine.py:X", "mine.py:2: syntax error"),
    ("import math\nimport no_such_module_here\n", "mine.py:X",
     "mine.py:2: ModuleNotFoundError while loading it"),
    ("import sys\nsys.exit(0)\n", "mine.py:X", "mine.py:2: SystemExit while loading it"),
    ("from greenhop.policies import PolicyBase\n\nclass X(PolicyBase):\n    name = 'x'\n",
     "mine.py:X", "does not implement decide(observation)"),
    ("from greenhop.policies import PolicyBase\n\nclass X(PolicyBase):\n"
     "    def decide(self, obs):\n        return []\n", "mine.py:X", "has no policy name"),
    (GOOD.replace('"pause-all"', '"static"'), "mine.py:Pause",
     "policy name 'static' is a built-in policy"),
    (GOOD.replace('"pause-all"', '"../up"'), "mine.py:Pause", "invalid policy name '../up'"),
    (GOOD.replace("Capabilities(suspends=True)", "{'suspends': True}"), "mine.py:Pause",
     "capabilities must be a greenhop.policies.Capabilities"),
    (GOOD, "mine.py", "write FILE.py:CLASS"),
    (GOOD, "mine.py:1x", "write FILE.py:CLASS"),
])
def test_bad_files_are_one_line_errors_naming_file_and_line(tmp_path, loaded, body, spec,
                                                            message):
    if body is not None:
        write(tmp_path, body)
    before = POLICIES.names()
    with pytest.raises(ConfigError) as exc:
        load_policy_file(parse_policy_file(spec, base_dir=tmp_path), f"--policy-file {spec}")
    text = str(exc.value)
    assert message in text and "\n" not in text and text.startswith("--policy-file")
    assert POLICIES.names() == before  # nothing half-registered


def test_a_failed_load_leaves_no_module_or_policy_behind(tmp_path, loaded):
    write(tmp_path, GOOD + "\nraise RuntimeError('boom')\n")
    before = set(sys.modules)
    with pytest.raises(ConfigError, match=r"mine.py:\d+: RuntimeError while loading it: boom"):
        load_policy_file(parse_policy_file(f"{tmp_path / 'mine.py'}:Pause"))
    assert "pause-all" not in POLICIES
    assert not [m for m in set(sys.modules) - before if m.startswith("greenhop_policy_file")]


def test_two_files_may_not_take_the_same_name(tmp_path, loaded):
    load_policy_file(parse_policy_file(f"{write(tmp_path, GOOD)}:Pause"))
    other = write(tmp_path, GOOD, "other.py")
    with pytest.raises(ConfigError, match=r"'pause-all' is already taken by .*mine\.py:Pause"):
        load_policy_file(parse_policy_file(f"{other}:Pause"))


def test_a_pinned_digest_refuses_a_changed_file(tmp_path, loaded):
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError, match="is not the file its sha256 pins"):
        load_policy_file(parse_policy_file(f"{path}:Pause"), sha256="0" * 64)
    assert load_policy_file(parse_policy_file(f"{path}:Pause"),
                            sha256=plugins.file_sha256(path)) == "pause-all"
    plugins.forget("pause-all")
    # the digest as some tools print it, in upper case, is the same digest
    assert load_policy_file(parse_policy_file(f"{path}:Pause"),
                            sha256=plugins.file_sha256(path).upper()) == "pause-all"


@given(name=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
       stem=st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True),
       cls=st.from_regex(r"[A-Z][A-Za-z0-9_]{0,12}", fullmatch=True),
       named=st.booleans())
def test_property_policy_file_specs_round_trip(name, stem, cls, named):
    base = Path("/srv/policies")
    text = f"{name}={stem}.py:{cls}" if named else f"sub/{stem}.py:{cls}"
    ref = parse_policy_file(text, base_dir=base)
    assert ref.class_name == cls and ref.name == (name if named else None)
    assert ref.path == (base / (f"{stem}.py" if named else f"sub/{stem}.py")).resolve()


# ---------------------------------------------------------------- by entry point


def _entry_point(tmp_path: Path, value: str, name: str = "my-ep",
                 module_text: str = GOOD) -> Path:
    """A package ``epdemo`` and its dist-info declaring ``name = value``, in ``site/``."""
    site = tmp_path / "site"
    (site / "epdemo").mkdir(parents=True)
    (site / "epdemo" / "__init__.py").write_text(textwrap.dedent(module_text))
    info = site / "epdemo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: epdemo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[greenhop.policies]\n{name} = {value}\n")
    return site


def test_an_entry_point_registers_its_class_under_the_entry_point_name(tmp_path, monkeypatch):
    site = _entry_point(tmp_path, "epdemo:Pause")
    monkeypatch.syspath_prepend(str(site))
    registry: Registry = Registry("policy")
    assert load_entry_points(registry) == ["my-ep"]
    assert registry.get("my-ep").__name__ == "Pause"
    assert registry.create("my-ep").name == "my-ep"
    assert "epdemo 1.0" in plugin_origin("my-ep", registry)
    assert load_entry_points(registry) == ["my-ep"]  # again: nothing changes


def test_entry_point_errors_name_the_entry_point_and_package():
    registry: Registry = Registry("policy")
    registry.register("static")(lambda: None)
    broken = EntryPoint("bad", "no_such_pkg_anywhere:Rule", plugins.ENTRY_POINT_GROUP)
    with pytest.raises(ConfigError, match=r"installed policy 'bad' \(entry point "
                                          r"'no_such_pkg_anywhere:Rule'\): cannot be imported"):
        load_entry_points(registry, [broken])
    clash = EntryPoint("static", "greenhop.policies.static:StaticPolicy",
                       plugins.ENTRY_POINT_GROUP)
    with pytest.raises(ConfigError, match="'static' is a built-in policy"):
        load_entry_points(registry, [clash])
    not_policy = EntryPoint("odd", "os.path:join", plugins.ENTRY_POINT_GROUP)
    with pytest.raises(ConfigError, match=r"not a subclass of greenhop\.policies\.PolicyBase"):
        load_entry_points(registry, [not_policy])


def test_the_registry_discovers_installed_policies_at_its_first_lookup(tmp_path):
    """A real process with the package on its path: `greenhop policies`' registry has it."""
    site = _entry_point(tmp_path, "epdemo:Pause", name="installed-pause")
    code = ("from greenhop.policies import POLICIES, make_policy; "
            "print('installed-pause' in POLICIES, make_policy('installed-pause').name)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT / "src")])}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "installed-pause"]


def test_a_broken_installed_policy_fails_only_the_commands_that_ask_for_it(tmp_path):
    """An installed package whose policy did not import stopped every command, `greenhop
    simulate -p static` included: now the others run, `greenhop policies` says it is not
    listed and why, and asking for it gives that reason (exit 2)."""
    site = _entry_point(tmp_path, "epdemo:Pause", name="broken-ep",
                        module_text="raise ImportError('needs libfoo')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT / "src")])}

    def greenhop(*args):
        return subprocess.run([sys.executable, "-m", "greenhop", *args], capture_output=True,
                              text=True, env=env, timeout=300, cwd=tmp_path)

    r = greenhop("policies")
    assert r.returncode == 0 and "static" in r.stdout and "broken-ep" not in r.stdout
    assert ("warning: not listed: installed policy 'broken-ep' (entry point 'epdemo:Pause' "
            "of epdemo 1.0): cannot be imported: ImportError: needs libfoo") \
        in " ".join(r.stderr.split())
    r = greenhop("feasibility", "--checkpoint", "10GB", "--bandwidth", "1Gbps",
                 "--window", "2h", "--json")
    assert r.returncode == 0, r.stderr
    r = greenhop("simulate", "default", "-p", "broken-ep", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "cannot be imported: ImportError: needs libfoo" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_failed_discovery_is_reported_on_every_lookup():
    calls = []

    def discover(reg):
        calls.append(1)
        raise ConfigError("installed policy 'x': cannot be imported")

    registry: Registry = Registry("policy", discover=discover)
    for _ in range(2):
        with pytest.raises(ConfigError, match="cannot be imported"):
            registry.names()
    assert len(calls) == 2


# ---------------------------------------------------------------- by scenario table


def _table_scenario(tmp_path: Path, entry: dict, **extra) -> dict:
    return simkit.micro(policies={"static": {}, "mine": entry}, **extra)


def test_a_scenario_table_loads_a_file_relative_to_the_scenario(tmp_path, loaded):
    write(tmp_path, GOOD)
    doc = _table_scenario(tmp_path, {"file": "mine.py", "class": "Pause", "after_s": 60.0})
    sc = parse_scenario(doc, "s.toml", tmp_path)
    assert sc.policies == ("static", "mine")
    assert sc.policy_params == {"mine": {"after_s": 60.0}}
    assert make_policy("mine", **sc.policy_params["mine"]).after_s == 60.0


def test_a_scenario_file_table_runs_like_a_list(tmp_path, loaded):
    write(tmp_path, GOOD)
    (tmp_path / "s.toml").write_text(textwrap.dedent('''
        name = "t"
        horizon = "1h"
        step = "15min"
        history = "0s"
        jobs = []
        [[sites]]
        name = "a"
        latitude = 0.0
        longitude = 0.0
        gpu_slots = 1
        trace = { kind = "constant", power = "1kW" }
        [policies.threshold]
        [policies.mine]
        file = "mine.py"
        class = "Pause"
        '''))
    assert load_scenario(tmp_path / "s.toml").policies == ("threshold", "mine")


@pytest.mark.parametrize("entry, message", [
    ({"file": "mine.py", "class": "Pause", "bogus": 1},
     "policies.mine.bogus: unknown parameter of policy 'mine'; its parameters: after_s"),
    ({"file": "mine.py"}, "policies.mine.class: expected the name of the policy class"),
    ({"class": "Pause"}, "policies.mine.file: expected the path of a .py file"),
    ({"file": "gone.py", "class": "Pause"}, "policies.mine: "),
    ({"file": "mine.py", "class": "Gone"}, "has no class 'Gone'"),
    ({"file": "mine.py", "class": "Pause", "sha256": "ab"},
     "policies.mine.sha256: expected the file's SHA-256 as 64 hex digits, got 'ab'"),
    ({"file": "mine.py", "class": "Pause", "sha256": "0" * 64}, "is not the file its sha256 pins"),
    ({"sha256": "ab"}, "policies.mine.sha256: pins a file"),
    ({}, "policies.mine: unknown policy 'mine'; bring your own with `file` and `class`"),
])
def test_bad_scenario_tables_name_the_key(tmp_path, loaded, entry, message):
    write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as exc:
        parse_scenario(_table_scenario(tmp_path, entry), "s.toml", tmp_path)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_table_may_not_take_a_built_in_name_or_repeat_a_parameter(tmp_path, loaded):
    write(tmp_path, GOOD)
    doc = simkit.micro(policies={"static": {"file": "mine.py", "class": "Pause"}})
    with pytest.raises(ConfigError, match=r"policies.static: policy name 'static' is a built-in"):
        parse_scenario(doc, "s.toml", tmp_path)
    doc = _table_scenario(tmp_path, {"file": "mine.py", "class": "Pause", "after_s": 1.0},
                          policy_params={"mine": {"after_s": 2.0}})
    with pytest.raises(ConfigError, match=r"policy_params.mine.after_s: also set in "
                                          r"\[policies.mine\]"):
        parse_scenario(doc, "s.toml", tmp_path)


def test_a_built_in_table_holds_its_parameters(tmp_path):
    doc = simkit.micro(policies={"threshold": {"deadline_margin": 2.0}, "static": {}})
    sc = parse_scenario(doc, "s.toml", tmp_path)
    assert sc.policies == ("threshold", "static")
    assert sc.policy_params == {"threshold": {"deadline_margin": 2.0}}


# ---------------------------------------------------------------- the example policy


def _example(loaded_names: list[str]) -> type:
    name = load_policy_file(parse_policy_file(f"{EXAMPLE}:SurplusChaser"))
    loaded_names.append(name)
    return POLICIES.get(name)


def _decisions(doc: dict, cls) -> tuple[list[tuple[int, object]], object]:
    """Run the example on ``doc``, recording each step's actions."""
    seen: list[tuple[int, object]] = []

    class Recording(cls):
        def decide(self, obs):
            out = super().decide(obs)
            seen.extend((obs.step, a) for a in out)
            return out

    res = Engine(build_inputs(load_scenario(doc)), Recording()).run()
    return seen, res


def test_the_example_suspends_without_surplus_and_resumes_when_it_returns(loaded):
    cls = _example([])
    # one site: surplus for 30 min, none for an hour, then surplus again (5-min steps)
    values = [2_000.0] * 6 + [1_000.0] * 12 + [2_000.0] * 30
    site = simkit.site("a", power=None, trace={"kind": "values", "values": values})
    doc = simkit.micro(horizon="4h", sites=[site], links=[])
    seen, res = _decisions(doc, cls)
    kinds = [(step, type(a).__name__) for step, a in seen]
    assert kinds == [(6, "Suspend"), (18, "Resume")]
    assert res.job_finish_s[0] > 3600.0 + 3600.0  # an hour of work and an hour of waiting


def test_the_example_moves_only_when_the_move_fits_the_window_and_waits_near_no_deadline(
        loaded):
    cls = _example([])
    # a loses its surplus at step 2; b has had surplus for the whole past hour (so its
    # window, estimated from the past alone, is at least that long)
    a = simkit.site("a", power=None,
                    trace={"kind": "values", "values": [2_000.0] * 14 + [1_000.0] * 22})
    b = simkit.site("b", power="2kW")
    link = {"a": "a", "b": "b", "bandwidth": "8Gbps", "efficiency": 0.5, "rtt": "10ms"}
    small = simkit.micro(sites=[a, b], links=[link], history="1h")
    seen, _ = _decisions(small, cls)
    assert [(step, x) for step, x in seen] == [(2, Migrate(0, 1))]
    # a checkpoint too large for 10% of b's window: no move; it waits instead ...
    big = simkit.micro(sites=[a, b], links=[link], history="1h")
    big["jobs"][0]["checkpoint"] = "2TB"
    seen, res = _decisions(big, cls)
    assert [(step, x) for step, x in seen] == [(2, Suspend(0))]  # no deadline: it waits
    assert np.isnan(res.job_finish_s[0])
    # ... while its deadline allows: then it resumes in time to meet it
    big["jobs"][0]["deadline"] = "100min"
    seen, res = _decisions(big, cls)
    assert not any(isinstance(x, Migrate) for _, x in seen)
    assert [type(x).__name__ for _, x in seen] in (["Suspend", "Resume"], [])
    assert res.job_finish_s[0] <= 6000.0
    # a deadline with no room to wait: it runs straight through
    big["jobs"][0]["deadline"] = "65min"
    seen, res = _decisions(big, cls)
    assert seen == []
    assert res.job_finish_s[0] == pytest.approx(3600.0)  # one hour of work, no pause


def test_the_example_gets_window_forecasts_only_when_its_option_asks(loaded):
    name = load_policy_file(parse_policy_file(f"{EXAMPLE}:SurplusChaser"))
    sun = simkit.site("a", power=None, trace={"kind": "solar", "peak": "4kW"})
    doc = simkit.micro(sites=[sun], links=[], step="30min", history="2d", horizon="1d",
                       policies=[name],
                       forecast={"model": "seasonal-naive", "issue_every": "30min",
                                 "horizon": "12h", "calibration_window": "1d"})
    assert simulate(doc).window_forecasts is None
    doc["policy_params"] = {name: {"forecasts": True}}
    with_fc = simulate(doc)
    assert with_fc.window_forecasts is not None
    assert with_fc.metrics_by_policy[name]["work_done_gpu_h"] > 0


def test_the_smallest_policy_of_the_docs_runs_as_written(tmp_path, loaded):
    docs = (ROOT / "docs" / "policies.md").read_text(encoding="utf-8")
    code = re.search(r"## The smallest policy\n\n```python\n(.*?)```", docs, re.S).group(1)
    path = write(tmp_path, code, "pause.py")
    name = load_policy_file(parse_policy_file(f"{path}:PauseWhenGrey"))
    values = [2_000.0] * 6 + [1_000.0] * 18  # surplus for 30 min, then none
    site = simkit.site("a", power=None, trace={"kind": "values", "values": values})
    seen, res = _decisions(simkit.micro(sites=[site], links=[]), POLICIES.get(name))
    assert [(step, x) for step, x in seen] == [(6, Suspend(0))]
    assert np.isnan(res.job_finish_s[0])


def test_an_installed_policy_that_exits_when_imported_is_a_one_line_error(tmp_path,
                                                                           monkeypatch):
    """A package whose import calls exit() would end greenhop silently (exit 0): it is the
    same one-line error as any other failing import."""
    (tmp_path / "exits_at_import.py").write_text("raise SystemExit(0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry = Registry("policy")
    ep = EntryPoint("quits", "exits_at_import:Rule", plugins.ENTRY_POINT_GROUP)
    with pytest.raises(ConfigError, match=r"'quits'.*cannot be imported: SystemExit"):
        load_entry_points(registry, [ep])


def test_a_live_run_records_the_file_of_a_file_policy_to_tell_a_changed_one(tmp_path,
                                                                           loaded):
    """`greenhop run` keeps the policy file's digest in the run, so a resume can say the
    file changed (a built-in records none)."""
    from greenhop.cli.run import _policy_source
    from greenhop.policies.plugins import file_sha256

    path = write(tmp_path, GOOD)
    name = load_policy_file(parse_policy_file(f"{path}:Pause"))
    source = _policy_source(name, make_policy(name))
    assert source == {"file": str(path.resolve()), "sha256": file_sha256(path)}
    assert _policy_source("static", make_policy("static")) is None
