"""What the jobs cause: the same sites dispatched with their base load only.

Every site's base load (IT load x PUE) runs whether or not any job does, and in most
fleets it dominates the grid energy. To say what a policy's *jobs* cost, each scenario
is dispatched once more with no jobs at all (same renewables, batteries, base load,
grid limits, same dispatch order renewables -> battery -> grid); the job-attributable
figures are the differences ``with jobs - base only`` (``docs/simulator.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greenhop.fleet.dispatch import dispatch_block
from greenhop.sim.inputs import SimInputs

FLOWS = ("direct", "charge", "discharge", "grid", "curtailed", "unmet")


@dataclass(frozen=True)
class BaseOnly:
    """The base-only dispatch of a scenario's sites over the horizon.

    Attributes:
        energy_j: per flow (``direct, charge, discharge, grid, curtailed, unmet``) the
            energy [J] per site, shape ``[S]``.
        grid_w: grid import [W] per step and site, shape ``[T, S]``.
    """

    energy_j: dict[str, np.ndarray]
    grid_w: np.ndarray

    def total_j(self, flow: str) -> float:
        """``flow`` summed over sites [J]."""
        return float(self.energy_j[flow].sum())


def base_only_dispatch(inputs: SimInputs) -> BaseOnly:
    """Dispatch ``inputs``' sites over the horizon with the base load alone (no jobs).

    Uses the simulator's own dispatch (:func:`greenhop.fleet.dispatch.dispatch_block`) from the
    batteries' initial state of charge, so a run in which no job ever draws power has
    exactly these flows.
    """
    H, T = inputs.history_steps, inputs.n_steps
    dt = inputs.scenario.step_s
    if T == 0:  # a live run that failed before booking a step: nothing was drawn
        S = len(inputs.base_demand_w)
        return BaseOnly(energy_j={k: np.zeros(S) for k in FLOWS}, grid_w=np.zeros((0, S)))
    demand = np.broadcast_to(inputs.base_demand_w, (T, len(inputs.base_demand_w)))
    f = dispatch_block(
        inputs.renewable_w[H:H + T], np.ascontiguousarray(demand), inputs.bat_initial_j.copy(),
        dt, capacity_j=inputs.bat_capacity_j, max_power_w=inputs.bat_power_w,
        round_trip_efficiency=inputs.bat_eta, min_soc=inputs.bat_min_soc,
        grid_import_limit_w=inputs.grid_limit_w)
    energy = {k: f[f"{k}_w"].sum(axis=0) * dt for k in FLOWS}
    return BaseOnly(energy_j=energy, grid_w=f["grid_w"])
