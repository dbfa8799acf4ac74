"""The trace-driven fleet simulator: virtual clock, energy accounting, metrics, report.

``simulate(scenario)`` runs every policy of a scenario and returns a
:class:`SimulationResult` whose ``.metrics`` is a DataFrame (one row per policy).
"""

from greenhop.sim.api import SimulationResult, simulate
from greenhop.sim.scenario import Scenario, default_scenario_path, load_scenario

__all__ = ["Scenario", "SimulationResult", "default_scenario_path", "load_scenario", "simulate"]
