"""``greenhop agent serve`` and ``greenhop transfer pull|push|list``: moving checkpoints."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from greenhop.core.units import (
    format_duration,
    format_rate,
    format_size,
    parse_duration,
    parse_rate,
)

agent_app = typer.Typer(
    help="Serve this site's checkpoints to other sites over HTTP.", no_args_is_help=True
)
transfer_app = typer.Typer(
    help="Move a checkpoint between site agents by hand.", no_args_is_help=True
)
err = Console(stderr=True, highlight=False)


def _rate(text: str) -> float:
    return math.inf if text.strip().lower() in ("unlimited", "inf", "none") else parse_rate(text)


@agent_app.command("serve")
def serve(
    root: Path = typer.Option(..., "--root", help="Site directory: one sub-directory per job."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="TCP port (0 = any free)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    rate: str = typer.Option("unlimited", "--rate", help="Link rate: 1Gbps, 100Mbit/s, unlimited."),
    latency: str = typer.Option(
        "0ms", "--latency", help="Delay added to each response, e.g. 20ms."
    ),
    idle_timeout: str = typer.Option(
        "1h", "--idle-timeout", help="Stop after this long without a request."
    ),
) -> None:
    """Serve ROOT/<job>/step-* until idle for --idle-timeout (or Ctrl-C)."""
    from greenhop.runtime.agent import SiteAgent

    agent = SiteAgent(
        root,
        host=host,
        port=port,
        rate_bps=_rate(rate),
        latency_s=parse_duration(latency),
        idle_timeout_s=parse_duration(idle_timeout),
    ).start()
    err.print(
        f"greenhop agent serving {root} at {agent.url} (rate {format_rate(agent.bucket.rate_bps)}, "
        f"latency {format_duration(agent.latency_s)}, stops after "
        f"{format_duration(agent.idle_timeout_s)} idle)"
    )
    typer.echo(agent.url, err=False)
    try:
        agent.wait()
    except KeyboardInterrupt:
        pass
    finally:
        agent.stop()
    err.print(
        f"agent stopped: {agent.stats.requests} requests, "
        f"{format_size(agent.stats.bytes_sent)} sent"
    )


@transfer_app.command("pull")
def pull(
    source: str = typer.Argument(..., help="Agent URL, e.g. http://127.0.0.1:8765"),
    job: str = typer.Argument(..., help="Job name (a directory under the agent's root)."),
    dest: Path = typer.Argument(..., help="Local checkpoint directory of the job."),
    checkpoint: str = typer.Option("latest", "--checkpoint", help="step-NNNNNNNNN or latest."),
    retries: int = typer.Option(8, "--retries", min=0, help="Retries after drops or bad chunks."),
    timeout: str = typer.Option("30s", "--timeout", help="Socket timeout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the transfer summary as JSON."),
) -> None:
    """Copy a checkpoint from an agent into DEST, verified chunk by chunk, resumable."""
    from greenhop.runtime.agent import check_job_name
    from greenhop.runtime.transfer import pull_checkpoint

    check_job_name(job)
    progress = Progress(
        TextColumn(f"[bold]{job}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
    )
    with progress:
        task = progress.add_task("pull", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = pull_checkpoint(
            source,
            job,
            dest,
            checkpoint,
            max_retries=retries,
            timeout_s=parse_duration(timeout),
            progress=on_progress,
        )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=1))
    elif result.skipped:
        err.print(f"{result.path} is already here and verified; nothing to do")
    else:
        err.print(
            f"committed {result.path} (step {result.step}): {format_size(result.received_bytes)} "
            f"in {format_duration(result.elapsed_s)} = {format_rate(result.rate_bps)}, "
            f"{result.retries} retries, {result.bad_chunks} bad chunks re-fetched"
        )


@transfer_app.command("push")
def push(
    job: str = typer.Argument(..., help="Job name."),
    source: str = typer.Option(..., "--from", help="URL of the agent holding the checkpoint."),
    dest: str = typer.Option(..., "--to", help="URL of the agent that should receive it."),
    checkpoint: str = typer.Option("latest", "--checkpoint", help="step-NNNNNNNNN or latest."),
) -> None:
    """Have the agent at --to fetch JOB's checkpoint from the agent at --from."""
    from greenhop.runtime.agent import check_job_name
    from greenhop.runtime.transfer import fetch_via

    check_job_name(job)
    with err.status(f"{dest} is fetching {job}/{checkpoint} from {source} ..."):
        result = fetch_via(dest, source, job, checkpoint)
    typer.echo(json.dumps(result, indent=1))


@transfer_app.command("list")
def list_(
    source: str = typer.Argument(..., help="Agent URL."),
    job: str = typer.Argument(..., help="Job name."),
) -> None:
    """List the complete checkpoints an agent holds for JOB, newest first (JSON)."""
    from greenhop.runtime.transfer import list_remote

    typer.echo(json.dumps(list_remote(source, job), indent=1))


def register(app: typer.Typer) -> None:
    """Add the ``agent`` and ``transfer`` command groups to ``app``."""
    app.add_typer(agent_app, name="agent")
    app.add_typer(transfer_app, name="transfer")
