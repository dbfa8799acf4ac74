"""``energy-greedy``: the purely energy-driven strategy.

When a running job's site no longer covers it with surplus, move it to the site
with the greatest surplus headroom now, if that site offers it more surplus than
it gets where it is. No feasibility check, no window estimate, no hysteresis:
the baseline the paper's feasibility-aware policy is compared against.
"""

from __future__ import annotations

from greenhop.core.observation import Action, Observation
from greenhop.policies.base import POLICIES, Capabilities, PolicyBase
from greenhop.policies.common_moves import greedy_moves


@POLICIES.register("energy-greedy")
class EnergyGreedyPolicy(PolicyBase):
    """Move each job that lacks surplus to wherever surplus is greatest now."""

    name = "energy-greedy"
    summary = "moves a job to the site with the most surplus headroom now, ignoring its cost"
    capabilities = Capabilities(migrates=True)

    def decide(self, observation: Observation) -> list[Action]:
        # The loop is shared with the policies that filter its moves (common_moves).
        return list(greedy_moves(observation))
