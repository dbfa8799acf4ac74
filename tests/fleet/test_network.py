"""Directed full-duplex links: routing, max-min fair transfer rates, what policies see."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop.core.specs import LinkSpec
from greenhop.fleet.linkshare import fair_rates
from greenhop.fleet.network import LinkLoad, build_network, link_info

G = 1e9


def _net(names, links):
    return build_network(tuple(names), tuple(links))


def test_shortest_path_routing_over_hops():
    links = (LinkSpec("a", "b", 10e9, rtt_s=0.01, network_j_per_bit=1e-7),
             LinkSpec("b", "c", 1e9, rtt_s=0.01, efficiency=0.5, network_j_per_bit=2e-7),
             LinkSpec("a", "c", 100e9, rtt_s=0.5))
    net = _net("abcd", links)
    # a -> c goes via b (20 ms) rather than the direct 500 ms link.
    assert net.hops[0, 2] == 2
    assert net.rtt_s[0, 2] == pytest.approx(0.02)
    assert net.bandwidth_bps[0, 2] == 1e9 and net.efficiency[0, 2] == 0.5
    assert net.j_per_bit[0, 2] == pytest.approx(3e-7)
    # Directed links: 2k is a -> b of scenario link k, 2k + 1 is b -> a.
    assert net.n_links == 6
    assert net.link_src.tolist() == [0, 1, 1, 2, 0, 2]
    assert net.link_dst.tolist() == [1, 0, 2, 1, 2, 0]
    assert net.route[0 * 4 + 2].tolist() == [True, False, True, False, False, False]
    assert net.route[2 * 4 + 0].tolist() == [False, True, False, True, False, False]
    # d is unreachable.
    assert net.hops[0, 3] == -1 and net.bandwidth_bps[0, 3] == 0
    assert not net.route[0 * 4 + 3].any()


def test_opposite_directions_do_not_contend():
    net = _net("ab", [LinkSpec("a", "b", 10 * G, efficiency=1.0)])
    rates, counts = net.transfer_rates_bps(np.array([0, 1]), np.array([1, 0]))
    assert rates.tolist() == pytest.approx([10 * G, 10 * G])
    assert counts.tolist() == [1, 1]
    # The same direction twice does share.
    rates, counts = net.transfer_rates_bps(np.array([0, 0, 1]), np.array([1, 1, 0]))
    assert rates.tolist() == pytest.approx([5 * G, 5 * G, 10 * G])
    assert counts.tolist() == [2, 1]


def test_ten_gigabit_link_is_not_left_partly_unused():
    # a -> b and a -> c share the 10 G a -> b link; a -> c and b -> c the 4 G b -> c link.
    # Equal split gave a -> b 5 G and left 3 G of its link unused; max-min gives it 8 G.
    net = _net("abc", [LinkSpec("a", "b", 10 * G, efficiency=1.0),
                       LinkSpec("b", "c", 4 * G, efficiency=1.0)])
    rates, counts = net.transfer_rates_bps(np.array([0, 0, 1]), np.array([1, 2, 2]))
    assert counts.tolist() == [2, 0, 2, 0]
    assert rates.tolist() == pytest.approx([8 * G, 2 * G, 2 * G])


def test_three_site_triangle_worked_by_hand():
    # Triangle a-b (6 G), b-c (3 G), a-c (9 G, but 200 ms: a -> c routes via b, 20 ms).
    # Transfers: a -> b, a -> c (via a->b, b->c), b -> c, c -> a (c->b, b->a), b -> a.
    # b -> c carries a -> c and b -> c: 1.5 G each. a -> b: a -> b gets 6 - 1.5 = 4.5 G.
    # c -> b carries c -> a alone: 3 G; b -> a then carries c -> a (3 G) and b -> a: 3 G.
    net = _net("abc", [LinkSpec("a", "b", 6 * G, rtt_s=0.01, efficiency=1.0),
                       LinkSpec("b", "c", 3 * G, rtt_s=0.01, efficiency=1.0),
                       LinkSpec("a", "c", 9 * G, rtt_s=0.2, efficiency=1.0)])
    src = np.array([0, 0, 1, 2, 1])
    dst = np.array([1, 2, 2, 0, 0])
    rates, counts = net.transfer_rates_bps(src, dst)
    assert rates.tolist() == pytest.approx([4.5 * G, 1.5 * G, 1.5 * G, 3 * G, 3 * G])
    assert counts.tolist() == [2, 2, 2, 1, 0, 0]
    # The direct a <-> c link is on no route: every other link is saturated.
    load = net.route[src * 3 + dst].T.astype(float) @ rates
    assert load[:4] == pytest.approx(net.link_eff_bps[:4])


def test_lossy_path_is_capped_by_tcp_and_frees_capacity():
    net = _net("abc", [LinkSpec("a", "b", 100 * G, rtt_s=0.1, loss=1e-4, efficiency=1.0,
                                streams=2),
                       LinkSpec("b", "c", 100 * G, rtt_s=0.0, efficiency=1.0)])
    mathis = 1460 * 8 / 0.1 * np.sqrt(1.5) / np.sqrt(1e-4)
    rate, _ = net.transfer_rates_bps(np.array([0]), np.array([1]))
    assert rate[0] == pytest.approx(2 * mathis)
    # a -> c (lossy, capped) shares b -> c with b -> c (clean): the latter gets the rest.
    rates, _ = net.transfer_rates_bps(np.array([0, 1]), np.array([2, 2]))
    assert rates.tolist() == pytest.approx([2 * mathis, 100 * G - 2 * mathis])


@st.composite
def fleets(draw):
    n = draw(st.integers(2, 6))
    names = [f"s{i}" for i in range(n)]
    pairs = list(itertools.combinations(range(n), 2))
    chosen = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=len(pairs) + 2))
    links = [LinkSpec(names[a], names[b], draw(st.sampled_from([1, 2.5, 10, 40])) * G,
                      rtt_s=draw(st.sampled_from([0.001, 0.01, 0.02, 0.05, 0.1])),
                      efficiency=draw(st.sampled_from([0.5, 0.9, 1.0])))
             for a, b in chosen]
    return names, links


def _all_pairs_rtt(n, links, names):
    """Reference shortest RTTs by repeated relaxation (Bellman-Ford)."""
    idx = {s: i for i, s in enumerate(names)}
    dist = np.full((n, n), np.inf)
    np.fill_diagonal(dist, 0.0)
    for _ in range(n):
        for lk in links:
            a, b = idx[lk.a], idx[lk.b]
            dist[:, b] = np.minimum(dist[:, b], dist[:, a] + lk.rtt_s)
            dist[:, a] = np.minimum(dist[:, a], dist[:, b] + lk.rtt_s)
    return dist


@settings(max_examples=100, deadline=None)
@given(fleets())
def test_routes_are_shortest_directed_paths(fleet):
    names, links = fleet
    n = len(names)
    net = _net(names, links)
    ref = _all_pairs_rtt(n, links, names)
    for s, d in itertools.product(range(n), range(n)):
        row = net.route[s * n + d]
        if s == d or not np.isfinite(ref[s, d]):
            assert not row.any()
            assert net.hops[s, d] == (0 if s == d else -1)
            continue
        assert net.rtt_s[s, d] == pytest.approx(ref[s, d], abs=1e-6)
        # The directed links chain from s to d, each leaving where the last one ended.
        used = np.flatnonzero(row)
        assert used.size == net.hops[s, d]
        at, seen = s, 0
        while at != d:
            nxt = [k for k in used if net.link_src[k] == at]
            assert len(nxt) == 1
            at = int(net.link_dst[nxt[0]])
            seen += 1
        assert seen == used.size
        # The CSR index lists are the same routes.
        lo, hi = net.route_ptr[s * n + d], net.route_ptr[s * n + d + 1]
        assert sorted(net.route_links[lo:hi].tolist()) == used.tolist()
        # The path's bandwidth is its bottleneck's.
        assert net.bandwidth_bps[s, d] * net.efficiency[s, d] == pytest.approx(
            net.link_eff_bps[used].min())


@settings(max_examples=80, deadline=None)
@given(fleets(), st.integers(0, 2**32 - 1))
def test_transfer_rates_are_fair_rates_over_the_directed_routes(fleet, seed):
    names, links = fleet
    n = len(names)
    net = _net(names, links)
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n, 12)
    dst = rng.integers(0, n, 12)
    rates, counts = net.transfer_rates_bps(src, dst)
    route = net.route[src * n + dst]
    np.testing.assert_allclose(rates, fair_rates(route, net.link_eff_bps,
                                                 net.tcp_cap_bps[src, dst]))
    assert counts.tolist() == route.sum(axis=0).tolist()
    load = route.T.astype(float) @ np.where(np.isfinite(rates), rates, 0.0)
    assert (load <= net.link_eff_bps * (1 + 1e-9)).all()


@settings(max_examples=80, deadline=None)
@given(fleets(), st.integers(0, 2**32 - 1))
def test_shared_rate_is_the_newcomers_max_min_rate(fleet, seed):
    names, links = fleet
    n = len(names)
    net = _net(names, links)
    rng = np.random.default_rng(seed)
    load = LinkLoad(net, write_Bps=1e9, read_Bps=1e9, startup_s=10.0)
    k = int(rng.integers(0, 8))
    src, dst = rng.integers(0, n, k), rng.integers(0, n, k)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    load.update(src, dst)
    info = load.info
    assert info.active_transfers.tolist() == net.route[src * n + dst].sum(axis=0).tolist()
    cs, cd = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    got = info.shared_rate_bps(cs, cd)
    assert got.shape == (n, n)
    # The old per-link rule stays a lower bound of the newcomer's fair rate.
    bare = link_info(net, load.active_transfers, write_Bps=1e9, read_Bps=1e9, startup_s=10.0)
    lower = bare.shared_rate_bps(cs, cd)
    for s, d in itertools.product(range(n), range(n)):
        if s == d or net.hops[s, d] < 0:
            assert np.isinf(got[s, d])
            continue
        route = net.route[np.r_[src * n + dst, s * n + d]]
        ceiling = np.r_[net.tcp_cap_bps[src, dst], np.inf]
        assert got[s, d] == pytest.approx(fair_rates(route, net.link_eff_bps, ceiling)[-1])
        assert lower[s, d] <= got[s, d] * (1 + 1e-9)
    # Transfers decided this step, given per directed link, count as one-hop flows; the
    # direct call on a few pairs agrees with the table LinkInfo keeps for small fleets.
    extra = rng.integers(0, 3, net.n_links) * (rng.random(net.n_links) < 0.3)
    with_extra = info.shared_rate_bps(cs, cd, extra)
    one_hop = np.eye(net.n_links, dtype=bool)[np.repeat(np.arange(net.n_links), extra)]
    pick = rng.integers(0, n, (2, 5))
    np.testing.assert_allclose(net.newcomer_rates_bps(pick[0], pick[1], load.in_flight, extra),
                               with_extra[pick[0], pick[1]])
    for s, d in itertools.product(range(n), range(n)):
        if s == d or net.hops[s, d] < 0:
            continue
        route = np.vstack([net.route[src * n + dst], one_hop, net.route[s * n + d][None]])
        ceiling = np.r_[net.tcp_cap_bps[src, dst], np.full(len(one_hop), np.inf), np.inf]
        assert with_extra[s, d] == pytest.approx(
            fair_rates(route, net.link_eff_bps, ceiling)[-1])


def test_shared_rate_with_transfers_decided_this_step():
    net = _net("abc", [LinkSpec("a", "b", 10 * G, efficiency=1.0),
                       LinkSpec("b", "c", 4 * G, efficiency=1.0)])
    load = LinkLoad(net, write_Bps=1e9, read_Bps=1e9, startup_s=10.0)
    info = load.info
    assert info.shared_rate_bps(np.array([0]), np.array([1])).tolist() == [10 * G]
    load.update(np.array([0]), np.array([2]))        # a -> c in flight, 4 G
    # A newcomer a -> b shares a -> b with a -> c, which b -> c holds at 4 G: 6 G left.
    assert info.shared_rate_bps(np.array([0]), np.array([1])) == pytest.approx([6 * G])
    # Opposite direction b -> a is free.
    assert info.shared_rate_bps(np.array([1]), np.array([0])) == pytest.approx([10 * G])
    # One more transfer decided on a -> b this step: three flows on a -> b saturate it at
    # 10/3 G each, before a -> c reaches the 4 G that b -> c would allow it.
    extra = net.route[0 * 3 + 1].astype(np.int64)
    assert info.shared_rate_bps(np.array([0]), np.array([1]), extra) == pytest.approx([10 / 3 * G])
    # Two more: four flows at 2.5 G each.
    assert info.shared_rate_bps(np.array([0]), np.array([1]), 2 * extra) == pytest.approx([2.5 * G])
    load.clear()
    assert info.shared_rate_bps(np.array([0]), np.array([2])) == pytest.approx([4 * G])
    assert not info.active_transfers.any()


def test_network_without_links():
    net = _net("ab", [])
    assert net.n_links == 0 and net.hops[0, 1] == -1
    rates, counts = net.transfer_rates_bps(np.array([0, 0]), np.array([1, 0]))
    assert np.isinf(rates).all() and counts.size == 0
    load = LinkLoad(net, write_Bps=1e9, read_Bps=1e9, startup_s=0.0)
    assert np.isinf(load.info.shared_rate_bps(np.array([0]), np.array([1]))).all()


def test_shared_rate_on_a_large_fleet_is_the_per_link_lower_bound():
    # 40 sites in a line (1,600 pairs: past the size where LinkInfo solves every pair): the
    # policies get the per-link rule, a lower bound of the exact newcomer rate.
    names = [f"s{i}" for i in range(40)]
    links = [LinkSpec(names[i], names[i + 1], (1 + i % 3) * G, efficiency=1.0)
             for i in range(39)]
    net = _net(names, links)
    load = LinkLoad(net, write_Bps=1e9, read_Bps=1e9, startup_s=0.0)
    load.update(np.array([0, 5, 20, 39]), np.array([10, 6, 30, 35]))
    cs, cd = np.array([1, 3, 25, 7, 38]), np.array([8, 2, 35, 7, 39])
    assert load.info.fair_share is None
    got = load.info.shared_rate_bps(cs, cd)
    assert np.isinf(got[3])
    exact = net.newcomer_rates_bps(cs, cd, load.in_flight)
    for k in (0, 1, 2, 4):
        route = net.route[np.r_[load.in_flight.nonzero()[0], cs[k] * 40 + cd[k]]]
        assert exact[k] == pytest.approx(fair_rates(route, net.link_eff_bps)[-1])
        assert got[k] <= exact[k] * (1 + 1e-12)
        paths = net.route[cs[k] * 40 + cd[k]]
        rule = (net.link_eff_bps / (load.active_transfers + 1))[paths].min()
        assert got[k] == pytest.approx(rule)
    # 3 -> 2 runs against 0 -> 10 on the same cable: it has its direction to itself.
    assert got[1] == pytest.approx(net.link_eff_bps[2 * 2 + 1])


@st.composite
def sparse_fleets(draw):
    """Up to 12 sites with few links, so the flows in flight fall into several components."""
    n = draw(st.integers(2, 12))
    names = [f"s{i}" for i in range(n)]
    pairs = list(itertools.combinations(range(n), 2))
    chosen = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=n + 2))
    links = [LinkSpec(names[a], names[b], draw(st.sampled_from([1, 2.5, 10, 40])) * G,
                      rtt_s=draw(st.sampled_from([0.001, 0.01, 0.02, 0.05])),
                      efficiency=draw(st.sampled_from([0.5, 0.9, 1.0])),
                      loss=draw(st.sampled_from([0.0, 0.0, 1e-5, 1e-3])))
             for a, b in chosen]
    return names, links


@settings(max_examples=80, deadline=None)
@given(sparse_fleets(), st.integers(0, 2**32 - 1))
def test_newcomer_rate_from_its_components_is_the_rate_among_all_flows(fleet, seed):
    # Each newcomer's problem holds only the flows of the components its links touch; the
    # rate must be the one it gets among every flow in flight (lossy ones at their TCP
    # bound, several on one pair, src == dst, one-hop stand-ins), and must follow the
    # in-flight counts when they change in place.
    names, links = fleet
    n = len(names)
    net = _net(names, links)
    rng = np.random.default_rng(seed)
    in_flight = np.zeros(n * n, dtype=np.int64)
    cs, cd = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    cs, cd = cs.reshape(-1), cd.reshape(-1)
    reach = (cs != cd) & (net.hops[cs, cd] > 0)
    for _ in range(3):
        in_flight[:] = 0
        np.add.at(in_flight, rng.integers(0, n * n, int(rng.integers(0, 2 * n))),
                  rng.integers(1, 3))
        extra = None
        if rng.random() < 0.5:
            extra = rng.integers(0, 3, net.n_links) * (rng.random(net.n_links) < 0.3)
        got = net.newcomer_rates_bps(cs, cd, in_flight, extra)
        assert np.isinf(got[~reach]).all()
        rows = np.repeat(np.arange(n * n), in_flight)
        route = net.route[rows]
        ceiling = net.tcp_cap_bps.reshape(-1)[rows]
        if extra is not None:
            route = np.vstack([route, np.eye(net.n_links, dtype=bool)[
                np.repeat(np.arange(net.n_links), extra)]])
            ceiling = np.r_[ceiling, np.full(route.shape[0] - rows.size, np.inf)]
        for k in np.flatnonzero(reach):
            full = np.vstack([route, net.route[cs[k] * n + cd[k]][None]])
            want = fair_rates(full, net.link_eff_bps, np.r_[ceiling, np.inf])[-1]
            assert got[k] == pytest.approx(want, rel=1e-9)
        # The unrestricted batched solve (every flow in every problem) agrees as well.
        o_flow, o_link = np.divmod(np.flatnonzero(route), max(net.n_links, 1))
        rows_k = cs[reach] * n + cd[reach]
        if rows_k.size:
            ref = net._batched_newcomers(rows_k, o_flow, o_link, ceiling)
            np.testing.assert_allclose(got[reach], ref, rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 6))
def test_lower_bound_share_is_the_narrowest_link_share_on_the_path(seed, n_links):
    """Without the mechanism's fair-share table, a newcomer's rate is min over its path of
    link rate / (transfers there + extra + 1), inf off-path; any shape broadcasts."""
    from greenhop.core.observation import LinkInfo

    rng = np.random.default_rng(seed)
    n = 4
    route = rng.random((n * n, n_links)) < 0.4
    route[np.arange(n) * n + np.arange(n)] = False
    active = rng.integers(0, 3, n_links).astype(float)
    rate = rng.choice([1e9, 2e9, 5e9], n_links)  # ties on purpose
    zeros = np.zeros((n, n))
    info = LinkInfo(zeros, zeros, zeros, zeros, zeros, zeros, zeros, active, rate, route,
                    1e9, 1e9, 1.0)
    extra = rng.integers(0, 2, n_links).astype(float)
    share = rate / (active + extra + 1)
    for rows, cols in ((3, 5), (30, 20)):  # few pairs, and many (two code paths)
        src = rng.integers(0, n, (rows, 1))
        dst = rng.integers(0, n, (1, cols))
        got = info.shared_rate_bps(src, dst, extra)
        assert got.shape == (rows, cols)
        for i, j in itertools.product(range(rows), range(cols)):
            on = route[src[i, 0] * n + dst[0, j]]
            want = share[on].min() if on.any() else np.inf
            assert got[i, j] == want
