"""Shared pieces of the published policies: time a job needs, migration figures from the
feasibility model, and the energy-driven move loop with a pluggable filter.

The loop of :func:`greedy_moves` is energy-greedy's: every running, movable job whose
site no longer covers it with surplus goes to the allowed, reachable site with free
slots and the most surplus headroom, when that site offers it more surplus than it gets
where it is; headroom, free slots and the transfers decided this step are updated after
each move. A :class:`MoveFilter` narrows the destinations a job may take (the
``cost-aware-greedy`` payback test, the ``network-aware`` link reservation) without
copying the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from greenhop.core.observation import PINNED, RUNNING, Migrate, Observation
from greenhop.model import Feasibility, effective_bps, evaluate, restore_seconds
from greenhop.model import constants as C
from greenhop.policies.base import (
    available_headroom_w,
    downtime_power_w,
    job_power_at,
    move_gpus,
)


def work_rate(obs: Observation, jobs: np.ndarray) -> np.ndarray:
    """Work each job does per second at its current site on its current GPU count
    [reference-GPU s / s] (an elastic job on its speedup curve)."""
    site = np.maximum(obs.job_site[jobs], 0)
    return obs.job_rate(jobs, obs.job_gpus[jobs], site)


def time_needed_s(obs: Observation, jobs: np.ndarray) -> np.ndarray:
    """Training time the remaining work of each job needs at its current site [s]."""
    return obs.job_remaining_gpu_s[jobs] / np.maximum(work_rate(obs, jobs), 1e-12)


class OwnDeadlines:
    """Each job's deadline [s]: its own, or for a job without one, the time it was first
    seen + the training time it then needed (``time_needed(obs, jobs)`` [s]) +
    ``max_delay_s``; remembered per job from then on."""

    def __init__(self, max_delay_s: float,
                 time_needed: Callable[[Observation, np.ndarray], np.ndarray] = time_needed_s
                 ) -> None:
        self.max_delay_s = float(max_delay_s)
        self.time_needed = time_needed
        self._own_s = np.zeros(0)  # per job [s]; NaN until first seen

    def __call__(self, obs: Observation, jobs: np.ndarray) -> np.ndarray:
        if self._own_s.size != obs.n_jobs:
            self._own_s = np.full(obs.n_jobs, np.nan)
        out = np.array(obs.job_deadline_s[jobs], dtype=float)
        free = ~np.isfinite(out)
        if free.any():
            mine = jobs[free]
            new = mine[np.isnan(self._own_s[mine])]
            if new.size:
                self._own_s[new] = obs.now_s + self.time_needed(obs, new) + self.max_delay_s
            out[free] = self._own_s[mine]
        return out


def restore_time_s(obs: Observation, jobs: np.ndarray) -> np.ndarray:
    """Time a resume costs each job at its own site: read the checkpoint, restart [s]."""
    links = obs.links
    return np.asarray(restore_seconds(obs.job_checkpoint_bytes[jobs], links.read_Bps,
                                      links.startup_s), dtype=float)


def alone_rate_bps(obs: Observation, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rate one transfer ``src -> dst`` reaches with the path to itself [bit/s]:
    ``min(efficiency x bottleneck bandwidth, streams x Mathis bound)``."""
    links = obs.links
    return np.asarray(effective_bps(
        links.bandwidth_bps[src, dst], efficiency=links.efficiency[src, dst],
        streams=np.maximum(links.streams[src, dst], 1),
        rtt_s=np.maximum(links.rtt_s[src, dst], 1e-6), loss=links.loss[src, dst]), dtype=float)


def evaluate_moves(obs: Observation, jobs: np.ndarray, src: np.ndarray, dst: np.ndarray,
                   window_s: np.ndarray, saved_w: np.ndarray, *, alpha: float = C.ALPHA,
                   rate_bps: np.ndarray | None = None,
                   extra: np.ndarray | None = None) -> Feasibility:
    """The feasibility model for moving ``jobs`` from ``src`` to ``dst`` now (vectorised).

    Args:
        window_s: the destination's (estimated) remaining window [s] (clipped to >= 1 s).
        saved_w: grid power the move saves once the job runs at ``dst`` [W]; the payback
            is ``migration energy / saved_w`` (clipped to >= 1 mW).
        alpha: share of the window the downtime may use (for ``feasible``) [-].
        rate_bps: the transfer's effective rate [bit/s]; default: its fair share of every
            link on the path now (``LinkInfo.shared_rate_bps``, with ``extra`` transfers
            per link decided earlier this step).
    """
    links = obs.links
    eff = links.efficiency[src, dst]
    rate = (links.shared_rate_bps(src, dst, extra) if rate_bps is None
            else np.asarray(rate_bps, dtype=float))
    return evaluate(
        obs.job_move_bytes[jobs], rate / eff, np.maximum(window_s, 1.0), alpha=alpha,
        efficiency=eff, streams=np.maximum(links.streams[src, dst], 1),
        rtt_s=np.maximum(links.rtt_s[src, dst], 1e-6), loss=links.loss[src, dst],
        write_Bps=links.write_Bps, read_Bps=links.read_Bps, startup_s=links.startup_s,
        job_power_w=np.maximum(saved_w, 1e-3),
        idle_power_w=downtime_power_w(obs, jobs, src, dst),
        network_j_per_bit=links.j_per_bit[src, dst], green_gain=1.0)


@dataclass
class StepState:
    """What the moves decided so far in one decision have used up.

    Attributes:
        head_w: surplus headroom per site left after those moves [W].
        free: free GPU slots per site [-].
        extra: transfers decided this step on each link [-].
    """

    head_w: np.ndarray
    free: np.ndarray
    extra: np.ndarray

    @classmethod
    def of(cls, obs: Observation, head_w: np.ndarray) -> StepState:
        """Nothing used up yet: ``head_w`` (the decision's own copy), the free slots now."""
        return cls(head_w, np.array(obs.free_gpus, dtype=np.int64),
                   np.zeros_like(obs.links.active_transfers))

    def book(self, obs: Observation, job: int, src: int, dest: int, p_src_w: float,
             gpus: int) -> None:
        """Count the move ``job: src -> dest`` (drawing ``p_src_w`` [W] at the source,
        moving ``gpus``) against what the next moves of the decision see."""
        self.head_w[src] += p_src_w
        self.head_w[dest] -= float(job_power_at(obs, np.array([job]), np.array([dest]))[0])
        self.free[dest] -= gpus
        self.extra += obs.links.route[src * obs.n_sites + dest]


class MoveFilter:
    """Narrows the destinations of :func:`greedy_moves` (the default keeps them all)."""

    def accept(self, obs: Observation, job: int, src: int, dests: np.ndarray,
               p_here_w: float, local_w: float, state: StepState) -> np.ndarray:
        """Which of ``dests`` the job may move to (bool per destination).

        ``p_here_w`` is the job's power at ``src``, ``local_w`` the part of it the
        source's surplus covers [W].
        """
        return np.ones(dests.size, dtype=bool)

    def taken(self, obs: Observation, job: int, src: int, dest: int) -> None:
        """Called once the move ``job: src -> dest`` is decided."""


def greedy_moves(obs: Observation, move_filter: MoveFilter | None = None) -> list[Migrate]:
    """Energy-greedy's moves, each restricted to the destinations ``move_filter`` accepts.

    Under a carbon or cost objective the same loop runs on weighted grid power
    (:func:`greenhop.policies.objectives.weighted_greedy_moves`)."""
    if obs.grid_weight_forecast_per_j is not None:
        from greenhop.policies.objectives import weighted_greedy_moves

        return weighted_greedy_moves(obs, move_filter)
    head = available_headroom_w(obs)
    if head.max(initial=-np.inf) <= 0:
        return []
    site = obs.job_site
    cand = np.flatnonzero((obs.job_phase == RUNNING) & (obs.job_mobility != PINNED))
    cand = cand[head[site[cand]] < 0]
    if cand.size == 0:
        return []
    state = StepState.of(obs, head)
    reach = obs.links.hops >= 0
    gmove = move_gpus(obs, cand)
    all_sites = np.arange(obs.n_sites)
    actions: list[Migrate] = []
    for k, j in enumerate(cand.tolist()):
        s = int(site[j])
        if state.head_w[s] >= 0:
            continue  # moves decided earlier freed enough surplus here
        p_here = float(job_power_at(obs, np.array([j]), np.array([s]))[0])
        local = max(state.head_w[s] + p_here, 0.0)
        ok = (obs.job_allowed[j] & reach[s] & (state.free >= gmove[k]) & (all_sites != s)
              & (state.head_w > local))
        if not ok.any():
            continue
        if move_filter is not None:
            dests = np.flatnonzero(ok)
            ok[dests] = move_filter.accept(obs, j, s, dests, p_here, local, state)
            if not ok.any():
                continue
        d = int(np.argmax(np.where(ok, state.head_w, -np.inf)))
        actions.append(Migrate(j, d))
        state.book(obs, j, s, d, p_here, gmove[k])
        if move_filter is not None:
            move_filter.taken(obs, j, s, d)
    return actions
