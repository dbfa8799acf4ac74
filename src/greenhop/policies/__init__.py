"""Scheduling policies: ``decide(observation) -> list[Action]``; pure, no I/O, chosen by name.

Registered: ``static``, ``energy-greedy``, ``feasibility-aware``, ``threshold``.
"""

from greenhop.policies import energy_greedy, feasibility_aware, static, threshold  # noqa: F401
from greenhop.policies.base import POLICIES, Policy, make_policy
from greenhop.policies.window_estimate import (
    HistoricalWindowEstimator,
    WindowEstimator,
    window_estimate_s,
)

__all__ = [
    "POLICIES",
    "HistoricalWindowEstimator",
    "Policy",
    "WindowEstimator",
    "make_policy",
    "window_estimate_s",
]
