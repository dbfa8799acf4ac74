"""``greenhop bound``: an offline lower bound on a scenario's job-attributable grid energy.

Progress goes to stderr; with ``--json`` the bound's dict goes to stdout alone.
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from greenhop.core.errors import ConfigError
from greenhop.core.units import parse_quantity, parse_size


def bound_command(
    scenario: str | None = typer.Argument(
        None, help="Scenario file (TOML) or packaged scenario name. Default: the packaged "
                   "scenario.", show_default=False),
    kind: str = typer.Option("spacetime", "--kind", "-k",
                             help="space | spacetime | time (time: each job only where "
                                  "static ran it, only when is free; see docs/bounds.md)."),
    seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
    deadlines: bool | None = typer.Option(
        None, "--deadlines/--no-deadlines",
        help="Count each job's work only before its deadline (or not). Default: the "
             "scenario's bounds.deadlines (off without it), as simulate and sweep solve it.",
        show_default=False),
    max_slowdown: float | None = typer.Option(
        None, "--max-slowdown", metavar="X",
        help="spacetime and time only: each job must do its work before arrival + X x its "
             "ideal time "
             "(the slowdown's denominator), X >= 1: the least grid energy of a run in "
             "which no job's slowdown passes X.", show_default=False),
    slowdown_quantile: float | None = typer.Option(
        None, "--slowdown-quantile", metavar="Q",
        help="With --max-slowdown: hold X for the Q quantile of the jobs' slowdowns instead "
             "of every job, 0 < Q < 1 (0.9: runs whose slowdown p90 is at most X).",
        show_default=False),
    whole_exemptions: bool = typer.Option(
        False, "--whole-exemptions",
        help="With --slowdown-quantile: choose the jobs that pass X as whole jobs (a MILP, "
             "stopped within 1% of static's job grid energy and answered by its dual "
             "bound) instead of as shares of jobs (the LP relaxation): tighter, slower."),
    time_limit: str = typer.Option(
        "10min", "--time-limit", metavar="DURATION",
        help="HiGHS's time limit, e.g. 10min or 90s: past it an LP gives no number (exit "
             "1) and a MILP (--whole-exemptions) the dual bound it had reached (still a bound)."),
    block: str = typer.Option(
        "1h", "--block", metavar="DURATION",
        help="Length of the LP's time blocks, e.g. 1h or 15min, rounded to whole steps: "
             "longer blocks make a smaller LP and a looser bound (docs/bounds.md)."),
    as_json: bool = typer.Option(False, "--json", help="Print the bound as JSON only."),
    max_memory: str = typer.Option(
        "4GB", "--max-memory", metavar="SIZE",
        help="Refuse an LP whose estimated peak memory is larger, e.g. 4GB or 512MiB."),
) -> None:
    """Solve the space, space-time or time lower bound of a scenario's job grid energy (an
    LP; a MILP with --whole-exemptions)."""
    from greenhop.sim import load_scenario
    from greenhop.sim.bounds import BOUND_KINDS, check_max_slowdown, compute_bound
    from greenhop.sim.bounds_lp import MIP_TIME_LIMIT_STATUS
    from greenhop.sim.inputs import build_inputs
    from greenhop.sim.scenario import check_seed

    if kind not in BOUND_KINDS:
        raise ConfigError(f"--kind: unknown kind {kind!r}; valid kinds: {', '.join(BOUND_KINDS)}")
    if seed is not None:
        check_seed(seed, "--seed")
    check_max_slowdown(kind, max_slowdown, slowdown_quantile, whole_exemptions, options=True)
    try:
        max_memory_bytes = parse_size(max_memory)
    except ConfigError as exc:
        raise ConfigError(f"--max-memory: {exc}") from None
    if not max_memory_bytes > 0:
        raise ConfigError(f"--max-memory: must be > 0 B, got {max_memory!r}")
    time_limit_s = parse_quantity(time_limit, "duration", option="--time-limit", plain=False)
    if not time_limit_s > 0:
        raise ConfigError(f"--time-limit: must be > 0 s, got {time_limit!r}")
    block_s = parse_quantity(block, "duration", option="--block", plain=False)
    if not block_s > 0:
        raise ConfigError(f"--block: must be > 0 s, got {block!r}")
    err = Console(stderr=True, highlight=False)
    with err.status("loading the scenario") as status:
        sc = load_scenario(scenario)
        if seed is not None:
            sc = sc.with_seed(seed)
        if deadlines is None:
            deadlines = sc.bounds_deadlines
        inputs = build_inputs(sc)
        result = compute_bound(inputs, kind, deadlines=deadlines, max_slowdown=max_slowdown,
                               slowdown_quantile=slowdown_quantile,
                               whole_exemptions=whole_exemptions,
                               max_memory_bytes=max_memory_bytes, time_limit_s=time_limit_s,
                               block_s=block_s,
                               progress=lambda msg: status.update(msg))
    doc = result.to_dict()
    if as_json:
        typer.echo(json.dumps({"kind": kind, "scenario": sc.name, "seed": sc.seed, **doc},
                              sort_keys=True, indent=2, allow_nan=False))
        _exit_without_number(doc)
        return
    table = Table(title=f"greenhop bound — {sc.name}", title_style="bold")
    for col in ("kind", "job grid kWh", "static kWh", "work GPU-h", "solve s", "status"):
        table.add_column(col, justify="left" if col in ("kind", "status") else "right")
    nr = doc["job_nr_kwh"]
    cap = "" if max_slowdown is None else f", slowdown <= {max_slowdown:g}"
    if slowdown_quantile is not None:
        cap = f", slowdown q{slowdown_quantile:g} <= {max_slowdown:g}"
    table.add_row(kind + (" (deadlines)" if deadlines else "") + cap,
                  "–" if nr is None else _kwh(nr), f"{doc['static_job_nr_kwh']:,.1f}",
                  f"{doc['work_gpu_h']:,.1f}", f"{doc['solve_s']:.1f}", doc["status"])
    console = Console(highlight=False)
    console.print(table)
    console.print(f"LP: {doc['lp_cols']:,} columns, {doc['lp_rows']:,} rows, "
                  f"{doc['lp_nnz']:,} nonzeros; {doc['method']}")
    if doc["status"] == MIP_TIME_LIMIT_STATUS:
        console.print(
            f"HiGHS stopped at its time limit ({time_limit}): " + (
                "the number is the dual bound branch and bound had reached, still a lower "
                "bound but looser than at its 1% gap (0 before the root LP was solved); "
                "give it longer with --time-limit for a tighter one" if nr is not None else
                "no number; give it longer with --time-limit"))
    if max_slowdown is not None and doc["status"] == "Infeasible":
        who = ("every job's slowdown" if slowdown_quantile is None else
               f"the {slowdown_quantile:g} quantile of the slowdowns")
        console.print(f"no schedule keeps {who} at or below {max_slowdown:g} "
                      "within the GPU slots (a job starts at the first step boundary at or "
                      "after its arrival); try a larger --max-slowdown")
    _exit_without_number(doc)


def _exit_without_number(doc: dict) -> None:
    """Exit 1 when HiGHS stopped at its time limit before it had a number: the bound asked
    for was not found (a script must not read the ``null`` as an answer). An infeasible cap
    is an answer (no schedule meets it) and exits 0."""
    from greenhop.sim.bounds_lp import MIP_TIME_LIMIT_STATUS

    if doc["job_nr_kwh"] is None and doc["status"] == MIP_TIME_LIMIT_STATUS:
        raise typer.Exit(1)


def _kwh(value: float) -> str:
    """``value`` [kWh] to one decimal; a solver's -1e-10 is 0.0, not -0.0."""
    text = f"{value:,.1f}"
    return "0.0" if text == "-0.0" else text


def register(app: typer.Typer) -> None:
    """Add ``greenhop bound`` to ``app``."""
    app.command("bound")(bound_command)
