"""Site energy dispatch: the fleet's energy books, and dispatch over blocks of steps.

:class:`EnergyBooks` keeps each site's per-step demand and books it renewables ->
battery -> grid, one step at a time (the live controller) or in blocks of steps
between decisions (the simulator; the result is the same).


Same energy order and the same per-step equations as
:func:`greenhop.traces.dispatch.dispatch_step` (renewables, then battery, then
grid), but a whole block of ``n`` steps of ``S`` sites in one pass: the battery
recursion ``soc[t+1] = clip(soc[t] + u[t], floor, capacity)`` (``u`` = the
power-limited charge minus discharge of step ``t``) is a composition of clamp
functions, and clamps compose into clamps, so a parallel prefix scan
(``log2 n`` numpy passes) replaces the Python loop over time.
"""

from __future__ import annotations

import numpy as np

from greenhop.fleet.inputs import FleetInputs
from greenhop.traces.dispatch import FLOWS, StepDispatcher, dispatch_step

#: the dispatched flows of every step [W]
FLOW_NAMES = FLOWS


def _scan_clamps(a: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Inclusive scan of ``f_t(x) = clip(x + a_t, lo_t, hi_t)`` along axis 0 (in place)."""
    n = a.shape[0]
    d = 1
    while d < n:
        a_e, lo_e, hi_e = a[:-d], lo[:-d], hi[:-d]
        a_l, lo_l, hi_l = a[d:], lo[d:], hi[d:]
        new_lo = np.clip(lo_e + a_l, lo_l, hi_l)
        new_hi = np.clip(hi_e + a_l, lo_l, hi_l)
        new_a = a_e + a_l
        a[d:], lo[d:], hi[d:] = new_a, new_lo, new_hi
        d *= 2
    return a, lo, hi


def dispatch_block(renewable_w: np.ndarray, demand_w: np.ndarray, soc_j: np.ndarray,
                   dt_s: float, *, capacity_j: np.ndarray, max_power_w: np.ndarray,
                   round_trip_efficiency: np.ndarray, min_soc: np.ndarray,
                   grid_import_limit_w: np.ndarray) -> dict[str, np.ndarray]:
    """Dispatch ``n`` steps of ``S`` sites (arrays ``[n, S]``); ``soc_j`` [S] at the start.

    Returns flows [W] of shape ``[n, S]`` (``direct_w, charge_w, discharge_w, grid_w,
    curtailed_w, unmet_w``) and ``soc_end_j`` [S].
    """
    n = renewable_w.shape[0]
    if n == 1:
        f = dispatch_step(renewable_w[0], demand_w[0], soc_j, dt_s, capacity_j=capacity_j,
                          max_power_w=max_power_w, round_trip_efficiency=round_trip_efficiency,
                          min_soc=min_soc, grid_import_limit_w=grid_import_limit_w)
        out = {k: getattr(f, k)[None, :] for k in ("direct_w", "charge_w", "discharge_w",
                                                    "grid_w", "curtailed_w", "unmet_w")}
        out["soc_end_j"] = f.soc_j
        return out
    eta = np.sqrt(round_trip_efficiency)
    floor = min_soc * capacity_j
    direct = np.minimum(renewable_w, demand_w)
    excess = renewable_w - direct
    deficit = demand_w - direct
    u = (np.minimum(excess, max_power_w) * (dt_s * eta)
         - np.minimum(deficit, max_power_w) * (dt_s / eta))
    lo = np.broadcast_to(floor, u.shape).copy()
    hi = np.broadcast_to(np.maximum(capacity_j, floor), u.shape).copy()
    a, lo, hi = _scan_clamps(u, lo, hi)
    soc_after = np.clip(soc_j[None, :] + a, lo, hi)
    soc_before = np.vstack([soc_j[None, :], soc_after[:-1]])
    delta = soc_after - soc_before
    charge = np.maximum(delta, 0.0) / (dt_s * eta)
    discharge = np.maximum(-delta, 0.0) * eta / dt_s
    need = deficit - discharge
    grid = np.minimum(need, grid_import_limit_w)
    return {
        "direct_w": direct, "charge_w": charge, "discharge_w": discharge, "grid_w": grid,
        "curtailed_w": excess - charge, "unmet_w": need - grid, "soc_end_j": soc_after[-1],
    }


class EnergyBooks:
    """Per-site energy books of one run (``T`` steps, ``S`` sites; energies [J]).

    Args:
        inputs: the fleet (batteries, grid limits).
        soc_j: the batteries' state of charge [J], updated in place (the state's array).
        record: also keep per-step flows and state of charge (tests; costs memory).
    """

    def __init__(self, inputs: FleetInputs, soc_j: np.ndarray, *, record: bool = False) -> None:
        n_steps, n_sites = inputs.n_steps, len(inputs.slots)
        self.inputs = inputs
        self.dt_s = float(inputs.params.step_s)
        self.soc_j = soc_j
        self.demand_w = np.empty((n_steps, n_sites))           # dispatched demand [W]
        self.demand_w[:] = inputs.base_demand_w
        self.job_load_w = np.zeros((n_steps, n_sites))         # the jobs' facility load [W]
        # Demand only the grid serves [W], of the steps not yet dispatched (sparse: only
        # steps with network energy under ``network_to_grid``).
        self.grid_only_w: dict[int, np.ndarray] = {}
        self.grid_w = np.zeros((n_steps, n_sites))
        # Energy per flow and site [J]; one array, so a step adds all six flows at once.
        self._step_j = np.zeros((len(FLOW_NAMES), n_sites))
        self.energy_j = {k[:-2]: self._step_j[i] for i, k in enumerate(FLOW_NAMES)}
        self._step_flows = np.empty((len(FLOW_NAMES), n_sites))
        self.flows = {k: np.zeros((n_steps, n_sites)) for k in FLOW_NAMES} if record else None
        self.soc_log = None
        if record:
            self.soc_log = np.zeros((n_steps + 1, n_sites))
            self.soc_log[0] = soc_j
        self.flushed = 0                                       # steps dispatched so far
        self.battery = dict(capacity_j=inputs.bat_capacity_j, max_power_w=inputs.bat_power_w,
                            round_trip_efficiency=inputs.bat_eta, min_soc=inputs.bat_min_soc,
                            grid_import_limit_w=inputs.grid_limit_w)
        self.stepper = StepDispatcher(self.dt_s, **self.battery)

    def add_load(self, step: int, load_w: np.ndarray, grid_only_w: np.ndarray | None) -> None:
        """The jobs' facility load of ``step`` [W] (dispatched like the base load) and the
        part of the demand only the grid serves (network energy, by convention) [W]."""
        self.demand_w[step] += load_w
        if grid_only_w is None:
            self.job_load_w[step] = load_w
            return
        self.job_load_w[step] = load_w + grid_only_w
        self.grid_only_w[step] = grid_only_w

    def flush(self, t_end: int, renewable_w: np.ndarray) -> None:
        """Dispatch the steps from the last flush up to ``t_end`` (exclusive);
        ``renewable_w`` ``[t_end - flushed, S]`` is their renewable power [W]."""
        t0 = self.flushed
        if t_end <= t0:
            return
        inp = self.inputs
        dt = self.dt_s
        battery = self.battery
        if t_end - t0 == 1 and self.flows is None:
            # One step (a decision every step, or a live run): skip the block machinery.
            flows = self._step_flows
            soc = self.stepper.step_into(renewable_w[0], self.demand_w[t0], self.soc_j, flows)
            self._step_j += flows * dt        # the energy_j arrays are rows of it
            self.grid_w[t0] = flows[3]
            self.soc_j[:] = soc
        else:
            f = dispatch_block(renewable_w, self.demand_w[t0:t_end], self.soc_j, dt, **battery)
            for k in FLOW_NAMES:
                self.energy_j[k[:-2]] += f[k].sum(axis=0) * dt
            self.grid_w[t0:t_end] = f["grid_w"]
            if self.flows is not None:
                for k in FLOW_NAMES:
                    self.flows[k][t0:t_end] = f[k]
            self.soc_j[:] = f["soc_end_j"]
            if self.soc_log is not None:
                # Per-step state of charge: re-derive from the flows (exact to rounding).
                eta = np.sqrt(inp.bat_eta)
                delta = (f["charge_w"] * eta - f["discharge_w"] / eta) * dt
                self.soc_log[t0 + 1:t_end + 1] = self.soc_log[t0] + np.cumsum(delta, axis=0)
                self.soc_log[t_end] = self.soc_j
        if self.grid_only_w:
            # Dispatched: from now on a step's demand row holds its whole demand. The grid
            # serves it up to what is left of the import limit; past it, it is unmet like
            # any other demand over the limit.
            for step in [k for k in self.grid_only_w if k < t_end]:
                extra = self.grid_only_w.pop(step)
                served = np.minimum(extra, np.maximum(inp.grid_limit_w - self.grid_w[step],
                                                      0.0))
                self.demand_w[step] += extra
                self.grid_w[step] += served
                self.energy_j["grid"] += served * dt
                self.energy_j["unmet"] += (extra - served) * dt
                if self.flows is not None:
                    self.flows["grid_w"][step] += served
                    self.flows["unmet_w"][step] += extra - served
        self.flushed = t_end

    def total_demand_w(self) -> np.ndarray:
        """Facility demand of every dispatched step, grid-only demand included ``[T, S]``
        [W]."""
        return self.demand_w

    def totals_j(self, t_end: int) -> dict[str, np.ndarray]:
        """Energy per site [J] of the steps before ``t_end``: the dispatched flows,
        ``demand`` and ``job_load``."""
        out = dict(self.energy_j)
        dt = self.dt_s
        out["demand"] = self.demand_w[:t_end].sum(axis=0) * dt
        out["job_load"] = self.job_load_w[:t_end].sum(axis=0) * dt
        return out
