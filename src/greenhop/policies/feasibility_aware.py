"""``feasibility-aware``: the paper's policy.

A running, movable job whose site no longer covers it with surplus migrates only
when all of these hold for a destination ``d``:

* ``d`` is allowed, reachable, has free GPU slots and enough surplus headroom to
  power the job fully (training power x PUE at ``d``);
* hysteresis: the job has stayed at least ``min_dwell_s`` where it is, and the
  surplus it gains is at least ``min_gain`` x its power;
* the feasibility model (:func:`greenhop.model.evaluate`) says the migration is
  feasible (downtime <= ``alpha`` x the destination's **estimated** remaining
  window) and, with ``require_justified``, energetically justified (payback
  before the window ends). Its powers are the ones the books charge: the job's
  facility power at the destination (training power with the host share, x PUE)
  and, while down, the facility idle power of its GPUs at both ends
  (:func:`~greenhop.policies.base.downtime_power_w`).

The window estimate uses only the past (see
:mod:`greenhop.policies.window_estimate`), or the Observation's
``window_forecast_s`` when a forecaster provides one. Among feasible
destinations the one with the most surplus headroom now wins (``prefer="window"``:
the longest estimated window instead).
"""

from __future__ import annotations

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.observation import PINNED, RUNNING, Action, Migrate, Observation
from greenhop.model import constants as C
from greenhop.model import evaluate
from greenhop.policies.base import (
    POLICIES,
    Capabilities,
    PolicyBase,
    available_headroom_w,
    bool_param,
    downtime_power_w,
    job_power_at,
    move_gpus,
    number_param,
)
from greenhop.policies.objectives import lookahead_weights
from greenhop.policies.window_estimate import (
    WindowEstimator,
    estimator_or_default,
    window_estimate_s,
)


@POLICIES.register("feasibility-aware")
class FeasibilityAwarePolicy(PolicyBase):
    """Migrate only inside the feasible domain for the destination's estimated window.

    Args:
        alpha: share of the window the downtime may use [-].
        min_dwell_s: least time at a site before the job may move again [s].
        min_gain: surplus the job must gain, as a share of its power [-].
        require_justified: also require the energy payback inside the window.
        estimator: remaining-window estimator (default: historical mean by time of day).
        window_threshold_w: surplus threshold of a window for the default estimator [W]
            (``None``: the Observation's ``window_threshold_w``).
        prefer: among feasible destinations, take the one with the most surplus headroom
            now (``"headroom"``, default) or the longest estimated window (``"window"``).
            Picking the largest of noisy window estimates favours the most over-estimated
            site (a winner's curse), which costs regretted migrations on the default
            scenario; see docs/simulator.md.
    """

    name = "feasibility-aware"
    summary = ("energy-greedy's move, taken only when its downtime is at most alpha x the "
               "destination's estimated window")
    capabilities = Capabilities(migrates=True)
    #: read ``Observation.window_forecast_s`` when a mechanism fills it (subclasses that bring
    #: their own window source set this to False)
    use_observation_forecast = True

    def __init__(self, alpha: float = C.ALPHA, min_dwell_s: float = 3600.0,
                 min_gain: float = 0.5, require_justified: bool = True,
                 estimator: WindowEstimator | None = None,
                 window_threshold_w: float | None = None, prefer: str = "headroom") -> None:
        if prefer not in ("headroom", "window"):
            raise ConfigError(f"feasibility-aware: prefer must be 'headroom' or 'window', "
                              f"got {prefer!r}")
        self.prefer = prefer
        self.alpha = number_param(self.name, "alpha", alpha, lo=0.0, lo_open=True, hi=1.0)
        self.min_dwell_s = number_param(self.name, "min_dwell_s", min_dwell_s, lo=0.0,
                                        unit="s")
        self.min_gain = number_param(self.name, "min_gain", min_gain, lo=0.0)
        self.require_justified = bool_param(self.name, "require_justified", require_justified)
        self.estimator = estimator_or_default(self.name, estimator, window_threshold_w)

    def decide(self, observation: Observation) -> list[Action]:
        obs = observation
        # Keep the estimator's history current even when nothing moves this step.
        window = (window_estimate_s(obs, self.estimator) if self.use_observation_forecast
                  else np.asarray(self.estimator.estimate(obs), dtype=float))
        head = available_headroom_w(obs)
        site = obs.job_site
        cand = np.flatnonzero((obs.job_phase == RUNNING) & (obs.job_mobility != PINNED))
        if cand.size == 0:
            return []
        cand = cand[(head[site[cand]] < 0)
                    & (obs.now_s - obs.job_last_move_s[cand] >= self.min_dwell_s)]
        w = lookahead_weights(obs)
        if w is not None:  # carbon or cost objective: a job drawing green grid power stays
            cand = cand[w[site[cand]] > 0]
        if cand.size == 0:
            return []
        dests = np.flatnonzero((window > 0) & (head > 0))
        if dests.size == 0:
            return []
        src = site[cand]
        links = obs.links
        p_here = job_power_at(obs, cand, src)
        p_dest = job_power_at(obs, cand[:, None], dests[None, :])
        local = np.maximum(head[src] + p_here, 0.0)
        hops = links.hops[src[:, None], dests[None, :]]
        reach = hops > 0
        ok = (reach & obs.job_allowed[cand[:, None], dests[None, :]]
              & (head[dests][None, :] >= p_dest)
              & (head[dests][None, :] - local[:, None] >= self.min_gain * p_here[:, None]))
        if not ok.any():
            return []
        green_gain = np.clip(1.0 - local / np.maximum(p_here, 1e-9), 1e-3, 1.0)
        ci, di = np.nonzero(ok)
        good = self._feasible(obs, cand[ci], src[ci], dests[di], window[dests[di]],
                              p_dest[ci, di], green_gain[ci], None)
        if not good.any():
            return []
        ci, di = ci[good], di[good]
        free = np.array(obs.free_gpus, dtype=np.int64)
        gmove = move_gpus(obs, cand)
        extra = np.zeros_like(links.active_transfers)
        n_sites = obs.n_sites
        # Longest remaining work first: those jobs gain most from a long green window.
        order = np.argsort(-obs.job_remaining_gpu_s[cand], kind="stable")
        actions: list[Action] = []
        for k in order.tolist():
            rows = np.flatnonzero(ci == k)
            if rows.size == 0:
                continue
            j = int(cand[k])
            s = int(src[k])
            if head[s] >= 0:
                continue
            dk = di[rows]
            fits = (head[dests[dk]] >= p_dest[k, dk]) & (free[dests[dk]] >= gmove[k])
            if not fits.any():
                continue
            dk = dk[fits]
            if extra.any():
                # Transfers decided earlier in this step share the links: check again.
                again = self._feasible(obs, np.full(dk.size, j), np.full(dk.size, s), dests[dk],
                                       window[dests[dk]], p_dest[k, dk],
                                       np.full(dk.size, green_gain[k]), extra)
                dk = dk[again]
                if dk.size == 0:
                    continue
            if self.prefer == "window":
                score = window[dests[dk]] + 1e-6 * head[dests[dk]]
            else:
                score = head[dests[dk]] + 1e-9 * window[dests[dk]]
            i = int(dk[int(np.argmax(score))])
            d = int(dests[i])
            actions.append(Migrate(j, d))
            head[s] += p_here[k]
            head[d] -= p_dest[k, i]
            free[d] -= gmove[k]
            extra += links.route[s * n_sites + d]
        return actions

    def _feasible(self, obs: Observation, jobs, src, dst, window_s, p_dest_w, green_gain,
                  extra) -> np.ndarray:
        """Feasible (and justified) for each (job, src, dst) with the links' fair shares now."""
        links = obs.links
        share = links.shared_rate_bps(src, dst, extra)
        eff = links.efficiency[src, dst]
        f = evaluate(
            obs.job_move_bytes[jobs],
            share / eff,
            np.maximum(window_s, 1.0),
            alpha=self.alpha,
            efficiency=eff,
            streams=np.maximum(links.streams[src, dst], 1),
            rtt_s=np.maximum(links.rtt_s[src, dst], 1e-6),
            loss=links.loss[src, dst],
            write_Bps=links.write_Bps,
            read_Bps=links.read_Bps,
            startup_s=links.startup_s,
            job_power_w=np.maximum(p_dest_w, 1e-9),
            idle_power_w=downtime_power_w(obs, jobs, src, dst),
            network_j_per_bit=links.j_per_bit[src, dst],
            green_gain=green_gain,
        )
        good = f.feasible
        if self.require_justified:
            good = good & f.justified
        return good
