"""``greenhop serve``: the HTTP API, Prometheus metrics and live dashboard of a run."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

err = Console(stderr=True, highlight=False)


def serve_command(
    db: Path = typer.Option(Path("greenhop-run") / "run.db", "--db",
                            help="Run database of a live or finished run."),
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
    """Serve a run: REST API under /api/v1, events stream, /metrics, dashboard at /."""
    from greenhop.core.errors import ConfigError
    from greenhop.service.data import RunReader
    from greenhop.service.server import check_port, serve

    if not 0 < port < 65536:
        raise ConfigError(f"--port {port}: expected 1..65535")
    if not 0 <= nice <= 19:
        raise ConfigError(f"--nice {nice}: expected 0..19")
    token = None
    if token_file is not None:
        from greenhop.runtime.auth import read_token_file

        token = read_token_file(token_file)
    RunReader(db)  # a wrong --db fails here, with one line
    check_port(host, port)
    err.print(f"greenhop serve: {db} on http://{host}:{port}/ (API under /api/v1, "
              f"/metrics; operator actions {'on' if token else 'off: no --token-file'})")
    serve(db, host, port, token, nice=nice)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
