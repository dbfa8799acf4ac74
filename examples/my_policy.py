"""An example of your own greenhop policy: chase surplus, or wait for it.

When a running job's site no longer has the surplus to power it, the job moves to the
reachable site with the most surplus headroom, but only if the migration's downtime fits
in ``alpha`` x that site's remaining window (the feasibility model, ``greenhop.model``).
With no such site it is suspended where it is, unless its deadline leaves no room to wait;
a suspended job resumes once its site has the surplus again, or when waiting any longer
would put its deadline at risk.

The window is the forecast's quantile ``q`` when the mechanism gives window forecasts
(option ``forecasts = true``), else an estimate from the past surplus alone. Run it with::

    greenhop simulate live-3site --policy-file examples/my_policy.py:SurplusChaser \\
        --policies feasibility-aware,surplus-chaser

See docs/policies.md for the API.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import PINNED, RUNNING, SUSPENDED, Migrate, Resume, Suspend
from greenhop.model import evaluate, restore_seconds
from greenhop.policies import Capabilities, PolicyBase
from greenhop.policies.base import bool_param, number_param
from greenhop.policies.window_estimate import HistoricalWindowEstimator


class SurplusChaser(PolicyBase):
    """Move a job to the greenest site whose window fits the move, else wait for surplus.

    Args:
        alpha: share of the destination's window the downtime may use [-].
        q: quantile of the window forecasts to trust (when there are forecasts) [-].
        forecasts: ask the simulator (or a live run) for window forecasts; they cost run
            time, so the class does not declare them and an option asks for them here.
        slack: a job with a deadline waits only while, after the next decision, the time
            to its deadline is still at least ``slack`` x the time it needs to finish [-].
    """

    name = "surplus-chaser"
    summary = "moves a job short of surplus to the greenest site whose window fits the move; " \
              "else suspends it until its site has surplus again"
    source = "examples/my_policy.py"
    capabilities = Capabilities(migrates=True, suspends=True)

    def __init__(self, alpha: float = 0.1, q: float = 0.5, slack: float = 1.5,
                 forecasts: bool = False) -> None:
        # checked here, so a bad value from a scenario or --set is exit 2 naming it
        # (alpha = "abc", forecasts = "no"), not a failure of this code in the run
        self.alpha = number_param(self.name, "alpha", alpha, lo=0.0, lo_open=True, hi=1.0)
        self.q = number_param(self.name, "q", q, lo=0.0, lo_open=True, hi=1.0)
        self.slack = number_param(self.name, "slack", slack, lo=1.0)
        forecasts = bool_param(self.name, "forecasts", forecasts)
        if forecasts:  # the mechanism reads the object's capabilities, not the class's
            self.capabilities = Capabilities(migrates=True, suspends=True,
                                             window_forecasts=True)
        self.estimator = HistoricalWindowEstimator()  # reads obs.history: the past only
        self.moves = 0
        self.last_now_s: float | None = None  # when decide last ran (decision interval)

    def window_s(self, obs) -> np.ndarray:
        """Each site's remaining surplus window [s]."""
        past = self.estimator.estimate(obs)  # called every step: it learns as time passes
        forecast = obs.window_forecast_at(self.q) if obs.window_forecast_q_s is not None \
            else None
        return past if forecast is None else np.where(np.isnan(forecast), past, forecast)

    def decide(self, obs):
        self.interval_s = obs.now_s - self.last_now_s if self.last_now_s is not None \
            else obs.dt_s
        self.last_now_s = obs.now_s
        window = self.window_s(obs)
        head = np.array(obs.headroom_w, dtype=float)  # a copy we spend as we decide
        free = np.array(obs.free_gpus)
        power = obs.job_power_w()  # each job at its own site [W]
        actions = []
        for j in np.flatnonzero(obs.job_phase == SUSPENDED):
            s = obs.job_site[j]
            if head[s] >= power[j] or not self.can_wait(obs, j, s):
                actions.append(Resume(int(j)))
                head[s] -= power[j]
        for j in np.flatnonzero((obs.job_phase == RUNNING) & (head[obs.job_site] < 0)):
            s = obs.job_site[j]
            dest = self.destination(obs, j, s, window, head, free)
            if dest is not None:
                actions.append(Migrate(int(j), dest))
                self.moves += 1
                p_dest = obs.job_gpus[j] * obs.gpu_power_w[dest] * obs.pue[dest]
                head[s] += power[j]
                head[dest] -= p_dest
                free[dest] -= obs.job_gpus[j]
            elif self.can_wait(obs, j, s):
                actions.append(Suspend(int(j)))
                head[s] += power[j]
        return actions

    def destination(self, obs, j, s, window, head, free) -> int | None:
        """The reachable site with the most headroom where the move is feasible, or None."""
        if obs.job_mobility[j] == PINNED:
            return None
        p_dest = obs.job_gpus[j] * obs.gpu_power_w * obs.pue  # the job's power at each site
        links = obs.links
        ok = ((links.hops[s] > 0) & obs.job_allowed[j] & (head >= p_dest)
              & (free >= obs.job_gpus[j]) & (window > 0))
        for d in sorted(np.flatnonzero(ok), key=lambda d: -head[d]):
            rate_bps = links.shared_rate_bps(s, d)  # the fair share a new transfer gets now
            f = evaluate(obs.job_move_bytes[j], rate_bps / links.efficiency[s, d], window[d],
                         alpha=self.alpha, efficiency=links.efficiency[s, d],
                         streams=max(int(links.streams[s, d]), 1),
                         rtt_s=max(float(links.rtt_s[s, d]), 1e-6), loss=links.loss[s, d],
                         write_Bps=links.write_Bps, read_Bps=links.read_Bps,
                         startup_s=links.startup_s, job_power_w=p_dest[d],
                         idle_power_w=obs.job_gpus[j] * obs.gpu_idle_w[s],
                         network_j_per_bit=links.j_per_bit[s, d])
            if bool(f.feasible):  # downtime <= alpha x the destination's window
                return int(d)
        return None

    def can_wait(self, obs, j, s) -> bool:
        """Whether job ``j`` may wait until the next decision: it has no deadline, or the
        time then left to it is at least ``slack`` x what the job needs (restart included)."""
        restart_s = restore_seconds(obs.job_checkpoint_bytes[j], obs.links.read_Bps,
                                    obs.links.startup_s)
        need_s = obs.job_remaining_gpu_s[j] / (obs.job_gpus[j] * obs.throughput[s]) + restart_s
        left_s = obs.job_deadline_s[j] - obs.now_s - self.interval_s
        return left_s >= self.slack * need_s

    def counters(self) -> dict[str, float]:
        return {"surplus_chaser_moves": float(self.moves)}
