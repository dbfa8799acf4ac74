"""``horizon-planner``: receding-horizon planning of where and when each job runs (HiGHS LP).

Every ``epoch_s`` (and at once when a demand-response event is announced or ends) the
policy forecasts each site's surplus over the next ``horizon_s``
(:mod:`greenhop.policies.planner_forecast`, past-only), builds a linear program over coarse
blocks (the first epoch, then hourly, then 3-hourly) in which each running or suspended job
may stay, run only part of a block (suspend), or move now to one of its ``candidates`` best
sites whose move passes the paper's rule (downtime <= ``alpha`` x the destination's
remaining window at forecast quantile ``q``), whose headroom now is at least ``cover`` x the
job's power (by default: a site not already oversubscribed) and that is forecast to gain
green energy net of its own energy within ``payback_s`` (1 h) from now (the
net-green-loss metric's count, on the forecast), and solves it with HiGHS
(:mod:`greenhop.policies.planner_lp`). Only the first block is acted on:

* move when the plan starts a move with weight >= 0.6 and the move still passes the alpha
  rule with the link shares of the moves already taken this epoch, fits the free slots and
  the headroom those moves left;
* otherwise suspend a running job whose planned share of the first block is < 0.5;
* resume a suspended job whose planned share is >= 0.5.
* start a job that has waited an epoch for slots at its arrival site at the allowed, open
  site with free slots whose surplus headroom covers it and where its work still ends
  within its slowdown budget (the most headroom first), else let it wait unless it is
  urgent (below, timed at the site it would start at), then start it where there is room
  (suspended jobs keep their slots, so the plan can keep a site full).

A partially migratable job's migratable share may move too (``move_partial``, on by
default): to a site at least as fast as its staying GPUs', which keep drawing where the job
started, and only when the move stops the job for at most ``partial_downtime_s``.

The slots a queued job waits for at the one site it may start at (pinned or partial at its
origin, or allowed one site) are reserved: no move or placement takes them, and the jobs
at that site are never suspended and are resumed, so that they free them. When such a job
is urgent (below) and still lacks slots, the jobs there that may move are moved out (the
most GPUs first, each where the alpha rule allows), if together they free enough.

Jobs whose deadline is near (time left <= 1.2 x the time their work needs + an epoch; the
run's end, ``Observation.run_end_s``, counts as a deadline for a job that can still finish
by it), and jobs that would pass their slowdown budget (``max_slowdown`` x their ideal time;
``max_slowdown_pinned`` for pinned and partially migratable jobs) by waiting another epoch,
are never suspended and are resumed. With ``plan_budget`` the budget is also a deadline
in the plan.

Announced demand-response events (``Observation.dr_events``) and closed sites
(``Observation.site_closed``) are hard constraints: no move into a closed site, a job
suspended at one is planned to resume only after its closure ends, and in every block that
overlaps an event the planned jobs' power at its site stays under the event's job power
limit; the rounding keeps the first block's running jobs there under it (suspending more,
urgent ones included, where it must). When HiGHS fails or hits ``time_limit_s``, the epoch's
decision is ``feasibility-aware``'s (and suspended jobs are resumed); ``counters()`` reports
``planner_fallbacks`` and ``planner_solves``. The formulation is written out in
docs/planner.md.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.observation import (
    MIGRATABLE,
    MIGRATING,
    PARTIAL,
    QUEUED,
    RUNNING,
    SUSPENDED,
    Action,
    Migrate,
    Observation,
    Place,
    Resume,
    Suspend,
    ideal_throughput,
    starts_at_origin_only,
)
from greenhop.model import constants as C
from greenhop.model import evaluate
from greenhop.policies.base import (
    POLICIES,
    Capabilities,
    PolicyBase,
    available_headroom_w,
    bool_param,
    job_power_at,
    move_gpus,
    number_param,
    only_start_site,
    reserved_gpus,
    site_power_w,
    whole_param,
)
from greenhop.policies.feasibility_aware import FeasibilityAwarePolicy
from greenhop.policies.objectives import block_weights
from greenhop.policies.planner_dr import (
    closed_sites,
    closed_until_s,
    dr_rows,
    hold_first_block,
)
from greenhop.policies.planner_forecast import (
    HorizonForecast,
    block_edges_s,
    horizon_forecast,
)
from greenhop.policies.planner_lp import KWH_J, PlanInput, PlanSolver, solve_plan

MOVE_SHARE = 0.6
"""Least plan weight of a move before it is taken (0.5 plus a margin against LP ties)."""
RUN_SHARE = 0.5
"""A job runs in the first block when the plan gives it at least this share of it."""
URGENCY = 1.2
"""A job is urgent when the time to its deadline is at most this x the time its work needs."""
GROUP_JOBS = 100
"""Largest number of planned jobs in one LP; a larger fleet is cut into site clusters."""

_OPTIONS = ("alpha", "q", "quantile", "window", "rest", "tail", "lam", "mu", "deadline_penalty",
            "epoch_s", "horizon_s", "time_limit_s", "candidates", "history_days", "warm_start",
            "cover", "max_slowdown", "max_slowdown_pinned", "payback_s", "move_partial",
            "partial_downtime_s", "plan_budget", "move_suspended")


MAX_HORIZON_S = 31 * 86400.0
"""The longest planning horizon [s] (a month; a horizon of 1e300 s built blocks forever)."""


MAX_WEIGHT = 1e6
"""Largest ``lam``, ``mu`` and ``deadline_penalty`` [h of the job's power]: a weight of a
million hours already makes any other term of the objective negligible."""


def _number(name: str, value, **limits) -> float:
    return number_param("horizon-planner", name, value, **limits)


def _number_or_inf(name: str, value, **limits) -> float:
    """``inf`` (no limit) or a number checked as :func:`_number` checks it."""
    return float("inf") if value == float("inf") else _number(name, value, **limits)


def _not_slower(obs: Observation, jobs: np.ndarray, dests: np.ndarray,
                suspended: np.ndarray) -> np.ndarray:
    """``[len(jobs), len(dests)]`` whether each job may move (its share) to each site: any
    site for a running job that moves whole; for a partially migratable one, a site at
    least as fast as its staying GPUs' (a split job runs at the slower of its two sites, so
    a slower destination would slow the whole job for surplus only its share draws); for a
    ``suspended`` one, a site at least as fast as where it waits (it has waited already,
    and a slower site adds to the slowdown its wait began)."""
    partial = obs.job_mobility[jobs] == PARTIAL
    ref = np.where(partial, obs.stay_site(jobs), obs.job_site[jobs])
    bound = partial | suspended
    return ~bound[:, None] | (obs.throughput[dests][None, :] >= obs.throughput[ref][:, None])


def _time_left_s(obs: Observation, jobs: np.ndarray, need_s: np.ndarray) -> np.ndarray:
    """Time [s] until each of ``jobs`` must be done: its deadline, or the run's end where
    it is earlier and the job can still finish by it (``need_s`` [s]: its remaining work at
    its current speed). A job not done by the run's end counts as unfinished (on grid-de-nl,
    a 14-day run of jobs up to 175 h long, jobs that static finished were still waiting for
    surplus at the end); one that cannot finish by then is not hurried."""
    left_s = obs.job_deadline_s[jobs] - obs.now_s
    end_s = obs.run_end_s - obs.now_s
    return np.where(need_s <= end_s, np.minimum(left_s, end_s), left_s)


@POLICIES.register("horizon-planner")
class HorizonPlannerPolicy(PolicyBase):
    """Plan where and when each job runs over a horizon; act on the first epoch.

    Args:
        alpha: share of the destination's window a move's downtime may use [-].
        q: forecast quantile of the destination's remaining window for the alpha rule and of
            the persistence forecast [-] (default: ``quantile``, else 0.1).
        quantile: a synonym of ``q``; ``q`` wins.
        window: where the destination's remaining window comes from: ``"forecast"`` (quantile
            ``q`` of the Observation's window forecasts, which this option asks the
            simulator or live run to compute: the ``window_forecasts`` capability) or
            ``"history"`` (feasibility-aware's mean remaining window at the same time of
            day, learnt from the past).
        rest: the surplus forecast after a site's window (or from now, outside one):
            ``"diurnal"`` (mean of the same time of day over ``history_days``) or
            ``"persistence"`` (the surplus now).
        tail: weight of the grid energy of the work left after the horizon, priced at the
            share of the horizon the job's home is forecast not to cover it [-] in [0, 1]
            (0: work after the horizon costs only delay, so with ``lam`` < 1 a job waits
            rather than run on grid power).
        lam: weight of delay: kWh per hour a job is postponed, per kW of the job [h/h].
        mu: switching cost of a move, in hours of the job's power [h].
        deadline_penalty: cost of an hour of work missing at the deadline, per kW of the job.
        epoch_s: time between plans [s]; in between ``decide`` returns ``[]``.
        horizon_s: planning horizon [s] (at least one epoch).
        time_limit_s: HiGHS time limit per plan [s]; past it, feasibility-aware decides.
        candidates: destination sites considered per job besides its own [-].
        history_days: days of past surplus behind the diurnal profile [-].
        warm_start: start each solve from the last optimal basis of the same site cluster
            (faster on large fleets; may pick another of tied optima, so off by default).
        cover: share of a job's facility power the destination's headroom now (its surplus
            less the jobs there and heading there) must cover for a move there [-] (0, the
            default: the destination is not already oversubscribed; 1: the whole job, as
            feasibility-aware asks). Moves taken in one epoch use up the headroom they get.
        max_slowdown: slowdown budget [-]: a job whose slowdown (time since arrival over its
            ideal time at its arrival site) would pass this if it waited one more epoch is
            never suspended and is resumed, like a job near its deadline, and a queued one
            starts elsewhere without surplus (default 1.8; ``inf``: none).
        max_slowdown_pinned: the slowdown budget of pinned and partially migratable jobs
            [-] (default 1.7). Their GPUs (all, or the staying ones) cannot follow the
            surplus, so they reach it only by waiting at home: on ``default`` their waits
            were most of the slowdown tail (docs/planner.md, *Defaults*).
        payback_s: a candidate move must be forecast to gain, within ``payback_s`` from
            now (the move's downtime included; the time its remaining work needs at home,
            if shorter), more green energy than it would draw at home plus the move's
            energy [s] (default 3600; ``inf``: over all its remaining work).
        move_partial: also move the migratable share of partially migratable jobs (their
            other GPUs stay and draw where the job started; only to a site at least as fast
            as theirs). On by default (docs/planner.md, *Partially migratable jobs*).
        partial_downtime_s: longest downtime of a partially migratable job's move [s]
            (default 900; ``inf``: any the alpha rule allows). The whole job stops while its
            share moves: on ``scarce-llm`` an LLM share took hours to move and lengthened
            the slowdown tail.
        plan_budget: also give the plan each job's slowdown budget as a deadline (soft,
            priced by ``deadline_penalty``), so that it plans the job's work to end within
            its budget instead of planning a wait the budget will cut short (default true;
            docs/planner.md, *Defaults*).
        move_suspended: a suspended, fully migratable job may also move (resume at another
            site, under the same rules as a running job's move), to a site at least as fast
            as its home (default false: a wash on the packaged scenarios; docs/planner.md,
            *Resuming elsewhere*).
    """

    name = "horizon-planner"
    summary = ("plans where and when jobs run over a 24 h horizon with an LP (HiGHS): moves, "
               "suspends and resumes, the alpha rule as a hard constraint")
    source = "greenhop"
    capabilities = Capabilities(migrates=True, suspends=True, places=True)
    # No window_forecasts capability by default: the default window source is the past-only
    # historical estimate, so the simulator need not compute forecasts; ``window="forecast"``
    # declares it on the instance, and the simulator and a live run then provide them.

    def __init__(self, alpha: float = C.ALPHA, q: float | None = None,
                 quantile: float | None = None, window: str = "history", rest: str = "persistence",
                 tail: float = 0.0, lam: float = 0.5, mu: float = 0.5,
                 deadline_penalty: float = 20.0, epoch_s: float = 900.0,
                 horizon_s: float = 86400.0, time_limit_s: float = 2.0,
                 candidates: int = 3, history_days: int = 3, warm_start: bool = False,
                 cover: float = 0.0, max_slowdown: float = 1.8,
                 max_slowdown_pinned: float = 1.7, payback_s: float = 3600.0,
                 move_partial: bool = True, partial_downtime_s: float = 900.0,
                 plan_budget: bool = True, move_suspended: bool = False,
                 **unknown) -> None:
        if unknown:
            raise ConfigError(f"horizon-planner: unknown option(s) {', '.join(sorted(unknown))};"
                              f" valid options: {', '.join(_OPTIONS)}")
        self.alpha = _number("alpha", alpha, lo=0.0, lo_open=True, hi=1.0)
        qv = q if q is not None else (quantile if quantile is not None else 0.1)
        self.q = _number("q", qv, lo=0.0, lo_open=True, hi=1.0)
        if self.q >= 1.0:
            raise ConfigError(f"horizon-planner: q must be strictly between 0 and 1, got {qv!r}")
        if window not in ("forecast", "history"):
            raise ConfigError(f"horizon-planner: window must be 'forecast' or 'history', "
                              f"got {window!r}")
        self.window = window
        if window == "forecast":
            self.capabilities = dataclasses.replace(self.capabilities, window_forecasts=True)
        if rest not in ("diurnal", "persistence"):
            raise ConfigError(f"horizon-planner: rest must be 'diurnal' or 'persistence', "
                              f"got {rest!r}")
        self.rest = rest
        self.tail = _number("tail", tail, lo=0.0, hi=1.0)
        # past 1e6 a weight swamps the plan's energy terms (kWh of order 1-1e3) and HiGHS'
        # tolerances (mu = 1e308 ran to absurd figures)
        self.lam = _number("lam", lam, lo=0.0, hi=MAX_WEIGHT)
        self.mu = _number("mu", mu, lo=0.0, hi=MAX_WEIGHT)
        self.deadline_penalty = _number("deadline_penalty", deadline_penalty, lo=0.0,
                                        hi=MAX_WEIGHT)
        self.epoch_s = _number("epoch_s", epoch_s, lo=0.0, lo_open=True, unit="s")
        # the plan has a block per 6 h past 12 h: a month is 120 blocks a plan
        self.horizon_s = _number("horizon_s", horizon_s, lo=0.0, lo_open=True,
                                 hi=MAX_HORIZON_S, unit="s")
        if self.horizon_s < self.epoch_s:
            raise ConfigError(f"horizon-planner: horizon_s ({self.horizon_s:g} s) must be at "
                              f"least one epoch (epoch_s = {self.epoch_s:g} s)")
        self.time_limit_s = _number("time_limit_s", time_limit_s, lo=0.0, lo_open=True, unit="s")
        self.candidates = whole_param(self.name, "candidates", candidates, lo=0)
        self.history_days = whole_param(self.name, "history_days", history_days, lo=1)
        self.cover = _number("cover", cover, lo=0.0)
        self.max_slowdown = _number_or_inf("max_slowdown", max_slowdown, lo=1.0)
        self.max_slowdown_pinned = _number_or_inf("max_slowdown_pinned", max_slowdown_pinned,
                                                  lo=1.0)
        self.payback_s = _number_or_inf("payback_s", payback_s, lo=0.0, lo_open=True, unit="s")
        self.move_partial = bool_param(self.name, "move_partial", move_partial)
        self.partial_downtime_s = _number_or_inf("partial_downtime_s", partial_downtime_s,
                                                 lo=0.0, unit="s")
        self.plan_budget = bool_param(self.name, "plan_budget", plan_budget)
        self.move_suspended = bool_param(self.name, "move_suspended", move_suspended)
        self._fallback = FeasibilityAwarePolicy(alpha=self.alpha)
        self._next_plan_s: float | None = None
        self._events_seen: frozenset[str] = frozenset()  # demand-response events known
        # Per-run constants and the HiGHS instance kept across epochs.
        self._edges_s = block_edges_s(self.epoch_s, self.horizon_s)
        self.warm_start = bool_param(self.name, "warm_start", warm_start)
        self._solver = PlanSolver(warm_start=warm_start)
        #: (columns, rows) of the last LP, for benchmarks and inspection
        self.last_size: tuple[int, int] = (0, 0)
        self._counts = {"planner_solves": 0, "planner_fallbacks": 0, "planner_moves": 0,
                        "planner_suspends": 0, "planner_resumes": 0, "planner_places": 0}

    def counters(self) -> dict[str, float]:
        return {k: float(v) for k, v in self._counts.items()}

    # ------------------------------------------------------------------ decide

    def decide(self, observation: Observation) -> list[Action]:
        obs = observation
        # A demand-response event announced or over is news the plan must not wait for:
        # the next epoch may come after the event has started (or keep a job waiting).
        known = frozenset(() if obs.dr_events is None else obs.dr_events.keys)
        news = known != self._events_seen
        self._events_seen = known
        if (not news and self._next_plan_s is not None
                and obs.now_s < self._next_plan_s - 1e-6):
            return []
        self._next_plan_s = obs.now_s + self.epoch_s
        jobs = np.flatnonzero((obs.job_phase == RUNNING) | (obs.job_phase == SUSPENDED))
        reserved = reserved_gpus(obs)
        room = np.asarray(obs.free_gpus, dtype=np.int64) - reserved
        if jobs.size == 0:
            return self._place_waiting(obs, room)
        # The historical estimate learns from every epoch (the fallback uses it too).
        hist = np.asarray(self._fallback.estimator.estimate(obs), dtype=float)
        fc = self._forecast(obs, hist)
        groups = self._groups(obs, jobs)
        self._counts["planner_solves"] += 1
        plans = []
        size = [0, 0]
        for k, (g_jobs, g_sites) in enumerate(groups):
            pi, extra = self._build(obs, g_jobs, fc, g_sites, room)
            res = solve_plan(pi, lam=self.lam, mu=self.mu,
                             deadline_penalty=self.deadline_penalty,
                             time_limit_s=self.time_limit_s / len(groups),
                             solver=self._solver, slot=k)
            size[0] += res.cols
            size[1] += res.rows
            if not res.ok:
                self._counts["planner_fallbacks"] += 1
                acts = list(self._fallback.decide(obs))
                held = closed_until_s(obs) > 0  # an event's site: no resume before its end
                acts += [Resume(int(j)) for j in jobs
                         if obs.job_phase[j] == SUSPENDED and not held[obs.job_site[j]]]
                return acts
            plans.append((g_jobs, pi, extra, res))
        self.last_size = (size[0], size[1])
        state = {"free": room.copy(), "blocked": reserved > 0,
                 "added": np.zeros(obs.links.active_transfers.shape, dtype=float),
                 "head": available_headroom_w(obs)}
        actions: list[Action] = []
        for g_jobs, pi, extra, res in plans:
            actions += self._round(obs, g_jobs, pi, extra, res, fc.window_s, state)
        actions += self._make_room(obs, state, fc.window_s, {a.job for a in actions})
        return actions + self._place_waiting(obs, state["free"], state["head"])

    def _forecast(self, obs: Observation, hist_window_s: np.ndarray) -> HorizonForecast:
        """Each site's surplus over the horizon's blocks and its remaining window, from the
        past only (``hist_window_s``: the historical window estimate [s])."""
        return horizon_forecast(obs, self._edges_s, self.q, days=self.history_days,
                                rest=self.rest,
                                window_s=hist_window_s if self.window == "history" else None)

    def _place_waiting(self, obs: Observation, free: np.ndarray,
                       headroom: np.ndarray | None = None) -> list[Action]:
        """Start each job that has waited a whole epoch for slots at its arrival site at the
        allowed, open site with free slots for it and the most surplus headroom (suspended
        jobs keep their slots, so a site the plan keeps jobs suspended at can stay full).
        Where no such site could run it on surplus it waits, unless it is urgent (its
        deadline or its slowdown budget): then it starts there on grid power.
        ``free`` and ``headroom`` [W] are what this epoch's moves left (default: now's)."""
        waiting = np.flatnonzero((obs.job_phase == QUEUED)
                                 & (obs.now_s - obs.job_arrival_s >= self.epoch_s))
        if waiting.size == 0:
            return []
        closed = closed_sites(obs)
        out: list[Action] = []
        if headroom is None:
            headroom = available_headroom_w(obs)
        site_w = site_power_w(obs)
        for j in waiting.tolist():
            g = int(obs.job_gpus[j])
            ok = np.asarray(obs.job_allowed[j], dtype=bool) & ~closed & (free >= g)
            origin = int(obs.job_origin[j])
            if not ok.any() or (origin >= 0 and ok[origin]):
                continue  # nowhere else, or its own site has room: the fleet starts it there
            if starts_at_origin_only(int(obs.job_mobility[j]), origin):
                continue  # pinned, or partial with its home there: it waits for its origin
            # Started for surplus only where its work still ends within its slowdown
            # budget: a site slower than its origin (which its ideal time is timed at)
            # may alone take it past (grid-de-nl: 8-GPU jobs of 3-4 h ended at 1.5).
            speed = obs.job_speed(np.full(obs.n_sites, j), np.arange(obs.n_sites))
            need_s = obs.job_remaining_gpu_s[j] / np.maximum(g * speed, 1e-12)
            fits = ok & (need_s <= self._budget_left_s(obs, np.array([j]))[0])
            head = np.where(fits, headroom - g * site_w, -np.inf)
            s = int(np.argmax(head))
            if head[s] < 0:
                # No site could start it on surplus within its budget: it waits, unless
                # waiting would take it past its budget (or deadline) at the site it would
                # start at: the one within its budget with the most headroom, else the
                # fastest (the most headroom among equals).
                if not fits.any():
                    s = int(np.lexsort((-headroom, -np.where(ok, speed, -np.inf)))[0])
                if not self._urgent(obs, np.array([j]), np.array([s]))[0]:
                    continue
            out.append(Place(j, s))
            free[s] -= g
            headroom[s] -= g * site_w[s]
            self._counts["planner_places"] += 1
        return out

    def _groups(self, obs: Observation, jobs: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Independent sub-plans: sites cut, in breadth-first order over the links, into
        clusters of at most ``GROUP_JOBS`` planned jobs (one cluster for a small fleet);
        moves stay inside a cluster. Returns (jobs, site mask) per cluster."""
        S = obs.n_sites
        home = obs.job_site[jobs]
        per_site = np.bincount(home, minlength=S)
        if jobs.size <= GROUP_JOBS:
            return [(jobs, np.ones(S, dtype=bool))]
        adj = obs.links.hops == 1
        seen = np.zeros(S, dtype=bool)
        order: list[int] = []
        for root in range(S):
            if seen[root]:
                continue
            seen[root] = True
            queue = [root]
            while queue:
                u = queue.pop(0)
                order.append(u)
                for v in np.flatnonzero(adj[u] & ~seen).tolist():
                    seen[v] = True
                    queue.append(v)
        out = []
        cur: list[int] = []
        count = 0
        for u in order:
            if cur and count + per_site[u] > GROUP_JOBS:
                out.append(cur)
                cur, count = [], 0
            cur.append(u)
            count += int(per_site[u])
        if cur:
            out.append(cur)
        groups = []
        for sites in out:
            mask = np.zeros(S, dtype=bool)
            mask[sites] = True
            g = jobs[mask[home]]
            if g.size:
                groups.append((g, mask))
        return groups

    # ------------------------------------------------------------------ model inputs

    def _urgent(self, obs: Observation, jobs: np.ndarray,
                sites: np.ndarray | None = None) -> np.ndarray:
        """Whether each of ``jobs`` must run now: its deadline is near, or waiting one more
        epoch would take it past its slowdown budget. Its remaining work is timed at
        ``sites`` (default: where each job is; a queued job is timed at its arrival site,
        and at the fastest site it may use when it has none, as its ideal time is)."""
        site = obs.job_site[jobs] if sites is None else sites
        # the metric's ideal throughput: the origin's, else the fastest allowed site's; a
        # queued job that may start anywhere (site -1) is timed at it too
        ideal_tp = ideal_throughput(obs.throughput, obs.job_origin, obs.job_allowed)[jobs]
        rate = obs.job_gpus[jobs] * np.where(site >= 0, obs.job_speed(jobs, np.maximum(site, 0)),
                                             ideal_tp)
        need_s = obs.job_remaining_gpu_s[jobs] / np.maximum(rate, 1e-12)
        left_s = _time_left_s(obs, jobs, need_s)
        urgent = left_s <= URGENCY * need_s + self.epoch_s
        # The slowdown budget: waiting one more epoch would take the job past it.
        return urgent | (need_s + self.epoch_s >= self._budget_left_s(obs, jobs))

    def _budget_left_s(self, obs: Observation, jobs: np.ndarray) -> np.ndarray:
        """Time [s] each of ``jobs`` may still take before it passes its slowdown budget:
        the budget x its ideal time (the metric's: all its work on its GPUs at the ideal
        throughput) less the time since its arrival; ``inf`` where it has no budget.
        Pinned and partially migratable jobs reach surplus at home only by waiting for it,
        so their waits made the tail; they get a budget of their own."""
        budget = np.where(obs.job_mobility[jobs] == MIGRATABLE, self.max_slowdown,
                          self.max_slowdown_pinned)
        finite = np.isfinite(budget)
        left = np.full(jobs.size, np.inf)
        if finite.any():
            ideal_tp = ideal_throughput(obs.throughput, obs.job_origin, obs.job_allowed)[jobs]
            rem = obs.job_remaining_gpu_s[jobs]
            total = rem / np.maximum(1.0 - obs.job_progress[jobs], 1e-9)
            nominal = obs.job_gpus if obs.job_nominal_gpus is None else obs.job_nominal_gpus
            ideal_s = total / np.maximum(nominal[jobs] * ideal_tp, 1e-12)
            spent_s = obs.now_s - obs.job_arrival_s[jobs]
            left = np.where(finite, np.where(finite, budget, 0.0) * ideal_s - spent_s, np.inf)
        return left

    def _build(self, obs: Observation, jobs: np.ndarray, fc, sites: np.ndarray,
               room: np.ndarray) -> tuple[PlanInput, dict]:
        """The LP of ``jobs`` over ``sites``; ``room``: each site's free GPU slots less those
        reserved for queued jobs that can start nowhere else (:func:`reserved_gpus`)."""
        S = obs.n_sites
        edges = fc.edges_s
        lo_s, hi_s = edges[:-1], edges[1:]
        tau_s = hi_s - lo_s
        B = tau_s.size
        home = obs.job_site[jobs].astype(np.int64)
        site_w = obs.gpu_power_w * obs.pue
        # A partially migratable job's staying GPUs draw at their own site, which is its
        # home until its migratable share moves away.
        stay_site = obs.stay_site(jobs)
        g_move = move_gpus(obs, jobs)
        g_stay = obs.job_gpus[jobs] - g_move
        stay_w = g_stay * site_w[stay_site]
        apart_w = np.where(stay_site != home, stay_w, 0.0)
        p_home = g_move * site_w[home] + stay_w
        rate_home = obs.job_gpus[jobs] * obs.job_speed(jobs, home)
        rem_s = obs.job_remaining_gpu_s[jobs] / np.maximum(rate_home, 1e-12)
        # the run's end as well, as at rounding: a plan that did not see it spent the slack
        # of jobs near it on moves and waits, and left them unfinished
        left_s = _time_left_s(obs, jobs, rem_s)
        if self.plan_budget:
            # the budget as a deadline: no plan of a wait the budget would cut short
            left_s = np.minimum(left_s, self._budget_left_s(obs, jobs))
        H = float(edges[-1])
        need_s = np.where(np.isfinite(left_s), rem_s - np.maximum(left_s - H, 0.0), 0.0)
        need_s = np.maximum(need_s, 0.0)
        dfrac = np.clip((np.minimum(left_s, H)[:, None] - lo_s[None, :]) / tau_s[None, :],
                        0.0, 1.0)
        suspended = obs.job_phase[jobs] == SUSPENDED
        restore_s = np.where(suspended, obs.job_checkpoint_bytes[jobs] / obs.links.read_Bps
                             + obs.links.startup_s, 0.0)
        # A job suspended at a closed site restarts only once the closure has ended.
        open_s = closed_until_s(obs)
        restore_s = np.where(suspended, restore_s + open_s[home], 0.0)
        a_home = np.clip((hi_s[None, :] - np.maximum(lo_s[None, :], restore_s[:, None]))
                         / tau_s[None, :], 0.0, 1.0)
        # Surplus left for the planned jobs: minus the power of jobs arriving by migration
        # or resuming (they are not in the plan).
        fixed_w = np.zeros(S)
        moving = np.flatnonzero(obs.job_phase == MIGRATING)
        if moving.size:
            dest = obs.job_dest[moving]
            ok = dest >= 0
            if ok.any():
                fixed_w += np.bincount(dest[ok], weights=job_power_at(obs, moving[ok], dest[ok]),
                                       minlength=S)
        surplus_w = fc.surplus_w - fixed_w[:, None]
        # Grid share expected after the horizon: the share of the horizon the job's home is
        # forecast not to cover it.
        cover = np.clip(np.maximum(surplus_w[home], 0.0) / np.maximum(p_home, 1e-9)[:, None],
                        0.0, 1.0)
        tail_grid = self.tail * (1.0 - (cover * tau_s[None, :]).sum(axis=1) / tau_s.sum())

        pj, pc, dt_s, e_j = self._candidates(obs, jobs, home, suspended, fc, rem_s, sites,
                                             room)
        P = pj.size
        jg = jobs[pj]
        # a move back to the staying GPUs joins them: the whole job draws there
        joins = pc == stay_site[pj]
        gmove = g_move[pj]
        p_kw = np.where(joins, obs.job_gpus[jg], gmove) * site_w[pc] / 1e3
        p_stay_kw = np.where(joins, 0.0, stay_w[pj]) / 1e3
        rho = obs.job_speed(jg, pc) / np.maximum(obs.job_speed(jg, home[pj]), 1e-12)
        avail = np.clip((hi_s[None, :] - np.maximum(lo_s[None, :], dt_s[:, None]))
                        / tau_s[None, :], 0.0, 1.0) if P else np.zeros((0, B))
        if P:
            # A moved job runs from the end of its downtime until its work is done.
            need = rem_s[pj] / np.maximum(rho, 1e-12)  # seconds of running at c
            before = np.concatenate([np.zeros((P, 1)),
                                     np.cumsum(avail * tau_s[None, :], axis=1)[:, :-1]], axis=1)
            avail = np.minimum(avail, np.maximum(need[:, None] - before, 0.0) / tau_s[None, :])
        gbit = obs.job_move_bytes[jg] * 8.0 / 1e9
        links = obs.links
        if P:
            paths = links.route[home[pj] * S + pc]  # [P, L]
            lr, lp = np.nonzero(paths.T)  # link, pair (sorted by link)
            used = np.unique(lr)
            row_of = np.full(paths.shape[1], -1)
            row_of[used] = np.arange(used.size)
            budget = np.zeros(used.size)
            win = self.alpha * fc.window_s[pc]
            np.maximum.at(budget, row_of[lr], win[lp])
            share = links.link_rate_bps[used] / (links.active_transfers[used] + 1.0)
            budget_gbit = share * budget / 1e9
            link_rows, link_cols = row_of[lr], lp
        else:
            used = np.zeros(0, dtype=np.int64)
            budget_gbit = np.zeros(0)
            link_rows = link_cols = np.zeros(0, dtype=np.int64)
        dr = dr_rows(obs, edges, sites, fixed_w, home, pj, pc, dt_s,
                     gmove * obs.gpu_idle_w[home[pj]] * obs.pue[home[pj]],
                     lead_s=float(np.max(obs.job_checkpoint_bytes[jobs])) / links.write_Bps)
        pi = PlanInput(**dr["lp"],
            home=home, p_home_kw=p_home / 1e3, rem_h=rem_s / 3600.0, need_h=need_s / 3600.0,
            dfrac=dfrac, a_home=a_home, tail_grid=tail_grid, pj=pj, pc=pc, p_kw=p_kw, rho=rho,
            avail=avail, gpus=gmove, gbit=gbit, e_kwh=e_j / KWH_J, link_rows=link_rows,
            link_cols=link_cols, budget_gbit=budget_gbit, surplus_kw=surplus_w / 1e3,
            free=np.maximum(room, 0), tau_h=tau_s / 3600.0,
            tmid_h=(lo_s + hi_s) / 2 / 3600.0, grid_weight=block_weights(obs, edges),
            job_ids=jobs, link_ids=used, stay_site=stay_site, stay_kw=apart_w / 1e3,
            p_stay_kw=p_stay_kw)
        return pi, {"gmove": gmove, "dr0": dr["first"], "down_s": dt_s}

    def _candidates(self, obs: Observation, jobs: np.ndarray, home: np.ndarray,
                    suspended: np.ndarray, fc, rem_s: np.ndarray, sites: np.ndarray,
                    room: np.ndarray):
        """Candidate moves (job row, site, downtime [s], energy [J]) passing the alpha rule
        now and forecast to gain green energy net of the move's energy; per job the
        ``candidates`` sites with the most forecast surplus it could use."""
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        if self.candidates == 0:
            return empty
        S = obs.n_sites
        kinds = (MIGRATABLE, PARTIAL) if self.move_partial else (MIGRATABLE,)
        movable = (~suspended) & np.isin(obs.job_mobility[jobs], kinds)
        if self.move_suspended:
            # A suspended job may resume elsewhere: its checkpoint crosses while it waits.
            movable |= suspended & (obs.job_mobility[jobs] == MIGRATABLE)
        rows = np.flatnonzero(movable)
        closed = closed_sites(obs)
        dests = np.flatnonzero((fc.window_s > 0) & (room > 0) & sites & ~closed)
        if rows.size == 0 or dests.size == 0:
            return empty
        jg = jobs[rows]
        src = home[rows]
        gpus = move_gpus(obs, jg)  # a partially migratable job's staying GPUs stay put
        # The destination's headroom now (less the jobs already heading there) must be at
        # least ``cover`` x the job's power: a move into a site whose surplus its jobs
        # already use up is a bet on a surplus the job must share, and often lost.
        covered = (available_headroom_w(obs)[dests][None, :]
                   >= self.cover * job_power_at(obs, jg[:, None], dests[None, :]))
        ok = (obs.job_allowed[jg][:, dests] & (obs.links.hops[src][:, dests] > 0)
              & (room[dests][None, :] >= gpus[:, None]) & (src[:, None] != dests)
              & covered & _not_slower(obs, jg, dests, suspended[rows]))
        ri, di = np.nonzero(ok)
        if ri.size == 0:
            return empty
        links = obs.links
        # Fair share now for each (src, dst) pair, computed once per site pair.
        pair = src[ri] * S + dests[di]
        upair, inv = np.unique(pair, return_inverse=True)
        rate = links.shared_rate_bps(upair // S, upair % S)[inv]
        s, d = src[ri], dests[di]
        j = jg[ri]
        eff = links.efficiency[s, d]
        p_dest = job_power_at(obs, j, d)
        f = evaluate(obs.job_move_bytes[j], rate / eff, np.maximum(fc.window_s[d], 1.0),
                     alpha=self.alpha, efficiency=eff,
                     streams=np.maximum(links.streams[s, d], 1),
                     rtt_s=np.maximum(links.rtt_s[s, d], 1e-6), loss=links.loss[s, d],
                     write_Bps=links.write_Bps, read_Bps=links.read_Bps,
                     startup_s=links.startup_s, job_power_w=np.maximum(p_dest, 1e-9),
                     idle_power_w=obs.job_gpus[j] * obs.gpu_idle_w[s],
                     network_j_per_bit=links.j_per_bit[s, d], green_gain=1.0)
        # A partially migratable job stops whole while its share moves: only short moves.
        keep = np.asarray(f.feasible, dtype=bool) & (
            (obs.job_mobility[j] != PARTIAL)
            | (np.asarray(f.downtime_s) <= self.partial_downtime_s))
        if not keep.any():
            return empty
        ri, d, p_dest = ri[keep], d[keep], p_dest[keep]
        down = np.asarray(f.downtime_s)[keep]
        e_j = np.asarray(f.migration_energy_j)[keep]
        # Score: forecast surplus energy the job could use at d within its remaining work.
        edges = fc.edges_s
        tau = np.diff(edges)
        live = edges[:-1][None, :] < np.maximum(rem_s[rows[ri]], 1.0)[:, None]
        usable = np.minimum(np.maximum(fc.surplus_w[d], 0.0), p_dest[:, None])
        score = (usable * tau[None, :] * live).sum(axis=1) - e_j
        # Net green gain (as the net-green-loss metric counts it, on the forecast): the
        # surplus the job could draw at d beside the jobs there now, minus what it could
        # draw at home beside the others, minus the move's energy, over the next
        # ``payback_s`` (its remaining work, if shorter). Why not the whole
        # stay: the next plans move a job on when the surplus moves (on caiso-curtailment
        # the planner's moves that lost green energy stayed a median of 1 h), so a gain
        # the persistence forecast credits hours ahead is seldom the job's.
        s_ri = src[ri]
        p_src = gpus[ri] * obs.gpu_power_w[s_ri] * obs.pue[s_ri]
        load = np.asarray(obs.job_load_w, dtype=float)
        green_d = np.clip(fc.surplus_w[d] - load[d][:, None], 0.0, p_dest[:, None])
        # a running job's own power is in its site's load; a suspended one draws none there
        own = np.where(suspended[rows[ri]], 0.0, p_src)
        green_s = np.clip(fc.surplus_w[s_ri] - (load[s_ri] - own)[:, None], 0.0,
                          p_src[:, None])
        stay_s = np.minimum(np.maximum(rem_s[rows[ri]], 1.0), self.payback_s)
        inside = np.clip((stay_s[:, None] - edges[:-1][None, :]) / tau[None, :], 0.0, 1.0)
        gain = ((green_d - green_s) * tau[None, :] * inside).sum(axis=1) - e_j
        ok_gain = gain >= 0.0
        ri, d, down, e_j = ri[ok_gain], d[ok_gain], down[ok_gain], e_j[ok_gain]
        score = score[ok_gain]
        if ri.size == 0:
            return empty
        # Top-k per job, ties broken by site index (stable).
        order = np.lexsort((d, -score, ri))
        ri, d, down, e_j = ri[order], d[order], down[order], e_j[order]
        first = np.r_[0, np.flatnonzero(np.diff(ri)) + 1]
        rank = np.arange(ri.size) - np.repeat(first, np.diff(np.r_[first, ri.size]))
        top = rank < self.candidates
        return rows[ri[top]].astype(np.int64), d[top].astype(np.int64), down[top], e_j[top]

    # ------------------------------------------------------------------ rounding

    def _round(self, obs: Observation, jobs: np.ndarray, pi: PlanInput, extra: dict, res,
               window_s: np.ndarray, state: dict) -> list[Action]:
        actions: list[Action] = []
        # A job at a site where a queued job that can start nowhere else waits for slots is
        # never suspended and is resumed: a suspended job keeps its slots, and the queued
        # one would wait for them (on default, seed 16, a pinned 8-GPU job waited 144 h
        # while jobs were suspended at and moved into its 8-slot site).
        urgent = self._urgent(obs, jobs) | state["blocked"][pi.home]
        free = state["free"]
        head = state["head"]
        links = obs.links
        S = obs.n_sites
        added = state["added"]
        best_p = np.full(jobs.size, -1)
        if pi.pj.size:
            order = np.lexsort((-res.m, pi.pj))
            firsts = order[np.r_[True, pi.pj[order][1:] != pi.pj[order][:-1]]]
            best_p[pi.pj[firsts]] = firsts
        run_share = res.xh0.copy()
        if pi.pj.size:
            run_share += np.bincount(pi.pj, weights=res.xc0, minlength=jobs.size)
        # A job about to finish needs only part of the block: compare with what it can use.
        cap = np.minimum(pi.a_home[:, 0], pi.rem_h / pi.tau_h[0])
        run_share = run_share / np.maximum(cap, 1e-9)
        closed = closed_sites(obs)
        held = closed_until_s(obs) > 0   # a job suspended there may not resume yet
        taken: dict[int, float] = {}     # job -> downtime of its move [s]
        idle: dict[int, float] = {}      # job -> idle power it holds at its source [W]
        for k, j in enumerate(jobs.tolist()):
            phase = obs.job_phase[j]
            p = int(best_p[k])
            if phase in (RUNNING, SUSPENDED) and p >= 0 and res.m[p] >= MOVE_SHARE:
                d = int(pi.pc[p])
                s = int(pi.home[k])
                g = int(extra["gmove"][p])
                p_d = float(job_power_at(obs, np.array([j]), np.array([d]))[0])
                if (free[d] >= g and not closed[d] and head[d] >= self.cover * p_d
                        and self._rule_holds(obs, j, s, d, window_s[d], added)):
                    actions.append(Migrate(j, d))
                    taken[j] = float(extra["down_s"][p])
                    idle[j] = float(g * obs.gpu_idle_w[s] * obs.pue[s])
                    self._counts["planner_moves"] += 1
                    free[d] -= g
                    head[d] -= p_d
                    added += links.route[s * S + d]
                    continue
            if phase == RUNNING:
                if run_share[k] < RUN_SHARE and not urgent[k]:
                    actions.append(Suspend(j))
                    self._counts["planner_suspends"] += 1
            elif (phase == SUSPENDED and (run_share[k] >= RUN_SHARE or urgent[k])
                  and not held[int(pi.home[k])]):
                actions.append(Resume(j))
                self._counts["planner_resumes"] += 1
        if extra["dr0"]:
            stopping = {a.job for a in actions if isinstance(a, Suspend)}
            resuming = {a.job for a in actions if isinstance(a, Resume)}
            more, drop = hold_first_block(obs, jobs, pi.home, pi.p_home_kw * 1e3, run_share,
                                          extra["dr0"], taken, idle, stopping, resuming)
            actions = [a for a in actions if not (isinstance(a, Resume) and a.job in drop)]
            actions += [Suspend(j) for j in sorted(more)]
            self._counts["planner_resumes"] -= len(drop)
            self._counts["planner_suspends"] += len(more)
        return actions

    def _make_room(self, obs: Observation, state: dict, window_s: np.ndarray,
                   acted: set) -> list[Action]:
        """Moves out of a site where a queued job that can start nowhere else is urgent
        (waiting another epoch would take it past its slowdown budget or near its
        deadline) and lacks slots: the jobs running or suspended there that may move (a
        partially migratable one moves its share) go, the most GPUs first, until the
        queued job fits, each to the allowed, open site with free slots and the most
        headroom whose move passes the alpha rule; none moves unless together they free
        enough. Not a move for energy: the net-green-gain and cover rules do not apply.
        ``acted``: jobs already given an action this epoch (left alone)."""
        out: list[Action] = []
        queued = np.flatnonzero(obs.job_phase == QUEUED)
        if queued.size == 0:
            return out
        closed = closed_sites(obs)
        free_now = np.asarray(obs.free_gpus, dtype=np.int64).copy()
        done: set[int] = set()
        for q in queued[np.argsort(obs.job_arrival_s[queued], kind="stable")].tolist():
            s = only_start_site(obs, q)
            if s < 0 or s in done or free_now[s] >= obs.job_gpus[q]:
                continue
            done.add(s)  # the oldest queued job bound to a site speaks for it
            if not self._urgent(obs, np.array([q]), np.array([s]))[0]:
                continue
            here = np.flatnonzero(((obs.job_phase == RUNNING) | (obs.job_phase == SUSPENDED))
                                  & (obs.job_site == s)
                                  & np.isin(obs.job_mobility, (MIGRATABLE, PARTIAL)))
            here = np.array([j for j in here.tolist() if j not in acted], dtype=np.int64)
            if here.size == 0:
                continue
            g = move_gpus(obs, here)
            order = np.argsort(-g, kind="stable")
            short = int(obs.job_gpus[q] - free_now[s])
            if g.sum() < short:
                continue  # moving them all would not let it start
            picked: list[tuple[int, int, int]] = []
            free, head, added = state["free"].copy(), state["head"].copy(), state["added"].copy()
            for k in order.tolist():
                if short <= 0:
                    break
                j, gk = int(here[k]), int(g[k])
                p_d = job_power_at(obs, np.full(obs.n_sites, j), np.arange(obs.n_sites))
                ok = (obs.job_allowed[j] & ~closed & (free >= gk) & (window_s > 0)
                      & (obs.links.hops[s] > 0) & (np.arange(obs.n_sites) != s))
                for d in np.argsort(-np.where(ok, head - p_d, -np.inf), kind="stable"):
                    d = int(d)
                    if not ok[d]:
                        break
                    if self._rule_holds(obs, j, s, d, window_s[d], added, checked=False):
                        picked.append((j, d, gk))
                        free[d] -= gk
                        head[d] -= p_d[d]
                        added = added + obs.links.route[s * obs.n_sites + d]
                        short -= gk
                        break
            if short > 0:
                continue  # not enough of them could go anywhere: move none
            for j, d, gk in picked:
                out.append(Migrate(j, d))
                acted.add(j)
                self._counts["planner_moves"] += 1
                free_now[s] += gk
            state["free"][:], state["head"][:], state["added"][:] = free, head, added
        return out

    def _rule_holds(self, obs: Observation, j: int, s: int, d: int, window_s: float,
                    added: np.ndarray, checked: bool = True) -> bool:
        """The alpha rule for ``j: s -> d`` with the link shares of this epoch's moves
        (``checked``: the move is a candidate, which passed it on the rates of now)."""
        if checked and not added.any():
            # No move taken yet this epoch: the rule is the one the candidate passed, on
            # the same rate (the fair share now), window and model inputs.
            return window_s > 0
        links = obs.links
        rate = float(links.shared_rate_bps(np.array([s]), np.array([d]), added)[0])
        eff = float(links.efficiency[s, d])
        f = evaluate(obs.job_move_bytes[j], rate / eff, max(window_s, 1.0), alpha=self.alpha,
                     efficiency=eff, streams=max(int(links.streams[s, d]), 1),
                     rtt_s=max(float(links.rtt_s[s, d]), 1e-6), loss=links.loss[s, d],
                     write_Bps=links.write_Bps, read_Bps=links.read_Bps,
                     startup_s=links.startup_s)
        return bool(np.asarray(f.feasible)) and window_s > 0
