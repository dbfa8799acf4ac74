"""``threshold``: temporal shifting only.

At each site, while its surplus does not cover the jobs running there, suspend
jobs (the most power-hungry first) until it does; resume a suspended job when the
site's headroom covers its power again. Jobs whose deadline would otherwise be
missed are never suspended and are resumed. Jobs never change site.

Under a carbon or cost objective (docs/grid.md) a site whose grid energy weighs now at
most its mean forecast weight over the next day (a clean or cheap hour) counts as covered:
its jobs run on grid power then and wait in the dearer hours.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import RUNNING, SUSPENDED, Action, Observation, Resume, Suspend
from greenhop.policies.base import (
    POLICIES,
    Capabilities,
    PolicyBase,
    available_headroom_w,
    job_power_at,
    number_param,
)
from greenhop.policies.objectives import cheap_now


@POLICIES.register("threshold")
class ThresholdPolicy(PolicyBase):
    """Suspend when local surplus is gone, resume when it returns.

    Args:
        deadline_margin: resume (or keep running) a job when the time left to its
            deadline is below ``deadline_margin`` x the time its remaining work needs [-].
    """

    name = "threshold"
    summary = "suspends jobs while local surplus is short, resumes them when it returns"
    capabilities = Capabilities(suspends=True)

    def __init__(self, deadline_margin: float = 1.5) -> None:
        self.deadline_margin = number_param(self.name, "deadline_margin", deadline_margin,
                                            lo=0.0)

    def _urgent(self, obs: Observation, jobs: np.ndarray) -> np.ndarray:
        site = obs.job_site[jobs]
        rate = obs.job_gpus[jobs] * obs.throughput[site]
        need_s = obs.job_remaining_gpu_s[jobs] / np.maximum(rate, 1e-12)
        left_s = obs.job_deadline_s[jobs] - obs.now_s
        return left_s <= self.deadline_margin * need_s + obs.dt_s

    def decide(self, observation: Observation) -> list[Action]:
        obs = observation
        head = available_headroom_w(obs)
        cheap = cheap_now(obs)
        phase = obs.job_phase
        actions: list[Action] = []
        running = np.flatnonzero(phase == RUNNING)
        if running.size:
            short = running[head[obs.job_site[running]] < 0]
            if cheap is not None:  # grid power is clean or cheap now: no need to wait
                short = short[~cheap[obs.job_site[short]]]
            if short.size:
                short = short[~self._urgent(obs, short)]
                power = job_power_at(obs, short, obs.job_site[short])
                for k in np.argsort(-power, kind="stable").tolist():
                    j = int(short[k])
                    s = int(obs.job_site[j])
                    if head[s] < 0:
                        actions.append(Suspend(j))
                        head[s] += power[k]
        waiting = np.flatnonzero(phase == SUSPENDED)
        if waiting.size:
            urgent = self._urgent(obs, waiting)
            power = job_power_at(obs, waiting, obs.job_site[waiting])
            for k, j in enumerate(waiting.tolist()):
                s = int(obs.job_site[j])
                if urgent[k] or head[s] >= power[k] or (cheap is not None and cheap[s]):
                    actions.append(Resume(j))
                    head[s] -= power[k]
        return actions
