"""Statistics over seeds (greenhop.sim.stats) on cases with known answers, and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop.sim import stats

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_constant_data_has_a_zero_width_interval_at_the_value():
    d = stats.describe([3.5] * 12)
    assert d["n"] == 12
    assert d["mean"] == 3.5
    assert d["ci_lo"] == d["ci_hi"] == 3.5
    assert d["half_width"] == 0.0


def test_one_value_has_a_mean_but_no_interval_and_none_has_neither():
    assert stats.describe([2.0]) == {"n": 1, "mean": 2.0, "ci_lo": None, "ci_hi": None,
                                     "half_width": None}
    assert stats.describe([None, float("nan")])["mean"] is None


def test_missing_values_are_left_out():
    assert stats.describe([1.0, None, 3.0, float("nan")])["mean"] == 2.0
    assert stats.describe([1.0, None, 3.0])["n"] == 2


def test_interval_is_reproducible_and_depends_on_the_seed_only():
    x = list(np.random.default_rng(5).normal(10, 2, 20))
    a = stats.bootstrap_ci(x)
    stats.bootstrap_ci(list(range(7)))  # other work in between changes nothing
    assert stats.bootstrap_ci(x) == a
    assert stats.bootstrap_ci(x, seed=1) != a


def test_two_points_give_the_exact_bootstrap_percentiles():
    # resample means of [0, 1] are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 2.5th
    # and 97.5th percentiles of 2,000 draws are 0 and 1
    assert stats.bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)


def test_interval_of_a_normal_sample_is_close_to_the_textbook_one():
    rng = np.random.default_rng(11)
    x = rng.normal(100.0, 10.0, 400)
    lo, hi = stats.bootstrap_ci(x)
    se = x.std(ddof=1) / math.sqrt(x.size)
    assert lo == pytest.approx(x.mean() - 1.96 * se, abs=0.25 * se)
    assert hi == pytest.approx(x.mean() + 1.96 * se, abs=0.25 * se)


def test_interval_narrows_with_more_seeds():
    rng = np.random.default_rng(3)
    small = stats.describe(rng.normal(0, 1, 10))["half_width"]
    large = stats.describe(rng.normal(0, 1, 1000))["half_width"]
    assert large < small / 4


def test_paired_shift_of_one_on_every_seed():
    b = [3.0, 10.0, -2.0, 7.5, 0.25]
    a = [v + 1.0 for v in b]
    d = stats.paired_difference(a, b)
    assert d["mean"] == pytest.approx(1.0)
    assert d["ci_lo"] == pytest.approx(1.0) and d["ci_hi"] == pytest.approx(1.0)
    assert d["share_a_lt_b_pct"] == 0.0
    assert stats.paired_difference(b, a)["share_a_lt_b_pct"] == 100.0
    assert stats.paired_difference(b, a)["mean"] == pytest.approx(-1.0)


def test_paired_differences_skip_seeds_missing_a_side():
    d = stats.paired_difference([1.0, None, 5.0, 2.0], [0.0, 4.0, 6.0, None])
    assert d["n"] == 2
    assert d["mean"] == pytest.approx(0.0)
    assert d["share_a_lt_b_pct"] == 50.0
    with pytest.raises(ValueError, match="one per seed"):
        stats.paired_difference([1.0], [1.0, 2.0])


def test_pairing_removes_the_shared_seed_effect():
    # a seed effect much larger than the policy effect: unpaired intervals overlap, the
    # paired one excludes zero
    rng = np.random.default_rng(7)
    seed_effect = rng.normal(0, 50, 30)
    a = seed_effect + 1.0 + rng.normal(0, 0.1, 30)
    b = seed_effect
    da, db = stats.describe(a), stats.describe(b)
    assert da["ci_lo"] < db["ci_hi"]
    d = stats.paired_difference(a, b)
    assert d["ci_lo"] > 0.9 and d["ci_hi"] < 1.1


@settings(max_examples=200, deadline=None)
@given(st.lists(finite, min_size=2, max_size=40))
def test_property_interval_contains_the_mean(values):
    d = stats.describe(values)
    tol = 1e-9 * max(1.0, max(abs(v) for v in values))
    assert d["ci_lo"] - tol <= d["mean"] <= d["ci_hi"] + tol
    assert d["half_width"] >= 0


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=1, max_size=40))
def test_property_paired_difference_of_a_with_itself_is_zero(values):
    d = stats.paired_difference(values, values)
    assert d["mean"] == 0.0
    assert d["share_a_lt_b_pct"] == 0.0
    if len(values) >= 2:
        assert d["ci_lo"] == d["ci_hi"] == 0.0


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=2, max_size=30), finite)
def test_property_shifting_the_data_shifts_the_interval(values, shift):
    a = stats.describe(values)
    b = stats.describe([v + shift for v in values])
    tol = 1e-6 * (1 + abs(shift) + max(abs(v) for v in values))
    assert b["mean"] == pytest.approx(a["mean"] + shift, abs=tol)
    assert b["ci_lo"] == pytest.approx(a["ci_lo"] + shift, abs=tol)
    assert b["ci_hi"] == pytest.approx(a["ci_hi"] + shift, abs=tol)
