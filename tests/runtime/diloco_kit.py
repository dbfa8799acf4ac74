"""What the live DiLoCo tests share: the command run in this process."""

from __future__ import annotations

from greenhop.cli.main import main as cli_main


def diloco_cli(args, capsys):
    """Run ``greenhop diloco ARGS`` in this process; ``(exit code, stdout, stderr)``."""
    code = 0
    try:
        cli_main(["diloco", *args])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err
