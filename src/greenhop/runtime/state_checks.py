"""The checks of a run's stored state: a value its controller cannot have written (a damaged
or hand-edited file) is a :class:`~greenhop.runtime.store_errors.DamagedDatabase` naming
the table, the row and the column (:func:`check_state`, :func:`known_phases`)."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

from greenhop.core.errors import shown
from greenhop.runtime.store_errors import DamagedDatabase


def known_phases(path: Path, rows: list[sqlite3.Row]) -> list[sqlite3.Row]:
    """``rows`` of the jobs table, each with a phase of :data:`~greenhop.runtime.states.
    PHASES`; another phase (a damaged or hand-edited file) is a :class:`DamagedDatabase`
    naming the job: no code path handles it, so the job would be stranded silently."""
    from greenhop.runtime.states import PHASES

    for r in rows:
        if r["phase"] not in PHASES:
            raise DamagedDatabase(
                f"{path}: job {r['name']!r} has an unknown phase {r['phase']!r} (one of "
                f"{', '.join(PHASES)} expected); restore the database from a copy "
                "(nothing was changed)")
    return rows


RUN_STATUSES = ("live", "stopped", "done", "failed")
"""The statuses a controller records in ``run.status``."""
_NO_SITE_PHASES = ("pending", "queued")
"""Job phases before a job is placed: the only ones without a site."""

# (column, kind, may be NULL) of each table, as the controller writes them; kinds:
# "text", "int" (>= 0), "step" (>= -1), "pos" (a number > 0), "num" (a finite number)
_RUN_COLUMNS = (
    ("scenario", "text", False), ("scenario_sha256", "text", False),
    ("policy", "text", False), ("time_scale", "pos", False), ("status", "text", False),
    ("owner_pid", "int", True), ("step", "int", False), ("decided_step", "step", False),
    ("n_steps", "int", False), ("started_unix_s", "num", False),
    ("updated_unix_s", "num", False), ("ledger", "text", True), ("run_id", "text", True),
    ("error", "text", True), ("heartbeat_unix_s", "num", True))
_SITE_COLUMNS = (
    ("idx", "int", False), ("name", "text", False), ("agent_url", "text", True),
    ("agent_pid", "int", True), ("renewable_w", "num", True), ("surplus_w", "num", True),
    ("agent_started_unix_s", "num", True), ("agent_restarts", "int", False))
_JOB_COLUMNS = (
    ("name", "text", False), ("phase", "text", False), ("site", "int", True),
    ("dest", "int", True), ("token", "int", False), ("trainer_pid", "int", True),
    ("trainer_start", "text", True), ("trainer_token", "int", True),
    ("real_step", "int", False), ("total_steps", "int", False), ("move_kind", "text", True),
    ("move_started_unix_s", "num", True), ("save_s", "num", True),
    ("transfer_s", "num", True), ("restore_s", "num", True), ("move_bytes", "num", True),
    ("attempts", "int", False), ("expect_step", "int", True),
    ("retry_at_unix_s", "num", True), ("error", "text", True),
    ("failed_from", "text", True))
_KINDS = {"text": "text", "int": "a whole number >= 0", "step": "a whole number >= -1",
          "pos": "a number > 0", "num": "a finite number"}


def _fits(kind: str, v) -> bool:
    """Whether the value ``v`` read from SQLite is of ``kind`` (see :data:`_KINDS`)."""
    if kind == "text":
        return isinstance(v, str)
    if kind in ("int", "step"):
        return isinstance(v, int) and v >= (0 if kind == "int" else -1)
    return (isinstance(v, int | float) and math.isfinite(v)
            and (kind == "num" or v > 0))


def _bad_value(path: Path, table: str, row: str, column: str, what: str) -> DamagedDatabase:
    """The error for a stored value the controller cannot have written."""
    return DamagedDatabase(f"{path}: table {table}, row {row}, column {column}: {what}; "
                           "restore the database from a copy (nothing was changed)")


def _check_columns(path: Path, table: str, row: str, r: sqlite3.Row, columns) -> None:
    for column, kind, nullable in columns:
        v = r[column]
        if v is None and nullable:
            continue
        if not _fits(kind, v):
            raise _bad_value(path, table, row, column,
                             f"{shown(v)} is not {_KINDS[kind]}"
                             + (" or NULL" if nullable else ""))


def check_state(path: Path, run: sqlite3.Row | None, sites: list[sqlite3.Row],
                jobs: list[sqlite3.Row]) -> None:
    """Refuse a run's stored state that its controller cannot have written (a damaged or
    hand-edited file): a :class:`DamagedDatabase` (exit code 2) naming the table, the row
    and the column. Checked are each value's type and range, the run's status, every job's
    phase (:func:`known_phases`) and its site and destination (an index of ``sites``; a
    placed job has a site). ``greenhop status`` and a resumed run read the file through it,
    so what they show or act on is what a controller wrote."""
    if run is not None:
        _check_columns(path, "run", "1", run, _RUN_COLUMNS)
        if run["status"] not in RUN_STATUSES:
            raise _bad_value(path, "run", "1", "status",
                             f"{shown(run['status'])} is not a run status (one of "
                             f"{', '.join(RUN_STATUSES)} expected)")
        if run["step"] > run["n_steps"]:
            raise _bad_value(path, "run", "1", "step", f"{run['step']} is past the run's "
                             f"{run['n_steps']} steps (column n_steps)")
    for i, r in enumerate(sites):
        _check_columns(path, "sites", f"idx {r['idx']!r}", r, _SITE_COLUMNS)
        if r["idx"] != i:  # jobs name their site by its place in this table
            raise _bad_value(path, "sites", f"idx {r['idx']}", "idx",
                             f"{r['idx']} where {i} is expected (the sites are numbered "
                             "0, 1, ... in order)")
    for r in jobs:
        row = f"name {r['name']!r}"
        _check_columns(path, "jobs", row, r, _JOB_COLUMNS)
        known_phases(path, [r])
        for column in ("site", "dest"):
            if r[column] is not None and r[column] >= len(sites):
                raise _bad_value(path, "jobs", row, column,
                                 f"{r[column]} is not a site of this run (0..{len(sites) - 1}"
                                 f" expected: {', '.join(s['name'] for s in sites)})")
        if r["site"] is None and r["phase"] not in _NO_SITE_PHASES:
            raise _bad_value(path, "jobs", row, "site",
                             f"NULL, but a job in phase {r['phase']!r} has a site")
