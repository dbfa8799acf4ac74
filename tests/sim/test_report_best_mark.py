"""The report's highlighted policy: the least job grid energy among the policies that did
the work, not a policy that saved energy by leaving jobs undone."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

from greenhop.sim.metrics import WORK_SHARE_FOR_GAP, short_of_work
from greenhop.sim.report import (
    SHORT_MARK,
    TIMELINE_SITES,
    _comparison_note,
    _gap_sentence,
    _sites_not_drawn,
    _table,
    best_policy,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from clikit import run, two_site_scenario


def _m(nr, work):
    return {"job_nr_kwh": nr, "work_done_gpu_h": work}


def test_a_policy_that_left_the_work_undone_is_not_marked_best():
    # edge-fleet's curtail-threshold: 1.2 GPU-h of static's 244.4, 99.5 % "saved"
    metrics = {"static": _m(100.0, 244.4), "energy-greedy": _m(80.0, 244.4),
               "curtail-threshold": _m(0.5, 1.2)}
    assert best_policy(metrics) == "energy-greedy"


def test_the_work_share_is_the_gap_closed_figures():
    need = WORK_SHARE_FOR_GAP * 200.0
    metrics = {"static": _m(100.0, 200.0), "a": _m(50.0, need), "b": _m(40.0, need - 0.01)}
    assert best_policy(metrics) == "a"


def test_without_static_the_most_work_done_is_the_reference_and_unknowns_compete():
    assert best_policy({"a": _m(50.0, 100.0), "b": _m(10.0, 10.0)}) == "a"
    assert best_policy({"a": _m(50.0, None), "b": _m(10.0, None)}) == "b"
    assert best_policy({"a": _m(None, 100.0)}) is None


def test_the_terminal_footnote_defines_only_the_columns_shown(tmp_path):
    # live-3site asks for no bounds: no gap column, so no "gap S / ST" in the footnote
    from typer.testing import CliRunner

    from greenhop.cli.main import app

    scenario = Path(__file__).resolve().parents[2] / "src/greenhop/data/scenarios/live-3site.toml"
    res = CliRunner().invoke(app, ["simulate", str(scenario),
                                   "-p", "static", "--out", str(tmp_path), "--no-report"])
    assert res.exit_code == 0, res.output
    assert "job grid kWh = grid energy the jobs cause" in res.output
    assert "gap S" not in res.output


def _row(table: str, policy: str) -> str:
    return next(r for r in table.split("<tr") if f"<td>{policy}</td>" in r)


def test_a_saving_of_a_policy_short_of_work_is_marked_in_the_table():
    metrics = {"static": {**_m(100.0, 244.4), "saved_vs_static_pct": 0.0},
               "curtail-threshold": {**_m(0.5, 1.2), "saved_vs_static_pct": 99.52}}
    assert short_of_work(metrics) == {"curtail-threshold"}
    table = _table(metrics, {})
    assert f"99.52{SHORT_MARK}</td>" in _row(table, "curtail-threshold")
    assert SHORT_MARK not in _row(table, "static")
    note = _comparison_note(metrics)
    assert "did less than 99% of static's work (244.4 GPU-h; curtail-threshold: 1.2 GPU-h)" \
        in note


def test_columns_of_figures_not_computed_are_left_out():
    plain = {"static": _m(100.0, 10.0), "energy-greedy": _m(50.0, 10.0)}
    table = _table(plain, {})
    assert "gap closed" not in table and "oracle gap" not in table
    assert _gap_sentence(plain) == ""
    bounded = {p: {**m, "gap_closed_space_pct": None} for p, m in plain.items()}
    table = _table(bounded, {})
    assert "gap closed % (space bound)" in table and "space-time" not in table
    assert "where it is not defined (why: below)" in _gap_sentence(bounded)
    assert "less work than the bound requires" not in _gap_sentence(bounded)


def test_the_sites_the_timeline_leaves_out_are_named():
    names = [f"s{i:02d}" for i in range(TIMELINE_SITES + 12)]
    note = _sites_not_drawn(SimpleNamespace(scenario=SimpleNamespace(site_names=names)))
    assert f"12 more sites not drawn (the chart shows the first {TIMELINE_SITES})" in note
    assert "s12" in note and "s23" in note and "s11" not in note
    few = SimpleNamespace(scenario=SimpleNamespace(site_names=names[:TIMELINE_SITES]))
    assert _sites_not_drawn(few) == ""


def test_simulate_marks_the_saving_of_a_policy_short_of_work(
        tmp_path, capsys, monkeypatch):
    """Jobs longer than the day: curtail-threshold runs only on surplus and does about half
    of static's work: its saving is marked, in the terminal and in the report."""
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "small.toml"
    path.write_text(two_site_scenario("small", b_longitude=90.0,
                                      b_trace='{ kind = "solar", peak = "4kW" }')
                    .replace('horizon = "2d"', 'horizon = "1d"')
                    .replace('until = "1d"', 'until = "6h"')
                    .replace("work_gpu_h = [1, 8]", "work_gpu_h = [10, 20]"))
    code, out, _err = run(capsys, "simulate", str(path), "-p", "static,curtail-threshold",
                          "--out", str(tmp_path / "out"))
    assert code == 0
    row = next(ln for ln in out.splitlines() if "curtail-threshold" in ln)
    assert f"%{SHORT_MARK}" in row
    assert f"{SHORT_MARK} = did less than 99% of static's work" in out
    html_text = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "did less than 99% of static's work" in html_text
    assert "gap closed %" not in html_text
