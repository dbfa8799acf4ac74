"""The Observation a policy sees: the past and the present, nothing after.

Every time-varying array of an :class:`~greenhop.core.observation.Observation` is a
read-only view of a buffer this module owns: the present step's renewable power and
surplus are *copied* into per-step buffers, and the surplus history is a buffer filled
row by row as steps are seen (:meth:`PowerSeen.see`), so no attribute of an Observation
(``.base`` included) reaches a future value. The per-job and per-site state arrays are
views of the fleet's live state (the present), the jobs' GPU counts included (an elastic
job's count changes when it scales).
"""

from __future__ import annotations

import sys

import numpy as np

from greenhop.core.errors import RuntimeFailure
from greenhop.core.observation import (
    MIGRATABLE,
    PENDING,
    AnnouncedEvents,
    LinkInfo,
    Observation,
    SurplusHistory,
)
from greenhop.core.readonly import readonly
from greenhop.fleet.inputs import FleetInputs
from greenhop.fleet.state import FleetState

PENDING_SHOWS = {"job_origin": -1, "job_remaining_gpu_s": 0.0, "job_checkpoint_bytes": 0.0,
                 "job_move_bytes": 0.0, "job_gpus": 1, "job_min_gpus": 1, "job_max_gpus": 1,
                 "job_nominal_gpus": 1, "job_mobility": MIGRATABLE, "job_arrival_s": np.nan,
                 "job_deadline_s": np.inf, "job_allowed": True}
"""What a pending job's fields read until it arrives: no site of its own, no work, one GPU,
no checkpoint, no deadline, an unknown arrival, migratable to any site."""


class PowerSeen:
    """Surplus of every step seen so far ``[H+T, S]`` [W] (NaN until seen; rows before the
    start are the scenario's history) and the renewable power of the latest step seen."""

    def __init__(self, inputs: FleetInputs) -> None:
        history = inputs.history_steps
        n_rows = history + inputs.n_steps
        n_sites = len(inputs.slots)
        self.base_demand_w = np.asarray(inputs.base_demand_w, dtype=float)
        self.offset = history
        self.surplus_w = np.full((n_rows, n_sites), np.nan)
        self.surplus_w[:history] = inputs.history_renewable_w - self.base_demand_w
        self.seen_steps = 0                       # steps 0 .. seen_steps-1 are filled
        self.latest_step = -1
        self.latest_renewable_w = np.full(n_sites, np.nan)

    def see(self, first_step: int, renewable_w: np.ndarray) -> None:
        """Record the renewable power [W] of steps ``first_step ..`` (rows of ``renewable_w``)."""
        rows = np.atleast_2d(renewable_w)
        lo = self.offset + first_step
        hi = lo + rows.shape[0]
        self.surplus_w[lo:hi] = rows - self.base_demand_w
        self.seen_steps = max(self.seen_steps, first_step + rows.shape[0])
        last = first_step + rows.shape[0] - 1
        if last >= self.latest_step:
            self.latest_step = last
            self.latest_renewable_w[:] = rows[-1]

    def renewable_at(self, step: int) -> np.ndarray:
        """Renewable power of ``step`` [W]: the latest step seen."""
        if step != self.latest_step:
            raise RuntimeFailure(f"the renewable power of step {step} is asked for, but the "
                                 f"latest step seen is {self.latest_step}")
        return self.latest_renewable_w

    def surplus_at(self, step: int) -> np.ndarray:
        """Surplus of ``step`` [W] (a seen step)."""
        return self.surplus_w[self.offset + step]


class ObservationBuilder:
    """Builds the Observation of a step from the fleet state and the power seen."""

    def __init__(self, inputs: FleetInputs, state: FleetState, power: PowerSeen,
                 links: LinkInfo) -> None:
        params = inputs.params
        n_sites = len(inputs.slots)
        self.inputs = inputs
        self.state = state
        self.power = power
        self.dt_s = float(params.step_s)
        # Per-step buffers: they only ever hold the present step.
        self.renewable_now_w = np.zeros(n_sites)
        self.surplus_now_w = np.zeros(n_sites)
        self.headroom_w = np.zeros(n_sites)
        self.free_gpus = np.zeros(n_sites, dtype=np.int64)
        self.progress = np.zeros(len(inputs.jobs))
        self.closed = np.zeros(n_sites, dtype=bool)   # drained | held by an event, now
        self._events: tuple[tuple, AnnouncedEvents] | None = None  # (key, the last built)
        self.history_ro = readonly(power.surplus_w)
        self._last: Observation | None = None     # reused while nobody else holds it
        # A job that has not arrived is the future: each of its fields reads a neutral
        # value until it does (:meth:`_hide_pending`), only its phase and name are seen.
        self._shown = {name: np.array(src, copy=True) for name, src in self._job_sources()}
        self._pending_before: np.ndarray | None = None
        self._hide_pending()
        ro = readonly
        self.fixed = dict(
            site_names=params.site_names, job_names=inputs.job_names,
            renewable_w=ro(self.renewable_now_w), surplus_w=ro(self.surplus_now_w),
            base_demand_w=ro(inputs.base_demand_w), job_load_w=ro(state.last_load_w),
            headroom_w=ro(self.headroom_w), soc_j=ro(state.soc_j),
            battery_capacity_j=ro(inputs.bat_capacity_j),
            battery_power_w=ro(inputs.bat_power_w), battery_efficiency=ro(inputs.bat_eta),
            battery_min_soc=ro(inputs.bat_min_soc), free_gpus=ro(self.free_gpus),
            gpu_slots=ro(inputs.slots), gpu_power_w=ro(inputs.gpu_power_w),
            gpu_idle_w=ro(inputs.gpu_idle_w), throughput=ro(inputs.throughput),
            pue=ro(inputs.pue), job_phase=ro(state.phase), job_site=ro(state.site),
            job_dest=ro(state.dest), job_progress=ro(self.progress),
            job_last_move_s=ro(state.last_move_s), job_home=ro(state.home),
            **{name: ro(buf) for name, buf in self._shown.items()},
            links=links, site_closed=ro(self.closed),
            start_unix_s=float(params.start_unix_s),
            decision_interval_s=float(params.decision_interval_s),
            window_threshold_w=float(params.window_threshold_w),
            run_end_s=float(params.n_steps * params.step_s))

    def _job_sources(self):
        """``(Observation field, the fleet's array)`` of every per-job field a pending job
        hides; the live-state ones (work left, GPU counts) are copied every build."""
        inp, state = self.inputs, self.state
        return (("job_origin", inp.job_origin), ("job_remaining_gpu_s", state.remaining_gpu_s),
                ("job_checkpoint_bytes", inp.job_ckpt_bytes),
                ("job_move_bytes", inp.job_move_bytes), ("job_gpus", state.gpus),
                ("job_min_gpus", state.min_gpus), ("job_max_gpus", state.max_gpus),
                ("job_nominal_gpus", inp.job_gpus), ("job_serial_share", state.serial_share),
                ("job_mobility", inp.job_mobility), ("job_arrival_s", inp.job_arrival_s),
                ("job_deadline_s", inp.job_deadline_s), ("job_allowed", inp.job_allowed))

    def _hide_pending(self) -> None:
        """Refresh the per-job fields policies see: the fleet's values for arrived jobs, the
        neutral ones for pending jobs (their arrival, work, size, deadline and placement
        are the future)."""
        pending = self.state.phase == PENDING
        same = self._pending_before is not None and np.array_equal(pending,
                                                                    self._pending_before)
        live = ("job_remaining_gpu_s", "job_gpus", "job_min_gpus", "job_max_gpus",
                "job_serial_share")
        for name, src in self._job_sources():
            if same and name not in live:
                continue  # fixed per job, and nobody arrived since the last refresh
            buf = self._shown[name]
            buf[...] = src
            if pending.any() and name in PENDING_SHOWS:
                buf[pending] = PENDING_SHOWS[name]
        self._pending_before = pending

    def build(self, step: int, *, window_forecast_s=None, window_forecast_q_s=None,
              quantiles: tuple[float, ...] = (), demand_response=None) -> Observation:
        """The Observation of the start of ``step`` (a step whose power was seen), with the
        events ``demand_response`` (a
        :class:`~greenhop.fleet.demand_response.DemandResponse`, or ``None``) has announced
        by then."""
        inp, state, power = self.inputs, self.state, self.power
        row = power.offset + step
        self.renewable_now_w[:] = power.renewable_at(step)
        self.surplus_now_w[:] = power.surplus_w[row]
        np.subtract(inp.slots, state.occupied, out=self.free_gpus)
        np.subtract(1.0, state.remaining_gpu_s / inp.job_work_gpu_s, out=self.progress)
        np.subtract(self.surplus_now_w, state.last_load_w, out=self.headroom_w)
        np.logical_or(state.drained, state.dr_closed, out=self.closed)
        self._hide_pending()
        per_step = dict(
            # None also while none is announced: an empty table would tell a run that will
            # have events from one that will not
            dr_events=None if demand_response is None else (
                self.events(step, demand_response) or None),
            now_s=step * self.dt_s, step=step,
            history=SurplusHistory(self.history_ro, power.offset, step, self.dt_s),
            window_forecast_s=window_forecast_s, window_forecast_q_s=window_forecast_q_s,
            window_forecast_quantiles=quantiles)
        last = self._last
        # Only this builder still holds last step's Observation (references: the attribute,
        # ``last`` and the call's argument): nobody can tell it apart from a new one, so
        # set the step's own fields on it instead of building every field again. A policy
        # that keeps an Observation keeps its own; the next step gets a new one.
        if last is not None and sys.getrefcount(last) <= 3:
            for name, value in per_step.items():
                object.__setattr__(last, name, value)
            return last
        self._last = Observation(dt_s=self.dt_s, **per_step, **self.fixed)
        return self._last

    def events(self, step: int, demand_response) -> AnnouncedEvents:
        """The events of ``demand_response`` announced at or before ``step``, not over by
        then and starting before the run's end (one row per event and site; the events
        the enforcement acts on, ``DemandResponse.live``), with each one's job power limit
        [W]: its grid-import limit (a ``reduce`` event's as fixed at its announcement) less
        the site's base demand. Rebuilt only when that set or a limit changes."""
        inp, state = self.inputs, self.state
        rows = []
        # the events that act now, by the enforcement's own rule: announced, not over, and
        # starting before the run's end (one after it limits nothing, so a policy is not
        # shown it to plan around)
        for e in demand_response.live(step):
            limit = demand_response.limit_w(state, e)  # the enforcement's, one rule
            rows.append((e.key, e.site, e.start_step, e.end_step, e.announce_step,
                         max(float(limit) - float(inp.base_demand_w[e.site]), 0.0)))
        key = tuple(rows)
        if self._events is not None and self._events[0] == key:
            return self._events[1]
        dt = self.dt_s

        def col(k, scale=1.0):
            return readonly(np.array([r[k] * scale for r in rows], dtype=float))

        site = readonly(np.array([r[1] for r in rows], dtype=np.int64))
        out = AnnouncedEvents(keys=tuple(r[0] for r in rows), site=site, start_s=col(2, dt),
                              end_s=col(3, dt), job_limit_w=col(5), announced_s=col(4, dt))
        self._events = (key, out)
        return out
