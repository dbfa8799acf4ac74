"""The plotting components build valid Plotly figures with what the reports promise."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenhop import viz
from greenhop.model.plot import DEFAULT_WINDOWS_S, map_boundaries
from greenhop.policies import POLICIES
from greenhop.viz.page import figure_json
from greenhop.viz.plotlyjs import plotly_js_path
from greenhop.viz.ratios import floor_for


def valid(fig: dict) -> go.Figure:
    """Plotly's own validation: an unknown property or a bad value raises."""
    return go.Figure(json.loads(figure_json(fig)))


def test_every_registered_policy_gets_its_own_marker():
    names = [*POLICIES, "my-plugin", "another-plugin"]
    styles = viz.policy_styles(names)
    symbols = [styles[p]["symbol"] for p in names]
    assert len(set(symbols)) == len(symbols)
    assert styles["forecast-feasibility"]["symbol"] != styles["oracle-window"]["symbol"]
    fig = viz.feasibility_map_figure({p: [{"bytes": 5e9, "bandwidth_bps": 1e9}] for p in names},
                                     styles=styles)
    valid(fig)  # every symbol (and its open variant) is one Plotly knows
    drawn = [t["marker"]["symbol"] for t in fig["data"] if t.get("mode") == "markers"]
    assert len(set(drawn)) == len(names)


def test_timelines_give_the_job_load_its_own_axis():
    T, sites = 288, ["a", "b", "c"]
    rng = np.random.default_rng(1)
    fig = viz.site_timelines(sites, start_unix_s=1.7e9, step_s=300.0,
                             surplus_w=rng.normal(0, 5e3, (T, 3)),
                             job_load_w=rng.uniform(0, 800, (T, 3)),
                             grid_w=rng.uniform(0, 2e3, (T, 3)))
    f = valid(fig)
    load = [t for t in fig["data"] if t["name"].startswith("job load")]
    assert len(load) == 3
    for trace in load:
        axis = fig["layout"][f"yaxis{trace['yaxis'][1:]}"]
        assert axis["side"] == "right" and axis["overlaying"] != trace["yaxis"]
    assert all(t.get("x0") and t["dx"] == 300e3 for t in fig["data"])  # no x arrays
    assert f.layout.xaxis.type == "date"
    # Steps with a hole (a live run's booked steps) get explicit dates instead.
    gap = viz.site_timelines(["a"], start_unix_s=0.0, step_s=60.0, steps=[0, 1, 5],
                             surplus_w=[[1.0], [2.0], [3.0]], job_load_w=[[0.0], [0.0], [1.0]])
    assert gap["data"][0]["x"] == ["1970-01-01 00:00:00", "1970-01-01 00:01:00",
                                   "1970-01-01 00:05:00"]


def test_placement_shows_every_job_of_a_large_fleet():
    jobs = [f"job-{i:03d}" for i in range(180)]
    sites = ["s1", "s2", "s3", "s4"]
    segments = [{"job": j, "site": sites[i % 4], "t0_s": 600.0 * i, "t1_s": 600.0 * i + 3600,
                 "kind": "running"} for i, j in enumerate(jobs)]
    segments += [{"job": jobs[0], "site": "s2", "t0_s": 3600.0, "t1_s": 3700.0,
                  "kind": "migrating"}]
    fig = viz.placement_figure(jobs, sites, start_unix_s=0.0, segments=segments,
                               migrations=[{"job": jobs[0], "t_s": 3600.0, "src": "s1",
                                            "dst": "s2"}])
    valid(fig)
    assert fig["layout"]["yaxis"]["categoryarray"] == jobs
    shown = {y for t in fig["data"] if t["type"] == "bar" for y in t["y"]}
    assert shown == set(jobs)
    assert 170 + 2 * 180 <= fig["layout"]["height"] <= 3000
    names = [t["name"] for t in fig["data"]]
    assert names[:4] == sites and "migrating / restoring" in names and "migration (1)" in names


def test_feasibility_map_draws_the_cli_boundaries_on_the_cli_axes():
    fig = viz.feasibility_map_figure({}, alpha=0.1)
    valid(fig)
    lines = [t for t in fig["data"] if t.get("legendgroup") == "boundary"]
    assert [t["name"] for t in lines] == ["W = 1 h", "W = 2.5 h", "W = 5 h", "W = 9.5 h"]
    x = np.asarray(lines[0]["x"])
    need = map_boundaries(x, DEFAULT_WINDOWS_S, alpha=0.1)
    top = 10 * 1e11
    for trace, row in zip(lines, need, strict=True):
        expected = np.where(np.isfinite(row), np.minimum(row, top), top)
        np.testing.assert_allclose(trace["y"], expected)
    assert "checkpoint size" in fig["layout"]["xaxis"]["title"]["text"]
    assert "bandwidth" in fig["layout"]["yaxis"]["title"]["text"]
    # More bandwidth is feasible: the need falls as the window grows.
    assert np.all(need[0] >= need[-1])


def test_points_at_one_place_are_drawn_once_and_sized_by_count():
    pts = [{"bytes": 5e9, "bandwidth_bps": 1e9}] * 9 + [{"bytes": 2e11, "bandwidth_bps": 1e10}]
    fig = viz.feasibility_map_figure({"energy-greedy": pts})
    (trace,) = [t for t in fig["data"] if t.get("mode") == "markers"]
    assert len(trace["x"]) == 2 and trace["name"] == "energy-greedy: 10"
    assert list(trace["marker"]["size"]) == [round(8 + 3 * np.sqrt(8), 1), 8.0]
    # The hover names five of the nine moves and counts the rest (it named five, silently).
    named = [{"bytes": 5e9, "bandwidth_bps": 1e9, "text": f"job {i}"} for i in range(9)]
    (trace,) = [t for t in viz.feasibility_map_figure({"e": named})["data"]
                if t.get("mode") == "markers"]
    lines = trace["hovertext"][0].split("<br>")
    assert lines[0].startswith("e: 9 x 5 GB") and lines[1:6] == [f"job {i}" for i in range(5)]
    assert lines[6:] == ["… and 4 more"]
    # An axis grows to whole decades around points outside the default range.
    small = viz.feasibility_map_figure({"x": [{"bytes": 3e8, "bandwidth_bps": 2e11}]})
    assert small["layout"]["xaxis"]["range"][0] == pytest.approx(8.0)
    assert small["layout"]["yaxis"]["range"][1] == pytest.approx(12.0)


def test_bars_leave_out_all_zero_panels_and_withheld_ratios():
    metrics = {"static": {"job_nr_kwh": 5.0, "migrations": 0, "saved_vs_static_pct": 0.0},
               "other": {"job_nr_kwh": 4.0, "migrations": 0, "saved_vs_static_pct": 20.0}}
    keys = [("job_nr_kwh", "kWh"), ("migrations", "moves"), ("saved_vs_static_pct", "%")]
    fig, omitted = viz.policy_bars(metrics, keys)
    valid(fig)
    assert omitted == ["moves"] and len(fig["data"]) == 2
    fig, omitted = viz.policy_bars(metrics, keys,
                                   withheld={("other", "saved_vs_static_pct"): "tiny"})
    assert omitted == ["moves", "%"]
    none, omitted = viz.policy_bars({"static": {"migrations": 0}}, [("migrations", "moves")])
    assert none is None and omitted == ["moves"]


def test_interval_figure_with_and_without_a_grid():
    pols = ["static", "energy-greedy"]
    one = viz.interval_figure(pols, means={"static": [(3.0, 2.5, 3.5)],
                                           "energy-greedy": [(1.0, None, None)]},
                              seeds={"static": [[2.9, 3.1]], "energy-greedy": [[1.0]]},
                              title="job_nr_kwh")
    valid(one)
    assert one["layout"]["xaxis"]["ticktext"] == pols
    grid = viz.interval_figure(pols, x_labels=["1Gbps", "10Gbps"], x_title="bandwidth",
                               means={p: [(1.0, 0.5, 1.5), None] for p in pols},
                               seeds={p: [[1.0, 1.2], []] for p in pols}, title="t")
    valid(grid)
    means = [t for t in grid["data"] if "error_y" in t]
    assert [t["y"] for t in means] == [[1.0, None], [1.0, None]]
    assert means[0]["marker"]["symbol"] != means[1]["marker"]["symbol"]


@given(value=st.floats(-1e4, 1e4), denom=st.floats(-1e3, 1e3),
       scale=st.floats(0, 1e4))
def test_a_ratio_is_withheld_exactly_when_its_denominator_is_tiny(value, denom, scale):
    floor = floor_for(scale)
    g = viz.guarded_pct(value, denom, floor=floor)
    assert floor >= 1.0 and floor >= 0.05 * scale
    if abs(denom) < floor:
        assert g.warn and g.value is None and g.text.startswith("n/a (gap < ")
        assert "%" not in g.text
    else:
        assert not g.warn and g.value == value and g.text == f"{value:,.1f}"


def test_the_reported_oracle_gap_case_reads_n_a():
    g = viz.guarded_pct(-1209.7, 19.5, floor=floor_for(864.0))
    assert g.warn and g.text == "n/a (gap < 43.2 kWh)"


def test_figure_json_cannot_close_its_script_element():
    text = figure_json({"data": [{"type": "scatter", "name": "</script><b>"}],
                        "layout": {"title": {"text": float("nan")}}})
    assert "</script" not in text and json.loads(text)["layout"]["title"]["text"] is None


def test_plotly_js_ships_inside_the_package():
    path = plotly_js_path()
    assert path.name == "plotly.min.js" and path.stat().st_size > 1_000_000


_seg = st.tuples(st.integers(0, 9), st.integers(-1, 3), st.floats(0, 1e6),
                 st.floats(0, 1e5), st.sampled_from(["running", "suspended", "migrating",
                                                     "resuming"]))


@given(segs=st.lists(_seg, max_size=60))
def test_placement_keeps_every_stay_whole(segs):
    """Every segment with a length is one bar of that length, on its job's row."""
    jobs = [f"j{i}" for i in range(10)]
    sites = ["a", "b", "c", "d"]
    segments = [{"job": jobs[j], "site": sites[s] if s >= 0 else None, "t0_s": t0,
                 "t1_s": t0 + d, "kind": k} for j, s, t0, d, k in segs]
    fig = viz.placement_figure(jobs, sites, start_unix_s=0.0, segments=segments)
    bars = [(y, x) for t in fig["data"] if t["type"] == "bar"
            for y, x in zip(t["y"], t["x"], strict=True)]
    expected = sorted((s["job"], round((s["t1_s"] - s["t0_s"]) * 1e3)) for s in segments
                      if s["t1_s"] > s["t0_s"])
    assert sorted(bars) == expected


@given(pts=st.lists(st.tuples(st.sampled_from([1e9, 5e9, 2e11]),
                              st.sampled_from([1e8, 1e9, 1e10])), max_size=40),
       n_series=st.integers(1, 3))
def test_feasibility_map_counts_every_point_once(pts, n_series):
    series = {f"p{k}": [{"bytes": b, "bandwidth_bps": r} for b, r in pts[k::n_series]]
              for k in range(n_series)}
    fig = viz.feasibility_map_figure(series)
    marks = [t for t in fig["data"] if t.get("mode") == "markers"]
    counted = sum(int(h.split(": ")[1].split(" x ")[0]) for t in marks for h in t["hovertext"])
    assert counted == len(pts)
    assert len(marks) == sum(1 for v in series.values() if v)
