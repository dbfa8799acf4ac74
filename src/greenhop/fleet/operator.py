"""An operator's actions on a fleet: drain or undrain a site, pin or unpin a job, pause or
resume the policy.

:func:`apply_operator` turns one action into the fleet state's operator fields
(:class:`~greenhop.fleet.state.FleetState` ``drained``, ``pinned``, ``paused``), which the
admission rules (:mod:`greenhop.fleet.admission`) and the decision cadence honour.
:func:`drain_moves` is what a drain asks of the jobs already on a drained site: each
goes where :class:`~greenhop.fleet.evacuate.Evacuation` finds it a feasible place; a job
with no feasible destination stays. Both mechanisms (simulator and live controller) can drive these.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.observation import PINNED, RUNNING, Migrate, Observation
from greenhop.fleet.evacuate import Evacuation
from greenhop.fleet.state import FleetState
from greenhop.policies.base import move_gpus

#: operator actions: kind -> what it targets (``site``, ``job`` or nothing)
OPERATOR_KINDS = {"drain": "site", "undrain": "site", "pin": "job", "unpin": "job",
                  "pause": None, "resume": None}


def apply_operator(state: FleetState, kind: str, target: int | None) -> bool:
    """Apply one action to ``state`` (``target``: the site or job index, ``None`` for
    pause and resume); returns whether anything changed."""
    if kind not in OPERATOR_KINDS:
        raise ConfigError(f"operator action {kind!r}: expected one of "
                          f"{', '.join(OPERATOR_KINDS)}")
    if kind == "pause" or kind == "resume":
        before = state.paused
        state.paused = kind == "pause"
        return before != state.paused
    arr = state.drained if OPERATOR_KINDS[kind] == "site" else state.pinned
    if target is None or not 0 <= int(target) < arr.size:
        raise ConfigError(f"operator action {kind}: no {OPERATOR_KINDS[kind]} number {target}")
    before = bool(arr[int(target)])
    arr[int(target)] = kind in ("drain", "pin")
    return before != bool(arr[int(target)])


def drain_moves(obs: Observation, drained: np.ndarray, pinned: np.ndarray,
                window_s: np.ndarray, *, alpha: float) -> list[Migrate]:
    """Moves that take the running jobs off drained sites (see the module docstring).

    Args:
        obs: the Observation of the step.
        drained: ``[S]`` bool; pinned: ``[J]`` bool (the operator's fields).
        window_s: each site's estimated remaining surplus window [s] (0: none open).
        alpha: share of the window the downtime may use [-].
    """
    drained = np.asarray(drained, dtype=bool)
    if not drained.any():
        return []
    site = obs.job_site
    cand = np.flatnonzero((obs.job_phase == RUNNING) & (obs.job_mobility != PINNED)
                          & ~np.asarray(pinned, dtype=bool))
    cand = cand[drained[site[cand]]]
    if cand.size == 0:
        return []
    moves = Evacuation(obs, drained, window_s, alpha=alpha)
    out: list[Migrate] = []
    # Longest remaining work first, as feasibility-aware orders its candidates.
    for j in cand[np.argsort(-obs.job_remaining_gpu_s[cand], kind="stable")].tolist():
        d = moves.destination(j, int(site[j]), int(move_gpus(obs, np.array([j]))[0]))
        if d is not None:
            out.append(Migrate(j, d))
    return out
