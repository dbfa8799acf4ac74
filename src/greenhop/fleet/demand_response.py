"""Demand-response enforcement: hold each targeted site's grid import under an event's limit.

A :class:`DemandResponse` holds the events of a run (:class:`~greenhop.core.grid_events.GridEvent`,
expanded to one :class:`SiteEvent` per targeted site) and acts on the fleet core at the
start of every step (:meth:`DemandResponse.on_step`, called from
:meth:`FleetCore.arrivals <greenhop.fleet.core.FleetCore.arrivals>`; the live controller
calls it itself before the policy is asked, so both mechanisms run this one code):

1. **Closure.** From an event's announcement to its end, the site takes no new work:
   nothing is placed, migrated or resumed there and no job scales up there
   (``FleetState.dr_closed``, honoured by :mod:`greenhop.fleet.admission` for the
   policy's actions as for everyone's).
2. **Plan.** The site's load during the event is predicted from the jobs that will still
   be there: running jobs at training power, jobs moving in, moves out or suspensions
   still saving when the event starts. Renewables and the battery only ever lower the
   grid import below the facility demand (the books serve demand renewables -> battery
   -> grid), so a demand under the limit is an import under the limit whatever the sun
   does: the plan counts neither, which makes it a guarantee rather than a forecast.
3. **Shed.** While the predicted demand (base load + that load) is over the limit, running
   movable jobs leave, those with the most slack to their deadline first (the largest
   first among equals): first each one that can move to an open site with
   free slots where the move is feasible (downtime <= alpha x the destination's
   estimated window, the feasibility model's own functions, as the operator's drain)
   and finishes before the event starts, to the site with the most surplus headroom;
   then the rest are suspended (a checkpoint first), each as late as its checkpoint
   allows: one whose checkpoint would still end before the start if it stopped a step
   later runs on (moves are tried again every step of the lead). A site whose pinned
   load alone is over the limit gets best effort: everything movable goes, and the
   event is listed under ``best_effort`` (``dr_best_effort`` in the metrics). Several
   events at a site: each is held to its own limit from its own start (the earliest
   first), and a job shed for it is booked to it.
4. **Restore.** A job the event suspended resumes at its site as soon as its full power
   fits under the site's limit again (jobs there finished or left; least slack first),
   else when its event ends (unless another event holds the site; then at that one's
   end). Jobs moved out stay where they are: the policy may bring them back.

An event with ``reduce`` gets its limit when it is announced: base load + (1 - reduce) x
the site's job load of the step before. One announced at or before the run's first step
(no step before it) is taken up at the second, measuring the first step's job load.
What the enforcement did is kept in ``FleetState.dr`` (JSON-ready; a live run persists it
with the fleet state) and tallied in the run's counters (``dr_moved``, ``dr_suspended``,
``dr_moved_j``, ``dr_suspended_j``, ``dr_resumed_early`` and
``dr_limit_w.<event>@<site>``) for the metrics.

Steps: an event from ``start`` to ``end`` covers every step that overlaps it; planning
starts at the first step at or after the announcement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.grid_events import GridEvent
from greenhop.core.observation import (
    MIGRATING,
    PINNED,
    RUNNING,
    SUSPENDED,
    Migrate,
    Resume,
    Suspend,
)
from greenhop.fleet.evacuate import Evacuation
from greenhop.model import constants as C
from greenhop.policies.window_estimate import HistoricalWindowEstimator, window_estimate_s

_TOL_W = 1e-6
_TOL_S = 1e-6
WHO = "demand response"


@dataclass(frozen=True)
class SiteEvent:
    """One event at one site, in steps of the run."""

    key: str                  # "<event id>@<site name>"
    event_id: str
    site: int
    announce_step: int        # planning starts here
    start_step: int           # first step of the event
    end_step: int             # first step after it
    limit_w: float            # NaN: relative (``reduce``), fixed at the announcement
    reduce: float


def site_events(inputs, events, zones: dict[str, tuple[str, ...]] | None = None, *,
                label: str | None = None) -> list[SiteEvent]:
    """Expand ``events`` over their target sites in the steps of ``inputs``' run (the
    events with a power target; price-only events are checked, not expanded).

    ``label`` names the event in errors instead of ``event 'ID'`` (a request whose id
    greenhop made up is named by the request).

    Raises:
        ConfigError: an unknown site or zone, or an absolute limit below the site's base
            load (its immovable load: no enforcement can meet it).
    """
    params = inputs.params
    names = params.site_names
    index = {n: i for i, n in enumerate(names)}
    dt = float(params.step_s)
    origin = float(params.start_unix_s)
    out = []
    seen: set[str] = set()
    for ev in events:
        what = label or f"event {ev.id!r}"
        for name in ev.targets(zones, label=label):
            if name not in index:
                raise ConfigError(f"{what}: unknown site {name!r} (sites: "
                                  f"{', '.join(names)})")
            if not ev.has_target:
                continue  # a price-only event: it sets the price (fleet.grid), no limit
            s = index[name]
            key = f"{ev.id}@{name}"
            if key in seen:
                raise ConfigError(f"{what}: given twice for site {name!r}")
            seen.add(key)
            base = float(inputs.base_demand_w[s])
            if ev.limit_w is not None and ev.limit_w < base - _TOL_W:
                raise ConfigError(
                    f"{what}: limit {ev.limit_w:g} W at site {name!r} is below its "
                    f"base load {base:g} W (facility power that no job move can shed); "
                    "raise the limit")
            start = (ev.start_unix_s - origin) / dt
            end = (ev.end_unix_s - origin) / dt
            ann = max(0, math.ceil((ev.announce_unix_s - origin) / dt - 1e-9))
            if ev.reduce is not None and ann == 0:
                # no step before the first to measure the job load in: it is measured in
                # the first step, and the event taken up at the next
                ann = 1
            out.append(SiteEvent(
                key=key, event_id=ev.id, site=s, announce_step=ann,
                start_step=max(0, math.floor(start + 1e-9)),
                end_step=max(0, math.ceil(end - 1e-9)),
                limit_w=float("nan") if ev.limit_w is None else float(ev.limit_w),
                reduce=float("nan") if ev.reduce is None else float(ev.reduce)))
    return out


def new_record() -> dict:
    """The JSON-ready record of what enforcement did (``FleetState.dr``)."""
    return {"last_step": -1, "limits_w": {}, "suspended": {}, "shed": [], "best_effort": []}


class DemandResponse:
    """The demand-response events of one run and their enforcement (module docstring).

    Args:
        inputs: the fleet (:class:`~greenhop.fleet.inputs.FleetInputs`).
        events: the :class:`GridEvent` s known at the start.
        zones: zone name -> its site names (events that target a zone).
        alpha: share of a destination's window a move's downtime may use [-].
    """

    def __init__(self, inputs, events=(), zones: dict[str, tuple[str, ...]] | None = None,
                 *, alpha: float = C.ALPHA) -> None:
        self.inputs = inputs
        self.zones = dict(zones or {})
        self.alpha = float(alpha)
        self.events: list[GridEvent] = []
        self.site_events: list[SiteEvent] = []
        self.estimator = HistoricalWindowEstimator()
        for ev in events:
            self.add(ev)

    def add(self, event: GridEvent) -> list[SiteEvent]:
        """Add one event (a live run learns of them as they come); returns its site events."""
        new = site_events(self.inputs, [event], self.zones)
        known = {e.key for e in self.site_events}
        twice = [e.key for e in new if e.key in known]
        if twice:
            raise ConfigError(f"event {event.id!r}: an event with this id already targets "
                              f"site {twice[0].split('@', 1)[1]!r}")
        self.events.append(event)
        self.site_events.extend(new)
        return new

    def next_announcement(self, step: int) -> int | None:
        """The first step after ``step`` at which an event is announced (``None``: none).
        A run with no job to run skips ahead no further than it, so that every event's
        limit is fixed at its announcement whatever the policy did before."""
        later = [e.announce_step for e in self.site_events
                 if step < e.announce_step and e.start_step < self.inputs.n_steps]
        return min(later) if later else None

    # ------------------------------------------------------------ the step
    def on_step(self, core, step: int) -> list[tuple]:
        """Enforce at the start of ``step`` (once per step); returns the accepted actions
        as ``(kind, job, src, dst)`` (the live controller starts them)."""
        state = core.state
        if state.dr is None:
            state.dr = new_record()
        rec = state.dr
        if step <= rec["last_step"]:
            return []
        rec["last_step"] = int(step)
        live = self.live(step)
        state.dr_closed[:] = False
        for e in live:
            state.dr_closed[e.site] = True
            if e.key not in rec["limits_w"]:
                rec["limits_w"][e.key] = self.limit_w(state, e)
                state.counters[f"dr_limit_w.{e.key}"] = rec["limits_w"][e.key]
        accepted = self._restore(core, step)
        by_site: dict[int, list[SiteEvent]] = {}
        for e in live:
            by_site.setdefault(e.site, []).append(e)
        for s, evs in sorted(by_site.items()):
            accepted += self._shed(core, step, s, evs)
        return accepted

    def live(self, step: int) -> list[SiteEvent]:
        """The site events that act at ``step``: announced and not ended. One that starts
        at or after the run's end limits nothing (the scenario warns of it): it neither
        closes its site nor sheds a job during its lead."""
        n_steps = self.inputs.n_steps
        return [e for e in self.site_events
                if e.announce_step <= step < e.end_step and e.start_step < n_steps]

    def limit_w(self, state, e: SiteEvent) -> float:
        """Event ``e``'s grid-import limit at its site [W]: the one fixed when it was taken
        up, else its absolute limit, else (``reduce``) base load + (1 - reduce) x the
        site's job load of the step before, as it would be fixed now."""
        fixed = state.dr["limits_w"].get(e.key) if state.dr is not None else None
        if fixed is not None:
            return float(fixed)
        if not math.isnan(e.limit_w):
            return e.limit_w
        base = float(self.inputs.base_demand_w[e.site])
        jobs = float(state.last_load_w[e.site])
        return base + (1.0 - e.reduce) * jobs

    def _restore(self, core, step: int) -> list[tuple]:
        """Resume the jobs suspended by events that have ended."""
        state = core.state
        rec = state.dr
        if not rec["suspended"]:
            return []
        ended = {e.key for e in self.site_events if e.end_step <= step}
        acts, keep = [], {}
        for j_txt, key in rec["suspended"].items():
            j = int(j_txt)
            if state.phase[j] != SUSPENDED:
                continue  # the policy moved it, or it resumed another way
            if key in ended and not state.dr_closed[int(state.site[j])]:
                acts.append(Resume(j))
            else:
                keep[j_txt] = key
        rec["suspended"] = keep
        accepted = core.apply(acts, step, who=WHO) if acts else []
        return accepted + self._resume_within(core, step)

    def _resume_within(self, core, step: int) -> list[tuple]:
        """Resume, before their event ends, the suspended jobs whose full power fits under
        their site's limit again (jobs there finished or left), least slack first."""
        state, inp = core.state, self.inputs
        rec = state.dr
        if not rec["suspended"]:
            return []
        dt = core.dt_s
        now = step * dt
        live: dict[int, list[SiteEvent]] = {}
        for e in self.live(step):
            if e.key in rec["limits_w"]:
                live.setdefault(e.site, []).append(e)
        jobs = [int(j) for j in rec["suspended"] if int(state.site[int(j)]) in live]
        slack = [inp.job_deadline_s[j] - now - state.remaining_gpu_s[j] / max(
            state.gpus[j] * float(inp.throughput[int(state.site[j])]), 1e-9) for j in jobs]
        accepted: list[tuple] = []
        for _, j in sorted(zip(slack, jobs, strict=True)):
            s = int(state.site[j])
            if state.phase[j] != SUSPENDED or state.save_left_s[j] > _TOL_S:
                continue
            base = float(inp.base_demand_w[s])
            full = self._full_w(core, j, s)
            # it must fit under each live event's limit from that event's start on
            if any(self.committed_w(core, s, max(0.0, e.start_step * dt - now)) + full
                   > rec["limits_w"][e.key] - base + _TOL_W for e in live[s]):
                continue
            # the site stays closed to everyone else; this job only comes back
            state.dr_closed[s] = False
            got = core.apply([Resume(j)], step, who=WHO)
            state.dr_closed[s] = True
            if got:
                accepted += got
                del rec["suspended"][str(j)]
                self._unbook(core, j, step)
        return accepted

    def _full_w(self, core, j: int, s: int) -> float:
        """Facility power job ``j`` draws at site ``s`` running, its staying GPUs too [W]."""
        inp = self.inputs
        return self._site_share_w(core, j, s) + int(inp.job_g_stay[j]) * (
            self._train_w(s) if int(core.state.home[j]) == s else 0.0)

    def _unbook(self, core, j: int, step: int) -> None:
        """A suspended job resumed before its event ended: the flexibility booked for the
        steps from now to the end was not given."""
        state = core.state
        for r in reversed(state.dr["shed"]):
            if r["job"] == j and r["kind"] == "suspend":
                e = next(e for e in self.site_events if e.key == r["event"])
                steps = max(0, min(e.end_step, self.inputs.n_steps) - max(e.start_step, step))
                back = min(r["power_w"] * steps * core.dt_s, r["flex_j"])
                r["flex_j"] -= back
                r["resumed_step"] = int(step)
                c = state.counters
                c["dr_suspended_j"] = c.get("dr_suspended_j", 0.0) - back
                c["dr_resumed_early"] = c.get("dr_resumed_early", 0) + 1
                return

    # ------------------------------------------------------------ planning
    def _train_w(self, s: int) -> float:
        inp = self.inputs
        return float(inp.gpu_power_w[s] * inp.pue[s])

    def committed_w(self, core, s: int, lead_s: float) -> float:
        """The jobs' facility power at site ``s`` once the event starts in ``lead_s`` [s]
        (an upper bound: training power for every GPU that will be held there)."""
        state, inp = core.state, self.inputs
        p_train = self._train_w(s)
        p_idle = float(inp.gpu_idle_w[s] * inp.pue[s])
        total = 0.0
        for j in np.flatnonzero((state.phase == RUNNING) | (state.phase == MIGRATING)
                                | (state.phase == SUSPENDED)).tolist():
            ph = state.phase[j]
            gm = int(state.g_move[j])
            gs = int(inp.job_g_stay[j])
            if gs and int(state.home[j]) == s:
                total += gs * p_train
            if ph == RUNNING:
                if int(state.site[j]) == s:
                    total += gm * p_train
            elif ph == MIGRATING:
                d, src = int(state.dest[j]), int(state.mig_src[j])
                if d == s or (src == s and self._left_s(core, j) > lead_s):
                    total += gm * p_train
            elif int(state.site[j]) == s and state.save_left_s[j] > lead_s:
                total += gm * p_idle
        return total

    def _left_s(self, core, j: int) -> float:
        """Modelled time job ``j``'s move still needs [s] (its rate: the link alone)."""
        state, inp = core.state, self.inputs
        src, d = int(state.mig_src[j]), int(state.dest[j])
        transfer = 0.0
        if state.bytes_left[j] > 0:
            bw = float(inp.network.bandwidth_bps[src, d])
            transfer = state.bytes_left[j] * 8.0 / max(bw, 1e-9)
        return float(state.save_left_s[j] + transfer + state.restore_left_s[j])

    def _save_s(self, core, j: int) -> float:
        """Time job ``j``'s checkpoint takes to write when it is suspended [s]."""
        return float(self.inputs.job_ckpt_bytes[j]) / float(core.params.write_Bps)

    def _site_share_w(self, core, j: int, s: int) -> float:
        """Facility power running job ``j`` draws at site ``s`` with the GPUs that move."""
        return int(core.state.g_move[j]) * self._train_w(s)

    def _shed(self, core, step: int, s: int, evs: list[SiteEvent]) -> list[tuple]:
        """Shed what the live events ``evs`` at site ``s`` need: each against its own limit
        from its own start (the earliest first), so that a lower limit later stops no job
        before its own lead runs out."""
        accepted: list[tuple] = []
        for e in sorted(evs, key=lambda e: (e.start_step, e.end_step)):
            accepted += self._shed_for(core, step, s, e, evs)
        return accepted

    def _shed_for(self, core, step: int, s: int, e: SiteEvent, evs: list[SiteEvent]
                  ) -> list[tuple]:
        """Shed what event ``e`` (one of the site's live events ``evs``) needs: the jobs'
        power from its start on under its limit; each shed job is booked to ``e``."""
        state, inp = core.state, self.inputs
        rec = state.dr
        dt = core.dt_s
        now = step * dt
        lead_s = max(0.0, e.start_step * dt - now)
        budget = rec["limits_w"][e.key] - float(inp.base_demand_w[s])
        over = self.committed_w(core, s, lead_s) - budget
        if over <= _TOL_W:
            return []
        cand = np.flatnonzero((state.phase == RUNNING) & (state.site == s)
                              & (inp.job_mobility != PINNED) & ~state.pinned)
        power = np.array([self._site_share_w(core, j, s) for j in cand.tolist()])
        # Jobs with the most slack to their deadline go first (no deadline: unlimited
        # slack), the largest first among equals: a stop costs them the least.
        need_s = state.remaining_gpu_s[cand] / np.maximum(
            state.gpus[cand] * float(inp.throughput[s]), 1e-9)
        slack = np.where(np.isfinite(inp.job_deadline_s[cand]),
                         inp.job_deadline_s[cand] - now - need_s, np.inf)
        order = cand[np.lexsort((-power, -slack))].tolist()
        accepted: list[tuple] = []
        moves = self._moves(core, step, s, order, over, lead_s)
        for j, d in moves:
            got = core.apply([Migrate(j, d)], step, who=WHO)
            if got:
                p = self._site_share_w(core, j, s)
                over -= p
                accepted += got
                self._book(core, e, j, s, "migrate", p, step, dst=d)
        for j in order:
            if over <= _TOL_W:
                break
            if state.phase[j] != RUNNING or int(state.site[j]) != s:
                continue
            if lead_s - dt >= self._save_s(core, j) + _TOL_S:
                # Its checkpoint still ends before the start if it stops a step later:
                # it runs on (the lead time is not lost to it; a move may open meanwhile).
                # Counted as shed so that no other job is stopped in its place.
                over -= self._full_w(core, j, s)
                continue
            got = core.apply([Suspend(j)], step, who=WHO)
            if got:
                p = self._full_w(core, j, s)
                over -= p
                accepted += got
                rec["suspended"][str(j)] = max(evs, key=lambda x: x.end_step).key
                self._book(core, e, j, s, "suspend", p, step)
        if over > _TOL_W and e.key not in rec["best_effort"]:
            rec["best_effort"].append(e.key)
            state.counters["dr_best_effort"] = state.counters.get("dr_best_effort", 0) + 1
        return accepted

    def _moves(self, core, step: int, s: int, order: list[int], over: float,
               lead_s: float) -> list[tuple[int, int]]:
        """Feasible moves out of ``s`` (largest first) until ``over`` [W] is shed."""
        if not order or over <= _TOL_W:
            return []
        seen = core.power.seen_steps
        if core.power_feed is not None and seen <= step:
            core.ensure_seen(step)
            seen = core.power.seen_steps
        obs_step = step if seen > step else step - 1
        if obs_step < 0:
            return []
        obs = core.observe(obs_step)
        window = np.asarray(window_estimate_s(obs, self.estimator), dtype=float)
        state = core.state
        moves = Evacuation(obs, state.drained | state.dr_closed, window, alpha=self.alpha)
        out = []
        for j in order:
            if over <= _TOL_W:
                break
            d = moves.destination(j, s, int(state.g_move[j]), max_downtime_s=lead_s)
            if d is not None:
                out.append((j, d))
                over -= self._site_share_w(core, j, s)
        return out

    def _book(self, core, e: SiteEvent, j: int, s: int, kind: str, power_w: float,
              step: int, dst: int = -1) -> None:
        """Record one shed job: its power at the site over the rest of the event is the
        flexibility it gave [J]."""
        state = core.state
        n_steps = self.inputs.n_steps
        steps = max(0, min(e.end_step, n_steps) - max(e.start_step, step))
        flex_j = power_w * steps * core.dt_s
        state.dr["shed"].append({"event": e.key, "job": int(j), "site": int(s),
                                 "dst": int(dst), "kind": kind, "step": int(step),
                                 "power_w": float(power_w), "flex_j": float(flex_j)})
        name = "moved" if kind == "migrate" else "suspended"
        c = state.counters
        c[f"dr_{name}"] = c.get(f"dr_{name}", 0) + 1
        c[f"dr_{name}_j"] = c.get(f"dr_{name}_j", 0.0) + flex_j


def scenario_zones(sc) -> dict[str, tuple[str, ...]]:
    """Zone name -> its site names, from a scenario's ``[grid]`` zones (none: empty)."""
    grid = getattr(sc, "grid", None)
    return {z.name: tuple(z.sites) for z in getattr(grid, "zones", ()) or ()}


def events_of(inputs) -> tuple[tuple[GridEvent, ...], dict[str, tuple[str, ...]]]:
    """The events and zones a simulator's inputs carry (its scenario's ``grid.events``);
    none for other inputs."""
    sc = getattr(inputs, "scenario", None)
    return tuple(getattr(sc, "grid_events", ()) or ()), scenario_zones(sc)


def for_inputs(inputs, events=()) -> DemandResponse:
    """The demand response of a fleet's ``inputs``, with ``events``: the zones and the
    feasibility share ``alpha`` of their scenario. The simulator's and a live run's (whose
    events come as they are filed); a zone event resolves against the same zones in both."""
    _, zones = events_of(inputs)
    sc = getattr(inputs, "scenario", None)
    return DemandResponse(inputs, events, zones, alpha=float(getattr(sc, "alpha", C.ALPHA)))


def attach(core) -> DemandResponse | None:
    """Give ``core`` the demand response of its inputs' events (``None`` when there are
    none); the core calls it at the start of every step."""
    events, _ = events_of(core.inputs)
    if not any(e.has_target for e in events):
        return None  # none, or prices only (those act through the grid signals)
    return for_inputs(core.inputs, events)
