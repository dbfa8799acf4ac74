"""The discrete-time engine: one policy over one scenario.

Per step ``t`` (length ``dt``), in this order:

1. jobs arriving in ``(t-1, t]`` become ``QUEUED``;
2. every ``decision_interval`` the policy sees an :class:`Observation` of the start of
   the step and its actions are applied (invalid ones are counted and ignored);
3. queued jobs start at their arrival site (FIFO) where enough GPU slots are free;
4. jobs advance by ``dt``: migrations go save -> transfer (links shared fairly) ->
   restore with no progress, a migration finishing mid-step trains for the rest of
   the step; running jobs do ``time x gpus x relative throughput`` reference-GPU
   seconds of work, finishing mid-step if that completes their work;
5. site demand = ``PUE x (base IT load + job IT energy / dt) + network energy / dt``,
   dispatched renewables -> battery -> grid (blocks of steps are dispatched together
   between decisions; the result is the same as step by step).

Nothing here is random: a run is a pure function of the scenario and the policy.
See ``docs/simulator.md`` for the semantics in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.observation import (
    DONE,
    MIGRATING,
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
from greenhop.sim.energy import dispatch_block
from greenhop.sim.inputs import SimInputs
from greenhop.traces.dispatch import dispatch_step

_EPS_S = 1e-9
FLOW_NAMES = ("direct_w", "charge_w", "discharge_w", "grid_w", "curtailed_w", "unmet_w")


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


class Engine:
    """Runs ``policy`` on ``inputs``.

    Args:
        inputs: the policy-independent arrays of a scenario (:func:`build_inputs`).
        policy: any object with ``decide(observation) -> list[Action]``.
        record: keep per-step flows, state of charge and job progress (tests, invariants;
            costs memory).
        window_forecast: optional ``callable(step) -> ndarray[S]`` whose result becomes
            ``Observation.window_forecast_s`` (a forecaster's remaining-window forecast
            issued at or before that step).
        window_forecasts: optional :class:`~greenhop.sim.forecasts.SimWindowForecasts`;
            at step ``t`` the Observation carries ``window_forecasts.at(t)`` (quantiles of
            the forecasts issued at or before ``t``) as ``window_forecast_q_s``.
        on_progress: optional ``callable(steps_done)``, called every 1,024 steps.
    """

    def __init__(self, inputs: SimInputs, policy, *, record: bool = False,
                 window_forecast=None, window_forecasts=None, on_progress=None) -> None:
        self.inp = inputs
        self.policy = policy
        self.record = record
        self.window_forecast = window_forecast
        self.window_forecasts = window_forecasts
        self.on_progress = on_progress

    # ------------------------------------------------------------ helpers
    def _resolve_job(self, job) -> int:
        return admission.resolve(job, self._job_index, self.J)

    def _resolve_site(self, site) -> int:
        return admission.resolve(site, self._site_index, self.S)

    def _segment(self, j: int, now: float, kind: str | None, site: int = -1) -> None:
        """Close job ``j``'s open segment at ``now``; open a new one of ``kind`` at ``site``."""
        if self._seg_kind[j] is not None and now > self._seg_start[j] + _EPS_S:
            self.segments.append((j, self._seg_site[j], self._seg_start[j], now,
                                  self._seg_kind[j]))
        self._seg_kind[j] = kind
        self._seg_site[j] = site
        self._seg_start[j] = now

    # ------------------------------------------------------------ actions
    def _start_migration(self, j: int, d: int, now: float, step: int, *, move: bool) -> None:
        inp = self.inp
        src = int(self.site[j])
        self.phase[j] = MIGRATING
        self.dest[j] = d
        self.is_move[j] = move
        self.mig_src[j] = src
        free = inp.scenario.free_migration  # ablation: no time, no bytes, no energy
        nbytes = inp.job_move_bytes[j] if move and not free else 0.0
        self.save_left[j] = nbytes / inp.scenario.write_Bps
        self.bytes_left[j] = nbytes
        size = inp.job_move_bytes[j] if move else inp.job_ckpt_bytes[j]
        self.restore_left[j] = 0.0 if free else (size / inp.scenario.read_Bps
                                                 + inp.scenario.startup_s)
        self.mig_start_s[j] = now
        self.closed_flag[j] = False
        if move:
            self.occ[d] += inp.job_g_move[j]
            rec = {
                "job": j, "src": src, "dst": d, "start_s": now, "end_s": None,
                "bytes": float(nbytes), "bytes_sent": 0.0,
                "bandwidth_bps": float(inp.network.bandwidth_bps[src, d]),
                "window_at_start_s": float(inp.remaining_window_s[step, d]),
                "energy_j": 0.0, "window_closed": False, "aborted": False,
                "fallback": False,
            }
            self.mig_rec[j] = len(self.migrations)
            self.migrations.append(rec)
            self._segment(j, now, "migrating", d)
        else:
            self.mig_rec[j] = -1
            self._segment(j, now, "resuming", src)

    def _apply(self, actions, now: float, step: int) -> None:
        inp = self.inp
        for act in actions:
            if isinstance(act, Migrate):
                j, d = self._resolve_job(act.job), self._resolve_site(act.dest)
                if admission.can_migrate(inp, self.phase, self.site, self.occ, j, d):
                    self._start_migration(j, d, now, step, move=True)
                    self.counters["migrations_started"] += 1
                else:
                    self.counters["rejected_actions"] += 1
            elif isinstance(act, Suspend):
                j = self._resolve_job(act.job)
                if admission.can_suspend(self.phase, j):
                    self.phase[j] = SUSPENDED
                    self.counters["suspensions"] += 1
                    self._segment(j, now, "suspended", int(self.site[j]))
                else:
                    self.counters["rejected_actions"] += 1
            elif isinstance(act, Resume):
                j = self._resolve_job(act.job)
                if admission.can_resume(self.phase, j):
                    self._start_migration(j, int(self.site[j]), now, step, move=False)
                else:
                    self.counters["rejected_actions"] += 1
            elif isinstance(act, Place):
                j, s = self._resolve_job(act.job), self._resolve_site(act.site)
                if admission.can_place(inp, self.phase, self.occ, j, s):
                    self._start_job(j, s, now)
                    self.queue.remove(j)
                else:
                    self.counters["rejected_actions"] += 1
            else:
                raise ConfigError(f"policy '{getattr(self.policy, 'name', self.policy)}' "
                                  f"returned {act!r}, which is not an Action")

    def _start_job(self, j: int, s: int, now: float) -> None:
        self.phase[j] = RUNNING
        self.site[j] = s
        self.home[j] = s
        self.occ[s] += self.inp.job_gpus[j]
        if np.isnan(self.start_s[j]):
            self.start_s[j] = now
        self.last_move_s[j] = now
        self._segment(j, now, "running", s)

    def _place_queued(self, now: float) -> None:
        inp = self.inp
        still = []
        for j in self.queue:
            s = admission.arrival_site(inp, self.occ, j)
            if admission.fits(inp, self.occ, s, inp.job_gpus[j]):
                self._start_job(j, s, now)
            else:
                still.append(j)
        self.queue = still

    # ------------------------------------------------------------ energy
    def _flush(self, t1: int) -> None:
        t0 = self._flushed
        if t1 <= t0:
            return
        inp = self.inp
        H = inp.history_steps
        dt = inp.scenario.step_s
        if t1 - t0 == 1 and self.flows is None:
            # One step (a decision every step): skip the block machinery.
            fs = dispatch_step(
                inp.renewable_w[H + t0], self.demand_w[t0], self.soc, dt,
                capacity_j=inp.bat_capacity_j, max_power_w=inp.bat_power_w,
                round_trip_efficiency=inp.bat_eta, min_soc=inp.bat_min_soc,
                grid_import_limit_w=inp.grid_limit_w)
            e = self.energy_j
            e["direct"] += fs.direct_w * dt
            e["charge"] += fs.charge_w * dt
            e["discharge"] += fs.discharge_w * dt
            e["grid"] += fs.grid_w * dt
            e["curtailed"] += fs.curtailed_w * dt
            e["unmet"] += fs.unmet_w * dt
            self.grid_w[t0] = fs.grid_w
            self.soc[:] = fs.soc_j
            self._flushed = t1
            return
        f = dispatch_block(
            inp.renewable_w[H + t0:H + t1], self.demand_w[t0:t1], self.soc, inp.scenario.step_s,
            capacity_j=inp.bat_capacity_j, max_power_w=inp.bat_power_w,
            round_trip_efficiency=inp.bat_eta, min_soc=inp.bat_min_soc,
            grid_import_limit_w=inp.grid_limit_w)
        for k in FLOW_NAMES:
            self.energy_j[k[:-2]] += f[k].sum(axis=0) * dt
        self.grid_w[t0:t1] = f["grid_w"]
        if self.flows is not None:
            for k in FLOW_NAMES:
                self.flows[k][t0:t1] = f[k]
        self.soc[:] = f["soc_end_j"]
        if self.soc_log is not None:
            # Per-step state of charge: re-derive from the flows (exact to rounding).
            eta = np.sqrt(inp.bat_eta)
            delta = (f["charge_w"] * eta - f["discharge_w"] / eta) * dt
            self.soc_log[t0 + 1:t1 + 1] = self.soc_log[t0] + np.cumsum(delta, axis=0)
            self.soc_log[t1] = self.soc
        self._flushed = t1

    # ------------------------------------------------------------ observation
    def _observation(self, t: int) -> Observation:
        inp = self.inp
        H = inp.history_steps
        dt = inp.scenario.step_s
        np.subtract(inp.slots, self.occ, out=self._free)
        np.subtract(1.0, self.remaining / inp.job_work_gpu_s, out=self._progress)
        np.subtract(self._surplus_ro[H + t], self._last_load, out=self._headroom)
        wf = None
        if self.window_forecast is not None:
            wf = self.window_forecast(t)
        wq, levels = None, ()
        if self.window_forecasts is not None:
            wq, levels = self.window_forecasts.at(t), self.window_forecasts.quantiles
        return Observation(
            now_s=t * dt, step=t, dt_s=dt,
            renewable_w=self._ren_ro[H + t], surplus_w=self._surplus_ro[H + t],
            history=SurplusHistory(self._surplus_ro, H, t, dt),
            window_forecast_s=wf, window_forecast_q_s=wq, window_forecast_quantiles=levels,
            **self._static_obs)

    # ------------------------------------------------------------ run
    def run(self) -> RunResult:
        inp = self.inp
        sc = inp.scenario
        S = len(sc.sites)
        J = len(inp.jobs)
        T = inp.n_steps
        H = inp.history_steps
        dt = sc.step_s
        self.S, self.J = S, J
        self._site_index = {n: i for i, n in enumerate(sc.site_names)}
        self._job_index = {job.name: i for i, job in enumerate(inp.jobs)}
        net = inp.network

        # Job state.
        self.phase = np.full(J, PENDING, dtype=np.int8)
        self.site = np.full(J, -1, dtype=np.int64)
        self.home = np.full(J, -1, dtype=np.int64)
        self.dest = np.full(J, -1, dtype=np.int64)
        self.mig_src = np.full(J, -1, dtype=np.int64)
        self.is_move = np.zeros(J, dtype=bool)
        self.closed_flag = np.zeros(J, dtype=bool)
        self.mig_rec = np.full(J, -1, dtype=np.int64)
        self.remaining = inp.job_work_gpu_s.copy()
        self.save_left = np.zeros(J)
        self.bytes_left = np.zeros(J)
        self.restore_left = np.zeros(J)
        self.mig_start_s = np.zeros(J)
        self.last_move_s = np.zeros(J)
        self.start_s = np.full(J, np.nan)
        self.finish_s = np.full(J, np.nan)
        self.job_energy = np.zeros(J)
        self.job_down = np.zeros(J)
        self.job_moves = np.zeros(J, dtype=np.int64)
        self.occ = np.zeros(S, dtype=np.int64)
        self.queue: list[int] = []
        self.migrations: list[dict] = []
        self.segments: list[tuple[int, int, float, float, str]] = []
        self._seg_kind: list[str | None] = [None] * J
        self._seg_site = [-1] * J
        self._seg_start = [0.0] * J
        self.counters = {k: 0 for k in (
            "migrations_started", "rejected_actions", "suspensions", "window_closed",
            "aborted_migrations", "fallback_migrations", "policy_calls")}
        self.counters["bytes_moved"] = 0.0
        self.counters["network_j"] = 0.0

        # Energy state.
        self.demand_w = np.empty((T, S))
        self.demand_w[:] = inp.base_demand_w
        self.job_load = np.zeros((T, S))
        self.grid_w = np.zeros((T, S))
        self.energy_j = {k[:-2]: np.zeros(S) for k in FLOW_NAMES}
        self.flows = {k: np.zeros((T, S)) for k in FLOW_NAMES} if self.record else None
        self.soc = inp.bat_initial_j.copy()
        self.soc_log = None
        if self.record:
            self.soc_log = np.zeros((T + 1, S))
            self.soc_log[0] = self.soc
        progress_log = [] if self.record else None
        self._flushed = 0
        self._last_load = np.zeros(S)

        # Read-only views handed to the policy (updated in place by the engine).
        def ro(a):
            v = a.view()
            v.flags.writeable = False
            return v

        ren = inp.renewable_w.view()
        ren.flags.writeable = False
        sur = inp.surplus_w.view()
        sur.flags.writeable = False
        self._ren_ro, self._surplus_ro = ren, sur
        self._free = np.zeros(S, dtype=np.int64)
        self._progress = np.zeros(J)
        self._headroom = np.zeros(S)
        active_transfers = np.zeros(len(net.link_eff_bps), dtype=np.int64)
        links = link_info(net, active_transfers, write_Bps=sc.write_Bps, read_Bps=sc.read_Bps,
                          startup_s=sc.startup_s)
        self._static_obs = dict(
            site_names=sc.site_names, job_names=tuple(j.name for j in inp.jobs),
            base_demand_w=ro(inp.base_demand_w), job_load_w=ro(self._last_load),
            headroom_w=ro(self._headroom), soc_j=ro(self.soc),
            battery_capacity_j=ro(inp.bat_capacity_j), free_gpus=ro(self._free),
            gpu_slots=ro(inp.slots), gpu_power_w=ro(inp.gpu_power_w),
            gpu_idle_w=ro(inp.gpu_idle_w), throughput=ro(inp.throughput), pue=ro(inp.pue),
            job_phase=ro(self.phase), job_site=ro(self.site), job_dest=ro(self.dest),
            job_origin=ro(inp.job_origin), job_progress=ro(self._progress),
            job_remaining_gpu_s=ro(self.remaining),
            job_checkpoint_bytes=ro(inp.job_ckpt_bytes), job_move_bytes=ro(inp.job_move_bytes),
            job_gpus=ro(inp.job_gpus), job_mobility=ro(inp.job_mobility),
            job_arrival_s=ro(inp.job_arrival_s), job_deadline_s=ro(inp.job_deadline_s),
            job_last_move_s=ro(self.last_move_s), job_allowed=ro(inp.job_allowed),
            links=links, start_unix_s=float(sc.start.timestamp()),
            window_threshold_w=float(sc.window_threshold_w))

        if self.policy.capabilities.sees_future:
            # The one explicit channel to the future: only a policy that declares it (the
            # oracle-window ceiling) gets the true windows; the Observation never has them.
            from greenhop.sim.forecasts import TrueWindows

            self.policy.bind_true_windows(TrueWindows(inp.remaining_window_s))
        order = np.argsort(inp.job_arrival_step, kind="stable")
        arr_steps = inp.job_arrival_step[order]
        next_arr = 0
        n_active = 0
        every = max(1, round(sc.decision_interval_s / dt))
        decides = not self.policy.capabilities.passive
        threshold = sc.window_threshold_w
        surplus_now = inp.surplus_w[H:]
        power = inp.gpu_power_w
        idle = inp.gpu_idle_w
        tput = inp.throughput
        pue = inp.pue
        g_move = inp.job_g_move
        g_stay = inp.job_g_stay
        gpus = inp.job_gpus
        jpb = net.j_per_bit
        on_close = sc.on_window_close
        stay_any = bool(g_stay.any())

        report_every = 1024
        next_report = report_every
        on_progress = self.on_progress
        t = 0
        while t < T:
            if on_progress is not None and t >= next_report:
                on_progress(t)
                next_report = t + report_every
            now = t * dt
            # 1. arrivals
            while next_arr < J and arr_steps[next_arr] <= t:
                j = int(order[next_arr])
                self.phase[j] = QUEUED
                self.queue.append(j)
                n_active += 1
                next_arr += 1
            if n_active == 0:
                # Nothing to run: jump to the next arrival (demand stays at the base load).
                t = int(arr_steps[next_arr]) if next_arr < J else T
                self._last_load[:] = 0.0
                if progress_log is not None:
                    while len(progress_log) < t:
                        progress_log.append(inp.job_work_gpu_s - self.remaining)
                continue
            # 2. policy
            if decides and t % every == 0:
                self._flush(t)
                obs = self._observation(t)
                actions = self.policy.decide(obs)
                self.counters["policy_calls"] += 1
                if actions:
                    self._apply(actions, now, t)
            # 3. default placement
            if self.queue:
                self._place_queued(now)

            # 4. advance jobs
            idx_parts: list[np.ndarray] = []
            w_parts: list[np.ndarray] = []
            net_idx: list[np.ndarray] = []
            net_w: list[np.ndarray] = []
            mi = np.flatnonzero(self.phase == MIGRATING)
            run_extra = None
            if mi.size:
                src = self.mig_src[mi]
                dst = self.dest[mi]
                moving = self.is_move[mi]
                # Destination window closed mid-migration?
                if moving.any():
                    closed = moving & ~self.closed_flag[mi] & (surplus_now[t, dst] < threshold)
                    if closed.any():
                        for k in np.flatnonzero(closed).tolist():
                            self._window_closed(int(mi[k]), now, t, on_close)
                        src = self.mig_src[mi]
                        dst = self.dest[mi]
                        moving = self.is_move[mi]
                tav = np.full(mi.size, dt)
                sv = np.minimum(self.save_left[mi], tav)
                self.save_left[mi] -= sv
                tav -= sv
                tr = (self.save_left[mi] <= _EPS_S) & (self.bytes_left[mi] > 0)
                tr_time = np.zeros(mi.size)
                if tr.any():
                    ti = np.flatnonzero(tr)
                    rates, counts = net.transfer_rates_bps(src[ti], dst[ti])
                    active_transfers[:] = counts
                    bits = np.minimum(self.bytes_left[mi[ti]] * 8.0, rates * tav[ti])
                    used = bits / rates
                    left = self.bytes_left[mi[ti]] - bits / 8.0
                    left[left < 1e-6] = 0.0
                    self.bytes_left[mi[ti]] = left
                    tr_time[ti] = used
                    tav[ti] -= used
                    e_net = bits * jpb[src[ti], dst[ti]]
                    self.counters["bytes_moved"] += float(bits.sum()) / 8.0
                    self.counters["network_j"] += float(e_net.sum())
                    net_idx += [src[ti], dst[ti]]
                    net_w += [e_net / 2.0, e_net / 2.0]
                    for k, b, e in zip(mi[ti].tolist(), (bits / 8.0).tolist(), e_net.tolist(),
                                       strict=True):
                        r = self.mig_rec[k]
                        if r >= 0:
                            self.migrations[r]["bytes_sent"] += b
                            self.migrations[r]["energy_j"] += e
                    self.job_energy[mi[ti]] += e_net
                else:
                    active_transfers[:] = 0
                rs = (self.save_left[mi] <= _EPS_S) & (self.bytes_left[mi] <= 0)
                rs_used = np.where(rs, np.minimum(self.restore_left[mi], tav), 0.0)
                self.restore_left[mi] -= rs_used
                tav -= rs_used
                down = dt - tav
                # Idle energy: saving at the source, transfer and restore at the destination,
                # the workers that stay (partial jobs) at home.
                gm = g_move[mi]
                e_src = sv * gm * idle[src]
                e_dst = (tr_time + rs_used) * gm * idle[dst]
                idx_parts += [src, dst]
                w_parts += [e_src, e_dst]
                if stay_any:
                    gs = g_stay[mi]
                    hm = self.home[mi]
                    idx_parts.append(hm)
                    w_parts.append(down * gs * idle[hm])
                    self.job_energy[mi] += down * gs * idle[hm] * pue[hm]
                self.job_energy[mi] += e_src * pue[src] + e_dst * pue[dst]
                recs = self.mig_rec[mi]
                if (recs >= 0).any():
                    e_mig = (e_src * pue[src] + e_dst * pue[dst]).tolist()
                    for k, r in enumerate(recs.tolist()):
                        if r >= 0:
                            self.migrations[r]["energy_j"] += e_mig[k]
                self.job_down[mi] += down
                fin = rs & (self.restore_left[mi] <= _EPS_S)
                if fin.any():
                    run_extra = {}
                    for k in np.flatnonzero(fin).tolist():
                        j = int(mi[k])
                        self._finish_migration(j, now + down[k], t + 1)
                        run_extra[j] = float(tav[k])
            else:
                active_transfers[:] = 0

            ri = np.flatnonzero(self.phase == RUNNING)
            if ri.size:
                run_time = np.full(ri.size, dt)
                if run_extra:
                    pos = np.searchsorted(ri, np.fromiter(run_extra, dtype=np.int64))
                    run_time[pos] = np.fromiter(run_extra.values(), dtype=float)
                s_r = self.site[ri]
                tp = tput[s_r]
                if stay_any:
                    h_r = self.home[ri]
                    tp = np.where(g_stay[ri] > 0, np.minimum(tp, tput[h_r]), tp)
                rate = gpus[ri] * tp
                need = self.remaining[ri] / rate
                used = np.minimum(run_time, need)
                done = need <= run_time + _EPS_S
                rem = self.remaining[ri] - used * rate
                rem[done] = 0.0
                self.remaining[ri] = rem
                e_run = used * g_move[ri] * power[s_r]
                idx_parts.append(s_r)
                w_parts.append(e_run)
                self.job_energy[ri] += e_run * pue[s_r]
                if stay_any:
                    e_home = used * g_stay[ri] * power[h_r]
                    idx_parts.append(h_r)
                    w_parts.append(e_home)
                    self.job_energy[ri] += e_home * pue[h_r]
                if done.any():
                    for k in np.flatnonzero(done).tolist():
                        j = int(ri[k])
                        end = now + (dt - run_time[k]) + used[k]
                        self.phase[j] = DONE
                        self.finish_s[j] = end
                        self.occ[self.site[j]] -= g_move[j]
                        self.occ[self.home[j]] -= g_stay[j]
                        n_active -= 1
                        self._segment(j, end, None)

            # 5. site demand of this step
            if idx_parts:
                it_j = np.bincount(np.concatenate(idx_parts), weights=np.concatenate(w_parts),
                                   minlength=S)
                load = pue * it_j / dt
            else:
                load = np.zeros(S)
            if net_idx:
                net_j_site = np.bincount(np.concatenate(net_idx),
                                         weights=np.concatenate(net_w), minlength=S)
                load = load + net_j_site / dt
            self.job_load[t] = load
            self.demand_w[t] += load
            self._last_load[:] = load
            if progress_log is not None:
                progress_log.append(inp.job_work_gpu_s - self.remaining)
            t += 1

        self._flush(T)
        if on_progress is not None:
            on_progress(T)
        for j in range(J):
            if self._seg_kind[j] is not None:
                self._segment(j, T * dt, None)
        self.energy_j["demand"] = self.demand_w.sum(axis=0) * dt
        self.energy_j["job_load"] = self.job_load.sum(axis=0) * dt
        self.energy_j["renewable"] = inp.renewable_w[H:].sum(axis=0) * dt
        return RunResult(
            policy=getattr(self.policy, "name", type(self.policy).__name__),
            energy_j=self.energy_j, demand_w=self.demand_w, grid_w=self.grid_w,
            job_load_w=self.job_load, flows=self.flows, soc_j=self.soc_log,
            job_finish_s=self.finish_s, job_start_s=self.start_s,
            job_remaining_gpu_s=self.remaining, job_energy_j=self.job_energy,
            job_down_s=self.job_down, job_migrations=self.job_moves,
            job_progress_log=progress_log, migrations=self.migrations,
            segments=self.segments, counters=self.counters)

    # ------------------------------------------------------------ migration events
    def _finish_migration(self, j: int, end_s: float, step_after: int) -> None:
        inp = self.inp
        d = int(self.dest[j])
        if self.is_move[j]:
            src = int(self.mig_src[j])
            self.occ[src] -= inp.job_g_move[j]
            self.job_moves[j] += 1
            rec = self.migrations[self.mig_rec[j]]
            rec["end_s"] = float(end_s)
            rec["downtime_s"] = float(end_s - rec["start_s"])
            rec["window_at_end_s"] = float(inp.remaining_window_s[min(step_after,
                                                                      inp.n_steps), d])
        self.phase[j] = RUNNING
        self.site[j] = d
        if inp.job_g_stay[j] == 0:
            self.home[j] = d
        self.dest[j] = -1
        self.last_move_s[j] = end_s
        self._segment(j, end_s, "running", d)

    def _window_closed(self, j: int, now: float, t: int, on_close: str) -> None:
        inp = self.inp
        self.closed_flag[j] = True
        self.counters["window_closed"] += 1
        rec = self.migrations[self.mig_rec[j]]
        rec["window_closed"] = True
        if on_close == "continue":
            return
        d = int(self.dest[j])
        src = int(self.mig_src[j])
        if on_close == "fallback":
            net = inp.network
            head = inp.surplus_w[inp.history_steps + t] - self._last_load
            free = inp.slots - self.occ
            ok = (inp.job_allowed[j] & (net.hops[src] > 0)
                  & (free >= inp.job_g_move[j])
                  & (inp.surplus_w[inp.history_steps + t] >= inp.scenario.window_threshold_w))
            ok[d] = False
            ok[src] = False
            if ok.any():
                new = int(np.argmax(np.where(ok, head, -np.inf)))
                self.occ[d] -= inp.job_g_move[j]
                self.occ[new] += inp.job_g_move[j]
                self.dest[j] = new
                self.bytes_left[j] = inp.job_move_bytes[j]
                self.restore_left[j] = (inp.job_move_bytes[j] / inp.scenario.read_Bps
                                        + inp.scenario.startup_s)
                rec["fallback"] = True
                rec["dst"] = new
                self.counters["fallback_migrations"] += 1
                self._segment(j, now, "migrating", new)
                return
        # abort (or fallback with nowhere to go): restart at the source from its checkpoint
        self.occ[d] -= inp.job_g_move[j]
        self.dest[j] = src
        self.is_move[j] = False
        self.bytes_left[j] = 0.0
        self.restore_left[j] = (inp.job_move_bytes[j] / inp.scenario.read_Bps
                                + inp.scenario.startup_s)
        rec["aborted"] = True
        rec["end_s"] = None
        self.mig_rec[j] = -1
        self.counters["aborted_migrations"] += 1
        self._segment(j, now, "resuming", src)
