"""The ``greenhop`` command: one Typer app, one module per command group.

Each command module exposes ``register(app)``; :data:`COMMAND_MODULES` lists
them in the order they appear in ``--help``. :func:`main` turns greenhop's own
errors into a one-line message: exit code 2 for user mistakes, 1 for runtime
failures, never a bare traceback.
"""

from __future__ import annotations

import errno
import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from greenhop import __version__
from greenhop.cli.plain_help import GreenhopGroup, click_errors
from greenhop.core.errors import ConfigError, GreenhopError, UserError

COMMAND_MODULES = [
    "greenhop.cli.feasibility",
    "greenhop.cli.traces",
    "greenhop.cli.workload",
    "greenhop.cli.agent",
    "greenhop.cli.simulate",
    "greenhop.cli.bound",
    "greenhop.cli.scenarios",
    "greenhop.cli.policies",
    "greenhop.cli.sweep",
    "greenhop.cli.forecast",
    "greenhop.cli.run",
    "greenhop.cli.status",
    "greenhop.cli.replay",
    "greenhop.cli.compare",
    "greenhop.cli.serve",
    "greenhop.cli.grid",
    "greenhop.cli.diloco",
]


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    """Click's own usage errors (an unknown option, a value that is not an integer, a
    missing argument) become a :class:`ConfigError`: one line naming the command, instead
    of Click's usage line, hint and boxed message. A bare group still shows its help."""
    try:
        yield
    except click_errors.NoArgsIsHelpError:
        raise
    except click_errors.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "greenhop"
        message = " ".join(exc.format_message().split()).rstrip(".")
        raise ConfigError(f"{where}: {message}; see {where} --help") from None


class _Greenhop(GreenhopGroup):  # type: ignore[misc,valid-type]
    """The root group; every command's argument parsing runs inside its ``invoke``."""

    def make_context(self, *args, **kwargs):
        with _one_line_usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with _one_line_usage_errors():
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt:
                # a Ctrl-C no command handles itself (sweep and run say what they kept):
                # the exit code of an interruption, and a word, where the toolkit said none
                name = " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand)))
                err_console.print(f"interrupted: {name} stopped (Ctrl-C)", soft_wrap=True)
                raise typer.Exit(130) from None


app = typer.Typer(
    name="greenhop",
    help=(
        "greenhop lets AI training follow surplus renewable energy across renewable-powered "
        "micro-datacenters.\n\nQuantities take units: sizes 98GB or 1.5GiB (decimal prefixes "
        "unless Ki/Mi/Gi is written), rates 10Gbps or 250Mbit/s, durations 2.5h or 90min, "
        "powers 700W or 1.2kW."
    ),
    no_args_is_help=True,
    add_completion=False,
    cls=_Greenhop,  # flags shown as flags, arguments by name, in every --help
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

err_console = Console(stderr=True, highlight=False, emoji=False)  # "a.py:X:" stays text


def _version(value: bool) -> None:
    if value:
        typer.echo(f"greenhop {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """greenhop: follow surplus renewable energy with AI training."""


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _refuse_empty(argv: list[str]) -> None:
    """Refuse an empty argument (``--out ""``, ``--out=``): a path option would read it as
    ``.``, the current folder, and write there; for any other it is a slip."""
    for i, arg in enumerate(argv):
        if arg == "--":
            return
        name = arg[:-1] if arg.startswith("--") and arg.endswith("=") else None
        if arg == "" and i > 0 and argv[i - 1].startswith("-"):
            name = argv[i - 1]
        elif arg == "":
            raise ConfigError(f"argument {i + 1} ({' '.join(argv[:i]) or 'greenhop'} ...) "
                              "is empty; give a value")
        if name is not None:
            raise ConfigError(f"{name}: empty value; give a value (or, where the option is "
                              "optional, leave it out)")


def main(argv: list[str] | None = None, application: Callable[..., object] | None = None) -> None:
    """Run the CLI; greenhop errors become one line on stderr and exit code 2 or 1.

    ``application`` replaces the Typer app (tests inject one that fails on purpose).
    """
    try:
        _refuse_empty(sys.argv[1:] if argv is None else argv)
        (application or app)(args=argv, prog_name="greenhop", standalone_mode=True)
    except GreenhopError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(2 if isinstance(exc, UserError) else 1)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # What was written before stays whole (files go through a temporary name and a
        # rename); the same command resumes or redoes the rest once there is room.
        where = f" writing {exc.filename}" if exc.filename else ""
        err_console.print(f"[bold red]error:[/] no space left on the device{where} "
                          f"({exc.strerror}); free some and run the same command again",
                          soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
