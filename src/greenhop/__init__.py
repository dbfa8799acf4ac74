"""greenhop: let AI training follow surplus renewable energy across micro-datacenters."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("greenhop")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "simulate"]


def __getattr__(name: str):
    """Lazy top-level API: ``greenhop.simulate`` imports the simulator on first use."""
    if name == "simulate":
        from greenhop.sim import simulate

        return simulate
    raise AttributeError(f"module 'greenhop' has no attribute {name!r}")
