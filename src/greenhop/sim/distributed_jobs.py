"""Scenario keys of a job spread over sites, and its expansion into one job per worker.

A ``[[jobs]]`` table with ``workers = N`` describes one job trained by N workers at
different sites (low-communication training, docs/distributed.md). Keys:

* ``workers`` N (>= 1), ``sync_every`` H inner steps per outer step (>= 1),
  ``outer_steps`` the job's number of outer steps (1 to :data:`MAX_OUTER_STEPS`);
* ``model_params`` (required): the pseudo-gradient is ``model_params x`` the bytes of
  ``sync_precision`` (``"bf16"``, default, or ``"fp32"``);
* ``movable_workers`` k: workers ``0 .. k-1`` may move, the others stay where they start
  (default: N for ``mobility = "migratable"``, 0 for ``"pinned"``);
* ``elastic``: the group goes on without a worker that is not running (default false);
* ``worker_sites``: the site each worker starts at (N names; default: the placer's choice);
* ``gpus`` and ``checkpoint`` are per worker; without ``checkpoint`` (or ``preset``) a
  worker's state is ``model_params x 16 B`` (fp32 params, AdamW moments, outer momentum);
  ``work_gpu_h`` is the whole job's, split evenly over the workers.

Worker ``i`` of job ``name`` is the job ``name.w<i>``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.names import check_name
from greenhop.core.specs import JobSpec, WorkerSpec
from greenhop.core.units import MAX_MODEL_PARAMS
from greenhop.model.distributed import SYNC_PRECISION, WORKER_BYTES_PER_PARAM
from greenhop.sim.schema import Table

MAX_SYNC_EVERY = 1_000_000_000
"""Most inner steps per outer step: a million times DiLoCo's 500 (a larger ``sync_every``
makes figures past any run's length, not a slower sync)."""
MAX_OUTER_STEPS = 1_000_000
"""The most outer steps a spread job may have (a month of 2.6-second outer steps)."""


@dataclass(frozen=True)
class SpreadKeys:
    """The keys of one ``[[jobs]]`` table that spread it over sites."""

    workers: int
    sync_every: int
    outer_steps: int
    params: float
    bytes_per_value: float
    movable: int | None
    elastic: bool
    worker_sites: tuple[str, ...]
    state_given: bool
    path: str


def worker_name(group: str, index: int) -> str:
    """The job name of worker ``index`` of ``group``."""
    return f"{group}.w{index}"


def read_keys(jt: Table) -> SpreadKeys | None:
    """Read the spreading keys of ``jt`` (``None``: a job on one site)."""
    if not jt.has("workers"):
        for key in ("sync_every", "outer_steps", "movable_workers", "elastic", "worker_sites",
                    "sync_precision"):
            if jt.has(key):
                raise ConfigError(f"{jt.where(key)}: only a job spread over sites has {key}; "
                                  "add workers = N")
        return None
    n = jt.number("workers", lo=1, integer=True)
    h = jt.number("sync_every", lo=1, hi=MAX_SYNC_EVERY, integer=True)
    # the simulator books every outer step's barrier and exchange: 1e15 of them never end
    outer = jt.number("outer_steps", lo=1, hi=MAX_OUTER_STEPS, integer=True)
    if not jt.has("model_params"):
        raise ConfigError(f"{jt.where('model_params')}: a job spread over sites needs "
                          "model_params (its pseudo-gradient is model_params x 2 B in bf16)")
    params = jt.number("model_params", lo=0, lo_open=True, hi=MAX_MODEL_PARAMS)
    precision = jt.string("sync_precision", "bf16", choices=tuple(SYNC_PRECISION))
    movable = jt.number("movable_workers", None, lo=0, hi=n, integer=True)
    elastic = jt.boolean("elastic", False)
    sites = tuple(jt.strings("worker_sites", []))
    if sites and len(sites) != n:
        raise ConfigError(f"{jt.where('worker_sites')}: give one site per worker ({n}), "
                          f"got {len(sites)}")
    for key in ("min_gpus", "max_gpus"):
        if jt.has(key):
            raise ConfigError(f"{jt.where(key)}: a job spread over sites does not rescale; "
                              "drop min_gpus / max_gpus (an elastic group drops workers)")
    return SpreadKeys(workers=n, sync_every=h, outer_steps=outer, params=params,
                      bytes_per_value=SYNC_PRECISION[precision], movable=movable,
                      elastic=elastic, worker_sites=sites,
                      state_given=jt.has("checkpoint") or jt.has("preset"), path=jt.path)


def _components(names, links) -> dict[str, str]:
    """Each site's WAN component (a representative site name): sites joined by links."""
    root = {n: n for n in names}

    def find(n: str) -> str:
        while root[n] != n:
            root[n] = root[root[n]]
            n = root[n]
        return n

    for link in links:
        root[find(link.a)] = find(link.b)
    return {n: find(n) for n in names}


def expand(job: JobSpec, keys: SpreadKeys | None, slots: dict[str, int],
           taken: set[str], links=()) -> list[JobSpec]:
    """The worker jobs of ``job`` (``[job]`` when it is not spread); ``slots`` are the GPU
    slots of every site, ``taken`` the job names so far (the workers' names are added),
    ``links`` the scenario's links (the workers' sites must reach each other)."""
    if keys is None:
        return [job]
    where = f"{keys.path}"
    if job.mobility == "partial":
        raise ConfigError(f"{where}.mobility: a job spread over sites moves single workers; "
                          "use movable_workers = k instead of mobility = 'partial'")
    if job.origin is not None and keys.worker_sites:
        raise ConfigError(f"{where}.origin: give either origin or worker_sites, not both")
    n = keys.workers
    hosts = job.allowed_sites or tuple(slots)
    fleet_gpus = sum(slots[h] for h in hosts)
    if n * job.gpus > fleet_gpus:
        raise ConfigError(f"{where}.workers: job '{job.name}' has {n} workers of {job.gpus} "
                          f"GPU(s) but the sites it may use have {fleet_gpus} GPU slots in all; "
                          "lower workers or gpus")
    for i, s in enumerate(keys.worker_sites):
        if s not in slots:
            raise ConfigError(f"{where}.worker_sites[{i}]: unknown site '{s}'; sites: "
                              f"{', '.join(sorted(slots))}")
        if slots[s] < job.gpus:
            raise ConfigError(f"{where}.worker_sites[{i}]: worker {i} of job '{job.name}' needs "
                              f"{job.gpus} GPU(s) but site '{s}' has {slots[s]} slots")
        if job.allowed_sites and s not in job.allowed_sites:
            raise ConfigError(f"{where}.worker_sites[{i}]: '{s}' is not among allowed_sites")
    part = _components(slots, links)
    if keys.worker_sites:
        first = keys.worker_sites[0]
        for i, s in enumerate(keys.worker_sites):
            if part[s] != part[first]:
                raise ConfigError(f"{where}.worker_sites[{i}]: no WAN path joins '{s}' and "
                                  f"'{first}': the workers could never exchange; add a link")
    # Every worker holds its slots until the job ends (the others wait for it at the
    # barrier): the workers that start on one site must all fit there at once.
    starts = keys.worker_sites or ((job.origin,) * n if job.origin is not None else ())
    for s in dict.fromkeys(starts):
        k = starts.count(s)
        if k * job.gpus > slots[s]:
            key = "worker_sites" if keys.worker_sites else "origin"
            raise ConfigError(f"{where}.{key}: job '{job.name}' starts {k} workers of "
                              f"{job.gpus} GPU(s) on site '{s}' but it has {slots[s]} GPU "
                              "slots: they could never all run; spread them over more sites")
    # The workers stay in one WAN component (an exchange needs a path between them):
    # that of their first sites, else the one sites they may use all belong to.
    usable = [h for h in hosts if slots[h] >= job.gpus]
    comps = {part[h] for h in usable}
    allowed = job.allowed_sites
    if starts:
        home = part[starts[0]]
        if len(comps) > 1:
            allowed = tuple(h for h in hosts if part[h] == home)
    elif len(comps) > 1:
        a, b = sorted({next(h for h in usable if part[h] == c) for c in comps})[:2]
        raise ConfigError(f"{where}.worker_sites: job '{job.name}' may place its workers on "
                          f"sites no WAN path joins ('{a}' and '{b}'); give worker_sites, an "
                          "origin or allowed_sites within one linked set of sites")
    room = sum(slots[h] // job.gpus for h in (allowed or hosts))
    if n > room:
        raise ConfigError(f"{where}.workers: job '{job.name}' has {n} workers of {job.gpus} "
                          f"GPU(s) but the sites it may use hold only {room} such workers "
                          "at once; lower workers or gpus")
    movable = keys.movable
    if movable is None:
        movable = n if job.mobility == "migratable" else 0
    state = job.checkpoint_bytes if keys.state_given else keys.params * WORKER_BYTES_PER_PARAM
    out = []
    for i in range(n):
        name = check_name("job", worker_name(job.name, i), f"{where}.name")
        if name in taken:
            raise ConfigError(f"{where}.name: worker job '{name}' is defined twice")
        taken.add(name)
        spec = WorkerSpec(group=job.name, index=i, workers=n, sync_every=keys.sync_every,
                          outer_steps=keys.outer_steps,
                          pseudo_gradient_bytes=keys.params * keys.bytes_per_value,
                          elastic=keys.elastic)
        out.append(replace(
            job, name=name, work_gpu_h=job.work_gpu_h / n, checkpoint_bytes=state,
            mobility="migratable" if i < movable else "pinned", migratable_share=1.0,
            allowed_sites=allowed,
            origin=keys.worker_sites[i] if keys.worker_sites else job.origin, worker=spec))
    return out


def spread_metrics(inp, res) -> dict:
    """Metrics of the jobs spread over sites of a run (``{}`` when there are none):
    ``sync_gb`` and ``sync_energy_kwh`` (the exchanges' WAN bytes and network energy),
    ``outer_steps`` completed, ``worker_moves``, ``worker_wait_h`` and ``worker_wait_kwh``
    (time waiting at barriers and in exchanges, and its idle energy), ``worker_downtime_s``
    (``mean``, ``p50``, ``max`` over the workers of their moves' and resumes' downtime),
    ``outer_steps_missed``, ``worker_skipped_gpu_h`` (the work of the local steps missed),
    ``worker_dropouts`` and ``worker_rejoins`` (elastic groups)."""
    workers = np.array([j.worker is not None for j in inp.jobs], dtype=bool)
    if not workers.any():
        return {}
    c = res.counters
    down = np.asarray(res.job_down_s, dtype=float)[workers]
    return {
        "sync_gb": round(float(c.get("sync_bytes", 0.0)) / 1e9, 6),
        "sync_energy_kwh": round(float(c.get("sync_network_j", 0.0)) / 3.6e6, 6),
        "outer_steps": int(c.get("outer_steps", 0)),
        "worker_moves": int(np.asarray(res.job_migrations)[workers].sum()),
        "worker_wait_h": round(float(c.get("worker_wait_s", 0.0)) / 3600.0, 6),
        "worker_wait_kwh": round(float(c.get("worker_wait_j", 0.0)) / 3.6e6, 6),
        "worker_downtime_s": {"mean": round(float(down.mean()), 3),
                              "p50": round(float(np.median(down)), 3),
                              "max": round(float(down.max()), 3)},
        "outer_steps_missed": int(c.get("outer_steps_missed", 0)),
        "worker_skipped_gpu_h": round(float(c.get("worker_skipped_gpu_s", 0.0)) / 3600.0, 6),
        "worker_dropouts": int(c.get("worker_dropouts", 0)),
        "worker_rejoins": int(c.get("worker_rejoins", 0)),
    }
