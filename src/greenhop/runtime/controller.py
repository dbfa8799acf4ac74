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
resumes it. ``max_wall_s`` running out stops it the same way (with the reason recorded).
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

from greenhop.core.errors import ConfigError, GreenhopError, RuntimeFailure
from greenhop.core.names import check_name
from greenhop.core.observation import DONE, MIGRATING
from greenhop.fleet.forecasts import ForecastSpec
from greenhop.policies.base import decide
from greenhop.runtime import operate
from greenhop.runtime.executor import Executor, TrainerNotStarted, TrainerSpec
from greenhop.runtime.ledger import Ledger, live_forecasts
from greenhop.runtime.power import PowerSource
from greenhop.runtime.replay import action_to_json, replay_decisions, snapshot
from greenhop.runtime.states import DECIDABLE, check_transition
from greenhop.runtime.store import Store, event_body
from greenhop.runtime.store_errors import DamagedDatabase, DatabaseGone

MAX_ATTEMPTS = 6
"""Failed attempts of one phase in a row (a transfer to a dead agent, a trainer that
crashed) before the job is ``failed`` and the run stops with that error. A trainer that
saved a newer checkpoint before it crashed, or ran a checkpoint interval past where it
resumed, ends the row."""
BACKOFF_BASE_S = 0.5
"""Wait before the second attempt [s]; it doubles with every further attempt ..."""
BACKOFF_CAP_S = 8.0
"""... up to this cap [s]."""
HEARTBEAT_S = 1.0
"""How often a live controller stamps ``run.heartbeat_unix_s`` [s]."""


def backoff_s(attempt: int, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S) -> float:
    """Capped exponential backoff: the wait before retry number ``attempt`` (1, 2, ...) [s]."""
    return min(cap_s, base_s * 2.0 ** max(0, attempt - 1))


PROTOCOL = "the job does not follow the greenhop job protocol (docs/workload.md): "
EXIT_HINT = "a greenhop job exits 0 when finished and 75 after checkpointing on request"


class RunFinished(ConfigError):
    """The database holds a run that has finished: nothing to resume."""


class JobFailed(RuntimeFailure):
    """A job exhausted its attempts (or has no intact checkpoint to resume); the run stops."""


class PolicyStopped(RuntimeFailure):
    """The policy failed in ``decide`` (an exception in its code, actions of a kind its
    capabilities do not declare): the run stops as for a failed job (every trainer
    checkpointed, the run recorded ``failed``). ``original``: the policy's error, whose
    class gives the exit code (2 for a ConfigError, e.g. a forecast level the run lacks)."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


class OutOfWallTime(RuntimeFailure):
    """The run did not settle within ``--max-wall``: it stops as Ctrl-C stops it (every
    trainer checkpoints) and is recorded ``stopped`` with this error, so it can resume."""


START_TIMEOUT_S = 900.0
"""How long a started trainer may take to report its first step (import, restore), or a
training one its next step, before it counts as hung and is killed and started again [s];
restores have taken 22 s under a load of 10 on a 2-core machine."""
STOP_HONOUR_S = 600.0
"""How long a trainer asked to checkpoint and stop (a move, a suspension, a stop) may take
before it is killed as not honouring the request [s]: its step, then its save. The move
goes on from its last checkpoint."""
STOP_GRACE_S = 120.0
"""How long a stop waits for moves in flight to land and trainers to checkpoint [s]."""
AT_REST = ("pending", "queued", "suspended", "stopped", "done", "failed")
"""Phases in which a stopped job has no trainer and no move in flight: its checkpoint (if
it trained at all) is on disk."""


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
    start_timeout_s: float = START_TIMEOUT_S
    run_id: str = ""
    forecast: ForecastSpec | None = None   # the scenario's [forecast] (default when None)
    seed: int = 0                          # the scenario's seed (forecast audits)
    #: the file a policy loaded from a file or package came from, and its SHA-256
    #: ({"file", "sha256"}; None for a built-in): a resume says when it has changed
    policy_source: dict[str, str] | None = None


def refuse_another_run(path, row, cfg: RunConfig) -> None:
    """Refuse to resume the run ``row`` of the database ``path`` as the run ``cfg`` says:
    one of another scenario file (by SHA-256) or policy is a :class:`ConfigError`, one
    that finished a :class:`RunFinished`. ``greenhop run`` asks before it makes a work
    directory; the controller again before it writes anything."""
    if row["scenario_sha256"] != cfg.scenario_sha256:
        raise ConfigError(
            f"{path}: this database belongs to a run of {row['scenario']} with "
            "other contents than the scenario given now; pass the same scenario to "
            "resume it, or another --db to start afresh")
    if row["policy"] != cfg.policy_name:
        raise ConfigError(
            f"{path}: this run uses policy {row['policy']!r}, not "
            f"{cfg.policy_name!r}; resume it with --policy {row['policy']}")
    if row["status"] == "done":
        raise RunFinished(f"{path}: this run has already finished; its metrics are "
                          "in the work directory (use another --db for a new run)")


def check_live_run(policy, inputs) -> None:
    """Refuse, with a :class:`ConfigError`, what a live run cannot do: a policy that sees
    the future or scales GPU counts, a job spread over sites. ``greenhop run`` calls it
    before it writes anything; the :class:`Controller` calls it again."""
    if policy.capabilities.sees_future:
        raise ConfigError(f"policy '{policy.name}' sees the future (for comparison in the "
                          "simulator only); a live run cannot give it what has not happened")
    if policy.capabilities.scales:
        raise ConfigError(f"policy '{policy.name}' scales jobs' GPU counts, which a live run "
                          "cannot do (a trainer process keeps the GPUs it started with); run it "
                          "in the simulator, or pick a policy that does not scale")
    spread = [j.worker.group for j in inputs.jobs if getattr(j, "worker", None) is not None]
    if spread:
        raise ConfigError(f"job '{spread[0]}' is spread over sites (workers = N); a live run "
                          "trains one process per job: run it with the live DiLoCo driver "
                          "(docs/distributed.md) or in the simulator")


class Controller:
    """Runs one live run to completion (or until stopped) on ``store``.

    Args:
        store: the run database (this controller takes its owner lock).
        inputs: the fleet (:class:`~greenhop.fleet.inputs.FleetInputs`; the CLI hands over the
            scenario's).
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
        check_live_run(self.policy, inputs)
        self.ex = executor
        self.power = power
        self.cfg = config
        self.log = log or (lambda msg: None)
        self.ledger = self._new_ledger()
        self.sites = [check_name("site", s, "scenario sites") for s in
                      inputs.params.site_names]
        self.jobs = [check_name("job", j.name, "scenario jobs") for j in inputs.jobs]
        self.stop_requested = False
        self.failure: RuntimeFailure | None = None  # why the last run() did not finish
        self._old_signals: dict | None = None  # the handlers catch_signals replaced
        # stop requests sent, per trainer process: when [time.monotonic()]
        self._stop_sent: dict[tuple[str, int, str], float] = {}
        self.stop_honour_s = STOP_HONOUR_S
        self._beat = 0.0
        self.backoff_base_s = BACKOFF_BASE_S
        self.stop_grace_s = STOP_GRACE_S
        self._since: dict[str, float] = {}
        self.decision_wall_s: list[float] = []
        self._progress: dict[str, int] = {}
        self._finishing: set[str] = set()   # jobs the books finish in the step being closed
        # per job: (trainer pid, last step it reported, when it was first seen) [s, monotonic]
        self._last_step: dict[str, tuple[int, int, float]] = {}
        self._hung: dict[str, str] = {}     # why a trainer was killed as hung, per job

    def _new_ledger(self) -> Ledger:
        return Ledger(self.inp, forecasts=live_forecasts(self.inp, self.policy,
                                                         self.cfg.forecast, self.cfg.seed))

    # ------------------------------------------------------------ setup
    def prepare(self) -> str:
        """Take the lock, create or resume the run; returns ``"new"`` or ``"resumed"``."""
        st = self.store
        st.acquire()
        row, sites, jobs = st.state()  # a damaged value is refused before anything is written
        if row is not None:
            self._check_resumable(row, sites, jobs)
        # the agents first: an agent that does not answer ends the start with nothing written
        agents = self.ex.start_agents(self.sites, self.cfg.link_rate_bps)
        try:
            mode = self._prepare(row)
        except BaseException:
            self.ex.stop_agents()
            raise
        with st.tx():
            for s, (pid, url) in agents.items():
                st.con.execute("UPDATE sites SET agent_pid = ?, agent_url = ?, "
                               "agent_started_unix_s = ? WHERE name = ?",
                               (pid, url, time.time(), s))
        return mode

    def _check_resumable(self, row, sites, jobs) -> None:
        """Refuse to resume the run ``row`` (its ``sites`` and ``jobs`` rows, checked by
        :meth:`~greenhop.runtime.store.Store.state`) with another scenario, policy, workload
        or job length, or when it has finished or its sites and jobs are not the scenario's
        (a damaged file): nothing is written before this passes."""
        st = self.store
        refuse_another_run(st.path, row, self.cfg)
        for table, stored, given in (("sites", [r["name"] for r in sites], self.sites),
                                     ("jobs", [r["name"] for r in jobs], self.jobs)):
            if stored != given:  # the same scenario file: the database was changed
                raise DamagedDatabase(
                    f"{st.path}: table {table}: the run's {table} are "
                    f"{', '.join(stored) or 'none'}, its scenario's {', '.join(given)}; "
                    "restore the database from a copy (nothing was changed)")
        self._check_workloads()
        for r in jobs:  # a job's length is part of the run: its checkpoints count to it
            spec = self.cfg.specs.get(r["name"])
            if spec is not None and int(r["total_steps"]) != spec.steps:
                raise ConfigError(
                    f"{st.path}: this run trains job {r['name']!r} for {r['total_steps']} "
                    f"steps, not {spec.steps}; resume it with --train-steps "
                    f"{r['total_steps']}")

    def _run_start(self) -> dict:
        """The body of the run's ``run-start`` event (``{}`` for a run without one)."""
        st = self.store
        row = st.con.execute("SELECT seq, body FROM events WHERE kind = 'run-start' "
                             "ORDER BY seq LIMIT 1").fetchone()
        return {} if row is None else event_body(st.path, row["seq"], "run-start", row["body"])

    def _policy_source_changed(self) -> str | None:
        """The policy's file when its content differs from the one the run started with
        (``None``: the same, a built-in, or a run that recorded none)."""
        was, now = self._run_start().get("policy_source"), self.cfg.policy_source
        if not isinstance(was, dict) or now is None or was.get("sha256") == now["sha256"]:
            return None
        return now["file"]

    def _workloads(self) -> dict[str, str]:
        """The reference workload of each job that runs one (not its own command)."""
        return {j: spec.workload for j, spec in self.cfg.specs.items() if not spec.command}

    def _check_workloads(self) -> None:
        """A job's checkpoints are its workload's: a resume with another --workload would
        only fail later, in every trainer (runs before this check recorded none)."""
        stored = self._run_start().get("workloads") or {}
        for job, now in self._workloads().items():
            was = stored.get(job)
            if was is not None and was != now:
                raise ConfigError(
                    f"{self.store.path}: this run trains job {job!r} with workload {was!r}, "
                    f"not {now!r}; resume it with --workload {was}")

    def _prepare(self, row) -> str:
        st = self.store
        now = time.time()
        if row is None:
            with st.tx():
                st.con.execute(
                    "INSERT INTO run (id, scenario, scenario_sha256, policy, time_scale, status, "
                    "owner_pid, step, decided_step, n_steps, started_unix_s, updated_unix_s, "
                    "ledger, run_id, heartbeat_unix_s) "
                    "VALUES (1, ?, ?, ?, ?, 'live', ?, 0, -1, ?, ?, ?, ?, ?, ?)",
                    (self.cfg.scenario, self.cfg.scenario_sha256, self.cfg.policy_name,
                     self.cfg.time_scale, _pid(), int(self.inp.n_steps), now, now,
                     json.dumps(self.ledger.to_state()), self.cfg.run_id or None, now))
                for i, s in enumerate(self.sites):
                    st.con.execute("INSERT INTO sites (idx, name) VALUES (?, ?)", (i, s))
                for i, j in enumerate(self.jobs):
                    st.con.execute(
                        "INSERT INTO jobs (idx, name, phase, total_steps) VALUES (?, ?, "
                        "'pending', ?)", (i, j, self.cfg.specs[j].steps))
                st.event(0, "run-start", {
                    "scenario": self.cfg.scenario, "scenario_sha256": self.cfg.scenario_sha256,
                    "policy": self.cfg.policy_name, "time_scale": self.cfg.time_scale,
                    "sites": self.sites, "jobs": self.jobs, "workloads": self._workloads(),
                    "n_steps": int(self.inp.n_steps), "policy_source": self.cfg.policy_source})
            mode = "new"
        else:
            self.ledger.load_state(json.loads(row["ledger"]))
            # Bring a fresh policy object back to where it was: replay its decisions.
            scratch = self._new_ledger()
            res = replay_decisions(scratch, self.policy, list(st.events(("power", "decision"))))
            changed = self._policy_source_changed()
            if res["mismatches"]:
                why = (f"the policy file {changed} changed since the run started" if changed
                       else "the policy is not deterministic or the scenario changed")
                raise RuntimeFailure(
                    f"{st.path}: replaying the logged decisions gave other actions at step "
                    f"{res['mismatches'][0]['step']}: {why}; start a new run with another "
                    "--db" + (", or put the file back as it was" if changed else ""))
            if changed:
                self.log(f"note: the policy file {changed} changed since the run started; "
                         "the decisions logged so far replay the same with it, so the run "
                         "resumes with the new file")
            self._recover_processes()
            self.ex.cleanup_staging(self.jobs, self.sites)
            with st.tx():
                st.con.execute("UPDATE run SET status = 'live', owner_pid = ?, error = NULL, "
                               "updated_unix_s = ?, heartbeat_unix_s = ? WHERE id = 1",
                               (_pid(), now, now))
                st.event(row["step"], "run-resume", {"pid": _pid()})
            mode = "resumed"
        return mode

    def _ensure_agent(self, site: str) -> tuple[int, str]:
        """The site's agent, restarted if it died; a new pid is recorded (and logged)."""
        pid, url = self.ex.ensure_agent(site)
        row = self.store.con.execute("SELECT agent_pid FROM sites WHERE name = ?",
                                     (site,)).fetchone()
        if row is not None and row["agent_pid"] != pid:
            with self.store.tx():
                self.store.con.execute(
                    "UPDATE sites SET agent_pid = ?, agent_url = ?, agent_started_unix_s = ?, "
                    "agent_restarts = agent_restarts + 1 WHERE name = ?",
                    (pid, url, time.time(), site))
                self.store.event(self.ledger.next_step, "agent-restart",
                                 {"site": site, "old_pid": row["agent_pid"], "pid": pid,
                                  "url": url})
        return pid, url

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
        # a trainer the dead controller never saw progress from may have saved some: that
        # ends the job's row of failed attempts, as it would have had the controller lived
        progressed = {r["name"] for r in st.jobs() if r["attempts"] and r["phase"] in (
            "starting", "running") and self._saved_newer(r)}
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
                elif ph == "failed":  # a restarted run tries the failed job again
                    new = r["failed_from"] if r["failed_from"] in (
                        "starting", "transferring", "restoring") else "restoring"
                fields = {"trainer_pid": None, "trainer_start": None}
                if ph == "failed":
                    fields.update(attempts=0, error=None, retry_at_unix_s=None,
                                  failed_from=None)
                if r["name"] in progressed:
                    fields.update(attempts=0, retry_at_unix_s=None)
                if new is not None and new != ph:
                    check_transition(r["name"], ph, new)
                    fields["phase"] = new
                if new in ("starting", "restoring", "transferring") or ph in (
                        "starting", "restoring"):
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
            try:
                actions = decide(self.policy, obs)
            except GreenhopError as exc:  # already names the policy, the step and the line
                raise PolicyStopped(exc) from exc
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
            # Only the rows this step changes: jobs that arrived, and jobs acted on.
            rows = {r["name"]: dict(r) for r in st.jobs_in_phase("pending")}
            for j in np.flatnonzero(led.phase != 0).tolist():
                row = rows.get(self.jobs[j])
                if row is not None:
                    st.update_job(self.jobs[j], phase="queued")
                    row["phase"] = "queued"
            for _kind, j, _s, _d in accepted:
                if self.jobs[j] not in rows:
                    rows[self.jobs[j]] = dict(st.job(self.jobs[j]))
            for kind, j, s, d in accepted:
                self._start_action(t, kind, rows[self.jobs[j]], s, d, now)
            sur = power - self.inp.base_demand_w
            for i in range(len(self.sites)):
                st.con.execute("UPDATE sites SET renewable_w = ?, surplus_w = ? WHERE idx = ?",
                               (float(power[i]), float(sur[i]), i))
            st.con.execute("UPDATE run SET decided_step = ?, ledger = ?, updated_unix_s = ? "
                           "WHERE id = 1", (t, json.dumps(led.to_state()), now))
        for kind, j, s, d in accepted:
            if kind == "migrate":
                self.log(f"step {t}: migrate {self.jobs[j]} {self.sites[s]} -> {self.sites[d]}")

    def _start_action(self, t: int, kind: str, r, s: int, d: int, now: float,
                      by: str | None = None) -> None:
        """Write the desired state of an accepted action (``place | migrate | suspend |
        resume``) for job row ``r`` and its event, inside the caller's transaction; ``by``
        names who asked when it was not the policy (e.g. ``"operator"``)."""
        st = self.store
        name = r["name"]
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
        body = {"src": self.sites[s], "dst": self.sites[d]}
        if by is not None:
            body["by"] = by
        st.event(t, kind, body, job=name)

    # ------------------------------------------------------------ reconcile
    def reconcile(self) -> bool:
        """One pass over every job; returns True when all are settled."""
        settled = True
        self._progress: dict[str, int] = {}
        self._recovered: set[str] = set()
        for r in self.store.jobs():
            if not self._reconcile_job(r):
                settled = False
        if self._progress:  # training steps seen this pass, one transaction for all
            with self.store.tx():
                for name, step in self._progress.items():
                    if name in self._recovered:
                        self.store.update_job(name, real_step=step, attempts=0, error=None,
                                              retry_at_unix_s=None)
                    else:
                        self.store.update_job(name, real_step=step)
        return settled

    def _spec(self, name: str) -> TrainerSpec:
        return self.cfg.specs[name]

    def _start(self, r, site: int) -> bool:
        """Start ``r``'s trainer at ``site`` from the newest *intact* checkpoint there;
        False when it was not started (the pulled copy is corrupt: pull again)."""
        name = r["name"]
        self._check_no_other_trainer(r)
        sname = self.sites[site]
        step, moved = self._intact_and_moved(r, site)
        expect = r["expect_step"]
        if expect is not None and (step is None or step < expect):
            here = f"step {expect} of {name!r} at {sname}"
            if r["phase"] == "restoring" and r["move_kind"] == "migrate" \
                    and r["dest"] is not None and r["dest"] == site:
                # the pulled copy did not verify: pull it again (the source still has it)
                why = f"{here} did not verify after the transfer; pulling it again"
                with self.store.tx():
                    self.store.event(self.ledger.next_step, "restore-failed",
                                     {"site": sname, "error": why}, job=name)
                self._set(r, "transferring", bump=True, error=why,
                          **self._attempt(r, why))
                return False
            from greenhop.workload.checkpoint import step_dir_name

            # a copy moved aside just now did not verify; otherwise it is not there (deleted,
            # never written, or moved aside by an earlier check)
            lost = ("does not verify" if any(m.startswith(step_dir_name(expect) + ":")
                                             for m in moved) else "is missing")
            # An intact copy here, if older, is used unless the expected one was recorded
            # elsewhere; with none here, the newest recorded anywhere beats failing.
            found = self._recorded_elsewhere(
                name, site, newer_than=None if step is None else expect - 1)
            if found is not None:  # a copy was recorded at another site: pull it
                other, got = found
                older = got < expect
                why = (f"{here} {lost}; pulling "
                       + (f"the older step {got} from {self.sites[other]}, the newest copy "
                          "recorded elsewhere" if older else
                          f"it again from {self.sites[other]}, where it was recorded"))
                with self.store.tx():
                    self.store.event(self.ledger.next_step, "restore-failed",
                                     {"site": sname, "error": why}, job=name)
                    if older:
                        self.store.event(self.ledger.next_step, "checkpoint-fallback",
                                         {"site": self.sites[other], "expected": expect,
                                          "step": got}, job=name)
                self._set(r, "transferring", bump=True, site=other, dest=site,
                          move_kind="migrate", error=why,
                          **({"expect_step": got} if older else {}), **self._attempt(r, why))
                return False
            if step is None:
                self._fail(r, f"no intact checkpoint of job {name!r} at {sname} (expected "
                              f"{here}), nor a recorded copy at any other site; refusing to "
                              "restart it from scratch: put its checkpoint folder back "
                              f"({self.sites[site]}/{name}/ under the work directory's "
                              "sites/), or start a new run with another --db")
            with self.store.tx():
                self.store.event(self.ledger.next_step, "checkpoint-fallback",
                                 {"site": sname, "expected": expect, "step": step}, job=name)
            self.log(f"{name}: {here} {lost}; resuming from the older intact step {step}")
        try:
            pid, start = self.ex.start_trainer(name, sname, self._spec(name), r["token"],
                                               resume_step=step)
        except TrainerNotStarted as exc:  # the run stops as for any failed job
            self._fail(r, str(exc))
        self._since[name] = time.monotonic()
        with self.store.tx():
            self.store.update_job(name, trainer_pid=pid, trainer_start=start,
                                  trainer_token=r["token"], expect_step=step)
            self.store.event(self.ledger.next_step, "trainer-start",
                             {"site": sname, "pid": pid, "token": r["token"],
                              "resume_step": step}, job=name)
        return True

    def _recorded_elsewhere(self, name: str, site: int, *, newer_than: int | None
                            ) -> tuple[int, int] | None:
        """``(site, step)`` of the newest checkpoint of ``name`` the controller recorded at
        another site than ``site``, if it is newer than ``newer_than`` (None: any); else
        None. Whether it still verifies is the transfer's check."""
        for row in self.store.con.execute(
                "SELECT site, step FROM checkpoints WHERE job = ? AND step > ? AND site != ? "
                "ORDER BY step DESC, unix_s DESC",
                (name, -1 if newer_than is None else int(newer_than), self.sites[site])):
            if row["site"] in self.sites:
                return self.sites.index(row["site"]), int(row["step"])
        return None

    def _attempt(self, r, why: str, before: int | None = None) -> dict:
        """Fields of one more failed attempt of ``r``'s phase (with the backoff deadline);
        past :data:`MAX_ATTEMPTS` the job fails. ``before``: the failed attempts to count
        on from (default: ``r``'s; 0 starts a new streak)."""
        n = (r["attempts"] if before is None else before) + 1
        if n >= MAX_ATTEMPTS:
            self._fail(r, f"{why} ({MAX_ATTEMPTS} attempts)", attempts=n)
        return {"attempts": n, "retry_at_unix_s": time.time() + backoff_s(
            n, self.backoff_base_s)}

    def _trainer_failed(self, r, why: str, phase: str | None) -> None:
        """Record that ``r``'s trainer died (``trainer-failed``, with the attempt and its
        backoff) and leave the job in ``phase`` (None: its own) to start another after the
        backoff; past :data:`MAX_ATTEMPTS` in a row the job fails. A trainer that saved a
        newer intact checkpoint than the one it resumed from before it died made durable
        progress: its failure starts a new streak, so a long job is not failed for rare
        crashes spread over its whole run."""
        before = 0 if self._saved_newer(r) else r["attempts"]
        with self.store.tx():
            self.store.event(self.ledger.next_step, "trainer-failed",
                             {"error": why, "attempt": before + 1,
                              "backoff_s": backoff_s(before + 1, self.backoff_base_s)},
                             job=r["name"])
        self._set(r, phase, bump=True, trainer_pid=None, trainer_start=None, error=why,
                  **self._attempt(r, why, before=before))

    def _fail(self, r, why: str, **fields) -> None:
        """Terminal state of a job: ``failed`` with the error recorded; stops the run.
        ``fields``: more of the job's row to store with it (the last attempt's count)."""
        name = r["name"]
        with self.store.tx():
            check_transition(name, r["phase"], "failed")
            self.store.update_job(name, phase="failed", failed_from=r["phase"], error=why,
                                  trainer_pid=None, trainer_start=None, **fields)
            self.store.event(self.ledger.next_step, "job-failed",
                             {"from": r["phase"], "error": why}, job=name)
        raise JobFailed(f"job {name!r} failed: {why}")

    def _waiting(self, r) -> bool:
        """True while ``r`` waits out its backoff before the next attempt."""
        return r["retry_at_unix_s"] is not None and time.time() < r["retry_at_unix_s"]

    def _check_no_other_trainer(self, r) -> None:
        if r["trainer_pid"] and self.ex.is_alive(r["trainer_pid"], r["trainer_start"]):
            raise RuntimeFailure(
                f"job {r['name']!r}: a trainer (pid {r['trainer_pid']}) is still alive; "
                "refusing to start a second one")

    def _intact(self, r, site: int) -> int | None:
        """The newest intact checkpoint step of ``r`` at ``site``; corrupt ones (and, where
        a migration lands, ones whose manifest the controller never recorded: foreign) are
        moved aside and logged."""
        return self._intact_and_moved(r, site)[0]

    def _intact_and_moved(self, r, site: int) -> tuple[int | None, list[str]]:
        """:meth:`_intact`'s step and what it moved aside (``"<directory>: <why>"``)."""
        name, sname = r["name"], self.sites[site]
        landing = (r["phase"] == "restoring" and r["move_kind"] == "migrate"
                   and r["dest"] is not None and r["dest"] == site)
        trusted = self.store.known_manifests(name) if landing else None
        step, moved = self.ex.intact_step(name, sname, trusted)
        if moved:
            foreign = [m for m in moved if "foreign checkpoint" in m]
            with self.store.tx():
                if foreign:
                    self.store.event(self.ledger.next_step, "foreign-checkpoint",
                                     {"site": sname, "refused": foreign}, job=name)
                if len(foreign) < len(moved):
                    self.store.event(self.ledger.next_step, "checkpoint-corrupt",
                                     {"site": sname, "moved_aside": [m for m in moved
                                                                     if m not in foreign]},
                                     job=name)
            if foreign:
                self.log(f"{name}: refused a foreign checkpoint at {sname} (moved aside): "
                         f"{foreign[0]}")
        return step, moved

    def _saved_newer(self, r) -> bool:
        """Whether ``r``'s trainer saved a newer intact checkpoint at its site than the one
        it resumed from (durable progress). Only a newer one is verified (hashing is the
        restart's cost otherwise); a corrupt one is moved aside and counts for nothing."""
        expect = r["expect_step"] or 0
        saved = self.ex.checkpoint_step(r["name"], self.sites[r["site"]])
        if saved is not None and saved > expect:
            saved = self._intact(r, r["site"])
        return saved is not None and saved > expect

    def _finished_at(self, r, site: int) -> bool:
        """Whether ``r`` has an intact checkpoint of its last step at ``site``; one past it
        fails the job (its command trains another number of steps than its ``steps``)."""
        step = self._intact(r, site)
        if step is not None and step > r["total_steps"]:
            self._fail(r, PROTOCOL + f"it wrote a checkpoint of step {step} at "
                          f"{self.sites[site]}, past the job's {r['total_steps']} steps: its "
                          "command trains another number of steps than the job's `steps`")
        return step is not None and step >= r["total_steps"]

    def _trainer(self, r):
        return self.ex.trainer_status(r["name"], r["trainer_pid"], r["trainer_start"],
                                      r["trainer_token"])

    def _reconcile_job(self, r) -> bool:
        ph = r["phase"]
        name = r["name"]
        if ph in ("pending", "queued", "suspended", "done"):
            return True
        if ph in ("stopped", "failed"):
            if self.stop_requested or ph == "failed":
                return True
            # the move (if one was under way) stays on the books: the ledger closes it
            self._set(r, "restoring", bump=True)
            return False
        current = r["trainer_token"] == r["token"]
        if ph in ("starting", "restoring"):
            site = self._trainer_site(r)
            if not current or not r["trainer_pid"]:
                if self._waiting(r):
                    return False
                if self._finished_at(r, site):
                    self._arrived(r, site)
                    return True
                self._start(r, site)
                return False
            ts = self._trainer(r)
            if ts.alive and ts.step < 0:
                # a trainer that never reports a step (hung, frozen) would stall the run
                if self._hung_now(r, ts.step):
                    self._retry(r, self._hung.pop(name))
                return False
            if ts.alive:
                self._arrived(r, site)
                return True
            if ts.exit_code == 0:
                if not self._finished_at(r, site):
                    self._fail(r, PROTOCOL + f"it exited 0 (finished) without a finished "
                                  f"checkpoint of step {r['total_steps']}")
                self._arrived(r, site, trainer_gone=True)
                return True
            self._retry(r, f"trainer exited with code {ts.exit_code} while starting" + (
                f" ({EXIT_HINT})" if ts.exit_code not in (1, 2, 75) and ts.exit_code
                is not None and ts.exit_code > 0 else ""))
            return False
        if ph == "running":
            if not r["trainer_pid"]:
                return True
            ts = self._trainer(r)
            if ts.alive and self._hung_now(r, ts.step):
                return False
            if ts.alive:
                if ts.step > r["real_step"]:
                    self._progress[name] = ts.step
                    # a checkpoint interval past where it resumed: earlier failures are over
                    if r["attempts"] and ts.step >= (r["expect_step"] or 0) + max(
                            1, self._spec(name).every_steps):
                        self._recovered.add(name)
                return True
            # a crash is a crash even after its last checkpoint (it had not finished: the
            # next trainer resumes from that checkpoint and finishes); an unknown exit code
            # (a trainer of an earlier controller) leaves it to the checkpoint
            crashed = ts.exit_code not in (None, 0)
            if not crashed and self._finished_at(r, r["site"]):
                self._set(r, None, trainer_pid=None, trainer_start=None,
                          real_step=r["total_steps"])
                return True
            if ts.exit_code == 0:
                self._fail(r, PROTOCOL + f"it exited 0 (finished) without a finished "
                              f"checkpoint of step {r['total_steps']}")
            why = self._hung.pop(name, None) or (
                f"trainer exited with code {ts.exit_code} at step {max(ts.step, 0)}")
            self._trainer_failed(r, why, "starting")
            return False
        if ph in ("saving", "suspending", "stopping"):
            if r["trainer_pid"] and self._trainer(r).alive:
                # one stop request per trainer *process* (not per token: entering
                # `stopping` mid-move must still reach the trainer started at the destination)
                key = (name, int(r["trainer_pid"]), str(r["trainer_start"]))
                if key not in self._stop_sent:
                    self.ex.stop_trainer(r["trainer_pid"], r["trainer_start"])
                    self._stop_sent[key] = time.monotonic()
                elif time.monotonic() - self._stop_sent[key] > self.stop_honour_s:
                    why = (f"trainer still running {self.stop_honour_s:g} s after it was "
                           "asked to checkpoint and stop (it ignores SIGTERM, or its step "
                           "and save take longer); killed it: the job goes on from its last "
                           "checkpoint")
                    self.ex.kill_trainer(r["trainer_pid"], r["trainer_start"])
                    with self.store.tx():
                        self.store.event(self.ledger.next_step, "trainer-failed",
                                         {"error": why, "attempt": r["attempts"] + 1},
                                         job=name)
                    self.log(f"{name}: {why}")
                return False
            ts = self._trainer(r) if r["trainer_pid"] else None
            crashed = ts is not None and ts.exit_code not in (None, 0, 75)
            extra = {"trainer_pid": None, "trainer_start": None}
            if crashed or r["attempts"]:
                # as in `running`: a newer checkpoint than the one it resumed from ends the
                # row of failed attempts (checked first: a corrupt one is moved aside)
                before = 0 if self._saved_newer(r) else r["attempts"]
                extra["attempts"] = before + int(crashed)
            if crashed:
                # counted like any failed attempt; no backoff: the job goes on from its last
                # checkpoint as the move (or suspend, or stop) says
                why = (f"trainer exited with code {ts.exit_code} while {ph} (asked to "
                       "checkpoint and stop); the job goes on from its last checkpoint")
                with self.store.tx():
                    self.store.event(self.ledger.next_step, "trainer-failed",
                                     {"error": why, "attempt": extra["attempts"],
                                      "backoff_s": 0.0}, job=name)
                self.log(f"{name}: {why}")
            at = self._trainer_site(r)
            step = self.ex.checkpoint_step(name, self.sites[at])
            if step is not None:
                extra["real_step"] = step
                extra["expect_step"] = step
                self._record_manifests(name, at)
            if ts is not None and ts.exit_code == 75 and step is None:
                self._fail(r, PROTOCOL + "it exited 75 (checkpointed on request) but left no "
                              f"checkpoint in its directory at {self.sites[at]}")
            every = self._spec(name).every_steps
            if step is None and every and r["real_step"] >= every:
                self._fail(r, PROTOCOL + f"it reported step {r['real_step']} but never wrote a "
                              f"checkpoint (every {every} steps, and when asked to stop)")
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
                if self._waiting(r):
                    return False
                try:
                    self._ensure_agent(src)
                    self._ensure_agent(dst)
                    if not self.store.known_manifests(name):
                        self._record_manifests(name, r["site"])
                    self.ex.start_transfer(name, src, dst, r["token"],
                                           accept=sorted(self.store.known_manifests(name)))
                except RuntimeFailure as exc:  # an agent does not answer (or will not start)
                    state, res = "failed", str(exc)
                else:
                    self._since.setdefault(name, time.monotonic())
                    return False
            if state == "running":
                return False
            if state == "failed":
                with self.store.tx():
                    self.store.event(self.ledger.next_step, "transfer-failed",
                                     {"error": str(res), "attempt": r["attempts"] + 1,
                                      "backoff_s": backoff_s(r["attempts"] + 1,
                                                             self.backoff_base_s)}, job=name)
                why = f"transfer {src} -> {dst} failed; last error: {res}"
                self._set(r, "transferring", bump=True, error=why, **self._attempt(r, why))
                return False
            t_s = time.monotonic() - self._since.pop(name, time.monotonic())
            nbytes = float(res.get("total_bytes", 0)) if isinstance(res, dict) else 0.0
            got = res.get("step") if isinstance(res, dict) else None
            fields = {"transfer_s": t_s, "move_bytes": nbytes, "attempts": 0,
                      "retry_at_unix_s": None, "error": None}
            if got is not None:
                fields["expect_step"] = int(got)
                if res.get("manifest_sha256") in self.store.known_manifests(name):
                    with self.store.tx():
                        self.store.record_checkpoint(name, dst, int(got),
                                                     res["manifest_sha256"])
                if r["expect_step"] is not None and int(got) < r["expect_step"]:
                    with self.store.tx():
                        self.store.event(self.ledger.next_step, "checkpoint-fallback", {
                            "site": src, "expected": r["expect_step"], "step": int(got),
                            "why": "the newer checkpoint at the source is corrupt"}, job=name)
            self._set(r, "restoring", **fields)
            self._since[name] = time.monotonic()
            return False
        if ph == "finishing":
            ts = self._trainer(r) if r["trainer_pid"] else None
            if ts is not None and ts.alive:
                self._hung_now(r, ts.step)  # killed if hung: started again below
                return False
            crashed = ts is not None and ts.exit_code not in (None, 0)
            if (ts is not None and ts.exit_code == 0) or (
                    not crashed and self._finished_at(r, r["site"])):
                if r["trainer_pid"]:
                    self._set(r, None, trainer_pid=None, trainer_start=None,
                              real_step=r["total_steps"])
                return True
            if r["trainer_pid"]:
                # the trainer is gone before its last step: one more failed attempt, as in
                # `running` (backoff; the job fails after MAX_ATTEMPTS in a row)
                why = self._hung.pop(name, None) or (
                    f"trainer exited with code {None if ts is None else ts.exit_code} before "
                    "its last step")
                self._trainer_failed(r, why, None)
                return False
            if self._waiting(r):
                return False
            # another trainer, same phase
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
        # A job the books finish this step that had to be pulled again (its copy was
        # corrupt) lands back in finishing, the phase it left, not in running.
        self._set(r, "finishing" if r["name"] in self._finishing else "running", **fields)

    def _trainer_site(self, r) -> int:
        """The site ``r``'s trainer runs at: a migration's destination while it restores
        there, also when a stop cut the move short in that phase (a ``--max-wall`` stop
        gives moves no time to land, and the trainer already started at the destination
        checkpoints there); else the job's site."""
        if r["phase"] in ("restoring", "stopping") and r["move_kind"] == "migrate" \
                and r["dest"] is not None:
            return r["dest"]
        return r["site"]

    def _hung_now(self, r, step: int) -> bool:
        """Whether ``r``'s live trainer has reported no step (``step`` < 0), or no new
        step, for :attr:`RunConfig.start_timeout_s` since this controller first saw it
        there (a hung import or restore, a frozen process, a hung step): then it is killed,
        ``_hung`` says why, and the caller retries it or its next look finds it dead and
        starts another from the last intact checkpoint. A frozen trainer would otherwise
        hold its job, and the run's clock, until ``--max-wall``."""
        name, pid, now = r["name"], int(r["trainer_pid"]), time.monotonic()
        seen = self._last_step.get(name)
        if seen is None or seen[0] != pid or step > seen[1]:
            self._last_step[name] = (pid, step, now)
            return False
        limit = self.cfg.start_timeout_s
        if now - seen[2] <= limit:
            return False
        self._hung[name] = (
            f"trainer reported no step within {limit:g} s of its start (hung or frozen); "
            "killed it" if step < 0 else
            f"trainer reported no new step for {limit:g} s after step {step} (hung or "
            "frozen); killed it")
        self.log(f"{name}: {self._hung[name]}")
        self.ex.kill_trainer(r["trainer_pid"], r["trainer_start"])
        del self._last_step[name]
        return True

    def _retry(self, r, why: str) -> None:
        name = r["name"]
        why = (f"{why}; see {self.ex.describe_log(name, r['trainer_token'])}"
               if r["trainer_token"] is not None else why)
        with self.store.tx():
            self.store.event(self.ledger.next_step, "trainer-failed",
                             {"error": why, "attempt": r["attempts"] + 1}, job=name)
        self._set(r, r["phase"], bump=True, trainer_pid=None, trainer_start=None, error=why,
                  **self._attempt(r, why))

    def _record_manifests(self, name: str, site: int) -> None:
        """Record the manifest digests of ``name``'s checkpoints at ``site`` as the site
        reports them (only recorded checkpoints are pulled or trusted elsewhere)."""
        found = self.ex.manifests(name, self.sites[site])
        if found:
            with self.store.tx():
                for step, sha in found:
                    self.store.record_checkpoint(name, self.sites[site], step, sha)

    # ------------------------------------------------------------ the loop
    def _settle(self, until_wall: float, deadline: float) -> bool:
        """Reconcile until settled and the step's wall time is over; False if stopped."""
        while True:
            if self.stop_requested:
                return False
            self._heartbeat()
            settled = operate.timed_reconcile(self)
            if settled and time.monotonic() >= until_wall:
                return True
            if time.monotonic() > deadline:
                raise OutOfWallTime(
                    f"the run did not settle within {self.cfg.max_wall_s:g} s of wall time; "
                    "see the job phases with `greenhop status` and the logs")
            time.sleep(self.cfg.poll_s)

    def _heartbeat(self) -> None:
        now = time.time()
        if now - self._beat >= HEARTBEAT_S:
            self._beat = now
            self.store.check_still_here()
            with self.store.tx():
                self.store.con.execute("UPDATE run SET heartbeat_unix_s = ? WHERE id = 1",
                                       (now,))

    def _book(self, t: int, deadline: float) -> bool:
        """Wait for jobs that finish in step ``t``, then close the step in the ledger."""
        led = self.ledger
        moves = {}
        # every move the books hold open is closed here, with what was measured of it (a
        # move interrupted by Ctrl-C or a crash keeps its booking: nothing is left open)
        for r in self.store.jobs():
            j = self.jobs.index(r["name"])
            if led.phase[j] == MIGRATING:
                moves[j] = {"save_s": r["save_s"] or 0.0, "transfer_s": r["transfer_s"] or 0.0,
                            "restore_s": r["restore_s"] or 0.0, "bytes": r["move_bytes"] or 0.0}
        self._finishing = {self.jobs[j] for j in led.finishing(t, moves)}
        for name in self._finishing:
            r = self.store.job(name)
            if r["phase"] == "running":
                self._set(r, "finishing")
        if not self._settle(0.0, deadline):
            return False
        self._finishing = set()
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

    def run(self, before_done: Callable[[dict], None] | None = None) -> dict:
        """Run to the end of the horizon (once every job is done, the rest is booked without
        waiting) or until a stop request or a failed job; returns a summary ``{"status",
        "step", "migrations", "wall_s"}`` (and ``"error"`` when a job failed: the run is then
        ``failed``, every other job checkpointed, and ``greenhop run`` again retries it). A
        job the horizon ends on is checkpointed and its trainer stopped (phase ``stopped``);
        the ``run-done`` event names such jobs as ``unfinished``.

        ``before_done(summary)`` runs before a finished run is recorded ``done`` (a run
        killed in between is resumed, not refused as finished): ``greenhop run`` writes
        ``metrics.json`` there, which no later command could write for a ``done`` run."""
        led = self.ledger
        T = int(self.inp.n_steps)
        step_wall = led.dt / self.cfg.time_scale
        t_start = time.monotonic()
        deadline = t_start + self.cfg.max_wall_s
        self.catch_signals()
        failure: RuntimeFailure | None = None
        try:
            try:
                self._loop(T, step_wall, deadline, t_start)
            except (JobFailed, PolicyStopped, OutOfWallTime, DatabaseGone) as exc:
                failure = exc
                self.stop_requested = True
            except BaseException:
                # anything else (a bug): no trainer may train on unsupervised after the
                # controller is gone; the error goes on as it is
                with contextlib.suppress(Exception):
                    self._stop_all(deadline)
                raise
            self.failure = failure
            # out of wall time, no job failed: stopped (resumable), with the reason recorded
            status = ("failed" if isinstance(failure, JobFailed | PolicyStopped) else
                      "stopped" if self.stop_requested else "done")
            if self.stop_requested:
                self._stop_all(deadline)
            else:
                if any(r["trainer_pid"] or r["phase"] in ("running", "finishing")
                       for r in self.store.jobs() if r["phase"] != "done"):
                    # the horizon ended on jobs still training (the policy kept them waiting
                    # or they are long): checkpoint them and stop their trainers as Ctrl-C
                    # does, so nothing trains on after a finished run
                    self._stop_all(deadline)
                self.ex.cleanup(self.jobs, self.sites)
            unfinished = [r["name"] for r in self.store.jobs() if r["phase"] != "done"]
            unsettled = [(r["name"], r["phase"]) for r in self.store.jobs()
                         if r["phase"] not in AT_REST and (
                             r["trainer_pid"] or r["phase"] in ("saving", "transferring"))]
            if status == "done" and before_done is not None:
                before_done(self._summary(status, t_start, unsettled, failure))
            with self.store.tx():
                self.store.con.execute(
                    "UPDATE run SET status = ?, owner_pid = NULL, error = ?, updated_unix_s = ? "
                    "WHERE id = 1", (status, str(failure) if failure else None, time.time()))
                self.store.event(led.next_step, "run-" + status, {
                    "wall_s": time.monotonic() - t_start,
                    **({"error": str(failure)} if failure else {}),
                    **({"unfinished": unfinished} if status == "done" and unfinished else {}),
                    **({"not_checkpointed": [n for n, _ in unsettled]} if unsettled else {})})
        finally:
            self._restore_signals()
            self.ex.stop_agents()
        out = self._summary(status, t_start, unsettled, failure)
        if isinstance(failure, DatabaseGone):  # the books live on in the open file: save them
            out["recovered_db"] = str(self.store.save_copy())
        return out

    def _summary(self, status: str, t_start: float, unsettled: list, failure) -> dict:
        """What :meth:`run` returns (``wall_s`` [s] up to now)."""
        led = self.ledger
        out = {"status": status, "step": led.next_step,
               "migrations": sum(1 for m in led.migrations if m.get("end_s") is not None),
               "wall_s": time.monotonic() - t_start,
               # jobs the stop left mid-way (a trainer that did not exit, a move that did not
               # land): the next run resumes them from their last intact checkpoint
               "not_checkpointed": unsettled}
        if failure:
            out["error"] = str(failure)
            out["out_of_wall_time"] = isinstance(failure, OutOfWallTime)
        return out

    def _loop(self, T: int, step_wall: float, deadline: float, t_start: float) -> None:
        led = self.ledger
        while led.next_step < T:
            t = led.next_step
            # every job done: the rest of the horizon (base load only) is booked without
            # waiting, step by step as any other, so the books, the events and the sites'
            # readings cover the same horizon as a simulation
            idle = bool((led.phase == DONE).all())
            wall0 = time.monotonic()
            if int(self.store.run_row()["decided_step"]) < t:
                # actions start from settled jobs: a controller that died after booking
                # step t - 1 but before deciding step t left jobs its recovery put back to
                # phases no action may leave (starting, restoring, stopped); settle them first
                if any(r["phase"] not in DECIDABLE for r in self.store.jobs()) \
                        and not self._settle(0.0, deadline):
                    return
                self._operator_actions(t)
                self._decide(t)
            operate.drain_step(self, t)  # idempotent: a job already moving is not moved again
            if not self._settle(wall0 + (0.0 if idle else step_wall), deadline):
                return
            if not self._book(t, deadline):
                return
            operate.record_step(self, t)
            if (t + 1) % max(1, T // 10) == 0:
                self.log(f"step {t + 1}/{T}: {int((led.phase == DONE).sum())}/{led.J} jobs "
                         f"done, {sum(1 for m in led.migrations if m.get('end_s'))} "
                         f"migrations, {time.monotonic() - t_start:.1f} s")

    def _operator_actions(self, t: int) -> None:
        """Apply the operator's pending actions (drain, pin, pause, ...) at the start of step
        ``t``, before the policy is asked (:mod:`greenhop.runtime.operate`)."""
        operate.apply_pending(self, t)
        operate.apply_grid_events(self, t)  # demand-response events, same fleet code

    def catch_signals(self) -> None:
        """Take SIGINT, SIGTERM and SIGHUP (a closed terminal or ssh session) as a stop
        request from now on, until :meth:`run` ends. :meth:`run` does it itself; a caller
        calls it earlier to cover what it does before (``greenhop run`` starts its service
        and prints its banner: a Ctrl-C there stops the run as one a moment later does,
        not with a bare exit 130)."""
        if self._old_signals is not None:
            return
        self._old_signals = {}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError):  # not the main thread: none to take
                self._old_signals[sig] = signal.signal(sig, self._on_signal)

    def _restore_signals(self) -> None:
        for sig, h in (self._old_signals or {}).items():
            signal.signal(sig, h)
        self._old_signals = None

    def _on_signal(self, signum, frame) -> None:
        self.stop_requested = True

    def _stop_all(self, deadline: float) -> None:
        """Ctrl-C (or a failed job, or ``--max-wall``): let moves in flight land, then
        checkpoint every trainer and stop. Entering ``stopping`` bumps each job's token, and
        the stop request goes to whichever trainer process is live (also one a landed move
        just started). Waits at most :attr:`stop_grace_s`; a second Ctrl-C (or SIGTERM)
        stops waiting at once (a hung trainer or agent need not hold the operator)."""
        self.stop_requested = False
        grace = time.monotonic() + self.stop_grace_s
        while True:
            try:
                if self.reconcile():
                    break
            except JobFailed as exc:
                self.log(str(exc))
            if time.monotonic() > min(deadline, grace) or self.stop_requested:
                break
            time.sleep(self.cfg.poll_s)
        for r in self.store.jobs():
            # a job whose trainer finished its steps before the books finished its work has
            # no trainer: it is stopped all the same (its last checkpoint is its final one)
            if r["phase"] in ("running", "finishing") or (
                    r["phase"] in ("starting", "restoring") and r["trainer_pid"]):
                self._set(r, "stopping", bump=True)
        while True:
            busy = False
            for r in self.store.jobs():
                # also a trainer asked to save for a move the stop cut short (--max-wall
                # gives moves no more time): it checkpoints, the move resumes next run
                if r["phase"] == "stopping" or (r["phase"] in ("saving", "suspending")
                                                and r["trainer_pid"]):
                    try:
                        self._reconcile_job(r)
                    except JobFailed as exc:
                        self.log(str(exc))
                    busy = True
            if not busy or time.monotonic() > grace or self.stop_requested:
                break
            time.sleep(self.cfg.poll_s)
        # A trainer still alive now (frozen, or slower than the grace) is killed: nothing
        # of the run outlives it. Its job stays named as not checkpointed, and the next run
        # resumes it from its last intact checkpoint.
        for r in self.store.jobs():
            if r["trainer_pid"] and self.ex.is_alive(r["trainer_pid"], r["trainer_start"]):
                self.log(f"{r['name']}: its trainer did not exit within the stop; killed it")
                self.ex.kill_trainer(r["trainer_pid"], r["trainer_start"])
        self.stop_requested = True


def _pid() -> int:
    return os.getpid()
