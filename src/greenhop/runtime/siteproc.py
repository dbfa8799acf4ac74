"""``python -m greenhop.runtime.siteproc ROOT --rate BPS --name SITE [--token-file F]
[--tls-cert C --tls-key K --tls-ca CA]``: one site agent as its own process (lean: no CLI
imports). Prints its URL on the first stdout line, then serves until SIGTERM / SIGINT or
until its parent (the controller) dies."""

from __future__ import annotations

import argparse
import signal
import sys

from greenhop.core.errors import GreenhopError
from greenhop.runtime.agent import SiteAgent
from greenhop.runtime.auth import read_token_file


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m greenhop.runtime.siteproc")
    p.add_argument("root")
    p.add_argument("--rate", type=float, default=float("inf"), help="link rate [bit/s]")
    p.add_argument("--name", default="site")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token-file")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--tls-ca")
    a = p.parse_args(argv)
    try:
        token = read_token_file(a.token_file) if a.token_file else None
        tls = (a.tls_cert, a.tls_key) if a.tls_cert else None
        agent = SiteAgent(a.root, host=a.host, port=a.port, rate_bps=a.rate,
                          idle_timeout_s=None, name=a.name, token=token, tls=tls,
                          ca_file=a.tls_ca).start()
    except GreenhopError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2

    def _stop(signum, frame):
        agent._stopped.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(agent.url, flush=True)
    agent.wait()
    agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
