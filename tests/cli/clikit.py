"""Running the CLI in-process for the CLI tests (imported as ``clikit``)."""

from __future__ import annotations

import pytest

from greenhop.cli.main import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``greenhop ARGS`` through ``main``; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code or 0, out.out, out.err
