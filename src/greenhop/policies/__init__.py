"""Scheduling policies: decide(observation) -> actions; pure, no I/O."""
