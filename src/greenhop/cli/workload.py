"""``greenhop workload run`` and ``greenhop workload inspect``: migratable training jobs."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table

from greenhop.cli import paths
from greenhop.core.errors import CheckpointError, ConfigError, RuntimeFailure
from greenhop.core.units import format_size, parse_quantity

workload_app = typer.Typer(
    help=(
        "Run and inspect migratable training jobs. Exit codes of `run`: 0 finished, "
        "75 checkpointed on a migration request (SIGTERM, SIGUSR1 or the control file "
        "CKPT_DIR/MIGRATE), 1 runtime failure, 2 bad arguments."
    ),
    no_args_is_help=True,
)
err = Console(stderr=True, highlight=False)


@workload_app.command("run")
def run(
    workload: str = typer.Argument(..., help="Reference workload: lm (transformer LM) or mlp."),
    ckpt_dir: Path = typer.Option(..., "--ckpt-dir", help="Directory of this job's checkpoints."),
    steps: int = typer.Option(..., "--steps", min=0, help="Total training steps."),
    every: int = typer.Option(
        0, "--every", min=0, help="Checkpoint every N steps (0 = only on request and at the end)."
    ),
    keep: int = typer.Option(3, "--keep", min=1, help="Complete checkpoints to retain."),
    seed: int = typer.Option(0, "--seed", help="Random seed (0 to 2**32-1)."),
    scale: float = typer.Option(1.0, "--scale", help="LM width multiplier (bigger checkpoints; "
                                "above 0, at most 16: width 4096)."),
    width: int | None = typer.Option(None, "--width", help="LM width (overrides --scale; a "
                                     "multiple of 4, at most 4096)."),
    layers: int | None = typer.Option(None, "--layers", help="LM layers (default 4; 1 to 64)."),
    context: int | None = typer.Option(None, "--context", help="LM context length (default "
                                       "128; 1 to 1024)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Batch size (at most 512)."),
    threads: int = typer.Option(1, "--threads", min=1, help="torch threads (fixed for exactness; "
                                "at most 1024)."),
    step_sleep: str = typer.Option("0s", "--step-sleep", help="Pause after each step, e.g. 50ms or "
                                   "0.04 (seconds; at most 1h)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a reference workload; resume from the newest complete checkpoint in --ckpt-dir
    (an LM's model must not exceed 1 G parameters)."""
    from greenhop.workload.session import migration_requests

    _ignore_requests_at_exit()
    # SIGTERM / SIGUSR1 from here to the end are migration requests (exit code 75, or 0 once
    # finished), not the default death (143 / 138): importing torch takes seconds.
    with migration_requests() as requested:
        _run(workload, ckpt_dir, steps, every, keep, seed, scale, width, layers, context,
             batch_size, threads, step_sleep, quiet, requested)


_AT_EXIT: list[bool] = []


def _ignore_requests_at_exit() -> None:
    """Ignore SIGTERM and SIGUSR1 once the interpreter exits (registered once): the exit
    code is settled then, and a late migration request must not turn it into 143 while
    torch is torn down."""
    import atexit
    import signal
    import threading

    if _AT_EXIT or threading.current_thread() is not threading.main_thread():
        return
    _AT_EXIT.append(True)

    def ignore() -> None:
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_IGN)

    atexit.register(ignore)


def _run(workload, ckpt_dir, steps, every, keep, seed, scale, width, layers, context,
         batch_size, threads, step_sleep, quiet, requested) -> None:
    import errno

    from greenhop.workload.checkpoint import check_job_dir
    from greenhop.workload.checkpoint_errors import CheckpointDirInUse, IncompatibleCheckpoint
    from greenhop.workload.reference.run import WORKLOADS, RunOptions, run_reference
    from greenhop.workload.session import EXIT_MIGRATED

    if workload not in WORKLOADS:
        raise ConfigError(f"unknown workload {workload!r}; choose one of: {', '.join(WORKLOADS)}")
    if workload != "lm":  # the LM's shape options would be ignored: say so, not train
        given = [name for name, value in (("--scale", scale != 1.0), ("--width", width),
                                          ("--layers", layers), ("--context", context))
                 if value is not None and value is not False]
        if given:
            raise ConfigError(f"{', '.join(given)}: only the lm workload has "
                              f"{'this option' if len(given) == 1 else 'these options'}; "
                              f"the {workload} workload would ignore it")
    paths.output_dir(ckpt_dir, "--ckpt-dir")
    try:  # before the progress bar: a refused directory prints nothing else
        check_job_dir(ckpt_dir)
    except IncompatibleCheckpoint as exc:
        raise ConfigError(f"--ckpt-dir {exc}") from None
    opts = RunOptions(
        steps=steps,
        every_steps=every,
        keep=keep,
        seed=seed,
        scale=scale,
        width=width,
        layers=layers,
        context=context,
        batch_size=batch_size,
        threads=threads,
        step_sleep_s=parse_quantity(step_sleep, "duration", option="--step-sleep"),
    )
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )
    with progress:
        task = progress.add_task(f"{workload} training", total=steps, loss="-")

        def on_step(step: int, loss: float) -> None:
            progress.update(task, completed=step, loss=f"{loss:.4f}")

        try:
            code = run_reference(
                workload,
                ckpt_dir,
                opts,
                on_step=on_step,
                on_resume=lambda step: progress.update(task, completed=step),
                log=lambda msg: progress.console.print(f"[dim]{escape(msg)}[/]"),
                requests=requested,
            )
        except (IncompatibleCheckpoint, CheckpointDirInUse) as exc:  # starts with the directory
            raise ConfigError(f"--ckpt-dir {exc}") from None
        except OSError as exc:  # one line, never a traceback (a full disk: main says it)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise RuntimeFailure(f"--ckpt-dir {ckpt_dir}: I/O error: {exc}") from None
    if code == EXIT_MIGRATED:
        err.print(f"checkpointed on request in {ckpt_dir}; exit code {EXIT_MIGRATED} (migrate me)")
    raise typer.Exit(code)


def _not_a_step_name(name: str) -> str:
    """Why ``name``, a folder :func:`~greenhop.workload.checkpoint.misnamed_step_dir` finds
    misnamed, is no checkpoint's."""
    from greenhop.workload.checkpoint import misnamed_step_dir, step_dir_name

    step = misnamed_step_dir(name)
    return (f"{name} is not named as a greenhop checkpoint: greenhop names them "
            f"step-NNNNNNNNN, 9 digits (step {step} is {step_dir_name(step)})")


@workload_app.command("inspect")
def inspect(
    path: Path = typer.Argument(
        ...,
        help="A checkpoint directory, or a job's checkpoint "
        "directory (its newest complete checkpoint is shown).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (step, weights_sha256, ...)."),
) -> None:
    """Verify a checkpoint and print its step, size and weights digest (exit code 2 when the
    checkpoint given is incomplete or corrupt, or a job directory holds checkpoints none of
    which is intact; 1 when a job directory holds none yet, or one with a pickle in it)."""
    from greenhop.core.files import is_pipe_or_device
    from greenhop.workload import checkpoint as ck

    if not path.exists():
        raise ConfigError(f"{path} does not exist; pass a checkpoint or job directory")
    if not path.is_dir():
        what = "a pipe or a device" if is_pipe_or_device(path) else "a file"
        raise ConfigError(f"{path} is {what}; pass a checkpoint or job directory")
    target = path
    if ck.misnamed_step_dir(path.name) is not None:
        raise ConfigError(f"{path}: {_not_a_step_name(path.name)}")
    if ck.parse_step_dir(path.name) is None:
        # damaged ones are skipped with a warning, as `run` skips them; none intact: exit 2;
        # unsafe content (a pickle): exit 1, as `run` does
        target = ck.latest_complete(
            path, log=lambda msg: err.print(f"warning: {escape(msg)}", soft_wrap=True),
            strict=True)
        if target is None:  # a job that has not checkpointed yet: a state, not a mistake
            odd = sorted(p.name for p in path.iterdir()
                         if ck.misnamed_step_dir(p.name) is not None)
            raise CheckpointError(
                f"{path} holds no complete checkpoint (a step-NNNNNNNNN folder, 9 digits, with "
                "a verified MANIFEST.json)"
                + (f"; {_not_a_step_name(odd[0])}" if odd else ""))
    try:
        info = ck.describe(target)
    except CheckpointError as exc:  # the checkpoint given is incomplete or corrupt
        raise ConfigError(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(info, indent=1, sort_keys=True))
        return
    # digests are compared between sites: folded onto more lines, never cut
    table = Table(Column("field", no_wrap=True), Column("value", overflow="fold"),
                  title=f"checkpoint {target}")
    table.add_row("step", str(info["step"]))
    table.add_row("finished", str(info["finished"]))
    table.add_row("components", ", ".join(info["components"]))
    table.add_row("size", format_size(info["size_bytes"]))
    table.add_row("weights_sha256", str(info["weights_sha256"]))
    files = Table(Column("file", overflow="fold"), Column("size", justify="right"),
                  Column("sha256", overflow="fold"), Column("blake3", overflow="fold"),
                  title="files")
    for name, rec in sorted(info["files"].items()):
        files.add_row(name, format_size(rec["size_bytes"]), rec.get("sha256", "–"),
                      rec.get("blake3", "–"))
    console = Console()
    console.print(table)
    console.print(files)


def register(app: typer.Typer) -> None:
    """Add the ``workload`` command group to ``app``."""
    app.add_typer(workload_app, name="workload")
