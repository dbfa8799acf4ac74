"""The WAN as a graph: shortest-path routing over multiple hops and per-path figures.

It lives beside the policies because both mechanisms (the simulator and the live
orchestrator) build the same :class:`~greenhop.core.observation.LinkInfo` from it
for the same policies; :func:`link_info` does that.

Routes minimise the summed round-trip time (ties: fewer hops), computed once
with Floyd-Warshall over the sites. A path's nominal bandwidth and efficiency
are those of its bottleneck link (the smallest ``efficiency x bandwidth``); its
RTT and energy per bit add up over the hops; its loss is
``1 - prod(1 - loss_hop)``.

While transfers run, each link's effective rate is divided equally among the
transfers crossing it in that step, and a transfer moves at its bottleneck share
(capped by its TCP bound when the path is lossy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greenhop.core.observation import LinkInfo
from greenhop.core.specs import LinkSpec
from greenhop.model import constants as C
from greenhop.model.feasibility import mathis_bps


@dataclass(frozen=True)
class Network:
    """Routing tables of a fleet (``S`` sites, ``L`` links)."""

    n_sites: int
    link_eff_bps: np.ndarray       # [L] efficiency x bandwidth of each link
    route: np.ndarray              # [S*S, L] bool: links on the path from s to d
    bandwidth_bps: np.ndarray      # [S, S] bottleneck nominal rate (0: unreachable)
    efficiency: np.ndarray         # [S, S]
    rtt_s: np.ndarray              # [S, S]
    loss: np.ndarray               # [S, S]
    streams: np.ndarray            # [S, S]
    j_per_bit: np.ndarray          # [S, S]
    hops: np.ndarray               # [S, S] (-1: unreachable)
    tcp_cap_bps: np.ndarray        # [S, S] streams x Mathis bound (inf without loss)

    def transfer_rates_bps(self, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rates [bit/s] of concurrent transfers ``src -> dst`` sharing links fairly.

        Returns the rates and the number of transfers on each link.
        """
        paths = self.route[src * self.n_sites + dst]          # [n, L]
        counts = paths.sum(axis=0)                             # [L]
        share = self.link_eff_bps / np.maximum(counts, 1)
        rates = np.where(paths, share[None, :], np.inf).min(axis=1)
        return np.minimum(rates, self.tcp_cap_bps[src, dst]), counts


def build_network(site_names: tuple[str, ...], links: tuple[LinkSpec, ...]) -> Network:
    """Routing tables for ``links`` between ``site_names``."""
    n = len(site_names)
    idx = {s: i for i, s in enumerate(site_names)}
    n_links = len(links)
    inf = np.inf
    dist = np.full((n, n), inf)
    nxt = np.full((n, n), -1, dtype=np.int64)
    link_of = np.full((n, n), -1, dtype=np.int64)
    for i in range(n):
        dist[i, i] = 0.0
        nxt[i, i] = i
    for k, link in enumerate(links):
        a, b = idx[link.a], idx[link.b]
        w = link.rtt_s + 1e-9
        if w < dist[a, b]:
            dist[a, b] = dist[b, a] = w
            nxt[a, b], nxt[b, a] = b, a
            link_of[a, b] = link_of[b, a] = k
    for k in range(n):
        via = dist[:, k:k + 1] + dist[k:k + 1, :]
        better = via < dist - 1e-15
        dist = np.where(better, via, dist)
        nxt = np.where(better, nxt[:, k:k + 1], nxt)
    route = np.zeros((n * n, n_links), dtype=bool)
    eff_bw = np.array([lk.efficiency * lk.bandwidth_bps for lk in links]) if links else np.zeros(0)
    bw = np.zeros((n, n))
    eff = np.ones((n, n))
    rtt = np.zeros((n, n))
    keep = np.ones((n, n))
    streams = np.full((n, n), C.STREAMS, dtype=np.int64)
    jpb = np.zeros((n, n))
    hops = np.full((n, n), -1, dtype=np.int64)
    for s in range(n):
        for d in range(n):
            if s == d:
                bw[s, d] = inf
                hops[s, d] = 0
                continue
            if nxt[s, d] < 0:
                continue
            u, h, best = s, 0, inf
            st = 1 << 30
            while u != d:
                v = int(nxt[u, d])
                k = int(link_of[u, v])
                lk = links[k]
                route[s * n + d, k] = True
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
    loss = 1.0 - keep
    tcp = np.full((n, n), inf)
    lossy = (loss > 0) & (rtt > 0)
    if lossy.any():
        tcp[lossy] = streams[lossy] * np.asarray(mathis_bps(rtt[lossy], loss[lossy]))
    return Network(n, eff_bw, route, bw, eff, rtt, loss, streams, jpb, hops, tcp)


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


def link_info(network: Network, active_transfers: np.ndarray, *, write_Bps: float,
              read_Bps: float, startup_s: float) -> LinkInfo:
    """The :class:`LinkInfo` of ``network`` with read-only views; ``active_transfers`` ``[L]``
    is the mechanism's live count of transfers per link (updated in place)."""
    return LinkInfo(
        bandwidth_bps=_readonly(network.bandwidth_bps), efficiency=_readonly(network.efficiency),
        rtt_s=_readonly(network.rtt_s), loss=_readonly(network.loss),
        streams=_readonly(network.streams), j_per_bit=_readonly(network.j_per_bit),
        hops=_readonly(network.hops), active_transfers=_readonly(active_transfers),
        link_rate_bps=_readonly(network.link_eff_bps), route=_readonly(network.route),
        write_Bps=float(write_Bps), read_Bps=float(read_Bps), startup_s=float(startup_s))
