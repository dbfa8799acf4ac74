"""A sweep's grid points are reached by index, without listing every combination (that
made checking 4,096 points take 18 s and 262,144 about 12 h), and checking them reports
its progress."""

from __future__ import annotations

import itertools

import sweepkit
from hypothesis import given
from hypothesis import strategies as st

from greenhop.sim.sweep import CHECK_EVERY, SweepSpec, prepare_sweep


@given(st.lists(st.integers(1, 4), min_size=0, max_size=4))
def test_a_point_by_index_is_the_one_in_the_list_of_all(sizes):
    grid = tuple((f"k{d}", tuple(range(n))) for d, n in enumerate(sizes))
    texts = tuple(tuple(f"t{d}.{i}" for i in range(n)) for d, n in enumerate(sizes))
    spec = SweepSpec({}, "<dict>", ".", "x", (1,), ("static",), grid, texts)
    listed = spec.points
    labels = [", ".join(f"k{d}={t}" for d, t in enumerate(combo))
              for combo in itertools.product(*texts)]
    assert spec.n_points == len(listed)
    for p in range(spec.n_points):
        assert spec.point(p) == listed[p]
        assert spec.point_label(p) == (labels[p] if sizes else "")


def test_checking_the_grid_reports_its_progress(tmp_path):
    scenario = sweepkit.write(tmp_path)
    told = []
    spec = prepare_sweep(scenario, seeds="1", policies=["static"],
                         sets=["alpha=" + ",".join(f"0.{i:03d}" for i in range(1, 151))],
                         checked=lambda done, total: told.append((done, total)))
    assert spec.n_points == 150
    assert told == [(CHECK_EVERY, 150), (150, 150)]
