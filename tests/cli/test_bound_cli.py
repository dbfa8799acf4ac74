"""``greenhop bound``: table, --json keys, options, and exit codes."""

from __future__ import annotations

import itertools
import json

import clikit
import pytest

SCENARIO = """
name = "bound-small"
start = "2023-06-01T00:00:00Z"
horizon = "1d"
step = "5min"
history = "0s"
seed = 3
policies = ["static"]

[[sites]]
name = "sunny"
latitude = 10.0
longitude = 0.0
gpu_slots = 8
base_load = "1kW"
trace = { kind = "solar", peak = "6kW" }

[[sites]]
name = "windy"
latitude = 50.0
longitude = 100.0
gpu_slots = 8
base_load = "1kW"
trace = { kind = "constant", power = "1.5kW" }

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
deadline_factor = 2.0

[[generator.models]]
name = "bert-large"
params = 340e6
"""


@pytest.fixture()
def scenario(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return str(path)


def test_table(capsys, scenario, isolated_cache):
    code, out, _err = clikit.run(capsys, "bound", scenario, "--kind", "space")
    assert code == 0
    for word in ("kind", "job grid kWh", "work GPU-h", "solve s", "status", "space",
                 "Optimal", "columns"):
        assert word in out


def test_json_keys_and_values(capsys, scenario, isolated_cache):
    code, out, _err = clikit.run(capsys, "bound", scenario, "--json")
    assert code == 0
    doc = json.loads(out)
    assert {"job_nr_kwh", "work_gpu_h", "solve_s", "status"} <= set(doc)
    assert doc["kind"] == "spacetime" and doc["status"] == "Optimal"
    assert doc["deadlines"] is False and doc["seed"] == 3
    # a lower bound of static's own job grid energy, for a positive amount of work
    assert doc["job_nr_kwh"] <= doc["static_job_nr_kwh"] + 1e-6
    assert doc["work_gpu_h"] > 0


def test_deadlines_and_seed(capsys, scenario, isolated_cache):
    code, out, _ = clikit.run(capsys, "bound", scenario, "--json", "--deadlines",
                              "--seed", "5", "--kind", "space")
    assert code == 0
    doc = json.loads(out)
    assert doc["deadlines"] is True and doc["seed"] == 5 and doc["kind"] == "space"
    # the same seed again gives the same bound
    code, again, _ = clikit.run(capsys, "bound", scenario, "--json", "--deadlines",
                                "--seed", "5", "--kind", "space")
    assert json.loads(again)["job_nr_kwh"] == doc["job_nr_kwh"]


def test_the_scenarios_bounds_deadlines_is_the_default(capsys, tmp_path, isolated_cache):
    # simulate and sweep solve the bound a scenario's [bounds] table asks for: so does bound
    path = tmp_path / "dl.toml"
    path.write_text(SCENARIO.replace("[generator]", "[bounds]\ndeadlines = true\n\n[generator]"),
                    encoding="utf-8")
    docs = {}
    for flag in ((), ("--deadlines",), ("--no-deadlines",)):
        code, out, _ = clikit.run(capsys, "bound", str(path), "--json", "--kind", "space", *flag)
        assert code == 0
        docs[flag] = json.loads(out)
    assert docs[()]["deadlines"] is True and docs[("--no-deadlines",)]["deadlines"] is False
    assert docs[()]["job_nr_kwh"] == docs[("--deadlines",)]["job_nr_kwh"]


def test_a_cap_past_any_schedule_is_no_cap_without_a_warning(capsys, scenario,
                                                             isolated_cache):
    """1e308 x a job's ideal time overflowed and printed numpy's RuntimeWarning."""
    _, none, _ = clikit.run(capsys, "bound", scenario, "--json")
    code, huge, err = clikit.run(capsys, "bound", scenario, "--json", "--max-slowdown", "1e308")
    assert code == 0 and err == ""
    assert json.loads(huge)["job_nr_kwh"] == pytest.approx(json.loads(none)["job_nr_kwh"])


def test_block_sets_the_lps_time_blocks(capsys, scenario, isolated_cache):
    """The too-large-LP message advised longer blocks (block_s), which no option set."""
    kwh = {}
    for block, steps in (("15min", 3), ("1h", 12), ("1e300h", 288)):  # 5-min steps, 1 day
        code, out, err = clikit.run(capsys, "bound", scenario, "--json", "--block", block)
        assert code == 0, err
        doc = json.loads(out)
        assert doc["method"].startswith(f"blocks of {steps} steps"), doc["method"]
        kwh[block] = doc["job_nr_kwh"]
    # longer blocks relax the per-step constraints: never a higher bound
    assert kwh["15min"] + 1e-6 >= kwh["1h"] >= kwh["1e300h"] - 1e-6, kwh
    code, _, err = clikit.run(capsys, "bound", scenario, "--block", "0s")
    clikit.one_line_error(code, err, "--block")


def test_max_slowdown_raises_the_bound_and_is_reported(capsys, scenario, isolated_cache):
    docs = {}
    for cap in (None, "3", "1.5", "1.2"):
        args = () if cap is None else ("--max-slowdown", cap)
        code, out, _ = clikit.run(capsys, "bound", scenario, "--json", *args)
        assert code == 0
        docs[cap] = json.loads(out)
    assert docs[None]["max_slowdown"] is None and docs["1.2"]["max_slowdown"] == 1.2
    # the same work each time, in shorter windows: never less grid energy, and at a
    # slowdown of 1.2 more than without a cap
    kwh = [docs[c]["job_nr_kwh"] for c in (None, "3", "1.5", "1.2")]
    assert all(a <= b + 1e-6 for a, b in itertools.pairwise(kwh)), kwh
    assert kwh[-1] > kwh[0] + 1.0, kwh
    assert {d["work_gpu_h"] for d in docs.values()} == {docs[None]["work_gpu_h"]}
    code, out, _ = clikit.run(capsys, "bound", scenario, "--max-slowdown", "1.2")
    assert code == 0 and "slowdown <= 1.2" in out
    # held for the p90 only (one of the 5 jobs may wait longer): between the two
    code, out, _ = clikit.run(capsys, "bound", scenario, "--json", "--max-slowdown", "1.2",
                              "--slowdown-quantile", "0.9")
    p90 = json.loads(out)
    assert code == 0 and p90["slowdown_quantile"] == 0.9
    assert kwh[0] - 1e-6 <= p90["job_nr_kwh"] < kwh[-1], (p90["job_nr_kwh"], kwh)
    # the job that passes chosen whole (a MILP): at least the shares' bound, at most every
    # job kept, and said so in the table
    code, out, _ = clikit.run(capsys, "bound", scenario, "--json", "--max-slowdown", "1.2",
                              "--slowdown-quantile", "0.9", "--whole-exemptions")
    whole = json.loads(out)
    assert code == 0 and whole["whole_exemptions"] is True and p90["whole_exemptions"] is False
    assert p90["job_nr_kwh"] - 1e-6 <= whole["job_nr_kwh"] <= kwh[-1] + 1e-6
    code, out, _ = clikit.run(capsys, "bound", scenario, "--max-slowdown", "1.2",
                              "--slowdown-quantile", "0.9", "--whole-exemptions")
    assert code == 0 and "whole jobs pass the cap (MILP" in " ".join(out.split())
    # A job starts at the first step after it arrives, so a cap of 1.01 is more than a
    # one-hour job can meet: the LP is infeasible, and the answer says what that means.
    code, out, _ = clikit.run(capsys, "bound", scenario, "--max-slowdown", "1.01")
    assert code == 0 and "Infeasible" in out and "no schedule keeps every job" in out


def test_a_time_limit_that_leaves_no_number_exits_1(capsys, scenario, isolated_cache):
    """An LP stopped by --time-limit has no bound: exit 1 (a script must not read the
    ``null`` as an answer), with the status and the hint in the table and in --json."""
    code, out, _ = clikit.run(capsys, "bound", scenario, "--time-limit", "1ns", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["job_nr_kwh"] is None and doc["status"] == "Time limit reached"
    code, out, _ = clikit.run(capsys, "bound", scenario, "--time-limit", "1ns")
    assert code == 1 and "no number; give it longer with --time-limit" in " ".join(out.split())
    code, out, _ = clikit.run(capsys, "bound", scenario, "--json")
    assert code == 0 and json.loads(out)["job_nr_kwh"] is not None
    # whole exemptions (a MILP) stopped before its root LP: the trivial bound 0, as the
    # docs say (it gave no number, though branch and bound's answer is always a bound)
    code, out, _ = clikit.run(capsys, "bound", scenario, "--max-slowdown", "1.2",
                              "--slowdown-quantile", "0.9", "--whole-exemptions",
                              "--time-limit", "1ns", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["status"] == "Time limit reached" and doc["job_nr_kwh"] == 0.0


def test_the_time_bound_lies_between_spacetime_and_static(capsys, scenario, isolated_cache):
    """Only *when* is free: no lower than spacetime (which may also move the jobs), no higher
    than static's own energy; and it takes a slowdown cap, which never lowers it."""
    docs = {}
    for kind, cap in (("spacetime", None), ("time", None), ("time", "1.2")):
        args = ("--kind", kind) + (() if cap is None else ("--max-slowdown", cap))
        code, out, _ = clikit.run(capsys, "bound", scenario, "--json", *args)
        assert code == 0
        docs[kind, cap] = json.loads(out)
    free, time_only, capped = docs["spacetime", None], docs["time", None], docs["time", "1.2"]
    assert time_only["kind"] == "time" and time_only["status"] == "Optimal"
    assert free["job_nr_kwh"] - 1e-6 <= time_only["job_nr_kwh"]
    assert time_only["job_nr_kwh"] <= capped["job_nr_kwh"] + 1e-6
    assert capped["job_nr_kwh"] <= capped["static_job_nr_kwh"] + 1e-6
    assert time_only["work_gpu_h"] == pytest.approx(free["work_gpu_h"])
    code, out, _ = clikit.run(capsys, "bound", scenario, "--kind", "time")
    assert code == 0 and "time" in out and "Optimal" in out


@pytest.mark.parametrize(("args", "message"), [
    (("--kind", "space", "--max-slowdown", "2"),
     "--max-slowdown: only the spacetime and time bounds"),
    (("--max-slowdown", "0.9"), "--max-slowdown: must be a finite number >= 1"),
    (("--max-slowdown", "nan"), "--max-slowdown: must be a finite number >= 1"),
    (("--max-slowdown", "2", "--slowdown-quantile", "1.5"),
     "--slowdown-quantile: a quantile is strictly between 0 and 1"),
    (("--slowdown-quantile", "0.9"), "--slowdown-quantile: give the slowdown"),
    (("--max-slowdown", "2", "--whole-exemptions"),
     "--whole-exemptions: only a slowdown quantile has exemptions"),
    (("--kind", "when"), "valid kinds: space, spacetime, time"),
    (("--seed", "-1"), "--seed: must be a whole number from 0 to"),
    (("--max-memory", "lots"), "--max-memory: cannot parse size 'lots'"),
    (("--max-memory", "1kB"), "over the limit of"),
    (("--time-limit", "60"), "--time-limit: duration '60' needs a unit"),
    (("--time-limit", "0s"), "--time-limit: must be > 0 s"),
])
def test_bad_options_exit_2(capsys, scenario, isolated_cache, args, message):
    code, out, err = clikit.run(capsys, "bound", scenario, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and out == ""


def test_missing_scenario_exit_2(capsys, tmp_path, isolated_cache):
    code, _out, err = clikit.run(capsys, "bound", str(tmp_path / "nope.toml"))
    assert code == 2
    assert "nope.toml" in err
