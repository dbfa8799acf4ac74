"""What a policy minimises when the scenario's objective is not grid energy.

Under the ``carbon``, ``carbon-average`` and ``cost`` objectives the Observation carries
the weight of one joule of grid energy per site, now and as forecast by now
(``Observation.grid_weight_per_j``, ``grid_weight_forecast_per_j``; ``docs/grid.md``).
The policies then rank sites by **weighted** grid energy instead of grid energy. Under
the ``energy`` objective these fields are ``None`` and every function here answers
``None``, so the policies take their unchanged energy path (byte-identical runs).

Weights are made relative (divided by the mean of the positive weights in view), so a
weighted kilowatt-hour has the size of a plain one and the policies' other terms (delay,
migration energy) keep their balance against it.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import PINNED, RUNNING, Migrate, Observation
from greenhop.policies.base import available_headroom_w, job_power_at, move_gpus

#: a move must cut the job's weighted grid power by at least this share (no churn on noise)
MIN_GAIN = 0.2


def relative(w: np.ndarray) -> np.ndarray:
    """``w`` divided by the mean of its positive entries (all 1 when none is positive)."""
    w = np.asarray(w, dtype=float)
    pos = w[w > 0]
    return w / pos.mean() if pos.size else np.ones_like(w)


def weighted(obs: Observation) -> bool:
    """Whether ``obs`` asks for a weighted objective (not plain grid energy)."""
    return obs.grid_weight_forecast_per_j is not None


def lookahead_weights(obs: Observation) -> np.ndarray | None:
    """The weight per site now, relative, ``[S]`` (what a move is judged by: a move pays
    within the hours after it, when the weight is closest to now's); ``None`` under the
    energy objective."""
    if obs.grid_weight_per_j is None:
        return None
    return relative(np.asarray(obs.grid_weight_per_j, dtype=float))


def block_weights(obs: Observation, edges_s: np.ndarray) -> np.ndarray | None:
    """Mean weight per site over each block ``[edges[b], edges[b+1])`` (seconds from now),
    relative over all sites and blocks, ``[S, B]``; beyond the forecast the last forecast
    row holds. ``None`` under the energy objective."""
    fc = obs.grid_weight_forecast_per_j
    if fc is None:
        return None
    fc = np.asarray(fc)
    edges = np.asarray(edges_s, dtype=float)
    lo = np.floor(edges[:-1] / obs.dt_s + 1e-9).astype(np.int64)
    hi = np.maximum(np.ceil(edges[1:] / obs.dt_s - 1e-9).astype(np.int64), lo + 1)
    cum = np.vstack([np.zeros((1, fc.shape[1])), np.cumsum(fc, axis=0)])
    last = fc.shape[0]

    def total(k: np.ndarray) -> np.ndarray:  # sum of rows 0..k-1, the last row repeated
        inside = np.minimum(k, last)
        return cum[inside] + np.maximum(k - last, 0)[:, None] * fc[-1][None, :]

    mean = (total(hi) - total(lo)) / (hi - lo)[:, None]           # [B, S]
    return relative(mean.T)


def weighted_greedy_moves(obs: Observation, move_filter=None,
                          min_gain: float = MIN_GAIN) -> list[Migrate]:
    """The move loop of :func:`greenhop.policies.common_moves.greedy_moves` on weighted
    grid power: a running, movable job whose weighted grid power where it is,
    ``w_s x max(0, P_s - local surplus)``, can be cut by at least ``min_gain`` goes to the
    allowed, reachable site with free slots where it would be least, ``w_d x max(0, P_d -
    headroom_d)`` (ties: the most headroom). Weights are those of now
    (:func:`lookahead_weights`); ``move_filter`` narrows destinations as in the energy
    loop."""
    from greenhop.policies.common_moves import StepState

    w = lookahead_weights(obs)
    head = available_headroom_w(obs)
    site = obs.job_site
    cand = np.flatnonzero((obs.job_phase == RUNNING) & (obs.job_mobility != PINNED))
    if cand.size == 0:
        return []
    state = StepState.of(obs, head)
    reach = obs.links.hops >= 0
    gmove = move_gpus(obs, cand)
    all_sites = np.arange(obs.n_sites)
    n_sites = obs.n_sites
    actions: list[Migrate] = []
    # the jobs that draw most weighted grid power first
    p_src = job_power_at(obs, cand, site[cand])
    here = w[site[cand]] * np.maximum(p_src - np.maximum(head[site[cand]] + p_src, 0.0), 0.0)
    for k in np.argsort(-here, kind="stable").tolist():
        j = int(cand[k])
        s = int(site[j])
        p_here = float(p_src[k])
        local = max(state.head_w[s] + p_here, 0.0)
        cost_here = w[s] * max(p_here - local, 0.0)
        if cost_here <= 0:
            continue
        p_d = job_power_at(obs, np.full(n_sites, j), all_sites)
        cost_d = w * np.maximum(p_d - np.maximum(state.head_w, 0.0), 0.0)
        ok = (obs.job_allowed[j] & reach[s] & (state.free >= gmove[k]) & (all_sites != s)
              & (cost_d <= (1.0 - min_gain) * cost_here))
        if not ok.any():
            continue
        if move_filter is not None:
            dests = np.flatnonzero(ok)
            ok[dests] = move_filter.accept(obs, j, s, dests, p_here, local, state)
            if not ok.any():
                continue
        score = np.where(ok, cost_d - 1e-12 * state.head_w, np.inf)
        d = int(np.argmin(score))
        actions.append(Migrate(j, d))
        state.book(obs, j, s, d, p_here, gmove[k])
        if move_filter is not None:
            move_filter.taken(obs, j, s, d)
    return actions


def cheap_now(obs: Observation, horizon_s: float = 86400.0) -> np.ndarray | None:
    """Per site, whether grid energy now weighs at most the mean forecast weight over the
    next ``horizon_s`` (a clean or cheap hour for that grid; always where it weighs 0),
    ``[S]`` bool; ``None`` under the energy objective. The temporal-shifting policies run
    on grid power in such hours and wait in the others."""
    fc = obs.grid_weight_forecast_per_j
    if fc is None:
        return None
    n = int(min(max(round(horizon_s / obs.dt_s), 1), fc.shape[0]))
    now = np.asarray(obs.grid_weight_per_j, dtype=float)
    return (now <= 0.0) | (now <= np.asarray(fc[:n]).mean(axis=0) * (1.0 + 1e-12))


def weighted_runs_now(obs: Observation, now_w: np.ndarray, cycle_w: np.ndarray,
                      power_w: np.ndarray, site: np.ndarray, slots: np.ndarray,
                      need: np.ndarray) -> np.ndarray:
    """Wait Awhile's rule on weighted grid power: a job runs now when fewer than ``need``
    of its slots ``1 .. slots-1`` would cost it less than now, the cost of slot ``k`` being
    ``w_k x max(0, power - surplus_k)`` with ``w_k`` the weight forecast for step ``k``
    (the last forecast row held beyond it) and ``surplus_k`` as in
    :func:`greenhop.policies.wait_awhile.runs_now` (``now_w`` now, then the daily profile
    ``cycle_w``)."""
    fc = np.asarray(obs.grid_weight_forecast_per_j, dtype=float)
    period = cycle_w.shape[0]
    out = (need >= slots) | (slots <= 1)
    for i in np.flatnonzero(~out & (need > 0)).tolist():
        s, m = int(site[i]), int(slots[i])
        k = np.arange(m)
        surplus = np.where(k == 0, now_w[s], cycle_w[k % period, s])
        w = fc[np.minimum(k, fc.shape[0] - 1), s]
        cost = w * np.maximum(power_w[i] - surplus, 0.0)
        out[i] = int(np.count_nonzero(cost[1:] < cost[0])) < need[i]
    return out
