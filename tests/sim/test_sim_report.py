"""The HTML report is one self-contained, interactive page: plotly.js inlined, figures as
inline JSON, nothing loaded from anywhere; it renders in headless Chromium without console
errors, and its plots zoom."""

from __future__ import annotations

import inspect
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import plotly.graph_objects as go
import pytest
import simkit

from greenhop.core import units
from greenhop.model.plot import DEFAULT_WINDOWS_S
from greenhop.sim import simulate
from greenhop.sim.report import _guard_warning, _table, ratio_guards

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "viz"))
import chromekit

FIGURE_RE = re.compile(r'<script type="application/json" data-figure="([\w-]+)">(.*?)</script>',
                       re.S)


def _scenario(policies):
    d = simkit.micro(policies=policies, horizon="1d", history="1d",
                     sites=[simkit.site("a", power=None, trace={"kind": "solar", "peak": "6kW"}),
                            simkit.site("b", power="4kW", tput=2.0)])
    d["jobs"] = [{"name": f"j{i}", "arrival": f"{i}h", "work_gpu_h": 4.0, "checkpoint": "5GB",
                  "gpus": 1, "origin": "a"} for i in range(3)]
    return d


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    paths = simulate(_scenario(["static", "energy-greedy", "feasibility-aware"])).write(out)
    return paths["report"]


@pytest.fixture(scope="module")
def static_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("static")
    return simulate(_scenario(["static"])).write(out)["report"]


def figures(path: Path) -> dict[str, dict]:
    return {k: json.loads(v) for k, v in FIGURE_RE.findall(path.read_text(encoding="utf-8"))}


def test_report_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    # Nothing to fetch: no src or href attribute at all, no stylesheet link, no import.
    assert not re.search(r"<(?:script|img|link|iframe)[^>]*\s(?:src|href)\s*=", text, re.I)
    assert "<link" not in text.lower() and "@import" not in text
    scripts = re.findall(r"<script(?: [^>]*)?>", text)
    assert scripts.count("<script>") == 2  # plotly.js, then the few lines that draw
    for section in ("Policy comparison", "Surplus and load per site", "Job placement",
                    "Feasibility map"):
        assert section in text
    figs = figures(report)
    assert set(figs) == {"fig-bars", "fig-timelines", "fig-placement", "fig-feasibility"}
    for fig in figs.values():
        go.Figure(fig)  # valid Plotly
        assert any(t.get("y") or t.get("x") for t in fig["data"])  # nothing empty
    # the bars show the headline's slowdown p90 (they showed the JCT p95 beside it)
    bars = json.dumps(figs["fig-bars"])
    assert "slowdown p90 [-]" in bars and "JCT p95" not in bars


def test_the_report_map_uses_the_cli_map_windows_and_axes(report):
    from greenhop.cli.feasibility import feasibility_map

    cli_default = inspect.signature(feasibility_map).parameters["windows"].default.default
    assert tuple(units.parse_duration(w) for w in cli_default.split(",")) == DEFAULT_WINDOWS_S
    fig = figures(report)["fig-feasibility"]
    names = [t["name"] for t in fig["data"] if t.get("legendgroup") == "boundary"]
    assert names == ["W = 1 h", "W = 2.5 h", "W = 5 h", "W = 9.5 h"]
    assert fig["layout"]["xaxis"]["title"]["text"].startswith("checkpoint size")
    assert fig["layout"]["yaxis"]["title"]["text"].startswith("nominal WAN bandwidth")
    points = [t for t in fig["data"] if t.get("mode") == "markers"]
    assert {t["name"].split(":")[0] for t in points} == {"energy-greedy", "feasibility-aware"}
    assert len({t["marker"]["symbol"] for t in points}) == 2


def test_the_placement_and_timelines_cover_every_job_and_site(report):
    figs = figures(report)
    assert figs["fig-placement"]["layout"]["yaxis"]["categoryarray"] == ["j0", "j1", "j2"]
    loads = [t for t in figs["fig-timelines"]["data"] if t["name"].startswith("job load")]
    assert len(loads) == 2 and all(t["yaxis"] != "y" for t in loads)


def test_a_static_only_report_draws_no_empty_chart(static_report):
    text = static_report.read_text(encoding="utf-8")
    figs = figures(static_report)
    assert "fig-feasibility" not in figs
    assert "No chart: no policy made a migration (static)" in text
    bars = figs["fig-bars"]
    for trace in bars["data"]:
        assert any(v for v in trace["y"])  # no all-zero panel
    assert re.search(r"Not drawn \(zero or undefined for every policy\): [^<]*migrations", text)


def test_a_ratio_over_a_tiny_gap_is_withheld_with_a_warning():
    """The case a user met: forecast-feasibility's oracle gap closed read -1,209.7 % over a
    gap of 19.5 kWh while the policies' energies were about 860 kWh."""
    metrics = {
        "static": {"job_nr_kwh": 3682.0, "infeasible_migrations": 0},
        "feasibility-aware": {"job_nr_kwh": 864.0, "infeasible_migrations": 43},
        "oracle-window": {"job_nr_kwh": 844.5, "infeasible_migrations": 10},
        "forecast-feasibility": {"job_nr_kwh": 1100.0, "oracle_gap_kwh": 19.5,
                                 "oracle_gap_closed_pct": -1209.7, "oracle_gap_infeasible": 33,
                                 "oracle_gap_closed_infeasible_pct": 105.0,
                                 "infeasible_migrations": 8},
    }
    guards = ratio_guards(SimpleNamespace(metrics_by_policy=metrics, bounds=None))
    assert set(guards) == {("forecast-feasibility", "oracle_gap_closed_pct")}
    table = _table(metrics, guards)
    assert "n/a (gap &lt; 43.2 kWh)" in table and 'class="warn"' in table
    assert "1,209.7" not in table and "105.0" in table
    warning = _guard_warning(guards)
    assert "forecast-feasibility, oracle gap closed % (kWh): gap 19.5 kWh is below 43.2 kWh" \
        in warning


def test_report_plots_are_interactive_in_headless_chromium(report, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    drv = chromekit.driver(tmp_path)
    try:
        drv.get(report.resolve().as_uri())
        drawn = drv.execute_script(
            "return Array.from(document.querySelectorAll('.figure')).map("
            "e => [e.id, !!e._fullLayout, e.querySelectorAll('.trace').length]);")
        before = drv.execute_script(
            "return document.getElementById('fig-timelines')._fullLayout.xaxis.range.slice();")
        # A drag across the middle of the first site's plot area zooms the time axis.
        area = drv.find_element(By.CSS_SELECTOR, "#fig-timelines .nsewdrag")
        w = area.size["width"]
        ActionChains(drv).move_to_element_with_offset(area, -w // 6, 0).click_and_hold() \
            .move_by_offset(w // 3, 0).release().perform()
        dragged = drv.execute_script(
            "return document.getElementById('fig-timelines')._fullLayout.xaxis.range.slice();")
        zoomed = drv.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "const el = document.getElementById('fig-placement');"
            "Plotly.relayout(el, {'xaxis.range': ['2023-01-01 01:00:00', '2023-01-01 02:00:00']})"
            ".then(() => done(el._fullLayout.xaxis.range.slice()));")
        errors = chromekit.console_errors(drv)
        loaded = chromekit.resources(drv)
    finally:
        drv.quit()
    assert [d[0] for d in drawn] == ["fig-bars", "fig-timelines", "fig-placement",
                                     "fig-feasibility"]
    assert all(ok and traces > 0 for _, ok, traces in drawn)
    assert dragged != before and dragged[0] > before[0] and dragged[1] < before[1]
    assert zoomed[0].startswith("2023-01-01 01:00") and zoomed[1].startswith("2023-01-01 02:00")
    assert errors == []
    assert loaded and chromekit.outside(loaded, allowed_hosts=()) == []


def test_the_console_check_catches_a_script_error(tmp_path):
    """The console check is not vacuous: a page with a broken script is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>notDefined();</script></body></html>",
                    encoding="utf-8")
    drv = chromekit.driver(tmp_path)
    try:
        drv.get(page.as_uri())
        errors = chromekit.console_errors(drv)
    finally:
        drv.quit()
    assert any(entry.get("level") == "SEVERE" for entry in errors)


def test_the_outside_check_is_not_vacuous():
    assert chromekit.outside(["file:///x.html", "data:image/png;base64,AA",
                              "http://127.0.0.1:8080/static/plotly.min.js",
                              "https://cdn.example.org/plotly.js"]) == [
        "https://cdn.example.org/plotly.js"]


def test_sweep_report_is_interactive_with_one_marker_per_policy(tmp_path):
    import sweepkit

    from greenhop.sim.sweep import prepare_sweep, run_sweep

    spec = prepare_sweep(sweepkit.write(tmp_path, horizon="1d", jobs=4), seeds="1-2",
                         policies=["static", "energy-greedy", "feasibility-aware"],
                         sets=["migration.startup=30s,2h"])
    outcome = run_sweep(spec, tmp_path / "sweep", serial=True)
    report = outcome.out / "report.html"
    figs = figures(report)
    front = figs.pop("fig-frontier")  # energy against slowdown, the frontier joined
    go.Figure(front)
    settings = [t for t in front["data"] if "error_x" in t and "error_y" in t]
    assert [t["name"] for t in settings] == ["static", "energy-greedy", "feasibility-aware"]
    on = [e for e in outcome.summary["frontier"]["entries"] if e["on_front"]]
    line = next(t for t in front["data"] if t["name"] == "frontier")
    assert sorted(line["x"]) == line["x"] and len(line["x"]) == len(on) >= 1
    assert len(figs) == len(outcome.summary["headline"]) >= 5  # one per headline metric
    for fig in figs.values():
        go.Figure(fig)
        means = [t for t in fig["data"] if "error_y" in t]
        assert [t["name"] for t in means] == ["static", "energy-greedy", "feasibility-aware"]
        assert len({t["marker"]["symbol"] for t in means}) == 3
        assert fig["layout"]["xaxis"]["ticktext"] == ["30s", "2h"]
    drv = chromekit.driver(tmp_path)
    try:
        drv.get(report.resolve().as_uri())
        drawn = drv.execute_script("return Array.from(document.querySelectorAll('.figure'))"
                                   ".map(e => !!e._fullLayout);")
        errors = chromekit.console_errors(drv)
        loaded = chromekit.resources(drv)
    finally:
        drv.quit()
    assert drawn == [True] * (len(figs) + 1) and errors == []
    assert chromekit.outside(loaded, allowed_hosts=()) == []


def test_the_sweep_gap_table_withholds_a_share_of_a_tiny_gap():
    from greenhop.sim.sweep_report import _gap_table

    spec = SimpleNamespace(policies=["static", "energy-greedy"], seeds=[1, 2])

    def summary(bound_kwh):
        desc = {"mean": 40.0, "half_width": 5.0, "n": 2, "per_seed": []}
        return {"points": [{
            "metrics": {"static": {"job_nr_kwh": {"mean": 1000.0}}},
            "bounds": {"space": {"job_nr_kwh": {"mean": bound_kwh}}},
            "gap_closed": {"static": {"gap_closed_space_pct": {**desc, "mean": 0.0}},
                           "energy-greedy": {"gap_closed_space_pct": desc}}}]}

    wide = _gap_table(spec, summary(500.0), 0)
    assert "40 ± 5" in wide and "n/a" not in wide
    tiny = _gap_table(spec, summary(980.0), 0)  # a gap of 20 kWh on 1,000 kWh
    assert "40 ± 5" not in tiny and tiny.count("n/a (gap &lt; 50.0 kWh)") == 2
    assert "gap closed % (space bound) not shown: the mean gap between static and the " \
           "bound, 20.0 kWh, is below 50.0 kWh" in tiny
    # named as the figures name it; the key of summary.json in the tooltip
    assert '<th title="gap_closed_space_pct">gap closed % (space bound)</th>' in tiny
