"""``--help`` that shows flags as flags and arguments by name.

Typer's own help prints a type beside every option, ``<bool>`` included, which
reads as if ``--json`` took a value (``--json true`` is refused); it writes a
required argument as ``{scenario}`` and a repeatable option as ``<list[str]>``.
:class:`GreenhopGroup` is the root group: when Typer builds the command tree it
walks it once and gives every command of Typer's default classes the fixes
below, so a command added later gets them without doing anything.
"""

from __future__ import annotations

import inspect
import re

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

try:  # Typer 0.2x carries its own copy of Click; older Typers use Click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click import exceptions as click_errors


def usage_name(argument: TyperArgument) -> str:
    """How ``argument`` appears on the usage line: ``SCENARIO``, ``[SCENARIO]`` or
    ``PATHS...``."""
    name = (argument.metavar or argument.name or "arg").upper()
    if argument.nargs != 1:
        name += "..."
    return name if argument.required else f"[{name}]"


def _plain(base: type) -> type:
    """``base`` (a Typer command or group class) with plain help: no type after a flag,
    arguments by name. A direct subclass adding only methods, so an existing command's
    class can be switched to it."""

    class Plain(base):
        def get_params(self, ctx):
            params = super().get_params(ctx)
            for param in params:  # the help option is made here, so fix flags here too
                if not isinstance(param, TyperOption) or param.metavar is not None:
                    continue
                if param.is_flag:
                    param.metavar = ""  # an empty type column: a flag takes no value
                elif param.multiple:  # one value per use (the help says "repeat")
                    param.metavar = re.sub(r"^<list\[(.*)\]>$", r"<\1>",
                                           param.display_type(ctx))
            return params

        def parse_args(self, ctx, args):
            try:
                return super().parse_args(ctx, args)
            except click_errors.UsageError as exc:  # "-c needs a value" comes without one:
                exc.ctx = exc.ctx or ctx  # the error names the command it was given to
                raise

        def collect_usage_pieces(self, ctx):
            pieces = super().collect_usage_pieces(ctx)
            names = {}
            for param in self.get_params(ctx):
                if isinstance(param, TyperArgument):
                    for piece in param.get_usage_pieces(ctx):
                        names[piece] = usage_name(param)
            return [names.get(piece, piece) for piece in pieces]

    Plain.__name__ = Plain.__qualname__ = f"PlainHelp{base.__name__.removeprefix('Typer')}"
    return Plain


PlainHelpCommand = _plain(TyperCommand)
"""A Typer command with plain help."""
PlainHelpGroup = _plain(TyperGroup)
"""A Typer group with plain help."""


def summary_line(help_text: str | None) -> str | None:
    """The first paragraph of a command's help on one line (``None`` if it has none)."""
    if not help_text:
        return None
    first = inspect.cleandoc(help_text).partition("\f")[0].split("\n\n")[0]
    return " ".join(first.split()) or None


_NOT_PROSE = re.compile(r"^(\s|[-*|$>]|\d+[.)]\s|\x08)")
"""A line that makes its paragraph more than prose: indented (code), a list item, a table
row, a shell line, a quote, or Click's no-rewrap mark."""


def reflowed(help_text: str | None) -> str | None:
    """``help_text`` with each prose paragraph on one line. The help renderer keeps a
    docstring's line breaks after the first paragraph and wraps each line to the terminal
    on its own, so a source line longer than the terminal left a stub ("... justified
    when" / "the payback time ..."); on one line it is wrapped as a whole. Paragraphs with
    lists, code or tables (:data:`_NOT_PROSE`) keep their lines."""
    if not help_text:
        return help_text
    text, mark, rest = inspect.cleandoc(help_text).partition("\f")
    paragraphs = text.split("\n\n")
    for i, para in enumerate(paragraphs):
        lines = para.split("\n")
        if not any(_NOT_PROSE.match(line) for line in lines):
            paragraphs[i] = " ".join(line.strip() for line in lines)
    return "\n\n".join(paragraphs) + mark + rest


def plain_help(command) -> None:
    """Give ``command`` and every command below it plain help.

    Only commands of Typer's default classes are touched (their class becomes the plain
    subclass, which adds methods and no state); a command with its own class is left as is.
    Every command without a ``short_help`` gets its help's first paragraph on one line:
    Typer's list of a group's commands keeps a docstring's line breaks, which cut a
    summary mid-sentence there (its own ``--help`` joins them).
    """
    if getattr(command, "short_help", None) is None:
        command.short_help = summary_line(getattr(command, "help", None))
    if getattr(command, "help", None):
        command.help = reflowed(command.help)
    if type(command) is TyperCommand:
        command.__class__ = PlainHelpCommand
    elif type(command) is TyperGroup:
        command.__class__ = PlainHelpGroup
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)


class GreenhopGroup(PlainHelpGroup):  # type: ignore[misc,valid-type]
    """The root ``greenhop`` group: every command below it gets plain help."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for sub in self.commands.values():
            plain_help(sub)
