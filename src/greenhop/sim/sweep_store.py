"""A sweep's output directory: the manifest, one file per finished cell, the final files.

Layout::

    DIR/manifest.json        the sweep's definition (refuses a different one)
    DIR/cells/<key>.json     one finished cell each (written atomically)
    DIR/meta/<key>.json      where and when each cell ran (node id, pid, wall time)
    DIR/cells.parquet, cells.csv, summary.json, report.html   once every cell is in

Every file is written to a temporary name in the same folder and renamed, so a killed
sweep leaves whole cells or none, and the final files only exist when complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from greenhop.core.errors import ConfigError
from greenhop.core.filelock import try_lock
from greenhop.core.units import finite_float

SUMMARY = "summary.json"
"""What a finished sweep writes: statistics per grid point and policy."""
REPORT = "report.html"
"""The self-contained HTML report, of a simulation and of a sweep alike."""
FINAL_FILES = ("cells.parquet", "cells.csv", SUMMARY, REPORT)
MANIFEST = "manifest.json"
"""What a sweep writes first (an unfinished sweep has it without the summary)."""
SIMULATION_METRICS = "metrics.json"
"""What ``greenhop simulate`` writes beside its report.html (a sweep never does)."""
LOCK = ".lock"
"""Held (``flock``) by the sweep writing in the directory; the kernel frees it when that
process ends, even by ``kill -9``."""
SET_ASIDE = ".discarded"
"""Where ``--force`` moves the sweep it replaces, until the new one finishes."""


_WHAT = {"scenario_sha256": "scenario_sha256: the scenario's text, its --set values or the "
                            "contents of a policy file it loads"}
"""How a difference in a manifest's key is named to the user."""


def holds_a_sweep(out: Path) -> bool:
    """Whether directory ``out`` holds a sweep (its manifest): what ``greenhop simulate``
    must not write its report.html over."""
    return (Path(out) / MANIFEST).exists()


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (all or nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        # a full disk: leave no half-written file behind (a folder that refused the file
        # refuses its removal too, and there is nothing there)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def _is_number(v) -> bool:
    """``null`` or a finite number a float holds: greenhop writes cells with
    ``allow_nan=False``, so NaN, Infinity or an integer of 400 digits is not its own."""
    if v is None:
        return True
    return (isinstance(v, int | float) and not isinstance(v, bool)
            and finite_float(v) is not None)


ALWAYS_NUMBERS = (
    "job_nr_kwh", "job_energy_kwh", "curtailment_absorbed_kwh", "non_renewable_kwh",
    "renewable_kwh", "curtailed_kwh", "queue_h", "deadline_misses", "migrations",
    "window_closed_before_payback", "infeasible_migrations", "gb_moved", "network_kwh",
)
"""The metrics every simulated run writes as a finite number (never ``null``): a cell with
one of them ``null`` or missing is not greenhop's. The comparisons filled in over a seed's
cells (:func:`greenhop.sim.metrics.compare`: saved against ``static``, the gaps closed,
the oracle gap) compute with ``job_nr_kwh``, ``non_renewable_kwh``,
``infeasible_migrations`` and ``window_closed_before_payback``; a ``null`` there stopped the
sweep with a traceback on every resume, or (``static``'s) left its cell's stale
``saved_vs_static_pct``."""


def _is_finite_number(v) -> bool:
    """A finite number, not ``null`` (:func:`_is_number`)."""
    return v is not None and _is_number(v)


MAX_CELL_BYTES = 64 * 2**20
"""Largest cell file read [B]: a cell is kilobytes; more is not one greenhop wrote."""


def _cell_ok(path: Path, policy: str | tuple[str, ...]) -> bool:
    """Whether ``path`` holds a cell as greenhop writes it, run on the seed its key names.

    ``policy`` a name: a JSON object with that policy's metrics, every one of
    :data:`~greenhop.sim.metrics.METRIC_KEYS` there as a number or ``null`` (those of
    :data:`ALWAYS_NUMBERS` as a number), and the scenario's seed. ``policy`` a tuple of
    bound kinds: a bounds cell, one :meth:`~greenhop.sim.bounds.BoundResult.to_dict` and
    its ``seed`` for each of those kinds and no other. A cell short of a metric or a kind
    would count one seed fewer in its statistics, without a word; one with a number as
    text would stop the statistics; one copied from another seed would count that seed
    twice."""
    from greenhop.sim.metrics import METRIC_KEYS

    key_seed = _KEY_SEED.search(path.name)
    try:
        # a FIFO would block the read, /dev/zero never end it: only a plain file of a
        # cell's size is read
        if not path.is_file() or path.stat().st_size > MAX_CELL_BYTES:
            return False
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    if not isinstance(doc, dict) or key_seed is None:
        return False
    seed = int(key_seed.group(1))
    if isinstance(policy, tuple):
        return set(doc) == set(policy) and all(
            isinstance(b, dict) and _same_int(b.get("seed"), seed)
            and all(k in b and _is_number(b[k]) for k in BOUND_NUMBERS)
            and _is_number(b.get("job_nr_kwh", "")) and isinstance(b.get("status"), str)
            for b in doc.values())
    pols = doc.get("policies")
    m = pols.get(policy) if isinstance(pols, dict) else None
    scenario = doc.get("scenario")
    return (isinstance(m, dict) and all(k in m and _is_number(m[k]) for k in METRIC_KEYS)
            and all(_is_finite_number(m.get(k)) for k in ALWAYS_NUMBERS)
            and isinstance(scenario, dict) and _same_int(scenario.get("seed"), seed))


def _same_int(v, n: int) -> bool:
    """``v`` is the integer ``n`` (not ``true`` for 1, nor ``1.0``)."""
    return isinstance(v, int) and not isinstance(v, bool) and v == n


BOUND_NUMBERS = ("work_gpu_h", "static_job_nr_kwh")
"""The numbers every solved or unsolved bound of a bounds cell holds (``job_nr_kwh`` is
``null`` where the LP did not solve)."""
_KEY_SEED = re.compile(r"^p[0-9]+-s([0-9]+)-")


class SweepStore:
    """The output directory ``out`` of one sweep."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.cells_dir = self.out / "cells"
        self.meta_dir = self.out / "meta"
        self._lock_fd: int | None = None

    def lock(self) -> None:
        """Hold the directory for this process (:data:`LOCK`), or refuse: two sweeps writing
        one directory would mix their cells (one's ``--force`` deleting the other's). A
        directory not made yet is held once :meth:`claim` makes it (nothing is written
        before a sweep can run)."""
        if self._lock_fd is not None or not self.out.is_dir():
            return
        try:
            fd = try_lock(self.out / LOCK)
        except OSError as exc:  # a folder or an unwritable file in its place
            raise ConfigError(f"{self.out / LOCK}: cannot take the sweep's lock here "
                              f"({exc.strerror or exc}); remove it, or pick another "
                              "--out") from None
        if fd is None:
            raise ConfigError(f"{self.out}: another sweep is writing here; wait for it to "
                              "finish, or pick another --out")
        self._lock_fd = fd

    def unlock(self) -> None:
        """Let the directory go (:meth:`lock`)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def replaces(self, definition: dict, *, force: bool) -> bool:
        """Whether this sweep replaces the one in the directory: ``--force`` given and the
        sweep there (if any) is another one. The same sweep forced again (a forced sweep
        killed and re-run as it was) resumes: its cells are what this command computes."""
        return force and self._definition_or_none() != definition

    # ------------------------------------------------------------ manifest

    def existing_definition(self) -> dict | None:
        """The definition recorded in the directory, or ``None`` when there is none."""
        p = self.out / MANIFEST
        if not p.is_file():
            return None
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))["definition"]
        except (ValueError, KeyError, TypeError, RecursionError):
            doc = None
        if not isinstance(doc, dict):
            raise ConfigError(f"{p}: not a sweep manifest; pick another --out or pass --force "
                              "to start this sweep afresh there") from None
        return doc

    def _definition_or_none(self) -> dict | None:
        """:meth:`existing_definition`, ``None`` for a manifest that is not one."""
        try:
            return self.existing_definition()
        except ConfigError:
            return None

    def check(self, definition: dict, *, force: bool) -> None:
        """Refuse a directory that holds another sweep (unless ``force``); writes nothing."""
        if self.out.exists() and not self.out.is_dir():  # the CLI says so first; the API here
            raise ConfigError(f"{self.out}: is not a folder; the sweep's output must be one "
                              "(give another --out)")
        for d in (self.cells_dir, self.meta_dir):
            if d.exists() and not d.is_dir():
                raise ConfigError(f"{d}: is a file where the sweep keeps its {d.name}; move "
                                  "it away or pick another --out")
        manifest = self.out / MANIFEST
        if manifest.exists() and not manifest.is_file():
            raise ConfigError(f"{manifest}: is not a file where the sweep keeps its manifest; "
                              "move it away or pick another --out")
        if not manifest.exists():
            # --force sets aside sweeps only: files here without a manifest are not a
            # sweep's, and a sweep starting here would replace them
            if (self.out / SIMULATION_METRICS).is_file():
                raise ConfigError(f"{self.out}: holds the results of greenhop simulate "
                                  f"({SIMULATION_METRICS}); pick another --out or move them "
                                  "away")
            theirs = [name for name in FINAL_FILES if (self.out / name).exists()]
            if theirs:
                raise ConfigError(f"{self.out}: holds {', '.join(theirs)} but no sweep "
                                  f"manifest ({MANIFEST}), so not a sweep's; a sweep there "
                                  "would replace them: pick another --out or move them away")
        if force:
            return
        old = self.existing_definition()
        if old is None:
            if self.cells_dir.is_dir() and any(self.cells_dir.glob("*.json")):
                raise ConfigError(f"{self.out}: holds cells but no manifest; pick another --out "
                                  "or pass --force to start afresh")
            return
        if old != definition:
            diff = [_WHAT.get(k, k) for k in sorted(set(old) | set(definition))
                    if old.get(k) != definition.get(k)]
            raise ConfigError(
                f"{self.out}: holds a different sweep (it differs in {', '.join(diff)}); "
                "re-run with the same definition to resume, pick another --out, or pass "
                "--force to discard its cells and start afresh" + self._set_aside_note(definition))

    def _set_aside_note(self, definition: dict) -> str:
        """When the sweep an unfinished ``--force`` set aside (:data:`SET_ASIDE`) is the one
        asked for, where it is: its cells need not be computed again."""
        manifest = self.out / SET_ASIDE / MANIFEST
        try:
            doc = json.loads(manifest.read_text(encoding="utf-8"))["definition"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return ""
        if doc != definition:
            return ""
        return (f"; the sweep asked for is in {self.out / SET_ASIDE}, set aside by a --force "
                "that did not finish: move its files back over these to resume it")

    def claim(self, definition: dict, *, force: bool) -> None:
        """Record ``definition`` (with ``force``: first set the sweep there aside, see
        :meth:`set_aside_for_force`)."""
        self.check(definition, force=force)
        self.out.mkdir(parents=True, exist_ok=True)
        self.lock()
        if self.replaces(definition, force=force):
            self.set_aside_for_force()
        self.discard_final()
        for d in (self.cells_dir, self.meta_dir, self.out):
            for p in d.glob(".*.tmp-*") if d.is_dir() else ():
                if p.is_file():  # a write a killed sweep left half done (a folder: kept)
                    p.unlink()
        doc = {"greenhop_sweep": 1, "definition": definition}
        atomic_write(self.out / MANIFEST,
                     json.dumps(doc, sort_keys=True, indent=2, allow_nan=False) + "\n")

    def set_aside_for_force(self) -> None:
        """Move the sweep in the directory (manifest, cells, meta, final files) to
        :data:`SET_ASIDE`, where it stays until a sweep finishes here
        (:meth:`drop_set_aside`): a forced sweep that fails loses nothing. When a forced
        sweep that never finished is forced again, :data:`SET_ASIDE` already holds the
        sweep before it, and that unfinished sweep's cells are deleted instead."""
        keep = self.out / SET_ASIDE
        # the manifest last: a set-aside cut short leaves no final file without it
        names = (*FINAL_FILES, self.cells_dir.name, self.meta_dir.name, MANIFEST)
        if keep.exists():
            for d in (self.cells_dir, self.meta_dir):
                for p in d.glob("*.json") if d.is_dir() else ():
                    p.unlink()
            return
        tmp = self.out / f"{SET_ASIDE}.tmp-{os.getpid()}"
        tmp.mkdir()
        for name in names:
            if (self.out / name).exists():
                os.replace(self.out / name, tmp / name)
        os.replace(tmp, keep)  # whole or not at all

    def drop_set_aside(self) -> None:
        """Delete what ``--force`` set aside: the sweep that replaced it has finished."""
        keep = self.out / SET_ASIDE
        if keep.is_dir():
            shutil.rmtree(keep)

    def discard_final(self) -> None:
        """Remove the final files: they claim completeness, which a running sweep lacks."""
        for name in FINAL_FILES:
            (self.out / name).unlink(missing_ok=True)

    # ------------------------------------------------------------ cells

    def done_keys(self) -> set[str]:
        """Keys of the cells already stored."""
        if not self.cells_dir.is_dir():
            return set()
        return {p.stem for p in self.cells_dir.glob("*.json")}

    def set_aside_unreadable(self, keys, policy_of,
                             on_set_aside: Callable[[Path], None] | None = None
                             ) -> list[Path]:
        """Move each stored cell of ``keys`` that is not a cell greenhop wrote (not JSON,
        without its policy's metrics, or from another seed; ``policy_of(key)`` names the
        policy, or for a bounds cell gives the tuple of its bound kinds) to
        ``<key>.json.unreadable``, so that it runs again; returns the new paths (nothing
        is deleted). ``on_set_aside(path)`` is told of each one as it is moved."""
        moved = []
        for key in sorted(keys):
            p = self.cells_dir / f"{key}.json"
            if _cell_ok(p, policy_of(key)):
                continue
            dest = p.with_name(p.name + ".unreadable")
            n = 1
            while dest.exists():  # a cell damaged again: keep every copy
                n += 1
                dest = p.with_name(f"{p.name}.unreadable.{n}")
            os.replace(p, dest)
            moved.append(dest)
            if on_set_aside is not None:
                on_set_aside(dest)
        return moved

    def write_cell(self, key: str, text: str, meta: dict | None = None) -> None:
        """Store one finished cell (and its sidecar ``meta``)."""
        if meta is not None:
            atomic_write(self.meta_dir / f"{key}.json",
                         json.dumps(meta, sort_keys=True, indent=2) + "\n")
        atomic_write(self.cells_dir / f"{key}.json", text)

    def read_cell(self, key: str) -> str:
        return (self.cells_dir / f"{key}.json").read_text(encoding="utf-8")

    def read_meta(self, key: str) -> dict | None:
        p = self.meta_dir / f"{key}.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None

    def path(self, name: str) -> Path:
        return self.out / name
