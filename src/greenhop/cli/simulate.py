"""``greenhop simulate``: compare migration policies on a scenario; write metrics and a report.

Progress goes to stderr; with ``--json`` the metrics go to stdout alone.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from greenhop.core.errors import ConfigError

_SUMMARY = (
    ("non_renewable_kwh", "grid kWh", "{:,.0f}"),
    ("saved_vs_static_pct", "saved", "{:+.1f}%"),
    ("jct_mean_h", "JCT h", "{:.1f}"),
    ("jct_p95_h", "p95 h", "{:.1f}"),
    ("stability_cv", "CV", "{:.3f}"),
    ("migrations", "moves", "{:,d}"),
    ("regretted_migrations", "regret", "{:,d}"),
    ("gb_moved", "GB", "{:,.0f}"),
    ("unfinished_jobs", "unfin.", "{:,d}"),
)


def _cell(fmt: str, v) -> str:
    return "–" if v is None else fmt.format(v)


def simulate_command(
    scenario: Path | None = typer.Argument(
        None, help="Scenario file (TOML). Default: the packaged scenario (the default fleet, "
                   "a month of jobs, real traces).", show_default=False),
    out: Path = typer.Option(Path("out"), "--out", "-o",
                             help="Directory for metrics.json and report.html."),
    policies: str | None = typer.Option(
        None, "--policies", "-p",
        help="Comma-separated policies to compare (default: the scenario's list), e.g. "
             "static,feasibility-aware."),
    seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json to stdout only."),
    no_report: bool = typer.Option(False, "--no-report", help="Skip report.html."),
) -> None:
    """Simulate a fleet of renewable-powered sites under each policy and compare them."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from greenhop.sim import simulate

    names = None
    if policies is not None:
        names = [p.strip() for p in policies.split(",") if p.strip()]
        if not names:
            raise ConfigError("--policies: give at least one policy name, e.g. "
                              "--policies static,feasibility-aware")
    if seed is not None and seed < 0:
        raise ConfigError(f"--seed: must be >= 0, got {seed}")
    err = Console(stderr=True, highlight=False)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task("loading traces", total=1)

        def progress(policy: str, done: int, total: int) -> None:
            bar.update(task, description=f"simulating {policy}", completed=done, total=total)

        result = simulate(scenario, policies=names, seed=seed, progress=progress)
        bar.update(task, description="writing report")
        paths = result.write(out, report=not no_report)
    if as_json:
        typer.echo(result.to_json(), nl=False)
        return
    table = Table(title=f"greenhop simulate — {result.scenario.name}", title_style="bold")
    table.add_column("policy", no_wrap=True)
    for _, label, _ in _SUMMARY:
        table.add_column(label, justify="right", no_wrap=True)
    for name, m in result.metrics_by_policy.items():
        table.add_row(name, *[_cell(fmt, m.get(k)) for k, _, fmt in _SUMMARY])
    console = Console(highlight=False)
    if not console.is_terminal and console.width < 110:
        console = Console(highlight=False, width=110)
    console.print(table)
    console.print("grid kWh = non-renewable energy; saved = vs static; CV = stability "
                  "(coefficient of variation of slowdown); regret = regretted migrations")
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")


def register(app: typer.Typer) -> None:
    """Add ``greenhop simulate`` to ``app``."""
    app.command("simulate")(simulate_command)
