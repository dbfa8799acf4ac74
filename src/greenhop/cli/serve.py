"""``greenhop serve``: the HTTP API, Prometheus metrics and live dashboard of a run, and
finished simulation and sweep outputs (``--outputs``)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from greenhop.cli import paths

err = Console(stderr=True, highlight=False)

DEFAULT_DB = Path("greenhop-run") / "run.db"
"""The run database served when neither --db nor --outputs is given."""


def serve_command(
    db: Path | None = typer.Option(
        None, "--db", help="Run database of a live or finished run (without --db and "
        "--outputs: greenhop-run/run.db)."),
    outputs: list[Path] = typer.Option(
        [], "--outputs", metavar="DIR", help="A folder written by `greenhop simulate --out` or "
        "`greenhop sweep --out`, or a `greenhop run` work directory, served under "
        "/api/v1/outputs (repeat for more)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="A secret (one line): with it the operator actions "
        "(drain, pin, pause, ...) exist and need 'Authorization: Bearer <token>'; "
        "without it the service is read-only."),
    nice: int = typer.Option(0, "--nice", help="Lower this process's CPU priority by N "
                             "(0-19; `greenhop run --serve` uses 10 so that the controller "
                             "comes first)."),
) -> None:
    """Serve a run: REST API under /api/v1, events stream, /metrics, dashboard at /; and
    finished outputs (--outputs)."""
    from greenhop.core.errors import ConfigError
    from greenhop.service.data import RunReader
    from greenhop.service.outputs import scan_outputs
    from greenhop.service.server import base_url, check_port, serve

    if not 0 < port < 65536:
        raise ConfigError(f"--port {port}: expected 1..65535")
    if not 0 <= nice <= 19:
        raise ConfigError(f"--nice {nice}: expected 0..19")
    found = scan_outputs(outputs)  # a folder that is not an output fails here, with one line
    if db is None and not found:
        db = DEFAULT_DB
        if not db.is_file():
            raise ConfigError(f"nothing to serve: no run database at {db}; pass --db RUN.db "
                              "and/or --outputs DIR")
    if db is None and token_file is not None:
        raise ConfigError("--token-file: operator actions act on a live run; pass --db RUN.db")
    token = None
    if token_file is not None:
        from greenhop.runtime.auth import read_token_file

        token = read_token_file(token_file)
    if db is not None:
        RunReader(paths.regular_file(db, "--db"))  # a wrong --db fails here, with one line
    check_port(host, port)
    what = [str(db)] if db is not None else []
    what += [f"{len(found)} output{'s' * (len(found) != 1)} (/api/v1/outputs)"] if found else []
    metrics = ", /metrics" if db is not None else ""  # the live run's gauges: none without
    err.print(f"greenhop serve: {' and '.join(what)} on {base_url(host, port)} (API under "
              f"/api/v1{metrics}; operator actions "
              f"{'on' if token else 'off: no --token-file'})")
    serve(db, host, port, token, outputs=found or None, nice=nice)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
