"""``greenhop run``: live runs of a scenario on real trainers.

The composition root of the live orchestrator: it reads the scenario with the
simulator's parser (``greenhop.sim``), hands its arrays to the controller
(``greenhop.runtime``), and turns the run's books into the simulator's
``metrics.json`` format. The two layers never import each other; only the CLI
sees both (this module, and ``greenhop replay`` in :mod:`greenhop.cli.replay`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import typer
from rich.console import Console

from greenhop.cli import paths
from greenhop.core.errors import ConfigError
from greenhop.core.units import parse_quantity

err = Console(stderr=True, highlight=False)

DEFAULT_WORKDIR = Path("greenhop-run")
#: shortest --max-wall [s]: less than a run takes to start its agents and trainers
MIN_WALL_S = 10.0


def _live_extras(data: dict, path: Path) -> dict:
    """Take the live-only parts out of a scenario document (the simulator does not read
    them): ``[agents]`` (site -> URL of an agent an operator started) and each job's
    ``command``, ``env``, ``cwd``, ``steps``. Returns ``{"agents", "jobs"}``."""
    from greenhop.core.names import check_name
    from greenhop.runtime.agent import normalize_url
    from greenhop.sim.scenario import LIVE_JOB_KEYS

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
        extra = {k: jt.pop(k) for k in LIVE_JOB_KEYS if k in jt}  # checked here
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


def scenario_inputs(path: Path, extras: dict | None = None):
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


def _policy_source(name: str, policy) -> dict[str, str] | None:
    """The file of a policy loaded from a file or package, and its SHA-256 (a resumed run
    says when it changed); ``None`` for a built-in."""
    import inspect

    from greenhop.policies.plugins import file_sha256, plugin_origin

    if plugin_origin(name) is None:
        return None
    file = inspect.getsourcefile(type(policy))
    return None if file is None else {"file": file, "sha256": file_sha256(Path(file))}


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
    from greenhop.sim.forecasts import check_forecast_history

    check_time_scale(time_scale)
    if train_steps < 1 or every < 1:
        raise ConfigError("--train-steps and --checkpoint-every must be >= 1")
    extras: dict = {}
    sc, inp = scenario_inputs(scenario, extras)
    if sc.step_s / time_scale > max_wall_s:  # it would stop before booking one step
        from greenhop.core.units import format_duration

        raise ConfigError(
            f"--time-scale {time_scale:g}: one {format_duration(sc.step_s)} step of the "
            f"scenario lasts {format_duration(sc.step_s / time_scale)} of wall time, longer "
            f"than --max-wall ({format_duration(max_wall_s)}): the run would stop before "
            "its first step; raise --time-scale (3600: an hour per second)")
    name = policy or (sc.policies[0] if sc.policies else "static")
    params = policy_params(sc, name)
    # unknown names and parameters, and what a live run cannot do, fail here, before the
    # work directory or any process exists
    made = make_policy(name, **params)
    check_live_run(made, inp)
    if made.capabilities.window_forecasts:  # computed live from the trace history
        check_forecast_history(sc)
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
        forecast=sc.forecast, seed=sc.seed, policy_source=_policy_source(name, made))
    _refuse_before_workdir(db, cfg, workdir)
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


def _refuse_before_workdir(db: Path, cfg, workdir: Path) -> None:
    """Refuse, before the work directory, its secret or logs are made, a database another
    controller owns (the controller takes the lock for good later, in ``prepare``) and a
    run this start cannot resume (another scenario or policy; one that finished, unless in
    its own work directory, where ``prepare`` may first mend its events.jsonl)."""
    from greenhop.runtime.controller import refuse_another_run
    from greenhop.runtime.store import Store

    if not db.is_file() or db.stat().st_size == 0:  # none yet (or an empty file to fill)
        return
    probe = Store.open(db)
    try:
        probe.acquire()  # RunLockedError names the live controller
        row = probe.run_row()
    finally:
        probe.close()  # releases the lock again
    if row is None:
        return
    if row["status"] == "done" and db.resolve().parent == workdir.resolve():
        return  # its own work directory: the controller refuses it after the mend
    refuse_another_run(db, row, cfg)


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
    # the segments as the run's end (its last booked step) closes them, the books' per-step
    # job loads: suspended_h and the net-green-loss moves read them, as in the simulator
    segments, segment_gpus = ledger.core.segments_until(ledger.next_step * ledger.dt)
    res = RunResult(
        policy=policy, energy_j=ledger.energy_j, demand_w=np.zeros((0, 0)),
        grid_w=ledger.core.books.grid_w, job_load_w=ledger.core.books.job_load_w, flows=None,
        soc_j=None,
        job_finish_s=ledger.finish_s, job_start_s=ledger.start_s,
        job_remaining_gpu_s=ledger.remaining, job_energy_j=ledger.job_energy,
        job_down_s=ledger.job_down, job_migrations=ledger.job_moves, job_progress_log=None,
        migrations=ledger.migrations, segments=segments, segment_gpus=segment_gpus,
        counters=ledger.counters,
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
    """Run SCENARIO live: a controller, one site agent per site, real training processes.

    Ctrl-C (or SIGTERM, SIGHUP) checkpoints every job and stops; the same command resumes.

    Exit 0: finished, or stopped cleanly; 2: bad input.

    Exit 1: a job failed, --max-wall ran out, or a stop left a job not checkpointed.
    """
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
    from greenhop.runtime.controller import RunFinished

    warn(err, sc.with_policies([ctl.cfg.policy_name]))
    try:
        try:
            mode = ctl.prepare()
        except RunFinished as exc:
            # a controller killed between recording the run done and its last export left
            # events.jsonl without its end: write it again from the database, then refuse
            from greenhop.runtime.event_log import ends_with_run_end, export_events

            if not ends_with_run_end(workdir / "events.jsonl"):
                export_events(ctl.store, workdir / "events.jsonl")
                raise RunFinished(f"{exc}; its events.jsonl lacked the run's end and was "
                                  "written again from the database") from None
            raise
        except KeyboardInterrupt:
            err.print("interrupted while starting; nothing is running. Run the same command "
                      "again to start or resume")
            raise typer.Exit(130) from None
        ctl.catch_signals()  # a Ctrl-C from here on stops the run as one during it does
        ctl.workdir.record(ctl.cfg.run_id, db)
        server = _start_service(serve_at, db, serve_token_file, workdir)
        err.print(f"greenhop run: {mode} run of {sc.name} ({len(sc.sites)} sites, "
                  f"{len(inp.jobs)} jobs, policy {ctl.cfg.policy_name}, time scale "
                  f"{time_scale:g}x), database {db}; `greenhop status --db {db}` shows it")
        from greenhop.runtime.event_log import export_events

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
        from greenhop.runtime.controller import PolicyStopped

        failure = ctl.failure
        if isinstance(failure, PolicyStopped):  # its class keeps the exit code (2: config)
            left = _checkpointed(summary, "every job checkpointed and stopped")
            kind = ConfigError if isinstance(failure.original, ConfigError) else RuntimeFailure
            raise kind(f"{summary['error']}; {left}. Fix the policy, then run the same "
                       "command again to resume") from None
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
        said = (f"stopped at step {summary['step']}: {_checkpointed(summary)}; run the same "
                "command again to resume")
        if summary.get("not_checkpointed"):  # a script must not read this as a clean stop
            raise RuntimeFailure(said)
        err.print(said)
        return
    m = doc["policies"][ctl.cfg.policy_name]
    err.print(f"done: {summary['migrations']} migrations, {m['finished_jobs']}/{m['jobs']} jobs "
              f"finished, {m['job_nr_kwh']:.2f} kWh job grid energy ({m['non_renewable_kwh']:.1f} "
              f"kWh non-renewable at the sites, base load included), {summary['wall_s']:.1f} s "
              f"wall; metrics in {workdir / 'metrics.json'}")


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


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
