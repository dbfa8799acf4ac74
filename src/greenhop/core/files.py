"""Why a path given as a file cannot be read as one, in words for an error message."""

from __future__ import annotations

from pathlib import Path


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
