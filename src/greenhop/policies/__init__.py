"""Scheduling policies: ``decide(observation) -> list[Action]``; pure, no I/O, chosen by name.

Registered: ``static``, ``energy-greedy``, ``feasibility-aware``, ``threshold``,
``forecast-feasibility`` (feasibility-aware on a quantile of a window forecast), the
planner and the field's published rules, and two policies that see the future, for
comparison in the simulator, not deployable: ``oracle-window`` (feasibility-aware on the
true future window) and ``oracle-planner`` (horizon-planner on the true future surplus and
windows).
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
    oracle_planner,
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
