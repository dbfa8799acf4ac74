"""Read a run database for the service: JSON-ready views in SI units, with names.

:class:`RunReader` opens the run's SQLite file **read-only** for each call (WAL: readers
never block the controller's writes, and the controller never waits for a reader; a run no
controller writes is opened immutable, so nothing is left beside its file). The
scenario the run was started with is loaded once, lazily, for what the database does not
hold (base load, window threshold, checkpoint sizes, links); when the file is gone, or
changed since the run started (its SHA-256 is recorded), the views still work, without the
parts that need it (feasibility, forecast windows), and ``/api/v1/run`` says why.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.runtime.states import AT_SITE
from greenhop.runtime.store import event_body, owner_alive, run_status
from greenhop.runtime.store_errors import DamagedDatabase, StoreError

MOVING = ("saving", "transferring", "restoring")
"""Job phases of a migration in flight."""

SCENARIO_RETRY_S = 10.0
"""How long after failing to have the run's scenario (gone, changed, unreadable) the service
tries again, on the next read that needs it [s]: the file may be put back."""



def reads_bodies(view):
    """``view`` (a method reading the run's recorded event bodies), with a body of an
    unexpected shape (a key missing, a string where numbers belong) answered as a damaged
    database (the service's 503, naming the view) rather than an internal error (500):
    nothing but the database feeds these views."""
    @functools.wraps(view)
    def reading(self, *args, **kwargs):
        try:
            return view(self, *args, **kwargs)
        except (KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
            if isinstance(exc, ConfigError):  # already says what and where
                raise
            raise DamagedDatabase(
                f"{self.path}: a recorded event has an unexpected shape for the "
                f"{view.__name__} view ({type(exc).__name__}: {str(exc)[:120]}); restore "
                "the database from a copy") from exc
    return reading


def _finite(obj):
    """``obj`` with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def json_text(data) -> str:
    """Strict, compact JSON of ``data`` (non-finite numbers become null): the one encoder of
    the service's answers, the event stream's ``data:`` lines included."""
    try:
        return json.dumps(data, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_finite(data), allow_nan=False, separators=(",", ":"))


def json_bytes(data) -> bytes:
    """:func:`json_text` of ``data`` as UTF-8."""
    return json_text(data).encode()


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def build_scenario_inputs(path: str):
    """``(scenario, fleet inputs)`` of the scenario file a run was started with (its
    live-only keys dropped, as ``greenhop run`` reads it)."""
    from greenhop.sim.inputs import build_inputs
    from greenhop.sim.scenario import parse_scenario, scenario_document

    data, label, base = scenario_document(Path(path))
    sc = parse_scenario(data, label, base)  # it leaves the live-only keys out
    return sc, build_inputs(sc)


def filed_grid_events(con: sqlite3.Connection, path: Path) -> list[dict]:
    """:meth:`RunReader.grid_events` read through ``con``, a connection to the run database
    at ``path`` (``greenhop status`` reads them with its own)."""
    try:
        rows = con.execute("SELECT * FROM grid_events ORDER BY unix_s, id").fetchall()
    except sqlite3.OperationalError:  # a database from before grid events
        return []
    fates = {}
    for seq, body in con.execute("SELECT seq, body FROM events WHERE kind = 'grid-event' "
                                 "ORDER BY seq"):
        taken = event_body(path, seq, "grid-event", body)
        fates[taken["id"]] = taken.get("error")
    out = []
    for r in rows:
        error = fates.get(r["id"])
        state = "pending" if r["applied_step"] is None else "ignored" if error else "taken up"
        out.append({"id": r["id"], "event": _json(r["body"]), "filed_unix_s": r["unix_s"],
                    "taken_up_step": r["applied_step"], "state": state, "error": error})
    return out


class RunReader:
    """Views of one run database (see the service's API contract in docs/service.md).

    Args:
        db_path: the run database (``run.db``) of a live or finished run.
    """

    def __init__(self, db_path: str | Path) -> None:
        p = Path(db_path)
        if p.is_dir():
            raise ConfigError(f"--db {p}: is a directory; pass the run database, e.g. "
                              f"--db {p / 'run.db'}")
        if not p.is_file():
            raise ConfigError(f"--db {p}: no run database here; start a run with "
                              f"`greenhop run SCENARIO --db {p}`")
        self.path = p
        self._inputs: Any = None
        self._loading: threading.Thread | None = None
        self._problem: str | None = None  # why the scenario could not be had
        self._retry_at = 0.0  # when to try that again [s, time.monotonic()]
        self._lock = threading.Lock()

        from greenhop.runtime.store import check_pages

        try:
            with self.connect() as con:  # checks the schema version
                check_pages(con, p)
        except ConfigError as exc:  # not a run database, an older or newer schema, damaged
            raise ConfigError(f"--db {exc}") from None
        except StoreError:  # busy: exit 1, as for `greenhop status`
            raise
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"--db {p}: not a greenhop run database ({exc})") from None

    # ------------------------------------------------------------ plumbing
    @contextlib.contextmanager
    def connect(self, *, checked: bool = False):
        """A read-only connection (closed on exit) to a database of this greenhop's schema;
        a file replaced while served by one of another version raises
        :class:`~greenhop.runtime.store_errors.StoreError` (the service answers 503) rather than
        being misread. ``checked``: the run, site and job rows pass the check ``greenhop
        status`` makes (:func:`~greenhop.runtime.state_checks.check_state`; a damaged or
        hand-edited value is a 503 naming its table, row and column)."""
        from greenhop.runtime.state_checks import check_state
        from greenhop.runtime.store import check_schema, connect_read_only

        con = connect_read_only(self.path, timeout_s=5.0, check_same_thread=False)
        try:
            check_schema(con, self.path)  # one indexed row: cheap beside any view
            if checked:
                check_state(self.path, con.execute("SELECT * FROM run WHERE id = 1").fetchone(),
                            con.execute("SELECT * FROM sites ORDER BY idx").fetchall(),
                            con.execute("SELECT * FROM jobs ORDER BY idx").fetchall())
            yield con
        finally:
            con.close()

    def _run_row(self, con) -> dict | None:
        row = con.execute("SELECT * FROM run WHERE id = 1").fetchone()
        return None if row is None else dict(row)

    def scenario_inputs(self, wait: bool = False):
        """The run's scenario and fleet inputs ``(scenario, inputs)``, or None.

        They are built once, in a background thread started on the first call (seconds of
        work): until then the views leave out what needs them, unless ``wait``. When the
        file cannot be had (gone, changed since the run started, unreadable),
        :meth:`scenario_problem` says why, and a call :data:`SCENARIO_RETRY_S` later tries
        again (the file may be put back)."""
        with self._lock:
            if self._inputs is None and (self._loading is None or (
                    not self._loading.is_alive() and time.monotonic() >= self._retry_at)):
                self._loading = threading.Thread(target=self._load, daemon=True,
                                                 name="greenhop-scenario")
                self._loading.start()
            loading = self._loading
        if wait:
            loading.join(timeout=300.0)
        return self._inputs

    def scenario_problem(self) -> str | None:
        """Why the run's scenario could not be had (it names the file; kept while it is tried
        again), or None: loaded, being read for the first time, or the run not started."""
        return None if self._inputs is not None else self._problem

    def _load(self) -> None:
        from greenhop.service.grid_events import ScenarioGone, scenario_file

        try:
            with self.connect() as con:
                row = self._run_row(con)
        except Exception:  # the database is unreadable now: its views say so (503)
            return  # tried again on a later call
        if row is None:  # not started yet: tried again on a later call
            return
        try:
            # the file the run started with only: an edited one would shift the run's clock
            # or change its fleet (and its site order) under the database's records
            path = scenario_file(row, "the views leave out what needs it")
            # In a fresh interpreter: seconds of numpy and trace parsing there do not hold
            # this server's interpreter lock (the answers to every client would stall).
            import concurrent.futures
            import multiprocessing
            import signal

            from greenhop.runtime.executor import die_with_parent

            ctx = multiprocessing.get_context("spawn")
            # the worker dies with this server: a server killed mid-read (its controller
            # killed, say) left it waiting for work forever
            with concurrent.futures.ProcessPoolExecutor(
                    1, mp_context=ctx, initializer=die_with_parent,
                    initargs=(signal.SIGKILL, os.getpid())) as pool:
                self._inputs = pool.submit(build_scenario_inputs, str(path)).result()
            return
        except ScenarioGone as exc:
            problem = str(exc)
        except Exception as exc:  # the views degrade without the scenario
            why = " ".join(str(exc).split()) or type(exc).__name__
            problem = (f"the run's scenario {row['scenario']} no longer reads ({why}); the "
                       "views leave out what needs it")
        self._problem = problem
        self._retry_at = time.monotonic() + SCENARIO_RETRY_S

    def _body(self, row, kind: str) -> dict:
        """The parsed body of an event row ``(step, body, seq)`` of ``kind``; one that is
        not JSON raises :class:`~greenhop.runtime.store_errors.DamagedDatabase` naming it (503)."""
        return event_body(self.path, row[2], kind, row[1])

    def _names(self, con) -> tuple[list[str], list[str]]:
        sites = [r[0] for r in con.execute("SELECT name FROM sites ORDER BY idx")]
        jobs = [r[0] for r in con.execute("SELECT name FROM jobs ORDER BY idx")]
        return sites, jobs

    def _operator(self, con) -> dict:
        """Drained sites, pinned jobs, paused: the applied operator actions, in order."""
        out = {"drained": set(), "pinned": set(), "paused": False}
        try:
            rows = con.execute("SELECT kind, target FROM operator_actions WHERE applied_step "
                               "IS NOT NULL ORDER BY id").fetchall()
        except sqlite3.OperationalError:  # a database from before operator actions
            return out
        for kind, target in rows:
            if kind == "drain":
                out["drained"].add(target)
            elif kind == "undrain":
                out["drained"].discard(target)
            elif kind == "pin":
                out["pinned"].add(target)
            elif kind == "unpin":
                out["pinned"].discard(target)
            elif kind in ("pause", "resume"):
                out["paused"] = kind == "pause"
        return out

    # ------------------------------------------------------------ views
    def status(self) -> str | None:
        """The run's recorded status (``live | stopped | done | failed``), None before it."""
        with self.connect() as con:
            row = self._run_row(con)
        return None if row is None else row["status"]

    def names(self) -> tuple[list[str], list[str]]:
        """(site names, job names) of the run."""
        with self.connect() as con:
            return self._names(con)

    @reads_bodies
    def run(self) -> dict:
        """scenario, policy, status (a ``live`` run whose controller is gone: ``dead``, as
        ``greenhop status`` says), step, n_steps, step_s, start_unix_s (the scenario's
        start), started_unix_s (when the run was started, wall clock), paused, sites,
        jobs, error, time_scale, scenario_error (why the scenario file is not used, or
        None). Without the scenario file, ``step_s`` is the booked steps' and
        ``start_unix_s`` None."""
        with self.connect(checked=True) as con:
            row = self._run_row(con)
            sites, jobs = self._names(con)
            op = self._operator(con)
            booked = con.execute("SELECT seq, body FROM events WHERE kind = 'booked' "
                                 "ORDER BY seq DESC LIMIT 1").fetchone()
        si = self.scenario_inputs()
        if row is None:
            return {"scenario": None, "policy": None, "status": "starting", "step": 0,
                    "n_steps": None, "step_s": None, "start_unix_s": None,
                    "started_unix_s": None, "paused": False, "sites": sites, "jobs": jobs,
                    "error": None, "time_scale": None, "scenario_error": None}
        step_s = _step_s(si, None if booked is None else
                         event_body(self.path, booked[0], "booked", booked[1]))
        return {"scenario": row["scenario"], "policy": row["policy"],
                "status": run_status(row["status"], owner_alive(self.path)),
                "step": row["step"], "n_steps": row["n_steps"], "step_s": step_s,
                "start_unix_s": None if si is None else float(si[0].start.timestamp()),
                "started_unix_s": row["started_unix_s"],
                "paused": op["paused"], "sites": sites, "jobs": jobs,
                "error": row["error"], "time_scale": row["time_scale"],
                "scenario_error": self.scenario_problem()}

    @reads_bodies
    def sites(self) -> list[dict]:
        """Per site: renewable and surplus power now [W], in a window, drained, the
        forecast window quantiles [s] (or None) and the jobs running there."""
        with self.connect(checked=True) as con:
            rows = [dict(r) for r in con.execute("SELECT * FROM sites ORDER BY idx")]
            jobs = [dict(r) for r in con.execute("SELECT name, phase, site FROM jobs")]
            op = self._operator(con)
            fc = self._latest_forecast(con)
        si = self.scenario_inputs()
        thr = 0.0 if si is None else float(si[1].params.window_threshold_w)
        out = []
        for r in rows:
            sur = r["surplus_w"]
            out.append({
                "name": r["name"], "renewable_w": r["renewable_w"], "surplus_w": sur,
                "in_window": sur is not None and sur >= thr and sur > 0,
                "drained": r["name"] in op["drained"],
                "forecast_window_s": fc.get(r["name"]),
                "jobs": [j["name"] for j in jobs if j["site"] == r["idx"]
                         and j["phase"] in AT_SITE]})
        return out

    def _latest_forecast(self, con) -> dict:
        """Site -> {"0.1": s, "0.5": s, "0.9": s}: the window forecast quantiles of the
        newest decision that had them (logged with the step's books); empty without."""
        row = con.execute("SELECT body FROM events WHERE kind = 'booked' AND body LIKE "
                          "'%window_forecast_q_s%' ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            return {}
        try:
            body = json.loads(row[0])
            q = body["window_forecast_q_s"]
            levels = body["window_forecast_quantiles"]
            sites, _ = self._names(con)
            return {s: {f"{lv:g}": v for lv, v in zip(levels, q[i], strict=True)}
                    for i, s in enumerate(sites)}
        except (KeyError, TypeError, ValueError, IndexError):
            return {}

    @reads_bodies
    def jobs(self) -> list[dict]:
        """Per job: phase, site, destination, real step, total steps, progress (the
        trainer's steps), work done (the run's books: what decides when a job finishes),
        pinned."""
        with self.connect(checked=True) as con:
            sites, _ = self._names(con)
            rows = [dict(r) for r in con.execute("SELECT * FROM jobs ORDER BY idx")]
            op = self._operator(con)
            work_done = self._work_done(con)

        def sname(i):
            return None if i is None else sites[i]

        return [{"name": r["name"], "phase": r["phase"], "site": sname(r["site"]),
                 "dest": sname(r["dest"]), "real_step": r["real_step"],
                 "total_steps": r["total_steps"],
                 "progress": (min(1.0, r["real_step"] / r["total_steps"])
                              if r["total_steps"] else 0.0),
                 "work_done": work_done[i] if i < len(work_done) else None,
                 "pinned": r["name"] in op["pinned"]} for i, r in enumerate(rows)]

    def _work_done(self, con) -> list[float | None]:
        """Per job (by index), the share of its modelled work done in the run's books,
        0..1; empty while unknown (no snapshot yet, or the scenario still loading). A
        trainer may finish its steps before its modelled work (the books set the pace),
        so this, not ``progress``, says how far the run counts a job."""
        loaded = self.scenario_inputs()
        row = con.execute("SELECT ledger FROM run WHERE id = 1").fetchone()
        led = _json(row[0]) if row is not None else None
        if loaded is None or not led:
            return []
        work = loaded[1].job_work_gpu_s
        left = led["fleet"]["remaining_gpu_s"]
        return [min(1.0, max(0.0, 1.0 - float(rest) / float(w))) if w > 0 else None
                for w, rest in zip(work, left, strict=False)]

    @reads_bodies
    def migrations(self) -> list[dict]:
        """Every migration of the run, oldest first: job, src, dst, phase, bytes moved and
        total [B], ETA [s] (None when unknown), start [s since the epoch], finished."""
        with self.connect(checked=True) as con:
            evs = con.execute(
                "SELECT seq, step, unix_s, kind, job, body FROM events WHERE kind IN "
                "('migrate', 'phase') ORDER BY seq").fetchall()
            jobs = {r["name"]: dict(r) for r in con.execute("SELECT * FROM jobs")}
            sites, jnames = self._names(con)
            done_bytes = self._ledger_migration_bytes(con, jnames, sites)
        return _migrations(self.path, evs, jobs, sites, self.scenario_inputs(), done_bytes)

    def _ledger_migration_bytes(self, con, jnames, sites) -> list[tuple[str, str, str, float]]:
        row = con.execute("SELECT ledger FROM run WHERE id = 1").fetchone()
        led = _json(row[0]) if row is not None else None
        if not led:
            return []
        return [(jnames[m["job"]], sites[m["src"]], sites[m["dst"]], float(m["bytes"]))
                for m in led["fleet"]["migrations"] if m.get("end_s") is not None]

    @reads_bodies
    def grid_events(self) -> list[dict]:
        """The demand-response events filed with the run (``greenhop grid event``, the
        API), in the order filed: ``id``, ``event`` (the stored fields), ``filed_unix_s``,
        ``taken_up_step`` (None: pending, taken up at the controller's next step), ``state``
        (``pending``, ``taken up`` or ``ignored``) and ``error`` (why it was ignored)."""
        with self.connect() as con:
            return filed_grid_events(con, self.path)

    @reads_bodies
    def events(self, after: int = 0, limit: int = 500) -> list[dict]:
        """Events with id > ``after``, at most ``limit``, in id order."""
        with self.connect() as con:
            rows = con.execute("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                               (int(after), int(limit))).fetchall()
        return [{"id": r["seq"], "step": r["step"], "kind": r["kind"], "job": r["job"],
                 "data": event_body(self.path, r["seq"], r["kind"], r["body"]),
                 "unix_s": r["unix_s"]} for r in rows]

    @reads_bodies
    def timeline(self) -> dict:
        """Per booked step and site: renewable, surplus and job load [W]."""
        with self.connect() as con:
            sites, _ = self._names(con)
            srows = [dict(r) for r in con.execute("SELECT * FROM sites ORDER BY idx")]
            power = {r[0]: self._body(r, "power")["renewable_w"] for r in con.execute(
                "SELECT step, body, seq FROM events WHERE kind = 'power' ORDER BY seq")}
            booked = {r[0]: self._body(r, "booked") for r in con.execute(
                "SELECT step, body, seq FROM events WHERE kind = 'booked' ORDER BY seq")}
            row = self._run_row(con)
        si = self.scenario_inputs()
        # the base load: the scenario's, or what the sites table implies (renewable - surplus)
        base = (np.asarray(si[1].base_demand_w, dtype=float) if si is not None else
                np.array([(r["renewable_w"] or 0.0) - (r["surplus_w"] or 0.0) for r in srows]))
        end = int(row["step"]) if row is not None else 0
        steps = [t for t in sorted(power) if t < end]
        out = {"step_s": _step_s(si, booked[max(booked)] if booked else None),
               "start_unix_s": None if si is None else float(si[0].start.timestamp()),
               "steps": steps, "sites": {}}
        for i, s in enumerate(sites):
            ren = [float(power[t][i]) for t in steps]
            out["sites"][s] = {
                "renewable_w": ren, "surplus_w": [r - float(base[i]) for r in ren],
                "job_load_w": [float(booked[t]["job_load_w"][i]) if t in booked else 0.0
                               for t in steps]}
        return out

    @reads_bodies
    def placements(self) -> list[dict]:
        """Stay intervals: job, site, from_step, to_step (None: still there)."""
        with self.connect() as con:
            evs = con.execute("SELECT step, kind, job, body, seq FROM events WHERE kind IN "
                              "('place', 'migrate', 'done') ORDER BY seq").fetchall()
        out: list[dict] = []
        open_: dict[str, dict] = {}
        for step, kind, job, body, seq in evs:
            b = event_body(self.path, seq, kind, body)
            cur = open_.pop(job, None)
            if cur is not None:
                cur["to_step"] = int(step)
            if kind in ("place", "migrate"):
                iv = {"job": job, "site": b["dst"], "from_step": int(step), "to_step": None}
                out.append(iv)
                open_[job] = iv
        return out

    @reads_bodies
    def feasibility(self) -> dict:
        """The candidate moves now: each running migratable job x every other site, with
        the model's downtime [s], the destination's remaining window [s] and the verdict."""
        si = self.scenario_inputs()
        with self.connect() as con:
            sites, _ = self._names(con)
            rows = [dict(r) for r in con.execute("SELECT * FROM jobs ORDER BY idx")]
            op = self._operator(con)
            row = self._run_row(con)
        if si is None or row is None:
            return {"alpha": None, "moves": []}
        return _feasibility(si, rows, sites, op, int(row["step"]))

    @reads_bodies
    def metrics_snapshot(self) -> dict:
        """What the Prometheus collector reports (see :mod:`greenhop.service.metrics`)."""
        with self.connect() as con:
            sites, _ = self._names(con)
            site_rows = [dict(r) for r in con.execute("SELECT * FROM sites ORDER BY idx")]
            phases = dict(con.execute("SELECT phase, COUNT(*) FROM jobs GROUP BY phase")
                          .fetchall())
            booked = [self._body(r, "booked") for r in con.execute(
                "SELECT step, body, seq FROM events WHERE kind = 'booked' ORDER BY seq")]
            row = self._run_row(con)
        led = _json(row["ledger"]) if row is not None else None
        return {"sites": sites, "site_rows": site_rows, "phases": phases, "booked": booked,
                "ledger": led, "migrations": self.migrations()}


def _step_s(si, booked_body: dict | None) -> float | None:
    """The run's step [s]: the scenario's, or (its file not loaded yet, gone or changed)
    the one the last ``booked`` event recorded; None when neither is known."""
    if si is not None:
        return float(si[0].step_s)
    return None if booked_body is None else booked_body.get("step_s")


def _migrations(path: Path, evs, jobs: dict, sites: list[str], si, done_bytes) -> list[dict]:
    """Rebuild each migration from its ``migrate`` event and the job's phase events (of the
    database at ``path``)."""
    import time as _time

    net = None if si is None else si[1]
    out: list[dict] = []
    cur: dict[str, dict] = {}
    for seq, _step, unix_s, kind, job, body in evs:
        b = event_body(path, seq, kind, body)
        if kind == "migrate":
            m = {"job": job, "src": b["src"], "dst": b["dst"], "phase": "saving",
                 "bytes_moved": 0.0, "bytes_total": None, "eta_s": None,
                 "started_unix_s": unix_s, "finished": False,
                 "phase_unix_s": {"saving": unix_s}, "by": b.get("by", "policy")}
            if net is not None:
                j = list(net.job_names).index(job) if job in net.job_names else -1
                if j >= 0:
                    m["bytes_total"] = float(net.job_move_bytes[j])
            out.append(m)
            cur[job] = m
        elif kind == "phase" and job in cur:
            m = cur[job]
            to = b.get("to")
            if to in MOVING:
                m["phase"] = to
                m["phase_unix_s"].setdefault(to, unix_s)
                if to == "restoring":
                    m["bytes_moved"] = m["bytes_total"] or 0.0
            elif to == "running":
                m["phase"] = "done"
                m["finished"] = True
                m["phase_unix_s"]["done"] = unix_s
                m["bytes_moved"] = m["bytes_total"] or 0.0
                m["eta_s"] = 0.0
                del cur[job]
            elif to in ("stopped", "failed", "stopping"):
                m["phase"] = to
    # measured bytes of the migrations the books closed, in order per job
    by_job: dict[str, list[float]] = {}
    for job, _s, _d, nbytes in done_bytes:
        by_job.setdefault(job, []).append(nbytes)
    seen: dict[str, int] = {}
    for m in out:
        if m["finished"]:
            k = seen.get(m["job"], 0)
            seen[m["job"]] = k + 1
            lst = by_job.get(m["job"], [])
            if k < len(lst) and lst[k] > 0:
                m["bytes_total"] = m["bytes_moved"] = lst[k]
    now = _time.time()
    # transfers in flight from each site: they share its agent's rate (one token bucket
    # for every connection out of a site)
    sending: dict[str, int] = {}
    for m in out:
        if not m["finished"] and m["phase"] == "transferring":
            sending[m["src"]] = sending.get(m["src"], 0) + 1
    for m in out:
        if m["finished"] or net is None:
            continue
        others = sending.get(m["src"], 0) - (m["phase"] == "transferring")
        m["eta_s"] = _eta_s(m, net, now, sharing=others + 1)
    return out


def _eta_s(m: dict, si_inputs, now: float, sharing: int = 1) -> float | None:
    """Estimated time left [s] of a migration in flight, from the model's phase times
    (save, transfer at the link's effective rate shared by the ``sharing`` transfers out of
    its source site now, restore) minus the time spent so far."""
    inp = si_inputs
    names = list(inp.params.site_names)
    if m["src"] not in names or m["dst"] not in names or m["bytes_total"] is None:
        return None
    s, d = names.index(m["src"]), names.index(m["dst"])
    p = inp.params
    size = float(m["bytes_total"])
    rate_bps = float(inp.network.bandwidth_bps[s, d] * inp.network.efficiency[s, d])
    rate_bps /= max(1, sharing)
    phases = {"saving": size / p.write_Bps,
              "transferring": 8.0 * size / max(rate_bps, 1.0),
              "restoring": size / p.read_Bps + p.startup_s}
    order = list(MOVING)
    if m["phase"] not in order:
        return None
    k = order.index(m["phase"])
    spent = now - m["phase_unix_s"].get(m["phase"], now)
    left = max(0.0, phases[m["phase"]] - spent) + sum(phases[q] for q in order[k + 1:])
    if m["phase"] == "transferring":
        m["bytes_moved"] = min(size, max(0.0, spent) * rate_bps / 8.0)
    return left


def _feasibility(si, rows: list[dict], sites: list[str], op: dict, step: int) -> dict:
    from greenhop.core.observation import PINNED
    from greenhop.model import evaluate

    sc, inp = si
    p = inp.params
    net = inp.network
    alpha = float(getattr(sc, "alpha", 0.1))
    t = min(max(step, 0), inp.remaining_window_s.shape[0] - 1)
    moves = []
    cand = []
    for r in rows:
        if r["phase"] != "running" or r["site"] is None or r["name"] in op["pinned"]:
            continue
        j = list(inp.job_names).index(r["name"]) if r["name"] in inp.job_names else -1
        if j < 0 or inp.job_mobility[j] == PINNED:
            continue
        for d in range(len(sites)):
            if d == r["site"] or not inp.job_allowed[j, d] or net.hops[r["site"], d] <= 0:
                continue
            cand.append((j, r["name"], int(r["site"]), d))
    if not cand:
        return {"alpha": alpha, "moves": []}
    j = np.array([c[0] for c in cand])
    s = np.array([c[2] for c in cand])
    d = np.array([c[3] for c in cand])
    window = np.asarray(inp.remaining_window_s[t, d], dtype=float)
    f = evaluate(inp.job_move_bytes[j], net.bandwidth_bps[s, d], np.maximum(window, 1.0),
                 alpha=alpha, efficiency=net.efficiency[s, d],
                 streams=np.maximum(net.streams[s, d], 1),
                 rtt_s=np.maximum(net.rtt_s[s, d], 1e-6), loss=net.loss[s, d],
                 write_Bps=p.write_Bps, read_Bps=p.read_Bps, startup_s=p.startup_s)
    for k, (_j, name, src, dst) in enumerate(cand):
        moves.append({"job": name, "src": sites[src], "dst": sites[dst],
                      "downtime_s": float(f.downtime_s[k]), "window_s": float(window[k]),
                      "feasible": bool(f.feasible[k] and window[k] > 0
                                       and sites[dst] not in op["drained"])})
    return {"alpha": alpha, "moves": moves}
