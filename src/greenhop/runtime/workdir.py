"""One live run per work directory: an owner lock and a marker naming the run.

The run database has its own lock, but the checkpoints, logs and trainers live in
the *work directory*: two controllers given two databases must not share it.
:class:`Workdir` takes an exclusive ``flock`` on ``WORKDIR/.greenhop.lock``
(released by the kernel when the owner dies, even by ``kill -9``) and keeps
``WORKDIR/greenhop-run.json`` (the run id and its database). A new database in a
work directory that already holds another run's checkpoints is refused unless the
user says ``--resume`` (carry on from those checkpoints) or ``--fresh`` (remove
them first).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path

from greenhop.core.errors import ConfigError
from greenhop.core.filelock import is_held, try_lock
from greenhop.runtime.store_errors import RunLockedError, StoreError

LOCK_NAME = ".greenhop.lock"
MARKER_NAME = "greenhop-run.json"
_STATE = ("sites", "logs", "events.jsonl", "metrics.json")
"""What a run leaves in its work directory (what ``--fresh`` removes)."""


class RunStarting(StoreError):
    """A controller holds the work directory but has not yet written its run (the database,
    its run row, its run-start event): exit code 1; the same command works in a moment."""


def _recorded_pid(lock: Path) -> str:
    """The pid the owner of ``lock`` wrote in it; ``"?"`` when there is none to read."""
    pid = ""
    with contextlib.suppress(OSError):
        pid = lock.read_bytes()[:32].decode(errors="replace").strip()
    return pid or "?"


def lock_holder(path: str | Path) -> str | None:
    """The pid (as recorded, ``"?"`` when unreadable) of the controller that holds the work
    directory ``path`` (its ``LOCK_NAME`` locked); None when none does. Asked of the kernel,
    so a controller that died, even by ``kill -9``, holds nothing."""
    lock = Path(path) / LOCK_NAME
    return _recorded_pid(lock) if is_held(lock) else None


class Workdir:
    """The work directory of one live run (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def prepare(self) -> None:
        """Create the directory; a clear :class:`ConfigError` when that is impossible."""
        p = self.path
        if p.exists() and not p.is_dir():
            raise ConfigError(f"--workdir {p}: exists and is not a directory")
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--workdir {p}: cannot create it ({exc.strerror}); pass a "
                              "writable directory") from None
        if not os.access(p, os.W_OK | os.X_OK):
            raise ConfigError(f"--workdir {p}: not writable; pass a writable directory")

    def acquire(self) -> None:
        """Take the exclusive owner lock or raise :class:`RunLockedError`."""
        lock = self.path / LOCK_NAME
        try:
            fd = try_lock(lock)
        except OSError as exc:
            raise ConfigError(f"--workdir {self.path}: cannot create {LOCK_NAME} "
                              f"({exc.strerror})") from None
        if fd is None:
            raise RunLockedError(
                f"{self.path}: another greenhop run (controller pid {_recorded_pid(lock)}) "
                "uses this work directory; stop it first, or pass another --workdir")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None

    def marker(self) -> dict | None:
        """The marker of the run that used this directory, or None."""
        p = self.path / MARKER_NAME
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            return None
        return d if isinstance(d, dict) else None

    def holds_state(self) -> bool:
        """True when a run left checkpoints (``sites/<site>/<job>/step-*``), trainer logs
        or its marker here (empty site directories, e.g. agents' roots, do not count)."""
        if self.marker() is not None:
            return True
        if any((self.path / "sites").glob("*/*/step-*")):
            return True
        logs = self.path / "logs"
        return logs.is_dir() and any(p.suffix == ".log" and not p.name.startswith("agent-")
                                     for p in logs.iterdir())

    def claim(self, run_id: str, db: Path, *, new_run: bool, resume: bool = False,
              fresh: bool = False) -> str:
        """Check that this directory may hold run ``run_id`` (database ``db``); see
        :meth:`record`.

        Returns ``"clean"``, ``"same"``, ``"resumed"`` (``--resume``: an old directory
        adopted) or ``"fresh"`` (``--fresh``: the old run's files removed).
        """
        if resume and fresh:
            raise ConfigError("--resume and --fresh exclude each other; pass one")
        old = self.marker()
        if (old is not None and old.get("run_id") == run_id) or (old is None and not new_run):
            how = "same"
        elif not self.holds_state():
            how = "clean"
        elif fresh:
            for name in _STATE:
                p = self.path / name
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                elif p.exists() or p.is_symlink():
                    p.unlink()
            how = "fresh"
        elif resume and new_run:
            how = "resumed"
        else:
            who = (f"run {old.get('run_id')} (database {old.get('db')})" if old
                   else "an earlier run")
            raise ConfigError(
                f"--workdir {self.path}: holds the checkpoints of {who}, not of the run in "
                f"{db}; pass that run's --db to resume it, --resume to continue from these "
                "checkpoints with the new database, or --fresh to remove them")
        return how

    def record(self, run_id: str, db: Path) -> None:
        """Write the marker (once the run exists in its database)."""
        tmp = self.path / (MARKER_NAME + ".tmp")
        tmp.write_text(json.dumps({"run_id": run_id, "db": str(Path(db).resolve())}) + "\n")
        os.replace(tmp, self.path / MARKER_NAME)
