"""Composition root: the ``greenhop`` command line."""

from __future__ import annotations

import sys


def entry() -> None:
    """The ``greenhop`` console script: :func:`greenhop.cli.main.main`, imported here so that a
    Ctrl-C while the command line loads (typer, rich: about 0.25 s) ends as one during a
    command does, one ``interrupted: ...`` line and exit 130, not an import traceback."""
    try:
        from greenhop.cli.main import main as run
    except KeyboardInterrupt:
        print("\ninterrupted: greenhop stopped (Ctrl-C)", file=sys.stderr)
        sys.exit(130)
    run()
