"""Per-step progress and energy: what every job did in a step and what it drew.

In a step of length ``dt``:

* a moving or resuming job spends its time saving (at the source), transferring (bytes
  at its max-min fair share of the links among the transfers sending at each moment,
  solved again when one starts or ends mid-step, or at its measured rate in a live run) and
  restoring (at the destination), with no progress; one that finishes restoring
  mid-step trains for the rest of the step. Phases carry over to the next step.
* a suspended job still writing its checkpoint (``suspend_saves``) saves;
* a rescaling elastic job saves and restores at its site, like a resume (no transfer),
  holding the larger of its old and new GPU count idle;
* a running job does ``time x gpus x relative throughput`` reference-GPU seconds of
  work (an elastic job: its current count's point of the speedup curve,
  :mod:`greenhop.core.scaling`), finishing mid-step if that completes its work.

IT energy per site is each phase's time x GPUs x per-GPU power (host share included),
by the :class:`~greenhop.fleet.conventions.EnergyConventions`; the site's job load is
``PUE x IT energy / dt`` plus network energy ``/ dt`` (half on each end of a transfer),
which is either dispatched with the load (legacy) or grid-only demand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from greenhop.core.observation import MIGRATING, RUNNING, SUSPENDED
from greenhop.core.scaling import effective_gpus, split_throughput

if TYPE_CHECKING:
    from greenhop.fleet.core import FleetCore

_EPS_S = 1e-9


class Accounting:
    """Advances the jobs of ``core`` by one step and books the step's load."""

    def __init__(self, core: FleetCore) -> None:
        inp = core.inputs
        conv = core.conventions
        self.core = core
        self.dt_s = core.dt_s
        self.threshold_w = float(core.params.window_threshold_w)
        self.stays = np.asarray(inp.job_g_stay) > 0    # partial jobs: GPUs stay home
        self.stay_any = bool(self.stays.any())
        self.any_elastic = bool(core.state.elastic.any())
        self.links_busy = False                    # transfers were in flight last step
        self.network_to_grid = conv.network_to_grid
        self.dest_held_idle = conv.dest_held == "idle"
        # Per-GPU power of the source's held GPUs while the job is in flight [W].
        self.source_flight_w = {"zero": None, "idle": inp.gpu_idle_w,
                                "training": inp.gpu_power_w}[conv.source_in_flight]

    def advance(self, step: int) -> list[int]:
        """Advance every job by step ``step``; book its load. Returns the finished jobs."""
        core = self.core
        state = core.state
        dt = self.dt_s
        now = step * dt
        parts = _Parts()
        run_extra = self._migrations(step, now, parts)
        if state.suspend_saving:
            self._suspend_saves(parts)
        if core.groups is not None:  # jobs spread over sites: lockstep outer steps
            run_extra = core.groups.couple(step, now, run_extra, parts)
        finished = self._training(now, run_extra, parts)
        load_w, grid_only_w = parts.site_load(core.inputs.pue, core.n_sites, dt,
                                              self.network_to_grid)
        core.books.add_load(step, load_w, grid_only_w)
        state.last_load_w[:] = load_w if grid_only_w is None else load_w + grid_only_w
        return finished

    # ------------------------------------------------------------ moves
    def _migrations(self, step: int, now: float, parts: _Parts) -> dict[int, float] | None:
        core = self.core
        state, inp = core.state, core.inputs
        dt = self.dt_s
        link_load = core.link_load
        mi = (state.phase == MIGRATING).nonzero()[0]
        if not mi.size:
            if self.links_busy:
                link_load.clear()
                self.links_busy = False
            return None
        idle, pue = inp.gpu_idle_w, inp.pue
        src = state.mig_src[mi]
        dst = state.dest[mi]
        moving = state.is_move[mi]
        # Destination window closed mid-migration?
        if moving.any():
            core.ensure_seen(step)
            surplus = core.power.surplus_at(step)
            closed = moving & ~state.closed_flag[mi] & (surplus[dst] < self.threshold_w)
            if closed.any():
                for k in np.flatnonzero(closed).tolist():
                    core.window_closed(int(mi[k]), now, step)
                mi = mi[state.phase[mi] == MIGRATING]  # an aborted suspended job's move
                if not mi.size:
                    if self.links_busy:
                        link_load.clear()
                        self.links_busy = False
                    return None
                src = state.mig_src[mi]
                dst = state.dest[mi]
                moving = state.is_move[mi]
        time_left = np.full(mi.size, dt)
        save = np.minimum(state.save_left_s[mi], time_left)
        state.save_left_s[mi] -= save
        time_left -= save
        in_transfer = (state.save_left_s[mi] <= _EPS_S) & (state.bytes_left[mi] > 0)
        transfer_s = np.zeros(mi.size)
        recs = state.mig_rec[mi]
        if in_transfer.any():
            ti = np.flatnonzero(in_transfer)
            measured = state.measured_bps[mi[ti]]
            start = dt - time_left[ti]  # each sends once its checkpoint is written
            bits, end = link_load.send(src[ti], dst[ti], start, state.bytes_left[mi[ti]] * 8.0,
                                       dt, None if np.isnan(measured).all() else measured)
            self.links_busy = True
            used = end - start
            left = state.bytes_left[mi[ti]] - bits / 8.0
            left[left < 1e-6] = 0.0
            state.bytes_left[mi[ti]] = left
            transfer_s[ti] = used
            time_left[ti] -= used
            e_net = bits * inp.network.j_per_bit[src[ti], dst[ti]]
            state.counters["bytes_moved"] += float(bits.sum()) / 8.0
            state.counters["network_j"] += float(e_net.sum())
            parts.net_sites += [src[ti], dst[ti]]
            parts.net_j += [e_net / 2.0, e_net / 2.0]
            for k, b, e in zip(mi[ti].tolist(), (bits / 8.0).tolist(), e_net.tolist(),
                               strict=True):
                r = state.mig_rec[k]
                if r >= 0:
                    state.migrations[r]["bytes_sent"] += b
                    state.migrations[r]["energy_j"] += e
            state.job_energy_j[mi[ti]] += e_net
        elif self.links_busy:
            link_load.clear()
            self.links_busy = False
        restoring = (state.save_left_s[mi] <= _EPS_S) & (state.bytes_left[mi] <= 0)
        restore = np.where(restoring, np.minimum(state.restore_left_s[mi], time_left), 0.0)
        state.restore_left_s[mi] -= restore
        time_left -= restore
        down = dt - time_left
        # IT energy: saving at the source; at the destination the held slots while the
        # checkpoint is in flight and the restore; the source's held GPUs in flight; the
        # GPUs that stay home (partial jobs) for the whole downtime.
        g_move = state.g_move[mi]
        e_src = save * g_move * idle[src]
        if self.dest_held_idle:
            e_dst = (transfer_s + restore) * g_move * idle[dst]
        else:
            e_dst = restore * g_move * idle[dst]
        if self.source_flight_w is not None:
            flight = np.where(moving, transfer_s + restore, 0.0)
            e_src = e_src + flight * g_move * self.source_flight_w[src]
        parts.sites += [src, dst]
        parts.it_j += [e_src, e_dst]
        if self.stay_any:
            g_stay = inp.job_g_stay[mi]
            home = state.home[mi]
            parts.sites.append(home)
            parts.it_j.append(down * g_stay * idle[home])
            state.job_energy_j[mi] += down * g_stay * idle[home] * pue[home]
        state.job_energy_j[mi] += e_src * pue[src] + e_dst * pue[dst]
        if (recs >= 0).any():
            e_mig = (e_src * pue[src] + e_dst * pue[dst]).tolist()
            for k, r in enumerate(state.mig_rec[mi].tolist()):
                if r >= 0:
                    rec = state.migrations[r]
                    rec["energy_j"] += e_mig[k]
                    rec["save_s"] += float(save[k])
                    rec["transfer_s"] += float(transfer_s[k])
                    rec["restore_s"] += float(restore[k])
        state.job_down_s[mi] += down
        done = restoring & (state.restore_left_s[mi] <= _EPS_S)
        if not done.any():
            return None
        run_extra = {}
        for k in np.flatnonzero(done).tolist():
            j = int(mi[k])
            core.finish_migration(j, now + down[k], step + 1)
            run_extra[j] = float(time_left[k])
        return run_extra

    def _suspend_saves(self, parts: _Parts) -> None:
        """Suspended jobs writing their checkpoint: idle power, no progress."""
        state, inp = self.core.state, self.core.inputs
        still = []
        for j in state.suspend_saving:
            if state.save_left_s[j] <= _EPS_S or state.phase[j] != SUSPENDED:
                continue
            save = min(float(state.save_left_s[j]), self.dt_s)
            state.save_left_s[j] -= save
            site, home = int(state.site[j]), int(state.home[j])
            e_move = save * state.g_move[j] * inp.gpu_idle_w[site]
            e_stay = save * inp.job_g_stay[j] * inp.gpu_idle_w[home]
            parts.sites += [np.array([site]), np.array([home])]
            parts.it_j += [np.array([e_move]), np.array([e_stay])]
            state.job_energy_j[j] += e_move * inp.pue[site] + e_stay * inp.pue[home]
            # its time is the suspended segment's (suspended_h), not downtime as well
            if state.save_left_s[j] > _EPS_S:
                still.append(j)
        state.suspend_saving = still

    # ------------------------------------------------------------ training
    def _training(self, now: float, run_extra: dict[int, float] | None,
                  parts: _Parts) -> list[int]:
        core = self.core
        state, inp = core.state, core.inputs
        dt = self.dt_s
        ri = (state.phase == RUNNING).nonzero()[0]
        if not ri.size:
            return []
        power, pue = inp.gpu_power_w, inp.pue
        run_time = dt                 # a scalar unless a job trained for part of the step
        if run_extra:
            run_time = np.full(ri.size, dt)
            pos = np.searchsorted(ri, np.fromiter(run_extra, dtype=np.int64))
            run_time[pos] = np.fromiter(run_extra.values(), dtype=float)
        sites = state.site[ri]
        if self.stay_any:
            homes = state.home[ri]
        rate = self.work_rate(ri, sites)
        remaining = state.remaining_gpu_s[ri]
        need = remaining / rate
        used = np.minimum(run_time, need)
        done = need <= run_time + _EPS_S
        rem = remaining - used * rate
        rem[done] = 0.0
        state.remaining_gpu_s[ri] = rem
        e_run = used * state.g_move[ri] * power[sites]
        parts.sites.append(sites)
        parts.it_j.append(e_run)
        state.job_energy_j[ri] += e_run * pue[sites]
        if self.stay_any:
            e_home = used * inp.job_g_stay[ri] * power[homes]
            parts.sites.append(homes)
            parts.it_j.append(e_home)
            state.job_energy_j[ri] += e_home * pue[homes]
        finished = []
        if done.any():
            for k in np.flatnonzero(done).tolist():
                j = int(ri[k])
                ran_s = run_time[k] if run_extra else dt
                core.finish_job(j, now + (dt - ran_s) + used[k])
                finished.append(j)
        return finished

    # ------------------------------------------------------------ what the live side asks
    def work_rate(self, jobs: np.ndarray, sites: np.ndarray) -> np.ndarray:
        """Reference-GPU seconds of work per second of ``jobs`` running at ``sites`` [-]:
        GPUs x the site's relative throughput; a partial job split over two sites runs at
        the slower of its site and its home; an elastic job runs at its current count's
        point of its speedup curve (:func:`greenhop.core.scaling.effective_gpus`)."""
        inp = self.core.inputs
        state = self.core.state
        tp = inp.throughput[sites]
        if self.stay_any:
            homes = state.home[jobs]
            tp = split_throughput(tp, inp.throughput[homes], self.stays[jobs])
        if not self.any_elastic:
            return inp.job_gpus[jobs] * tp
        g = state.gpus[jobs]
        eff = effective_gpus(g, inp.job_gpus[jobs], state.serial_share[jobs])
        return np.where(state.elastic[jobs], eff, g) * tp

    def finishing(self, step: int) -> list[int]:
        """Jobs whose work would complete in ``step`` (moves at their set durations and
        measured rates; the live controller waits for their trainers to finish)."""
        state = self.core.state
        dt = self.dt_s
        out = []
        for j in np.flatnonzero(np.isin(state.phase, (RUNNING, MIGRATING))).tolist():
            run_s = dt
            site = int(state.site[j])
            if state.phase[j] == MIGRATING:
                site = int(state.dest[j])
                rate_bps = state.measured_bps[j]
                transfer_s = (state.bytes_left[j] * 8.0 / rate_bps
                              if state.bytes_left[j] > 0 and not np.isnan(rate_bps) else 0.0)
                run_s = dt - min(dt, state.save_left_s[j] + transfer_s
                                 + state.restore_left_s[j])
            rate = float(self.work_rate(np.array([j]), np.array([site]))[0])
            if state.remaining_gpu_s[j] / rate <= run_s + _EPS_S:
                out.append(j)
        return out


class _Parts:
    """The step's energy, gathered by site: IT energy [J] and network energy [J]."""

    __slots__ = ("it_j", "net_j", "net_sites", "sites")

    def __init__(self) -> None:
        self.sites: list[np.ndarray] = []
        self.it_j: list[np.ndarray] = []
        self.net_sites: list[np.ndarray] = []
        self.net_j: list[np.ndarray] = []

    def site_load(self, pue: np.ndarray, n_sites: int, dt: float,
                  network_to_grid: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The jobs' facility load [W] and the grid-only network load [W] (or ``None``)."""
        if self.sites:
            it_j = np.bincount(np.concatenate(self.sites), weights=np.concatenate(self.it_j),
                               minlength=n_sites)
            load = pue * it_j / dt
        else:
            load = np.zeros(n_sites)
        if not self.net_sites:
            return load, None
        net_j = np.bincount(np.concatenate(self.net_sites), weights=np.concatenate(self.net_j),
                            minlength=n_sites)
        if network_to_grid:
            return load, net_j / dt
        return load + net_j / dt, None
