"""The fleet core: one object both mechanisms drive, step by step.

Per step ``t`` a driver calls, in this order:

1. :meth:`FleetCore.see_power` (the renewable power of the step, modelled or measured),
2. :meth:`FleetCore.arrivals` (jobs arriving in ``(t-1, t]`` become queued),
3. every ``decision_interval``: :meth:`FleetCore.observe`, the policy's ``decide``,
   :meth:`FleetCore.apply` (invalid actions are counted and ignored),
4. :meth:`FleetCore.place_queued` (FIFO at the arrival site where slots are free),
5. :meth:`FleetCore.advance` (migrations save -> transfer -> restore, then training;
   the energy of the step goes to the :class:`~greenhop.fleet.dispatch.EnergyBooks`).

The simulator's migrations take their modelled durations (checkpoint size over the
write / read rates, bytes over the links' max-min fair share); the live controller sets
the measured ones with :meth:`FleetCore.set_measured_move` before the step is advanced.
Everything else, admission, state, accounting and the Observation, is this one code.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from greenhop.core.errors import ConfigError, RuntimeFailure
from greenhop.core.observation import (
    DONE,
    MIGRATING,
    QUEUED,
    RUNNING,
    SUSPENDED,
    Migrate,
    Observation,
    Place,
    Resume,
    Scale,
    Suspend,
)
from greenhop.fleet import admission, demand_response, distributed
from greenhop.fleet.accounting import Accounting
from greenhop.fleet.dispatch import EnergyBooks
from greenhop.fleet.grid import GridFeed
from greenhop.fleet.inputs import ON_WINDOW_CLOSE, FleetInputs
from greenhop.fleet.network import LinkLoad
from greenhop.fleet.observe import ObservationBuilder, PowerSeen
from greenhop.fleet.state import FleetState

_EPS_S = 1e-9


class FleetCore:
    """State, admission, Observation and accounting of one run of ``inputs``.

    Args:
        inputs: the fleet (:class:`~greenhop.fleet.inputs.FleetInputs`).
        record: keep per-step flows and state of charge in the books.
        power_feed: optional ``callable(first_step, end_step)`` that calls
            :meth:`see_power` for those steps when the core needs a step's power that was
            not yet seen (the simulator feeds its trace lazily; a live run records every
            step before advancing it).
    """

    def __init__(self, inputs: FleetInputs, *, record: bool = False,
                 power_feed: Callable[[int, int], None] | None = None) -> None:
        params = inputs.params
        if params.on_window_close not in ON_WINDOW_CLOSE:
            raise ConfigError(f"on_window_close: '{params.on_window_close}' is not one of "
                              f"{', '.join(ON_WINDOW_CLOSE)}")
        self.inputs = inputs
        self.params = params
        self.conventions = params.energy
        self.dt_s = float(params.step_s)
        #: the policy is asked every this many steps (the decision interval, >= 1 step)
        self.decision_every = max(1, round(params.decision_interval_s / self.dt_s))
        self.n_sites = len(inputs.slots)
        self.n_jobs = len(inputs.jobs)
        self.site_index = {n: i for i, n in enumerate(params.site_names)}
        self.job_index = {n: i for i, n in enumerate(inputs.job_names)}
        self.state = FleetState(inputs)
        self.power = PowerSeen(inputs)
        self.power_feed = power_feed
        self.books = EnergyBooks(inputs, self.state.soc_j, record=record)
        self.link_load = LinkLoad(inputs.network, write_Bps=params.write_Bps,
                                  read_Bps=params.read_Bps, startup_s=params.startup_s)
        self.observer = ObservationBuilder(inputs, self.state, self.power, self.link_load.info)
        # A grid objective's weights of grid energy, as issued by each step (docs/grid.md).
        grid = inputs.grid
        self.grid_feed = (GridFeed(grid, round(grid.forecast_horizon_s / self.dt_s), self.dt_s)
                          if grid is not None and grid.objective != "energy" else None)
        self.accounting = Accounting(self)
        self.arrival_order = np.argsort(inputs.job_arrival_step, kind="stable")
        self.arrival_steps = np.asarray(inputs.job_arrival_step)[self.arrival_order]
        self.next_arrival = 0          # position in arrival_order of the next job to arrive
        self.groups = distributed.attach(self)  # None: no job spread over sites
        self.demand_response = demand_response.attach(self)  # None: no grid events
        #: the first action that named a job or site the fleet does not have (``step N:
        #: action``), counted in ``actions_naming_nothing``; a typo, not an admission refusal
        self.first_naming_nothing: str | None = None

    # ------------------------------------------------------------ power and arrivals
    def see_power(self, first_step: int, renewable_w: np.ndarray) -> None:
        """Record the renewable power [W] of steps ``first_step ..`` (one row per step)."""
        self.power.see(first_step, renewable_w)

    def ensure_seen(self, step: int) -> None:
        """Make sure the power of ``step`` has been seen (asks ``power_feed``)."""
        seen = self.power.seen_steps
        if seen > step:
            return
        if self.power_feed is None:
            raise RuntimeFailure(f"the power of step {step} was not recorded before the "
                                 "step was advanced")
        self.power_feed(seen, step + 1)

    def arrivals(self, step: int) -> list[int]:
        """Jobs arriving by ``step`` become queued (in arrival order); returns them."""
        state = self.state
        new = []
        while (self.next_arrival < self.n_jobs
               and self.arrival_steps[self.next_arrival] <= step):
            j = int(self.arrival_order[self.next_arrival])
            state.phase[j] = QUEUED
            state.queue.append(j)
            state.n_active += 1
            self.next_arrival += 1
            new.append(j)
        if self.demand_response is not None:
            self.demand_response.on_step(self, step)
        return new

    def next_arrival_step(self) -> int | None:
        """The step of the next job still to arrive (``None``: all have)."""
        if self.next_arrival < self.n_jobs:
            return int(self.arrival_steps[self.next_arrival])
        return None

    def next_event_step(self, step: int) -> int | None:
        """The first step after ``step`` at which something happens to a fleet with no job
        to run: a job arrives or a demand-response event is announced (``None``: never)."""
        steps = [self.next_arrival_step()]
        if self.demand_response is not None:
            steps.append(self.demand_response.next_announcement(step))
        steps = [s for s in steps if s is not None]
        return min(steps) if steps else None

    # ------------------------------------------------------------ the policy's side
    def observe(self, step: int, **forecasts) -> Observation:
        """The Observation of the start of ``step`` (see :class:`ObservationBuilder`), with
        the objective's weights of grid energy under a grid objective (docs/grid.md)."""
        obs = self.observer.build(step, demand_response=self.demand_response, **forecasts)
        return obs if self.grid_feed is None else self.grid_feed.attach(obs)

    def apply(self, actions, step: int, *, who: str = "the policy") -> list[tuple]:
        """Admit and apply ``actions``; returns the accepted ones as ``(kind, job, src, dst)``
        with kind ``migrate | suspend | resume | place | scale`` (a scale's ``dst`` is its
        site; the new count is :attr:`FleetState.gpus`)."""
        state, inp = self.state, self.inputs
        counters = state.counters
        now = step * self.dt_s
        accepted: list[tuple] = []
        for act in actions:
            self._check_names(act, step)
            if isinstance(act, Migrate):
                j, d = self._job(act.job), self._site(act.dest)
                if admission.can_migrate(inp, state.phase, state.site, state.occupied, j, d,
                                         drained=state.no_entry, pinned=state.pinned,
                                         g_move=state.g_move):
                    src = int(state.site[j])
                    self.start_migration(j, d, now, step, move=True)
                    counters["migrations_started"] += 1
                    accepted.append(("migrate", j, src, d))
                else:
                    counters["rejected_actions"] += 1
            elif isinstance(act, Suspend):
                j = self._job(act.job)
                if admission.can_suspend(state.phase, j, pinned=state.pinned):
                    self.suspend(j, now)
                    accepted.append(("suspend", j, int(state.site[j]), int(state.site[j])))
                else:
                    counters["rejected_actions"] += 1
            elif isinstance(act, Resume):
                j = self._job(act.job)
                if admission.can_resume(state.phase, j, site=state.site,
                                        closed=state.dr_closed):
                    s = int(state.site[j])
                    self.start_migration(j, s, now, step, move=False)
                    accepted.append(("resume", j, s, s))
                else:
                    counters["rejected_actions"] += 1
            elif isinstance(act, Place):
                j, s = self._job(act.job), self._site(act.site)
                if admission.can_place(inp, state.phase, state.occupied, j, s,
                                       drained=state.no_entry, gpus=state.gpus):
                    self.start_job(j, s, now)
                    state.queue.remove(j)
                    accepted.append(("place", j, s, s))
                else:
                    counters["rejected_actions"] += 1
            elif isinstance(act, Scale):
                j = self._job(act.job)
                counters.setdefault("scales", 0)
                counters.setdefault("rejected_scales", 0)
                if admission.can_scale(inp, state.phase, state.site, state.occupied, j,
                                       act.gpus, gpus=state.gpus, min_gpus=state.min_gpus,
                                       max_gpus=state.max_gpus, drained=state.no_entry):
                    self.start_scale(j, int(act.gpus), now)
                    s = int(state.site[j])
                    accepted.append(("scale", j, s, s))
                else:
                    counters["rejected_actions"] += 1
                    counters["rejected_scales"] += 1
            else:
                raise ConfigError(f"{who} returned {act!r}, which is not an Action")
        return accepted

    def place_queued(self, step: int) -> list[tuple]:
        """Start queued jobs at their arrival site where enough slots are free (FIFO);
        returns them as ``("place", job, site, site)``."""
        state, inp = self.state, self.inputs
        now = step * self.dt_s
        placed, still = [], []
        for j in state.queue:
            s = admission.arrival_site(inp, state.occupied, j, drained=state.drained,
                                       held=state.dr_closed)
            if s >= 0 and admission.fits(inp, state.occupied, s, state.gpus[j]):
                self.start_job(j, s, now)
                placed.append(("place", j, s, s))
            else:
                still.append(j)
        state.queue = still
        return placed

    def _check_names(self, act, step: int) -> None:
        """Count an action naming a job or site that does not exist (it is rejected as any
        action the fleet cannot take, but a misspelt site or a wrong index is the policy's
        bug, which the run reports apart)."""
        if not isinstance(act, Migrate | Suspend | Resume | Place | Scale):
            return
        where = getattr(act, "dest", getattr(act, "site", None))
        if self._job(act.job) >= 0 and (where is None or self._site(where) >= 0):
            return
        counters = self.state.counters
        counters["actions_naming_nothing"] = counters.get("actions_naming_nothing", 0) + 1
        if self.first_naming_nothing is None:
            self.first_naming_nothing = f"step {step}: {act!r}"

    def _job(self, job) -> int:
        return admission.resolve(job, self.job_index, self.n_jobs)

    def _site(self, site) -> int:
        return admission.resolve(site, self.site_index, self.n_sites)

    # ------------------------------------------------------------ transitions
    def segment(self, j: int, now: float, kind: str | None, site: int = -1) -> None:
        """Close job ``j``'s open segment at ``now``; open a new one of ``kind`` at ``site``."""
        state = self.state
        if state.seg_kind[j] is not None and now > state.seg_start_s[j] + _EPS_S:
            state.segments.append((j, state.seg_site[j], state.seg_start_s[j], now,
                                   state.seg_kind[j]))
            state.segment_gpus.append(state.seg_gpus[j])
        state.seg_kind[j] = kind
        state.seg_gpus[j] = int(state.gpus[j])
        state.seg_site[j] = site
        state.seg_start_s[j] = now

    def start_job(self, j: int, s: int, now: float) -> None:
        """Job ``j`` starts training at site ``s``."""
        state = self.state
        state.phase[j] = RUNNING
        state.site[j] = s
        state.home[j] = s
        state.occupied[s] += state.gpus[j]
        if np.isnan(state.start_s[j]):
            state.start_s[j] = now
        state.last_move_s[j] = now
        self.segment(j, now, "running", s)

    def suspend(self, j: int, now: float) -> None:
        """Suspend job ``j`` where it is; with ``suspend_saves`` it first writes a checkpoint
        (no progress, idle power), booked by :meth:`advance`."""
        state, params = self.state, self.params
        state.phase[j] = SUSPENDED
        state.counters["suspensions"] += 1
        if self.conventions.suspend_saves and not params.free_migration:
            state.save_left_s[j] = self.inputs.job_ckpt_bytes[j] / params.write_Bps
            state.suspend_saving.append(j)
        self.segment(j, now, "suspended", int(state.site[j]))

    def start_migration(self, j: int, d: int, now: float, step: int, *, move: bool) -> None:
        """Job ``j`` starts moving to ``d`` (``move``) or resuming at its own site."""
        state, inp, params = self.state, self.inputs, self.params
        src = int(state.site[j])
        pending_save = float(state.save_left_s[j])     # a suspend's checkpoint not yet written
        # A suspended job's checkpoint is the one its suspend wrote (or is writing): a move
        # carries it and writes nothing more, as the live controller does.
        was_suspended = bool(state.phase[j] == SUSPENDED)
        saved = was_suspended and self.conventions.suspend_saves
        state.phase[j] = MIGRATING
        state.dest[j] = d
        state.is_move[j] = move
        state.mig_src[j] = src
        free = params.free_migration  # ablation: no time, no bytes, no energy
        nbytes = inp.job_move_bytes[j] if move and not free else 0.0
        state.save_left_s[j] = (nbytes / params.write_Bps if move and not saved
                                else pending_save)
        state.bytes_left[j] = nbytes
        size = inp.job_move_bytes[j] if move else inp.job_ckpt_bytes[j]
        state.restore_left_s[j] = 0.0 if free else size / params.read_Bps + params.startup_s
        state.measured_bps[j] = np.nan
        state.mig_start_s[j] = now
        state.closed_flag[j] = False
        if move:
            state.occupied[d] += state.g_move[j]
            rec = {
                "job": j, "src": src, "dst": d, "start_s": now, "end_s": None,
                "bytes": float(nbytes), "bytes_sent": 0.0,
                "bandwidth_bps": float(inp.network.bandwidth_bps[src, d]),
                "window_at_start_s": float(inp.remaining_window_s[step, d]),
                # the window runs on past the horizon: its length is only known to there
                "window_at_start_censored": self._open_at_horizon(step, d),
                "energy_j": 0.0, "window_closed": False, "aborted": False,
                "fallback": False, "decided_step": step,
                "save_s": 0.0, "transfer_s": 0.0, "restore_s": 0.0,
                # an aborted move of a suspended job leaves it suspended, not running
                "from_suspended": was_suspended,
            }
            state.mig_rec[j] = len(state.migrations)
            state.migrations.append(rec)
            self.segment(j, now, "migrating", d)
        else:
            state.mig_rec[j] = -1
            self.segment(j, now, "resuming", src)

    def start_scale(self, j: int, g: int, now: float) -> None:
        """Running elastic job ``j`` starts rescaling to ``g`` GPUs at its site: it saves a
        checkpoint and restores it (``write_Bps``, ``read_Bps``, ``startup_s``; no transfer),
        with no progress, holding the larger of its old and new count idle; on restoring it
        runs on ``g`` (:meth:`finish_migration`)."""
        state, inp, params = self.state, self.inputs, self.params
        s = int(state.site[j])
        held = max(int(state.g_move[j]), g)
        state.occupied[s] += held - int(state.g_move[j])
        state.g_move[j] = held
        state.gpus[j] = g
        state.scale_to[j] = g
        state.phase[j] = MIGRATING
        state.dest[j] = s
        state.is_move[j] = False
        state.mig_src[j] = s
        free = params.free_migration
        size = inp.job_ckpt_bytes[j]
        state.save_left_s[j] = 0.0 if free else size / params.write_Bps
        state.bytes_left[j] = 0.0
        state.restore_left_s[j] = 0.0 if free else size / params.read_Bps + params.startup_s
        state.measured_bps[j] = np.nan
        state.mig_start_s[j] = now
        state.closed_flag[j] = False
        state.mig_rec[j] = -1
        state.counters["scales"] += 1
        self.segment(j, now, "rescaling", s)

    def set_measured_move(self, j: int, *, save_s: float, transfer_s: float, restore_s: float,
                          nbytes: float) -> None:
        """Replace migrating job ``j``'s modelled phase durations [s] with measured ones
        (the live controller, once the move has run); ``nbytes`` [B] crossed the WAN."""
        state = self.state
        state.save_left_s[j] = max(0.0, float(save_s))
        moving = bool(state.is_move[j])
        sent = float(nbytes) if moving else 0.0
        state.bytes_left[j] = sent
        if sent > 0.0:
            state.measured_bps[j] = sent * 8.0 / max(float(transfer_s), _EPS_S)
            rec = state.migrations[state.mig_rec[j]]
            rec["bytes"] = sent
        state.restore_left_s[j] = max(0.0, float(restore_s))

    def _open_at_horizon(self, step: int, d: int) -> bool:
        """Site ``d``'s window at ``step`` is still open at the end of the horizon (the
        windows are known only up to it): its remaining length is a lower bound (records
        only)."""
        inp = self.inputs
        rem = float(inp.remaining_window_s[min(step, inp.n_steps), d])
        return rem > 0.0 and rem >= (inp.n_steps - step) * self.dt_s - 1e-6

    def finish_migration(self, j: int, end_s: float, step_after: int) -> None:
        """Job ``j`` has restored at its destination at ``end_s``."""
        state, inp = self.state, self.inputs
        d = int(state.dest[j])
        if state.is_move[j]:
            src = int(state.mig_src[j])
            state.occupied[src] -= state.g_move[j]
            state.job_moves[j] += 1
            rec = state.migrations[state.mig_rec[j]]
            rec["end_s"] = float(end_s)
            rec["downtime_s"] = float(end_s - rec["start_s"])
            # the window left at the move's end itself, not at the next step boundary: from
            # the step holding ``end_s`` (the next one when it ends on a boundary before the
            # horizon), less the part of that step already gone
            dt = self.dt_s
            on_edge = end_s >= step_after * dt - 1e-6 and step_after < inp.n_steps
            k = step_after if on_edge else step_after - 1
            rem = float(inp.remaining_window_s[k, d])
            rec["window_at_end_s"] = max(0.0, rem - (float(end_s) - k * dt))
            rec["window_at_end_censored"] = self._open_at_horizon(k, d)
        elif state.scale_to[j] >= 0:  # a rescale: keep the new count, free the rest
            new = int(state.scale_to[j])
            state.occupied[d] -= state.g_move[j] - new
            state.g_move[j] = new
            state.scale_to[j] = -1
        state.phase[j] = RUNNING
        state.site[j] = d
        if inp.job_g_stay[j] == 0:
            state.home[j] = d
        state.dest[j] = -1
        state.last_move_s[j] = end_s
        self.segment(j, end_s, "running", d)

    def window_closed(self, j: int, now: float, step: int) -> None:
        """The destination window of moving job ``j`` closed in flight: count it and
        continue, fall back to another open site, or abort (``on_window_close``)."""
        state, inp, params = self.state, self.inputs, self.params
        on_close = params.on_window_close
        state.closed_flag[j] = True
        state.counters["window_closed"] += 1
        rec = state.migrations[state.mig_rec[j]]
        rec["window_closed"] = True
        if on_close == "continue":
            return
        d = int(state.dest[j])
        src = int(state.mig_src[j])
        costless = params.free_migration  # ablation: a redirected or aborted move is free too
        restore_s = (0.0 if costless
                     else inp.job_move_bytes[j] / params.read_Bps + params.startup_s)
        if on_close == "fallback":
            surplus = self.power.surplus_at(step)
            headroom = surplus - state.last_load_w
            free = inp.slots - state.occupied
            ok = (inp.job_allowed[j] & (inp.network.hops[src] > 0)
                  & (free >= state.g_move[j]) & (surplus >= params.window_threshold_w))
            ok[d] = False
            ok[src] = False
            if ok.any():
                new = int(np.argmax(np.where(ok, headroom, -np.inf)))
                state.occupied[d] -= state.g_move[j]
                state.occupied[new] += state.g_move[j]
                state.dest[j] = new
                state.bytes_left[j] = 0.0 if costless else inp.job_move_bytes[j]
                state.restore_left_s[j] = restore_s
                rec["fallback"] = True
                rec["dst"] = new
                # judged from here on against the new destination's window, the one it
                # lands in (``window_closed`` keeps saying that one closed in flight)
                rec["window_at_start_s"] = float(inp.remaining_window_s[step, new])
                rec["window_at_start_censored"] = self._open_at_horizon(step, new)
                state.counters["fallback_migrations"] += 1
                self.segment(j, now, "migrating", new)
                return
        # abort (or fallback with nowhere to go): restart at the source from its checkpoint
        state.occupied[d] -= state.g_move[j]
        state.dest[j] = src
        state.is_move[j] = False
        state.bytes_left[j] = 0.0
        state.restore_left_s[j] = restore_s
        rec["aborted"] = True
        rec["end_s"] = None
        state.mig_rec[j] = -1
        state.counters["aborted_migrations"] += 1
        if rec.get("from_suspended"):
            # the policy suspended it and never resumed it: it stays suspended at the
            # source, its checkpoint there (a suspend's save still under way goes on)
            state.phase[j] = SUSPENDED
            state.dest[j] = -1
            state.restore_left_s[j] = 0.0
            if state.save_left_s[j] > 0 and j not in state.suspend_saving:
                state.suspend_saving.append(j)
            self.segment(j, now, "suspended", src)
            return
        self.segment(j, now, "resuming", src)

    def finish_job(self, j: int, end_s: float) -> None:
        """Job ``j`` has done its work at ``end_s``: it frees its slots."""
        state, inp = self.state, self.inputs
        state.phase[j] = DONE
        state.finish_s[j] = end_s
        state.occupied[state.site[j]] -= state.g_move[j]
        state.occupied[state.home[j]] -= inp.job_g_stay[j]
        state.n_active -= 1
        self.segment(j, end_s, None)

    # ------------------------------------------------------------ the step
    def advance(self, step: int) -> list[int]:
        """Advance every job by one step and book its energy; returns the jobs that
        finished their work in it (see :class:`~greenhop.fleet.accounting.Accounting`)."""
        return self.accounting.advance(step)

    def close_segments(self, end_s: float) -> None:
        """Close every open segment at ``end_s`` (the end of the run)."""
        for j in range(self.n_jobs):
            if self.state.seg_kind[j] is not None:
                self.segment(j, end_s, None)

    def segments_until(self, end_s: float) -> tuple[list[tuple], list[int]]:
        """The run's segments and their GPU counts as :meth:`close_segments` at ``end_s``
        would leave them, the state unchanged (a live run's metrics, written while the
        run may still be resumed)."""
        state = self.state
        keys = ("segments", "segment_gpus", "seg_kind", "seg_site", "seg_gpus", "seg_start_s")
        saved = {k: list(getattr(state, k)) for k in keys}
        try:
            self.close_segments(end_s)
            return list(state.segments), list(state.segment_gpus)
        finally:
            for k, v in saved.items():
                setattr(state, k, v)
