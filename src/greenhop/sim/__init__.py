"""The trace-driven fleet simulator: virtual clock, energy accounting, metrics, report."""
