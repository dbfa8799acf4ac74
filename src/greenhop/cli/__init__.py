"""Composition root: the ``greenhop`` command line."""

from __future__ import annotations

import sys


def entry() -> None:
    """The ``greenhop`` console script: :func:`greenhop.cli.main.main`, imported here so that a
    Ctrl-C while the command line loads (typer, rich: about 0.25 s) ends as one during a
    command does, ``Aborted!`` and exit 1, not an import traceback."""
    try:
        from greenhop.cli.main import main as run
    except KeyboardInterrupt:
        print("\nAborted!", file=sys.stderr)
        sys.exit(1)
    run()
