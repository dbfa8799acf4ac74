"""``greenhop replay``: replay a live run's event log. The run's policy makes its
logged decisions again, on the run's scenario; a decision it makes differently is a
mismatch (exit 1). Unless ``--no-sim``, the simulator then runs the same scenario and
its migrations are compared with the run's.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Column, Table

from greenhop.cli import paths
from greenhop.cli.run import scenario_inputs
from greenhop.cli.run_state import refuse_if_starting, unless_starting
from greenhop.core.errors import ConfigError

err = Console(stderr=True, highlight=False)


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
    from greenhop.runtime.event_log import RUN_ENDS
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
            as_run = None  # unreadable: scenario_inputs says so
        if as_run is False and scenario is None:
            # the check `greenhop run` makes before it resumes a run
            raise ConfigError(
                f"{path}: this scenario file has other contents than when the run was "
                "started (its SHA-256 differs from the scenario_sha256 the run logged), so "
                "the replay would blame the policy for the change; restore the file, or "
                "pass a copy of the run's scenario with --scenario")
    sc, inp = scenario_inputs(path)
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
    ends = [e["kind"][len("run-"):] for e in events if e["kind"] in RUN_ENDS]
    out = {"policy": name, "decisions": res["decisions"], "actions": res["actions"],
           "mismatches": res["mismatches"], "scenario": str(path),
           "scenario_as_run": as_run,
           "live_migrations": [list(m) for m in res["migrations"]],
           # moves someone else started ([step, job, src, dst, by]: a drain's "operator",
           # a demand-response event's "grid"); not the policy's, so not compared
           "other_migrations": [
               [int(e["step"]), e["job"], e["body"].get("src"), e["body"].get("dst"),
                e["body"]["by"]]
               for e in events if e["kind"] == "migrate" and isinstance(e.get("body"), dict)
               and e["body"].get("by") not in (None, "policy")],
           # how the run ended; None: the log has no end (a run going on, or cut off)
           "ended": ends[-1] if ends else None,
           "last_step": max((int(e["step"]) for e in events), default=0),
           # what an operator changed during the run ([step, action, target]; a grid
           # event filed live is ["grid event", its id]): the simulator knows none of it,
           # so its migrations may differ for that reason
           "operator_actions": [
               [int(e["step"]), e["body"].get("action", "grid event"),
                e["body"].get("target", e["body"].get("id"))]
               for e in events if isinstance(e.get("body"), dict) and (
                   (e["kind"] == "operator" and e["body"].get("changed", True))
                   or (e["kind"] == "grid-event" and "error" not in e["body"]))],
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
    (:func:`~greenhop.runtime.event_log.read_events`); a log a starting run has not written yet
    (no file, no tables, no run-start event) is :func:`refuse_if_starting`'s error."""
    from greenhop.runtime.event_log import read_events

    with unless_starting(log):
        events = read_events(log)
    if not any(e["kind"] == "run-start" for e in events):
        refuse_if_starting(log)
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
        t = Table("step", *(Column(c, no_wrap=True) for c in ("job", "from", "to", "by")),
                  title="live migrations")
        moves = [[*m, "policy"] for m in out["live_migrations"]] + out["other_migrations"]
        for m in sorted(moves, key=lambda m: m[0]):  # stable: the log's order in a step
            t.add_row(*(str(x) for x in m))
        con.print(t)
        if "same_as_sim" in out:
            upto = out.get("compared_upto_step")
            con.print("simulator on the same scenario" + (
                "" if upto is None else f", up to the run's last decision (step {upto})")
                + ": " + ("the same migrations, in the same order" if out["same_as_sim"]
                          else _first_difference(out["live_migrations"],
                                                 out["sim_migrations"])), markup=False)
            ops = out["operator_actions"]
            if ops and not out["same_as_sim"]:
                said = ", ".join(f"{a}{'' if t is None else ' ' + str(t)} (step {s})"
                                 for s, a, t in ops[:SHOWN_MISMATCHES])
                more = f" and {len(ops) - SHOWN_MISMATCHES} more" if len(ops) > \
                    SHOWN_MISMATCHES else ""
                con.print(f"note: an operator acted during the run: {said}{more}; the "
                          "simulator knows none of it, so its migrations differ for that "
                          "reason, not the policy's (the replayed decisions are the "
                          "policy's check)", markup=False)
    # a difference from the simulator counts only where no operator acted
    if out["mismatches"] or (out.get("same_as_sim") is False
                             and not out["operator_actions"]):
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


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)
