"""Reading a user's file: why a path given as a file cannot be read as one, in words for an
error message, and a TOML file's text and table with one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

from greenhop.core.errors import ConfigError


def is_pipe_or_device(path: Path) -> bool:
    """Whether ``path`` exists but is neither a regular file nor a folder (a FIFO, a socket,
    a device): opening it to read would block or never end."""
    return path.exists() and not path.is_file() and not path.is_dir()


def not_a_file_reason(path: Path) -> str:
    """What ``path`` is instead of a regular file: "is a folder", "is a pipe or a device,
    not a file" (reading a FIFO would block until someone writes to it) or "does not
    exist". Call it only where ``path.is_file()`` is false."""
    if path.is_dir():
        return "is a folder"
    if is_pipe_or_device(path):
        return "is a pipe or a device, not a file"
    return "does not exist"


def read_text_file(path: Path, what: str) -> str:
    """The UTF-8 text of the ``what`` (e.g. "scenario") at ``path``, a byte-order mark
    dropped (Windows editors write one; it is no TOML statement); a :class:`ConfigError`
    naming the file when it is not UTF-8 or cannot be read."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the {what} as UTF-8") from None
    except OSError as exc:  # permission denied, an I/O error
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror})") from None


def parse_toml(text: str, where: str) -> dict:
    """The TOML document ``text``; a one-line :class:`ConfigError` naming ``where`` (the
    file) when it is not valid TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}; fix the syntax there") from None
    except ValueError as exc:  # tomllib lets an integer of over 4300 digits through
        raise ConfigError(f"{where}: not valid TOML: {str(exc).split(';')[0]}") from None
