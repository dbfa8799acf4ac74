"""``greenhop agent serve`` and ``greenhop transfer pull|push|list``: moving checkpoints."""

from __future__ import annotations

import json
import math
import re
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

from greenhop.cli import paths
from greenhop.core.errors import ConfigError
from greenhop.core.units import (
    format_duration,
    format_rate,
    format_size,
    parse_quantity,
)

agent_app = typer.Typer(
    help="Serve this site's checkpoints to other sites over HTTP.", no_args_is_help=True
)
transfer_app = typer.Typer(
    help="Move a checkpoint between site agents by hand.", no_args_is_help=True
)
err = Console(stderr=True, highlight=False)


MAX_TIMEOUT_S = 86400.0
"""Longest ``--timeout`` of a transfer [s] (a day)."""
MAX_LATENCY_S = 60.0
"""Longest ``--latency`` an agent adds to each response [s]."""


def _rate(text: str) -> float:
    if text.strip().lower() in ("unlimited", "inf", "none"):
        return math.inf
    rate_bps = parse_quantity(text, "rate", option="--rate", plain=False)
    if not rate_bps > 0:
        raise ConfigError(f"--rate: must be more than 0 bit/s (or unlimited), got {text!r}")
    return rate_bps


def _duration(text: str, option: str, most_s: float, *, zero: bool) -> float:
    """``text`` given as ``option``, parsed into seconds [s]: at most ``most_s`` [s], and
    above 0 unless ``zero`` allows it; a :class:`ConfigError` naming ``option`` otherwise."""
    value = parse_quantity(text, "duration", option=option)
    if not (value <= most_s and (zero or value > 0)):
        low = "0 s or more" if zero else "more than 0 s"
        raise ConfigError(f"{option} {text!r}: must be {low} and at most "
                          f"{format_duration(most_s)}")
    return value


def _credentials(token_file: Path | None, tls_ca: Path | None):
    import ssl

    from greenhop.runtime.auth import Credentials, read_token_file

    if tls_ca is not None:
        if not tls_ca.is_file():
            raise ConfigError(f"--tls-ca {tls_ca}: no such file")
        try:  # what every TLS client of the run loads: refuse a file it cannot use now
            ssl.create_default_context(cafile=str(tls_ca))
        except ssl.SSLError as exc:
            why = (exc.reason or str(exc)).replace("_", " ").lower()
            raise ConfigError(f"--tls-ca {tls_ca}: not a PEM certificate ({why}); give the "
                              "run's ca.pem (greenhop agent tls makes one)") from None
        except OSError as exc:
            raise ConfigError(f"--tls-ca {tls_ca}: cannot read it ({exc.strerror})") from None
    return Credentials(read_token_file(token_file) if token_file else None,
                       str(tls_ca) if tls_ca else None)


TOKEN_HELP = "File holding the run's secret (one line; the same file on every machine)."
CA_HELP = "The run's CA certificate (PEM): trust only agents it signed."


@agent_app.command("serve")
def serve(
    root: Path = typer.Option(..., "--root", help="Site directory: one sub-directory per job."),
    token_file: Path = typer.Option(..., "--token-file", help=TOKEN_HELP),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="TCP port (0 = any free)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (beyond loopback "
                             "needs --tls-cert and --tls-key)."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="Server certificate (PEM)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="Its private key (PEM)."),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help=CA_HELP + " (to pull from "
                                       "other agents)"),
    name: str = typer.Option("site", "--name", help="Site name (reported by /v1/health)."),
    rate: str = typer.Option("unlimited", "--rate", help="Link rate: 1Gbps, 100Mbit/s, unlimited."),
    latency: str = typer.Option(
        "0ms", "--latency", help="Delay added to each response, e.g. 20ms (at most 1 min)."
    ),
    idle_timeout: str = typer.Option(
        "0s", "--idle-timeout", help="Stop after this long without a request (0s: never)."
    ),
) -> None:
    """Serve ROOT/<job>/step-* to the run's controller and agents (Ctrl-C stops it)."""
    from greenhop.core.names import check_name
    from greenhop.runtime.agent import SiteAgent

    check_name("site", name, "--name")  # the same rule as a scenario's site names

    if root.exists() and not root.is_dir():
        raise ConfigError(f"--root {root}: is a file, not a directory; give the site directory")
    if not root.is_dir():
        raise ConfigError(f"--root {root}: no such directory; create the site directory first "
                          "(the controller's WORKDIR/sites/<site> on a shared setup)")
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    for opt, p in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if p is not None and not p.is_file():
            raise ConfigError(f"{opt} {p}: no such file")
    creds = _credentials(token_file, tls_ca)
    idle_s = parse_quantity(idle_timeout, "duration", option="--idle-timeout")
    latency_s = _duration(latency, "--latency", MAX_LATENCY_S, zero=True)
    agent = SiteAgent(
        root,
        host=host,
        port=port,
        rate_bps=_rate(rate),
        latency_s=latency_s,
        idle_timeout_s=idle_s or None,
        name=name,
        token=creds.token,
        tls=(str(tls_cert), str(tls_key)) if tls_cert else None,
        ca_file=creds.ca_file,
    ).start()
    err.print(
        f"greenhop agent {name} serving {root} at {agent.url} (rate "
        f"{format_rate(agent.bucket.rate_bps)}, latency {format_duration(agent.latency_s)}, "
        + (f"stops after {format_duration(idle_s)} idle)" if idle_s else "until Ctrl-C)")
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
        f"{format_size(agent.stats.bytes_sent)} sent, {agent.stats.unauthorized} refused "
        "without the token"
    )


@agent_app.command("tls")
def tls(
    out: Path = typer.Argument(..., help="Directory for ca.pem and SITE.pem / SITE.key."),
    site: list[str] = typer.Option(..., "--site", help="A site to make a certificate for "
                                   "(repeat)."),
    host: list[str] = typer.Option(["127.0.0.1", "localhost"], "--host",
                                   help="Address or name the agents are reached at (repeat)."),
) -> None:
    """Make a CA for a run and one server certificate per site (keys readable by you only)."""
    from greenhop.core.names import check_name
    from greenhop.runtime.auth import make_run_ca

    for i, s in enumerate(site):
        check_name("site", s, "--site")
        if s in site[:i]:
            raise ConfigError(f"--site: {s!r} is given twice; one certificate per site")
    for h in host:  # the certificates name it as an IP address or an ASCII (A-label) DNS name
        if not re.fullmatch(r"[A-Za-z0-9_.:*-]+", h, re.ASCII):
            raise ConfigError(f"--host {h!r}: not an IP address or an ASCII host name; write "
                              "an international name in its xn-- form")
    paths.output_dir(out, "OUT")
    made = [out / f for f in ("ca.pem", *(f"{s}{x}" for s in site for x in (".pem", ".key")))]
    earlier = next((f for f in made if f.exists()), None)
    if earlier is not None:  # a new CA would leave the agents started with the old one untrusted
        raise ConfigError(f"OUT {out}: {earlier.name} is there already (an earlier run's "
                          "certificates); give a new directory, or remove them first")
    ca, certs = make_run_ca(out, list(site), tuple(host))
    typer.echo(json.dumps({"ca": ca, "sites": {s: {"cert": c.cert_file, "key": c.key_file}
                                               for s, c in certs.items()}}, indent=1))


@transfer_app.command("pull")
def pull(
    source: str = typer.Argument(..., help="Agent URL, e.g. http://127.0.0.1:8765"),
    job: str = typer.Argument(..., help="Job name (a directory under the agent's root)."),
    dest: Path = typer.Argument(..., help="Local checkpoint directory of the job."),
    checkpoint: str = typer.Option("latest", "--checkpoint", help="step-NNNNNNNNN or latest."),
    retries: int = typer.Option(8, "--retries", min=0, help="Retries after drops or bad chunks."),
    timeout: str = typer.Option("30s", "--timeout", help="Socket timeout (more than 0 s, at "
                                "most a day)."),
    token_file: Path | None = typer.Option(None, "--token-file", help=TOKEN_HELP),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help=CA_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the transfer summary as JSON."),
) -> None:
    """Copy a checkpoint from an agent into DEST, verified chunk by chunk, resumable."""
    from greenhop.runtime.agent import check_job_name
    from greenhop.runtime.transfer import check_checkpoint_name, pull_checkpoint

    check_job_name(job)
    check_checkpoint_name(checkpoint)  # before the progress bar is drawn
    paths.output_dir(dest, "DEST")
    timeout_s = _duration(timeout, "--timeout", MAX_TIMEOUT_S, zero=False)
    creds = _credentials(token_file, tls_ca)
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
            timeout_s=timeout_s,
            progress=on_progress,
            credentials=creds,
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
    token_file: Path | None = typer.Option(None, "--token-file", help=TOKEN_HELP),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help=CA_HELP),
) -> None:
    """Have the agent at --to fetch JOB's checkpoint from the agent at --from."""
    from greenhop.runtime.agent import check_job_name
    from greenhop.runtime.transfer import check_checkpoint_name, fetch_via

    check_job_name(job)
    check_checkpoint_name(checkpoint)
    creds = _credentials(token_file, tls_ca)
    with err.status(f"{dest} is fetching {job}/{checkpoint} from {source} ..."):
        result = fetch_via(dest, source, job, checkpoint, credentials=creds)
    typer.echo(json.dumps(result, indent=1))


@transfer_app.command("peers")
def peers(
    url: str = typer.Argument(..., metavar="URL", help="URL of the agent to tell."),
    peer: list[str] = typer.Option(..., "--peer", metavar="URL",
                                   help="URL of an agent it may pull from (repeat)."),
    token_file: Path | None = typer.Option(None, "--token-file", help=TOKEN_HELP),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help=CA_HELP),
) -> None:
    """Set the agents the agent at URL may pull from (an agent with a token pulls from none
    until told; `greenhop run` tells them itself). Replaces the list it had."""
    from greenhop.runtime.agent import normalize_url
    from greenhop.runtime.agent_client import set_peers

    for u in (url, *peer):
        normalize_url(u)  # a malformed URL is named before anything is sent
    set_peers(url, list(peer), credentials=_credentials(token_file, tls_ca))
    err.print(f"{url} pulls from {', '.join(peer)} only")


@transfer_app.command("list")
def list_(
    source: str = typer.Argument(..., help="Agent URL."),
    job: str = typer.Argument(..., help="Job name."),
    token_file: Path | None = typer.Option(None, "--token-file", help=TOKEN_HELP),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help=CA_HELP),
) -> None:
    """List the complete checkpoints an agent holds for JOB, newest first (JSON)."""
    from greenhop.runtime.agent import check_job_name
    from greenhop.runtime.agent_client import list_remote

    check_job_name(job)
    typer.echo(json.dumps(list_remote(source, job, credentials=_credentials(token_file, tls_ca)),
                          indent=1))


def register(app: typer.Typer) -> None:
    """Add the ``agent`` and ``transfer`` command groups to ``app``."""
    app.add_typer(agent_app, name="agent")
    app.add_typer(transfer_app, name="transfer")
