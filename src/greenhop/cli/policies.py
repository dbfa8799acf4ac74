"""``greenhop policies``: every registered policy, its one-line summary, where its rule
comes from and what it does (migrates, suspends, scales, places).

The table wraps the summary and source to the terminal width (80 columns when not on a
terminal) and never cuts a name; ``--json`` prints the same as a list of objects.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict

import typer

MIN_TEXT = 24  # narrowest summary column before it moves below the name [chars]


def policy_rows() -> list[dict]:
    """One dict per registered policy (sorted by name): name, summary, source, does and
    the capability flags."""
    from greenhop.policies import POLICIES

    rows = []
    for name in POLICIES.names():
        factory = POLICIES.get(name)
        caps = factory.capabilities
        rows.append({"name": name, "summary": str(factory.summary or ""),
                     "source": str(factory.source or ""),
                     "does": caps.verbs(), **asdict(caps)})
    return rows


def render_table(rows: list[dict], width: int) -> list[str]:
    """The listing as lines of at most ``width`` characters (names are never cut, so only a
    name longer than ``width`` passes it): name, what it does, then the summary and source
    wrapped in the last column, or, when that column would be too narrow, under the name."""
    name_w = max([len("name"), *(len(r["name"]) for r in rows)])
    does_w = max([len("does"), *(len(r["does"]) for r in rows)])
    left = name_w + 2 + does_w + 2
    columns = width - left >= MIN_TEXT

    def wrap(r: dict, room: int, *first: str) -> list[str]:
        parts = [*first, r["summary"] or "(no summary)", f"source: {r['source'] or 'not given'}"]
        return [line for part in parts
                for line in textwrap.wrap(part, max(room, 10), break_on_hyphens=False)]

    if not columns:
        # Too narrow for three columns: what it does and the text go under each name.
        lines = ["name / does / summary / source"[:width]]
        for r in rows:
            lines.append(r["name"])
            lines += ["  " + t for t in wrap(r, width - 2, f"does: {r['does']}")]
        return lines
    lines = [f"{'name'.ljust(name_w)}  {'does'.ljust(does_w)}  summary / source"[:width]]
    for r in rows:
        text = wrap(r, width - left)
        lines.append(f"{r['name'].ljust(name_w)}  {r['does'].ljust(does_w)}  {text[0]}")
        lines += [" " * left + t for t in text[1:]]
    return lines


def policies(
    as_json: bool = typer.Option(False, "--json", help="Print the policies as JSON only."),
) -> None:
    """List every registered policy: what it does (migrates, suspends, scales, places), its
    one-line summary and the source of its rule. Choose one with `greenhop simulate
    --policies NAME`."""
    rows = policy_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    for line in render_table(rows, max(console.width, 40)):
        console.print(line, markup=False)
    from greenhop.policies import POLICIES

    for _, why in sorted(POLICIES.unavailable.items()):  # installed, but broken
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"warning: not listed: {why}", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``greenhop policies`` to ``app``."""
    app.command("policies")(policies)
