"""The admission rules both mechanisms apply to a policy's actions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from greenhop.core.observation import MIGRATING, PINNED, QUEUED, RUNNING, SUSPENDED
from greenhop.fleet import admission


def inputs(**over):
    """Three sites (0-1 linked, 2 unreachable), three jobs."""
    hops = np.array([[0, 1, -1], [1, 0, -1], [-1, -1, 0]])
    base = dict(
        slots=np.array([4, 4, 4]), job_gpus=np.array([2, 4, 1]), job_g_move=np.array([2, 4, 1]),
        job_mobility=np.array([0, 0, PINNED]), job_allowed=np.ones((3, 3), dtype=bool),
        job_origin=np.array([0, -1, 1]), network=SimpleNamespace(hops=hops),
    )
    base.update(over)
    return SimpleNamespace(**base)


def test_resolve_by_name_or_index() -> None:
    index = {"a": 0, "b": 1}
    assert admission.resolve("b", index, 2) == 1 and admission.resolve(1, index, 2) == 1
    assert admission.resolve("zz", index, 2) == -1 and admission.resolve(5, index, 2) == -1
    assert admission.resolve(-1, index, 2) == -1


def test_migrate_needs_a_movable_job_a_route_and_free_slots() -> None:
    inp = inputs()
    phase = np.array([RUNNING, SUSPENDED, RUNNING])
    site = np.array([0, 0, 1])
    occ = np.array([6, 0, 0])
    assert admission.can_migrate(inp, phase, site, occ, 0, 1)
    assert admission.can_migrate(inp, phase, site, occ, 1, 1)       # suspended jobs move too
    assert not admission.can_migrate(inp, phase, site, occ, 0, 0)   # to where it is
    assert not admission.can_migrate(inp, phase, site, occ, 0, 2)   # no route
    assert not admission.can_migrate(inp, phase, site, occ, 2, 0)   # pinned
    assert not admission.can_migrate(inp, phase, site, np.array([0, 3, 0]), 0, 1)  # 1 slot free
    assert not admission.can_migrate(inp, np.array([MIGRATING, 0, 0]), site, occ, 0, 1)
    forbidden = inputs(job_allowed=np.array([[1, 0, 1], [1, 1, 1], [1, 1, 1]], dtype=bool))
    assert not admission.can_migrate(forbidden, phase, site, occ, 0, 1)
    assert not admission.can_migrate(inp, phase, site, occ, -1, 1)


def test_suspend_resume_and_place() -> None:
    inp = inputs()
    phase = np.array([RUNNING, SUSPENDED, QUEUED])
    assert admission.can_suspend(phase, 0) and not admission.can_suspend(phase, 1)
    assert admission.can_resume(phase, 1) and not admission.can_resume(phase, 0)
    occ = np.array([0, 4, 0])
    movable = inputs(job_mobility=np.array([0, 0, 0]))
    assert admission.can_place(movable, phase, occ, 2, 0)
    assert not admission.can_place(movable, phase, occ, 2, 1)  # site full
    assert not admission.can_place(movable, phase, occ, 0, 0)  # not queued
    # job 2 is pinned at its origin, site 1: it starts nowhere else
    assert not admission.can_place(inp, phase, occ, 2, 0)
    assert admission.can_place(inp, phase, np.array([0, 0, 0]), 2, 1)


def test_arrival_site_is_the_origin_or_the_site_with_most_free_slots() -> None:
    inp = inputs()
    occ = np.array([1, 3, 0])
    assert admission.arrival_site(inp, occ, 0) == 0
    assert admission.arrival_site(inp, occ, 1) == 2
    assert admission.arrival_site(inp, np.array([0, 0, 0]), 1) == 0   # ties: first site
