"""``network-aware``: energy-driven migration that never congests a WAN link.

A re-implementation of the rule of c-NEMESIS (M. F. S. Vasconcelos, D. Cordeiro,
F. Dufossé, "Indirect Network Impact on the Energy Consumption in Multi-clouds for
Follow-the-renewables Approaches", SMARTGREENS 2022, SciTePress): follow-the-renewables
migration whose live migrations are scheduled with the whole network in view, so that
concurrent transfers never congest a link, helped by an accurate estimate of each
migration's duration. The paper moves virtual machines; here the moving state is a
training checkpoint.

The rule, in greenhop's terms:

* The move itself is energy-greedy's (:func:`~greenhop.policies.common_moves.greedy_moves`):
  a job its site no longer covers goes to the site with the most surplus headroom.
* **No congestion**: every migration in flight reserves, on each link of its path, the
  rate it reaches with the path to itself (``min(efficiency x bottleneck bandwidth,
  streams x Mathis bound)``, :func:`greenhop.model.effective_bps`), from its decision
  until it completes. A move is admitted only when every link of its path has that much
  capacity left (``link rate - reserved``) given the migrations in flight and those
  decided earlier in the same step. On a lossless path a transfer fills its bottleneck
  link, so no second transfer ever shares it.
* **Duration estimate**: the downtime of an admitted move is the feasibility model's
  (:func:`greenhop.model.evaluate`: save + transfer + restore) at the rate the transfer
  will get, the smaller of its own rate and the link's current fair share
  (``LinkInfo.shared_rate_bps``). The move is taken only when that downtime is at most
  ``window_share`` x the destination's estimated remaining window, so the job arrives
  while the surplus it moves for is still there.

A job whose move is refused because its path is busy stays and is reconsidered at the
next decision, when the transfer ahead of it may have finished.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import MIGRATING, Action, Observation
from greenhop.policies.base import (
    POLICIES,
    Capabilities,
    PolicyBase,
    number_param,
)
from greenhop.policies.common_moves import (
    MoveFilter,
    StepState,
    alone_rate_bps,
    evaluate_moves,
    greedy_moves,
)
from greenhop.policies.window_estimate import (
    WindowEstimator,
    estimator_or_default,
    window_estimate_s,
)

# Rates within this relative tolerance of a link's capacity still fit (float round-off).
_FIT_TOL = 1e-9


def reserved_bps(obs: Observation) -> np.ndarray:
    """Rate [bit/s] reserved on each link by the migrations in flight, shape ``[L]``.

    A migration (``MIGRATING`` with a destination other than its site; a resume at the
    job's own site crosses no link) reserves its own rate on every link of its path.
    """
    links = obs.links
    reserved = np.zeros(links.link_rate_bps.shape, dtype=float)
    moving = np.flatnonzero((obs.job_phase == MIGRATING) & (obs.job_dest >= 0)
                            & (obs.job_dest != obs.job_site) & (obs.job_site >= 0))
    if moving.size:
        src, dst = obs.job_site[moving], obs.job_dest[moving]
        rate = alone_rate_bps(obs, src, dst)
        paths = links.route[src * obs.n_sites + dst]
        reserved += (paths * rate[:, None]).sum(axis=0)
    return reserved


class LinkReservation(MoveFilter):
    """Admits a move only where its path has capacity left and it fits in the window."""

    def __init__(self, obs: Observation, window_s: np.ndarray, window_share: float) -> None:
        self.reserved = reserved_bps(obs)
        self.window_s = window_s
        self.window_share = window_share

    def _rate(self, obs: Observation, src: int, dests: np.ndarray) -> np.ndarray:
        return alone_rate_bps(obs, np.full(dests.size, src), dests)

    def accept(self, obs: Observation, job: int, src: int, dests: np.ndarray,
               p_here_w: float, local_w: float, state: StepState) -> np.ndarray:
        links = obs.links
        window = self.window_s[dests]
        rate = self._rate(obs, src, dests)
        paths = links.route[src * obs.n_sites + dests]               # [n, L]
        left = links.link_rate_bps * (1.0 + _FIT_TOL) - self.reserved  # [L]
        ok = (window > 0) & np.all(~paths | (rate[:, None] <= left[None, :]), axis=1)
        if not ok.any():
            return ok
        # Accurate duration: the rate it will get is its own rate or the fair share now.
        share = links.shared_rate_bps(np.full(dests.size, src), dests, state.extra)
        f = evaluate_moves(obs, np.full(dests.size, job), np.full(dests.size, src), dests,
                           window, np.ones(dests.size), rate_bps=np.minimum(rate, share))
        return ok & (f.downtime_s <= self.window_share * window)

    def taken(self, obs: Observation, job: int, src: int, dest: int) -> None:
        rate = float(self._rate(obs, src, np.array([dest]))[0])
        self.reserved += obs.links.route[src * obs.n_sites + dest] * rate


@POLICIES.register("network-aware")
class NetworkAwarePolicy(PolicyBase):
    """Energy-driven migration admitted only on links with capacity left (c-NEMESIS).

    Args:
        window_share: largest share of the destination's estimated window the estimated
            downtime may take [-], in (0, 1].
        estimator: remaining-window estimator when the Observation carries no forecast
            (default: historical mean by time of day).
        window_threshold_w: surplus threshold of a window for the default estimator [W]
            (``None``: the Observation's ``window_threshold_w``).
    """

    name = "network-aware"
    summary = ("energy-driven moves, each admitted only while no link of its path is "
               "saturated by transfers in flight")
    source = ("Vasconcelos, Cordeiro, Dufossé: Indirect Network Impact on the Energy "
              "Consumption in Multi-clouds for Follow-the-renewables Approaches "
              "(c-NEMESIS), SMARTGREENS 2022")
    capabilities = Capabilities(migrates=True)

    def __init__(self, window_share: float = 1.0, estimator: WindowEstimator | None = None,
                 window_threshold_w: float | None = None) -> None:
        self.window_share = number_param(self.name, "window_share", window_share, lo=0.0,
                                         lo_open=True, hi=1.0)
        self.estimator = estimator_or_default(self.name, estimator, window_threshold_w)

    def decide(self, observation: Observation) -> list[Action]:
        window = np.asarray(window_estimate_s(observation, self.estimator), dtype=float)
        return list(greedy_moves(observation,
                                 LinkReservation(observation, window, self.window_share)))
