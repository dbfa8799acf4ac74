"""Max-min fair link sharing: hand-worked cases and the properties that define it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop.core.errors import ConfigError
from greenhop.fleet.linkshare import fair_rates, fair_rates_pairs

G = 1e9
TOL = 1e-6


def _route(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=bool).reshape(len(rows), -1)


# ----------------------------------------------------------------- hand-worked cases
def test_three_flows_over_two_links():
    # Flow 0 on link A (10 G), flow 2 on link B (4 G), flow 1 on both.
    # B saturates first at 2 G each (flows 1, 2); flow 0 then fills A: 10 - 2 = 8 G.
    rates = fair_rates(_route([[1, 0], [1, 1], [0, 1]]), np.array([10 * G, 4 * G]))
    assert rates == pytest.approx([8 * G, 2 * G, 2 * G])


def test_ten_gigabit_link_left_with_no_unused_capacity():
    # The equal-split rule gave flow 0 half of the 10 G link (5 G) although flow 1
    # can use only 2 G there: 3 G stayed unused. Max-min fair leaves none unused.
    route = _route([[1, 0], [1, 1], [0, 1]])
    cap = np.array([10 * G, 4 * G])
    rates = fair_rates(route, cap)
    load = route.T.astype(float) @ rates
    assert load[0] == pytest.approx(cap[0])
    assert load[1] == pytest.approx(cap[1])


def test_narrower_link_elsewhere_frees_capacity():
    # Three flows share a 9 G link; flow 2 also crosses a 1 G link, so it gets 1 G
    # and the other two split the remaining 8 G.
    rates = fair_rates(_route([[1, 0], [1, 0], [1, 1]]), np.array([9 * G, 1 * G]))
    assert rates == pytest.approx([4 * G, 4 * G, 1 * G])


def test_ceiling_frees_capacity_for_the_others():
    # Same link, flow 2 limited to 0.5 G by its own (TCP) ceiling.
    rates = fair_rates(_route([[1], [1], [1]]), np.array([9 * G]),
                       np.array([np.inf, np.inf, 0.5 * G]))
    assert rates == pytest.approx([4.25 * G, 4.25 * G, 0.5 * G])


def test_flows_on_no_link_get_their_ceiling():
    rates = fair_rates(np.zeros((2, 3), dtype=bool), np.array([1.0, 2.0, 3.0]),
                       np.array([7.0, np.inf]))
    assert rates[0] == 7.0 and np.isinf(rates[1])


def test_infinite_links_do_not_bind():
    rates = fair_rates(_route([[1, 1], [0, 1]]), np.array([4 * G, np.inf]))
    assert rates[0] == pytest.approx(4 * G) and np.isinf(rates[1])


def test_zero_capacity_link_gives_zero():
    rates = fair_rates(_route([[1, 1], [1, 0]]), np.array([6 * G, 0.0]))
    assert rates == pytest.approx([0.0, 6 * G])


def test_empty_inputs():
    assert fair_rates(np.zeros((0, 4), dtype=bool), np.ones(4)).shape == (0,)
    assert fair_rates(np.zeros((0, 0), dtype=bool), np.zeros(0)).shape == (0,)


def test_pairs_form_equals_dense_form():
    route = _route([[1, 0, 1], [1, 1, 0], [0, 1, 1], [0, 0, 0]])
    cap = np.array([3.0, 5.0, 4.0])
    ceiling = np.array([np.inf, 1.0, np.inf, 2.0])
    f, li = np.nonzero(route)
    np.testing.assert_allclose(fair_rates_pairs(f, li, 4, cap, ceiling),
                               fair_rates(route, cap, ceiling))


@pytest.mark.parametrize("args, where", [
    ((np.ones(3, dtype=bool), np.ones(3)), "route"),
    ((np.ones((2, 3), dtype=bool), np.ones(2)), "capacity_bps"),
    ((np.ones((2, 3), dtype=bool), np.array([1.0, -1.0, 1.0])), "capacity"),
    ((np.ones((2, 3), dtype=bool), np.ones(3), np.ones(3)), "cap_bps"),
    ((np.ones((2, 3), dtype=bool), np.ones(3), np.array([1.0, np.nan])), "ceiling"),
])
def test_bad_input_is_a_clear_config_error(args, where):
    with pytest.raises(ConfigError, match=where):
        fair_rates(*args)


# ------------------------------------------------------------------- properties
@st.composite
def problems(draw, max_flows=12, max_links=8):
    n_f = draw(st.integers(0, max_flows))
    n_l = draw(st.integers(1, max_links))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    route = rng.random((n_f, n_l)) < draw(st.sampled_from([0.2, 0.4, 0.7]))
    # Coarse capacities make ties (several links saturating at once) common.
    levels = [0.0, 1.0, 2.0, 3.0, 5.0, 10.0, np.inf]
    cap = rng.choice(levels, n_l, p=[.05, .2, .2, .15, .15, .15, .1]) * G
    ceiling = np.where(rng.random(n_f) < 0.3, rng.choice([0.5, 1.0, 2.5], n_f) * G, np.inf)
    return route, cap, ceiling


def _check_max_min(route, cap, ceiling, rates):
    """Feasible, and every flow has a bottleneck: the max-min fairness characterisation."""
    assert rates.shape == (route.shape[0],)
    assert (rates >= -TOL).all() and (rates <= ceiling * (1 + TOL) + TOL).all()
    finite_rates = np.where(np.isfinite(rates), rates, 0.0)
    load = route.T.astype(float) @ finite_rates
    assert (load <= cap * (1 + TOL) + TOL).all()
    saturated = load >= cap * (1 - TOL) - TOL
    for f in range(route.shape[0]):
        if rates[f] >= ceiling[f] * (1 - TOL):
            continue  # at its own ceiling
        links = np.flatnonzero(route[f] & np.isfinite(cap))
        assert links.size, "a flow below its ceiling must cross a finite link"
        ok = False
        for k in links:
            if saturated[k] and rates[f] >= rates[route[:, k]].max() * (1 - TOL) - TOL:
                ok = True
                break
        assert ok, f"flow {f} at {rates[f]} has no bottleneck"


def _reference(route, cap, ceiling):
    """Textbook serial progressive filling: one saturation or ceiling event per round."""
    n_f = route.shape[0]
    rates = np.zeros(n_f)
    active = route.any(axis=1) & (route & np.isfinite(cap)).any(axis=1)
    rates[~active] = ceiling[~active]
    while active.any():
        # A frozen flow at inf crosses infinite links only: it loads no finite link.
        load = route.T.astype(float) @ np.where(active | np.isinf(rates), 0.0, rates)
        n = route[active].sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lvl = np.where(n > 0, (cap - load) / n, np.inf)
        t = min(lvl.min(), ceiling[active].min())
        sat = lvl <= t * (1 + 1e-12)
        hit = active & ((route[:, sat].any(axis=1)) | (ceiling <= t * (1 + 1e-12)))
        rates[hit] = np.minimum(t, ceiling[hit])
        active &= ~hit
    return rates


@settings(max_examples=300, deadline=None)
@given(problems())
def test_feasible_and_every_flow_has_a_bottleneck(problem):
    route, cap, ceiling = problem
    _check_max_min(route, cap, ceiling, fair_rates(route, cap, ceiling))


@settings(max_examples=200, deadline=None)
@given(problems())
def test_equals_serial_progressive_filling(problem):
    route, cap, ceiling = problem
    np.testing.assert_allclose(fair_rates(route, cap, ceiling), _reference(route, cap, ceiling),
                               rtol=1e-9, atol=1e-3)


@settings(max_examples=100, deadline=None)
@given(problems(), st.integers(0, 2**32 - 1))
def test_symmetry_permuting_flows_or_links_permutes_rates(problem, seed):
    route, cap, ceiling = problem
    rng = np.random.default_rng(seed)
    pf = rng.permutation(route.shape[0])
    pl = rng.permutation(route.shape[1])
    base = fair_rates(route, cap, ceiling)
    perm = fair_rates(route[pf][:, pl], cap[pl], ceiling[pf])
    np.testing.assert_allclose(perm, base[pf], rtol=1e-9, atol=1e-3)


@settings(max_examples=100, deadline=None)
@given(problems())
def test_identical_flows_get_identical_rates(problem):
    route, cap, ceiling = problem
    if route.shape[0] == 0:
        return
    twin_route = np.vstack([route, route[:1]])
    rates = fair_rates(twin_route, cap, np.r_[ceiling, ceiling[:1]])
    assert rates[-1] == pytest.approx(rates[0], rel=1e-9, abs=1e-3)


@settings(max_examples=100, deadline=None)
@given(problems(), st.sampled_from([0.5, 2.0, 1e3]))
def test_scaling_capacities_and_ceilings_scales_rates(problem, k):
    route, cap, ceiling = problem
    np.testing.assert_allclose(fair_rates(route, cap * k, ceiling * k),
                               fair_rates(route, cap, ceiling) * k, rtol=1e-9, atol=1e-3)


@settings(max_examples=150, deadline=None)
@given(problems(), st.integers(0, 100), st.sampled_from([1.5, 4.0]))
def test_more_capacity_or_fewer_flows_never_lowers_the_smallest_rate(problem, pick, grow):
    # Max-min fairness maximises the sorted rate vector lexicographically, so enlarging
    # the feasible set (a wider link, one flow fewer) never lowers the minimum rate.
    # (Single rates may drop: that is the known non-monotonicity of max-min fairness.)
    route, cap, ceiling = problem
    if route.shape[0] == 0:
        return
    base = fair_rates(route, cap, ceiling)
    wider = cap.copy()
    wider[pick % cap.size] *= grow
    assert fair_rates(route, wider, ceiling).min() >= base.min() * (1 - 1e-9) - 1e-3
    if route.shape[0] > 1:
        keep = np.arange(route.shape[0]) != pick % route.shape[0]
        assert fair_rates(route[keep], cap, ceiling[keep]).min() >= base.min() * (1 - 1e-9) - 1e-3


def test_large_sparse_problem_is_max_min_fair():
    # The size the fleet engine may see: 1,000 flows of 5 hops over 10,000 links,
    # contention concentrated on 300 of them.
    rng = np.random.default_rng(7)
    n_f, n_l = 1000, 10_000
    route = np.zeros((n_f, n_l), dtype=bool)
    for f in range(n_f):
        route[f, rng.choice(300, 3, replace=False)] = True
        route[f, rng.choice(n_l, 2, replace=False)] = True
    cap = rng.uniform(1, 100, n_l) * G
    ceiling = np.where(rng.random(n_f) < 0.2, rng.uniform(0.05, 1, n_f) * G, np.inf)
    _check_max_min(route, cap, ceiling, fair_rates(route, cap, ceiling))
