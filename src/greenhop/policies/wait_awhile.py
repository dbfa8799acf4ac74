"""``wait-awhile``: temporal shifting of interruptible jobs into forecast surplus periods.

A re-implementation of the interruptible-workload strategy of Let's Wait Awhile
(P. Wiesner, I. Behnke, D. Scheinert, K. Gontarska, L. Thamsen, "Let's Wait Awhile: How
Temporal Workload Shifting Can Reduce Carbon Emissions in the Cloud", Middleware 2021,
doi:10.1145/3464298.3493399). There, an interruptible job that needs ``n`` time slots
and may finish as late as its deadline runs in the ``n`` slots of ``[now, deadline)``
with the lowest forecast carbon intensity and waits in all others. Jobs never change
site.

In greenhop the signal is surplus: a slot's score for a job is the share of the job's
power the site's forecast surplus covers, ``min(1, surplus / job power)`` (1 - the
job's non-renewable share), and the job runs in the ``n`` slots of highest score, the
earliest among equals (so a job with nothing to gain from waiting runs now).

* **Forecast** (past only): the surplus of each site at each future step is the mean of
  the surplus at the same time of day over the last ``profile_days`` days of
  ``observation.history`` (a seasonal profile; where no past day covers a time of day,
  the surplus now). The current step uses the surplus measured now.
* **Slots needed**: ``n = ceil(time the remaining work needs / step)``, planned over
  ``[now, deadline - resume time - one step)`` so a job resumed late still makes it.
* **Deadline**: a job's own deadline; a job without one may finish at most ``max_delay_s``
  later than it would if it ran from the moment the policy first saw it.
* **Re-planning**: the paper plans once at submission; here the plan is made again at
  every decision with the latest surplus. With an unchanged forecast the two agree (the
  best ``n - 1`` slots after a chosen slot are the rest of the same plan), and a job whose
  deadline would be missed otherwise runs: when it needs every slot left, every slot is
  chosen.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.observation import RUNNING, SUSPENDED, Action, Observation, Resume, Suspend
from greenhop.policies.base import POLICIES, Capabilities, PolicyBase, job_power_at
from greenhop.policies.common_moves import restore_time_s, time_needed_s

DAY_S = 86400.0


def surplus_profile_w(obs: Observation, days: int) -> np.ndarray:
    """Mean past surplus per step of the day and site [W], shape ``[P, S]`` with ``P`` the
    steps per day; NaN where no past day covers that step of the day.

    Row ``p`` is the time of day of every step ``t`` with ``t mod P == p``.
    """
    period = max(1, round(DAY_S / obs.dt_s))
    hist = obs.history
    start = max(obs.step + 1 - days * period, hist.first_step)
    past = np.asarray(hist.slice(start, obs.step + 1), dtype=float)
    slots = np.mod(np.arange(start, start + past.shape[0]), period)
    sums = np.zeros((period, obs.n_sites))
    counts = np.zeros(period)
    np.add.at(sums, slots, past)
    np.add.at(counts, slots, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts[:, None] > 0, sums / counts[:, None], np.nan)


def run_now(score: np.ndarray, n: int) -> bool:
    """Whether slot 0 is among the ``n`` best of ``score`` (earliest first among equals)."""
    if n >= score.size:
        return True
    if n <= 0:
        return False
    return int(np.count_nonzero(score[1:] > score[0])) < n


@POLICIES.register("wait-awhile")
class WaitAwhilePolicy(PolicyBase):
    """Run each job in its forecast best-covered slots before its deadline (Wait Awhile).

    Args:
        profile_days: past days the time-of-day surplus profile averages [-].
        max_delay_s: for a job without a deadline, how much later than running straight
            through it may finish [s].
        horizon_s: longest look-ahead [s]; a deadline further out is planned as if it
            were here, with the job's work scaled to the share of the time left that the
            look-ahead covers.
    """

    name = "wait-awhile"
    summary = ("suspends each job outside the forecast best-covered slots before its "
               "deadline and runs it in them (Let's Wait Awhile)")
    source = ("Wiesner, Behnke, Scheinert, Gontarska, Thamsen: Let's Wait Awhile: How "
              "Temporal Workload Shifting Can Reduce Carbon Emissions in the Cloud, "
              "Middleware 2021")
    capabilities = Capabilities(suspends=True)

    def __init__(self, profile_days: int = 7, max_delay_s: float = DAY_S,
                 horizon_s: float = 7 * DAY_S) -> None:
        if int(profile_days) < 1 or float(max_delay_s) < 0 or float(horizon_s) <= 0:
            raise ConfigError("wait-awhile: profile_days must be >= 1, max_delay_s >= 0 and "
                              f"horizon_s > 0; got {profile_days!r}, {max_delay_s!r}, "
                              f"{horizon_s!r}")
        self.profile_days = int(profile_days)
        self.max_delay_s = float(max_delay_s)
        self.horizon_s = float(horizon_s)
        self._own_deadline_s: dict[int, float] = {}

    def deadlines_s(self, obs: Observation, jobs: np.ndarray) -> np.ndarray:
        """Each job's deadline [s]; without one, first seen + time needed + max delay."""
        need = time_needed_s(obs, jobs)
        out = np.array(obs.job_deadline_s[jobs], dtype=float)
        for k, j in enumerate(jobs.tolist()):
            if not np.isfinite(out[k]):
                if j not in self._own_deadline_s:
                    self._own_deadline_s[j] = obs.now_s + need[k] + self.max_delay_s
                out[k] = self._own_deadline_s[j]
        return out

    def decide(self, observation: Observation) -> list[Action]:
        obs = observation
        jobs = np.flatnonzero(np.isin(obs.job_phase, (RUNNING, SUSPENDED))
                              & (obs.job_site >= 0))
        if jobs.size == 0:
            return []
        dt = obs.dt_s
        site = obs.job_site[jobs]
        deadline = self.deadlines_s(obs, jobs)
        need_s = time_needed_s(obs, jobs)
        left_s = deadline - obs.now_s - restore_time_s(obs, jobs) - dt
        profile = surplus_profile_w(obs, self.profile_days)
        period = profile.shape[0]
        power = job_power_at(obs, jobs, site)
        actions: list[Action] = []
        for k, j in enumerate(jobs.tolist()):
            slots = int(np.floor(max(left_s[k], 0.0) / dt))
            n = int(np.ceil(need_s[k] / dt - 1e-9))
            look = int(np.floor(self.horizon_s / dt))
            if slots > look:
                # Beyond the look-ahead: plan its share of the work inside it.
                n = int(np.ceil(n * look / slots - 1e-9))
                slots = look
            s = int(site[k])
            if slots <= 1 or n >= slots:
                go = True
            else:
                steps = obs.step + np.arange(slots)
                fc = profile[np.mod(steps, period), s]
                fc[0] = obs.surplus_w[s]
                fc = np.where(np.isnan(fc), obs.surplus_w[s], fc)
                score = np.clip(fc / max(power[k], 1e-9), 0.0, 1.0)
                go = run_now(score, n)
            if go and obs.job_phase[j] == SUSPENDED:
                actions.append(Resume(j))
            elif not go and obs.job_phase[j] == RUNNING:
                actions.append(Suspend(j))
        return actions
