"""What the fleet core consumes: a fleet's fixed parameters and per-site / per-job arrays.

Both mechanisms hand the core a :class:`FleetInputs`: the simulator's ``SimInputs`` is
one (it adds the whole renewable trace and the scenario it came from), and the live
controller receives the same object from the CLI. Nothing here holds renewable power
after the start: the core is fed power step by step (:meth:`FleetCore.see_power`), so
what it shows a policy can only be the past and the present.

Units: seconds, watts, joules, bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greenhop.core.specs import JobSpec
from greenhop.fleet.conventions import EnergyConventions
from greenhop.fleet.grid import GridSignals
from greenhop.fleet.network import Network

#: what happens to a migration whose destination's window closes while it is in flight
ON_WINDOW_CLOSE = ("continue", "abort", "fallback")


@dataclass(frozen=True)
class FleetParams:
    """The scalar settings of a fleet run (from the scenario file)."""

    site_names: tuple[str, ...]
    step_s: float                  # [s]
    history_steps: int             # steps of surplus history before the start
    n_steps: int                   # steps of the horizon
    decision_interval_s: float     # [s]
    window_threshold_w: float      # [W] a window is surplus at or above this
    on_window_close: str           # one of ON_WINDOW_CLOSE
    write_Bps: float               # checkpoint write rate [B/s]
    read_Bps: float                # checkpoint read rate [B/s]
    startup_s: float               # restart cost after a restore [s]
    free_migration: bool           # ablation: moves take no time, bytes or energy
    start_unix_s: float            # UTC time of step 0 [s]
    energy: EnergyConventions      # the accounting conventions


@dataclass(frozen=True)
class FleetInputs:
    """Policy-independent arrays of one fleet (``S`` sites, ``J`` jobs, ``H`` history steps,
    ``T`` steps). ``gpu_power_w`` and ``gpu_idle_w`` include the conventions' host share."""

    params: FleetParams
    history_renewable_w: np.ndarray  # [H, S] renewable power before the start [W]
    base_demand_w: np.ndarray        # [S] facility power of the base load [W]
    remaining_window_s: np.ndarray   # [T+1, S] true remaining window (records only) [s]
    network: Network
    slots: np.ndarray                # [S] GPU slots
    gpu_power_w: np.ndarray          # [S] per GPU, training, host share included [W]
    gpu_idle_w: np.ndarray           # [S] per GPU, idle, host share included [W]
    throughput: np.ndarray           # [S] relative to the reference GPU [-]
    pue: np.ndarray                  # [S]
    bat_capacity_j: np.ndarray
    bat_power_w: np.ndarray
    bat_eta: np.ndarray
    bat_min_soc: np.ndarray
    bat_initial_j: np.ndarray
    grid_limit_w: np.ndarray
    jobs: tuple[JobSpec, ...]
    job_arrival_s: np.ndarray
    job_arrival_step: np.ndarray
    job_work_gpu_s: np.ndarray
    job_ckpt_bytes: np.ndarray
    job_move_bytes: np.ndarray
    job_gpus: np.ndarray
    job_g_move: np.ndarray           # GPUs that move with the job
    job_g_stay: np.ndarray           # GPUs that stay home (partially migratable jobs)
    job_mobility: np.ndarray
    job_deadline_s: np.ndarray
    job_allowed: np.ndarray          # [J, S]
    job_origin: np.ndarray
    grid: GridSignals | None         # [H+T, S] grid signals when the scenario has zones

    @property
    def history_steps(self) -> int:
        return self.params.history_steps

    @property
    def n_steps(self) -> int:
        return self.params.n_steps

    @property
    def site_names(self) -> tuple[str, ...]:
        return self.params.site_names

    @property
    def job_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.jobs)
