"""The discrete-time simulator: one policy over one scenario, driving the fleet core.

Per step ``t`` (length ``dt``), in this order (see :mod:`greenhop.fleet.core`):

1. jobs arriving in ``(t-1, t]`` become ``QUEUED``;
2. every ``decision_interval`` the policy sees an :class:`Observation` of the start of
   the step and its actions are applied (invalid ones are counted and ignored);
3. queued jobs start at their arrival site (FIFO) where enough GPU slots are free;
4. jobs advance by ``dt`` (:mod:`greenhop.fleet.accounting`): migrations go save ->
   transfer (links shared max-min fairly) -> restore with no progress, their durations
   modelled from the checkpoint size, the write / read rates and the links;
5. site demand = ``PUE x (base IT load + job IT energy / dt)`` plus network energy,
   dispatched renewables -> battery -> grid in blocks of steps between decisions (the
   result is the same as step by step).

Nothing here is random: a run is a pure function of the scenario and the policy.
See ``docs/simulator.md`` for the semantics in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from greenhop.fleet.core import FleetCore
from greenhop.fleet.dispatch import FLOW_NAMES
from greenhop.policies.base import decide, policy_counters
from greenhop.sim.inputs import SimInputs

__all__ = ["FLOW_NAMES", "Engine", "RunResult"]

REPORT_EVERY = 1024
"""Steps between two ``on_progress`` calls."""


@dataclass
class RunResult:
    """What one policy run produced (energies in J, times in s, arrays ``[T, S]``)."""

    policy: str
    energy_j: dict[str, np.ndarray]          # per site totals of each flow and of demand
    demand_w: np.ndarray                     # [T, S] facility demand
    grid_w: np.ndarray                       # [T, S]
    job_load_w: np.ndarray                   # [T, S] facility power of the jobs
    flows: dict[str, np.ndarray] | None      # [T, S] per flow when recorded
    soc_j: np.ndarray | None                 # [T+1, S] when recorded
    job_finish_s: np.ndarray
    job_start_s: np.ndarray
    job_remaining_gpu_s: np.ndarray
    job_energy_j: np.ndarray
    job_down_s: np.ndarray
    job_migrations: np.ndarray
    job_progress_log: list[np.ndarray] | None
    migrations: list[dict]
    segments: list[tuple[int, int, float, float, str]]
    counters: dict[str, float] = field(default_factory=dict)
    policy_counters: dict[str, float] = field(default_factory=dict)  # PolicyBase.counters()
    segment_gpus: list[int] | None = None    # GPU count of each segment (None: nominal)
    dr_site_events: list | None = None       # events enforced (None: the scenario's)
    first_naming_nothing: str | None = None  # FleetCore.first_naming_nothing


class Engine:
    """Runs ``policy`` on ``inputs``.

    Args:
        inputs: the policy-independent arrays of a scenario (:func:`build_inputs`).
        policy: a :class:`~greenhop.policies.base.PolicyBase` (``decide(observation) ->
            list[Action]`` and typed ``capabilities``).
        record: keep per-step flows, state of charge and job progress (tests, invariants;
            costs memory).
        window_forecast: optional ``callable(step) -> ndarray[S]`` whose result becomes
            ``Observation.window_forecast_s`` (a forecaster's remaining-window forecast
            issued at or before that step).
        window_forecasts: optional :class:`~greenhop.fleet.forecasts.WindowForecasts`;
            at step ``t`` the Observation carries ``window_forecasts.at(t)`` (quantiles of
            the forecasts issued at or before ``t``) as ``window_forecast_q_s``.
        on_progress: optional ``callable(steps_done)``, called every 1,024 steps.
    """

    def __init__(self, inputs: SimInputs, policy, *, record: bool = False,
                 window_forecast=None, window_forecasts=None, on_progress=None) -> None:
        self.inputs = inputs
        self.policy = policy
        self.record = record
        self.window_forecast = window_forecast
        self.window_forecasts = window_forecasts
        self.on_progress = on_progress
        self.core = FleetCore(inputs, record=record, power_feed=self._feed_power)
        self.progress_log: list[np.ndarray] | None = [] if record else None
        self.decides = not policy.capabilities.passive
        self.next_report = REPORT_EVERY

    # ------------------------------------------------------------ the trace, step by step
    def _feed_power(self, first_step: int, end_step: int) -> None:
        """Show the core the modelled renewable power of steps ``first .. end-1``."""
        history = self.inputs.history_steps
        self.core.see_power(first_step,
                            self.inputs.renewable_w[history + first_step:history + end_step])

    def _flush(self, end_step: int) -> None:
        """Dispatch the steps booked since the last flush."""
        books = self.core.books
        history = self.inputs.history_steps
        if end_step > books.flushed:
            books.flush(end_step, self.inputs.renewable_w[history + books.flushed:
                                                          history + end_step])

    # ------------------------------------------------------------ the steps of a step
    def _report(self, step: int) -> None:
        if self.on_progress is not None and step >= self.next_report:
            self.on_progress(step)
            self.next_report = step + REPORT_EVERY

    def _log_progress(self, end_step: int) -> None:
        """Keep the work done of every job for the steps before ``end_step``."""
        if self.progress_log is None:
            return
        done = self.inputs.job_work_gpu_s - self.core.state.remaining_gpu_s
        while len(self.progress_log) < end_step:
            self.progress_log.append(done)

    def _decide(self, step: int) -> None:
        """Flush the books, show the policy the Observation, apply what it answers."""
        core = self.core
        self._flush(step)
        core.ensure_seen(step)
        forecast = None if self.window_forecast is None else self.window_forecast(step)
        quantiles, levels = None, ()
        if self.window_forecasts is not None:
            quantiles = self.window_forecasts.at(step)
            levels = self.window_forecasts.quantiles
        obs = core.observe(step, window_forecast_s=forecast, window_forecast_q_s=quantiles,
                           quantiles=levels)
        actions = decide(self.policy, obs)
        core.state.counters["policy_calls"] += 1
        if actions:
            core.apply(actions, step, who=f"policy '{self.policy.name}'")

    def _bind_future(self) -> None:
        """The one explicit channel to the future: only a policy that declares it (the
        oracle ceilings) gets the true windows and surplus; the Observation never has them."""
        if self.policy.capabilities.sees_future:
            from greenhop.sim.forecasts import TrueWindows

            H = self.inputs.history_steps
            self.policy.bind_true_windows(TrueWindows(self.inputs.remaining_window_s,
                                                      self.inputs.surplus_w[H:]))

    # ------------------------------------------------------------ run
    def run(self) -> RunResult:
        """Simulate the whole horizon; returns the :class:`RunResult`."""
        core = self.core
        state = core.state
        n_steps = self.inputs.n_steps
        self._bind_future()
        step = 0
        while step < n_steps:
            self._report(step)
            core.arrivals(step)
            if state.n_active == 0:
                # Nothing to run: jump to the next arrival or event announcement (demand
                # stays at the base load).
                nxt = core.next_event_step(step)
                step = n_steps if nxt is None else nxt
                state.last_load_w[:] = 0.0
                self._log_progress(step)
                continue
            if self.decides and step % self.core.decision_every == 0:
                self._decide(step)
            if state.queue:
                core.place_queued(step)
            core.advance(step)
            step += 1
            self._log_progress(step)
        self._flush(n_steps)
        if self.on_progress is not None:
            self.on_progress(n_steps)
        core.close_segments(n_steps * core.dt_s)
        return self._result()

    def _result(self) -> RunResult:
        core, inp = self.core, self.inputs
        state, books = core.state, core.books
        history = inp.history_steps
        energy_j = books.totals_j(inp.n_steps)
        energy_j["renewable"] = inp.renewable_w[history:].sum(axis=0) * core.dt_s
        return RunResult(
            policy=self.policy.name,
            energy_j=energy_j, demand_w=books.total_demand_w(), grid_w=books.grid_w,
            job_load_w=books.job_load_w, flows=books.flows, soc_j=books.soc_log,
            job_finish_s=state.finish_s, job_start_s=state.start_s,
            job_remaining_gpu_s=state.remaining_gpu_s, job_energy_j=state.job_energy_j,
            job_down_s=state.job_down_s, job_migrations=state.job_moves,
            job_progress_log=self.progress_log, migrations=state.migrations,
            segments=state.segments, segment_gpus=state.segment_gpus,
            counters=state.counters,
            policy_counters=policy_counters(self.policy),
            first_naming_nothing=self.core.first_naming_nothing)
