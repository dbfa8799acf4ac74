"""``--policy-file``: the example policy (examples/my_policy.py) through ``greenhop simulate``
and ``greenhop sweep`` (serial and on Ray workers, which load the file themselves), the same
numbers from a scenario's ``[policies.NAME]`` table, and one-line errors with exit code 2
(also from ``greenhop run``, before anything starts)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import clikit
import pytest

from greenhop.policies import POLICIES
from greenhop.policies.plugins import forget

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "my_policy.py"
SPEC = f"{EXAMPLE}:SurplusChaser"
LIVE = ROOT / "src" / "greenhop" / "data" / "scenarios" / "live-3site.toml"

# two sites: a sunny one and a steady one with less surplus; jobs that do not all fit
SCENARIO = clikit.two_site_scenario("cli-plugin", b_longitude=90.0,
                                     b_trace='{ kind = "solar", peak = "3kW" }')


@pytest.fixture(autouse=True)
def forget_loaded():
    """The in-process runs register the example; forget it after each test."""
    before = set(POLICIES.names())
    yield
    for name in set(POLICIES.names()) - before:
        forget(name)


@pytest.fixture
def scenario(tmp_path, isolated_cache):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def _simulate_json(capsys, *args: str) -> dict:
    code, out, err = clikit.run(capsys, "simulate", *args, "--json", "--no-report")
    assert code == 0, err
    return json.loads(out)


def test_simulate_compares_the_file_policy_with_the_scenarios(capsys, scenario, tmp_path):
    doc = _simulate_json(capsys, str(scenario), "--policy-file", SPEC, "--out",
                         str(tmp_path / "o1"))
    assert set(doc["policies"]) == {"static", "energy-greedy", "surplus-chaser"}
    mine = doc["policies"]["surplus-chaser"]
    assert mine["saved_vs_static_pct"] is not None and mine["migrations"] >= 0
    # --policies chooses the others; the file's policy is always compared
    doc = _simulate_json(capsys, str(scenario), "--policies", "static", "--policy-file",
                         f"chaser={SPEC}", "--out", str(tmp_path / "o2"))
    assert set(doc["policies"]) == {"static", "chaser"}
    assert doc["policies"]["chaser"] == mine


def test_a_scenario_table_gives_the_same_numbers_as_the_option(capsys, scenario, tmp_path):
    doc = _simulate_json(capsys, str(scenario), "--policy-file", SPEC, "--out",
                         str(tmp_path / "o1"))
    forget("surplus-chaser")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "chase.py").write_text(EXAMPLE.read_text())
    table = scenario.read_text().replace(
        'policies = ["static", "energy-greedy"]', "") + (
        '\n[policies.static]\n[policies.chase]\nfile = "rules/chase.py"\n'
        'class = "SurplusChaser"\nslack = 1.5\n')
    (tmp_path / "t.toml").write_text(table)
    other = _simulate_json(capsys, str(tmp_path / "t.toml"), "--out", str(tmp_path / "o2"))
    assert set(other["policies"]) == {"static", "chase"}
    assert other["policies"]["chase"] == doc["policies"]["surplus-chaser"]


def test_a_real_process_runs_the_example(scenario, tmp_path):
    r = subprocess.run([sys.executable, "-m", "greenhop", "simulate", str(scenario),
                        "--policies", "static", "--policy-file", SPEC, "--no-report",
                        "--out", str(tmp_path / "o")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "surplus-chaser" in r.stdout
    doc = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert set(doc["policies"]) == {"static", "surplus-chaser"}


def test_sweep_runs_the_file_policy_and_its_cells_equal_simulate(capsys, scenario, tmp_path):
    out = tmp_path / "sw"
    code, stdout, err = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1-2",
                                   "--serial", "--policies", "static", "--policy-file", SPEC,
                                   "--out", str(out))
    assert code == 0, err
    assert "surplus-chaser − static" in stdout and "4 cells (4 run now" in stdout
    cell = (out / "cells" / "p000-s00002-surplus-chaser.json").read_text()
    sim = _simulate_json(capsys, str(scenario), "--seed", "2", "--policies", "surplus-chaser",
                         "--policy-file", SPEC, "--out", str(tmp_path / "o"))
    assert json.loads(cell) == sim
    # the same command again resumes; a changed file is another sweep
    code, stdout, _ = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1-2", "--serial",
                                 "--policies", "static", "--policy-file", SPEC,
                                 "--out", str(out))
    assert code == 0 and "(0 run now, 4 already there)" in stdout
    changed = tmp_path / "changed.py"
    changed.write_text(EXAMPLE.read_text() + "\n# tuned\n")
    forget("surplus-chaser")
    code, _, err = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1-2", "--serial",
                              "--policies", "static", "--policy-file",
                              f"{changed}:SurplusChaser", "--out", str(out))
    assert code == 2 and "holds a different sweep" in err


def test_ray_workers_load_the_file_and_give_the_serial_cells(capsys, scenario, tmp_path):
    args = ["sweep", str(scenario), "--seeds", "1", "--policies", "static", "--policy-file",
            SPEC]
    code, _, err = clikit.run(capsys, *args, "--serial", "--out", str(tmp_path / "serial"))
    assert code == 0, err
    # the record of which file, at which content, the sweep's policy came from
    import hashlib

    manifest = json.loads((tmp_path / "serial" / "manifest.json").read_text())
    assert manifest["definition"]["policy_files"] == {"surplus-chaser": {
        "file": str(EXAMPLE.resolve()), "class": "SurplusChaser",
        "sha256": hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()}}
    code, _, err = clikit.run(capsys, *args, "--workers", "1", "--out", str(tmp_path / "ray"))
    assert code == 0, err
    for name in ("p000-s00001-static.json", "p000-s00001-surplus-chaser.json"):
        assert ((tmp_path / "ray" / "cells" / name).read_text()
                == (tmp_path / "serial" / "cells" / name).read_text())
    meta = json.loads((tmp_path / "ray" / "meta" / "p000-s00001-surplus-chaser.json")
                      .read_text())
    assert meta["node_id"]  # it ran in a Ray worker, which loaded the file itself


@pytest.mark.parametrize("command", ["simulate", "sweep"])
@pytest.mark.parametrize("spec, message", [
    ("missing.py:X", "missing.py: no such file"),
    ("{bad}:X", "bad.py:3: syntax error"),
    (f"{EXAMPLE}:Nope", "has no class 'Nope'; policy classes in it: SurplusChaser"),
    (f"static={EXAMPLE}:SurplusChaser", "policy name 'static' is a built-in policy"),
    (str(EXAMPLE), "write FILE.py:CLASS"),
])
def test_bad_policy_files_exit_2_with_one_line(capsys, scenario, tmp_path, command, spec,
                                                message):
    bad = tmp_path / "bad.py"
    bad.write_text("from greenhop.policies import PolicyBase\n\nclass X(PolicyBase:\n")
    out = tmp_path / "out"
    extra = ["--seeds", "1", "--serial"] if command == "sweep" else []
    code, _, err = clikit.run(capsys, command, str(scenario), *extra, "--out", str(out),
                              "--policy-file", spec.format(bad=tmp_path / "bad.py"))
    assert code == 2
    assert message in err and f"--policy-file {spec.format(bad=bad)}" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_a_bad_parameter_in_the_scenario_table_names_the_key(capsys, tmp_path):
    (tmp_path / "chase.py").write_text(EXAMPLE.read_text())
    text = SCENARIO.replace('policies = ["static", "energy-greedy"]', "") + (
        '\n[policies.chase]\nfile = "chase.py"\nclass = "SurplusChaser"\nslak = 2\n')
    (tmp_path / "t.toml").write_text(text)
    code, _, err = clikit.run(capsys, "simulate", str(tmp_path / "t.toml"), "--out",
                              str(tmp_path / "out"))
    assert code == 2
    assert ("policies.chase.slak: unknown parameter of policy 'chase'; its parameters: "
            "alpha, forecasts, q, slack") in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("key", "value", "expect"), [
    ("alpha", '"abc"', "policies.chase: alpha must be a finite number, got 'abc'"),
    ("forecasts", '"no"', "policies.chase: forecasts must be true or false, got 'no'"),
    ("slack", "0.5", "policies.chase: slack must be >= 1, got 0.5")])
def test_the_examples_parameters_are_checked_as_a_users_would_be(capsys, tmp_path, key,
                                                                value, expect):
    """The example is what users copy: its parameters were float() and bool() of anything
    (alpha = "abc" failed in the run with exit 1; forecasts = "no" turned forecasts on)."""
    (tmp_path / "chase.py").write_text(EXAMPLE.read_text())
    text = SCENARIO.replace('policies = ["static", "energy-greedy"]', "") + (
        f'\n[policies.chase]\nfile = "chase.py"\nclass = "SurplusChaser"\n{key} = {value}\n')
    (tmp_path / "t.toml").write_text(text)
    code, _, err = clikit.run(capsys, "simulate", str(tmp_path / "t.toml"), "--out",
                              str(tmp_path / "out"))
    assert code == 2, err
    assert expect in err and len(err.strip().splitlines()) == 1, err


def _raising_policy(tmp_path):
    """A policy file whose ``decide`` raises ValueError('boom') from step 3 (line 10)."""
    mine = tmp_path / "raising.py"
    mine.write_text(
        "from greenhop.policies import Capabilities, PolicyBase\n\n\n"
        "class Raises(PolicyBase):\n"
        "    name = 'raises'\n"
        "    capabilities = Capabilities(migrates=True)\n\n"
        "    def decide(self, obs):\n"
        "        if obs.step >= 3:\n"
        "            raise ValueError('boom')\n"
        "        return []\n")
    return mine


def test_a_policy_that_raises_is_one_line_naming_it_the_step_and_the_line(capsys, scenario,
                                                                          tmp_path):
    mine = _raising_policy(tmp_path)
    out = tmp_path / "out"
    code, _, err = clikit.run(capsys, "simulate", str(scenario), "-p", "static", "--out",
                              str(out), "--policy-file", f"{mine}:Raises")
    assert code == 1
    line = " ".join(err.split())
    assert re.search(r"policy 'raises' failed at step \d+ \(\d+ s\): ValueError: boom", line)
    assert f"{mine}:10 in decide" in line
    assert "Traceback" not in err


def test_a_policy_that_raises_in_a_sweep_names_the_seed_and_keeps_the_cells_done(
        capsys, scenario, tmp_path):
    """The sweep stopped with the policy's message alone: which of the seeds to run again
    with `simulate` to see it was not said."""
    mine = _raising_policy(tmp_path)
    out = tmp_path / "sw"
    code, _, err = clikit.run(capsys, "sweep", str(scenario), "--seeds", "2", "--serial",
                              "-p", "static,raises", "--policy-file", f"{mine}:Raises",
                              "--out", str(out))
    assert code == 1
    line = " ".join(err.split())
    assert re.search(r"seed 2: policy 'raises' failed at step \d+", line), line
    assert (out / "cells" / "p000-s00002-static.json").is_file()


def test_a_bad_policy_file_stops_a_live_run_before_anything_starts(tmp_path):
    work = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "greenhop", "run", str(LIVE), "--policy-file",
                        f"{tmp_path / 'nope.py'}:X", "--workdir", str(work)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert f"--policy-file {tmp_path / 'nope.py'}:X: {tmp_path / 'nope.py'}: no such file" \
        in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not work.exists()


def test_a_policy_named_bounds_is_refused_by_sweep(capsys, scenario, tmp_path):
    """Its cells were written over the sweep's bounds cells (same file name): the bound read
    as unsolved and every resume ran it again."""
    out = tmp_path / "out"
    code, _, err = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1", "--serial",
                              "--policy-file", f"bounds={EXAMPLE}:SurplusChaser",
                              "--policies", "static,bounds", "--out", str(out))
    assert code == 2 and "'bounds' names the sweep's bounds cells" in err
    assert not (out / "cells").exists()
