"""The guard ``greenhop status`` and ``greenhop replay`` share: a run database or event
log that a run still starting has not written yet (no file, no tables, no run-start
event) is said as such (:class:`~greenhop.runtime.workdir.RunStarting`), not as a
missing or damaged file."""

from __future__ import annotations

import contextlib
from pathlib import Path


def refuse_if_starting(path: Path) -> None:
    """Raise :class:`~greenhop.runtime.workdir.RunStarting` when a controller holds the work
    directory ``path`` lies in: what ``path`` lacks (the database, its run, its run-start
    event) is only not written yet."""
    from greenhop.runtime.workdir import RunStarting, lock_holder

    pid = lock_holder(path.parent)
    if pid is not None:
        raise RunStarting(f"a run is starting in {path.parent} (controller pid {pid}); try "
                          "again in a moment")


@contextlib.contextmanager
def unless_starting(path: Path):
    """Read the run database or log ``path`` inside: one a starting run has not made yet
    (no file, or a database without its tables) is :func:`refuse_if_starting`'s error,
    and otherwise the reader's own."""
    from greenhop.runtime.store_errors import NotARunDatabase

    if not path.exists():
        refuse_if_starting(path)
    try:
        yield
    except NotARunDatabase:
        refuse_if_starting(path)
        raise


def open_unless_starting(db: Path):
    """The run database at ``db`` opened read-only (:func:`unless_starting`)."""
    from greenhop.runtime.store import Store

    with unless_starting(db):
        return Store.open(db, read_only=True)
