"""``curtail-threshold``: train at a site only while it has surplus, with a 600 s grace.

A re-implementation of the scheduling rule of the open curtail-LLM prototype (the
repository github.com/exalsius/curtail-llm, ``pilot/strategy.py``; described in
P. Wiesner, S. Becker, B. Cornick, D. Scheinert, A. Acker, O. Kao, "Distributed LLM
Pretraining During Renewable Curtailment Windows: A Feasibility Study", arXiv:2602.22760,
2026). There, a coordinator polls each site's signal (marginal carbon intensity below a
threshold marks curtailment) and, per site:

* a site that is off and **in** curtailment is switched on at once;
* a site that is on and **out of** curtailment is marked; it is switched off only once it
  has stayed out for 600 s without interruption (hysteresis against flapping);
* a marked site that comes back into curtailment is unmarked (at the threshold itself
  the site keeps its state).

In greenhop the signal is the site's surplus: a site is in curtailment while
``surplus_w > threshold_w`` (the scenario's window threshold by default), out of it while
``surplus_w < threshold_w``. Switching a site off suspends the jobs training there,
switching it on resumes them; jobs never change site. Unlike the prototype, whose runs
have no deadlines, a job whose deadline would otherwise be missed is never suspended and
is resumed (``deadline_margin``; set it to 0 for the prototype's rule alone). Under a
carbon or cost objective (docs/grid.md) a step whose grid supply counts as green (weight 0:
a negative price, high curtailment on the grid) is in curtailment too, the prototype's own
signal.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import RUNNING, SUSPENDED, Action, Observation, Resume, Suspend
from greenhop.policies.base import (
    POLICIES,
    Capabilities,
    PolicyBase,
    number_param,
    threshold_param,
)
from greenhop.policies.common_moves import restore_time_s, time_needed_s

#: the prototype's grace before a site that left curtailment is switched off [s]
HYSTERESIS_S = 600.0


def advance_sites(on: np.ndarray, below_since_s: np.ndarray, surplus_w: np.ndarray,
                  threshold_w: float, now_s: float,
                  hysteresis_s: float) -> tuple[np.ndarray, np.ndarray]:
    """One check of every site's state, the prototype's rule; returns new arrays.

    Args:
        on: whether each site trains.
        below_since_s: when each site that is on was first seen out of curtailment [s]
            (NaN: not marked).
        surplus_w: surplus now [W]; in curtailment above ``threshold_w``, out below it.
    """
    on, since = on.copy(), below_since_s.copy()
    above, below = surplus_w > threshold_w, surplus_w < threshold_w
    switch_on = ~on & above
    on[switch_on] = True
    since[switch_on] = np.nan
    mark = on & below & np.isnan(since)
    since[mark] = now_s
    off = on & below & (now_s - since >= hysteresis_s)
    on[off] = False
    since[off] = np.nan
    since[on & ~below] = np.nan  # back in curtailment (or at the threshold): unmark
    return on, since


@POLICIES.register("curtail-threshold")
class CurtailThresholdPolicy(PolicyBase):
    """Run jobs at a site only while its surplus exceeds a threshold, off after 600 s below.

    Args:
        threshold_w: surplus above which a site trains [W] (``None``: the Observation's
            ``window_threshold_w``).
        hysteresis_s: how long a site must stay below the threshold before its jobs are
            suspended [s] (the prototype's 600 s).
        deadline_margin: keep running (or resume) a job when the time left to its
            deadline is at most ``deadline_margin`` x the time its remaining work needs
            plus a resume and a step [-]; such a job then runs to its end. 0 disables this
            guard.
    """

    name = "curtail-threshold"
    summary = ("runs jobs at a site only while its surplus is above a threshold; stops "
               "them after 600 s below it (curtail-LLM's rule)")
    source = ("curtail-LLM prototype (github.com/exalsius/curtail-llm); Wiesner et al., "
              "arXiv:2602.22760, 2026")
    capabilities = Capabilities(suspends=True)

    def __init__(self, threshold_w: float | None = None, hysteresis_s: float = HYSTERESIS_S,
                 deadline_margin: float = 1.0) -> None:
        self.threshold_w = threshold_param(self.name, "threshold_w", threshold_w)
        self.hysteresis_s = number_param(self.name, "hysteresis_s", hysteresis_s, lo=0.0,
                                         unit="s")
        self.deadline_margin = number_param(self.name, "deadline_margin", deadline_margin,
                                            lo=0.0)
        self._on: np.ndarray | None = None          # per site: training allowed
        self._below_since: np.ndarray | None = None  # per site: when it left curtailment [s]
        # jobs kept or resumed for their deadline: they run on (with a margin above 1 a
        # running job stops looking urgent, and would be suspended and resumed every step)
        self._hurried: set[int] = set()

    def site_on(self, obs: Observation) -> np.ndarray:
        """Advance every site's on/off state to now and return it (bool per site)."""
        if self._on is None or self._on.size != obs.n_sites:
            # A site starts off; the first decision switches on those in curtailment.
            self._on = np.zeros(obs.n_sites, dtype=bool)
            self._below_since = np.full(obs.n_sites, np.nan)
        thr = obs.window_threshold_w if self.threshold_w is None else float(self.threshold_w)
        signal = obs.surplus_w
        if obs.grid_weight_per_j is not None:  # a green grid hour counts as curtailment
            signal = np.where(np.asarray(obs.grid_weight_per_j) <= 0.0, np.inf, signal)
        self._on, self._below_since = advance_sites(self._on, self._below_since, signal,
                                                    thr, obs.now_s, self.hysteresis_s)
        return self._on.copy()

    def _urgent(self, obs: Observation, jobs: np.ndarray) -> np.ndarray:
        if self.deadline_margin <= 0:
            return np.zeros(jobs.size, dtype=bool)
        left_s = obs.job_deadline_s[jobs] - obs.now_s
        need_s = (self.deadline_margin * time_needed_s(obs, jobs)
                  + restore_time_s(obs, jobs) + obs.dt_s)
        return left_s <= need_s

    def decide(self, observation: Observation) -> list[Action]:
        obs = observation
        on = self.site_on(obs)
        actions: list[Action] = []
        running = np.flatnonzero((obs.job_phase == RUNNING) & (obs.job_site >= 0))
        stop = running[~on[obs.job_site[running]]]
        if stop.size:
            keep = self._urgent(obs, stop) | np.isin(stop, list(self._hurried))
            self._hurried.update(stop[keep].tolist())
            actions += [Suspend(int(j)) for j in stop[~keep]]
        waiting = np.flatnonzero((obs.job_phase == SUSPENDED) & (obs.job_site >= 0))
        if waiting.size:
            urgent = self._urgent(obs, waiting)
            go = on[obs.job_site[waiting]] | urgent
            self._hurried.update(waiting[urgent & ~on[obs.job_site[waiting]]].tolist())
            actions += [Resume(int(j)) for j in waiting[go]]
        return actions
