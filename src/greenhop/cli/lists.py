"""Comma-separated option values (``--policies a,b``, ``--models 1.3B,7B``, ``--sites a,b``).

One reading for every list option, so that ``a,,b`` means the same everywhere: a typo, not
two entries (and not three).
"""

from __future__ import annotations

from greenhop.core.errors import ConfigError


def comma_entries(option: str, text: str, what: str, example: str) -> list[str]:
    """The stripped entries of ``text``, split on commas.

    Args:
        option: the option's name, as the error names it (``--policies``).
        text: the value as given.
        what: what one entry is, plural, for the messages (``policy names``).
        example: a valid value (``static,feasibility-aware``).

    Raises:
        ConfigError: ``text`` holds no entry, or an empty one (``a,,b``, ``a,b,``).
    """
    entries = [part.strip() for part in text.split(",")]
    if not any(entries):
        raise ConfigError(f"{option} is empty; give at least one of the {what}, e.g. "
                          f"{option} {example}")
    if not all(entries):
        raise ConfigError(f"{option} {text!r}: an empty entry; separate the {what} with "
                          f"single commas, e.g. {option} {example}")
    return entries
