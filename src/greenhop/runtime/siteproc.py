"""``python -m greenhop.runtime.siteproc ROOT --rate BPS --name SITE``: one site agent as its
own process (lean: no CLI imports). Prints its URL on the first stdout line, then serves
until SIGTERM / SIGINT or until its parent (the controller) dies."""

from __future__ import annotations

import argparse
import signal
import sys

from greenhop.runtime.agent import SiteAgent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m greenhop.runtime.siteproc")
    p.add_argument("root")
    p.add_argument("--rate", type=float, default=float("inf"), help="link rate [bit/s]")
    p.add_argument("--name", default="site")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args(argv)
    agent = SiteAgent(a.root, host="127.0.0.1", port=a.port, rate_bps=a.rate,
                      idle_timeout_s=None, name=a.name).start()

    def _stop(signum, frame):
        agent.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(agent.url, flush=True)
    agent.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
