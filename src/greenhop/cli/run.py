"""``greenhop run | status | replay | compare``: live runs of a scenario on real trainers.

The composition root of the live orchestrator: it reads the scenario with the
simulator's parser (``greenhop.sim``), hands its arrays to the controller
(``greenhop.runtime``), and turns the run's books into the simulator's
``metrics.json`` format. The two layers never import each other; only this
module sees both.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Column, Table

from greenhop.cli import paths
from greenhop.core.errors import ConfigError
from greenhop.core.units import parse_quantity

err = Console(stderr=True, highlight=False)

DEFAULT_WORKDIR = Path("greenhop-run")
#: shortest --max-wall [s]: less than a run takes to start its agents and trainers
MIN_WALL_S = 10.0


LIVE_JOB_KEYS = ("command", "env", "cwd", "steps")
"""Keys of a scenario ``[[jobs]]`` table only a live run reads (the job's own command)."""


def _live_extras(data: dict, path: Path) -> dict:
    """Take the live-only parts out of a scenario document (the simulator does not read
    them): ``[agents]`` (site -> URL of an agent an operator started) and each job's
    ``command``, ``env``, ``cwd``, ``steps``. Returns ``{"agents", "jobs"}``."""
    from greenhop.core.names import check_name
    from greenhop.runtime.agent import normalize_url

    agents = data.pop("agents", {}) or {}
    if not isinstance(agents, dict):
        raise ConfigError(f"{path}: agents: expected a table of site = \"https://host:port\"")
    out_agents = {}
    for site, url in agents.items():
        check_name("site", site, f"{path}: agents")
        if not isinstance(url, str):
            raise ConfigError(f"{path}: agents.{site}: expected a URL string, got {url!r}")
        out_agents[site] = normalize_url(url)
    jobs = {}
    for i, jt in enumerate(data.get("jobs", []) or []):
        if not isinstance(jt, dict):
            continue
        extra = {k: jt.pop(k) for k in LIVE_JOB_KEYS if k in jt}
        if not extra:
            continue
        where = f"{path}: jobs[{i}]"
        cmd = extra.get("command")
        if cmd is not None and (not isinstance(cmd, list) or not cmd or not all(
                isinstance(c, str) and c for c in cmd)):
            raise ConfigError(f"{where}.command: expected a list of strings, e.g. "
                              '["python", "train.py", "--lr", "3e-4"]')
        env = extra.get("env", {})
        if not isinstance(env, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ConfigError(f"{where}.env: expected a table of strings")
        bad = [k for k in env if k.startswith("GREENHOP_")]
        if bad:
            raise ConfigError(f"{where}.env: {bad[0]} is set by greenhop run itself")
        cwd = extra.get("cwd")
        if cwd is not None:
            if not isinstance(cwd, str):
                raise ConfigError(f"{where}.cwd: expected a directory path")
            cwd_path = (path.parent / cwd).resolve()
            if not cwd_path.is_dir():
                raise ConfigError(f"{where}.cwd: {cwd_path} is not a directory")
            cwd = str(cwd_path)
        steps = extra.get("steps")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)
                                  or steps < 1):
            raise ConfigError(f"{where}.steps: expected a whole number of steps >= 1")
        if (env or cwd) and cmd is None:
            raise ConfigError(f"{where}: env and cwd go with a command")
        jobs[i] = {"command": tuple(cmd) if cmd else (), "env": dict(env), "cwd": cwd,
                   "steps": steps}
    return {"agents": out_agents, "jobs": jobs}


def _scenario_inputs(path: Path, extras: dict | None = None):
    from greenhop.sim.inputs import build_inputs
    from greenhop.sim.scenario import parse_scenario, scenario_document

    if not path.exists():
        raise ConfigError(f"{path}: no such scenario file; pass a TOML scenario "
                          "(e.g. src/greenhop/data/scenarios/live-3site.toml)")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; pass a TOML scenario file")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the scenario ({exc.strerror})") from None
    data, label, base_dir = scenario_document(path)
    live = _live_extras(data, path)
    if extras is not None:
        extras.update(live)
    sc = parse_scenario(data, label, base_dir)
    inp = build_inputs(sc)
    from greenhop.core.names import check_name

    for i, name in enumerate(sc.site_names):
        check_name("site", name, f"{path}: sites[{i}]")
    for i, job in enumerate(inp.jobs):
        check_name("job", job.name, f"{path}: jobs[{i}]")
    return sc, inp


def site_link_rates_bps(inputs) -> list[float]:
    """Each site agent's outgoing rate [bit/s]: the fastest WAN link at the site (x its
    efficiency); a transfer to a neighbour is paced by the source's agent."""
    net = inputs.network
    S = len(inputs.slots)
    out = []
    for s in range(S):
        direct = [net.bandwidth_bps[s, d] * net.efficiency[s, d]
                  for d in range(S) if d != s and net.hops[s, d] == 1]
        out.append(float(max(direct)) if direct else math.inf)
    return out


def check_time_scale(time_scale: float) -> None:
    """Refuse a ``--time-scale`` [simulated s per wall s] that is not finite and > 0."""
    if not 0 < time_scale < math.inf:  # NaN fails too
        raise ConfigError(f"--time-scale: must be a finite number > 0 (simulated seconds per "
                          f"wall second), got {time_scale:g}")


def build_controller(scenario: Path, db: Path, workdir: Path, *, policy: str | None,
                     time_scale: float, workload: str, train_steps: int, every: int,
                     step_sleep_s: float, max_wall_s: float, log=None, resume: bool = False,
                     fresh: bool = False, tls: bool = False, token_file: Path | None = None,
                     tls_ca: Path | None = None, agents: dict[str, str] | None = None):
    """The controller of a live run (used by ``greenhop run`` and the tests). It holds the
    work directory's lock (``ctl.workdir``) until :func:`close_controller`."""
    import uuid

    from greenhop.policies import make_policy
    from greenhop.policies.plugins import file_sha256
    from greenhop.runtime.controller import Controller, RunConfig, check_live_run
    from greenhop.runtime.executor import LocalExecutor, TrainerSpec
    from greenhop.runtime.power import TraceReplaySource
    from greenhop.runtime.store import Store
    from greenhop.runtime.workdir import Workdir
    from greenhop.sim.api import policy_params

    check_time_scale(time_scale)
    if train_steps < 1 or every < 1:
        raise ConfigError("--train-steps and --checkpoint-every must be >= 1")
    extras: dict = {}
    sc, inp = _scenario_inputs(scenario, extras)
    name = policy or (sc.policies[0] if sc.policies else "static")
    params = policy_params(sc, name)
    # unknown names and parameters, and what a live run cannot do, fail here, before the
    # work directory or any process exists
    check_live_run(make_policy(name, **params), inp)
    specs = {}
    for i, j in enumerate(inp.jobs):
        own = extras["jobs"].get(i, {})
        specs[j.name] = TrainerSpec(
            workload=workload, steps=own.get("steps") or train_steps, every_steps=every,
            seed=i, step_sleep_s=step_sleep_s, command=own.get("command", ()),
            env=own.get("env", {}), cwd=own.get("cwd"))
    agents = {**extras["agents"], **(agents or {})}
    cfg = RunConfig(
        scenario=str(scenario.resolve()), scenario_sha256=file_sha256(scenario), policy_name=name,
        time_scale=time_scale, specs=specs, link_rate_bps=site_link_rates_bps(inp),
        write_Bps=sc.write_Bps, read_Bps=sc.read_Bps, startup_s=sc.startup_s,
        decision_interval_s=sc.decision_interval_s, window_threshold_w=sc.window_threshold_w,
        start_unix_s=float(sc.start.timestamp()), max_wall_s=max_wall_s,
        forecast=sc.forecast, seed=sc.seed)
    _refuse_live_database(db)
    wd = Workdir(workdir)
    wd.prepare()
    wd.acquire()
    store = None
    made_db = not db.exists()
    was_empty = not made_db and db.is_file() and db.stat().st_size == 0
    try:
        store = Store.open(db, create=True)
        row = store.run_row()
        cfg.run_id = (row["run_id"] if row is not None else None) or uuid.uuid4().hex
        how = wd.claim(cfg.run_id, db, new_run=row is None, resume=resume, fresh=fresh)
        if how in ("resumed", "fresh") and log is not None:
            log(f"{workdir}: " + ("continuing from the checkpoints already here (--resume)"
                                  if how == "resumed" else
                                  "removed the earlier run's checkpoints and logs (--fresh)"))
        from greenhop.runtime.auth import read_token_file

        token = read_token_file(token_file) if token_file is not None else None
        if agents and token is None:
            raise ConfigError("--agent: the controller needs the run's --token-file that the "
                              "agents were started with")
        if tls_ca is not None and not tls_ca.is_file():
            raise ConfigError(f"--tls-ca {tls_ca}: no such file")
        ex = LocalExecutor(workdir, token=token, tls=tls or tls_ca is not None,
                           ca_file=str(tls_ca) if tls_ca else None, remote_agents=agents)
        ctl = Controller(store, inp, lambda: make_policy(name, **params), ex,
                         TraceReplaySource(inp.renewable_w, inp.history_steps), cfg, log=log)
    except BaseException:
        if store is not None:
            store.close()
            if made_db:  # a start refused: the database it made holds nothing, leave none
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
            elif was_empty:  # nor write a schema into an empty file given to it
                with open(db, "wb"):
                    pass
                for suffix in ("-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
        wd.release()
        raise
    ctl.workdir = wd
    return ctl, sc, inp


def _refuse_live_database(db: Path) -> None:
    """Refuse a database another controller owns before the work directory, its secret or
    logs are made (the controller takes the lock for good later, in ``prepare``)."""
    from greenhop.runtime.store import Store

    if not db.is_file() or db.stat().st_size == 0:  # none yet (or an empty file to fill)
        return
    probe = Store.open(db)
    try:
        probe.acquire()  # RunLockedError names the live controller
    finally:
        probe.close()  # releases the lock again


def close_controller(ctl) -> None:
    """Close the run database and release the work directory."""
    ctl.store.close()
    wd = getattr(ctl, "workdir", None)
    if wd is not None:
        wd.release()


def parse_agents(items: list[str]) -> dict[str, str]:
    """``["site=https://host:port", ...]`` -> ``{site: url}`` (a ConfigError names the bad
    item)."""
    from greenhop.core.names import check_name
    from greenhop.runtime.agent import normalize_url

    out: dict[str, str] = {}
    for item in items:
        site, sep, url = item.partition("=")
        if not sep:
            raise ConfigError(f"--agent {item!r}: expected SITE=URL, e.g. "
                              "madrid-es=https://10.0.0.5:8765")
        check_name("site", site.strip(), f"--agent {item!r}")
        out[site.strip()] = normalize_url(url.strip())
    return out


def live_metrics(sc, inp, ledger, policy: str, summary: dict, decider=None) -> dict:
    """``metrics.json`` of a live run, in the simulator's format; ``decider`` (the policy
    object) adds its own counters, as the simulator does (a resumed run's policy replayed
    the logged decisions first, so they count the whole run)."""
    from greenhop.policies.base import policy_counters
    from greenhop.sim.engine import RunResult
    from greenhop.sim.metrics import compare, run_metrics

    # the events enforced, the scenario's and those filed live (none enforced: the
    # scenario's, e.g. prices only, as the simulator counts them)
    dr = ledger.core.demand_response
    res = RunResult(
        policy=policy, energy_j=ledger.energy_j, demand_w=np.zeros((0, 0)),
        grid_w=ledger.core.books.grid_w, job_load_w=np.zeros((0, 0)), flows=None, soc_j=None,
        job_finish_s=ledger.finish_s, job_start_s=ledger.start_s,
        job_remaining_gpu_s=ledger.remaining, job_energy_j=ledger.job_energy,
        job_down_s=ledger.job_down, job_migrations=ledger.job_moves, job_progress_log=None,
        migrations=ledger.migrations, segments=[], counters=ledger.counters,
        dr_site_events=list(dr.site_events) if dr is not None else None,
        first_naming_nothing=ledger.core.first_naming_nothing,
        policy_counters=policy_counters(decider) if decider is not None else {})
    # a run stopped early booked only its first steps: the counterfactual covers the same
    m = compare({policy: run_metrics(inp, res, steps=ledger.next_step)})
    return {
        "policies": m,
        "scenario": {"name": sc.name, "start": sc.start.isoformat(),
                     "horizon_h": sc.horizon_s / 3600, "step_s": sc.step_s, "seed": sc.seed,
                     "sites": len(sc.sites), "links": len(sc.links), "jobs": len(inp.jobs)},
        "live": summary,
    }


def run_command(
    scenario: Path = typer.Argument(..., help="Scenario file (TOML), e.g. "
                                    "src/greenhop/data/scenarios/live-3site.toml."),
    time_scale: float = typer.Option(3600.0, "--time-scale",
                                     help="Simulated seconds per wall-clock second."),
    db: Path | None = typer.Option(None, "--db", help="Run database (default WORKDIR/run.db)."),
    workdir: Path = typer.Option(DEFAULT_WORKDIR, "--workdir",
                                 help="Sites' checkpoint directories, logs, metrics.json."),
    policy: str | None = typer.Option(None, "--policy",
                                      help="Policy name (default: the scenario's first)."),
    workload: str = typer.Option("mlp", "--workload", help="Reference workload: mlp or lm."),
    train_steps: int = typer.Option(200, "--train-steps", help="Training steps of every job."),
    every: int = typer.Option(25, "--checkpoint-every", help="Periodic checkpoint interval."),
    step_sleep: str = typer.Option("0s", "--step-sleep",
                                   help="Pause of each training step (pacing), e.g. 50ms; "
                                        "a plain number is seconds."),
    max_wall: str = typer.Option("1h", "--max-wall", help="Give up after this long, e.g. "
                                 "1h or 90min; a plain number is seconds."),
    resume: bool = typer.Option(False, "--resume", help="With a new --db: continue from the "
                                "checkpoints an earlier run left in --workdir."),
    fresh: bool = typer.Option(False, "--fresh", help="With a new --db: remove the "
                               "checkpoints and logs an earlier run left in --workdir first."),
    tls: bool = typer.Option(False, "--tls", help="Agents serve HTTPS with certificates of a "
                             "CA made for this run (in WORKDIR/secrets/tls)."),
    agent: list[str] = typer.Option([], "--agent", help="SITE=URL: the agent of SITE is "
                                    "already running there (`greenhop agent serve`); repeat "
                                    "per site."),
    token_file: Path | None = typer.Option(None, "--token-file", help="The run's secret (the "
                                           "one the --agent agents were started with); "
                                           "default: a new one in WORKDIR/secrets."),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help="CA certificate (PEM) that "
                                       "signed the --agent agents' certificates."),
    policy_file: list[str] = typer.Option(
        [], "--policy-file", show_default=False,
        help="Your own policy: FILE.py:CLASS or NAME=FILE.py:CLASS (docs/policies.md); "
             "it runs unless --policy names another. Give it again to resume the run."),
    serve: str | None = typer.Option(None, "--serve", metavar="HOST:PORT",
                                     help="Also serve the run (`greenhop serve`: API, "
                                          "/metrics, dashboard) at HOST:PORT, e.g. "
                                          "127.0.0.1:8080."),
    serve_token_file: Path | None = typer.Option(
        None, "--serve-token-file", help="With --serve: the operator actions' secret "
        "(without it the service is read-only)."),
) -> None:
    """Run SCENARIO live: a controller, one site agent per site, real training processes."""
    check_time_scale(time_scale)  # before the work directory is made
    serve_at = _serve_address(serve, serve_token_file)
    if workload not in ("mlp", "lm"):
        raise ConfigError(f"--workload: unknown workload {workload!r}; choose mlp or lm")
    step_sleep_s = parse_quantity(step_sleep, "duration", option="--step-sleep")
    from greenhop.workload.reference.run import MAX_STEP_SLEEP_S

    if step_sleep_s > MAX_STEP_SLEEP_S:  # the trainers would refuse it, one crash at a time
        raise ConfigError(f"--step-sleep: at most {MAX_STEP_SLEEP_S} s, got {step_sleep_s:g} s")
    max_wall_s = parse_quantity(max_wall, "duration", option="--max-wall")
    if max_wall_s < MIN_WALL_S:  # refused before a run is made that could only fail
        raise ConfigError(f"--max-wall: a live run needs at least {MIN_WALL_S:g} s to start "
                          f"its agents and trainers, got {max_wall!r}")
    paths.output_dir(workdir, "--workdir")
    if db is not None:
        paths.output_file(db, "--db", suffixes=(), create_parents=True)
    from greenhop.cli import policy_files

    loaded, _ = policy_files.load(policy_file)
    policy = policy or (loaded[0] if loaded else None)
    db = db or workdir / "run.db"  # build_controller makes the work directory once all is checked
    agents = parse_agents(agent)
    ctl, sc, inp = build_controller(
        scenario, db, workdir, policy=policy, time_scale=time_scale, workload=workload,
        train_steps=train_steps, every=every, step_sleep_s=step_sleep_s, max_wall_s=max_wall_s,
        log=lambda m: err.print(m), resume=resume, fresh=fresh, tls=tls,
        token_file=token_file, tls_ca=tls_ca, agents=agents)
    from greenhop.cli.simulate import warn

    warn(err, sc.with_policies([ctl.cfg.policy_name]))
    try:
        try:
            mode = ctl.prepare()
        except KeyboardInterrupt:
            err.print("interrupted while starting; nothing is running. Run the same command "
                      "again to start or resume")
            raise typer.Exit(130) from None
        ctl.workdir.record(ctl.cfg.run_id, db)
        server = _start_service(serve_at, db, serve_token_file, workdir)
        err.print(f"greenhop run: {mode} run of {sc.name} ({len(sc.sites)} sites, "
                  f"{len(inp.jobs)} jobs, policy {ctl.cfg.policy_name}, time scale "
                  f"{time_scale:g}x), database {db}; `greenhop status --db {db}` shows it")
        from greenhop.runtime.store import export_events

        def write_outputs(summary: dict) -> dict:
            summary["decision_ms_mean"] = (1e3 * float(np.mean(ctl.decision_wall_s))
                                           if ctl.decision_wall_s else None)
            export_events(ctl.store, workdir / "events.jsonl")
            doc = live_metrics(sc, inp, ctl.ledger, ctl.cfg.policy_name, summary, ctl.policy)
            tmp = workdir / "metrics.json.tmp"
            tmp.write_text(json.dumps(doc, sort_keys=True, indent=2, allow_nan=False) + "\n")
            tmp.replace(workdir / "metrics.json")
            return doc

        # written before a finished run is recorded done (a kill -9 in between resumes it),
        # and again after: the log then ends with its run-done event
        summary = ctl.run(before_done=write_outputs)
        doc = write_outputs(summary)
    finally:
        _stop_service(locals().get("server"))
        close_controller(ctl)
    from greenhop.core.errors import RuntimeFailure

    if summary["status"] == "failed":
        left = _checkpointed(summary, "every other job checkpointed and stopped")
        raise RuntimeFailure(f"{summary['error']}; {left}. Fix the cause, then run the same "
                             "command again to retry it")
    if summary.get("recovered_db"):  # stopped like Ctrl-C: its file was gone
        db = ctl.store.path
        raise RuntimeFailure(f"{summary['error']}; stopped at step {summary['step']}: "
                             f"{_checkpointed(summary)}; its records are saved in "
                             f"{summary['recovered_db']}: move them back (mv "
                             f"{summary['recovered_db']} {db}) and run the same command again "
                             "to resume")
    if summary.get("out_of_wall_time"):  # stopped like Ctrl-C, but the run did not finish
        raise RuntimeFailure(f"{summary['error']}; stopped at step {summary['step']}: "
                             f"{_checkpointed(summary)}; run the same command again (with a "
                             "larger --max-wall) to resume")
    if summary["status"] == "stopped":
        err.print(f"stopped at step {summary['step']}: {_checkpointed(summary)}; run the same "
                  "command again to resume")
        return
    m = doc["policies"][ctl.cfg.policy_name]
    err.print(f"done: {summary['migrations']} migrations, {m['finished_jobs']}/{m['jobs']} jobs "
              f"finished, {m['non_renewable_kwh']:.1f} kWh non-renewable, "
              f"{summary['wall_s']:.1f} s wall; metrics in {workdir / 'metrics.json'}")


def _checkpointed(summary: dict, done: str = "every job checkpointed") -> str:
    """What the stop left: ``done``, or which jobs did not checkpoint (their trainer did not
    exit, or their move did not land, in time) and what the next run does with them."""
    left = summary.get("not_checkpointed") or []
    if not left:
        return done
    names = ", ".join(f"{n} ({ph})" for n, ph in left)
    return (f"{names} did not finish checkpointing or moving before the stop ended, the "
            f"rest checkpointed; the next run resumes {'it' if len(left) == 1 else 'them'} "
            "from the last intact checkpoint")


def _serve_address(serve: str | None, token_file: Path | None):
    """``--serve HOST:PORT`` checked before any work starts (None without it)."""
    if serve is None:
        if token_file is not None:
            raise ConfigError("--serve-token-file goes with --serve HOST:PORT")
        return None
    from greenhop.runtime.auth import read_token_file
    from greenhop.service.server import check_port, parse_address

    host, port = parse_address(serve)
    check_port(host, port, "--serve", "--serve")
    if token_file is not None:
        read_token_file(token_file, "--serve-token-file")
    return host, port


def _start_service(serve_at, db: Path, token_file: Path | None, workdir: Path):
    """``greenhop serve`` on the run's database as a child process (None without --serve)."""
    if serve_at is None:
        return None
    from greenhop.service.server import base_url, start_child

    proc = start_child(db, *serve_at, token_file, log=workdir / "serve.log")
    err.print(f"serving the run at {base_url(*serve_at)}")
    return proc


def _stop_service(proc) -> None:
    if proc is not None:
        from greenhop.service.server import stop_child

        stop_child(proc)


def _agent_health(url: str | None, timeout_s: float = 1.0) -> str:
    """``"ok"`` when the agent at ``url`` answers its health check, else why not."""
    if not url:
        return "none"
    from greenhop.runtime.transfer import probe_agent

    return probe_agent(url, timeout_s)


def _when(unix_s) -> str | None:
    import datetime as dt

    if unix_s is None:
        return None
    return dt.datetime.fromtimestamp(float(unix_s), dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_snapshot(db: Path, job: str | None = None, *, probe: bool = True) -> dict:
    """What ``greenhop status --json`` prints: run, sites, jobs, migrations in flight
    (only ``job`` when given; an unknown name is a :class:`ConfigError`).

    It checks rather than repeats the database: a ``live`` run whose controller no longer
    holds the database lock is reported ``dead`` (with the time of its last heartbeat),
    each recorded trainer pid is checked (pid and kernel start time), and with ``probe``
    each site agent is asked for its health. The database is only read
    (``Store.open(read_only=True)``), its rows through the check a resumed run makes
    (:meth:`~greenhop.runtime.store.Store.state`: a damaged value is one line, exit 2); a
    run still starting is said as such (:func:`_refuse_if_starting`)."""
    from greenhop.runtime.executor import alive
    from greenhop.runtime.store import run_status

    st = _open_unless_starting(db)
    try:
        if job is not None:
            st.job(job)
        run, site_rows, job_rows = st.state()  # a damaged value: one line, exit 2
        if run is None:
            _refuse_if_starting(db)
            raise ConfigError(f"{db}: the run has not started yet")
        owner_alive = st.owner_alive()
        status = run_status(run["status"], owner_alive)
        dead_since = (_when(run["heartbeat_unix_s"] or run["updated_unix_s"])
                      if status == "dead" else None)
        sites = [{"name": r["name"], "agent_url": r["agent_url"], "agent_pid": r["agent_pid"],
                  "agent_started": _when(r["agent_started_unix_s"]),
                  "agent_restarts": r["agent_restarts"],
                  "agent_health": (_agent_health(r["agent_url"]) if probe and owner_alive
                                   else "not checked" if probe is False else "stopped"),
                  "renewable_w": r["renewable_w"], "surplus_w": r["surplus_w"]}
                 for r in site_rows]
        names = [s["name"] for s in sites]

        def sname(i):
            return None if i is None else names[i]

        jobs = [{"name": r["name"], "phase": r["phase"], "site": sname(r["site"]),
                 "dest": sname(r["dest"]), "token": r["token"], "trainer_pid": r["trainer_pid"],
                 "trainer_alive": bool(r["trainer_pid"]) and alive(r["trainer_pid"],
                                                                    r["trainer_start"]),
                 "attempts": r["attempts"], "error": r["error"],
                 "step": r["real_step"], "total_steps": r["total_steps"]} for r in job_rows
                if job is None or r["name"] == job]
        moving = [j for j in jobs if j["phase"] in ("saving", "transferring", "restoring")]
        return {"run": {"scenario": run["scenario"], "policy": run["policy"],
                        "status": status, "recorded_status": run["status"],
                        "owner_pid": run["owner_pid"] if owner_alive else None,
                        "last_owner_pid": run["owner_pid"], "dead_since": dead_since,
                        "heartbeat": _when(run["heartbeat_unix_s"]), "error": run["error"],
                        "step": run["step"], "n_steps": run["n_steps"],
                        "time_scale": run["time_scale"]},
                "sites": sites, "jobs": jobs, "migrations_in_progress": moving}
    finally:
        st.close()


def _refuse_if_starting(path: Path) -> None:
    """Raise :class:`~greenhop.runtime.workdir.RunStarting` when a controller holds the work
    directory ``path`` lies in: what ``path`` lacks (the database, its run, its run-start
    event) is only not written yet."""
    from greenhop.runtime.workdir import RunStarting, lock_holder

    pid = lock_holder(path.parent)
    if pid is not None:
        raise RunStarting(f"a run is starting in {path.parent} (controller pid {pid}); try "
                          "again in a moment")


@contextlib.contextmanager
def _unless_starting(path: Path):
    """Read the run database or log ``path`` inside: one a starting run has not made yet
    (no file, or a database without its tables) is :func:`_refuse_if_starting`'s error,
    and otherwise the reader's own."""
    from greenhop.runtime.store import NotARunDatabase

    if not path.exists():
        _refuse_if_starting(path)
    try:
        yield
    except NotARunDatabase:
        _refuse_if_starting(path)
        raise


def _open_unless_starting(db: Path):
    """The run database at ``db`` opened read-only (:func:`_unless_starting`)."""
    from greenhop.runtime.store import Store

    with _unless_starting(db):
        return Store.open(db, read_only=True)


def status_command(
    db: Path = typer.Option(DEFAULT_WORKDIR / "run.db", "--db", help="Run database."),
    job: str | None = typer.Option(None, "--job", help="Show this job only."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a live (or finished) run: sites, surplus, jobs, migrations in progress."""
    paths.regular_file(db, "--db")
    snap = status_snapshot(db, job)
    if as_json:
        typer.echo(json.dumps(snap, indent=2, sort_keys=True))
        return
    r = snap["run"]
    con = Console(highlight=False)
    if r["status"] == "dead":
        head = (f"run dead since {r['dead_since']} (controller pid {r['last_owner_pid']} is "
                "gone; `greenhop run` with the same arguments resumes it)")
    elif r["status"] == "live":
        head = f"run live (controller pid {r['owner_pid']})"
    else:
        head = f"run {r['status']}"
    con.print(f"{head}, policy {r['policy']}, step {r['step']}/{r['n_steps']}, scenario "
              f"{r['scenario']}")
    if r["error"]:
        con.print(f"error: {r['error']}", markup=False)
    t = Table(Column("site", no_wrap=True), "surplus kW", "renewable kW", "agent",
              "agent pid", "health")
    for s in snap["sites"]:
        t.add_row(s["name"], _kw(s["surplus_w"]), _kw(s["renewable_w"]), s["agent_url"] or "–",
                  f"{s['agent_pid'] or '–'}" + (f" ({s['agent_restarts']} restarts)"
                                                 if s["agent_restarts"] else ""),
                  s["agent_health"])
    con.print(t)
    t = Table(Column("job", no_wrap=True), "phase", Column("site", no_wrap=True), "dest",
              "step", "token", "trainer pid", "error")
    for j in snap["jobs"]:
        pid = "–" if not j["trainer_pid"] else (
            f"{j['trainer_pid']}" + ("" if j["trainer_alive"] else " (dead)"))
        t.add_row(j["name"], j["phase"], j["site"] or "–", j["dest"] or "–",
                  f"{j['step']}/{j['total_steps']}", str(j["token"]), pid,
                  (j["error"] or "")[:80])
    con.print(t)
    con.print(f"migrations in progress: {len(snap['migrations_in_progress'])}")


def _kw(w) -> str:
    return "–" if w is None else f"{w / 1e3:,.1f}"


def replay_report(log: Path, scenario: Path | None = None, *, against_sim: bool = True,
                  files_given: str = "") -> dict:
    """Re-run the logged decisions (and optionally the simulator) on a run's event log.

    The run's own scenario file (the one ``run-start`` names) must still have the SHA-256
    the run logged: a file changed since would make the policy look wrong (ConfigError).
    A ``scenario`` given in its place may differ; ``scenario_as_run`` says whether it does
    not (None: the run logged no digest), but its sites, jobs and steps must be the run's
    (:func:`_check_horizon`). ``files_given``: the ``--policy-file`` values loaded, named
    when the run's policy is none of theirs."""
    from greenhop.policies import POLICIES, make_policy
    from greenhop.policies.plugins import file_sha256
    from greenhop.runtime.ledger import Ledger, live_forecasts
    from greenhop.runtime.replay import check_event, partial_last_line, replay_decisions, where
    from greenhop.sim.api import policy_params

    events = _events_unless_starting(log)
    start_ev = next((e for e in events if e["kind"] == "run-start"), None)
    if start_ev is None:
        raise ConfigError(f"{log}: no run-start event; this is not a greenhop run log")
    start = check_event(start_ev)
    # an unknown policy is a field of the log like any other: said where it is
    try:
        POLICIES.get(start.policy)
    except ConfigError as exc:  # with the --policy-file given, when that is another's
        hint = (f"; --policy-file {files_given} is not it: pass the file of the run's "
                "policy") if files_given else ""
        raise ConfigError(f"{where(start_ev)}: run-start body: policy: {exc}{hint}") from None
    path = scenario or Path(start.scenario)
    as_run = None
    if start.scenario_sha256 is not None and path.is_file():
        try:
            as_run = file_sha256(path) == start.scenario_sha256
        except OSError:
            as_run = None  # unreadable: _scenario_inputs says so
        if as_run is False and scenario is None:
            # the check `greenhop run` makes before it resumes a run
            raise ConfigError(
                f"{path}: this scenario file has other contents than when the run was "
                "started (its SHA-256 differs from the scenario_sha256 the run logged), so "
                "the replay would blame the policy for the change; restore the file, or "
                "pass a copy of the run's scenario with --scenario")
    sc, inp = _scenario_inputs(path)
    logged = {"sites": start.sites, "jobs": start.jobs}
    given = {"sites": list(sc.site_names), "jobs": [j.name for j in inp.jobs]}
    for key in ("sites", "jobs"):
        if logged[key] is not None and logged[key] != given[key]:
            raise ConfigError(f"{path}: not the scenario of this run: the run's {key} are "
                              f"{', '.join(map(str, logged[key]))}, the scenario's "
                              f"{', '.join(given[key])}; pass the run's scenario with "
                              "--scenario")
    _check_horizon(start, events, inp, path, given=scenario is not None and as_run is not True)
    name = start.policy
    policy = make_policy(name, **policy_params(sc, name))
    led = Ledger(inp, forecasts=live_forecasts(inp, policy, sc.forecast, sc.seed))
    res = replay_decisions(led, policy, events)
    ends = [e["kind"][len("run-"):] for e in events
            if e["kind"] in ("run-done", "run-stopped", "run-failed")]
    out = {"policy": name, "decisions": res["decisions"], "actions": res["actions"],
           "mismatches": res["mismatches"], "scenario": str(path),
           "scenario_as_run": as_run,
           "live_migrations": [list(m) for m in res["migrations"]],
           # how the run ended; None: the log has no end (a run going on, or cut off)
           "ended": ends[-1] if ends else None,
           "last_step": max((int(e["step"]) for e in events), default=0),
           # a partial last line (no newline after it) that was not replayed; None: none
           "dropped_line": partial_last_line(log)}
    if against_sim:
        from greenhop.sim import simulate

        sim = simulate(path, policies=[name])
        run = sim.runs[name]
        sn = sc.site_names
        jn = [j.name for j in inp.jobs]
        sim_moves = [
            [round(m["start_s"] / sc.step_s), jn[m["job"]], sn[m["src"]], sn[m["dst"]]]
            for m in run.migrations]
        if out["ended"] != "done":
            # A run stopped, failed or cut off made its decisions only up to its last one:
            # the simulator's later moves are not a difference.
            upto = max((int(e["step"]) for e in events if e["kind"] == "decision"),
                       default=-1)
            sim_moves = [m for m in sim_moves if m[0] <= upto]
            out["compared_upto_step"] = upto
        out["sim_migrations"] = sim_moves
        out["same_as_sim"] = out["sim_migrations"] == out["live_migrations"]
    return out


def _events_unless_starting(log: Path) -> list[dict]:
    """The events of the run database or events.jsonl ``log``
    (:func:`~greenhop.runtime.store.read_events`); a log a starting run has not written yet
    (no file, no tables, no run-start event) is :func:`_refuse_if_starting`'s error."""
    from greenhop.runtime.store import read_events

    with _unless_starting(log):
        events = read_events(log)
    if not any(e["kind"] == "run-start" for e in events):
        _refuse_if_starting(log)
    return events


def _check_horizon(start, events: list[dict], inp, path: Path, *, given: bool) -> None:
    """Refuse a scenario ``path`` whose steps are not the run's: the steps the run-start
    event records (``n_steps``), or, in a log written before it did, the last step of a
    power or decision event. Only for a scenario ``given`` in place of the run's own (its
    SHA-256 differs, or was not logged): with the run's own file the log would be at fault,
    which the replay itself says."""
    if not given:
        return
    T = int(inp.n_steps)
    label = f"--scenario {path}: not the scenario the run was started with"
    hint = f"pass the run's scenario ({start.scenario}) or a copy of it"
    if start.n_steps is not None:
        if start.n_steps != T:
            raise ConfigError(f"{label}: the run has {start.n_steps} steps, the scenario {T} "
                              f"(its horizon over its step); {hint}")
        return
    last = max((e["step"] for e in events if e["kind"] in ("power", "decision")
                and isinstance(e["step"], int)), default=-1)
    if last >= T:
        raise ConfigError(f"{label}: the run's log reaches step {last}, the scenario has "
                          f"steps 0..{T - 1} only (its horizon over its step); {hint}")


def replay_command(
    log: Path = typer.Argument(..., help="A run database (run.db) or its events.jsonl."),
    scenario: Path | None = typer.Option(None, "--scenario",
                                         help="Scenario file (default: the one logged)."),
    no_sim: bool = typer.Option(False, "--no-sim", help="Skip the simulator comparison."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    policy_file: list[str] = typer.Option(
        [], "--policy-file", show_default=False,
        help="The FILE.py:CLASS (or NAME=FILE.py:CLASS) the run was started with, when its "
             "policy came from a file."),
) -> None:
    """Replay a live run's event log: the policy must make the same decisions again."""
    from greenhop.cli import policy_files

    paths.regular_file(log, "LOG")
    if scenario is not None:  # a pipe would block the read
        paths.regular_file(scenario, "--scenario")
    loaded, _ = policy_files.load(policy_file)
    given = ", ".join(f"{text} ({name!r})" for text, name in zip(policy_file, loaded,
                                                                strict=True))
    out = replay_report(log, scenario, against_sim=not no_sim, files_given=given)
    unused = [f"--policy-file {text} ({name!r})"
              for text, name in zip(policy_file, loaded, strict=True) if name != out["policy"]]
    if unused:
        err.print(f"warning: {', '.join(unused)}: not the run's policy ({out['policy']!r}), "
                  "so not used", soft_wrap=True)
    if out["ended"] is None:
        err.print(f"warning: {log} has no end of run (run-done, run-stopped or run-failed): "
                  f"it stops at step {out['last_step']}, so only the decisions up to there "
                  "were replayed (a run still going, or a log cut off)")
    if out["dropped_line"] is not None:
        err.print(f"warning: {log}:{out['dropped_line']}: a partial last line (an event cut "
                  "off, no newline after it) was dropped, not replayed")
    if out["scenario_as_run"] is False:
        err.print(f"warning: --scenario {out['scenario']} is not the file the run was started "
                  "with (another SHA-256): a mismatch may come from the scenario, not the "
                  "policy")
    if as_json:
        typer.echo(json.dumps(out, indent=2, sort_keys=True))
    else:
        con = Console(highlight=False)
        con.print(f"replayed {out['decisions']} decisions of policy {out['policy']}: "
                  f"{out['actions']} actions, {len(out['mismatches'])} mismatches")
        for m in out["mismatches"][:SHOWN_MISMATCHES]:
            con.print(f"  step {m['step']}: logged {json.dumps(m['logged'])}, replayed "
                      f"{json.dumps(m['replayed'])}", markup=False, soft_wrap=True)
        if len(out["mismatches"]) > SHOWN_MISMATCHES:
            con.print(f"  ... and {len(out['mismatches']) - SHOWN_MISMATCHES} more (--json "
                      "lists them all)")
        t = Table("step", *(Column(c, no_wrap=True) for c in ("job", "from", "to")),
                  title="live migrations")
        for m in out["live_migrations"]:
            t.add_row(*(str(x) for x in m))
        con.print(t)
        if "same_as_sim" in out:
            upto = out.get("compared_upto_step")
            con.print("simulator on the same scenario" + (
                "" if upto is None else f", up to the run's last decision (step {upto})")
                + ": " + ("the same migrations, in the same order" if out["same_as_sim"]
                          else _first_difference(out["live_migrations"],
                                                 out["sim_migrations"])), markup=False)
    if out["mismatches"] or out.get("same_as_sim") is False:
        raise typer.Exit(1)


SHOWN_MISMATCHES = 5
"""Mismatched decisions ``greenhop replay`` prints (``--json`` has them all)."""


def _first_difference(live: list, sim: list) -> str:
    """Where the live and simulated migration lists (``[step, job, src, dst]`` each) first
    differ, and their counts."""
    i = next((k for k, (a, b) in enumerate(zip(live, sim, strict=False)) if a != b),
             min(len(live), len(sim)))
    first = (f"live {json.dumps(live[i]) if i < len(live) else 'none'}, simulator "
             f"{json.dumps(sim[i]) if i < len(sim) else 'none'}")
    return (f"different migrations from #{i + 1}: {first} ({len(live)} live, {len(sim)} "
            "simulated; --json lists them)")


def _read_metrics(p: Path) -> dict:
    """The document of a metrics.json ``p``; exit 2 (a one-line error) when it is missing,
    not a regular file (a FIFO or a device would never end), not JSON or not a metrics.json."""
    if not p.exists():
        raise ConfigError(f"{p}: no such metrics.json; `greenhop run` and "
                          "`greenhop simulate --out DIR` write one")
    paths.regular_file(p, "metrics.json")  # a pipe or a device would never end
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory; give the path of a metrics.json")
    try:
        doc = json.loads(p.read_text())
        pol = doc["policies"]
    except json.JSONDecodeError as exc:  # cut off or not JSON: say where
        raise ConfigError(f"{p}: not valid JSON ({exc}); a metrics.json cut off or "
                          "edited?") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError):
        pol = None
    # a sweep's summary.json has a list of names here; metrics.json a table per policy
    if (not isinstance(pol, dict) or not pol
            or not all(isinstance(m, dict) for m in pol.values())):
        raise ConfigError(f"{p}: not a greenhop metrics.json (needs "
                          '{"policies": {NAME: {...}}})')
    return doc


def _partial_note(p: Path, doc: dict) -> str | None:
    """A note when ``doc`` is a live run that did not finish (``live.status`` not done):
    its figures cover the steps it booked only."""
    live = doc.get("live")
    if not isinstance(live, dict) or live.get("status") in (None, "done"):
        return None
    step, sc = live.get("step"), doc.get("scenario")
    try:  # the horizon's steps, when the file records them
        of = f" of {round(float(sc['horizon_h']) * 3600 / float(sc['step_s']))}"
    except (TypeError, ValueError, KeyError, ZeroDivisionError, OverflowError):
        of = ""
    steps = f" after {step}{of} steps" if isinstance(step, int) else ""
    return (f"note: {p} is a live run that ended {live['status']}{steps}; its figures cover "
            "the steps it booked only")


SCENARIO_KEYS = ("name", "start", "horizon_h", "step_s", "seed", "sites", "links", "jobs")
"""What a metrics.json records of its scenario (``"scenario"``), compared by ``compare``."""


def _scenario_note(a: Path, b: Path, docs: list[dict]) -> str | None:
    """A note when the two metrics.json record different scenarios (any of
    :data:`SCENARIO_KEYS` both record differs): their figures are of unlike runs."""
    sa, sb = (d.get("scenario") for d in docs)
    if not (isinstance(sa, dict) and isinstance(sb, dict)):
        return None
    diffs = [f"{k} {sa[k]!r} vs {sb[k]!r}" for k in SCENARIO_KEYS
             if k in sa and k in sb and sa[k] != sb[k]]
    if not diffs:
        return None
    return (f"note: {a} and {b} are of different scenarios ({', '.join(diffs)}); the "
            "table compares unlike runs")


def _value(p: Path, policy: str, key: str, v: float | bool) -> float | bool | None:
    """A metric as compared: the number (None when NaN or infinite) or bool itself; exit 2
    on an integer too large for a float."""
    if isinstance(v, bool):
        return v
    try:
        x = float(v)
    except OverflowError:
        raise ConfigError(f"{p}: policies.{policy}.{key}: the integer {str(v)[:12]}... "
                          f"({len(str(abs(v)))} digits) is out of range") from None
    return v if math.isfinite(x) else None


def _diff_pct(a: float | bool | None, b: float | bool | None) -> float | None:
    """``100 x (a - b) / |b|`` [%]; None for yes/no values, a value that is not finite or
    a difference from ``b = 0`` (no percentage of zero)."""
    if isinstance(a, bool) or a is None or b is None:
        return None
    if a == b:
        return 0.0
    if not b:
        return None
    a, b = float(a), float(b)
    d = 100.0 * (a - b) / abs(b)
    if not math.isfinite(d):  # a - b, or 100 x it, past the largest float: divide first
        d = 100.0 * (a / abs(b) - math.copysign(1.0, b))
    return d if math.isfinite(d) else None


def _diff_mark(a, b, diff: float | None) -> str:
    """The "A vs B" cell: ``+x.x%``, ``n/a (B = 0)`` for a difference from a zero B (no
    percentage), ``n/a`` when either is not finite, ``same`` / ``differs`` for yes/no."""
    if isinstance(a, bool):
        return "same" if a == b else "differs"
    if diff is not None:
        return f"{diff:+.1f}%"
    return "n/a (B = 0)" if a is not None and b == 0 else "n/a"


def _cell(v: float | bool) -> str:
    """A value as the table shows it (the file's own, NaN and infinities included)."""
    return str(v).lower() if isinstance(v, bool) else f"{float(v):.4g}"


def compare_command(
    a: Path = typer.Argument(..., help="metrics.json of a run or a simulation."),
    b: Path = typer.Argument(..., help="metrics.json to compare with."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (diff_pct null where no "
                                 "percentage is defined; NaN and infinities as null)."),
) -> None:
    """Show two metrics.json side by side (a live run and a simulation, say).

    "A vs B" is ``100 x (A - B) / |B|``; ``n/a (B = 0)`` marks a difference from a zero B,
    ``n/a`` a value that is not a finite number; yes/no metrics read ``same`` or ``differs``.
    Metrics in one file only, or a number in one and not in the other, are named on
    stderr (``note: not compared: ...``). Files of different scenarios are noted (their
    name, start, horizon, step, seed or sizes differ), and so is a live run that did not
    finish: its figures cover the steps it booked."""
    files = (a, b)
    full = [_read_metrics(p) for p in files]
    docs = [d["policies"] for d in full]
    for note in [_scenario_note(a, b, full),
                 *(_partial_note(p, d) for p, d in zip(files, full, strict=True))]:
        if note:
            err.print(note, soft_wrap=True)
    common = [n for n in docs[0] if n in docs[1]]
    pairs = [(n, n) for n in common] or [(next(iter(docs[0])), next(iter(docs[1])))]
    if not common:
        err.print(f"note: no policy is in both files; comparing {a}'s {pairs[0][0]!r} with "
                  f"{b}'s {pairs[0][1]!r}")
    rows, shown, left = [], [], []
    for na, nb in pairs:
        ma, mb = docs[0][na], docs[1][nb]
        left += [f"{k} (only in {b})" for k in mb if k not in ma]
        for k in ma:
            if k not in mb:
                left.append(f"{k} (only in {a})")
                continue
            if not all(isinstance(v, int | float) for v in (ma[k], mb[k])):
                if any(isinstance(v, int | float) for v in (ma[k], mb[k])):
                    left.append(f"{k} (a number in one file only)")
                continue
            va, vb = _value(a, na, k, ma[k]), _value(b, nb, k, mb[k])
            if isinstance(va, bool) != isinstance(vb, bool):
                left.append(f"{k} (yes/no in one file, a number in the other)")
                continue
            diff = _diff_pct(va, vb)
            rows.append({"policy": na if na == nb else f"{na} | {nb}", "metric": k,
                         "a": va, "b": vb, "diff_pct": diff})
            shown.append((_cell(ma[k]), _cell(mb[k]), _diff_mark(va, vb, diff)))
    if left:  # said, not dropped without a word: a metric renamed or retyped shows here
        err.print(f"note: not compared: {', '.join(left[:8])}"
                  + (f" and {len(left) - 8} more" if len(left) > 8 else ""), soft_wrap=True)
    if not rows:
        raise ConfigError(f"{a} and {b} have no numeric metric in common for "
                          f"{', '.join(sorted({f'{x} | {y}' if x != y else x for x, y in pairs}))}")
    if as_json:
        typer.echo(json.dumps(rows, indent=2, allow_nan=False))
        return
    pols = sorted({r["policy"] for r in rows})
    t = Table(title=f"policy {pols[0]}: A = {a}, B = {b}" if len(pols) == 1 else
              f"A = {a}, B = {b}")
    if len(pols) > 1:
        t.add_column("policy", no_wrap=True)
    t.add_column("metric", no_wrap=True)
    for col in ("A", "B", "A vs B"):
        t.add_column(col, justify="right", no_wrap=True)
    for r, cells in zip(rows, shown, strict=True):
        t.add_row(*([r["policy"]] if len(pols) > 1 else []), r["metric"], *cells)
    Console(highlight=False).print(t)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
    app.command("status")(status_command)
    app.command("replay")(replay_command)
    app.command("compare")(compare_command)


