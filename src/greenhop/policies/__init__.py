"""Scheduling policies: ``decide(observation) -> list[Action]``; pure, no I/O, chosen by name.

Registered: ``static``, ``energy-greedy``, ``feasibility-aware``, ``threshold``,
``forecast-feasibility`` (feasibility-aware on a quantile of a window forecast) and
``oracle-window`` (feasibility-aware on the true future window: a ceiling for comparison
in the simulator, not deployable).
"""

from greenhop.policies import (  # noqa: F401
    carbonscaler,
    cost_aware_greedy,
    curtail_threshold,
    energy_greedy,
    feasibility_aware,
    forecast_feasibility,
    horizon_planner,
    network_aware,
    oracle_window,
    static,
    threshold,
    wait_awhile,
)
from greenhop.policies.base import POLICIES, Capabilities, Policy, PolicyBase, make_policy
from greenhop.policies.window_estimate import (
    HistoricalWindowEstimator,
    WindowEstimator,
    window_estimate_s,
)

__all__ = [
    "POLICIES",
    "Capabilities",
    "HistoricalWindowEstimator",
    "Policy",
    "PolicyBase",
    "WindowEstimator",
    "make_policy",
    "window_estimate_s",
]
