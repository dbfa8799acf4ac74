"""Exclusive locks on files: :func:`try_lock`, taken without waiting (the one mechanism
behind a run's database, a run's work directory and a sweep's output directory), and
:func:`hold_lock`, which waits (one pull of a checkpoint into a directory at a time).

``flock`` locks belong to an open file; the kernel frees them when the process ends, even
by ``kill -9``, so a lock never outlives its owner.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from greenhop.core.errors import RuntimeFailure

POLL_S = 0.05
"""Interval between tries of :func:`hold_lock` while it waits with a timeout [s]."""


class LockTimeout(RuntimeFailure):
    """:func:`hold_lock` waited its whole timeout for a lock another process holds."""


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


def is_held(path: str | Path) -> bool:
    """Whether another process holds the lock of ``path`` now (asked of the kernel with a
    shared lock taken and let go at once, so an owner that died holds nothing); a file
    that cannot be opened is no lock held."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def hold_lock(path: str | Path, timeout_s: float | None = None, *,
              on_wait: Callable[[], None] | None = None) -> int:
    """Open ``path`` (made, mode 644, if missing) and take its exclusive lock, waiting while
    another open file description holds it (another process, or another ``open`` in this
    one); returns the open file descriptor: the lock lasts until :func:`release_lock`
    (or ``os.close``) or the process's end.

    ``timeout_s``: the longest wait [s]; ``None`` waits as long as it takes (in
    ``flock(LOCK_EX)``; a signal handler that raises, Ctrl-C, ends the wait), a number
    tries every :data:`POLL_S` and raises :class:`LockTimeout` naming ``path`` when it
    runs out. ``on_wait()`` is called once, before the first wait, when the lock is
    held elsewhere.

    A holder may remove the file before it lets go (``release_lock(..., remove=True)``):
    a waiter that then gets the lock of the removed file sees that ``path`` no longer
    names the file it locked and starts over on whatever ``path`` is now, so two
    processes never both hold "the" lock of ``path``. ``OSError`` when the file cannot be
    opened (``FileNotFoundError`` when its directory is missing, or was removed while
    this waited).
    """
    deadline = None if timeout_s is None else time.monotonic() + max(0.0, timeout_s)
    waited = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                _wait(fd, path, deadline, timeout_s)
            locked = os.fstat(fd)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
            if now is not None and (now.st_dev, now.st_ino) == (locked.st_dev, locked.st_ino):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the file was removed (or replaced) while this waited: start over


def _wait(fd: int, path: str | Path, deadline: float | None,
          timeout_s: float | None) -> None:
    """Block until ``fd``'s exclusive lock is taken, or raise :class:`LockTimeout` at
    ``deadline`` (a ``time.monotonic()`` instant [s]; ``None``: never)."""
    if deadline is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LockTimeout(
                f"gave up after {timeout_s:g} s waiting for the lock on {path}: another "
                "process holds it (a pull or run still under way?)")
        time.sleep(min(POLL_S, left))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            continue


def release_lock(fd: int, path: str | Path | None = None, *, remove: bool = False) -> None:
    """Let go of a lock from :func:`hold_lock` (close ``fd``). ``remove``: delete ``path``
    first, while still holding the lock (safe against :func:`hold_lock` waiters, which
    then start over on a new file; not against :func:`try_lock` users of the same path,
    which do not check)."""
    try:
        if remove and path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    finally:
        os.close(fd)
