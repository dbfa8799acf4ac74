"""``greenhop diloco``: train one model live across sites with DiLoCo workers, and move
single workers between sites by checkpoint while the others train (docs/distributed.md,
"Live DiLoCo")."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from greenhop.cli import paths
from greenhop.cli.lists import comma_entries
from greenhop.core.names import check_name


def diloco_command(
    root: Path = typer.Argument(..., metavar="RUN_DIR", help="Directory for the sites' "
                                "checkpoints and the workers' logs."),
    sites: str = typer.Option("a,b,c", "--sites", help="Comma-separated site names."),
    placement: str | None = typer.Option(
        None, "--placement", help="Comma-separated site of each worker (default: round "
                                  "robin, worker i at site i mod the number of sites)."),
    move: list[str] = typer.Option([], "--move", metavar="T:RANK:SITE", help="After outer "
                                   "step T move worker RANK to SITE (repeatable)."),
    config: str = typer.Option("{}", "--config", help="DiLoCo settings as a JSON object, "
                               "e.g. '{\"workers\": 3, \"inner_steps\": 10}'."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Run a live DiLoCo job: one worker process per site, pseudo-gradients averaged every
    outer step, scheduled single-worker moves through the sites' agents."""
    from greenhop.runtime.diloco import DilocoInterrupted, WorkerMove, check_plan, run_diloco
    from greenhop.workload.diloco import DilocoConfig

    paths.output_dir(root, "RUN_DIR")
    cfg = DilocoConfig.from_json(config, "--config")
    site_names = [check_name("site", s, "--sites") for s in _entries("--sites", sites)]
    where = _entries("--placement", placement) if placement else \
        [site_names[i % len(site_names)] for i in range(cfg.workers)]
    moves = [WorkerMove.parse(m) for m in move]
    check_plan(cfg, site_names, where, moves,
               names={"sites": "--sites", "placement": "--placement", "moves": "--move"})
    def progress(t: int, loss: float) -> None:  # as each outer step ends (stderr with --json)
        typer.echo(f"outer {t} loss {loss:.4f}", err=as_json)

    try:
        result = run_diloco(cfg, root, site_names, placement=where, moves=moves,
                            on_loss=progress)
    except DilocoInterrupted as exc:  # Ctrl-C or SIGTERM: say so and what is kept
        typer.echo(f"greenhop diloco: {exc}", err=True)
        raise typer.Exit(exc.code) from None
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    typer.echo(f"moves {len(result.moves)} sync_bytes {result.sync_bytes} "
               f"wall {result.wall_s:.1f} s")


def _entries(option: str, text: str) -> list[str]:
    """The comma-separated site names of ``text`` (``a,,b`` is a typo, not two sites)."""
    return comma_entries(option, text, "site names", "a,b,c")


def register(app: typer.Typer) -> None:
    app.command("diloco")(diloco_command)
