"""The run database's errors: the classes a store raises (each with its exit code) and the
mapping of an error SQLite raised to one of them, as one line naming the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from greenhop.core.errors import ConfigError, RuntimeFailure


class DuplicateEventId(ConfigError):
    """A grid event's id that the run already has."""


class StoreError(RuntimeFailure):
    """The database cannot be used (busy, another schema, inconsistent)."""


class RunLockedError(StoreError):
    """Another controller owns this database."""


class NotARunDatabase(ConfigError, StoreError):
    """The file is not a greenhop run database this greenhop can read (another SQLite
    file, tables missing, an older or newer schema): a user mistake, exit code 2."""


class DatabaseFailure(StoreError, sqlite3.OperationalError):
    """The database failed a read or a write (its disk full, an I/O error, busy too long):
    exit code 1; the same command resumes once the cause is gone. Still an
    ``sqlite3.OperationalError``, for the code that expects one."""


class DatabaseBusy(DatabaseFailure):
    """Another process holds the database's lock (an exclusive transaction, a tool): exit
    code 1; the same command works once it lets go."""


class DamagedDatabase(ConfigError, StoreError, sqlite3.DatabaseError):
    """A page of the file is damaged (malformed, text that is not UTF-8): exit code 2."""


class DatabaseGone(StoreError):
    """The owner's database file was deleted or replaced while the run was live: what it
    writes would be lost with the open, unlinked file, so the run stops."""


_DAMAGED = ("malformed", "could not decode", "not a database")
_BUSY = (5, 6)
"""SQLITE_BUSY, SQLITE_LOCKED: another connection holds the lock."""


def is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return (code is not None and code & 0xFF in _BUSY) or "database is locked" in str(exc)


def busy(path: Path) -> DatabaseBusy:
    return DatabaseBusy(f"{path}: busy: held by another process; try again")


def failure(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    """``exc`` as one line naming the file, for the user."""
    if is_busy(exc):
        return busy(path)
    what = str(exc).split(" with text ")[0][:200]  # not the damaged text itself
    if any(m in what.lower() for m in _DAMAGED):
        return DamagedDatabase(
            f"{path}: the run database is damaged ({what}); restore it from a copy, or start "
            "a new run with another --db (nothing was changed)")
    if "readonly" in what.lower() or "read-only" in what.lower():
        return DatabaseFailure(
            f"{path}: the run database cannot be written ({what}): the file or its folder "
            "is read-only; make both writable, then run the same command again")
    return DatabaseFailure(
        f"{path}: the run database failed ({what}); free disk space or end what holds the "
        "file, then run the same command again: the run resumes from its last step")
