"""``greenhop status``: show a live (or finished) run from its database: the run, its
sites (surplus, agents and their health), its jobs and the migrations in progress.

It only reads the database, and checks rather than repeats it: a controller that is
gone, a trainer that died and an agent that does not answer are said as such."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Column, Table

from greenhop.cli import paths
from greenhop.cli.run import DEFAULT_WORKDIR
from greenhop.cli.run_state import open_unless_starting, refuse_if_starting
from greenhop.core.errors import ConfigError


def _agent_health(url: str | None, timeout_s: float = 1.0) -> str:
    """``"ok"`` when the agent at ``url`` answers its health check, else why not."""
    if not url:
        return "none"
    from greenhop.runtime.agent_client import probe_agent

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
    run still starting is said as such (:func:`refuse_if_starting`)."""
    from greenhop.runtime.executor import alive
    from greenhop.runtime.store import run_status

    st = open_unless_starting(db)
    try:
        if job is not None:
            st.job(job)
        run, site_rows, job_rows = st.state()  # a damaged value: one line, exit 2
        if run is None:
            refuse_if_starting(db)
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


ERROR_CELL_CHARS = 60
"""The most characters of a job's error shown in the jobs table; a longer one is cut
there and printed whole after the table."""


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
    # folded, not cut, where the terminal is narrow: an agent's URL and a health error
    # ("unreachable (ReadTimeout ...)") are read whole
    t = Table(Column("site", no_wrap=True), "surplus kW", "renewable kW",
              Column("agent", overflow="fold"), "agent pid", Column("health", overflow="fold"))
    for s in snap["sites"]:
        t.add_row(s["name"], _kw(s["surplus_w"]), _kw(s["renewable_w"]), s["agent_url"] or "–",
                  f"{s['agent_pid'] or '–'}" + (f" ({s['agent_restarts']} restarts)"
                                                 if s["agent_restarts"] else ""),
                  s["agent_health"])
    con.print(t)
    t = Table(Column("job", no_wrap=True), "phase", Column("site", no_wrap=True), "dest",
              "step", "token", "trainer pid", "error")
    long_errors = []  # (job, error) too long for the table: printed whole below it
    for j in snap["jobs"]:
        pid = "–" if not j["trainer_pid"] else (
            f"{j['trainer_pid']}" + ("" if j["trainer_alive"] else " (dead)"))
        error = j["error"] or ""
        if len(error) > ERROR_CELL_CHARS:
            long_errors.append((j["name"], error))
            error = error[:ERROR_CELL_CHARS - 9] + "… (below)"
        t.add_row(j["name"], j["phase"], j["site"] or "–", j["dest"] or "–",
                  f"{j['step']}/{j['total_steps']}", str(j["token"]), pid, error)
    con.print(t)
    for name, error in long_errors:
        con.print(f"job {name} error: {error}", markup=False)
    con.print(f"migrations in progress: {len(snap['migrations_in_progress'])}")
    states = [e["state"] for e in _grid_events(db)]
    if states:
        counts = ", ".join(f"{states.count(k)} {k}" for k in ("pending", "taken up", "ignored")
                           if k in states)
        con.print(f"grid events: {counts} (`greenhop grid list --db {db}`)", markup=False)


def _grid_events(db: Path) -> list[dict]:
    """The run's filed grid events (``greenhop grid list``), none where they cannot be
    read: the status above stands without them. Read on a plain read-only connection: the
    snapshot above has checked the database already (a :class:`RunReader` would check
    every page of it again)."""
    import sqlite3

    from greenhop.runtime.store import connect_read_only
    from greenhop.runtime.store_errors import StoreError
    from greenhop.service.data import filed_grid_events

    try:
        con = connect_read_only(db)
        try:
            return filed_grid_events(con, db)
        finally:
            con.close()
    except (ConfigError, StoreError, OSError, sqlite3.DatabaseError):
        return []


def _kw(w) -> str:
    return "–" if w is None else f"{w / 1e3:,.1f}"


def register(app: typer.Typer) -> None:
    app.command("status")(status_command)
