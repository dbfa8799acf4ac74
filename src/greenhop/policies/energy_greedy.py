"""``energy-greedy``: the purely energy-driven strategy.

When a running job's site no longer covers it with surplus, move it to the site
with the greatest surplus headroom now, if that site offers it more surplus than
it gets where it is. No feasibility check, no window estimate, no hysteresis:
the baseline the paper's feasibility-aware policy is compared against.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import PINNED, RUNNING, Action, Migrate, Observation
from greenhop.policies.base import (
    POLICIES,
    Capabilities,
    PolicyBase,
    available_headroom_w,
    job_power_at,
    move_gpus,
)


@POLICIES.register("energy-greedy")
class EnergyGreedyPolicy(PolicyBase):
    """Move each job that lacks surplus to wherever surplus is greatest now."""

    name = "energy-greedy"
    summary = "moves a job to the site with the most surplus headroom now, ignoring its cost"
    capabilities = Capabilities(migrates=True)

    def decide(self, observation: Observation) -> list[Action]:
        obs = observation
        head = available_headroom_w(obs)
        if head.max(initial=-np.inf) <= 0:
            return []
        site = obs.job_site
        cand = np.flatnonzero((obs.job_phase == RUNNING) & (obs.job_mobility != PINNED))
        if cand.size == 0:
            return []
        cand = cand[head[site[cand]] < 0]
        if cand.size == 0:
            return []
        free = np.array(obs.free_gpus, dtype=np.int64)
        reach = obs.links.hops >= 0
        gmove = move_gpus(obs, cand)
        all_sites = np.arange(obs.n_sites)
        actions: list[Action] = []
        for k, j in enumerate(cand.tolist()):
            s = int(site[j])
            if head[s] >= 0:
                continue
            p_here = float(job_power_at(obs, np.array([j]), np.array([s]))[0])
            local = max(head[s] + p_here, 0.0)
            ok = obs.job_allowed[j] & reach[s] & (free >= gmove[k]) & (all_sites != s)
            if not ok.any():
                continue
            score = np.where(ok, head, -np.inf)
            d = int(np.argmax(score))
            if score[d] <= max(local, 0.0):
                continue
            actions.append(Migrate(j, d))
            head[s] += p_here
            head[d] -= float(job_power_at(obs, np.array([j]), np.array([d]))[0])
            free[d] -= gmove[k]
        return actions
