"""Jobs spread over sites: the workers of a group train in lockstep outer steps.

Each worker of a job spread over sites (:class:`~greenhop.core.specs.WorkerSpec`) is a
job entity of its own, so placement, moves, suspends, admission and the energy of
training and moving stay the fleet core's one code. This module couples a group's
workers, one step at a time, before the core books the step's training
(:meth:`Groups.couple`, called by :class:`~greenhop.fleet.accounting.Accounting`):

* **outer steps.** The job's work is ``T`` outer steps; one outer step is
  ``work_w / T`` reference-GPU seconds of every worker ``w`` (its ``H`` local steps).
  A worker that has done its share of the current outer step waits (idle power) for
  the others: **stragglers set the pace**, a worker that is slower, moving, suspended or
  not yet placed holds the whole group (the job's progress is the slowest worker's).
* **the exchange.** When every worker of the outer step is at the barrier they exchange
  pseudo-gradients: a ring all-reduce over the workers ordered by site, so each hop
  between two sites carries ``2 (n - 1) / n x V`` bytes (``V`` one pseudo-gradient,
  ``n`` workers taking part); hops inside a site cost nothing. The hops' rates are their
  max-min fair shares of the directed links together with the migrations sending at the
  exchange's start (their checkpoint written;
  :meth:`~greenhop.fleet.network.Network.transfer_rates_bps`); other groups' exchanges
  are not counted (docs/distributed.md, Limits);
  the exchange takes ``max_hop(8 bytes / rate) + (n - 1) x rtt_max``, during which every
  worker waits. Its network energy (bytes x the path's energy per bit, half on each end)
  is booked when it starts. The last outer step's exchange is booked but its time is
  not waited for: the workers finish with their last local step.
* **elastic groups** go on without a worker that is not running: at each outer-step
  boundary a worker whose site's surplus is below the window threshold drops out
  (suspended; at least one worker stays) and a worker the group dropped rejoins when its
  site has surplus again (a resume in place, booked from the next step); a worker that
  is back running joins at the next boundary (one still resuming at a boundary, even
  one in its step, joins at the one after). A worker the group dropped and a policy
  resumed is the policy's from then on (the group does not drop it again); a worker a
  policy suspended is readmitted by a policy only. An outer step still counts as one of
  the job's ``T`` when workers miss it: the missing workers' local steps of that outer
  step are skipped (their data is not seen), so the job ends after ``T`` outer steps, on
  fewer samples (``outer_steps_missed`` counts worker-outer-steps skipped,
  ``worker_skipped_gpu_s`` their work [reference-GPU-s]: not work done, so the
  metrics' ``work_done_gpu_h`` leaves it out).

Counters added to the core's: ``sync_bytes`` [B] and ``sync_network_j`` [J] of the
exchanges, ``outer_steps`` completed, ``worker_wait_s`` (worker seconds spent waiting at
a barrier or in an exchange), ``worker_wait_j`` (their idle energy, facility side [J]),
``outer_steps_missed``, ``worker_skipped_gpu_s`` and ``worker_dropouts`` /
``worker_rejoins`` (elastic groups).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from greenhop.core.observation import DONE, MIGRATING, QUEUED, RUNNING, SUSPENDED

if TYPE_CHECKING:
    from greenhop.fleet.core import FleetCore

_EPS = 1e-9
HOLD_S = 1e-6
"""Training time [s] a worker keeps back in its last outer step until the group is there."""
COUNTERS = ("sync_bytes", "sync_network_j", "outer_steps", "worker_wait_s", "worker_wait_j",
            "outer_steps_missed", "worker_skipped_gpu_s", "worker_dropouts", "worker_rejoins")


@dataclass
class Group:
    """One job spread over sites: its workers' job indices (by worker index) and progress."""

    name: str
    members: np.ndarray              # job indices, worker 0 first
    outer_total: int                 # T
    sync_every: int                  # H
    pseudo_gradient_bytes: float     # V [B]
    elastic: bool
    w_outer: np.ndarray              # [n] work of one outer step per worker [ref-GPU s]
    outer_done: int = 0
    syncing: bool = False
    sync_left_s: float = 0.0
    participants: np.ndarray | None = None   # [n] bool, elastic groups: this outer step's
    exchanging: np.ndarray | None = None     # [n] bool: the workers of the exchange in flight
    dropped: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # by the group
    policy_held: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    sync_bytes: float = 0.0
    wait_s: np.ndarray = field(default_factory=lambda: np.zeros(0))   # [n]
    log: list[dict] = field(default_factory=list)  # one record per completed exchange


def attach(core: FleetCore) -> Groups | None:
    """The coupling of ``core``'s spread jobs, or ``None`` when it has none."""
    if not any(j.worker is not None for j in core.inputs.jobs):
        return None
    return Groups(core)


class Groups:
    """Every spread job of a fleet run; :meth:`couple` runs once per step."""

    def __init__(self, core: FleetCore) -> None:
        self.core = core
        self._parts = None  # the step's energy parts, while couple() runs
        self._step_start = (0.0, np.zeros(0))
        inp = core.inputs
        by_group: dict[str, list[tuple[int, int]]] = {}
        for j, spec in enumerate(inp.jobs):
            if spec.worker is not None:
                by_group.setdefault(spec.worker.group, []).append((spec.worker.index, j))
        self.groups: list[Group] = []
        for name, pairs in by_group.items():
            members = np.array([j for _, j in sorted(pairs)], dtype=np.int64)
            w = inp.jobs[int(members[0])].worker
            work = np.asarray(inp.job_work_gpu_s, dtype=float)[members]
            self.groups.append(Group(
                name=name, members=members, outer_total=w.outer_steps,
                sync_every=w.sync_every, pseudo_gradient_bytes=w.pseudo_gradient_bytes,
                elastic=w.elastic, w_outer=work / w.outer_steps,
                wait_s=np.zeros(members.size), dropped=np.zeros(members.size, dtype=bool),
                policy_held=np.zeros(members.size, dtype=bool)))
        for key in COUNTERS:
            core.state.counters.setdefault(key, 0.0)

    # ------------------------------------------------------------ the step
    def couple(self, step: int, now: float, run_extra: dict[int, float] | None,
               parts) -> dict[int, float] | None:
        """Decide how long each running worker trains in ``step`` (the rest it waits),
        book the waits and the exchanges; returns ``run_extra`` for the core's training
        (job -> seconds it trains in this step)."""
        out = dict(run_extra) if run_extra else {}
        self._parts = parts
        for g in self.groups:
            self._couple_group(g, step, now, out, parts)
        return out or None

    def _couple_group(self, g: Group, step: int, now: float, out: dict[int, float],
                      parts) -> None:
        core = self.core
        state = core.state
        dt = core.dt_s
        m = g.members
        phase = state.phase[m]
        if (phase == DONE).all():
            return
        running = phase == RUNNING
        if not running.any() and not g.syncing:
            return
        avail = np.where(running, dt, 0.0)
        for k, j in enumerate(m.tolist()):
            if running[k] and j in out:
                avail[k] = out[j]
        start = dt - avail
        self._step_start = (now, start)      # for the waits of workers that drop out
        rate = np.ones(m.size)
        if running.any():
            rate[running] = core.accounting.work_rate(m[running], state.site[m[running]])
        if g.elastic and g.participants is None:
            g.participants = running.copy()
        compute = np.zeros(m.size)
        t = 0.0
        end_t = None   # when the last outer step ends inside this step [s from its start]
        # Every pass but the first completes an outer step or leaves the loop, so the
        # outer steps the job has left bound it (no cap that could cut a step short).
        for _ in range(g.outer_total - g.outer_done + 2):
            if g.syncing:
                use = min(g.sync_left_s, dt - t)
                g.sync_left_s -= use
                t += use
                if g.sync_left_s > _EPS:
                    break
                g.syncing = False
                running = self._boundary(g, step, now + t, compute, rate)
            if g.outer_done >= g.outer_total:
                break
            phase = state.phase[m]
            if g.elastic:
                blocking = g.participants & running
                if not blocking.any():        # everyone dropped: start over with who runs
                    g.participants = running.copy()
                    blocking = running.copy()
            else:
                blocking = phase != DONE
            if not blocking.any():
                break
            done_work = (np.asarray(core.inputs.job_work_gpu_s)[m] - state.remaining_gpu_s[m]
                         + compute * rate)
            need = np.maximum(0.0, g.w_outer * (g.outer_done + 1) - done_work) / rate
            begin = np.maximum(start, t)
            if (blocking & ~running).any():
                # a straggler that is not training (moving, suspended, queued): the others
                # train up to the barrier and wait
                c = np.where(running, np.clip(np.minimum(need, dt - begin), 0.0, None), 0.0)
                compute += self._hold_last(g, c, need)
                break
            finish = np.where(blocking, begin + need, 0.0)
            t_b = float(finish.max())
            if t_b > dt + _EPS:
                c = np.where(blocking, np.clip(np.minimum(need, dt - begin), 0.0, None), 0.0)
                compute += self._hold_last(g, c, need)
                break
            compute += np.where(blocking, need, 0.0)
            t = max(t, t_b)
            sync_s = self._exchange(g, blocking, parts)
            if g.outer_done + 1 >= g.outer_total:
                # the last outer step: the workers' work ends here; its exchange is booked
                g.outer_done += 1
                state.counters["outer_steps"] += 1
                self._log(g, now + t, blocking)
                end_t = t
                self._end_missing(g, now + t, blocking)
                break
            g.syncing = True
            g.exchanging = blocking.copy()
            g.sync_left_s = sync_s
            if not np.isfinite(sync_s):
                break
        else:  # pragma: no cover - the bound above is never reached
            raise RuntimeError(f"spread job {g.name!r}: more outer steps in step {step} than "
                               f"the {g.outer_total} the job has")
        # Book: each running worker trains for compute[k]; the rest of its time it waits.
        for k, j in enumerate(m.tolist()):
            if state.phase[j] == RUNNING and running[k]:
                out[j] = float(compute[k])
                if end_t is not None:
                    # The core puts a step's training at its end and finishes a job at
                    # start + (dt - run) + work: this run time makes that the barrier.
                    out[j] = float(dt - end_t + compute[k])
        span = avail if end_t is None else np.maximum(0.0, end_t - start)  # its time here
        wait = np.where(running & (state.phase[m] == RUNNING), span - compute, 0.0)
        wait = np.clip(wait, 0.0, None)
        if wait.any():
            self._book_wait(g, wait)

    # ------------------------------------------------------------ pieces
    @staticmethod
    def _hold_last(g: Group, compute: np.ndarray, need: np.ndarray) -> np.ndarray:
        """In the last outer step a worker that is through waits for the others (the final
        exchange needs every pseudo-gradient): it keeps ``HOLD_S`` of its work, so the core
        does not finish it before the group reaches the barrier."""
        if g.outer_done + 1 < g.outer_total:
            return compute
        return np.where(compute >= need - HOLD_S, np.maximum(0.0, need - HOLD_S), compute)

    def _exchange(self, g: Group, who: np.ndarray, parts) -> float:
        """Book the exchange of the workers ``who`` [bool over members]; its time [s]."""
        core = self.core
        state, net = core.state, core.inputs.network
        idx = np.flatnonzero(who)
        n = idx.size
        if n <= 1:
            return 0.0
        sites = state.site[g.members[idx]]
        order = np.lexsort((idx, sites))
        src = sites[order]
        dst = np.roll(src, -1)
        cross = src != dst
        if not cross.any():
            return 0.0                         # one site: the exchange stays inside it
        src, dst = src[cross], dst[cross]
        hop_bytes = 2.0 * (n - 1) / n * g.pseudo_gradient_bytes
        if (net.hops[src, dst] <= 0).any():
            state.counters.setdefault("sync_unreachable", 0)
            state.counters["sync_unreachable"] += 1
            return float("inf")               # no route between two workers: stalled
        # the migrations sending now: a checkpoint still being written holds no link
        mi = np.flatnonzero((state.phase == MIGRATING) & (state.bytes_left > 0)
                            & (state.save_left_s <= _EPS))
        all_src = np.concatenate([src, state.mig_src[mi]])
        all_dst = np.concatenate([dst, state.dest[mi]])
        rates, _ = net.transfer_rates_bps(all_src, all_dst)
        rates = rates[:src.size]
        sync_s = float((8.0 * hop_bytes / rates).max() + (n - 1) * net.rtt_s[src, dst].max())
        bits = 8.0 * hop_bytes
        e = bits * net.j_per_bit[src, dst]
        parts.net_sites += [src, dst]
        parts.net_j += [e / 2.0, e / 2.0]
        total = hop_bytes * src.size
        state.counters["sync_bytes"] += total
        state.counters["sync_network_j"] += float(e.sum())
        state.job_energy_j[g.members[idx]] += float(e.sum()) / n
        g.sync_bytes += total
        return sync_s

    def _end_missing(self, g: Group, end_s: float, who: np.ndarray) -> None:
        """The job is done at ``end_s``: workers that missed its last outer step end with
        it (a suspended one frees its slots now, a moving one when it lands)."""
        core = self.core
        state = core.state
        for k in np.flatnonzero(~who).tolist():
            j = int(g.members[k])
            if state.phase[j] == DONE:
                continue
            state.counters["worker_skipped_gpu_s"] += float(state.remaining_gpu_s[j])
            state.remaining_gpu_s[j] = 0.0
            if state.phase[j] == SUSPENDED:
                core.finish_job(j, end_s)
            elif state.phase[j] == QUEUED:
                state.queue.remove(j)
                self._end_queued(j, end_s)
        if g.elastic:
            state.counters["outer_steps_missed"] += int((~who).sum())

    def _end_queued(self, j: int, end_s: float) -> None:
        """A worker that never got a slot ends with its job (it holds no slots)."""
        state = self.core.state
        state.phase[j] = DONE
        state.finish_s[j] = end_s
        state.n_active -= 1

    def _log(self, g: Group, end_s: float, who: np.ndarray) -> None:
        g.log.append({"outer_step": g.outer_done, "end_s": float(end_s),
                      "workers": int(who.sum())})

    def _boundary(self, g: Group, step: int, at_s: float, compute: np.ndarray,
                  rate: np.ndarray) -> np.ndarray:
        """An exchange has ended at ``at_s``: the next outer step starts. Every worker's
        remaining work becomes the group's (a worker that missed it skips its share);
        elastic groups drop and readmit workers. Returns which members still run."""
        core = self.core
        state = core.state
        m = g.members
        who = g.exchanging if g.exchanging is not None else state.phase[m] != DONE
        g.outer_done += 1
        state.counters["outer_steps"] += 1
        self._log(g, at_s, who)
        if g.elastic:
            state.counters["outer_steps_missed"] += int(m.size - who.sum())
        left = (g.outer_total - g.outer_done) * g.w_outer
        running = state.phase[m] == RUNNING
        # the training booked later in this step is counted from here on
        now = left + np.where(running, compute * rate, 0.0)
        # what a worker that missed the outer step had left of it is skipped, not done
        state.counters["worker_skipped_gpu_s"] += float(
            np.maximum(state.remaining_gpu_s[m] - now, 0.0)[~who].sum())
        state.remaining_gpu_s[m] = now
        if g.elastic:
            running = self._drop_and_rejoin(g, step, at_s, compute, rate, running)
            # a worker whose resume ends later in this step is not running yet: it joins
            # at the next boundary
            step_now, start = self._step_start
            g.participants = running & (start <= at_s - step_now + _EPS)
        return running

    def _drop_and_rejoin(self, g: Group, step: int, at_s: float, compute: np.ndarray,
                         rate: np.ndarray, running: np.ndarray) -> np.ndarray:
        core = self.core
        state = core.state
        m = g.members
        core.ensure_seen(step)
        surplus = core.power.surplus_at(step)
        green = surplus[state.site[m]] >= core.params.window_threshold_w
        # A worker the group dropped that runs again without the group: a policy resumed
        # it, and from then on the policy decides for it (no tug of war at each boundary).
        taken = g.dropped & (state.phase[m] != SUSPENDED)
        g.policy_held |= taken
        g.dropped &= ~taken
        drop = running & ~green & ~state.pinned[m] & ~g.policy_held
        if drop.all() or (drop.sum() == running.sum() and running.any()):
            keep = int(np.argmax(np.where(running, surplus[state.site[m]], -np.inf)))
            drop[keep] = False
        for k in np.flatnonzero(drop).tolist():
            j = int(m[k])
            self._book_compute(j, float(compute[k]), float(rate[k]))
            now, start = self._step_start
            waited = np.zeros(m.size)
            waited[k] = max(0.0, (at_s - now) - start[k] - compute[k])
            if waited[k] > 0:
                self._book_wait(g, waited)     # its wait before it left
            compute[k] = 0.0
            state.remaining_gpu_s[j] = (g.outer_total - g.outer_done) * g.w_outer[k]
            core.suspend(j, at_s)
            g.dropped[k] = True
            state.counters["worker_dropouts"] += 1
        back = g.dropped & (state.phase[m] == SUSPENDED) & green & ~drop
        for k in np.flatnonzero(back).tolist():
            j = int(m[k])
            core.start_migration(j, int(state.site[j]), at_s, step, move=False)
            g.dropped[k] = False
            state.counters["worker_rejoins"] += 1
        return running & ~drop

    def _book_compute(self, j: int, compute_s: float, rate: float) -> None:
        """Training a dropped worker did in this step before it left (the core's training
        no longer sees it)."""
        if compute_s <= 0:
            return
        core = self.core
        state, inp = core.state, core.inputs
        s = int(state.site[j])
        e = compute_s * state.g_move[j] * inp.gpu_power_w[s]
        self._parts.sites.append(np.array([s]))
        self._parts.it_j.append(np.array([e]))
        state.job_energy_j[j] += e * inp.pue[s]

    def _book_wait(self, g: Group, wait: np.ndarray) -> None:
        core = self.core
        state, inp = core.state, core.inputs
        k = np.flatnonzero(wait > 0)          # running workers only: they have a site
        members = g.members[k]
        sites = state.site[members]
        e = wait[k] * state.g_move[members] * inp.gpu_idle_w[sites]
        self._parts.sites.append(sites)
        self._parts.it_j.append(e)
        state.job_energy_j[members] += e * inp.pue[sites]
        g.wait_s += wait
        state.counters["worker_wait_s"] += float(wait.sum())
        state.counters["worker_wait_j"] += float((e * inp.pue[sites]).sum())

    # ------------------------------------------------------------ results
    def summary(self) -> list[dict]:
        """Per group: outer steps done, exchanges' bytes, the workers' moves and waits."""
        state = self.core.state
        names = self.core.inputs.job_names
        return [{
            "job": g.name, "workers": int(g.members.size), "outer_steps": g.outer_done,
            "outer_steps_total": g.outer_total, "sync_every": g.sync_every,
            "sync_bytes": g.sync_bytes,
            "pseudo_gradient_bytes": float(sum(r["workers"] for r in g.log)
                                           * g.pseudo_gradient_bytes),
            "worker_moves": {names[j]: int(state.job_moves[j]) for j in g.members.tolist()},
            "worker_wait_s": {names[j]: float(w) for j, w in
                              zip(g.members.tolist(), g.wait_s.tolist(), strict=True)},
            "finish_s": float(np.nanmax(state.finish_s[g.members]))
            if (state.phase[g.members] == DONE).all() else None,
        } for g in self.groups]
