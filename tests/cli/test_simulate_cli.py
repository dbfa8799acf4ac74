"""``greenhop simulate``: files, --json shape, options, errors, and the default scenario."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest

import greenhop
from greenhop.sim.metrics import METRIC_KEYS as REQUIRED

SCENARIO = """
name = "cli-small"
start = "2023-06-01T00:00:00Z"
horizon = "1d"
step = "5min"
history = "1d"
seed = 3
policies = ["static", "energy-greedy", "feasibility-aware", "threshold"]

[[sites]]
name = "sunny"
latitude = 10.0
longitude = 0.0
gpu_slots = 8
base_load = "1kW"
trace = { kind = "solar", peak = "12kW" }

[[sites]]
name = "windy"
latitude = 50.0
longitude = 100.0
gpu_slots = 8
base_load = "1kW"
trace = { kind = "constant", power = "5kW" }

[[links]]
a = "sunny"
b = "windy"
bandwidth = "10Gbps"
rtt = "40ms"

[generator]
count = 5
until = "18h"
work_gpu_h = [2, 12]
gpus = [1, 2]

[[generator.models]]
name = "bert-large"
params = 340e6
"""


def run_cli(*args: str, timeout: int = 240, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "greenhop", "simulate", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


@pytest.fixture()
def scenario(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    tomllib.loads(SCENARIO)
    return path


def test_simulate_writes_metrics_and_report_and_prints_a_table(scenario, tmp_path):
    out = tmp_path / "out"
    r = run_cli(str(scenario), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "feasibility-aware" in r.stdout and "grid kWh" in r.stdout
    doc = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert set(doc["policies"]) == {"static", "energy-greedy", "feasibility-aware", "threshold"}
    for name, m in doc["policies"].items():
        missing = [k for k in REQUIRED if k not in m]
        assert not missing, (name, missing)
    assert doc["policies"]["static"]["saved_vs_static_pct"] == 0.0
    assert (out / "report.html").stat().st_size > 10_000


def test_json_policies_and_seed(scenario, tmp_path):
    # an earlier run's report in --out is removed: it would contradict the new metrics
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "report.html").write_text("an earlier run's report", encoding="utf-8")
    r = run_cli(str(scenario), "--out", str(tmp_path / "o"), "--json",
                "--policies", "static,threshold", "--seed", "11", "--no-report")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert list(doc["policies"]) == ["static", "threshold"]
    assert doc["scenario"]["seed"] == 11
    assert not (tmp_path / "o" / "report.html").exists()
    again = run_cli(str(scenario), "--out", str(tmp_path / "o2"), "--json",
                    "--policies", "static,threshold", "--seed", "11", "--no-report")
    assert again.stdout == r.stdout
    assert (tmp_path / "o" / "metrics.json").read_bytes() == \
        (tmp_path / "o2" / "metrics.json").read_bytes()


def test_json_without_out_writes_nothing(scenario, tmp_path):
    # metrics on stdout alone: an out/ folder already there (from another run) is left
    # untouched, and none is made
    kept = tmp_path / "out"
    kept.mkdir()
    (kept / "metrics.json").write_text("earlier run", encoding="utf-8")
    r = run_cli(str(scenario), "--json", "--policies", "static", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert list(json.loads(r.stdout)["policies"]) == ["static"]
    assert (kept / "metrics.json").read_text(encoding="utf-8") == "earlier run"
    assert sorted(p.name for p in kept.iterdir()) == ["metrics.json"]
    # and in a folder with no out/, none is made
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli(str(scenario), "--json", "--policies", "static", cwd=empty)
    assert r.returncode == 0, r.stderr
    assert list(json.loads(r.stdout)["policies"]) == ["static"]
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize(("args", "message"), [
    (["--policies", "static,optimal"], "unknown policy 'optimal'"),
    (["--policies", ","], "--policies is empty; give at least one of the policy names"),
    (["--policies", "static,,threshold"], "--policies 'static,,threshold': an empty entry"),
    (["--policies", "static,"], "--policies 'static,': an empty entry"),
    (["--policies", "static,threshold,static"],
     "--policies: 'static' is listed twice (also at [0])"),
    (["--seed", "-1"], "--seed: must be a whole number from 0 to"),
])
def test_bad_options_exit_2_without_traceback(scenario, tmp_path, args, message):
    r = run_cli(str(scenario), "--out", str(tmp_path / "o"), *args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr


def test_bad_scenario_file_exits_2_with_the_path(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(SCENARIO.replace('bandwidth = "10Gbps"', 'bandwidth = "0Gbps"'),
                   encoding="utf-8")
    r = run_cli(str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "links[0].bandwidth" in r.stderr and "Traceback" not in r.stderr
    missing = run_cli(str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_python_api_is_lazy_and_returns_a_dataframe(scenario):
    result = greenhop.simulate(scenario, policies=["static", "feasibility-aware"])
    df = result.metrics
    assert list(df.index) == ["static", "feasibility-aware"]
    assert set(REQUIRED) <= set(df.columns)


def test_default_scenario_prints_the_job_attributable_table_and_bounds(tmp_path):
    """`greenhop simulate` with no argument: the headline is what the jobs cause, every
    policy has the job-attributable keys, and the bounds block is there and solved.
    (Claims about which policy is better are statistics over seeds: tests/sim/
    test_policy_claims.py.)"""
    out = tmp_path / "default"
    r = run_cli("--out", str(out), timeout=600)
    assert r.returncode == 0, r.stderr
    assert "job grid kWh" in r.stdout and "base load only" in r.stdout
    doc = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    m = doc["policies"]
    for policy in m.values():
        assert set(REQUIRED) <= set(policy)
        # the base load is the same for every policy: the difference is what the jobs cause
        assert policy["non_renewable_kwh"] - policy["job_nr_kwh"] == pytest.approx(
            policy["base_only_nr_kwh"], abs=1e-3)
    assert m["static"]["saved_vs_static_pct"] == 0.0
    for kind in ("space", "spacetime"):
        b = doc["bounds"][kind]
        assert b["status"] == "Optimal" and b["solve_s"] > 0
        assert b["job_nr_kwh"] <= m["static"]["job_nr_kwh"]
        assert f"bound {kind}" in r.stdout
    assert (out / "report.html").exists()


def test_small_job_grid_energies_keep_three_figures():
    """A run of 1.44 kWh beside one of 0.132 kWh read "1" and "0" (whole kWh)."""
    from greenhop.cli.simulate import _KWH, _cell

    assert [_cell(_KWH, v) for v in (1.44, 0.132, 0.0, 99.94, 1557.2, None)] == [
        "1.44", "0.132", "0", "99.9", "1,557", "–"]


def test_results_of_another_scenario_in_out_are_said_to_be_replaced(tmp_path, capsys):
    """Following the README in order, a second scenario's run replaced the main job's
    out/ without a word."""
    import json

    from greenhop.cli.main import main

    out = tmp_path / "out"
    (out).mkdir()
    (out / "metrics.json").write_text(json.dumps({"scenario": {"name": "default"}}))
    with pytest.raises(SystemExit) as info:
        main(["simulate", "live-3site", "-p", "static", "--out", str(out), "--no-report"])
    err = capsys.readouterr().err
    assert not info.value.code
    assert (f"note: {out} held the results of scenario 'default'; they are replaced by "
            "'live-3site''s") in " ".join(err.split())
    with pytest.raises(SystemExit):  # the same scenario again: nothing to say
        main(["simulate", "live-3site", "-p", "static", "--out", str(out), "--no-report"])
    assert "held the results" not in capsys.readouterr().err
