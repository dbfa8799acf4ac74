"""The policy interface and the registry policies are chosen from.

A policy is a plain object with one method, ``decide(observation) -> list[Action]``:
no I/O, no clock, nothing after ``observation.now_s``. It may keep private state
between calls (dwell timers, running statistics), so the mechanism builds a fresh
policy per run with :func:`make_policy`. An optional attribute ``passive = True``
declares that it never acts, so the mechanism may skip the calls.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from greenhop.core.observation import MIGRATING, Action, Observation
from greenhop.core.registry import Registry


@runtime_checkable
class Policy(Protocol):
    """Decides what to do given what is known now."""

    name: str

    def decide(self, observation: Observation) -> list[Action]: ...


POLICIES: Registry[Policy] = Registry("policy")
"""Policies by name: ``POLICIES.create("feasibility-aware", alpha=0.1)``."""


def make_policy(name: str, **params) -> Policy:
    """A fresh policy called ``name``; unknown names and parameters raise ConfigError."""
    from greenhop.core.errors import ConfigError

    factory = POLICIES.get(name)
    try:
        return factory(**params)
    except TypeError as exc:
        raise ConfigError(f"policy '{name}': bad parameters {sorted(params)}: {exc}") from None


def site_power_w(obs: Observation) -> np.ndarray:
    """Facility power of one training GPU at each site [W]: GPU power x PUE."""
    return obs.gpu_power_w * obs.pue


def job_power_at(obs: Observation, jobs: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Facility power [W] the moving part of ``jobs`` would draw at ``sites`` (broadcasts)."""
    share = obs.job_move_bytes[jobs] / obs.job_checkpoint_bytes[jobs]
    return obs.job_gpus[jobs] * share * site_power_w(obs)[sites]


def available_headroom_w(obs: Observation) -> np.ndarray:
    """Headroom per site [W] minus the training power already promised to jobs migrating in."""
    head = np.array(obs.headroom_w, dtype=float)
    moving = np.flatnonzero(obs.job_phase == MIGRATING)
    if moving.size:
        dest = obs.job_dest[moving]
        ok = dest >= 0
        if ok.any():
            incoming = job_power_at(obs, moving[ok], dest[ok])
            head -= np.bincount(dest[ok], weights=incoming, minlength=obs.n_sites)
    return head


def move_gpus(obs: Observation, jobs: np.ndarray) -> np.ndarray:
    """GPUs that move with each job (all of them except for partially migratable jobs)."""
    share = obs.job_move_bytes[jobs] / obs.job_checkpoint_bytes[jobs]
    return np.ceil(obs.job_gpus[jobs] * share - 1e-9).astype(np.int64)
