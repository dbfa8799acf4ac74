"""Why a path given as a file cannot be read as one, in words for an error message."""

from __future__ import annotations

from pathlib import Path


def not_a_file_reason(path: Path) -> str:
    """What ``path`` is instead of a regular file: "is a folder", "is a pipe or a device,
    not a file" (reading a FIFO would block until someone writes to it) or "does not
    exist". Call it only where ``path.is_file()`` is false."""
    if path.is_dir():
        return "is a folder"
    if path.exists():
        return "is a pipe or a device, not a file"
    return "does not exist"
