"""Moves that take jobs off sites that must empty (an operator's drain, a demand-response
event): one job at a time, to the open site with the most surplus headroom where the move
is feasible (downtime <= alpha x the destination's estimated remaining window, the model
of the ``feasibility-aware`` policy), each chosen move counted against the links, slots
and headroom the next one sees.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import Observation
from greenhop.policies.base import available_headroom_w, job_power_at
from greenhop.policies.common_moves import evaluate_moves


class Evacuation:
    """Destinations for jobs leaving ``closed`` sites, chosen one after the other.

    Args:
        obs: the Observation of the step.
        closed: ``[S]`` bool, the sites nothing may move onto.
        window_s: each site's estimated remaining surplus window [s] (0: none open).
        alpha: share of the window the downtime may use [-].
    """

    def __init__(self, obs: Observation, closed: np.ndarray, window_s: np.ndarray, *,
                 alpha: float) -> None:
        self.obs = obs
        self.closed = np.asarray(closed, dtype=bool)
        self.window_s = np.asarray(window_s, dtype=float)
        self.alpha = float(alpha)
        self.head_w = available_headroom_w(obs)
        self.free = np.array(obs.free_gpus, dtype=np.int64)
        self.extra = np.zeros_like(obs.links.active_transfers)  # transfers chosen so far

    def destination(self, job: int, site: int, gpus: int,
                    max_downtime_s: float = np.inf) -> int | None:
        """Book and return the destination of ``job`` (moving ``gpus`` GPUs off ``site``),
        or None where no open site takes it feasibly within ``max_downtime_s`` [s]."""
        obs, links, window = self.obs, self.obs.links, self.window_s
        ok = (~self.closed & obs.job_allowed[job] & (links.hops[site] > 0)
              & (self.free >= gpus) & (window > 0))
        ok[site] = False
        dests = np.flatnonzero(ok)
        if dests.size == 0:
            return None
        jobs = np.full(dests.size, job)
        f = evaluate_moves(obs, jobs, np.full(dests.size, site), dests, window[dests],
                           job_power_at(obs, jobs, dests), alpha=self.alpha, extra=self.extra)
        good = np.asarray(f.feasible, dtype=bool) & (np.asarray(f.downtime_s) <= max_downtime_s)
        dests = dests[good]
        if dests.size == 0:
            return None
        d = int(dests[int(np.argmax(self.head_w[dests]))])
        self.head_w[d] -= float(job_power_at(obs, np.array([job]), np.array([d]))[0])
        self.free[d] -= gpus
        self.extra = self.extra + links.route[site * obs.n_sites + d]
        return d
