"""``static``: never migrates; every job runs at its arrival site (the baseline)."""

from __future__ import annotations

from greenhop.core.observation import Action, Observation
from greenhop.policies.base import POLICIES, Capabilities, PolicyBase


@POLICIES.register("static")
class StaticPolicy(PolicyBase):
    """Never acts: jobs start at their arrival site when slots are free and stay there."""

    name = "static"
    summary = "never moves or stops a job; each runs at its arrival site (the baseline)"
    capabilities = Capabilities(passive=True)

    def decide(self, observation: Observation) -> list[Action]:
        return []
