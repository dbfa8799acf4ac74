"""The one naming rule for jobs and sites: a name is one safe path component.

Job and site names become directory names (``sites/<site>/<job>/step-*``), log
file names and URL path segments, so a name must never be a path, never hide,
never carry a control character and never depend on Unicode tables. The rule is
a *full match* over ASCII only (``re.fullmatch`` with ``re.ASCII``; ``$`` would
accept a trailing newline and ``\\d`` non-ASCII digits).
"""

from __future__ import annotations

import re

from greenhop.core.errors import ConfigError

MAX_NAME_CHARS = 64
"""Longest job or site name [characters]."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII)


def is_valid_name(name: object) -> bool:
    """True when ``name`` follows the rule of :func:`check_name`."""
    return (isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS
            and _NAME.fullmatch(name) is not None and ".." not in name)


def check_name(kind: str, name: object, where: str = "") -> str:
    """Return ``name`` if it is a valid ``kind`` name (``"job"``, ``"site"``), else raise
    :class:`ConfigError` saying what and where.

    Valid: 1-64 ASCII letters, digits, ``_``, ``.``, ``-``; starts with a letter or a
    digit; no ``..`` (so never ``.``, ``..`` or a hidden file, and never a path).
    """
    if not is_valid_name(name):
        at = f"{where}: " if where else ""
        raise ConfigError(
            f"{at}invalid {kind} name {name!r}: use 1-{MAX_NAME_CHARS} ASCII letters, digits, "
            "'_', '.', '-', starting with a letter or digit (it becomes a directory name)")
    return name  # type: ignore[return-value]
