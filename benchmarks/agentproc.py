"""A site agent as its own process (``greenhop agent serve``), for the transfer benchmarks.

Started on construction (so a benchmark can have it running before it measures),
listening on a free loopback port; ``with agent as url:`` yields its URL and stops
it on exit.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path


class AgentProcess:
    """``greenhop agent serve --root ROOT`` at ``rate_bps`` [bit/s] (``inf``: unlimited), with
    a fresh token (and, with ``tls``, HTTPS from a CA of its own); clients pass
    ``credentials=agent.credentials``."""

    def __init__(self, root: Path, rate_bps: float, idle_timeout: str = "300s",
                 tls: bool = False) -> None:
        from greenhop.runtime.auth import Credentials, make_run_ca, new_token, write_secret

        root.mkdir(parents=True, exist_ok=True)
        rate = "unlimited" if math.isinf(rate_bps) else f"{rate_bps:g}bps"
        secret = new_token()
        token = write_secret(root.parent / f".{root.name}.token", secret + "\n")
        extra, ca = ["--token-file", str(token)], None
        if tls:
            ca, certs = make_run_ca(root.parent / f".{root.name}.tls", ["agent"])
            extra += ["--tls-cert", certs["agent"].cert_file, "--tls-key", certs["agent"].key_file]
        self.credentials = Credentials(secret, ca)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "greenhop", "agent", "serve", "--root", str(root),
             "--port", "0", "--rate", rate, "--idle-timeout", idle_timeout, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.url = self.proc.stdout.readline().strip()  # printed once it listens
        assert self.url.startswith(("http://", "https://")), self.url

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
