"""An exclusive lock on a file, taken without waiting: the one mechanism behind a run's
database, a run's work directory and a sweep's output directory.

``flock`` locks belong to an open file; the kernel frees them when the process ends, even
by ``kill -9``, so a lock never outlives its owner.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def try_lock(path: str | Path) -> int | None:
    """Open ``path`` (made, mode 644, if missing) and take its exclusive lock; returns the
    open file descriptor (the lock lasts until it is closed), or ``None`` when another
    process holds it. ``OSError`` when the file cannot be opened."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
