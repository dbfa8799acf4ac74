"""``--policy-file [NAME=]FILE.py:CLASS``: your own policy on ``simulate``, ``sweep``, ``run``."""

from __future__ import annotations

import typer

from greenhop.core.errors import ConfigError

HELP = ("Your own policy: FILE.py:CLASS (a greenhop.policies.PolicyBase subclass), or "
        "NAME=FILE.py:CLASS to name it; it is compared with the others. Repeat for more. "
        "See docs/policies.md.")


def option() -> list[str]:
    """The typer option (repeatable)."""
    return typer.Option([], "--policy-file", help=HELP, show_default=False)


def load(items: list[str]) -> tuple[list[str], list]:
    """Load and register each ``--policy-file``; returns (policy names, their PolicyFile)."""
    from greenhop.policies.plugins import load_policy_file, parse_policy_file

    refs = [parse_policy_file(text) for text in items]
    names: list[str] = []
    for text, ref in zip(items, refs, strict=True):
        name = load_policy_file(ref, f"--policy-file {text}")
        if name in names:
            raise ConfigError(f"--policy-file {text}: policy '{name}' is given twice")
        names.append(name)
    return names, refs


def with_loaded(names: list[str] | None, loaded: list[str]) -> list[str] | None:
    """``--policies`` with the loaded policies it does not name appended (``None``: not
    given, the scenario's list then gets them)."""
    if names is None:
        return None
    return [*names, *(n for n in loaded if n not in names)]
