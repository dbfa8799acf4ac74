"""``greenhop simulate``: compare migration policies on a scenario; write metrics and a report.

Progress goes to stderr; with ``--json`` the metrics go to stdout alone.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from greenhop.cli import paths, policy_files
from greenhop.cli.tables import print_fitted
from greenhop.core.errors import ConfigError

#: energies of 100 kWh and more in whole kWh, smaller ones to three figures (a 1.44 kWh
#: run beside a 0.13 kWh one read "1" and "0")
_KWH = "kwh"

_SUMMARY = (
    ("job_nr_kwh", "job grid kWh", _KWH),
    ("saved_vs_static_pct", "saved", "{:+.1f}%"),
    ("job_green_share", "green", "{:.0%}"),
    ("gap_closed_space_pct", "gap S", "{:.0f}%"),
    ("gap_closed_spacetime_pct", "gap ST", "{:.0f}%"),
    ("gap_closed_time_pct", "gap T", "{:.0f}%"),
    ("slowdown_p90", "sd p90", "{:.2f}"),
    ("stability_cv", "CV", "{:.3f}"),
    ("migrations", "moves", "{:,d}"),
    ("window_closed_before_payback", "lost", "{:,d}"),
    ("net_green_loss_migrations", "net-", "{:,d}"),
    ("unfinished_jobs", "unfin.", "{:,d}"),
    ("job_co2_kg", "CO2 kg", "{:,.1f}"),          # with grid signals only (docs/grid.md)
    ("job_energy_cost", "cost", "{:,.2f}"),
    ("dr_compliance_pct", "DR met", "{:.1f}%"),   # with demand-response events only
    ("sync_gb", "sync GB", "{:,.0f}"),             # with jobs spread over sites only
    ("worker_wait_h", "wait h", "{:,.1f}"),
    ("outer_steps_missed", "missed", "{:,d}"),
)
#: the footnote, per column: only the columns shown are defined (which are shown, and
#: which ratios are withheld, follow report.html: greenhop.sim.report.column_shown and
#: ratio_guards)
_LEGEND = (
    ("job_nr_kwh", "job grid kWh = grid energy the jobs cause (with jobs minus base load "
                   "only)"),
    ("saved_vs_static_pct", "saved = vs static"),
    ("job_green_share", "green = jobs' green share"),
    ("gap_closed_space_pct", "gap S = share of static's gap to the space bound closed"),
    ("gap_closed_spacetime_pct", "gap ST = share of static's gap to the space-time bound "
                                 "closed"),
    ("gap_closed_time_pct", "gap T = share of static's gap to the time bound closed"),
    ("slowdown_p90", "sd p90 = 90th-percentile slowdown"),
    ("stability_cv", "CV = stability (coefficient of variation of slowdown)"),
    ("window_closed_before_payback", "lost = moves whose window closed before payback"),
    ("net_green_loss_migrations", "net- = moves with a net green loss"),
    ("dr_compliance_pct", "DR met = event steps whose grid import kept under the limit "
                          "(per event: dr_by_event in metrics.json)"),
    ("sync_gb", "sync GB = the spread jobs' pseudo-gradient exchanges over the WAN"),
    ("worker_wait_h", "wait h = workers waiting at barriers and in exchanges"),
    ("outer_steps_missed", "missed = outer steps a worker missed (docs/distributed.md)"),
)


NAMING_HINT = ("jobs and sites are named by index or by name (Observation.job_names, "
               "site_names)")
"""How a policy names jobs and sites: said after actions that named neither."""


def _scenario_of(out: Path) -> str | None:
    """The scenario name of the results already in ``out`` (its metrics.json), or None."""
    try:
        doc = json.loads((out / "metrics.json").read_text())
        name = doc["scenario"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return name if isinstance(name, str) else None


def any_currency(metrics: dict[str, dict]) -> str:
    """The currency the runs' costs are in (``""`` when none has a cost)."""
    return next((m["currency"] for m in metrics.values() if "currency" in m), "")


def policy_list(text: str | None) -> list[str] | None:
    """The names of a ``--policies a,b`` option (``None`` when not given)."""
    if text is None:
        return None
    from greenhop.cli.lists import comma_entries

    return comma_entries("--policies", text, "policy names", "static,feasibility-aware")


def warn(err: Console, scenario) -> None:
    """Print on stderr what ``scenario`` seems to ask for but cannot do (it still runs)."""
    from greenhop.sim.inputs import window_threshold_notes
    from greenhop.sim.scenario_warnings import scenario_warnings

    for note in scenario_warnings(scenario) + window_threshold_notes(scenario):
        err.print(f"[bold yellow]warning:[/] {escape(note)}", soft_wrap=True)


def _cell(fmt: str, v) -> str:
    if v is None:
        return "–"
    if fmt == _KWH:
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return fmt.format(v)


def simulate_command(
    scenario: Path | None = typer.Argument(
        None, help="Scenario file (TOML) or a packaged scenario's name (greenhop scenarios "
                   "lists them). Default: the packaged default scenario (the default fleet, a "
                   "month of jobs, real traces).", show_default=False),
    out: Path | None = typer.Option(
        None, "--out", "-o", show_default=False,
        help="Directory for metrics.json and report.html (default: out/ in the current "
             "directory; with --json, none unless given)."),
    policies: str | None = typer.Option(
        None, "--policies", "-p",
        help="Comma-separated policies to compare (default: the scenario's list), e.g. "
             "static,feasibility-aware."),
    seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
    as_json: bool = typer.Option(
        False, "--json", help="Print metrics.json to stdout; files are written only with --out."),
    no_report: bool = typer.Option(
        False, "--no-report", help="Skip report.html (an earlier one in --out is removed)."),
    policy_file: list[str] = policy_files.option(),
) -> None:
    """Simulate a fleet of renewable-powered sites under each policy and compare them."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from greenhop.sim import simulate
    from greenhop.sim.metrics import (
        WORK_SHARE_FOR_GAP,
        short_of_work,
        work_reference,
        work_reference_name,
    )
    from greenhop.sim.policy_table import check_policy_names
    from greenhop.sim.report import SHORT_MARK, column_shown, ratio_guards
    from greenhop.sim.scenario import check_seed, load_scenario
    from greenhop.sim.sweep_store import holds_a_sweep

    if out is None and not as_json:
        out = Path("out")
    if out is not None:
        paths.output_dir(out, "--out")
        if holds_a_sweep(out):
            raise ConfigError(f"--out {out}: holds a sweep (manifest.json, cells, its "
                              "report.html); pick another --out or move the sweep away")
    names = policy_list(policies)
    loaded = policy_files.load(policy_file)[0] if policy_file else []
    sc = load_scenario(scenario)
    if loaded:
        names = policy_files.with_loaded(names, loaded)
        if names is None:  # the scenario's policies, and yours
            names = policy_files.with_loaded(list(sc.policies), loaded)
    if seed is not None:
        check_seed(seed, "--seed")
    err = Console(stderr=True, highlight=False)
    if names:
        check_policy_names(names, option="--policies")
    shown = sc.with_policies(names) if names else sc
    warn(err, shown)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                  console=err, transient=True,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task("loading traces", total=1)

        def progress(policy: str, done: int, total: int) -> None:
            bar.update(task, description=f"simulating {policy}", completed=done, total=total)

        # with --json, stdout is the JSON alone: what a policy prints goes to stderr
        quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
        with quiet:
            result = simulate(sc, policies=names, seed=seed, progress=progress)
        written: dict = {}
        if out is not None:
            before = _scenario_of(out)
            bar.update(task, description="writing report")
            written = result.write(out, report=not no_report)
            if before is not None and before != result.scenario.name:
                err.print(f"note: {out} held the results of scenario '{before}'; they are "
                          f"replaced by '{result.scenario.name}''s (give --out DIR to keep "
                          "both)", markup=False)
    if as_json:
        typer.echo(result.to_json(), nl=False)
        return
    columns = [c for c in _SUMMARY if column_shown(result.metrics_by_policy, c[0])]
    console = Console(highlight=False)
    if not console.is_terminal and console.width < 132:
        console = Console(highlight=False, width=132)
    metrics = result.metrics_by_policy
    short = short_of_work(metrics)  # their saving is partly work left undone: marked
    guards = ratio_guards(result)  # ratios over a tiny denominator: withheld, as the report

    def cell(name: str, key: str, fmt: str) -> str:
        if (name, key) in guards:
            return "n/a"
        text = _cell(fmt, metrics[name].get(key))
        return text + SHORT_MARK if key == "saved_vs_static_pct" and name in short else text

    print_fitted(console, title=f"greenhop simulate — {result.scenario.name}", key="policy",
                 columns=[label for _, label, _ in columns],
                 rows=[(name, [cell(name, k, fmt) for k, _, fmt in columns])
                       for name in metrics])
    keys_shown = {k for k, _, _ in columns}
    console.print("; ".join(text for key, text in _LEGEND if key in keys_shown))
    withheld = list(dict.fromkeys(g.reason for (_, k), g in guards.items() if k in keys_shown))
    if withheld:
        console.print("n/a = " + "; ".join(withheld) + ": a ratio over a tiny denominator is "
                      "noise (as in report.html)")
    if any(p in short and (p, "saved_vs_static_pct") not in guards for p in metrics) \
            and "saved_vs_static_pct" in keys_shown:
        whose = work_reference_name(metrics)
        console.print(f"{SHORT_MARK} = did less than {WORK_SHARE_FOR_GAP:.0%} of {whose} "
                      f"({work_reference(metrics):,.1f} GPU-h): its energy is that of less "
                      "work (a saving may be work left undone), so it is not marked best "
                      "(work_done_gpu_h in metrics.json)")
    if "job_co2_kg" in keys_shown or "job_energy_cost" in keys_shown:
        currency = any_currency(result.metrics_by_policy)
        console.print(f"CO2 kg / cost = the jobs' grid energy x the marginal carbon intensity / "
                      f"the price [{currency}] of each step (docs/grid.md)")
    any_m = next(iter(result.metrics_by_policy.values()))
    console.print(f"context: the sites' grid energy with base load only is "
                  f"{any_m['base_only_nr_kwh']:,.0f} kWh (not movable; site totals per policy "
                  "in metrics.json as non_renewable_kwh)")
    for kind, b in (result.bounds or {}).items():
        console.print(f"bound {kind}: {_cell('{:,.1f}', b.get('job_nr_kwh'))} kWh job grid "
                      f"energy for {b['work_gpu_h']:,.0f} GPU-h of work ({b['status']}, "
                      f"{b['solve_s']:.1f} s)")
    for name, m in result.metrics_by_policy.items():
        for kind in result.bounds or {}:
            why = m.get(f"gap_closed_{kind}_why")
            if why:
                console.print(f"{name}: no {kind} gap: {why}")
    unmet = [(name, m["unmet_kwh"]) for name, m in result.metrics_by_policy.items()
             if (m.get("unmet_kwh") or 0) > 0]
    if unmet:  # a site total, in no column: demand the energy books could not serve
        err.print("[bold yellow]warning:[/] demand over the sites' grid import limits went "
                  "unserved (unmet_kwh in metrics.json): " + ", ".join(
                      f"{escape(name)} {kwh:,.1f} kWh" for name, kwh in unmet), soft_wrap=True)
    for name, m in result.metrics_by_policy.items():
        if m.get("migrations_in_flight_at_end"):
            n = m["migrations_in_flight_at_end"]
            console.print(f"{name}: {n} {'move was' if n == 1 else 'moves were'} still in "
                          "flight at the run's end: not in the migration columns (its time "
                          "so far is in downtime_h, its bytes in gb_moved)")
        if m.get("actions_naming_nothing"):
            err.print(f"[bold yellow]warning:[/] policy {escape(name)!r}: "
                      f"{m['actions_naming_nothing']:,} actions named a job or site the fleet "
                      f"does not have and were rejected (first at "
                      f"{escape(str(m.get('actions_naming_nothing_first', '?')))}); "
                      f"{NAMING_HINT}", soft_wrap=True)
    for kind, path in written.items():
        console.print(f"{kind}: {path}")


def register(app: typer.Typer) -> None:
    """Add ``greenhop simulate`` to ``app``."""
    app.command("simulate")(simulate_command)
