"""The controller's books in simulated time: what a policy sees and what energy was used.

The :class:`Ledger` keeps, per simulated step, the same accounting the simulator
keeps (job progress in reference-GPU seconds, GPU slots, per-site demand
dispatched renewables -> battery -> grid) but its inputs are *observed*: the
surplus comes from a :class:`~greenhop.runtime.power.PowerSource`, and a
migration's downtime and bytes are the ones measured on the real processes.
It builds the :class:`~greenhop.core.observation.Observation` handed to the
policy exactly the way the simulator's engine does, so one policy object runs
unchanged in both.

``inputs`` is any object with the attributes of the simulator's ``SimInputs``
(arrays of sites, jobs and routes); the CLI builds it from the scenario file,
so this module never imports :mod:`greenhop.sim`.

Units: seconds, watts, joules, bytes.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.observation import (
    DONE,
    MIGRATING,
    PARTIAL,
    PENDING,
    QUEUED,
    RUNNING,
    SUSPENDED,
    Migrate,
    Observation,
    Place,
    Resume,
    SurplusHistory,
    Suspend,
)
from greenhop.fleet.network import link_info
from greenhop.policies import admission
from greenhop.traces.dispatch import dispatch_step

FLOWS = ("direct", "charge", "discharge", "grid", "curtailed", "unmet", "demand", "job_load")
_EPS_S = 1e-9


def _ro(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class Ledger:
    """Simulated-time state of a live run (arrays ``[S]`` per site, ``[J]`` per job)."""

    ARRAYS = ("phase", "site", "dest", "remaining", "last_move_s", "start_s", "finish_s",
              "job_energy", "job_down", "job_moves", "occ", "last_load", "soc")

    def __init__(self, inputs, *, write_Bps: float, read_Bps: float, startup_s: float,
                 decision_interval_s: float, window_threshold_w: float,
                 start_unix_s: float) -> None:
        inp = inputs
        if (np.asarray(inp.job_mobility) == PARTIAL).any():
            raise ConfigError("jobs: live runs support migratable and pinned jobs; a partially "
                              "migratable job needs a distributed executor (set mobility = "
                              "'migratable' or 'pinned')")
        self.inp = inp
        self.S = len(inp.slots)
        self.J = len(inp.jobs)
        self.H = int(inp.history_steps)
        self.T = int(inp.n_steps)
        self.dt = float(inp.scenario.step_s)
        self.every = max(1, round(decision_interval_s / self.dt))
        self.site_names = tuple(inp.scenario.site_names)
        self.job_names = tuple(j.name for j in inp.jobs)
        self._site_index = {n: i for i, n in enumerate(self.site_names)}
        self._job_index = {n: i for i, n in enumerate(self.job_names)}
        S, J = self.S, self.J
        self.phase = np.full(J, PENDING, dtype=np.int8)
        self.site = np.full(J, -1, dtype=np.int64)
        self.dest = np.full(J, -1, dtype=np.int64)
        self.remaining = np.asarray(inp.job_work_gpu_s, dtype=float).copy()
        self.last_move_s = np.zeros(J)
        self.start_s = np.full(J, np.nan)
        self.finish_s = np.full(J, np.nan)
        self.job_energy = np.zeros(J)
        self.job_down = np.zeros(J)
        self.job_moves = np.zeros(J, dtype=np.int64)
        self.occ = np.zeros(S, dtype=np.int64)
        self.last_load = np.zeros(S)
        self.soc = np.asarray(inp.bat_initial_j, dtype=float).copy()
        self.queue: list[int] = []
        self.energy_j = {k: np.zeros(S) for k in FLOWS}
        self.migrations: list[dict] = []
        self.counters: dict[str, float] = {
            "migrations_started": 0, "rejected_actions": 0, "suspensions": 0,
            "window_closed": 0, "aborted_migrations": 0, "fallback_migrations": 0,
            "policy_calls": 0, "bytes_moved": 0.0, "network_j": 0.0}
        self.next_step = 0
        # Surplus as observed so far: history rows from the scenario, the rest filled
        # from the power source one step at a time (NaN until read).
        self.renewable_obs = np.full_like(np.asarray(inp.renewable_w, dtype=float), np.nan)
        self.renewable_obs[: self.H] = inp.renewable_w[: self.H]
        self.surplus_obs = self.renewable_obs - inp.base_demand_w[None, :]
        self._free = np.zeros(S, dtype=np.int64)
        self._progress = np.zeros(J)
        self._headroom = np.zeros(S)
        self._active = np.zeros(len(inp.network.link_eff_bps), dtype=np.int64)
        self._links = link_info(inp.network, self._active, write_Bps=write_Bps,
                                read_Bps=read_Bps, startup_s=startup_s)
        self._start_unix_s = float(start_unix_s)
        self._threshold_w = float(window_threshold_w)
        self.mig_rec = np.full(J, -1, dtype=np.int64)
        self.is_move = np.zeros(J, dtype=bool)

    # ------------------------------------------------------------ persistence
    def to_state(self) -> dict:
        """A JSON-ready snapshot (restored by :meth:`load_state`)."""
        d = {k: getattr(self, k).tolist() for k in self.ARRAYS}
        d.update(queue=list(self.queue), energy_j={k: v.tolist() for k, v in
                                                    self.energy_j.items()},
                 migrations=self.migrations, counters=self.counters, next_step=self.next_step,
                 mig_rec=self.mig_rec.tolist(), is_move=self.is_move.tolist(),
                 observed_rows=[[i, row.tolist()] for i, row in
                                enumerate(self.renewable_obs[self.H:]) if not
                                np.isnan(row).any()])
        return d

    def load_state(self, d: dict) -> None:
        for k in self.ARRAYS:
            cur = getattr(self, k)
            cur[:] = np.asarray(d[k], dtype=cur.dtype)
        self.queue = list(d["queue"])
        for k, v in d["energy_j"].items():
            self.energy_j[k][:] = v
        self.migrations = d["migrations"]
        self.counters = d["counters"]
        self.next_step = int(d["next_step"])
        self.mig_rec[:] = d["mig_rec"]
        self.is_move[:] = d["is_move"]
        for i, row in d["observed_rows"]:
            self.record_power(i, np.asarray(row))

    # ------------------------------------------------------------ per step
    def record_power(self, step: int, renewable_w: np.ndarray) -> None:
        """Store the renewable power measured for ``step`` [W]."""
        self.renewable_obs[self.H + step] = renewable_w
        self.surplus_obs[self.H + step] = renewable_w - self.inp.base_demand_w

    def arrivals(self, t: int) -> list[int]:
        """Jobs arriving by step ``t`` become queued; returns them."""
        new = [j for j in np.flatnonzero(self.phase == PENDING).tolist()
               if self.inp.job_arrival_step[j] <= t]
        new.sort(key=lambda j: (self.inp.job_arrival_step[j], j))
        for j in new:
            self.phase[j] = QUEUED
            self.queue.append(j)
        return new

    def active(self) -> bool:
        return bool(np.isin(self.phase, (QUEUED, RUNNING, SUSPENDED, MIGRATING)).any())

    def decides(self, t: int) -> bool:
        return t % self.every == 0 and self.active()

    def observation(self, t: int) -> Observation:
        """What the policy sees at the start of step ``t`` (as the simulator builds it)."""
        inp = self.inp
        np.subtract(inp.slots, self.occ, out=self._free)
        np.subtract(1.0, self.remaining / inp.job_work_gpu_s, out=self._progress)
        sur = _ro(self.surplus_obs)
        np.subtract(sur[self.H + t], self.last_load, out=self._headroom)
        return Observation(
            now_s=t * self.dt, step=t, dt_s=self.dt, site_names=self.site_names,
            job_names=self.job_names, renewable_w=_ro(self.renewable_obs)[self.H + t],
            base_demand_w=_ro(inp.base_demand_w), surplus_w=sur[self.H + t],
            job_load_w=_ro(self.last_load), headroom_w=_ro(self._headroom), soc_j=_ro(self.soc),
            battery_capacity_j=_ro(inp.bat_capacity_j), free_gpus=_ro(self._free),
            gpu_slots=_ro(inp.slots), gpu_power_w=_ro(inp.gpu_power_w),
            gpu_idle_w=_ro(inp.gpu_idle_w), throughput=_ro(inp.throughput), pue=_ro(inp.pue),
            history=SurplusHistory(sur, self.H, t, self.dt),
            job_phase=_ro(self.phase), job_site=_ro(self.site), job_dest=_ro(self.dest),
            job_origin=_ro(inp.job_origin), job_progress=_ro(self._progress),
            job_remaining_gpu_s=_ro(self.remaining),
            job_checkpoint_bytes=_ro(inp.job_ckpt_bytes), job_move_bytes=_ro(inp.job_move_bytes),
            job_gpus=_ro(inp.job_gpus), job_mobility=_ro(inp.job_mobility),
            job_arrival_s=_ro(inp.job_arrival_s), job_deadline_s=_ro(inp.job_deadline_s),
            job_last_move_s=_ro(self.last_move_s), job_allowed=_ro(inp.job_allowed),
            links=self._links, start_unix_s=self._start_unix_s,
            window_threshold_w=self._threshold_w)

    def _job(self, job) -> int:
        return admission.resolve(job, self._job_index, self.J)

    def _site(self, site) -> int:
        return admission.resolve(site, self._site_index, self.S)

    def apply(self, actions, t: int) -> list[tuple[str, int, int, int]]:
        """Validate ``actions`` as the simulator does; returns the accepted ones as
        ``(kind, job, src, dst)`` with kind ``migrate | suspend | resume | place``."""
        inp = self.inp
        net = inp.network
        now = t * self.dt
        out = []
        for act in actions:
            if isinstance(act, Migrate):
                j, d = self._job(act.job), self._site(act.dest)
                if admission.can_migrate(inp, self.phase, self.site, self.occ, j, d):
                    src = int(self.site[j])
                    self.phase[j] = MIGRATING
                    self.dest[j] = d
                    self.is_move[j] = True
                    self.occ[d] += inp.job_g_move[j]
                    self.mig_rec[j] = len(self.migrations)
                    self.migrations.append({
                        "job": j, "src": src, "dst": d, "start_s": now, "end_s": None,
                        "bytes": float(inp.job_move_bytes[j]), "bytes_sent": 0.0,
                        "bandwidth_bps": float(net.bandwidth_bps[src, d]),
                        "window_at_start_s": float(inp.remaining_window_s[t, d]),
                        "energy_j": 0.0, "window_closed": False, "aborted": False,
                        "fallback": False, "decided_step": t})
                    self.counters["migrations_started"] += 1
                    out.append(("migrate", j, src, d))
                else:
                    self.counters["rejected_actions"] += 1
            elif isinstance(act, Suspend):
                j = self._job(act.job)
                if admission.can_suspend(self.phase, j):
                    self.phase[j] = SUSPENDED
                    self.counters["suspensions"] += 1
                    out.append(("suspend", j, int(self.site[j]), int(self.site[j])))
                else:
                    self.counters["rejected_actions"] += 1
            elif isinstance(act, Resume):
                j = self._job(act.job)
                if admission.can_resume(self.phase, j):
                    self.phase[j] = MIGRATING
                    self.dest[j] = self.site[j]
                    self.is_move[j] = False
                    self.mig_rec[j] = -1
                    out.append(("resume", j, int(self.site[j]), int(self.site[j])))
                else:
                    self.counters["rejected_actions"] += 1
            elif isinstance(act, Place):
                j, s = self._job(act.job), self._site(act.site)
                if admission.can_place(inp, self.phase, self.occ, j, s):
                    self._start_job(j, s, now)
                    self.queue.remove(j)
                    out.append(("place", j, s, s))
                else:
                    self.counters["rejected_actions"] += 1
            else:
                raise ConfigError(f"the policy returned {act!r}, which is not an Action")
        return out

    def _start_job(self, j: int, s: int, now: float) -> None:
        self.phase[j] = RUNNING
        self.site[j] = s
        self.occ[s] += self.inp.job_gpus[j]
        if np.isnan(self.start_s[j]):
            self.start_s[j] = now
        self.last_move_s[j] = now

    def place_queued(self, t: int) -> list[tuple[str, int, int, int]]:
        """Start queued jobs at their arrival site where slots are free (FIFO)."""
        inp = self.inp
        out, still = [], []
        for j in self.queue:
            s = admission.arrival_site(inp, self.occ, j)
            if admission.fits(inp, self.occ, s, inp.job_gpus[j]):
                self._start_job(j, s, t * self.dt)
                out.append(("place", j, s, s))
            else:
                still.append(j)
        self.queue = still
        return out

    def finishing(self, t: int, down_s: dict[int, float]) -> list[int]:
        """Jobs whose work completes during step ``t`` given the downtime ``down_s`` of the
        jobs moving in it (the controller waits for their trainers to finish)."""
        out = []
        for j in np.flatnonzero(np.isin(self.phase, (RUNNING, MIGRATING))).tolist():
            site = int(self.dest[j]) if self.phase[j] == MIGRATING else int(self.site[j])
            run_s = self.dt - min(self.dt, down_s.get(j, 0.0))
            rate = self.inp.job_gpus[j] * self.inp.throughput[site]
            if self.remaining[j] / rate <= run_s + _EPS_S:
                out.append(j)
        return out

    def account(self, t: int, moves: dict[int, dict]) -> list[int]:
        """Close step ``t``: progress, energy and dispatch. ``moves[j]`` holds the measured
        ``save_s``, ``transfer_s``, ``restore_s`` [s] and ``bytes`` [B] of a migration or
        resume that ran in this step. Returns the jobs that finished."""
        inp = self.inp
        dt = self.dt
        now = t * dt
        S = self.S
        it_j = np.zeros(S)
        net_j = np.zeros(S)
        run_time = {}
        for j, m in moves.items():
            src, dst = int(self.site[j]), int(self.dest[j])
            sv = min(float(m.get("save_s", 0.0)), dt)
            tr = min(float(m.get("transfer_s", 0.0)), dt - sv)
            rs = min(float(m.get("restore_s", 0.0)), dt - sv - tr)
            down = sv + tr + rs
            g = inp.job_g_move[j]
            e_src = sv * g * inp.gpu_idle_w[src]
            e_dst = (tr + rs) * g * inp.gpu_idle_w[dst]
            it_j[src] += e_src
            it_j[dst] += e_dst
            e_mig = e_src * inp.pue[src] + e_dst * inp.pue[dst]
            nbytes = float(m.get("bytes", 0.0)) if self.is_move[j] else 0.0
            e_net = nbytes * 8.0 * inp.network.j_per_bit[src, dst] if nbytes else 0.0
            net_j[src] += e_net / 2.0
            net_j[dst] += e_net / 2.0
            self.counters["bytes_moved"] += nbytes
            self.counters["network_j"] += e_net
            self.job_energy[j] += e_mig + e_net
            self.job_down[j] += down
            end = now + down
            if self.is_move[j]:
                self.occ[src] -= inp.job_g_move[j]
                self.job_moves[j] += 1
                rec = self.migrations[self.mig_rec[j]]
                rec.update(end_s=float(end), downtime_s=float(down), bytes_sent=nbytes,
                           bytes=nbytes or rec["bytes"], energy_j=float(e_mig + e_net),
                           window_at_end_s=float(inp.remaining_window_s[min(t + 1, self.T), dst]),
                           save_s=sv, transfer_s=tr, restore_s=rs)
            self.phase[j] = RUNNING
            self.site[j] = dst
            self.dest[j] = -1
            self.last_move_s[j] = end
            run_time[j] = dt - down
        finished = []
        for j in np.flatnonzero(self.phase == RUNNING).tolist():
            s = int(self.site[j])
            avail = run_time.get(j, dt)
            rate = inp.job_gpus[j] * inp.throughput[s]
            need = self.remaining[j] / rate
            used = min(avail, need)
            done = need <= avail + _EPS_S
            self.remaining[j] = 0.0 if done else self.remaining[j] - used * rate
            e_run = used * inp.job_g_move[j] * inp.gpu_power_w[s]
            it_j[s] += e_run
            self.job_energy[j] += e_run * inp.pue[s]
            if done:
                self.phase[j] = DONE
                self.finish_s[j] = now + (dt - avail) + used
                self.occ[s] -= inp.job_g_move[j]
                finished.append(j)
        load = inp.pue * it_j / dt + net_j / dt
        demand = inp.base_demand_w + load
        fs = dispatch_step(
            self.renewable_obs[self.H + t], demand, self.soc, dt,
            capacity_j=inp.bat_capacity_j, max_power_w=inp.bat_power_w,
            round_trip_efficiency=inp.bat_eta, min_soc=inp.bat_min_soc,
            grid_import_limit_w=inp.grid_limit_w)
        e = self.energy_j
        for k in ("direct", "charge", "discharge", "grid", "curtailed", "unmet"):
            e[k] += getattr(fs, f"{k}_w") * dt
        e["demand"] += demand * dt
        e["job_load"] += load * dt
        self.soc[:] = fs.soc_j
        self.last_load[:] = load
        self.next_step = t + 1
        return finished
