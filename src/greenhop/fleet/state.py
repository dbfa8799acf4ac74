"""The fleet's state: every job's phase, place, work and phase timers; GPU slots; batteries.

One :class:`FleetState` per run, owned by the :class:`~greenhop.fleet.core.FleetCore`.
Arrays are per job ``[J]`` or per site ``[S]``; the core updates them in place (policies
see read-only views of some of them). :meth:`FleetState.to_json` / :meth:`load_json`
persist it (the live controller stores it after every step).

Units: seconds, joules, bytes, bits per second.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import PENDING
from greenhop.core.scaling import DEFAULT_SERIAL_SHARE
from greenhop.fleet.inputs import FleetInputs

#: events of a run, counted
COUNTERS = ("migrations_started", "rejected_actions", "suspensions", "window_closed",
            "aborted_migrations", "fallback_migrations", "policy_calls")

#: per-job and per-site arrays, in the order they are persisted
ARRAYS = ("phase", "site", "home", "dest", "mig_src", "is_move", "closed_flag", "mig_rec",
          "remaining_gpu_s", "save_left_s", "bytes_left", "restore_left_s", "measured_bps",
          "mig_start_s", "last_move_s", "start_s", "finish_s", "job_energy_j", "job_down_s",
          "job_moves", "occupied", "last_load_w", "soc_j")


class FleetState:
    """Mutable state of one run of ``inputs`` (``J`` jobs, ``S`` sites)."""

    def __init__(self, inputs: FleetInputs) -> None:
        n_jobs, n_sites = len(inputs.jobs), len(inputs.slots)
        self.phase = np.full(n_jobs, PENDING, dtype=np.int8)
        self.site = np.full(n_jobs, -1, dtype=np.int64)        # where it runs (source if moving)
        self.home = np.full(n_jobs, -1, dtype=np.int64)        # where its staying GPUs are
        self.dest = np.full(n_jobs, -1, dtype=np.int64)
        self.mig_src = np.full(n_jobs, -1, dtype=np.int64)
        self.is_move = np.zeros(n_jobs, dtype=bool)            # a move (not a resume in place)
        self.closed_flag = np.zeros(n_jobs, dtype=bool)        # its window closed in flight
        self.mig_rec = np.full(n_jobs, -1, dtype=np.int64)     # index into migrations
        self.remaining_gpu_s = np.asarray(inputs.job_work_gpu_s, dtype=float).copy()
        # Phase timers of a job that is not training: save [s], bytes to send [B], restore [s].
        self.save_left_s = np.zeros(n_jobs)
        self.bytes_left = np.zeros(n_jobs)
        self.restore_left_s = np.zeros(n_jobs)
        # A transfer's measured rate [bit/s] (live runs); NaN: its share of the links.
        self.measured_bps = np.full(n_jobs, np.nan)
        self.mig_start_s = np.zeros(n_jobs)
        self.last_move_s = np.zeros(n_jobs)
        self.start_s = np.full(n_jobs, np.nan)
        self.finish_s = np.full(n_jobs, np.nan)
        self.job_energy_j = np.zeros(n_jobs)
        self.job_down_s = np.zeros(n_jobs)
        self.job_moves = np.zeros(n_jobs, dtype=np.int64)
        self.occupied = np.zeros(n_sites, dtype=np.int64)      # GPU slots in use
        self.last_load_w = np.zeros(n_sites)                   # the jobs' load last step [W]
        self.soc_j = np.asarray(inputs.bat_initial_j, dtype=float).copy()
        self.queue: list[int] = []
        self.suspend_saving: list[int] = []                    # suspended, still saving
        self.n_active = 0                                      # arrived, not done
        self.migrations: list[dict] = []
        self.counters: dict[str, float] = dict.fromkeys(COUNTERS, 0)
        self.counters["bytes_moved"] = 0.0
        self.counters["network_j"] = 0.0
        # Segments (job, site, start, end, kind): the open one per job.
        self.segments: list[tuple[int, int, float, float, str]] = []
        self.seg_kind: list[str | None] = [None] * n_jobs
        self.seg_site: list[int] = [-1] * n_jobs
        # The GPU count of each closed segment (parallel to ``segments``) and of each
        # job's open one: an elastic job's work rate depends on it.
        self.segment_gpus: list[int] = []
        self.seg_gpus: list[int] = [0] * n_jobs
        self.seg_start_s: list[float] = [0.0] * n_jobs
        # The operator's rules (fleet.admission): sites nothing may be placed or migrated
        # onto, jobs the policy may not move or suspend, and a paused policy.
        self.drained = np.zeros(n_sites, dtype=bool)
        self.pinned = np.zeros(n_jobs, dtype=bool)
        self.paused = False
        # Demand response (greenhop.fleet.demand_response): sites under an announced or
        # active event take no new work; ``dr`` records what enforcement did (None: no
        # events in this run).
        self.dr_closed = np.zeros(n_sites, dtype=bool)
        self.dr: dict | None = None
        # Elastic jobs (scaling): the GPU count each job runs on now, the GPUs it holds at
        # its site (the larger of the old and the new count while it rescales, for a
        # partially migratable job the ones that move), the count a rescale goes to (-1:
        # none), and each job's fixed range and speedup curve. Counters ``scales`` and
        # ``rejected_scales`` appear at a run's first Scale action.
        self.gpus = np.asarray(inputs.job_gpus, dtype=np.int64).copy()
        self.g_move = np.asarray(inputs.job_g_move, dtype=np.int64).copy()
        self.scale_to = np.full(n_jobs, -1, dtype=np.int64)
        rng = [j.gpu_range for j in inputs.jobs]
        self.min_gpus = np.array([lo for lo, _ in rng], dtype=np.int64).reshape(n_jobs)
        self.max_gpus = np.array([hi for _, hi in rng], dtype=np.int64).reshape(n_jobs)
        self.serial_share = np.array(
            [DEFAULT_SERIAL_SHARE if j.serial_share is None else j.serial_share
             for j in inputs.jobs], dtype=float).reshape(n_jobs)
        self.elastic = self.min_gpus < self.max_gpus

    @property
    def no_entry(self) -> np.ndarray:
        """Sites nothing may be placed, migrated or scaled up onto: drained by the operator
        or held by a demand-response event [S] bool."""
        return self.drained | self.dr_closed if self.dr_closed.any() else self.drained

    def to_json(self) -> dict:
        """A JSON-ready snapshot (restored by :meth:`load_json`)."""
        out: dict = {k: getattr(self, k).tolist() for k in ARRAYS}
        out.update(queue=list(self.queue), suspend_saving=list(self.suspend_saving),
                   n_active=self.n_active, migrations=self.migrations,
                   counters=self.counters, segments=[list(s) for s in self.segments],
                   seg_kind=list(self.seg_kind), seg_site=list(self.seg_site),
                   seg_start_s=list(self.seg_start_s),
                   operator={"drained": self.drained.tolist(), "pinned": self.pinned.tolist(),
                             "paused": self.paused})
        if self.dr is not None:
            out["demand_response"] = {"closed": self.dr_closed.tolist(), **self.dr}
        if self.elastic.any():
            out["scaling"] = {"gpus": self.gpus.tolist(), "g_move": self.g_move.tolist(),
                              "scale_to": self.scale_to.tolist(),
                              "segment_gpus": list(self.segment_gpus),
                              "seg_gpus": list(self.seg_gpus)}
        return out

    def load_json(self, data: dict) -> None:
        """Restore a snapshot of :meth:`to_json`."""
        for k in ARRAYS:
            cur = getattr(self, k)
            cur[:] = np.asarray(data[k], dtype=cur.dtype)
        self.queue = [int(j) for j in data["queue"]]
        self.suspend_saving = [int(j) for j in data["suspend_saving"]]
        self.n_active = int(data["n_active"])
        self.migrations = list(data["migrations"])
        self.counters = dict(data["counters"])
        self.segments = [tuple(s) for s in data["segments"]]
        self.seg_kind = list(data["seg_kind"])
        self.seg_site = [int(v) for v in data["seg_site"]]
        self.seg_start_s = [float(v) for v in data["seg_start_s"]]
        op = data.get("operator")  # absent from snapshots written before operator actions
        if op is not None:
            self.drained[:] = np.asarray(op["drained"], dtype=bool)
            self.pinned[:] = np.asarray(op["pinned"], dtype=bool)
            self.paused = bool(op["paused"])
        dr = data.get("demand_response")  # only in snapshots of runs with events
        if dr is not None:
            dr = dict(dr)
            self.dr_closed[:] = np.asarray(dr.pop("closed"), dtype=bool)
            self.dr = dr
        # Segment GPU counts: only in snapshots of runs with elastic jobs; any other job
        # always runs on its nominal count.
        nominal = self.gpus.tolist()
        self.segment_gpus = [nominal[int(seg[0])] for seg in self.segments]
        self.seg_gpus = list(nominal)
        sc = data.get("scaling")  # only in snapshots of runs with elastic jobs
        if sc is not None:
            for k in ("gpus", "g_move", "scale_to"):
                getattr(self, k)[:] = np.asarray(sc[k], dtype=np.int64)
            if "segment_gpus" in sc:  # absent from snapshots written before it was kept
                self.segment_gpus = [int(g) for g in sc["segment_gpus"]]
                self.seg_gpus = [int(g) for g in sc["seg_gpus"]]
