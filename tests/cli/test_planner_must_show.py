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
    (tmp_path / "g" / "summary.json").write_text(json.dumps(
        {"grid": [{"key": "alpha", "values": [0.1, 0.2]}], "points": [{}, {}]}))
    with pytest.raises(SystemExit, match="a sweep over a grid of 2 points"):
        ms.main([str(tmp_path / "g")])


def test_a_corrupt_summary_is_refused_with_one_line(ms, tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "summary.json").write_text("{not json")
    with pytest.raises(SystemExit, match=r"summary.json: not a `greenhop sweep` summary"):
        ms.main([str(tmp_path / "c")])
    (tmp_path / "c" / "summary.json").write_text("[]")
    with pytest.raises(SystemExit, match=r"no grid points"):
        ms.main([str(tmp_path / "c")])


def test_a_sweep_with_one_setting_is_read_and_its_column_names_the_setting(ms, tmp_path,
                                                                           capsys):
    summary = _summary([1, 2], _one_value(70.0), _one_value(-1.0))
    key = "policy_params.horizon-planner.max_slowdown"
    summary["grid"] = [{"key": key, "values": [1.7]}]
    summary["points"][0]["label"] = f"{key}=1.7"   # the sweep's label of the point
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "summary.json").write_text(json.dumps(summary))
    assert ms.main([str(tmp_path / "s")]) == 0
    assert capsys.readouterr().out.startswith(
        f"| must-show | one-seed (seeds 1-2, {key}=1.7) |")


def _one_value(mean):
    """A statistic over one seed: a mean, no interval (summary.json's rule for n < 2)."""
    return {"n": 1, "mean": mean, "ci_lo": None, "ci_hi": None, "half_width": None}


def _summary(seeds, gap, paired):
    pols = ["static", "energy-greedy", "feasibility-aware", "horizon-planner"]
    metrics = {p: {"work_done_gpu_h": _one_value(10.0), "deadline_misses": _one_value(0.0)}
               for p in pols}
    return {"scenario": "one-seed", "seeds": seeds, "policies": pols, "grid": [],
            "points": [{"metrics": metrics, "paired": [
                {"a": "horizon-planner", "b": b, "metric": m, "share_a_lt_b_pct": 100.0,
                 **paired} for b in pols[:3] for m in (
                     "job_nr_kwh", "slowdown_p90", "stability_cv", "unfinished_jobs",
                     "window_closed_before_payback", "net_green_loss_migrations")],
                "gap_closed": {"horizon-planner": {"gap_closed_spacetime_pct": {
                    **gap, "per_seed": []}}}}]}


def test_a_one_seed_sweep_prints_its_values_without_an_interval(ms, capsys, tmp_path):
    """Before: a TypeError formatting the gap's half-width, None over one seed (a one-seed
    sweep, or a sweep where one seed has a gap closed), and no table at all."""
    out = tmp_path / "one"
    out.mkdir()
    summary = _summary([4], _one_value(94.2), _one_value(-1.5))
    (out / "summary.json").write_text(json.dumps(summary))
    assert ms.main([str(out)]) == 0
    printed = capsys.readouterr().out
    rows = ms.rows(summary)
    assert rows["gap closed, space-time >= 80%"] == "94% (no interval, n=1): met"
    assert rows["job grid energy <= energy-greedy's"] == "-1.50 (no interval, n=1): –"
    assert rows["unfinished jobs <= static's"] == "-1.50 (no interval, n=1): –"
    assert printed.startswith("| must-show | one-seed (seeds 4) |")
    # one seed of several with a gap: the same, and the other rows keep their intervals
    many = _summary([1, 2, 3], _one_value(70.0),
                    {"n": 3, "mean": -1.0, "ci_lo": -2.0, "ci_hi": -0.5, "half_width": 0.75})
    rows = ms.rows(many)
    assert rows["gap closed, space-time >= 80%"] == "70% (no interval, n=1): not met"
    assert rows["job grid energy <= energy-greedy's"] == "-1.00 [-2.00, -0.50]: met"
    gap = {"n": 3, "mean": 85.0, "ci_lo": 80.0, "ci_hi": 90.0, "half_width": 5.0}
    assert ms.rows(_summary([1, 2, 3], gap, _one_value(0.0)))[
        "gap closed, space-time >= 80%"] == "85 ± 5% (3 seeds): met"


def test_the_header_names_the_seeds_that_ran(ms):
    """Before: ``(seeds 1-7)`` for ``--seeds 1,3,5-7``: seeds 2 and 4 never ran."""
    gap = {"n": 5, "mean": 90.0, "ci_lo": 85.0, "ci_hi": 95.0, "half_width": 5.0}
    summary = _summary([1, 3, 5, 6, 7], gap, _one_value(0.0))
    assert ms.table([summary]).startswith("| must-show | one-seed (seeds 1, 3, 5-7) |")
