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
from greenhop.core.observation import LinkInfo, Observation, SurplusHistory
from greenhop.fleet.inputs import FleetInputs
from greenhop.fleet.state import FleetState


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a``."""
    view = a.view()
    view.flags.writeable = False
    return view


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
        self.history_ro = readonly(power.surplus_w)
        self._last: Observation | None = None     # reused while nobody else holds it
        ro = readonly
        self.fixed = dict(
            site_names=params.site_names, job_names=inputs.job_names,
            renewable_w=ro(self.renewable_now_w), surplus_w=ro(self.surplus_now_w),
            base_demand_w=ro(inputs.base_demand_w), job_load_w=ro(state.last_load_w),
            headroom_w=ro(self.headroom_w), soc_j=ro(state.soc_j),
            battery_capacity_j=ro(inputs.bat_capacity_j), free_gpus=ro(self.free_gpus),
            gpu_slots=ro(inputs.slots), gpu_power_w=ro(inputs.gpu_power_w),
            gpu_idle_w=ro(inputs.gpu_idle_w), throughput=ro(inputs.throughput),
            pue=ro(inputs.pue), job_phase=ro(state.phase), job_site=ro(state.site),
            job_dest=ro(state.dest), job_origin=ro(inputs.job_origin),
            job_progress=ro(self.progress), job_remaining_gpu_s=ro(state.remaining_gpu_s),
            job_checkpoint_bytes=ro(inputs.job_ckpt_bytes),
            job_move_bytes=ro(inputs.job_move_bytes), job_gpus=ro(state.gpus),
            job_min_gpus=ro(state.min_gpus), job_max_gpus=ro(state.max_gpus),
            job_nominal_gpus=ro(inputs.job_gpus), job_serial_share=ro(state.serial_share),
            job_mobility=ro(inputs.job_mobility), job_arrival_s=ro(inputs.job_arrival_s),
            job_deadline_s=ro(inputs.job_deadline_s), job_last_move_s=ro(state.last_move_s),
            job_allowed=ro(inputs.job_allowed), links=links,
            start_unix_s=float(params.start_unix_s),
            window_threshold_w=float(params.window_threshold_w))

    def build(self, step: int, *, window_forecast_s=None, window_forecast_q_s=None,
              quantiles: tuple[float, ...] = ()) -> Observation:
        """The Observation of the start of ``step`` (a step whose power was seen)."""
        inp, state, power = self.inputs, self.state, self.power
        row = power.offset + step
        self.renewable_now_w[:] = power.renewable_at(step)
        self.surplus_now_w[:] = power.surplus_w[row]
        np.subtract(inp.slots, state.occupied, out=self.free_gpus)
        np.subtract(1.0, state.remaining_gpu_s / inp.job_work_gpu_s, out=self.progress)
        np.subtract(self.surplus_now_w, state.last_load_w, out=self.headroom_w)
        per_step = dict(
            now_s=step * self.dt_s, step=step,
            history=SurplusHistory(self.history_ro, power.offset, step, self.dt_s),
            window_forecast_s=window_forecast_s, window_forecast_q_s=window_forecast_q_s,
            window_forecast_quantiles=quantiles)
        last = self._last
        # Only this builder still holds last step's Observation (references: the attribute,
        # ``last`` and the call's argument): nobody can tell it apart from a new one, so
        # set the step's own fields on it instead of building 46 fields again. A policy
        # that keeps an Observation keeps its own; the next step gets a new one.
        if last is not None and sys.getrefcount(last) <= 3:
            for name, value in per_step.items():
                object.__setattr__(last, name, value)
            return last
        self._last = Observation(dt_s=self.dt_s, **per_step, **self.fixed)
        return self._last
