"""``benchmarks/planner_must_show.py``: the planner's must-show table read from sweeps, its
verdicts the sweep's own paired intervals."""

from __future__ import annotations

import json

import clikit
import pytest

# a sunny site and one with constant surplus: the policies differ on energy and stability
SCENARIO = clikit.two_site_scenario("must-show", b_longitude=0.0,
                                    b_trace='{ kind = "constant", power = "2.5kW" }')


@pytest.fixture(scope="module")
def ms():
    return clikit.benchmark_script("planner_must_show")


@pytest.mark.parametrize("lo,hi,strict,expected", [
    (-2.0, -1.0, False, "met"), (-2.0, -1.0, True, "met"),
    (-1.0, 0.0, False, "met"), (-1.0, 0.0, True, "tie"),
    (-1.0, 1.0, False, "tie"), (0.0, 1.0, False, "tie"),
    (0.5, 2.0, False, "not met"), (None, None, False, "–"),
])
def test_verdict_reads_the_interval(ms, lo, hi, strict, expected):
    assert ms.verdict({"mean": 0.0, "ci_lo": lo, "ci_hi": hi}, strict) == expected


def test_the_table_is_the_sweeps_paired_differences(ms, capsys, tmp_path, isolated_cache):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    out = tmp_path / "sweep"
    code, _, _ = clikit.run(capsys, "sweep", str(path), "--seeds", "1-3", "--serial", "--out",
                            str(out), "-p", "static,energy-greedy,feasibility-aware,"
                            "horizon-planner")
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    point = summary["points"][0]
    rows = ms.rows(summary)
    differs = 0
    for name, metric, other, strict in [
            ("job grid energy <= energy-greedy's", "job_nr_kwh", "energy-greedy", False),
            ("stability CV below energy-greedy's", "stability_cv", "energy-greedy", True),
            ("net-green-loss moves <= feasibility-aware's", "net_green_loss_migrations",
             "feasibility-aware", False),
            ("unfinished jobs <= static's", "unfinished_jobs", "static", False)]:
        d = next(p for p in point["paired"] if p["a"] == "horizon-planner"
                 and p["b"] == other and p["metric"] == metric)
        assert rows[name] == (f"{ms.num(d['mean'])} [{ms.num(d['ci_lo'])}, "
                              f"{ms.num(d['ci_hi'])}]: {ms.verdict(d, strict)}")
        differs += d["mean"] != 0
    assert differs >= 2  # energy and stability differ here: the rows are not all zeros
    # feasibility-aware is the one published policy here; it is compared when it did at
    # least the planner's work, and left out otherwise
    m = point["metrics"]
    did = m["feasibility-aware"]["work_done_gpu_h"]["mean"] >= m["horizon-planner"][
        "work_done_gpu_h"]["mean"]
    assert ("feasibility-aware" in rows["<= each published policy's that does as much work"]
            ) == did
    misses = [m[p]["deadline_misses"]["mean"] for p in ("horizon-planner", "static")]
    assert rows["deadline misses <= static's (means)"].startswith(
        f"{misses[0]:.2f} vs {misses[1]:.2f}: ")
    assert ms.main([str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| must-show | must-show (seeds 1-3) |")
    assert printed.count("\n") == len(rows) + 2


def test_a_missing_or_grid_sweep_is_refused_with_one_line(ms, tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        ms.main([str(tmp_path / "none")])
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "summary.json").write_text(json.dumps({"grid": [{"key": "alpha"}]}))
    with pytest.raises(SystemExit, match="a sweep over a grid"):
        ms.main([str(tmp_path / "g")])
