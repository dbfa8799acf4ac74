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
  ``[now, deadline - resume time - one decision interval)`` so a job resumed late (at
  the next time the policy is asked) still makes it.
* **Deadline**: a job's own deadline; a job without one may finish at most ``max_delay_s``
  later than it would if it ran from the moment the policy first saw it.
* **Re-planning**: the paper plans once at submission; here the plan is made again at
  every decision with the latest surplus. With an unchanged forecast the two agree (the
  best ``n - 1`` slots after a chosen slot are the rest of the same plan), and a job whose
  deadline would be missed otherwise runs: when it needs every slot left, every slot is
  chosen.
* **Objectives** (docs/grid.md): under a carbon or cost objective a slot's cost is the
  job's weighted grid power there, ``weight x max(0, power - surplus)``, with the weights
  as forecast now, and the job runs in its ``n`` cheapest slots (the paper's rule on
  carbon intensity, with surplus counted as free).
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import RUNNING, SUSPENDED, Action, Observation, Resume, Suspend
from greenhop.policies.base import (
    POLICIES,
    Capabilities,
    PolicyBase,
    job_power_at,
    number_param,
    whole_param,
)
from greenhop.policies.common_moves import OwnDeadlines, restore_time_s, time_needed_s
from greenhop.policies.objectives import weighted_runs_now

DAY_S = 86400.0


class SurplusProfile:
    """Mean past surplus per step of the day and site [W] over the last ``days`` days of
    ``observation.history``, kept up to date incrementally (a sliding window).

    :meth:`update` returns shape ``[P, S]`` with ``P`` the steps per day (row ``p`` is the
    time of day of every step ``t`` with ``t mod P == p``); NaN where no past day covers
    that step of the day.
    """

    def __init__(self, days: int) -> None:
        self.days = int(days)
        self._upto: int | None = None

    def _add(self, obs: Observation, start: int, stop: int, sign: float) -> None:
        if stop <= start:
            return
        rows = np.asarray(obs.history.slice(start, stop), dtype=float)
        slots = np.mod(np.arange(start, start + rows.shape[0]), self._period)
        np.add.at(self._sums, slots, sign * rows)
        np.add.at(self._counts, slots, sign)

    def update(self, obs: Observation) -> np.ndarray:
        """The profile with every step up to and including now [W]."""
        period = max(1, round(DAY_S / obs.dt_s))
        lo = max(obs.step + 1 - self.days * period, obs.history.first_step)
        if (self._upto is None or obs.step < self._upto or lo > self._upto
                or period != self._period):
            self._period = period
            self._sums = np.zeros((period, obs.n_sites))
            self._counts = np.zeros(period)
            self._add(obs, lo, obs.step + 1, 1.0)
        else:
            self._add(obs, self._upto + 1, obs.step + 1, 1.0)
            self._add(obs, self._lo, lo, -1.0)  # the steps that left the window
        self._upto, self._lo = obs.step, lo
        counts = np.round(self._counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts[:, None] > 0, self._sums / counts[:, None], np.nan)


def runs_now(now_w: np.ndarray, cycle_w: np.ndarray, power_w: np.ndarray, site: np.ndarray,
             slots: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Which jobs run now: slot 0 is among each job's ``need`` best-covered of its first
    ``slots`` slots (earliest first among equals), for many jobs at once.

    Slot 0's surplus is ``now_w`` ``[S]``; slot ``k >= 1``'s is ``cycle_w[k mod P]``
    (``[P, S]``, a daily profile rotated so that row 0 is the time of day of now). A job's
    score of a slot is ``clip(surplus / power, 0, 1)``; the result equals :func:`run_now`
    on each job's scores. A slot beats now exactly when its surplus exceeds
    ``max(surplus now, 0)`` and the surplus now does not cover the job, so the number of
    better slots among ``1 .. m`` is whole days of the profile plus a prefix of one.
    """
    period = cycle_w.shape[0]
    beats = (cycle_w > np.maximum(now_w, 0.0)[None, :]).astype(np.int64)   # [P, S]
    prefix = np.cumsum(beats, axis=0)
    out = (need >= slots) | (slots <= 1) | (now_w[site] >= power_w)
    ask = ~out & (need > 0)
    if ask.any():
        last = slots[ask] - 1                      # slots 1 .. last
        s = site[ask]
        days, rest = np.divmod(last, period)
        better = days * prefix[-1, s] + prefix[rest, s] - beats[0, s]
        out[ask] = better < need[ask]
    return out


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
        self.profile_days = whole_param(self.name, "profile_days", profile_days, lo=1,
                                        hi=366)
        self.max_delay_s = number_param(self.name, "max_delay_s", max_delay_s, lo=0.0,
                                        unit="s")
        # a year at most: the look-ahead is an array of that many steps
        self.horizon_s = number_param(self.name, "horizon_s", horizon_s, lo=0.0,
                                      lo_open=True, hi=366 * DAY_S, unit="s")
        self.deadlines_s = OwnDeadlines(self.max_delay_s)
        self._profile = SurplusProfile(self.profile_days)

    def decide(self, observation: Observation) -> list[Action]:
        obs = observation
        profile = self._profile.update(obs)  # every step, so the window stays current
        phase = obs.job_phase
        jobs = np.flatnonzero(((phase == RUNNING) | (phase == SUSPENDED)) & (obs.job_site >= 0))
        if jobs.size == 0:
            return []
        dt = obs.dt_s
        site = obs.job_site[jobs]
        # a job suspended now is asked about again only at the next decision: keep that
        # much slack (a step when the policy is asked every step)
        left_s = (self.deadlines_s(obs, jobs) - obs.now_s - restore_time_s(obs, jobs)
                  - obs.decision_s)
        slots = np.floor(np.maximum(left_s, 0.0) / dt).astype(np.int64)
        need = np.ceil(time_needed_s(obs, jobs) / dt - 1e-9).astype(np.int64)
        look = max(1, int(self.horizon_s // dt))
        far = slots > look
        # Beyond the look-ahead: plan the job's share of the work inside it.
        need[far] = np.ceil(need[far] * look / slots[far] - 1e-9).astype(np.int64)
        slots[far] = look
        now = np.asarray(obs.surplus_w, dtype=float)
        cycle = np.roll(profile, -(obs.step % profile.shape[0]), axis=0)
        cycle = np.where(np.isnan(cycle), now[None, :], cycle)
        power = job_power_at(obs, jobs, site)
        if obs.grid_weight_forecast_per_j is None:
            go = runs_now(now, cycle, power, site, slots, need)
        else:  # carbon or cost objective: the slots of least weighted grid power
            go = weighted_runs_now(obs, now, cycle, power, site, slots, need)
        here = phase[jobs]
        return ([Resume(int(j)) for j in jobs[go & (here == SUSPENDED)]]
                + [Suspend(int(j)) for j in jobs[~go & (here == RUNNING)]])
