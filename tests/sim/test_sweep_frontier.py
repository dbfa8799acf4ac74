"""The energy-slowdown frontier of a sweep: Pareto optimality on the means, one entry for a
policy the grid does not touch, the points that beat each other one named."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from greenhop.sim.sweep_frontier import dominates, frontier, pareto_front

coords = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=12)


@given(coords)
def test_the_front_is_exactly_the_points_nothing_dominates(xy):
    front = pareto_front(xy)
    members = [p for p, on in zip(xy, front, strict=True) if on]
    assert members, "a finite set always has a point nothing dominates"
    for p, on in zip(xy, front, strict=True):
        if on:
            assert not any(dominates(o, p) for o in xy)
        else:  # beaten on both by some point of the front itself
            assert any(dominates(m, p) for m in members)


def test_equal_points_are_both_on_the_front_and_a_point_never_dominates_itself():
    assert pareto_front([(1, 2), (1, 2), (2, 3)]) == [True, True, False]
    assert not dominates((1, 2), (1, 2))
    assert pareto_front([(1, 5), (5, 1), (3, 3), (4, 4)]) == [True, True, True, False]


def _d(mean, half=0.5):
    return {"n": 3, "mean": mean, "ci_lo": mean - half, "ci_hi": mean + half,
            "half_width": half}


def _summary(values, energy_key="job_nr_kwh"):
    """``values[p][policy] = (energy, slowdown)`` or ``None`` (no slowdown)."""
    points = []
    for p, per in enumerate(values):
        metrics = {}
        for pol, v in per.items():
            metrics[pol] = {energy_key: _d(v[0])}
            if v[1] is not None:
                metrics[pol]["slowdown_p90"] = _d(v[1])
        points.append({"point": p, "label": f"k={p}", "metrics": metrics})
    # the headline as summarize() resolves it: the metrics some policy has a value for
    slowdown = any(v[1] is not None for per in values for v in per.values())
    return {"policies": sorted({pol for per in values for pol in per}), "points": points,
            "headline": [energy_key, *(["slowdown_p90"] if slowdown else [])]}


def test_a_policy_the_grid_does_not_touch_has_one_entry_and_the_beaten_name_their_betters():
    values = [{"static": (10.0, 1.0), "planner": (6.0, 1.4)},
              {"static": (10.0, 1.0), "planner": (4.0, 1.8)},
              {"static": (10.0, 1.0), "planner": (7.0, 1.9)}]
    f = frontier(_summary(values))
    assert (f["x"], f["y"]) == ("job_nr_kwh", "slowdown_p90")
    by = {(e["policy"], e["point"]): e for e in f["entries"]}
    assert set(by) == {("static", 0), ("planner", 0), ("planner", 1), ("planner", 2)}
    assert by[("static", 0)]["points"] == [0, 1, 2]
    assert by[("static", 0)]["label"] == "same at every grid point"
    assert [by[("planner", p)]["on_front"] for p in range(3)] == [True, True, False]
    assert by[("static", 0)]["on_front"]          # the least slowdown of all
    # (7, 1.9) is beaten on both axes by (6, 1.4) and by (4, 1.8); static's (10, 1.0)
    # has the lower slowdown but not the lower energy
    assert by[("planner", 2)]["dominated_by"] == [{"policy": "planner", "point": 0},
                                                  {"policy": "planner", "point": 1}]
    assert by[("planner", 0)]["x"]["ci_lo"] == 5.5   # the intervals travel with the means


def test_a_policy_equal_at_some_points_only_is_one_entry_for_those():
    values = [{"a": (1.0, 2.0)}, {"a": (1.0, 2.0)}, {"a": (2.0, 1.0)}]
    f = frontier(_summary(values))
    assert [(e["points"], e["label"]) for e in f["entries"]] == [([0, 1], "k=0 | k=1"),
                                                                  ([2], "k=2")]


def test_the_fallback_axis_is_used_and_a_sweep_without_one_axis_has_no_frontier():
    f = frontier(_summary([{"a": (3.0, 1.0), "b": (2.0, 2.0)}], energy_key="non_renewable_kwh"))
    assert f["x"] == "non_renewable_kwh" and all(e["on_front"] for e in f["entries"])
    assert frontier(_summary([{"a": (3.0, None), "b": (2.0, None)}])) is None
    # a policy without a slowdown mean is left out, the others still compared
    f = frontier(_summary([{"a": (3.0, 1.0), "b": (2.0, None), "c": (4.0, 2.0)}]))
    assert [(e["policy"], e["on_front"]) for e in f["entries"]] == [("a", True), ("c", False)]
