"""Energy dispatch at a site for one time step: renewables, then battery, then grid.

Vectorised over sites (every argument broadcasts), so the simulator advances a
whole fleet with one call per step and the site energy model runs a whole
series with :func:`dispatch_series`.

Per step, with demand ``P_d`` and renewable power ``P_r`` [W]:

* ``direct = min(P_r, P_d)``: renewables used by the load directly;
* excess ``P_r - direct`` charges the battery (power and capacity limits,
  charge efficiency sqrt(eta)); what is left is curtailed;
* deficit ``P_d - direct`` is met by battery discharge (power limit, energy
  above ``min_soc``, discharge efficiency sqrt(eta)), then by the grid up to its
  import limit; anything beyond that is unmet.

Invariants (tested): ``renewable = direct + charge + curtailed`` and
``demand = direct + discharge + grid + unmet`` at every step; the state of
charge stays within ``[min_soc x capacity, capacity]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the flows of a step, in the order of :class:`StepFlows`' fields
FLOWS = ("direct_w", "charge_w", "discharge_w", "grid_w", "curtailed_w", "unmet_w")


@dataclass(frozen=True)
class StepFlows:
    """Power flows of one step [W] (arrays over sites) and the new state of charge [J]."""

    direct_w: np.ndarray
    charge_w: np.ndarray
    discharge_w: np.ndarray
    grid_w: np.ndarray
    curtailed_w: np.ndarray
    unmet_w: np.ndarray
    soc_j: np.ndarray


class StepDispatcher:
    """Dispatches steps of one fleet of sites whose batteries and grid limits are fixed;
    every argument broadcasts over sites (see :func:`dispatch_step`).

    The per-site constants are converted once, so a simulator that dispatches every step
    of a year pays only for the arithmetic of each step.
    """

    def __init__(self, dt_s: float, *, capacity_j=0.0, max_power_w=0.0,
                 round_trip_efficiency=1.0, min_soc=0.0, grid_import_limit_w=np.inf) -> None:
        self.dt_s = dt_s
        self.cap = np.asarray(capacity_j, dtype=float)
        self.max_power_w = max_power_w
        self.eta_leg = np.sqrt(np.asarray(round_trip_efficiency, dtype=float))
        self.floor_j = np.asarray(min_soc, dtype=float) * self.cap
        self.ceiling_j = np.maximum(self.cap, self.floor_j)
        self.grid_import_limit_w = grid_import_limit_w

    def step(self, renewable_w, demand_w, soc_j) -> StepFlows:
        """Dispatch one step: renewable power and demand [W], state of charge at its
        start [J]."""
        shape = np.broadcast_shapes(np.shape(renewable_w), np.shape(demand_w), np.shape(soc_j),
                                    self.cap.shape, np.shape(self.max_power_w),
                                    np.shape(self.grid_import_limit_w))
        out = np.empty((len(FLOWS), *shape))
        soc = self.step_into(renewable_w, demand_w, soc_j, out)
        return StepFlows(*(out[i, ...] for i in range(len(FLOWS))), soc_j=soc)

    def step_into(self, renewable_w, demand_w, soc_j, out: np.ndarray) -> np.ndarray:
        """:meth:`step` writing the flows [W] into the rows of ``out`` (``[6, ...]``, in the
        order of :data:`FLOWS`); returns the state of charge at the step's end [J]."""
        dt_s, cap, eta_leg, floor_j = self.dt_s, self.cap, self.eta_leg, self.floor_j
        # ``out[i, ...]``: a view even of a 0-d row (sites as scalars)
        direct, charge, discharge, grid, curtailed, unmet = (out[i, ...] for i in range(6))
        renewable = np.asarray(renewable_w, dtype=float)
        demand = np.asarray(demand_w, dtype=float)
        soc = np.asarray(soc_j, dtype=float)

        np.minimum(renewable, demand, out=direct)
        excess = renewable - direct
        deficit = demand - direct

        room_w = np.maximum(cap - soc, 0.0) / (dt_s * eta_leg)
        np.minimum(np.minimum(excess, self.max_power_w), room_w, out=charge)
        avail_w = np.maximum(soc - floor_j, 0.0) * eta_leg / dt_s
        np.minimum(np.minimum(deficit, self.max_power_w), avail_w, out=discharge)
        new_soc = soc + charge * dt_s * eta_leg - discharge * dt_s / eta_leg
        # Rounding can leave the state a hair outside its bounds; clip it back.
        new_soc = np.minimum(np.maximum(new_soc, floor_j), self.ceiling_j)

        need = deficit - discharge
        np.minimum(need, self.grid_import_limit_w, out=grid)
        np.subtract(excess, charge, out=curtailed)
        np.subtract(need, grid, out=unmet)
        return new_soc


def dispatch_step(
    renewable_w,
    demand_w,
    soc_j,
    dt_s: float,
    *,
    capacity_j=0.0,
    max_power_w=0.0,
    round_trip_efficiency=1.0,
    min_soc=0.0,
    grid_import_limit_w=np.inf,
) -> StepFlows:
    """Dispatch one step of length ``dt_s`` [s]; all other arguments broadcast over sites.

    ``soc_j`` is the battery energy at the start of the step [J]; sites without a
    battery pass ``capacity_j = 0``.
    """
    return StepDispatcher(dt_s, capacity_j=capacity_j, max_power_w=max_power_w,
                          round_trip_efficiency=round_trip_efficiency, min_soc=min_soc,
                          grid_import_limit_w=grid_import_limit_w).step(renewable_w, demand_w,
                                                                         soc_j)


def dispatch_series(
    renewable_w: np.ndarray,
    demand_w: np.ndarray,
    dt_s: float,
    *,
    capacity_j: float = 0.0,
    max_power_w: float = 0.0,
    round_trip_efficiency: float = 1.0,
    min_soc: float = 0.0,
    initial_soc: float = 0.5,
    grid_import_limit_w: float = np.inf,
) -> dict[str, np.ndarray]:
    """Dispatch a whole series for one site; returns flows [W] and ``soc_j`` (start of each step).

    Without a battery the computation is fully vectorised; with one, the state of
    charge couples the steps and a loop over time is needed.
    """
    renewable = np.asarray(renewable_w, dtype=float)
    demand = np.broadcast_to(np.asarray(demand_w, dtype=float), renewable.shape)
    n = renewable.shape[0]
    if capacity_j <= 0 or max_power_w <= 0:
        flows = dispatch_step(renewable, demand, np.zeros(n), dt_s,
                              grid_import_limit_w=grid_import_limit_w)
        out = {k: getattr(flows, k) for k in ("direct_w", "charge_w", "discharge_w", "grid_w",
                                             "curtailed_w", "unmet_w")}
        out["soc_j"] = np.zeros(n)
        return out

    # The state of charge couples the steps: loop in plain Python floats and lists (much
    # faster than 0-d numpy per step), then build the arrays once.
    soc = float(initial_soc) * float(capacity_j)
    cap = float(capacity_j)
    pmax = float(max_power_w)
    eta_leg = float(np.sqrt(round_trip_efficiency))
    floor_j = float(min_soc) * cap
    limit = float(grid_import_limit_w)
    charge_scale = dt_s * eta_leg  # J stored per W charged for one step
    discharge_scale = dt_s / eta_leg  # J drawn per W delivered for one step
    directs: list[float] = []
    charges: list[float] = []
    discharges: list[float] = []
    grids: list[float] = []
    curtaileds: list[float] = []
    unmets: list[float] = []
    socs: list[float] = []
    for r, d in zip(renewable.tolist(), demand.tolist(), strict=True):
        socs.append(soc)
        if r < d:
            direct = r
            excess = 0.0
            deficit = d - r
        else:
            direct = d
            excess = r - d
            deficit = 0.0
        charge = 0.0
        if excess > 0.0:
            room = (cap - soc) / charge_scale
            charge = min(excess, pmax, room) if room > 0.0 else 0.0
        discharge = 0.0
        if deficit > 0.0:
            avail = (soc - floor_j) / discharge_scale
            discharge = min(deficit, pmax, avail) if avail > 0.0 else 0.0
        soc = soc + charge * charge_scale - discharge * discharge_scale
        if soc < floor_j:
            soc = floor_j
        elif soc > cap:
            soc = cap
        need = deficit - discharge
        grid = need if need < limit else limit
        directs.append(direct)
        charges.append(charge)
        discharges.append(discharge)
        grids.append(grid)
        curtaileds.append(excess - charge)
        unmets.append(need - grid)
    return {
        "direct_w": np.array(directs), "charge_w": np.array(charges),
        "discharge_w": np.array(discharges), "grid_w": np.array(grids),
        "curtailed_w": np.array(curtaileds), "unmet_w": np.array(unmets),
        "soc_j": np.array(socs),
    }
