"""The WAN as a directed graph: shortest-path routes, per-path figures, fair link sharing.

Links are full duplex: a scenario link ``a <-> b`` of bandwidth ``B`` is two directed
links, ``a -> b`` and ``b -> a``, of ``B`` each, so transfers in opposite directions
never contend. Directed link ``2k`` is ``a -> b`` of scenario link ``k`` and ``2k + 1``
is ``b -> a``; every per-link array has one entry per directed link (``D = 2 x links``).

Routes minimise the summed round-trip time (ties: fewer hops), computed once with
Floyd-Warshall over the sites. A path's nominal bandwidth and efficiency are those of
its bottleneck link (the smallest ``efficiency x bandwidth``); its RTT and energy per
bit add up over the hops; its loss is ``1 - prod(1 - loss_hop)``.

Transfers in flight share the directed links max-min fairly
(:func:`greenhop.fleet.linkshare.fair_rates`), each capped by its path's TCP bound
when the path is lossy: capacity a transfer cannot use (held back by a narrower link
elsewhere or by its own bound) goes to the others. Both mechanisms (the simulator
and the live orchestrator) hand policies the same
:class:`~greenhop.core.observation.LinkInfo`, built by :func:`link_info` or kept live
by :class:`LinkLoad`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from greenhop.core.observation import LinkInfo
from greenhop.core.readonly import readonly
from greenhop.core.specs import LinkSpec
from greenhop.fleet.linkshare import fair_rates_pairs
from greenhop.model import constants as C
from greenhop.model.feasibility import mathis_bps


@dataclass(frozen=True)
class Network:
    """Routing tables of a fleet (``S`` sites, ``D`` directed links, two per scenario link)."""

    n_sites: int
    link_eff_bps: np.ndarray       # [D] efficiency x bandwidth of each directed link
    route: np.ndarray              # [S*S, D] bool: directed links on the path from s to d
    bandwidth_bps: np.ndarray      # [S, S] bottleneck nominal rate (0: unreachable)
    efficiency: np.ndarray         # [S, S]
    rtt_s: np.ndarray              # [S, S]
    loss: np.ndarray               # [S, S]
    streams: np.ndarray            # [S, S]
    j_per_bit: np.ndarray          # [S, S]
    hops: np.ndarray               # [S, S] (-1: unreachable)
    tcp_cap_bps: np.ndarray        # [S, S] streams x Mathis bound (inf without loss)
    link_src: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # [D]
    link_dst: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # [D]
    # Routes as index lists (CSR over the S*S rows): the links of row r are
    # route_links[route_ptr[r]:route_ptr[r + 1]]; cheap to gather for many transfers.
    route_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    route_links: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # The components of the last in-flight state asked about (see newcomer_rates_bps).
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_links(self) -> int:
        """Number of directed links ``D``."""
        return int(self.link_eff_bps.shape[0])

    def pairs(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flow, directed link) incidence pairs of transfers on route rows ``rows``."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        start = self.route_ptr[rows]
        n = self.route_ptr[rows + 1] - start
        flow = np.repeat(np.arange(rows.size), n)
        # Position inside each route: 0..n-1, laid out flow after flow.
        offs = np.arange(flow.size) - np.repeat(np.cumsum(n) - n, n)
        return flow, self.route_links[np.repeat(start, n) + offs]

    def transfer_rates_bps(self, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Max-min fair rates [bit/s] of concurrent transfers ``src -> dst``.

        Each transfer is capped by its path's TCP bound. Returns the rates and the
        number of transfers on each directed link ``[D]``.
        """
        src = np.asarray(src, dtype=np.int64).reshape(-1)
        dst = np.asarray(dst, dtype=np.int64).reshape(-1)
        flow, link = self.pairs(src * self.n_sites + dst)
        counts = np.bincount(link, minlength=self.n_links)
        rates = fair_rates_pairs(flow, link, src.size, self.link_eff_bps,
                                 self.tcp_cap_bps[src, dst], n_links=self.n_links)
        return rates, counts

    def newcomer_rates_bps(self, src: np.ndarray, dst: np.ndarray, in_flight: np.ndarray,
                           extra_links: np.ndarray | None = None) -> np.ndarray:
        """Max-min fair rate [bit/s] one more transfer ``src -> dst`` would get, for each pair.

        ``in_flight`` ``[S*S]`` counts the transfers in flight per route row (capped by their
        TCP bounds); ``extra_links`` ``[D]`` counts further transfers per directed link whose
        routes are unknown (each counts as a one-hop transfer on every link it crosses).
        The newcomer's own TCP bound is left out
        (a rate under a ceiling is ``min(ceiling, rate without it)``). ``inf`` where
        ``src == dst`` or no path exists.
        """
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        shape = np.broadcast_shapes(src.shape, dst.shape)
        rows = np.broadcast_to(src * self.n_sites + dst, shape).reshape(-1)
        out = np.full(rows.size, np.inf)
        if rows.size == 0:
            return out.reshape(shape)
        uniq, back = np.unique(rows, return_inverse=True)
        has_path = self.route_ptr[uniq + 1] > self.route_ptr[uniq]
        cand = uniq[has_path]
        res = np.full(uniq.size, np.inf)
        if cand.size:
            other = self._other_flows(in_flight, extra_links)
            # A newcomer whose links carry no other flow has them to itself.
            c_flow, c_link = self.pairs(cand)
            shared = np.zeros(cand.size, dtype=bool)
            shared[c_flow[other.link_comp[c_link] >= 0]] = True
            rate = self._bottleneck_eff(cand)
            if shared.any():
                rate[shared] = self._component_newcomers(cand[shared], other)
            res[has_path] = rate
        out[:] = res[back]
        return out.reshape(shape)

    def _bottleneck_eff(self, rows: np.ndarray) -> np.ndarray:
        flow, link = self.pairs(rows)
        best = np.full(rows.size, np.inf)
        np.minimum.at(best, flow, self.link_eff_bps[link])
        return best

    def _in_flight_components(self, in_flight: np.ndarray) -> _Components:
        """The in-flight flows grouped by connected component (kept while ``in_flight``
        stays the same)."""
        occ = np.asarray(in_flight, dtype=np.int64).reshape(-1)
        key = occ.tobytes()
        hit = self._cache.get("components")
        if hit is not None and hit[0] == key:
            return hit[1]
        # Transfers on no link (src == dst, no path) meet no one: leave them out.
        busy_rows = np.flatnonzero((occ > 0) & (self.route_ptr[1:] > self.route_ptr[:-1]))
        o_rows = np.repeat(busy_rows, occ[busy_rows])
        o_flow, o_link = self.pairs(o_rows)
        comp = _link_components(self.n_links, *self.pairs(busy_rows))
        found = _Components(flow=o_flow, link=o_link, cap=self.tcp_cap_bps.reshape(-1)[o_rows],
                            n_flows=o_rows.size, link_comp=comp,
                            n_comp=int(comp.max()) + 1 if comp.size else 0)
        self._cache["components"] = (key, found)
        return found

    def _other_flows(self, in_flight: np.ndarray, extra_links: np.ndarray | None) -> _Components:
        """The flows a newcomer may meet: the in-flight transfers, then the one-hop stand-ins
        of ``extra_links`` (each in its link's component, or alone on a link of its own)."""
        base = self._in_flight_components(in_flight)
        if extra_links is None:
            return base
        ex = np.asarray(extra_links, dtype=np.int64).reshape(-1)
        e_link = np.repeat(np.arange(ex.size), np.maximum(ex, 0))
        if e_link.size == 0:
            return base
        comp = base.link_comp.copy()
        fresh = np.unique(e_link[comp[e_link] < 0])
        comp[fresh] = base.n_comp + np.arange(fresh.size)
        return _Components(flow=np.r_[base.flow, base.n_flows + np.arange(e_link.size)],
                           link=np.r_[base.link, e_link],
                           cap=np.r_[base.cap, np.full(e_link.size, np.inf)],
                           n_flows=base.n_flows + e_link.size, link_comp=comp,
                           n_comp=base.n_comp + fresh.size)

    def _component_newcomers(self, rows: np.ndarray, other: _Components) -> np.ndarray:
        """One max-min problem per candidate row, all solved in one call: problem ``k`` holds
        the newcomer and the other flows of every component its links touch.

        Max-min fair sharing decomposes over connected components (flows linked through
        shared links, transitively): the flows of an untouched component neither meet the
        newcomer nor any flow that does, so leaving them out changes no rate.
        """
        k_n, d_n = rows.size, self.n_links
        # The other flows sorted by component: flows (and their pairs) of component c are
        # the slices flow_ptr[c]:flow_ptr[c + 1] (pair_ptr[c]:pair_ptr[c + 1]).
        f_comp = np.empty(other.n_flows, dtype=np.int64)
        f_comp[other.flow] = other.link_comp[other.link]
        f_order = np.argsort(f_comp, kind="stable")
        n_comp_flows = np.bincount(f_comp, minlength=other.n_comp)
        flow_ptr = np.r_[0, np.cumsum(n_comp_flows)]
        local = np.empty(other.n_flows, dtype=np.int64)      # rank inside its component
        local[f_order] = np.arange(other.n_flows) - flow_ptr[f_comp[f_order]]
        p_comp = f_comp[other.flow]
        p_order = np.argsort(p_comp, kind="stable")
        n_comp_pairs = np.bincount(p_comp, minlength=other.n_comp)
        pair_ptr = np.r_[0, np.cumsum(n_comp_pairs)]
        p_local, p_link = local[other.flow[p_order]], other.link[p_order]
        f_cap = other.cap[f_order]
        # (candidate, component) entries: the components each candidate's links touch.
        c_flow, c_link = self.pairs(rows)
        c_comp = other.link_comp[c_link]
        touch = c_comp >= 0
        entry = np.unique(c_flow[touch] * other.n_comp + c_comp[touch])
        e_k, e_c = np.divmod(entry, other.n_comp)
        # Problem k numbers its flows component after component; the newcomer comes last.
        e_size = n_comp_flows[e_c]
        size = np.bincount(e_k, weights=e_size, minlength=k_n).astype(np.int64) + 1
        prob_base = np.r_[0, np.cumsum(size)[:-1]]
        e_before = np.cumsum(e_size) - e_size               # flows of earlier entries
        e_base = prob_base[e_k] + e_before - (np.cumsum(size - 1) - (size - 1))[e_k]
        newcomer = prob_base + size - 1
        # Every entry's pairs and ceilings, copied from its component's slices.
        pj = np.repeat(np.arange(entry.size), n_comp_pairs[e_c])
        p_at = pair_ptr[e_c][pj] + np.arange(pj.size) - np.repeat(
            np.cumsum(n_comp_pairs[e_c]) - n_comp_pairs[e_c], n_comp_pairs[e_c])
        fj = np.repeat(np.arange(entry.size), e_size)
        f_at = flow_ptr[e_c][fj] + np.arange(fj.size) - np.repeat(e_before, e_size)
        ceiling = np.full(int(size.sum()), np.inf)
        ceiling[e_base[fj] + local[f_order[f_at]]] = f_cap[f_at]
        flow = np.r_[e_base[pj] + p_local[p_at], newcomer[c_flow]]
        glink = np.r_[e_k[pj] * d_n + p_link[p_at], c_flow * d_n + c_link]
        used, link = np.unique(glink, return_inverse=True)
        rates = fair_rates_pairs(flow, link, ceiling.size, self.link_eff_bps[used % d_n],
                                 ceiling, n_links=used.size)
        return rates[newcomer]

    def _batched_newcomers(self, rows: np.ndarray, o_flow: np.ndarray, o_link: np.ndarray,
                           o_cap: np.ndarray) -> np.ndarray:
        """Reference for :meth:`_component_newcomers`: every problem holds every other flow.

        One max-min problem per candidate row, all solved in one call: problem ``k`` has
        its own copy of the links (ids offset by ``k x D``) and of the other flows."""
        k_n, d_n, n_other = rows.size, self.n_links, o_cap.size
        per = n_other + 1                      # flows per problem; the newcomer is last
        c_flow, c_link = self.pairs(rows)
        k_o = np.repeat(np.arange(k_n), o_flow.size)
        flow = np.r_[np.tile(o_flow, k_n) + k_o * per, c_flow * per + n_other]
        link = np.r_[np.tile(o_link, k_n) + k_o * d_n, c_link + c_flow * d_n]
        cap = np.r_[np.tile(o_cap, k_n)].reshape(k_n, n_other)
        ceiling = np.c_[cap, np.full(k_n, np.inf)].reshape(-1)
        rates = fair_rates_pairs(flow, link, k_n * per, np.tile(self.link_eff_bps, k_n),
                                 ceiling, n_links=k_n * d_n)
        return rates[np.arange(k_n) * per + n_other]


@dataclass(frozen=True)
class _Components:
    """Other flows as incidence pairs, and the connected component of each directed link."""

    flow: np.ndarray        # [P] flow of each pair
    link: np.ndarray        # [P] directed link of each pair
    cap: np.ndarray         # [F] ceiling of each flow [bit/s]
    n_flows: int            # F
    link_comp: np.ndarray   # [D] component of each link (-1: carries no flow)
    n_comp: int


def _link_components(n_links: int, flow: np.ndarray, link: np.ndarray) -> np.ndarray:
    """Component id ``[D]`` of each directed link: links joined by a flow crossing both are in
    one component, transitively; ``-1`` for a link no flow crosses."""
    comp = np.full(n_links, -1, dtype=np.int64)
    if link.size == 0:
        return comp
    # Label propagation: every link takes the smallest label among the links of the flows
    # crossing it, then follows its label's own label (pointer jumping), until nothing moves.
    label = np.arange(n_links)
    n_flows = int(flow.max()) + 1
    while True:
        low = np.full(n_flows, n_links)
        np.minimum.at(low, flow, label[link])
        new = label.copy()
        np.minimum.at(new, link, low[flow])
        new = new[new]
        if np.array_equal(new, label):
            break
        label = new
    busy = np.unique(link)
    # Renumber the busy links' components 0..C-1.
    comp[busy] = np.unique(label[busy], return_inverse=True)[1]
    return comp


def build_network(site_names: tuple[str, ...], links: tuple[LinkSpec, ...]) -> Network:
    """Routing tables for ``links`` between ``site_names`` (each link both ways)."""
    n = len(site_names)
    idx = {s: i for i, s in enumerate(site_names)}
    inf = np.inf
    dist = np.full((n, n), inf)
    nxt = np.full((n, n), -1, dtype=np.int64)
    link_of = np.full((n, n), -1, dtype=np.int64)      # directed link used for hop u -> v
    link_src = np.zeros(2 * len(links), dtype=np.int64)
    link_dst = np.zeros(2 * len(links), dtype=np.int64)
    for i in range(n):
        dist[i, i] = 0.0
        nxt[i, i] = i
    for k, link in enumerate(links):
        a, b = idx[link.a], idx[link.b]
        link_src[2 * k], link_dst[2 * k] = a, b
        link_src[2 * k + 1], link_dst[2 * k + 1] = b, a
        w = link.rtt_s + 1e-9                            # + 1e-9: fewer hops win ties
        if w < dist[a, b]:
            dist[a, b] = dist[b, a] = w
            nxt[a, b], nxt[b, a] = b, a
            link_of[a, b], link_of[b, a] = 2 * k, 2 * k + 1
    for k in range(n):
        via = dist[:, k:k + 1] + dist[k:k + 1, :]
        better = via < dist - 1e-15
        dist = np.where(better, via, dist)
        nxt = np.where(better, nxt[:, k:k + 1], nxt)
    spec_of = np.repeat(np.arange(len(links)), 2)       # directed link -> scenario link
    eff_bw = (np.array([lk.efficiency * lk.bandwidth_bps for lk in links])[spec_of]
              if links else np.zeros(0))
    route = np.zeros((n * n, eff_bw.size), dtype=bool)
    route_ptr = np.zeros(n * n + 1, dtype=np.int64)
    route_links: list[int] = []
    bw = np.zeros((n, n))
    eff = np.ones((n, n))
    rtt = np.zeros((n, n))
    keep = np.ones((n, n))
    streams = np.full((n, n), C.STREAMS, dtype=np.int64)
    jpb = np.zeros((n, n))
    hops = np.full((n, n), -1, dtype=np.int64)
    for s in range(n):
        for d in range(n):
            r = s * n + d
            if s == d:
                bw[s, d] = inf
                hops[s, d] = 0
            elif nxt[s, d] >= 0:
                u, h, best = s, 0, inf
                st = 1 << 30
                while u != d:
                    v = int(nxt[u, d])
                    k = int(link_of[u, v])
                    lk = links[int(spec_of[k])]
                    route[r, k] = True
                    route_links.append(k)
                    rtt[s, d] += lk.rtt_s
                    keep[s, d] *= 1.0 - lk.loss
                    jpb[s, d] += (C.NETWORK_J_PER_BIT if lk.network_j_per_bit is None
                                  else lk.network_j_per_bit)
                    st = min(st, lk.streams)
                    if eff_bw[k] < best:
                        best = eff_bw[k]
                        bw[s, d] = lk.bandwidth_bps
                        eff[s, d] = lk.efficiency
                    u, h = v, h + 1
                hops[s, d] = h
                streams[s, d] = st
            route_ptr[r + 1] = len(route_links)
    loss = 1.0 - keep
    tcp = np.full((n, n), inf)
    lossy = (loss > 0) & (rtt > 0)
    if lossy.any():
        tcp[lossy] = streams[lossy] * np.asarray(mathis_bps(rtt[lossy], loss[lossy]))
    return Network(n, eff_bw, route, bw, eff, rtt, loss, streams, jpb, hops, tcp,
                   link_src=link_src, link_dst=link_dst, route_ptr=route_ptr,
                   route_links=np.asarray(route_links, dtype=np.int64))


# Up to this many site pairs (a 32-site fleet), LinkInfo gives policies the exact newcomer
# rate: one batched solve for every pair, reused while the transfers in flight stay the
# same. Past it, a policy asking for thousands of pairs per round would make a decision
# round many times slower (1,000 jobs x 100 sites: 16,000 candidate pairs), so policies get
# the per-link lower bound instead; the transfers themselves still share max-min fairly.
_TABLE_MAX_ROWS = 1024


def link_info(network: Network, active_transfers: np.ndarray, *, write_Bps: float,
              read_Bps: float, startup_s: float,
              in_flight: np.ndarray | None = None) -> LinkInfo:
    """The :class:`LinkInfo` of ``network`` with read-only views.

    ``active_transfers`` ``[D]`` is the mechanism's live count of transfers per directed
    link; ``in_flight`` ``[S*S]``, when given, its live count of transfers per route row
    (``src x S + dst``), both updated in place. With ``in_flight``, on fleets of up to 32
    sites, a policy's :meth:`LinkInfo.shared_rate_bps` is the exact max-min fair rate;
    otherwise the per-link lower bound (see there). :class:`LinkLoad` keeps both.
    """
    sharing = None
    if in_flight is not None and network.n_sites ** 2 <= _TABLE_MAX_ROWS:
        live = in_flight
        n_rows = network.n_sites ** 2
        every_row = np.arange(n_rows)
        memo: dict = {}

        def sharing(src, dst, extra=None):
            # Small fleets: one batched solve gives every pair's rate; a policy asks many
            # times per step with the same transfers in flight, so keep the last table.
            key = (live.tobytes(), None if extra is None else np.asarray(extra).tobytes())
            if memo.get("key") != key:
                memo["key"] = key
                memo["table"] = network.newcomer_rates_bps(every_row // network.n_sites,
                                                           every_row % network.n_sites,
                                                           live, extra)
            return memo["table"][np.asarray(src) * network.n_sites + np.asarray(dst)]

    return LinkInfo(
        bandwidth_bps=readonly(network.bandwidth_bps), efficiency=readonly(network.efficiency),
        rtt_s=readonly(network.rtt_s), loss=readonly(network.loss),
        streams=readonly(network.streams), j_per_bit=readonly(network.j_per_bit),
        hops=readonly(network.hops), active_transfers=readonly(active_transfers),
        link_rate_bps=readonly(network.link_eff_bps), route=readonly(network.route),
        write_Bps=float(write_Bps), read_Bps=float(read_Bps), startup_s=float(startup_s),
        fair_share=sharing)


class LinkLoad:
    """The links' live state in a mechanism: transfers in flight, their rates, the LinkInfo.

    Call :meth:`update` once per step with the transfers moving bytes in that step (it
    returns their max-min fair rates) and hand :attr:`info` to policies: its arrays are
    live views of this state.
    """

    def __init__(self, network: Network, *, write_Bps: float, read_Bps: float,
                 startup_s: float) -> None:
        self.network = network
        self.active_transfers = np.zeros(network.n_links, dtype=np.int64)      # [D]
        self.in_flight = np.zeros(network.n_sites ** 2, dtype=np.int64)        # [S*S]
        self.info = link_info(network, self.active_transfers, write_Bps=write_Bps,
                              read_Bps=read_Bps, startup_s=startup_s, in_flight=self.in_flight)
        # The transfers of the last update and their rates: a transfer usually spans several
        # steps, and the same set of flows has the same max-min allocation.
        self._last: tuple[bytes, np.ndarray] | None = None

    def update(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Record transfers ``src -> dst`` as in flight; their max-min fair rates [bit/s].

        Call :meth:`hold` after the step with the transfers that still have bytes to send,
        so that policies see only those at the next decision.
        """
        src = np.asarray(src, dtype=np.int64).reshape(-1)
        dst = np.asarray(dst, dtype=np.int64).reshape(-1)
        rows = src * self.network.n_sites + dst
        key = rows.tobytes()
        if self._last is not None and self._last[0] == key:
            return self._last[1].copy()
        rates, counts = self.network.transfer_rates_bps(src, dst)
        self.active_transfers[:] = counts
        self.in_flight[:] = np.bincount(rows, minlength=self.in_flight.size)
        self._last = (key, rates.copy())
        return rates

    def send(self, src: np.ndarray, dst: np.ndarray, start_s: np.ndarray, bits: np.ndarray,
             span_s: float, fixed_bps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Advance transfers ``src -> dst`` through a step of ``span_s`` [s].

        Transfer ``k`` may send from ``start_s[k]`` [s] into the step (its checkpoint write
        ends there) and has ``bits[k]`` [bit] left. At every moment the transfers then
        sending share the links max-min fairly: the rates are solved again whenever one
        starts or ends within the step, so a transfer still saving takes no share and
        one that ends leaves its share to the others at once. ``fixed_bps[k]``, where
        not NaN, replaces transfer ``k``'s share (a live run's measured rate).
        Returns the bits each sent [bit] and when each stopped sending [s into the step]:
        when it sent its last bit, or ``span_s``. Afterwards :attr:`info` counts only the
        transfers with bits left.
        """
        start_s = np.asarray(start_s, dtype=float)
        left = np.asarray(bits, dtype=float).copy()
        end = np.full(left.size, float(span_s))
        now = 0.0
        while now < span_s:
            pending = left > 0.0
            active = pending & (start_s <= now)
            later = pending & (start_s > now)
            next_start = float(start_s[later].min()) if later.any() else float(span_s)
            if not active.any():
                if not later.any():
                    break
                now = next_start
                continue
            ai = np.flatnonzero(active)
            rates = self.update(src[ai], dst[ai])
            if fixed_bps is not None:
                rates = np.where(np.isnan(fixed_bps[ai]), rates, fixed_bps[ai])
            with np.errstate(divide="ignore"):
                to_end = np.where(rates > 0.0, left[ai] / np.maximum(rates, 1e-300), np.inf)
            until = min(now + float(to_end.min()), next_start, float(span_s))
            done = now + to_end <= until + 1e-9
            left[ai] = np.where(done, 0.0, np.maximum(left[ai] - rates * (until - now), 0.0))
            end[ai[done]] = until
            now = until
        sending = left > 0.0
        self.hold(src[sending], dst[sending])
        return np.asarray(bits, dtype=float) - left, end

    def hold(self, src: np.ndarray, dst: np.ndarray) -> None:
        """Keep only transfers ``src -> dst`` in flight (those not finished in this step).

        The counts policies see are those of the next step's start: a transfer that sent
        its last byte in this step no longer shares a link with a move decided then.
        """
        rows = (np.asarray(src, dtype=np.int64).reshape(-1) * self.network.n_sites
                + np.asarray(dst, dtype=np.int64).reshape(-1))
        _, link = self.network.pairs(rows)
        self.active_transfers[:] = np.bincount(link, minlength=self.network.n_links)
        self.in_flight[:] = np.bincount(rows, minlength=self.in_flight.size)

    def clear(self) -> None:
        """No transfer in flight."""
        self.active_transfers[:] = 0
        self.in_flight[:] = 0
        self._last = None
