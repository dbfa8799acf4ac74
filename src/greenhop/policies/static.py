"""``static``: never migrates; every job runs at its arrival site (the baseline)."""

from __future__ import annotations

from greenhop.core.observation import Action, Observation
from greenhop.policies.base import POLICIES


@POLICIES.register("static")
class StaticPolicy:
    """Never acts: jobs start at their arrival site when slots are free and stay there."""

    name = "static"
    passive = True
    """It never acts on what it sees, so a mechanism may skip calling :meth:`decide`."""

    def decide(self, observation: Observation) -> list[Action]:
        return []
