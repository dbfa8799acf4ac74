"""Which actions a mechanism accepts: the admission rules of the simulator and the
live orchestrator, in one place so both judge a policy's actions alike.

A policy may answer anything; the mechanism applies only what these rules admit
and counts the rest as rejected. ``inputs`` is the fleet's
:class:`~greenhop.fleet.inputs.FleetInputs` (tests may pass any object with the same
arrays): ``slots [S]``, ``job_gpus [J]``, ``job_g_move [J]`` (GPUs
that move with a job), ``job_mobility [J]``, ``job_allowed [J, S]``,
``job_origin [J]`` (-1: any) and ``network.hops [S, S]``. ``phase``, ``site``
and ``occ`` (occupied GPU slots per site) are the mechanism's current state.

A job's GPU count is fleet state once elastic jobs may scale: ``g_move`` / ``gpus`` (the
job's current counts, from :class:`~greenhop.fleet.state.FleetState`) replace the fixed
``job_g_move`` / ``job_gpus`` of ``inputs`` where given.

An operator narrows what is admitted (``drained [S]``, ``pinned [J]``, both bool, from
:class:`~greenhop.fleet.state.FleetState`; ``None``: no operator rule): nothing is placed
or migrated onto a drained site, and a pinned job is never migrated or suspended.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import (
    PINNED,
    QUEUED,
    RUNNING,
    SUSPENDED,
    starts_at_origin_only,
)


def resolve(key, index: dict[str, int], count: int) -> int:
    """Index of the job or site named by ``key`` (a name or an index); -1 when unknown.

    An index is a whole-number type (``int``, a numpy integer): a float (``0.5``, even
    ``1.0``), a bool or anything else is no index and -1, so the action naming it is
    rejected rather than acting on a truncated index."""
    if isinstance(key, str):
        return index.get(key, -1)
    if isinstance(key, bool | np.bool_) or not isinstance(key, int | np.integer):
        return -1
    i = int(key)
    return i if 0 <= i < count else -1


def fits(inputs, occ: np.ndarray, site: int, gpus: int) -> bool:
    """Whether ``gpus`` more GPUs are free at ``site``."""
    return bool(inputs.slots[site] - occ[site] >= gpus)


def operator_allows(j: int, d: int = -1, *, drained=None, pinned=None) -> bool:
    """The operator's rules: job ``j`` is not pinned and site ``d`` (-1: none) not drained."""
    if pinned is not None and j >= 0 and pinned[j]:
        return False
    return not (drained is not None and d >= 0 and drained[d])


def can_migrate(inputs, phase, site, occ, j: int, d: int, *, drained=None,
                pinned=None, g_move=None) -> bool:
    """Migrate: a running or suspended, not pinned job, to another allowed, not drained
    site that the WAN reaches and that has free slots for the GPUs that move."""
    moving = inputs.job_g_move if g_move is None else g_move
    return bool(
        j >= 0 and d >= 0 and phase[j] in (RUNNING, SUSPENDED)
        and inputs.job_mobility[j] != PINNED and inputs.job_allowed[j, d]
        and d != site[j] and inputs.network.hops[site[j], d] > 0
        and fits(inputs, occ, d, moving[j])
        and operator_allows(j, d, drained=drained, pinned=pinned)
    )


def can_suspend(phase, j: int, *, pinned=None) -> bool:
    """Suspend: a running job the operator has not pinned."""
    return bool(j >= 0 and phase[j] == RUNNING and operator_allows(j, pinned=pinned))


def can_resume(phase, j: int, *, site=None, closed=None) -> bool:
    """Resume: a suspended job (at its own site), unless a demand-response event holds that
    site (``closed [S]`` bool, with ``site [J]``)."""
    if closed is not None and site is not None and j >= 0 and closed[site[j]]:
        return False
    return bool(j >= 0 and phase[j] == SUSPENDED)


def can_place(inputs, phase, occ, j: int, s: int, *, drained=None, gpus=None) -> bool:
    """Place: a queued job on an allowed, not drained site with free slots for all its
    GPUs; a pinned or partial job with an origin only there (it starts elsewhere only
    when the operator drains its origin, :func:`arrival_site`)."""
    count = inputs.job_gpus if gpus is None else gpus
    origin = int(inputs.job_origin[j]) if j >= 0 else -1
    return bool(
        j >= 0 and s >= 0 and phase[j] == QUEUED and inputs.job_allowed[j, s]
        and (s == origin or not starts_at_origin_only(int(inputs.job_mobility[j]), origin))
        and fits(inputs, occ, s, count[j])
        and operator_allows(-1, s, drained=drained)
    )


def can_scale(inputs, phase, site, occ, j: int, g: int, *, gpus, min_gpus, max_gpus,
              drained=None) -> bool:
    """Scale: a running elastic job (``min_gpus[j] < max_gpus[j]``) to a different count
    ``g`` within ``[min_gpus[j], max_gpus[j]]`` at its own site, with free slots there for
    an increase; a drained site admits decreases only. Operator pins do not stop a
    rescale (it does not move the job)."""
    if j < 0 or phase[j] != RUNNING or not min_gpus[j] < max_gpus[j]:
        return False
    if (isinstance(g, bool) or not isinstance(g, int | np.integer)
            or not min_gpus[j] <= g <= max_gpus[j]):
        return False
    extra = int(g) - int(gpus[j])
    if extra == 0:
        return False
    s = int(site[j])
    if extra > 0:
        return fits(inputs, occ, s, extra) and operator_allows(-1, s, drained=drained)
    return True


def arrival_site(inputs, occ: np.ndarray, j: int, *, drained=None, held=None) -> int:
    """Where a queued job starts by default: its origin, or else the allowed site with
    the most free slots (the first such site on ties). An origin the operator drained
    (``drained [S]``) or a demand-response event holds (``held [S]``) is passed over for
    the allowed, open site with the most free slots; -1 when there is none. A pinned or
    partial job whose origin is only held waits (-1): the event ends within hours, and
    such a job starts away from home only when the operator drains it."""
    closed = np.zeros(len(inputs.slots), dtype=bool)
    for mask in (drained, held):
        if mask is not None:
            closed = closed | np.asarray(mask, dtype=bool)
    s = int(inputs.job_origin[j])
    if s >= 0 and not closed[s]:
        return s
    if s >= 0 and starts_at_origin_only(int(inputs.job_mobility[j]), s) \
            and not (drained is not None and drained[s]):
        return -1
    ok = np.asarray(inputs.job_allowed[j], dtype=bool) & ~closed
    if not ok.any():
        return -1
    return int(np.argmax(np.where(ok, inputs.slots - occ, -1)))
