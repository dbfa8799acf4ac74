"""``oracle-window``: the feasibility-aware rule fed the **true future** window.

**Not a deployable policy.** It reads each site's true remaining surplus window,
which no one knows at decision time: the simulator computes it from the actual
traces (the whole future of the run). It exists for one comparison only: it is the
ceiling of the feasibility rule, what ``feasibility-aware`` / ``forecast-feasibility``
would achieve with a perfect window forecast, so that the share of the gap between
the historical estimate and perfect foresight that a forecaster closes can be
measured (``oracle_gap_closed_pct``, docs/simulator.md).

The truth does **not** travel in the :class:`~greenhop.core.observation.Observation`
(whose history still refuses anything after now, so the leakage guard protects every
other policy). It comes through a separate, explicitly named channel: a policy that
declares ``sees_future = True`` is handed a :class:`TrueWindowSource` by the mechanism
(:meth:`OracleWindowPolicy.bind_true_windows`) before the run. A mechanism without
one, such as the live orchestrator, cannot run it: ``decide`` raises ``ConfigError``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.observation import Observation
from greenhop.policies.base import POLICIES, Capabilities
from greenhop.policies.feasibility_aware import FeasibilityAwarePolicy


class TrueWindowSource(Protocol):
    """The true remaining window of every site at a step [s] (0 where no window is open):
    future knowledge, given only to policies that declare ``sees_future``."""

    def remaining_s(self, step: int) -> np.ndarray: ...


class TrueWindowEstimator:
    """A window 'estimate' that is the truth, read from a :class:`TrueWindowSource`."""

    def __init__(self) -> None:
        self.source: TrueWindowSource | None = None

    def estimate(self, observation: Observation) -> np.ndarray:
        if self.source is None:
            raise ConfigError(
                "oracle-window sees the future and runs only in the simulator, which hands it "
                "the true windows (bind_true_windows); use feasibility-aware or "
                "forecast-feasibility elsewhere")
        return np.asarray(self.source.remaining_s(observation.step), dtype=float)


@POLICIES.register("oracle-window")
class OracleWindowPolicy(FeasibilityAwarePolicy):
    """``feasibility-aware`` fed the true remaining window: a ceiling for comparison only.

    Takes the parameters of
    :class:`~greenhop.policies.feasibility_aware.FeasibilityAwarePolicy` except
    ``estimator``. It sees the future (see the module docstring): never deploy it.
    """

    name = "oracle-window"
    summary = ("feasibility-aware on the true future window (a ceiling for comparison; "
               "simulator only)")
    capabilities = Capabilities(migrates=True, sees_future=True)
    use_observation_forecast = False

    def __init__(self, **kwargs) -> None:
        if "estimator" in kwargs:
            raise ConfigError("oracle-window: the window is the true one; use "
                              "feasibility-aware to pass an estimator")
        self._truth = TrueWindowEstimator()
        super().__init__(estimator=self._truth, **kwargs)

    def bind_true_windows(self, source: TrueWindowSource) -> None:
        """Receive the true remaining windows (the simulator's explicit future channel)."""
        self._truth.source = source
