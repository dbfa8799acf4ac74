"""The fleet core shared by the simulator and the live controller.

One piece of code owns the fleet's state (jobs, GPU slots, batteries), admits and
applies policy actions, builds the past-only Observation, routes transfers and shares
links, and books per-step energy and progress. The simulator drives it with modelled
phase durations; the live controller with measured ones. See ``docs/design.md``.
"""
