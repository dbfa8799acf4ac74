"""The live controller: a level-based reconcile loop over real trainers and site agents.

Per simulated step ``t`` (see docs/runtime.md):

1. **Observe and decide** (once per step, in one transaction): read each site's
   renewable power from the :class:`~greenhop.runtime.power.PowerSource`, let jobs
   arrive, and every ``decision_interval`` hand the policy the Observation the
   :class:`~greenhop.runtime.ledger.Ledger` builds. Accepted actions change the
   *desired* state in the database (phase, destination) and bump the job's fencing
   token; the decision and the observation it was made on go to the event log.
2. **Reconcile** until settled: compare each job's observed state (trainer alive?
   exit code? checkpoint where? transfer done?) with its phase and issue the one
   command that moves it on. Commands carry the job's token; a result that carries
   an older token is ignored (fencing), issuing a command twice is harmless
   (idempotence). Nothing here reacts to events: after a crash the same loop, on
   the same database, picks up wherever things are.
3. **Advance the clock** when every job is settled and ``dt / time_scale`` wall
   seconds have passed: the ledger books the step with the *measured* downtime and
   bytes of the migrations that ran in it.

Ctrl-C (SIGINT) or SIGTERM: every trainer checkpoints (the SDK's SIGTERM path)
and the run stops cleanly as ``stopped``; ``greenhop run`` on the same database
resumes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from greenhop.core.errors import ConfigError, RuntimeFailure
from greenhop.core.observation import DONE
from greenhop.runtime.executor import Executor, TrainerSpec
from greenhop.runtime.ledger import Ledger
from greenhop.runtime.power import PowerSource
from greenhop.runtime.replay import action_to_json, replay_decisions, snapshot
from greenhop.runtime.states import check_transition
from greenhop.runtime.store import Store

MAX_ATTEMPTS = 6
"""Retries of one phase (a transfer to a dead agent, a trainer that crashed) before the
run fails."""


@dataclass
class RunConfig:
    """Everything a controller needs besides the store, inputs, policy and executor."""

    scenario: str
    scenario_sha256: str
    policy_name: str
    time_scale: float = 3600.0
    specs: dict[str, TrainerSpec] = field(default_factory=dict)
    link_rate_bps: list[float] = field(default_factory=list)
    write_Bps: float = 2e9
    read_Bps: float = 2e9
    startup_s: float = 60.0
    decision_interval_s: float = 300.0
    window_threshold_w: float = 0.0
    start_unix_s: float = 0.0
    poll_s: float = 0.01
    max_wall_s: float = 3600.0


class Controller:
    """Runs one live run to completion (or until stopped) on ``store``.

    Args:
        store: the run database (this controller takes its owner lock).
        inputs: the scenario's arrays (attributes of the simulator's ``SimInputs``).
        policy_factory: ``() -> policy``, a fresh policy object (from the registry).
        executor: the seam to processes (:class:`~greenhop.runtime.executor.LocalExecutor`).
        power: the :class:`PowerSource` read once per simulated step.
        config: :class:`RunConfig`.
        log: callable taking one progress line.
    """

    def __init__(self, store: Store, inputs, policy_factory: Callable[[], object],
                 executor: Executor, power: PowerSource, config: RunConfig,
                 log: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.inp = inputs
        self.policy_factory = policy_factory
        self.policy = policy_factory()
        self.ex = executor
        self.power = power
        self.cfg = config
        self.log = log or (lambda msg: None)
        self.ledger = self._new_ledger()
        self.sites = list(inputs.scenario.site_names)
        self.jobs = [j.name for j in inputs.jobs]
        self.stop_requested = False
        self._stop_sent: set[tuple[str, int]] = set()
        self._since: dict[str, float] = {}
        self.decision_wall_s: list[float] = []
        self._progress: dict[str, int] = {}

    def _new_ledger(self) -> Ledger:
        c = self.cfg
        return Ledger(self.inp, write_Bps=c.write_Bps, read_Bps=c.read_Bps,
                      startup_s=c.startup_s, decision_interval_s=c.decision_interval_s,
                      window_threshold_w=c.window_threshold_w, start_unix_s=c.start_unix_s)

    # ------------------------------------------------------------ setup
    def prepare(self) -> str:
        """Take the lock, create or resume the run; returns ``"new"`` or ``"resumed"``."""
        st = self.store
        st.acquire()
        row = st.run_row()
        now = time.time()
        if row is None:
            with st.tx():
                st.con.execute(
                    "INSERT INTO run (id, scenario, scenario_sha256, policy, time_scale, status, "
                    "owner_pid, step, decided_step, n_steps, started_unix_s, updated_unix_s, "
                    "ledger) VALUES (1, ?, ?, ?, ?, 'live', ?, 0, -1, ?, ?, ?, ?)",
                    (self.cfg.scenario, self.cfg.scenario_sha256, self.cfg.policy_name,
                     self.cfg.time_scale, _pid(), int(self.inp.n_steps), now, now,
                     json.dumps(self.ledger.to_state())))
                for i, s in enumerate(self.sites):
                    st.con.execute("INSERT INTO sites (idx, name) VALUES (?, ?)", (i, s))
                for i, j in enumerate(self.jobs):
                    st.con.execute(
                        "INSERT INTO jobs (idx, name, phase, total_steps) VALUES (?, ?, "
                        "'pending', ?)", (i, j, self.cfg.specs[j].steps))
                st.event(0, "run-start", {
                    "scenario": self.cfg.scenario, "scenario_sha256": self.cfg.scenario_sha256,
                    "policy": self.cfg.policy_name, "time_scale": self.cfg.time_scale,
                    "sites": self.sites, "jobs": self.jobs})
            mode = "new"
        else:
            if row["scenario_sha256"] != self.cfg.scenario_sha256:
                raise ConfigError(
                    f"{st.path}: this database belongs to a run of {row['scenario']} with "
                    "other contents than the scenario given now; pass the same scenario to "
                    "resume it, or another --db to start afresh")
            if row["policy"] != self.cfg.policy_name:
                raise ConfigError(
                    f"{st.path}: this run uses policy {row['policy']!r}, not "
                    f"{self.cfg.policy_name!r}; resume it with --policy {row['policy']}")
            if row["status"] == "done":
                raise ConfigError(f"{st.path}: this run has already finished; its metrics are "
                                  "in the work directory (use another --db for a new run)")
            self.ledger.load_state(json.loads(row["ledger"]))
            # Bring a fresh policy object back to where it was: replay its decisions.
            scratch = self._new_ledger()
            res = replay_decisions(scratch, self.policy, list(st.events(("power", "decision"))))
            if res["mismatches"]:
                raise RuntimeFailure(
                    f"{st.path}: replaying the logged decisions gave other actions at step "
                    f"{res['mismatches'][0]['step']}: the policy is not deterministic or the "
                    "scenario changed; start a new run with another --db")
            self._recover_processes()
            with st.tx():
                st.con.execute("UPDATE run SET status = 'live', owner_pid = ?, "
                               "updated_unix_s = ? WHERE id = 1", (_pid(), now))
                st.event(row["step"], "run-resume", {"pid": _pid()})
            mode = "resumed"
        agents = self.ex.start_agents(self.sites, self.cfg.link_rate_bps)
        with st.tx():
            for s, (pid, url) in agents.items():
                st.con.execute("UPDATE sites SET agent_pid = ?, agent_url = ? WHERE name = ?",
                               (pid, url, s))
        return mode

    def _recover_processes(self) -> None:
        """After a crash: make sure no trainer of the old controller still runs, then move
        every job back to a phase the reconcile loop restarts from."""
        st = self.store
        pids = [(r["name"], r["trainer_pid"], r["trainer_start"]) for r in st.jobs()
                if r["trainer_pid"] and self.ex.is_alive(r["trainer_pid"], r["trainer_start"])]
        known = {p for _, p, _ in pids}
        # ... and any the database never heard of (killed between launch and record)
        pids += [("?", p, s) for p, s in self.ex.stray_trainers() if p not in known]
        for _, pid, start in pids:
            self.ex.stop_trainer(pid, start)  # checkpoint and exit (SIGTERM)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and any(self.ex.is_alive(p, s) for _, p, s in pids):
            time.sleep(0.05)
        for _, pid, start in pids:
            if self.ex.is_alive(pid, start):
                self.ex.kill_trainer(pid, start)
        with st.tx():
            for r in st.jobs():
                ph, new = r["phase"], None
                if ph in ("starting", "running"):
                    new = "starting"
                elif ph == "restoring":
                    new = "restoring"
                elif ph == "stopping":
                    new = "stopped"
                elif ph == "suspending":
                    new = "suspended"
                fields = {"trainer_pid": None, "trainer_start": None}
                if new is not None and new != ph:
                    check_transition(r["name"], ph, new)
                    fields["phase"] = new
                if new in ("starting", "restoring") or ph in ("starting", "restoring"):
                    fields["token"] = r["token"] + 1
                st.update_job(r["name"], **fields)
                st.event(self.ledger.next_step, "recover", {"from": ph, "to": new or ph},
                         job=r["name"])

    # ------------------------------------------------------------ state changes
    def _set(self, row, phase: str | None = None, *, bump: bool = False, **fields) -> None:
        """Change one job (own transaction, with an event)."""
        name = row["name"]
        if phase is not None:
            check_transition(name, row["phase"], phase)
            fields["phase"] = phase
        if bump:
            fields["token"] = row["token"] + 1
        with self.store.tx():
            self.store.update_job(name, **fields)
            if phase is not None and phase != row["phase"]:
                self.store.event(self.ledger.next_step, "phase",
                                 {"from": row["phase"], "to": phase,
                                  "token": fields.get("token", row["token"]),
                                  "site": fields.get("site", row["site"]),
                                  "step": fields.get("real_step", row["real_step"])}, job=name)

    def command_is_current(self, job: str, token: int) -> bool:
        """Fencing: a command (or its result) counts only if it carries the job's token."""
        return int(self.store.job(job)["token"]) == int(token)

    # ------------------------------------------------------------ decide
    def _decide(self, t: int) -> None:
        led = self.ledger
        power = self.power.renewable_w(t)
        led.record_power(t, power)
        led.arrivals(t)
        actions: list = []
        obs_dyn = None
        if led.decides(t):
            t0 = time.perf_counter()
            obs = led.observation(t)
            obs_dyn = snapshot(led)
            actions = list(self.policy.decide(obs))
            led.counters["policy_calls"] += 1
            self.decision_wall_s.append(time.perf_counter() - t0)
        logged = [action_to_json(a, led.site_names, led.job_names) for a in actions]
        accepted = led.apply(actions, t) + led.place_queued(t)
        st = self.store
        now = time.time()
        with st.tx():
            st.event(t, "power", {"renewable_w": power.tolist()})
            if obs_dyn is not None:
                st.event(t, "decision", {
                    "obs": obs_dyn, "actions": logged,
                    "accepted": [[k, self.jobs[j], self.sites[s], self.sites[d]]
                                 for k, j, s, d in accepted]})
            rows = {r["name"]: dict(r) for r in st.jobs()}
            for j in np.flatnonzero(led.phase != 0).tolist():
                if rows[self.jobs[j]]["phase"] == "pending":
                    st.update_job(self.jobs[j], phase="queued")
                    rows[self.jobs[j]]["phase"] = "queued"
            for kind, j, s, d in accepted:
                name = self.jobs[j]
                r = rows[name]
                if kind == "place":
                    check_transition(name, r["phase"], "starting")
                    st.update_job(name, phase="starting", site=s, dest=None,
                                  token=r["token"] + 1, move_kind=None)
                elif kind == "migrate":
                    check_transition(name, r["phase"], "saving")
                    st.update_job(name, phase="saving", dest=d, token=r["token"] + 1,
                                  move_kind="migrate", move_started_unix_s=now, save_s=None,
                                  transfer_s=None, restore_s=None, move_bytes=None, attempts=0)
                elif kind == "suspend":
                    check_transition(name, r["phase"], "suspending")
                    st.update_job(name, phase="suspending", token=r["token"] + 1)
                elif kind == "resume":
                    check_transition(name, r["phase"], "restoring")
                    st.update_job(name, phase="restoring", token=r["token"] + 1,
                                  move_kind="resume", move_started_unix_s=now, save_s=0.0,
                                  transfer_s=0.0, restore_s=None, move_bytes=0.0)
                st.event(t, kind, {"src": self.sites[s], "dst": self.sites[d]}, job=name)
            sur = power - self.inp.base_demand_w
            for i in range(len(self.sites)):
                st.con.execute("UPDATE sites SET renewable_w = ?, surplus_w = ? WHERE idx = ?",
                               (float(power[i]), float(sur[i]), i))
            st.con.execute("UPDATE run SET decided_step = ?, ledger = ?, updated_unix_s = ? "
                           "WHERE id = 1", (t, json.dumps(led.to_state()), now))
        for kind, j, s, d in accepted:
            if kind == "migrate":
                self.log(f"step {t}: migrate {self.jobs[j]} {self.sites[s]} -> {self.sites[d]}")

    # ------------------------------------------------------------ reconcile
    def reconcile(self) -> bool:
        """One pass over every job; returns True when all are settled."""
        settled = True
        self._progress: dict[str, int] = {}
        for r in self.store.jobs():
            if not self._reconcile_job(r):
                settled = False
        if self._progress:  # training steps seen this pass, one transaction for all
            with self.store.tx():
                for name, step in self._progress.items():
                    self.store.update_job(name, real_step=step)
        return settled

    def _spec(self, name: str) -> TrainerSpec:
        return self.cfg.specs[name]

    def _start(self, r, site: int) -> None:
        name = r["name"]
        self._check_no_other_trainer(r)
        pid, start = self.ex.start_trainer(name, self.sites[site], self._spec(name), r["token"])
        self._since[name] = time.monotonic()
        with self.store.tx():
            self.store.update_job(name, trainer_pid=pid, trainer_start=start,
                                  trainer_token=r["token"])
            self.store.event(self.ledger.next_step, "trainer-start",
                             {"site": self.sites[site], "pid": pid, "token": r["token"]},
                             job=name)

    def _check_no_other_trainer(self, r) -> None:
        if r["trainer_pid"] and self.ex.is_alive(r["trainer_pid"], r["trainer_start"]):
            raise RuntimeFailure(
                f"job {r['name']!r}: a trainer (pid {r['trainer_pid']}) is still alive; "
                "refusing to start a second one")

    def _finished_at(self, r, site: int) -> bool:
        step = self.ex.checkpoint_step(r["name"], self.sites[site])
        return step is not None and step >= r["total_steps"]

    def _trainer(self, r):
        return self.ex.trainer_status(r["name"], r["trainer_pid"], r["trainer_start"],
                                      r["trainer_token"])

    def _reconcile_job(self, r) -> bool:
        ph = r["phase"]
        name = r["name"]
        if ph in ("pending", "queued", "suspended", "done"):
            return True
        if ph == "stopped":
            if self.stop_requested:
                return True
            self._set(r, "restoring", bump=True, move_kind=None)
            return False
        current = r["trainer_token"] == r["token"]
        if ph in ("starting", "restoring"):
            site = r["site"] if ph == "starting" or r["move_kind"] != "migrate" else r["dest"]
            if not current or not r["trainer_pid"]:
                if self._finished_at(r, site):
                    self._arrived(r, site)
                    return True
                self._start(r, site)
                return False
            ts = self._trainer(r)
            if ts.alive and ts.step < 0:
                return False
            if ts.alive or ts.exit_code == 0:
                self._arrived(r, site, trainer_gone=not ts.alive)
                return True
            self._retry(r, f"trainer exited with code {ts.exit_code} while starting")
            return False
        if ph == "running":
            if not r["trainer_pid"]:
                return True
            ts = self._trainer(r)
            if ts.alive:
                if ts.step > r["real_step"]:
                    self._progress[name] = ts.step
                return True
            if ts.exit_code == 0 or self._finished_at(r, r["site"]):
                self._set(r, None, trainer_pid=None, trainer_start=None,
                          real_step=r["total_steps"])
                return True
            self._set(r, "starting", bump=True, trainer_pid=None, trainer_start=None)
            return False
        if ph in ("saving", "suspending", "stopping"):
            if r["trainer_pid"] and self._trainer(r).alive:
                key = (name, r["token"])
                if key not in self._stop_sent:
                    self.ex.stop_trainer(r["trainer_pid"], r["trainer_start"])
                    self._stop_sent.add(key)
                return False
            ts = self._trainer(r) if r["trainer_pid"] else None
            step = self.ex.checkpoint_step(name, self.sites[r["site"]])
            extra = {"trainer_pid": None, "trainer_start": None}
            if step is not None:
                extra["real_step"] = step
            if ts is not None and ts.exit_code not in (None, 0, 75):
                extra["attempts"] = r["attempts"] + 1
            if ph == "suspending":
                self._set(r, "suspended", **extra)
            elif ph == "stopping":
                self._set(r, "stopped", **extra)
            else:
                save_s = time.time() - (r["move_started_unix_s"] or time.time())
                if step is None:
                    # stopped before its first checkpoint (e.g. during start-up): nothing
                    # to carry, the job starts afresh at the destination
                    self._set(r, "restoring", save_s=save_s, transfer_s=0.0, move_bytes=0.0,
                              **extra)
                else:
                    self._set(r, "transferring", save_s=save_s, **extra)
                self._since[name] = time.monotonic()
            return ph != "saving"
        if ph == "transferring":
            src, dst = self.sites[r["site"]], self.sites[r["dest"]]
            state, res = self.ex.transfer_status(name, r["token"])
            if state == "none":
                self.ex.ensure_agent(src)
                self.ex.ensure_agent(dst)
                self.ex.start_transfer(name, src, dst, r["token"])
                self._since[name] = time.monotonic()
                return False
            if state == "running":
                return False
            if state == "failed":
                with self.store.tx():
                    self.store.event(self.ledger.next_step, "transfer-failed",
                                     {"error": str(res), "attempt": r["attempts"] + 1}, job=name)
                if r["attempts"] + 1 >= MAX_ATTEMPTS:
                    raise RuntimeFailure(f"job {name!r}: transfer {src} -> {dst} failed "
                                         f"{MAX_ATTEMPTS} times; last error: {res}")
                self._set(r, "transferring", bump=True, attempts=r["attempts"] + 1)
                return False
            t_s = time.monotonic() - self._since.get(name, time.monotonic())
            nbytes = float(res.get("total_bytes", 0)) if isinstance(res, dict) else 0.0
            self._set(r, "restoring", transfer_s=t_s, move_bytes=nbytes)
            self._since[name] = time.monotonic()
            return False
        if ph == "finishing":
            ts = self._trainer(r) if r["trainer_pid"] else None
            if ts is not None and ts.alive:
                return False
            if (ts is not None and ts.exit_code == 0) or self._finished_at(r, r["site"]):
                if r["trainer_pid"]:
                    self._set(r, None, trainer_pid=None, trainer_start=None,
                              real_step=r["total_steps"])
                return True
            # the trainer is gone before its last step: another one, same phase
            self._set(r, None, bump=True, trainer_pid=None, trainer_start=None)
            self._start(self.store.job(name), r["site"])
            return False
        return True

    def _arrived(self, r, site: int, *, trainer_gone: bool = False) -> None:
        fields = {"site": site, "dest": None}
        if r["phase"] == "restoring" and r["move_kind"] in ("migrate", "resume") \
                and r["restore_s"] is None:
            fields["restore_s"] = time.monotonic() - self._since.get(r["name"], time.monotonic())
        if trainer_gone:
            fields.update(trainer_pid=None, trainer_start=None, real_step=r["total_steps"])
        self._set(r, "running", **fields)

    def _retry(self, r, why: str) -> None:
        name = r["name"]
        if r["attempts"] + 1 >= MAX_ATTEMPTS:
            raise RuntimeFailure(f"job {name!r}: {why}, {MAX_ATTEMPTS} times; see the trainer "
                                 "logs in the work directory")
        self._set(r, r["phase"], bump=True, attempts=r["attempts"] + 1, trainer_pid=None,
                  trainer_start=None)

    # ------------------------------------------------------------ the loop
    def _settle(self, until_wall: float, deadline: float) -> bool:
        """Reconcile until settled and the step's wall time is over; False if stopped."""
        while True:
            if self.stop_requested:
                return False
            settled = self.reconcile()
            if settled and time.monotonic() >= until_wall:
                return True
            if time.monotonic() > deadline:
                raise RuntimeFailure(
                    f"the run did not settle within {self.cfg.max_wall_s:g} s of wall time; "
                    "see the job phases with `greenhop status` and the logs")
            time.sleep(self.cfg.poll_s)

    def _book(self, t: int, deadline: float) -> bool:
        """Wait for jobs that finish in step ``t``, then close the step in the ledger."""
        led = self.ledger
        moves = {}
        for r in self.store.jobs():
            if r["move_kind"] in ("migrate", "resume") and r["restore_s"] is not None:
                j = self.jobs.index(r["name"])
                moves[j] = {"save_s": r["save_s"] or 0.0, "transfer_s": r["transfer_s"] or 0.0,
                            "restore_s": r["restore_s"] or 0.0, "bytes": r["move_bytes"] or 0.0}
        downs = {j: m["save_s"] + m["transfer_s"] + m["restore_s"] for j, m in moves.items()}
        for j in led.finishing(t, downs):
            r = self.store.job(self.jobs[j])
            if r["phase"] == "running":
                self._set(r, "finishing")
        if not self._settle(0.0, deadline):
            return False
        finished = led.account(t, moves)
        st = self.store
        with st.tx():
            for j in finished:
                r = st.job(self.jobs[j])
                check_transition(r["name"], r["phase"], "done")
                st.update_job(r["name"], phase="done")
                st.event(t, "done", {"site": self.sites[int(led.site[j])],
                                     "finish_s": float(led.finish_s[j])}, job=r["name"])
            for j in moves:
                st.update_job(self.jobs[j], move_kind=None)
            st.con.execute("UPDATE run SET step = ?, ledger = ?, updated_unix_s = ? WHERE id = 1",
                           (t + 1, json.dumps(led.to_state()), time.time()))
        return True

    def _book_idle(self, T: int) -> None:
        """Every job is done: book the rest of the horizon (base load only) without waiting,
        so the energy totals cover the same horizon as a simulation."""
        led = self.ledger
        with self.store.tx():
            while led.next_step < T:
                t = led.next_step
                power = self.power.renewable_w(t)
                led.record_power(t, power)
                self.store.event(t, "power", {"renewable_w": power.tolist()})
                led.account(t, {})
            self.store.con.execute("UPDATE run SET step = ?, decided_step = ?, ledger = ? "
                                   "WHERE id = 1", (T, T - 1, json.dumps(led.to_state())))

    def run(self) -> dict:
        """Run until every job is done or the horizon ends (or a stop request); returns a
        summary ``{"status", "step", "migrations", "wall_s"}``."""
        led = self.ledger
        T = int(self.inp.n_steps)
        step_wall = led.dt / self.cfg.time_scale
        t_start = time.monotonic()
        deadline = t_start + self.cfg.max_wall_s
        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):
                old[sig] = signal.signal(sig, self._on_signal)
        try:
            while led.next_step < T and not (led.phase == DONE).all():
                t = led.next_step
                wall0 = time.monotonic()
                if int(self.store.run_row()["decided_step"]) < t:
                    self._decide(t)
                if not self._settle(wall0 + step_wall, deadline):
                    break
                if not self._book(t, deadline):
                    break
                if (t + 1) % max(1, T // 10) == 0:
                    self.log(f"step {t + 1}/{T}: {int((led.phase == DONE).sum())}/{led.J} jobs "
                             f"done, {sum(1 for m in led.migrations if m.get('end_s'))} "
                             f"migrations, {time.monotonic() - t_start:.1f} s")
            status = "stopped" if self.stop_requested else "done"
            if status == "done":
                self._book_idle(T)
            if self.stop_requested:
                self._stop_all(deadline)
            else:
                self.ex.cleanup(self.jobs, self.sites)
            with self.store.tx():
                self.store.con.execute("UPDATE run SET status = ?, owner_pid = NULL, "
                                       "updated_unix_s = ? WHERE id = 1", (status, time.time()))
                self.store.event(led.next_step, "run-" + status, {
                    "wall_s": time.monotonic() - t_start})
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)
            self.ex.stop_agents()
        return {"status": status, "step": led.next_step,
                "migrations": sum(1 for m in led.migrations if m.get("end_s") is not None),
                "wall_s": time.monotonic() - t_start}

    def _on_signal(self, signum, frame) -> None:
        self.stop_requested = True

    def _stop_all(self, deadline: float) -> None:
        """Ctrl-C: let moves in flight land, then checkpoint every trainer and stop."""
        self.stop_requested = False
        grace = time.monotonic() + 120.0
        while not self.reconcile():
            if time.monotonic() > min(deadline, grace):
                break
            time.sleep(self.cfg.poll_s)
        for r in self.store.jobs():
            if r["phase"] in ("running", "starting", "restoring", "finishing") \
                    and r["trainer_pid"]:
                self._set(r, "stopping")
            elif r["phase"] in ("starting", "restoring"):
                pass
        while True:
            busy = False
            for r in self.store.jobs():
                if r["phase"] == "stopping":
                    self._reconcile_job(r)
                    busy = True
            if not busy or time.monotonic() > grace:
                break
            time.sleep(self.cfg.poll_s)
        self.stop_requested = True


def _pid() -> int:
    return os.getpid()
