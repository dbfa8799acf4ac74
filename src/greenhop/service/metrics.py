"""Prometheus metrics of a run, read from its database on every scrape.

:class:`RunCollector` is a ``prometheus_client`` custom collector: each scrape reads the
run database once (:meth:`RunReader.metrics_snapshot`) and reports

* ``greenhop_site_surplus_watts``, ``greenhop_site_renewable_watts`` {site}: now [W];
* ``greenhop_site_grid_import_watts``, ``greenhop_site_renewable_used_watts``,
  ``greenhop_site_job_load_watts`` {site}: the last booked step [W] (renewable used:
  demand served by renewables and the battery);
* ``greenhop_site_grid_import_joules_total`` {site}: over the booked steps [J];
* ``greenhop_jobs`` {state}: jobs per phase;
* ``greenhop_migrations`` {phase}: migrations per phase (``saving``, ``transferring``,
  ``restoring``, ``done``, ...); ``greenhop_migrations_started_total``;
* ``greenhop_migration_phase_duration_seconds`` {phase}: histogram of the save, transfer
  and restore phases of finished ones (wall time) [s];
* ``greenhop_transferred_bytes_total``: checkpoint bytes that crossed the WAN [B];
* ``greenhop_job_nonrenewable_joules_total``: grid import drawn while the jobs ran [J]:
  per site and booked step, min(job load, grid import) x the step (:data:`JOB_GRID_HELP`;
  not ``metrics.json``'s ``job_nr_kwh``);
* ``greenhop_reconcile_loop_duration_seconds``: histogram of the controller's reconcile
  passes (wall time) [s];
* ``greenhop_run_step``, ``greenhop_run_paused``, ``greenhop_run_finished``,
  ``greenhop_run_live`` (0 for a run whose controller died).
"""

from __future__ import annotations

import numpy as np
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from greenhop.service.data import RunReader, reads_bodies

JOB_GRID_HELP = (
    "Grid import drawn while the jobs ran [J]: per site and booked step, min(job load, grid "
    "import) x the step (renewables and the battery serve the base load first). Not "
    "metrics.json's job_nr_kwh (the run's grid energy minus that of a dispatch without the "
    "jobs): with a battery it can be lower, as grid import the jobs cause in a later step "
    "(a battery they drained) is not counted here.")
"""The HELP text of ``greenhop_job_nonrenewable_joules_total``: a step-wise share of the grid
import, not the run's job attribution, so that it stays a counter (never decreases) as
steps are booked; the attribution against a dispatch without the jobs may fall."""

#: upper bounds of the migration phase histogram [s]
PHASE_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def _cumulative(le, counts) -> list[tuple[str, float]]:
    acc = np.cumsum(np.asarray(counts, dtype=float))
    out = [(f"{b:g}", float(c)) for b, c in zip(le, acc[:len(le)], strict=True)]
    out.append(("+Inf", float(acc[-1]) if acc.size else 0.0))
    return out


def phase_durations(migrations: list[dict]) -> dict[str, list[float]]:
    """Wall time [s] of the save, transfer and restore phase of each finished migration."""
    out: dict[str, list[float]] = {"save": [], "transfer": [], "restore": []}
    for m in migrations:
        if not m.get("finished"):
            continue
        t = m["phase_unix_s"]
        save_end = t.get("transferring", t.get("restoring"))
        if save_end is not None:
            out["save"].append(save_end - t["saving"])
        if "transferring" in t and "restoring" in t:
            out["transfer"].append(t["restoring"] - t["transferring"])
        if "restoring" in t and "done" in t:
            out["restore"].append(t["done"] - t["restoring"])
    return out


class RunCollector(Collector):
    """Reads ``reader``'s run database on each scrape (see the module docstring)."""

    def __init__(self, reader: RunReader) -> None:
        self.reader = reader

    def describe(self):
        return []  # no samples at registration time (the database may not exist yet)

    def collect(self):
        yield from self._samples()

    @reads_bodies
    def _samples(self) -> list:
        return list(self._families())

    @property
    def path(self):  # what reads_bodies names
        return self.reader.path

    def _families(self):
        snap = self.reader.metrics_snapshot()
        sites = snap["sites"]
        rows = snap["site_rows"]
        booked = snap["booked"]
        led = snap["ledger"] or {}

        def gauge(name, doc, values, label="site"):
            g = GaugeMetricFamily(name, doc, labels=[label])
            for k, v in values:
                if v is not None and np.isfinite(v):
                    g.add_metric([k], float(v))
            return g

        yield gauge("greenhop_site_surplus_watts", "Surplus power at each site now [W].",
                    [(r["name"], r["surplus_w"]) for r in rows])
        yield gauge("greenhop_site_renewable_watts", "Renewable power at each site now [W].",
                    [(r["name"], r["renewable_w"]) for r in rows])
        last = booked[-1] if booked else None
        for key, name, doc in (
                ("grid_w", "greenhop_site_grid_import_watts",
                 "Grid import of each site over the last booked step [W]."),
                ("job_load_w", "greenhop_site_job_load_watts",
                 "The jobs' facility load at each site over the last booked step [W].")):
            yield gauge(name, doc, [] if last is None else list(zip(sites, last[key],
                                                                      strict=False)))
        used = [] if last is None else [
            (s, max(0.0, d - g)) for s, d, g in zip(sites, last["demand_w"], last["grid_w"],
                                                     strict=False)]
        yield gauge("greenhop_site_renewable_used_watts",
                    "Demand served by renewables (and the battery) at each site over the last "
                    "booked step [W].", used)
        grid_j = CounterMetricFamily("greenhop_site_grid_import_joules",
                                     "Grid energy of each site over the booked steps [J].",
                                     labels=["site"])
        tot = np.zeros(len(sites))
        job_grid_j = 0.0
        for b in booked:
            tot += np.asarray(b["grid_w"], dtype=float) * b["step_s"]
            job_grid_j += float(np.sum(b["job_grid_w"])) * b["step_s"]
        for s, v in zip(sites, tot, strict=True):
            grid_j.add_metric([s], float(v))
        yield grid_j
        yield gauge("greenhop_jobs", "Jobs in each phase.", sorted(snap["phases"].items()),
                    label="state")
        migs = snap["migrations"]
        by_phase: dict[str, int] = {}
        for m in migs:
            by_phase[m["phase"]] = by_phase.get(m["phase"], 0) + 1
        yield gauge("greenhop_migrations", "Migrations in each phase (done: finished).",
                    sorted(by_phase.items()), label="phase")
        c = CounterMetricFamily("greenhop_migrations_started", "Migrations started.")
        c.add_metric([], float(len(migs)))
        yield c
        h = HistogramMetricFamily("greenhop_migration_phase_duration_seconds",
                                  "Wall time of the save, transfer and restore phases of "
                                  "finished migrations [s].", labels=["phase"])
        for phase, vals in phase_durations(migs).items():
            arr = np.asarray(vals, dtype=float)
            counts = np.bincount(np.searchsorted(PHASE_BUCKETS_S, arr, side="left"),
                                 minlength=len(PHASE_BUCKETS_S) + 1)
            h.add_metric([phase], _cumulative(PHASE_BUCKETS_S, counts), float(arr.sum()))
        yield h
        nbytes = float(led.get("fleet", {}).get("counters", {}).get("bytes_moved", 0.0))
        c = CounterMetricFamily("greenhop_transferred_bytes",
                                "Checkpoint bytes that crossed the WAN [B].")
        c.add_metric([], nbytes)
        yield c
        c = CounterMetricFamily("greenhop_job_nonrenewable_joules", JOB_GRID_HELP)
        c.add_metric([], job_grid_j)
        yield c
        h = HistogramMetricFamily("greenhop_reconcile_loop_duration_seconds",
                                  "Wall time of the controller's reconcile passes [s].")
        le: list[float] = []
        counts = None
        total = 0.0
        for b in booked:
            r = b.get("reconcile")
            if not r:
                continue
            le = r["le"]
            arr = np.asarray(r["counts"], dtype=float)
            counts = arr if counts is None else counts + arr
            total += float(r["sum"])
        if counts is not None:
            h.add_metric([], _cumulative(le, counts), total)
        yield h
        run = self.reader.run()
        g = GaugeMetricFamily("greenhop_run_step", "Steps of the run booked so far.")
        g.add_metric([], float(run["step"] or 0))
        yield g
        g = GaugeMetricFamily("greenhop_run_paused", "1 while the operator paused the policy.")
        g.add_metric([], 1.0 if run["paused"] else 0.0)
        yield g
        g = GaugeMetricFamily("greenhop_run_finished", "1 once the run is done.")
        g.add_metric([], 1.0 if run["status"] == "done" else 0.0)
        yield g
        g = GaugeMetricFamily("greenhop_run_live", "1 while a controller runs the run (0: "
                              "stopped, done, failed, or dead: its controller is gone).")
        g.add_metric([], 1.0 if run["status"] == "live" else 0.0)
        yield g
