"""Scenario jobs: parse a scenario's ``[[jobs]]`` and its ``[generator]`` table, and draw
the generator's random jobs (:func:`generate_jobs`).

:func:`~greenhop.sim.scenario.parse_scenario` calls the parsers; each raises
:class:`~greenhop.core.errors.ConfigError` naming the dotted path to the bad key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.names import check_name
from greenhop.core.specs import MAX_GPU_SLOTS, MOBILITY, JobSpec
from greenhop.core.units import finite_float, format_duration
from greenhop.sim.schema import Table, shown

if TYPE_CHECKING:  # for the annotation only: greenhop.sim.scenario imports this module
    from greenhop.sim.scenario import Scenario

GENERATED_WORK_GPU_H = (1e-6, 1e12)
"""The range a generator's ``work_gpu_h`` may span [GPU-h]."""
MAX_GENERATED_JOBS = 1_000_000
"""The most jobs a ``[generator]`` may draw (each is a row of every per-job array)."""


@dataclass(frozen=True)
class ModelMix:
    """One entry of the generator's model mix.

    ``gpus`` (when set) fixes the GPU count of this model's jobs and ``work_gpu_h`` (when
    set) replaces the generator's work range for them; otherwise the generator's draws
    apply.
    """

    name: str
    checkpoint_bytes: float
    weight: float
    gpus: int | None = None
    work_gpu_h: tuple[float, float] | None = None


@dataclass(frozen=True)
class GeneratorSpec:
    """Random jobs: Poisson (or uniform) arrivals, a model mix, log-uniform work."""

    count: int
    arrival: str
    until_s: float
    models: tuple[ModelMix, ...]
    work_gpu_h: tuple[float, float]
    gpus: tuple[int, ...]
    gpu_weights: tuple[float, ...]
    mobility: tuple[tuple[str, float], ...]
    partial_share: float
    deadline_factor: float
    origins: tuple[str, ...]
    max_gpus: int = 0                 # > 0: jobs that may move are elastic up to this count
    scaling: float | None = None      # their serial share (None: the default)


def _checkpoint(jt: Table) -> float:
    from greenhop.model.presets import DEFAULT_PRESET, checkpoint_bytes

    if jt.has("checkpoint"):
        # a job spread over sites reads model_params for its exchanges (distributed_jobs)
        both = next((k for k in ("model_params", "preset") if jt.has(k)), None)
        if both is not None and not jt.has("workers"):
            raise ConfigError(f"{jt.where(both)}: give checkpoint, or model_params (with a "
                              "preset), not both")
        return jt.size("checkpoint", lo=0, lo_open=True)
    params = jt.number("model_params", lo=0, lo_open=True)
    preset = jt.string("preset", DEFAULT_PRESET)
    try:
        return float(checkpoint_bytes(params, preset))
    except ConfigError as exc:
        raise ConfigError(f"{jt.where('preset')}: {exc}") from None


def _parse_job(jt: Table, names: set[str]) -> JobSpec:
    name = check_name("job", jt.string("name"), jt.where("name"))
    arrival = jt.duration("arrival", 0.0)
    # at most the generator's ceiling: past it a float no longer counts a second of work
    work = jt.number("work_gpu_h", lo=0, lo_open=True, hi=GENERATED_WORK_GPU_H[1])
    ckpt = _checkpoint(jt)
    gpus = jt.number("gpus", 1, lo=1, hi=MAX_GPU_SLOTS, integer=True)
    mobility = jt.string("mobility", "migratable", choices=MOBILITY)
    share = jt.number("migratable_share", 0.5 if mobility == "partial" else 1.0, lo=0, hi=1)
    if mobility == "partial" and not 0 < share < 1:
        raise ConfigError(f"{jt.where('migratable_share')}: a partial job moves a share in "
                          f"(0, 1), got {share!r}")
    if mobility != "partial" and jt.has("migratable_share") and share != 1.0:
        # it would be ignored: a migratable job moves whole, a pinned one never
        raise ConfigError(f"{jt.where('migratable_share')}: only a partial job moves a "
                          f"share; this job is {mobility} (set mobility = \"partial\" to "
                          "move part of it, or leave the key out)")
    deadline = jt.duration("deadline", None, lo=0, lo_open=True)
    allowed = tuple(jt.strings("allowed_sites", [], unique=True))
    if jt.has("allowed_sites") and not allowed:
        raise ConfigError(f"{jt.where('allowed_sites')}: an empty list would leave the job no "
                          "site; list at least one, or leave the key out to allow every site")
    for i, s in enumerate(allowed):
        if s not in names:
            raise ConfigError(f"{jt.where('allowed_sites')}[{i}]: unknown site '{s}'; sites: "
                              f"{', '.join(sorted(names))}")
    origin = jt.string("origin", None)
    if origin is not None and origin not in names:
        raise ConfigError(f"{jt.where('origin')}: unknown site '{origin}'; sites: "
                          f"{', '.join(sorted(names))}")
    if origin is not None and allowed and origin not in allowed:
        raise ConfigError(f"{jt.where('origin')}: '{origin}' is not among allowed_sites")
    # Elastic jobs: the GPU counts the job may scale between and its speedup curve.
    min_gpus = jt.number("min_gpus", gpus, lo=1, hi=gpus, integer=True)
    max_gpus = jt.number("max_gpus", gpus, lo=gpus, integer=True)
    scaling = jt.number("scaling", None, lo=0, hi=0.99)
    if mobility == "partial" and min_gpus < max_gpus:
        raise ConfigError(f"{jt.where('max_gpus')}: a partially migratable job cannot scale; "
                          "make it migratable or pinned, or drop min_gpus / max_gpus")
    jt.done()
    return JobSpec(name=name, arrival_s=arrival, work_gpu_h=work, checkpoint_bytes=ckpt,
                   gpus=gpus, mobility=mobility, migratable_share=share,
                   deadline_s=None if deadline is None else arrival + deadline,
                   allowed_sites=allowed, origin=origin, min_gpus=min_gpus,
                   max_gpus=max_gpus, serial_share=scaling)


def _work_range(t: Table) -> tuple[float, float]:
    """``work_gpu_h = [min, max]`` reference-GPU hours with ``1e-6 <= min <= max <= 1e12``
    (a drawn work is rounded to 6 decimals: a smaller one would be 0 GPU-h)."""
    work = t.raw("work_gpu_h")
    if (not isinstance(work, list) or len(work) != 2
            or not all(isinstance(w, int | float) and not isinstance(w, bool)
                       and finite_float(w) is not None for w in work)
            or not GENERATED_WORK_GPU_H[0] <= work[0] <= work[1] <= GENERATED_WORK_GPU_H[1]):
        raise ConfigError(f"{t.where('work_gpu_h')}: expected [min, max] GPU-hours with "
                          f"{GENERATED_WORK_GPU_H[0]:g} <= min <= max <= "
                          f"{GENERATED_WORK_GPU_H[1]:g} (drawn works are rounded to 6 "
                          f"decimals), got {shown(work)}")
    return float(work[0]), float(work[1])


def _parse_generator(gt: Table, names: tuple[str, ...], horizon_s: float) -> GeneratorSpec:
    from greenhop.model.presets import DEFAULT_PRESET, checkpoint_bytes

    count = gt.number("count", lo=1, hi=MAX_GENERATED_JOBS, integer=True)
    arrival = gt.string("arrival", "poisson", choices=("poisson", "uniform"))
    until = gt.duration("until", horizon_s * 0.8, lo=0, lo_open=True)
    if until > horizon_s:
        raise ConfigError(f"{gt.where('until')}: arrivals must end within the horizon "
                          f"({format_duration(horizon_s)}), got {format_duration(until)}")
    models = []
    for mt in gt.tables("models"):
        mname = mt.string("name")
        if mt.has("checkpoint"):
            ck = mt.size("checkpoint", lo=0, lo_open=True)
        else:
            params = mt.number("params", lo=0, lo_open=True)
            preset = mt.string("preset", DEFAULT_PRESET)
            try:
                ck = float(checkpoint_bytes(params, preset))
            except ConfigError as exc:
                raise ConfigError(f"{mt.where('preset')}: {exc}") from None
        weight = mt.number("weight", 1.0, lo=0, lo_open=True)
        m_gpus = mt.number("gpus", None, lo=1, integer=True)
        m_work = _work_range(mt) if mt.has("work_gpu_h") else None
        models.append(ModelMix(mname, ck, weight, m_gpus, m_work))
        mt.done()
    if not models:
        raise ConfigError(f"{gt.where('models')}: the generator needs at least one model")
    work = _work_range(gt)
    gpus = gt.raw("gpus", [1])
    if (not isinstance(gpus, list) or not gpus
            or not all(isinstance(g, int) and not isinstance(g, bool) and g >= 1 for g in gpus)):
        raise ConfigError(f"{gt.where('gpus')}: expected a list of whole numbers >= 1, "
                          f"got {shown(gpus)}")
    gw = gt.raw("gpu_weights", [1.0] * len(gpus))
    if (not isinstance(gw, list) or len(gw) != len(gpus)
            or not all(isinstance(w, int | float) and not isinstance(w, bool)
                       and finite_float(w) is not None and w >= 0 for w in gw)
            or not (finite_float(sum(gw)) or 0) > 0):  # the weights are normalised by their sum
        raise ConfigError(f"{gt.where('gpu_weights')}: expected {len(gpus)} finite, "
                          f"non-negative weights with a positive, finite sum, got {shown(gw)}")
    mt = gt.table("mobility", None)
    mob: list[tuple[str, float]] = []
    if mt is None:
        mob = [("migratable", 1.0)]
    else:
        for m in MOBILITY:
            w = mt.number(m, 0.0, lo=0, hi=1)
            if w > 0:
                mob.append((m, w))
        mt.done()
        total = sum(w for _, w in mob)
        if abs(total - 1.0) > 1e-9:
            parts = " + ".join(f"{m} {w:g}" for m, w in mob) or "nothing"
            raise ConfigError(f"{mt.path}: the shares of jobs per mobility must sum to 1, "
                              f"got {total:g} ({parts})")
    share = gt.number("partial_share", 0.5, lo=0, lo_open=True, hi=0.999)
    deadline_factor = gt.number("deadline_factor", 0.0, lo=0)
    if 0 < deadline_factor < 1:
        raise ConfigError(f"{gt.where('deadline_factor')}: a deadline factor below 1 can never "
                          f"be met; use 0 (no deadline) or >= 1, got {deadline_factor!r}")
    origins = tuple(gt.strings("origins", list(names), unique=True))
    if not origins:
        raise ConfigError(f"{gt.where('origins')}: give at least one site jobs arrive at "
                          "(or leave the key out: every site)")
    for i, o in enumerate(origins):
        if o not in names:
            raise ConfigError(f"{gt.where('origins')}[{i}]: unknown site '{o}'")
    elastic_max = gt.number("max_gpus", 0, lo=0, integer=True)
    scaling = gt.number("scaling", None, lo=0, hi=0.99)
    gt.done()
    return GeneratorSpec(count, arrival, until, tuple(models), work,
                         tuple(gpus), tuple(float(w) for w in gw), tuple(mob), share,
                         deadline_factor, origins, elastic_max, scaling)


def generate_jobs(scenario: Scenario) -> list[JobSpec]:
    """Draw the generator's jobs with ``numpy.random.default_rng(seed)`` (deterministic)."""
    g = scenario.generator
    assert g is not None
    rng = np.random.default_rng(scenario.seed)
    if g.arrival == "poisson":
        gaps = rng.exponential(g.until_s / g.count, size=g.count)
        arrivals = np.cumsum(gaps)
        arrivals = arrivals * min(1.0, (g.until_s * 0.999) / max(arrivals[-1], 1e-9))
    else:
        arrivals = np.sort(rng.uniform(0, g.until_s, size=g.count))
    mw = np.array([m.weight for m in g.models])
    model_idx = rng.choice(len(g.models), size=g.count, p=mw / mw.sum())
    lo, hi = g.work_gpu_h
    log_work = rng.uniform(np.log(lo), np.log(hi), size=g.count)
    work = np.exp(log_work)
    # A model with its own work range maps the same uniform draw onto its range.
    frac = (log_work - np.log(lo)) / np.log(hi / lo) if hi > lo else np.zeros(g.count)
    for k, m in enumerate(g.models):
        if m.work_gpu_h is not None:
            sel = model_idx == k
            mlo, mhi = np.log(m.work_gpu_h[0]), np.log(m.work_gpu_h[1])
            work[sel] = np.exp(mlo + frac[sel] * (mhi - mlo))
    gw = np.array(g.gpu_weights)
    gpus = np.array(g.gpus)[rng.choice(len(g.gpus), size=g.count, p=gw / gw.sum())]
    mob_w = np.array([w for _, w in g.mobility])
    mob = rng.choice(len(g.mobility), size=g.count, p=mob_w / mob_w.sum())
    site_by_name = {s.name: s for s in scenario.sites}
    slots = np.array([site_by_name[o].spec.gpu_slots for o in g.origins], dtype=float)
    origin_idx = rng.choice(len(g.origins), size=g.count, p=slots / slots.sum())
    # Models with a fixed GPU count arrive at a site with enough slots: one more draw per
    # job, taken last so that scenarios without such models draw exactly as before.
    redraw = rng.random(g.count) if any(m.gpus is not None for m in g.models) else None
    jobs = []
    width = len(str(g.count))
    for i in range(g.count):
        origin = g.origins[origin_idx[i]]
        model = g.models[model_idx[i]]
        wanted = model.gpus if model.gpus is not None else gpus[i]
        if redraw is not None and model.gpus is not None and \
                site_by_name[origin].spec.gpu_slots < model.gpus:
            fits = slots >= model.gpus
            if fits.any():
                cum = np.cumsum(np.where(fits, slots, 0.0))
                origin = g.origins[int(np.searchsorted(cum, redraw[i] * cum[-1], "right"))]
        n_gpu = int(min(wanted, site_by_name[origin].spec.gpu_slots))
        mobility = g.mobility[mob[i]][0]
        share = g.partial_share if mobility == "partial" else 1.0
        deadline = None
        if g.deadline_factor > 0:
            ideal_s = work[i] * 3600.0 / (n_gpu * site_by_name[origin].throughput)
            deadline = float(arrivals[i] + g.deadline_factor * ideal_s)
        # Elastic (generator max_gpus > 0, not partial): 1 .. max_gpus, within the origin.
        hi = min(g.max_gpus, site_by_name[origin].spec.gpu_slots)
        elastic = g.max_gpus > 0 and mobility != "partial"
        jobs.append(JobSpec(
            name=f"job-{i:0{width}d}", arrival_s=float(round(arrivals[i], 3)),
            work_gpu_h=float(round(work[i], 6)),
            checkpoint_bytes=model.checkpoint_bytes, gpus=max(n_gpu, 1),
            mobility=mobility, migratable_share=share, deadline_s=deadline, origin=origin,
            min_gpus=1 if elastic else None,
            max_gpus=max(hi, n_gpu, 1) if elastic else None,
            serial_share=g.scaling if elastic else None))
    return jobs
