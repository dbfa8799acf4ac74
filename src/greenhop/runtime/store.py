"""The run's state in one SQLite file: WAL, ``synchronous=FULL``, a schema version.

Tables (docs/runtime.md draws them):

* ``schema_version(version)``: one row; a file written by another schema is refused.
* ``run``: one row: scenario path and digest, policy, time scale, status
  (``live | stopped | done | failed``), the owner's pid, the simulated step, the ledger snapshot.
* ``sites``: name, agent URL and pid, surplus and renewable power at the current step.
* ``jobs``: phase (:mod:`greenhop.runtime.states`), site, destination, fencing token,
  trainer pid, trainer token, real training step, migration timestamps.
* ``events``: the append-only event log (``seq``, ``step``, ``kind``, JSON ``body``);
  decisions carry the observation they were made on, so ``greenhop replay`` can
  re-run the policy on them.
* ``operator_actions``: an operator's requests (drain, pin, pause, ...; ``greenhop serve``
  writes them); the controller applies each at the start of a step and records that step
  in ``applied_step`` (``NULL``: pending). Older databases get the table when the owner
  opens them (a reader reads a missing one as empty).
* ``grid_events``: demand-response events sent to a live run (``greenhop grid event``,
  ``POST /api/v1/grid/events``): the event's id, its JSON body (a
  :class:`~greenhop.core.grid_events.GridEvent`), when it was filed and the step the
  controller took it up (``NULL``: pending). Older databases get the table when the owner
  opens them (a reader reads a missing one as empty).

Readers (``greenhop status``, ``replay``, ``serve``) open the file read-only
(:func:`connect_read_only`) and never change it: no table made, no journal mode set, and
no ``-wal``/``-shm`` files left beside a database no controller is writing.

Every change of state happens in one transaction together with the events that
explain it, so a crash leaves either all of it or none. A second controller on
the same file is refused by an exclusive ``flock`` on ``<db>.lock`` (released by
the kernel when the owner dies, even by ``kill -9``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from greenhop.core.errors import ConfigError
from greenhop.core.filelock import is_held, try_lock
from greenhop.runtime.state_checks import check_state, known_phases
from greenhop.runtime.store_errors import (
    DamagedDatabase,
    DatabaseGone,
    DuplicateEventId,
    NotARunDatabase,
    RunLockedError,
    StoreError,
    busy,
    failure,
    is_busy,
)

SCHEMA_VERSION = 2
"""The schema this code reads and writes."""
TABLES = ("schema_version", "run", "sites", "jobs", "checkpoints", "events")
"""The tables every database of :data:`SCHEMA_VERSION` has (the others are made when the
owner opens an older one)."""
READ_TIMEOUT_S = 10.0
"""How long a reader waits for a lock another process holds before it gives up [s]."""

_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    scenario TEXT NOT NULL, scenario_sha256 TEXT NOT NULL, policy TEXT NOT NULL,
    time_scale REAL NOT NULL, status TEXT NOT NULL, owner_pid INTEGER,
    step INTEGER NOT NULL DEFAULT 0, decided_step INTEGER NOT NULL DEFAULT -1,
    n_steps INTEGER NOT NULL, started_unix_s REAL NOT NULL, updated_unix_s REAL NOT NULL,
    ledger TEXT, run_id TEXT, error TEXT, heartbeat_unix_s REAL
);
CREATE TABLE sites (
    idx INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, agent_url TEXT, agent_pid INTEGER,
    renewable_w REAL, surplus_w REAL, agent_started_unix_s REAL,
    agent_restarts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE jobs (
    idx INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, phase TEXT NOT NULL,
    site INTEGER, dest INTEGER, token INTEGER NOT NULL DEFAULT 0,
    trainer_pid INTEGER, trainer_start TEXT, trainer_token INTEGER,
    real_step INTEGER NOT NULL DEFAULT 0, total_steps INTEGER NOT NULL,
    move_kind TEXT, move_started_unix_s REAL, save_s REAL, transfer_s REAL, restore_s REAL,
    move_bytes REAL, attempts INTEGER NOT NULL DEFAULT 0,
    expect_step INTEGER, retry_at_unix_s REAL, error TEXT, failed_from TEXT
);
CREATE TABLE checkpoints (
    job TEXT NOT NULL, site TEXT NOT NULL, step INTEGER NOT NULL,
    manifest_sha256 TEXT NOT NULL, unix_s REAL NOT NULL,
    PRIMARY KEY (job, site, step)
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, step INTEGER NOT NULL, unix_s REAL NOT NULL,
    kind TEXT NOT NULL, job TEXT, body TEXT NOT NULL
);
"""

_OPERATOR_TABLE = """
CREATE TABLE IF NOT EXISTS operator_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, target TEXT,
    unix_s REAL NOT NULL, applied_step INTEGER
)
"""


_GRID_EVENTS_TABLE = """
CREATE TABLE IF NOT EXISTS grid_events (
    id TEXT PRIMARY KEY, body TEXT NOT NULL, unix_s REAL NOT NULL, applied_step INTEGER
)
"""


@contextlib.contextmanager
def _guard(path: Path):
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if type(exc) not in (sqlite3.DatabaseError, sqlite3.OperationalError):
            raise  # constraints and programming errors are the code's own business
        raise failure(path, exc) from exc


class _GuardedCursor(sqlite3.Cursor):
    """A cursor whose database errors name the file
    (:func:`~greenhop.runtime.store_errors.failure`): a damaged page or a full disk found
    anywhere in the run is one line, not a traceback."""

    def execute(self, *args):
        with _guard(self.connection.db_path):
            return super().execute(*args)

    def executemany(self, *args):
        with _guard(self.connection.db_path):
            return super().executemany(*args)

    def fetchone(self):
        with _guard(self.connection.db_path):
            return super().fetchone()

    def fetchall(self):
        with _guard(self.connection.db_path):
            return super().fetchall()

    def fetchmany(self, *args):
        with _guard(self.connection.db_path):
            return super().fetchmany(*args)

    def __next__(self):
        with _guard(self.connection.db_path):
            return super().__next__()


class _GuardedConnection(sqlite3.Connection):
    """A connection whose cursors (``execute`` included) are :class:`_GuardedCursor`."""

    db_path: Path

    def cursor(self, factory=_GuardedCursor):
        return super().cursor(factory)

    # the C ``execute`` makes a plain cursor, whatever ``cursor`` says
    def execute(self, *args):
        return self.cursor().execute(*args)

    def executemany(self, *args):
        return self.cursor().executemany(*args)


def _identity(path: Path) -> tuple[int, int] | None:
    """``(device, inode)`` of the file at ``path``; None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), timeout=10.0, isolation_level=None,
                          factory=_GuardedConnection)
    con.db_path = path
    con.row_factory = sqlite3.Row
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        con.close()
        if is_busy(exc):
            raise busy(path) from None
        raise _not_a_run(path, exc) from None
    return con


def _not_a_run(path: Path, why) -> NotARunDatabase:
    """The error for a file at ``path`` that SQLite or the schema check refused (``why``):
    damaged, or another file (``greenhop run`` also takes a new path)."""
    if "malformed" in str(why):  # SQLite's word for a damaged file
        return NotARunDatabase(f"{path}: the run database is damaged ({why}); restore it "
                               "from a copy, or give greenhop run another --db")
    return NotARunDatabase(f"{path}: not a greenhop run database ({why}); pass the --db of "
                           "a run (greenhop run also takes a new path)")


def check_schema(con: sqlite3.Connection, path: Path) -> None:
    """Raise :class:`StoreError` unless ``con`` holds this code's schema: another file, an
    older or newer schema or missing tables are :class:`NotARunDatabase` (exit code 2), a
    lock held by another process :class:`DatabaseBusy`."""
    try:
        row = con.execute("SELECT version FROM schema_version").fetchone()
        tables = {r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    except sqlite3.DatabaseError as exc:
        # a guarded connection's error says what SQLite said in its cause
        cause = exc.__cause__ if isinstance(exc, StoreError) and exc.__cause__ else exc
        if is_busy(cause):
            raise busy(path) from None
        raise _not_a_run(path, cause) from None
    try:
        version = None if row is None else int(row[0])
    except (TypeError, ValueError):
        version = None
    if version is None:
        raise _not_a_run(path, "no schema version")
    if version > SCHEMA_VERSION:
        raise NotARunDatabase(
            f"{path}: run database schema version {version}, newer than this greenhop reads "
            f"(version {SCHEMA_VERSION}); use the greenhop that wrote it, or start a new run "
            "with another --db")
    if version < SCHEMA_VERSION:
        raise NotARunDatabase(
            f"{path}: run database schema version {version}, but this greenhop reads "
            f"version {SCHEMA_VERSION}; finish that run with the greenhop that started it, "
            "or start a new run with another --db")
    missing = [t for t in TABLES if t not in tables]
    if missing:
        raise _not_a_run(path, f"schema version {version} but no table {missing[0]}")


def read_only_uri(path: Path) -> str:
    """The SQLite URI opening ``path`` read-only; the path is percent-encoded, so a '#',
    '?' or '%' in a file name cannot end it early (and drop ``mode=ro``)."""
    return path.resolve().as_uri() + "?mode=ro"


def owner_alive(path: Path) -> bool:
    """True while a controller holds the owner lock of the database at ``path`` (asked of
    the kernel, so a controller that died, even by ``kill -9``, reads as dead at once)."""
    return is_held(path.with_name(path.name + ".lock"))


def run_status(recorded: str, alive: bool) -> str:
    """The status to show of a run recorded ``recorded`` whose controller is ``alive``
    (:func:`owner_alive`): a ``live`` run without one is ``dead``."""
    return "dead" if recorded == "live" and not alive else recorded


def _may_change(path: Path) -> bool:
    """Whether the database at ``path`` may change or holds changes outside its main file:
    a controller owns it, or a WAL or journal lies beside it (another process has it open,
    or a controller was killed before it checkpointed); then a reader takes SQLite's locks
    and reads the WAL."""
    return owner_alive(path) or any(os.path.exists(f"{path}{suffix}")
                                    for suffix in ("-wal", "-journal"))


def connect_read_only(path: Path, *, timeout_s: float | None = None,
                      check_same_thread: bool = True) -> sqlite3.Connection:
    """A read-only connection to ``path`` (rows as :class:`sqlite3.Row`, errors naming the
    file) that changes nothing on disk: ``mode=ro``, and ``immutable=1`` when nothing
    writes the file (:func:`_may_change`): a read-only reader of a WAL database would
    otherwise leave its ``-wal`` and ``-shm`` files behind."""
    uri = read_only_uri(path) + ("" if _may_change(path) else "&immutable=1")
    try:
        con = sqlite3.connect(uri, uri=True, isolation_level=None,
                              timeout=READ_TIMEOUT_S if timeout_s is None else timeout_s,
                              factory=_GuardedConnection, check_same_thread=check_same_thread)
    except sqlite3.Error as exc:  # a StoreError too: a file gone while served is a 503
        raise NotARunDatabase(f"{path}: cannot open the run database ({exc})") from None
    con.db_path = path
    con.row_factory = sqlite3.Row
    return con


def _check_read_only(path: Path) -> None:
    """:func:`check_schema` on a read-only connection (:func:`connect_read_only`)."""
    con = connect_read_only(path)
    try:
        check_schema(con, path)
    finally:
        con.close()


EVENT_KINDS = (
    "run-start", "run-resume", "run-done", "run-stopped", "run-failed", "recover",
    "power", "decision", "booked", "place", "migrate", "suspend", "resume", "scale",
    "phase", "done", "job-failed", "trainer-start", "trainer-failed", "transfer-failed",
    "restore-failed", "checkpoint-corrupt", "checkpoint-fallback", "foreign-checkpoint",
    "agent-restart", "operator-request", "operator", "grid-event-request", "grid-event",
)
"""Every kind of event a run's log holds (the event stream's ``event:`` names; the
dashboard listens for each). :meth:`Store.event` refuses another."""


def event_body(path: Path, seq, kind: str, text) -> dict[str, Any]:
    """The JSON object ``text`` of event ``seq`` (``kind``) of the database at ``path``; a
    body that is not one is a :class:`DamagedDatabase` naming the event."""
    try:
        body = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        why = getattr(exc, "msg", None) or type(exc).__name__
        raise DamagedDatabase(f"{path}: event {seq} ({kind}): the body is not JSON ({why}); "
                              "restore the database from a copy") from None
    if not isinstance(body, dict):
        raise DamagedDatabase(f"{path}: event {seq} ({kind}): the body is not a JSON object; "
                              "restore the database from a copy")
    return body



def check_pages(con: sqlite3.Connection, path: Path) -> None:
    """Raise :class:`DamagedDatabase` when SQLite finds a damaged page in the file (its
    ``quick_check``, which reads every page once: a status, a replay or a served view
    would otherwise show what the undamaged pages hold, or fail midway)."""
    try:
        bad = con.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise failure(path, exc) from None
    if bad != "ok":
        why = " ".join(str(bad).split())  # SQLite's report spans lines
        raise DamagedDatabase(f"{path}: the database file is damaged ({why}); restore it "
                              "from a copy, or start a new run with another --db (nothing "
                              "was changed)")

class Store:
    """One run database. ``Store.open(path)`` for readers; :meth:`acquire` for the owner."""

    def __init__(self, path: str | Path, con: sqlite3.Connection) -> None:
        self.path = Path(path)
        self.con = con
        self._lock_fd: int | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) the owner opened

    # ------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path, *, create: bool = False, read_only: bool = False) -> Store:
        """The run database at ``path`` (``create``: a new one where there is none). With
        ``read_only`` the file is only read (:func:`connect_read_only`): for commands that
        show a run."""
        p = Path(path)
        if p.is_dir():
            raise ConfigError(f"{p}: is a directory, not a run database; pass the database "
                              f"file, e.g. --db {p / 'run.db'}")
        if p.exists() and not os.access(p, os.R_OK):
            raise ConfigError(f"{p}: cannot read this run database (permission denied)")
        if not p.exists() and not create:
            raise ConfigError(f"{p}: no run database here; start a run with "
                              f"`greenhop run SCENARIO --db {p}`")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{p.parent}: cannot create the database's directory "
                              f"({exc.strerror}); pass a writable --db or --workdir") from None
        if create and not os.access(p.parent, os.W_OK):
            raise ConfigError(f"{p.parent}: not writable; pass a writable --db or --workdir")
        if read_only:
            con = connect_read_only(p)
            try:
                check_schema(con, p)
                check_pages(con, p)
            except BaseException:
                con.close()
                raise
            return cls(p, con)
        fresh = not p.exists() or p.stat().st_size == 0
        if not (fresh and create):
            _check_read_only(p)  # before WAL mode is set: another file is left as it was
        try:
            con = _connect(p)
        except sqlite3.Error as exc:
            raise ConfigError(f"{p}: cannot open the run database ({exc})") from None
        if fresh and create:
            with _tx(con):
                for stmt in _SCHEMA.strip().split(";\n"):
                    if stmt.strip():
                        con.execute(stmt)
                con.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
        try:
            check_schema(con, p)
        except StoreError:
            con.close()
            raise
        with contextlib.suppress(sqlite3.OperationalError):  # read-only: readers cope
            con.execute(_OPERATOR_TABLE)
            con.execute(_GRID_EVENTS_TABLE)
        return cls(p, con)

    def acquire(self) -> None:
        """Take the exclusive owner lock or raise :class:`RunLockedError`."""
        fd = try_lock(self.path.with_name(self.path.name + ".lock"))
        if fd is None:
            owner = self.run_row()
            pid = owner["owner_pid"] if owner else None
            who = f"controller pid {pid}" if pid else "its controller is starting"
            raise RunLockedError(
                f"{self.path}: a run is already live on this database ({who}); "
                "stop it with Ctrl-C (or wait for it to finish), or use another --db")
        self._lock_fd = fd
        self._identity = _identity(self.path)

    def check_still_here(self) -> None:
        """Raise :class:`DatabaseGone` when the file at :attr:`path` is no longer the one
        the owner opened (deleted, or replaced by another)."""
        if self._identity is not None and _identity(self.path) != self._identity:
            now = "deleted" if not self.path.exists() else "replaced by another file"
            raise DatabaseGone(f"{self.path}: the run database was {now} while the run was "
                               "live")

    def save_copy(self) -> Path:
        """Write this connection's database (the owner's, even if its file was unlinked)
        to a new file beside :attr:`path`, never over an existing one; returns its path."""
        dst = self.path.with_name(f"{self.path.name}.recovered-{int(time.time())}")
        n = 1
        while dst.exists():
            n += 1
            dst = dst.with_name(f"{self.path.name}.recovered-{int(time.time())}-{n}")
        self.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.con.execute("VACUUM INTO ?", (str(dst),))
        return dst

    def owner_alive(self) -> bool:
        """True while a controller holds this database's owner lock (asked of the kernel,
        so a controller that died, even by ``kill -9``, reads as dead at once)."""
        return self._lock_fd is not None or owner_alive(self.path)

    def close(self) -> None:
        self.con.close()
        if self._identity is not None and not self.path.exists():
            # the owner's file was deleted: its WAL and shared-memory files, left under
            # the old name, would be read as part of a new file put there
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{self.path}{suffix}")
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------ transactions
    def tx(self):
        """A write transaction (``BEGIN IMMEDIATE`` .. ``COMMIT``; rolled back on error)."""
        return _tx(self.con)

    def event(self, step: int, kind: str, body: dict[str, Any], job: str | None = None) -> None:
        """Append one event (call inside :meth:`tx`) of a kind in :data:`EVENT_KINDS`."""
        if kind not in EVENT_KINDS:  # a new kind goes into the list the stream's clients use
            raise ValueError(f"event kind {kind!r} is not in EVENT_KINDS")
        self.con.execute(
            "INSERT INTO events (step, unix_s, kind, job, body) VALUES (?, ?, ?, ?, ?)",
            (int(step), time.time(), kind, job, json.dumps(body, sort_keys=True)))

    # ------------------------------------------------------------ reads
    def run_row(self) -> sqlite3.Row | None:
        return self.con.execute("SELECT * FROM run WHERE id = 1").fetchone()

    def jobs(self) -> list[sqlite3.Row]:
        return known_phases(self.path,
                             self.con.execute("SELECT * FROM jobs ORDER BY idx").fetchall())

    def jobs_in_phase(self, phase: str) -> list[sqlite3.Row]:
        return self.con.execute("SELECT * FROM jobs WHERE phase = ? ORDER BY idx",
                                (phase,)).fetchall()

    def job(self, name: str) -> sqlite3.Row:
        row = self.con.execute("SELECT * FROM jobs WHERE name = ?", (name,)).fetchone()
        if row is None:
            names = [r["name"] for r in self.jobs()]
            raise ConfigError(f"unknown job {name!r} in {self.path}; jobs of this run: "
                              f"{', '.join(names) or 'none'}")
        return known_phases(self.path, [row])[0]

    def sites(self) -> list[sqlite3.Row]:
        return self.con.execute("SELECT * FROM sites ORDER BY idx").fetchall()

    def state(self) -> tuple[sqlite3.Row | None, list[sqlite3.Row], list[sqlite3.Row]]:
        """``(run row or None, sites, jobs)``, checked (:func:`check_state`): what
        ``greenhop status`` shows and what a resumed run starts from."""
        run, sites = self.run_row(), self.sites()
        jobs = self.con.execute("SELECT * FROM jobs ORDER BY idx").fetchall()
        check_state(self.path, run, sites, jobs)
        return run, sites, jobs

    def events(self, kinds: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
        q = "SELECT * FROM events ORDER BY seq"
        for r in self.con.execute(q):
            if kinds is None or r["kind"] in kinds:
                yield {"seq": r["seq"], "step": r["step"], "unix_s": r["unix_s"],
                       "kind": r["kind"], "job": r["job"],
                       "body": event_body(self.path, r["seq"], r["kind"], r["body"])}

    def record_checkpoint(self, job: str, site: str, step: int, manifest_sha256: str) -> None:
        """Remember the manifest digest of ``job``'s checkpoint ``step`` at ``site`` (call
        inside :meth:`tx`); only recorded checkpoints are ever moved or trusted."""
        self.con.execute(
            "INSERT OR REPLACE INTO checkpoints (job, site, step, manifest_sha256, unix_s) "
            "VALUES (?, ?, ?, ?, ?)", (job, site, int(step), manifest_sha256, time.time()))

    def known_manifests(self, job: str) -> set[str]:
        """Digests of every manifest of ``job`` the controller recorded (any site)."""
        return {r[0] for r in self.con.execute(
            "SELECT manifest_sha256 FROM checkpoints WHERE job = ?", (job,))}

    # ------------------------------------------------------------ operator actions
    def request_operator(self, kind: str, target: str | None,
                         note: str | None = None) -> dict[str, Any]:
        """Record an operator's request (pending until the controller applies it) and its
        ``operator-request`` event (with the operator's ``note``, when given), in one
        transaction; returns the row as a dict."""
        now = time.time()
        data: dict[str, Any] = {"action": kind, "target": target}
        if note is not None:
            data["note"] = note
        with self.tx():
            row = self.run_row()
            step = int(row["step"]) if row is not None else 0
            cur = self.con.execute(
                "INSERT INTO operator_actions (kind, target, unix_s) VALUES (?, ?, ?)",
                (kind, target, now))
            oid = int(cur.lastrowid)
            self.event(step, "operator-request", {"id": oid, **data},
                       job=target if kind in ("pin", "unpin") else None)
        out = {"id": oid, "kind": kind, "target": target, "unix_s": now, "applied_step": None}
        return out if note is None else {**out, "note": note}

    def operator_actions(self, *, pending: bool = False) -> list[sqlite3.Row]:
        """Every operator action in order (only those not yet applied with ``pending``)."""
        q = "SELECT * FROM operator_actions"
        if pending:
            q += " WHERE applied_step IS NULL"
        try:
            return self.con.execute(q + " ORDER BY id").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            return []  # a reader of an older database: no operator action was ever asked

    # ------------------------------------------------------------ grid events
    def request_grid_event(self, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """File a demand-response event (pending until the controller takes it up) with its
        ``grid-event-request`` event, in one transaction; returns the row as a dict.

        Raises:
            DuplicateEventId: an event with this id was already filed.
        """
        now = time.time()
        with self.tx():
            if self.con.execute("SELECT 1 FROM grid_events WHERE id = ?",
                                (event_id,)).fetchone():
                raise DuplicateEventId(f"event {event_id!r}: this run already has an event "
                                       "with this id; give another id")
            row = self.run_row()
            step = int(row["step"]) if row is not None else 0
            self.con.execute("INSERT INTO grid_events (id, body, unix_s) VALUES (?, ?, ?)",
                             (event_id, json.dumps(body), now))
            self.event(step, "grid-event-request", {"id": event_id, **body})
        return {"id": event_id, "body": body, "unix_s": now, "applied_step": None}

    def grid_events(self, *, pending: bool | None = None) -> list[dict[str, Any]]:
        """The filed events in order (``pending``: only those not yet taken up; ``False``:
        only those taken up), each with its body parsed."""
        q = "SELECT * FROM grid_events"
        if pending is not None:
            q += " WHERE applied_step IS NULL" if pending else " WHERE applied_step IS NOT NULL"
        try:
            rows = self.con.execute(q + " ORDER BY unix_s, id").fetchall()
        except sqlite3.OperationalError:  # a read-only copy of an older database
            return []
        return [{**dict(r), "body": json.loads(r["body"])} for r in rows]

    def update_job(self, name: str, **fields: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.con.execute(f"UPDATE jobs SET {cols} WHERE name = ?", (*fields.values(), name))


@contextlib.contextmanager
def _tx(con: sqlite3.Connection):
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        con.execute("COMMIT")
