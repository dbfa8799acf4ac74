"""Which actions a mechanism accepts: the admission rules of the simulator and the
live orchestrator, in one place so both judge a policy's actions alike.

A policy may answer anything; the mechanism applies only what these rules admit
and counts the rest as rejected. ``inputs`` is the fleet's
:class:`~greenhop.fleet.inputs.FleetInputs` (tests may pass any object with the same
arrays): ``slots [S]``, ``job_gpus [J]``, ``job_g_move [J]`` (GPUs
that move with a job), ``job_mobility [J]``, ``job_allowed [J, S]``,
``job_origin [J]`` (-1: any) and ``network.hops [S, S]``. ``phase``, ``site``
and ``occ`` (occupied GPU slots per site) are the mechanism's current state.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import PINNED, QUEUED, RUNNING, SUSPENDED


def resolve(key, index: dict[str, int], count: int) -> int:
    """Index of the job or site named by ``key`` (a name or an index); -1 when unknown."""
    if isinstance(key, str):
        return index.get(key, -1)
    i = int(key)
    return i if 0 <= i < count else -1


def fits(inputs, occ: np.ndarray, site: int, gpus: int) -> bool:
    """Whether ``gpus`` more GPUs are free at ``site``."""
    return bool(inputs.slots[site] - occ[site] >= gpus)


def can_migrate(inputs, phase, site, occ, j: int, d: int) -> bool:
    """Migrate: a running or suspended, not pinned job, to another allowed site that the
    WAN reaches and that has free slots for the GPUs that move."""
    return bool(
        j >= 0 and d >= 0 and phase[j] in (RUNNING, SUSPENDED)
        and inputs.job_mobility[j] != PINNED and inputs.job_allowed[j, d]
        and d != site[j] and inputs.network.hops[site[j], d] > 0
        and fits(inputs, occ, d, inputs.job_g_move[j])
    )


def can_suspend(phase, j: int) -> bool:
    """Suspend: a running job."""
    return bool(j >= 0 and phase[j] == RUNNING)


def can_resume(phase, j: int) -> bool:
    """Resume: a suspended job (at its own site)."""
    return bool(j >= 0 and phase[j] == SUSPENDED)


def can_place(inputs, phase, occ, j: int, s: int) -> bool:
    """Place: a queued job on an allowed site with free slots for all its GPUs."""
    return bool(
        j >= 0 and s >= 0 and phase[j] == QUEUED and inputs.job_allowed[j, s]
        and fits(inputs, occ, s, inputs.job_gpus[j])
    )


def arrival_site(inputs, occ: np.ndarray, j: int) -> int:
    """Where a queued job starts by default: its origin, or else the allowed site with
    the most free slots (the first such site on ties)."""
    s = int(inputs.job_origin[j])
    if s < 0:
        s = int(np.argmax(np.where(inputs.job_allowed[j], inputs.slots - occ, -1)))
    return s
