"""How a sweep shows its numbers and its seeds, in report.html and on screen: kWh-sized
means with thousands separators (not ``1.3e+03``), the seeds that ran (not a range with
gaps in it), and figure titles that count a metric's own values."""

from __future__ import annotations

import copy
import io
import json

import pytest
import sweepkit
from rich.console import Console

from greenhop.cli.sweep import _print_summary
from greenhop.sim.sweep import prepare_sweep, run_sweep
from greenhop.sim.sweep_report import render_sweep_report
from greenhop.sim.sweep_store import SweepStore
from greenhop.sim.sweep_summary import tidy_frame

POLICIES = ["static", "energy-greedy"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A finished sweep over seeds 1, 3 and 4 (2 is not one of them)."""
    tmp = tmp_path_factory.mktemp("display")
    spec = prepare_sweep(sweepkit.write(tmp), seeds="1,3-4", policies=POLICIES)
    outcome = run_sweep(spec, tmp / "out", serial=True)
    return spec, outcome


def _stat(mean, half_width, n=3):
    return {"n": n, "mean": mean, "ci_lo": mean - half_width, "ci_hi": mean + half_width,
            "half_width": half_width}


def _large(summary):
    """``summary`` with kWh means of a big scenario: 1300.21 ± 140.3, 15,962 and 16,040."""
    s = copy.deepcopy(summary)
    point = s["points"][0]
    point["metrics"]["static"]["job_nr_kwh"] = _stat(1300.21, 140.3)
    point["metrics"]["energy-greedy"]["job_nr_kwh"] = _stat(15962.4, 92.0)
    for e in point["paired"]:
        if e["metric"] == "job_nr_kwh" and e["a"] == "energy-greedy":
            e.update(_stat(16040.2, 81.5))
    return s


@pytest.mark.parametrize("x,digits,signed,text", [
    (1300.21, 3, False, "1,300"), (140.3, 2, False, "140"), (15962.4, 3, False, "15,962"),
    (16040.2, 3, True, "+16,040"), (-1462.18, 3, True, "-1,462"), (0.05234, 3, False, "0.0523"),
    (2.5, 3, False, "2.5"), (40.0, 3, False, "40"), (-12.345, 3, False, "-12.3"),
    (0.0, 3, True, "0"), (0.001, 3, False, "0.001"), (0.0123, 2, False, "0.012"),
    (123456789.0, 3, False, "123,456,789"),
    (2.5e9, 3, False, "2.5e+09"), (2e-4, 3, False, "0.0002"),
])
def test_numbers_keep_their_digits_without_scientific_notation(x, digits, signed, text):
    from greenhop.sim.sweep_report import number

    assert number(x, digits, signed=signed) == text


def test_a_mean_and_half_width_read_as_numbers():
    from greenhop.sim.sweep_report import mean_pm

    assert mean_pm(_stat(1300.21, 140.3)) == "1,300 ± 140"
    assert mean_pm({"n": 1, "mean": 1300.21, "half_width": None}) == "1,300"
    assert mean_pm(_stat(-3.2, 0.51), signed=True) == "-3.2 ± 0.51"
    assert mean_pm(None) == mean_pm({"n": 0, "mean": None}) == "–"


@pytest.mark.parametrize("seeds,text", [
    ([1], "1"), ([1, 2, 3], "1-3"), ([7, 1, 3, 5, 6], "1, 3, 5-7"), ([4, 6], "4, 6"),
    (list(range(1, 40, 2)), "1, 3, 5, 7, 9, 11, …, 39"),
])
def test_seed_text_names_the_seeds_that_ran(seeds, text):
    from greenhop.sim.sweep_report import seed_text

    assert seed_text(seeds) == text


def test_report_shows_kwh_means_with_separators(swept):
    """Before: ``1.3e+03 ± 1.4e+02``, and 15,962 and 16,040 kWh both ``1.6e+04``."""
    spec, outcome = swept
    df = tidy_frame(spec, SweepStore(outcome.out))
    html = render_sweep_report(spec, df, _large(outcome.summary))
    assert "<td>1,300 ± 140</td>" in html
    assert "<td>15,962 ± 92</td>" in html
    assert "<td>+16,040</td><td>[+15,959, +16,122]</td>" in html  # the paired table
    assert "e+03" not in html and "e+04" not in html


def test_screen_shows_kwh_means_with_separators(swept):
    spec, outcome = swept
    buf = io.StringIO()
    _print_summary(Console(file=buf, width=250, highlight=False), spec,
                   _large(outcome.summary))
    text = buf.getvalue()
    assert "1,300 ± 140" in text and "15,962 ± 92" in text and "+16,040 ± 82" in text
    assert "e+03" not in text and "e+04" not in text
    assert "3 seeds (1, 3-4)" in text


def test_screen_says_how_many_seeds_a_mean_of_fewer_covers(swept):
    """A gap closed defined on 1 seed of 3 read "94" beside means of all 3; the report said
    "(1/3 seeds)", the screen nothing."""
    spec, outcome = swept
    s = copy.deepcopy(outcome.summary)
    s["points"][0]["metrics"]["energy-greedy"]["stability_cv"] = _stat(0.25, 0.0, n=1)
    buf = io.StringIO()
    _print_summary(Console(file=buf, width=250, highlight=False), spec, s)
    text = buf.getvalue()
    assert "0.25 ± 0 (1/3)" in text
    assert "(3/3)" not in text  # a mean of every seed says nothing more


def test_the_report_carries_the_few_seeds_note_the_screen_prints(swept):
    """3 seeds: the terminal said their intervals are wide and lopsided; the report, which
    is what gets shared, said nothing."""
    _, outcome = swept
    html = (outcome.out / "report.html").read_text()
    assert "3 seeds give wide 95% intervals" in html
    assert "state a claim over 10 seeds or more" in html


def test_report_names_the_seeds_that_ran(swept):
    """Before: ``3 seeds (1–4)``, though seed 2 never ran."""
    _, outcome = swept
    html = (outcome.out / "report.html").read_text(encoding="utf-8")
    assert "x 3 seeds (1, 3-4) x" in html
    assert "(1–4)" not in html and "(1-4)" not in html
    assert "over 3 seeds" in html


def test_figure_titles_count_the_metrics_own_values(swept, tmp_path):
    """A seed without a value (null slowdown) is left out of the statistics: the titles
    said ``over 3 seeds`` anyway."""
    spec, _ = swept
    out = tmp_path / "nulls"
    run_sweep(spec, out, serial=True)
    cell = out / "cells" / "p000-s00003-energy-greedy.json"
    doc = json.loads(cell.read_text())
    doc["policies"]["energy-greedy"]["slowdown_p90"] = None
    cell.write_text(json.dumps(doc))
    for name in ("summary.json", "report.html"):
        (out / name).unlink()
    again = run_sweep(spec, out, serial=True)
    assert again.ran == 0
    assert again.summary["points"][0]["metrics"]["energy-greedy"]["slowdown_p90"]["n"] == 2
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "slowdown p90: mean and 95% interval over 2-3 of 3 seeds" in html
    assert "slowdown p90: means with 95% intervals over 2-3 of 3 seeds" in html  # frontier
    assert "job non-renewable kWh: mean and 95% interval over 3 seeds" in html
    # the axes name the metric as the reports do, with its unit, not by its key
    assert '"text":"job non-renewable kWh"' in html.replace(": ", ":").replace(", ", ",")
