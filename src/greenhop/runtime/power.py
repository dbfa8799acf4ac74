"""Where a site's power comes from: the :class:`PowerSource` seam.

The controller asks a power source for each site's renewable power [W] at a
simulated step. :class:`TraceReplaySource` replays the scenario's real traces
(the same arrays the simulator uses); a metered source (a site's inverter or
PDU readings) implements the same two methods and replaces it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from greenhop.core.errors import ConfigError


@runtime_checkable
class PowerSource(Protocol):
    """Renewable power per site, read one simulated step at a time."""

    n_sites: int

    def renewable_w(self, step: int) -> np.ndarray:
        """Renewable power of every site at ``step`` [W], shape ``[S]``."""
        ...


class TraceReplaySource:
    """Replays ``renewable_w`` (``[H+T, S]`` [W], row ``history_steps + k`` is step ``k``).

    The same rows the simulator reads, so a live run and a simulation see the same
    surplus at the same simulated step; the controller's clock (scaled by
    ``--time-scale``) decides when a step is read.
    """

    def __init__(self, renewable_w: np.ndarray, history_steps: int) -> None:
        self._data = np.asarray(renewable_w, dtype=float)
        self.history_steps = int(history_steps)
        self.n_sites = int(self._data.shape[1])

    def renewable_w(self, step: int) -> np.ndarray:
        row = self.history_steps + int(step)
        if not 0 <= row < self._data.shape[0]:
            raise ConfigError(
                f"power source: step {step} is outside the replayed trace (steps "
                f"{-self.history_steps} .. {self._data.shape[0] - self.history_steps - 1}); "
                "shorten the scenario's horizon")
        return self._data[row].copy()
