"""``carbonscaler``: scale elastic jobs' GPU counts along their marginal-throughput curve
to the hours with most surplus.

A re-implementation of the greedy marginal-capacity rule of CarbonScaler (W. A. Hanafy,
Q. Liang, N. Bashir, D. Irwin, P. Shenoy, "CarbonScaler: Leveraging Cloud Workload
Elasticity for Optimizing Carbon-Efficiency", Proc. ACM Meas. Anal. Comput. Syst. 7(3),
SIGMETRICS 2023, doi:10.1145/3626788). There, an elastic batch job has a marginal
capacity curve (the throughput each extra server adds, falling as servers are added),
and its servers go, one increment at a time, to the (time slot, increment) pairs with the
highest marginal capacity per unit of carbon, so the job runs wide in low-carbon hours
and narrow (down to its minimum) in high-carbon ones, and still finishes by its
completion time.

In greenhop the signal is surplus renewable power, known now rather than forecast per
slot, and the rule is applied at every decision, per site:

* **Floor**: every running elastic job gets at least the GPUs it needs to finish by its
  deadline running at that count from now on (the rescale's downtime included), and at
  least ``min_gpus``. A job without a deadline may finish at most ``max_delay_s`` later
  than it would on its nominal count from the moment the policy first saw it.
* **Increments**: above the floors, GPUs go one at a time to the job whose next GPU adds
  the most throughput (``rate(g + 1) - rate(g)``, :mod:`greenhop.core.scaling`; every
  GPU at a site draws the same power, so this is also throughput per watt) while the
  site's surplus left by the other jobs covers their power and free slots remain. In
  high-surplus hours jobs grow toward ``max_gpus``; when the surplus falls they shrink
  back to their floors.
* **Rescale cost**: a rescale checkpoints and restarts the job in place (downtime, idle
  power). A job is rescaled at most once per ``min_dwell_s`` (the paper's one-hour
  slots), except to reach its deadline floor; an increase is made only when the work it
  adds over ``min_dwell_s`` (at least an hour: a shorter dwell limits how often a job is
  rescaled, not how long a new count is expected to hold) exceeds the work the downtime
  loses.

Jobs never change site; queued jobs start on their nominal count. Under a carbon or cost
objective (docs/grid.md) an hour whose grid weight is at most the site's mean forecast
weight over the next day also lets jobs grow (the paper's low-carbon hours), within slots.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import RUNNING, Action, Observation, Scale
from greenhop.policies.base import (
    POLICIES,
    Capabilities,
    PolicyBase,
    available_headroom_w,
    number_param,
)
from greenhop.policies.common_moves import OwnDeadlines
from greenhop.policies.objectives import cheap_now

DAY_S = 86400.0
PAYOFF_S = 3600.0
"""Shortest time an increase is expected to pay back over [s]: the paper's one-hour slot
(with ``min_dwell_s`` 0 an increase could never pay back)."""


@POLICIES.register("carbonscaler")
class CarbonScalerPolicy(PolicyBase):
    """Give elastic jobs GPUs in order of marginal throughput while surplus covers them.

    Args:
        min_dwell_s: shortest time between two rescales of a job [s] (except to meet its
            deadline).
        max_delay_s: for a job without a deadline, how much later than running on its
            nominal count from first seen it may finish [s].
    """

    name = "carbonscaler"
    summary = ("scales elastic jobs' GPU counts along their marginal-throughput curve to the "
               "hours with most surplus, never below what their deadlines need (CarbonScaler)")
    source = ("Hanafy, Liang, Bashir, Irwin, Shenoy: CarbonScaler: Leveraging Cloud Workload "
              "Elasticity for Optimizing Carbon-Efficiency, Proc. ACM Meas. Anal. Comput. "
              "Syst. (SIGMETRICS) 2023")
    capabilities = Capabilities(scales=True)

    def __init__(self, min_dwell_s: float = 3600.0, max_delay_s: float = DAY_S) -> None:
        self.min_dwell_s = number_param(self.name, "min_dwell_s", min_dwell_s, lo=0.0,
                                        unit="s")
        self.max_delay_s = number_param(self.name, "max_delay_s", max_delay_s, lo=0.0,
                                        unit="s")
        # Without a deadline: first seen + time needed on the nominal count + max_delay_s.
        self.deadlines_s = OwnDeadlines(self.max_delay_s, self.nominal_time_s)

    # ------------------------------------------------------------ pieces
    @staticmethod
    def nominal_time_s(obs: Observation, jobs: np.ndarray) -> np.ndarray:
        """Training time the remaining work of ``jobs`` needs on their nominal GPU count at
        their site [s]."""
        nominal = obs.job_gpus if obs.job_nominal_gpus is None else obs.job_nominal_gpus
        rate = obs.job_rate(jobs, nominal[jobs], np.maximum(obs.job_site[jobs], 0))
        return obs.job_remaining_gpu_s[jobs] / np.maximum(rate, 1e-12)

    @staticmethod
    def rescale_s(obs: Observation, jobs: np.ndarray) -> np.ndarray:
        """Downtime of a rescale: save and restore the checkpoint in place [s]."""
        links = obs.links
        size = obs.job_checkpoint_bytes[jobs]
        return size / links.write_Bps + size / links.read_Bps + links.startup_s

    def floors(self, obs: Observation, jobs: np.ndarray) -> np.ndarray:
        """The fewest GPUs each job needs to meet its deadline from now on [-], within its
        range (its maximum when even that is too late)."""
        lo, hi = obs.job_gpu_range()
        cur = obs.job_gpus[jobs]
        left_s = self.deadlines_s(obs, jobs) - obs.now_s
        down_s = self.rescale_s(obs, jobs)
        need = obs.job_remaining_gpu_s[jobs]
        out = np.array(hi[jobs], dtype=np.int64)
        found = np.zeros(jobs.size, dtype=bool)
        for g in range(int(lo[jobs].min()), int(hi[jobs].max()) + 1):
            ok = ~found & (lo[jobs] <= g) & (g <= hi[jobs])
            if not ok.any():
                continue
            rate = obs.job_rate(jobs, np.full(jobs.size, g), obs.job_site[jobs])
            time_s = need / np.maximum(rate, 1e-12) + np.where(g == cur, 0.0, down_s)
            hit = ok & (time_s <= left_s)
            out[hit] = g
            found |= hit
        return out

    # ------------------------------------------------------------ the rule
    def targets(self, obs: Observation, jobs: np.ndarray, floor: np.ndarray,
                fixed: np.ndarray) -> np.ndarray:
        """The GPU count each running elastic job in ``jobs`` should run on [-], from
        their ``floor`` counts; ``fixed`` jobs keep their current count."""
        _, hi = obs.job_gpu_range()
        site = obs.job_site[jobs]
        cur = np.asarray(obs.job_gpus[jobs], dtype=np.int64)
        floor = np.where(fixed, cur, floor)
        top = np.where(fixed, cur, hi[jobs])
        gpu_w = obs.gpu_power_w * obs.pue
        head = available_headroom_w(obs)
        cheap = cheap_now(obs)
        target = floor.copy()
        for s in np.unique(site).tolist():
            at = np.flatnonzero(site == s)
            free = int(obs.free_gpus[s])
            # Floors above the current count take free slots first, in job order (GPUs a
            # decrease sheds stay held until it has restored: they are not free now).
            raise_by = np.maximum(floor[at] - cur[at], 0)
            before = np.cumsum(raise_by) - raise_by
            got = np.clip(free - before, 0, raise_by)
            target[at] = np.where(floor[at] > cur[at], cur[at] + got, floor[at])
            free -= int(got.sum())
            # Surplus left by everything else (the headroom plus these jobs' own power),
            # less what the targets so far draw: the GPUs it still covers.
            budget_w = head[s] + float(cur[at].sum() - target[at].sum()) * gpu_w[s]
            n_more = int(np.floor(max(budget_w, 0.0) / max(float(gpu_w[s]), 1e-9)))
            if cheap is not None and cheap[s]:  # a clean or cheap grid hour: run wide
                n_more = int(top[at].sum())
            if n_more <= 0:
                continue
            # Every increment above the targets, by the throughput it adds (a concave
            # curve: each job's increments come in order), largest first.
            cand_k, cand_gain = [], []
            for k in at.tolist():
                g = np.arange(target[k], top[k])
                if g.size == 0:
                    continue
                idx = np.full(g.size, jobs[k])
                sites = np.full(g.size, s)
                cand_gain.append(obs.job_rate(idx, g + 1, sites) - obs.job_rate(idx, g, sites))
                cand_k.append(np.full(g.size, k))
            if not cand_k:
                continue
            ks = np.concatenate(cand_k)
            gains = np.concatenate(cand_gain)
            for k in ks[np.lexsort((ks, -gains))].tolist():
                if n_more <= 0:
                    break
                if target[k] >= cur[k]:  # growing past the current count takes a slot
                    if free <= 0:
                        continue
                    free -= 1
                target[k] += 1
                n_more -= 1
        return target

    def decide(self, observation: Observation) -> list[Action]:
        obs = observation
        jobs = np.flatnonzero((obs.job_phase == RUNNING) & obs.job_elastic()
                              & (obs.job_site >= 0))
        if jobs.size == 0:
            return []
        cur = np.asarray(obs.job_gpus[jobs], dtype=np.int64)
        floor = self.floors(obs, jobs)
        # A job rescaled (or started) less than min_dwell_s ago keeps its count unless its
        # deadline needs more.
        dwelt = obs.now_s - obs.job_last_move_s[jobs] >= self.min_dwell_s - 1e-9
        fixed = ~dwelt & (cur >= floor)
        target = self.targets(obs, jobs, floor, fixed)
        site = obs.job_site[jobs]
        rate_cur = obs.job_rate(jobs, cur, site)
        rate_new = obs.job_rate(jobs, target, site)
        # An increase pays when the work it adds over the dwell exceeds the work its
        # downtime loses; one the deadline needs is made regardless.
        worth = ((rate_new - rate_cur) * max(self.min_dwell_s, PAYOFF_S)
                 > rate_cur * self.rescale_s(obs, jobs))
        go = (target < cur) | ((target > cur) & (worth | (cur < floor)))
        return [Scale(int(jobs[k]), int(target[k])) for k in np.flatnonzero(go).tolist()]
