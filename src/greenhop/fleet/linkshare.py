"""Max-min fair sharing of links among concurrent flows (progressive filling).

Every flow starts at rate 0; all flows not yet frozen rise together. A flow freezes
when a link on its path saturates or when it reaches its own ceiling (e.g. the TCP
bound of a lossy path). Since unfrozen flows always share one common level, each
round only has to find the next level at which a link saturates or a ceiling is met:

    level_l = (capacity_l - frozen load_l) / (unfrozen flows on l)

The result is the max-min fair allocation: no flow can get more without taking from
a flow that has no more than it. Each round freezes at least one flow, and works on
the (flow, link) incidence pairs only, so a round costs ``O(pairs + L)``.

See ``docs/simulator.md`` (section "Links").
"""

from __future__ import annotations

import numpy as np

from greenhop.core.errors import ConfigError

# Relative slack under which a link counts as saturated / a flow as at its ceiling:
# absorbs the rounding of repeated subtraction, far below any physical meaning.
_REL_TOL = 1e-9


def fair_rates(route: np.ndarray, capacity_bps: np.ndarray,
               cap_bps: np.ndarray | None = None) -> np.ndarray:
    """Max-min fair rates [bit/s] of flows sharing links.

    Args:
        route: ``(F, L)`` bool, ``route[f, l]`` when flow ``f`` crosses link ``l``.
        capacity_bps: ``(L,)`` capacity of each link [bit/s] (``>= 0``, ``inf`` allowed).
        cap_bps: optional ``(F,)`` per-flow ceiling [bit/s] (``inf``: none).

    Returns:
        ``(F,)`` rates [bit/s]. A flow that crosses no link gets its ceiling (``inf``
        without one).
    """
    route = np.asarray(route, dtype=bool)
    if route.ndim != 2:
        raise ConfigError(f"fair_rates: route must be a (flows, links) array, "
                          f"got shape {route.shape}")
    n_flows, n_links = route.shape
    # flatnonzero + divmod is several times faster than np.nonzero on a wide bool matrix.
    flow_idx, link_idx = np.divmod(np.flatnonzero(route), max(n_links, 1))
    return fair_rates_pairs(flow_idx, link_idx, n_flows, capacity_bps, cap_bps,
                            n_links=n_links)


def fair_rates_pairs(flow_idx: np.ndarray, link_idx: np.ndarray, n_flows: int,
                     capacity_bps: np.ndarray, cap_bps: np.ndarray | None = None, *,
                     n_links: int | None = None) -> np.ndarray:
    """:func:`fair_rates` on the incidence pairs ``(flow_idx[k], link_idx[k])``.

    For callers that keep routes as index lists (a path has a few links out of many).
    Each (flow, link) pair must appear at most once.
    """
    capacity = np.asarray(capacity_bps, dtype=float).reshape(-1)
    if n_links is not None and capacity.shape[0] != n_links:
        raise ConfigError(f"fair_rates: capacity_bps has {capacity.shape[0]} links, "
                          f"route has {n_links}")
    if np.isnan(capacity).any() or (capacity < 0).any():
        raise ConfigError("fair_rates: every link capacity must be >= 0 [bit/s]")
    if cap_bps is None:
        ceiling = np.full(n_flows, np.inf)
    else:
        ceiling = np.asarray(cap_bps, dtype=float).reshape(-1)
        if ceiling.shape[0] != n_flows:
            raise ConfigError(f"fair_rates: cap_bps has {ceiling.shape[0]} flows, "
                              f"route has {n_flows}")
        if np.isnan(ceiling).any() or (ceiling < 0).any():
            raise ConfigError("fair_rates: every flow ceiling must be >= 0 [bit/s]")
    flow_idx = np.asarray(flow_idx, dtype=np.int64).reshape(-1)
    link_idx = np.asarray(link_idx, dtype=np.int64).reshape(-1)
    rates = ceiling.copy()           # flows on no link keep their ceiling
    if n_flows == 0 or flow_idx.size == 0:
        return rates

    # Work on the links that carry a flow only (a few out of many), renumbered 0..U-1.
    used, link_local = np.unique(link_idx, return_inverse=True)
    cap_used = capacity[used]
    # Links of infinite capacity never bind: drop their pairs.
    finite = np.isfinite(cap_used)[link_local]
    f_pair = flow_idx[finite]
    l_pair = link_local[finite]
    n_used = used.size

    # Pairs sorted by flow, so per-flow reductions are contiguous segments.
    order = np.argsort(f_pair, kind="stable")
    f_pair, l_pair = f_pair[order], l_pair[order]
    rates[f_pair] = 0.0
    frozen_load = np.zeros(n_used)   # rate of frozen flows on each link [bit/s]
    while f_pair.size:
        n_active = np.bincount(l_pair, minlength=n_used)
        link_level = np.full(n_used, np.inf)
        np.divide(cap_used - frozen_load, n_active, out=link_level, where=n_active > 0)
        np.maximum(link_level, 0.0, out=link_level)   # rounding must never go negative
        new_flow = np.empty(f_pair.size, dtype=bool)
        new_flow[0] = True
        np.not_equal(f_pair[1:], f_pair[:-1], out=new_flow[1:])
        starts = np.flatnonzero(new_flow)
        flows = f_pair[starts]
        n_pairs = np.diff(starts, append=f_pair.size)
        # The lowest level any link of each flow allows, and the flow's own bound.
        flow_min = np.minimum.reduceat(link_level[l_pair], starts)
        flow_bound = np.minimum(flow_min, ceiling[flows])
        # A link is a bottleneck now when no flow crossing it is held lower elsewhere:
        # link levels only rise as other flows freeze, so its flows freeze at its level,
        # exactly as serial progressive filling would (the global minimum always is one).
        link_min = np.full(n_used, np.inf)
        np.minimum.at(link_min, l_pair, np.repeat(flow_bound, n_pairs))
        bottleneck = link_level <= link_min * (1.0 + _REL_TOL)
        freeze = np.logical_or.reduceat(bottleneck[l_pair], starts)
        freeze |= ceiling[flows] <= flow_min * (1.0 + _REL_TOL)
        rates[flows[freeze]] = flow_bound[freeze]
        gone = np.repeat(freeze, n_pairs)
        frozen_load += np.bincount(l_pair[gone], weights=rates[f_pair[gone]], minlength=n_used)
        f_pair, l_pair = f_pair[~gone], l_pair[~gone]
    return rates
