"""``greenhop sweep``: a scenario over many seeds x policies x a parameter grid, on Ray.

Progress goes to stderr; the summary table (mean ± half-width of the 95% interval per
policy, and paired differences) to stdout at the end; on a grid, each point after the
first is also compared with the first, policy by policy, paired by seed; last, the
settings on the energy-slowdown frontier.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from greenhop.cli import paths, policy_files
from greenhop.cli.simulate import NAMING_HINT
from greenhop.cli.tables import print_fitted
from greenhop.core.errors import ConfigError

_LABELS = {"job_nr_kwh": "job grid kWh", "non_renewable_kwh": "grid kWh",
           "job_green_share": "green share", "slowdown_p90": "slowdown p90",
           "jct_p95_h": "JCT p95 h", "stability_cv": "CV", "migrations": "moves",
           "regretted_migrations": "regret", "window_closed_before_payback": "win. closed",
           "net_green_loss_migrations": "net loss", "unfinished_jobs": "unfinished",
           "gap_closed_space_pct": "gap space %",
           "gap_closed_spacetime_pct": "gap s-t %"}
#: on screen: the job-attributable headline (summary.json and the report have every metric)
_SCREEN = ("job_nr_kwh", "non_renewable_kwh", "job_green_share", "slowdown_p90", "jct_p95_h",
           "stability_cv", "migrations", "window_closed_before_payback", "regretted_migrations",
           "net_green_loss_migrations", "unfinished_jobs", "gap_closed_space_pct",
           "gap_closed_spacetime_pct")
#: paired differences on screen (the gaps closed are in the report and summary.json)
_PAIRED = ("job_nr_kwh", "non_renewable_kwh", "job_green_share", "slowdown_p90", "jct_p95_h",
           "stability_cv", "migrations", "window_closed_before_payback", "regretted_migrations",
           "net_green_loss_migrations", "unfinished_jobs")


LARGE_GRID = 1000
"""Grid points from which ``greenhop sweep`` says that it is checking them (seconds)."""


def _with_share(e: dict | None) -> str:
    """A paired difference: mean ± half-width, and the share of seeds where A < B."""
    from greenhop.sim.sweep_report import mean_pm  # the report's own format (imported then)

    share = ("" if e is None or e["share_a_lt_b_pct"] is None
             else f" ({e['share_a_lt_b_pct']:.0f}%)")
    return mean_pm(e, signed=True) + share


def _of_seeds(d: dict | None, n_seeds: int) -> str:
    """A mean over seeds, with ``(k/n)`` when only ``k`` of the ``n`` seeds have a value
    (a gap closed is undefined on a seed where the policy did less work than the bound)."""
    from greenhop.sim.sweep_report import mean_pm

    text = mean_pm(d)
    if d and d.get("mean") is not None and d.get("n") is not None and d["n"] < n_seeds:
        text += f" ({d['n']}/{n_seeds})"
    return text


def _print_summary(console: Console, spec, summary: dict) -> None:
    from greenhop.sim.sweep_report import seed_text  # the report's own formats

    head = [m for m in summary["headline"] if m in _SCREEN]
    paired_head = [m for m in head if m in _PAIRED]
    for p, entry in enumerate(summary["points"]):
        n = len(spec.seeds)
        title = (f"greenhop sweep — {spec.scenario_name}, {n} seed{'' if n == 1 else 's'} "
                 f"({seed_text(spec.seeds)})")
        if spec.grid:
            title += f" — {spec.point_label(p)}"
        print_fitted(console, title=title, key="policy",
                     columns=[_LABELS.get(m, m) for m in head],
                     rows=[(pol, [_of_seeds(entry["metrics"].get(pol, {}).get(m), n)
                                  for m in head]) for pol in spec.policies])
        pairs = [(pol, "static") for pol in spec.policies if pol != "static"
                 and "static" in spec.policies]
        if {"feasibility-aware", "energy-greedy"} <= set(spec.policies):
            pairs.append(("feasibility-aware", "energy-greedy"))
        if pairs:
            index = {(e["a"], e["b"], e["metric"]): e for e in entry["paired"]}
            rows = [(f"{a} − {b}", [_with_share(index.get((a, b, m))) for m in paired_head])
                    for a, b in pairs]
            print_fitted(console, title="paired differences A − B (per seed; mean ± "
                         "half-width, share of seeds with A < B)", key="A − B",
                         columns=[_LABELS.get(m, m) for m in paired_head], rows=rows)
        if entry.get("vs_first"):
            index = {(e["policy"], e["metric"]): e for e in entry["vs_first"]}
            rows = [(pol, [_with_share(index.get((pol, m))) for m in paired_head])
                    for pol in spec.policies]
            print_fitted(console, title=f"{spec.point_label(p)} − {spec.point_label(0)} "
                         "(paired per seed; mean ± half-width, share of seeds lower)",
                         key="policy", columns=[_LABELS.get(m, m) for m in paired_head],
                         rows=rows)
    _print_frontier(console, spec, summary.get("frontier"))


def _print_frontier(console: Console, spec, front: dict | None) -> None:
    """The settings no other beats on both mean energy and mean slowdown p90, by energy."""
    from greenhop.sim.sweep_frontier import entry_name
    from greenhop.sim.sweep_report import mean_pm

    if not front or len(front["entries"]) < 2:
        return
    on = sorted((e for e in front["entries"] if e["on_front"]), key=lambda e: e["x"]["mean"])
    off = len(front["entries"]) - len(on)
    print_fitted(console, title=f"on the energy-slowdown frontier (means; {off} other "
                 "setting(s) beaten on both by one of these)", key="policy",
                 columns=[_LABELS.get(front["x"], front["x"]),
                          _LABELS.get(front["y"], front["y"])],
                 rows=[(entry_name(e, bool(spec.grid)), [mean_pm(e["x"]), mean_pm(e["y"])])
                       for e in on])


def sweep_command(
    scenario: str | None = typer.Argument(
        None, help="Scenario: a TOML file or a packaged scenario's name (e.g. "
                   "caiso-curtailment). Default: the packaged default scenario.",
        show_default=False),
    seeds: str = typer.Option(..., "--seeds", "-s",
                              help="Seeds, e.g. 1-20 or 1,3,5-8 (one cell per seed and policy)."),
    policies: str | None = typer.Option(
        None, "--policies", "-p",
        help="Comma-separated policies (default: the scenario's list)."),
    sets: list[str] | None = typer.Option(
        None, "--set",
        help="A grid dimension: KEY=V1[,V2...], KEY dotted into the scenario (alpha, "
             "migration.startup, policy_params.feasibility-aware.min_dwell_s, "
             "links[0].bandwidth). Repeat for more dimensions (all combinations run)."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="Output directory (default: sweep-<scenario>/)."),
    address: str | None = typer.Option(
        None, "--address", help="Join the Ray cluster at HOST:PORT (default: a local "
                                "instance on all cores)."),
    workers: int | None = typer.Option(None, "--workers", "-w",
                                       help="At most this many tasks at once."),
    serial: bool = typer.Option(False, "--serial",
                                help="Run in this process, one cell after another, no Ray."),
    force: bool = typer.Option(False, "--force",
                               help="Replace a different sweep in --out (kept in "
                               "--out/.discarded until the new one finishes); the same "
                               "sweep forced again resumes."),
    policy_file: list[str] = policy_files.option(),
) -> None:
    """Run a scenario over many seeds x policies x a parameter grid (on Ray); write every
    cell, tidy tables, statistics with 95% intervals, the energy-slowdown frontier and a
    report. Re-running the same command resumes: only the missing cells run."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from greenhop.cli.simulate import policy_list, warn
    from greenhop.sim.scenario import parse_scenario
    from greenhop.sim.sweep import CHECK_EVERY, default_out, prepare_sweep, run_sweep
    from greenhop.sim.sweep_report import few_seeds_note

    names = policy_list(policies)
    loaded, refs = policy_files.load(policy_file)
    names = policy_files.with_loaded(names, loaded)
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers: must be >= 1, got {workers}")
    if serial and address is not None:
        raise ConfigError("--serial runs in this process: drop --address (or --serial)")
    if out is not None:
        paths.output_dir(out, "--out")
    err = Console(stderr=True, highlight=False)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task("checking grid points", total=None)

        def checked(done: int, total: int) -> None:
            if done == CHECK_EVERY and total >= LARGE_GRID:  # said in a log, too
                bar.console.print(f"checking {total:,} grid points (a scenario read each) "
                                  "before the first cell runs ...", soft_wrap=True)
            bar.update(task, completed=done, total=total)

        spec = prepare_sweep(scenario, seeds=seeds, policies=names, sets=sets or (),
                             policy_files=refs, checked=checked)
    if out is None:
        paths.output_dir(default_out(spec.scenario_name), "--out (default)")
    first = parse_scenario(spec.point_document(0), spec.source_label, Path(spec.base_dir))
    warn(err, first.with_policies(spec.policies))
    for key, values in spec.grid:
        steps = key.split(".")
        if len(steps) > 1 and steps[0] == "policy_params" and steps[1] not in spec.policies:
            err.print(f"warning: --set {key}: no policy of this sweep reads it (policies: "
                      f"{', '.join(spec.policies)}), so its {len(values)} values run the "
                      "same cells", soft_wrap=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task("starting" if not serial else "cells", total=len(spec.cells()))

        def progress(done: int, total: int) -> None:
            bar.update(task, description="cells", completed=done, total=total)

        def set_aside(path: Path) -> None:  # said at once: a run that fails later says it too
            bar.console.print(f"warning: {path.name.partition('.json')[0]}.json was not a "
                              f"readable cell; kept as {path} and run again", soft_wrap=True)

        try:
            outcome = run_sweep(spec, out, serial=serial, address=address, workers=workers,
                                force=force, progress=progress, on_set_aside=set_aside)
        except KeyboardInterrupt:  # each finished cell is a whole file: the rerun keeps it
            where = out if out is not None else default_out(spec.scenario_name)
            err.print(f"interrupted: the cells finished so far are kept in {where}; run the "
                      "same command to go on from them", soft_wrap=True)
            raise typer.Exit(130) from None
    console = Console(highlight=False)
    if not console.is_terminal and console.width < 160:
        console = Console(highlight=False, width=160)
    _print_summary(console, spec, outcome.summary)
    _warn_actions_naming_nothing(err, spec, outcome.summary)
    if few := few_seeds_note(len(spec.seeds)):
        err.print(f"note: {few}", soft_wrap=True)
    console.print(f"{outcome.total} cells ({outcome.ran} run now, {outcome.reused} already "
                  f"there) in {outcome.out}")
    for name, path in outcome.paths.items():
        console.print(f"{name}: {path}")


def _warn_actions_naming_nothing(err: Console, spec, summary: dict) -> None:
    """The warning ``simulate`` prints for a policy whose actions named a job or site the
    fleet does not have (rejected), per policy over the sweep's cells: a policy's bug
    that went unnoticed in a sweep, where only the cells recorded it."""
    for pol in spec.policies:
        counts = [(pt["metrics"].get(pol) or {}).get("actions_naming_nothing")
                  for pt in summary["points"]]
        runs = sum(d["n"] for d in counts if d and d.get("mean"))
        if runs:
            total = sum(d["mean"] * d["n"] for d in counts if d and d.get("mean"))
            err.print(f"warning: policy {pol!r}: {total:,.0f} actions in {runs} of "
                      f"{len(spec.seeds) * spec.n_points} runs named a job or site the fleet "
                      "does not have and were rejected (actions_naming_nothing in the "
                      f"cells); {NAMING_HINT}", soft_wrap=True, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``greenhop sweep`` to ``app``."""
    app.command("sweep")(sweep_command)
