"""``cost-aware-greedy``: energy-greedy that moves only when the move pays back.

The fair baseline for the paper's feasibility-aware rule: the same destination choice
as ``energy-greedy`` (the most surplus headroom now), restricted to destinations where
the migration's energy is recovered inside the destination's estimated window. With
``saved_w`` the grid power the move saves once the job trains at the destination (the
part of the job the source does not cover, minus the part the destination would not
cover) and ``E_mig`` the migration energy of the feasibility model (WAN bits x energy per
bit + idle power x downtime, :func:`greenhop.model.evaluate`), a move is taken when

    saved_w x (window_s - downtime_s) > E_mig

i.e. the model's ``justified`` test (``payback < window - downtime``): nothing is saved
while the job is down. There is no time-feasibility (alpha) test and no hysteresis: the
energy test alone, so a comparison with ``feasibility-aware`` isolates what the time
test adds. The window is the Observation's forecast when a mechanism fills
``window_forecast_s``, else the past-only time-of-day estimate
(:class:`~greenhop.policies.window_estimate.HistoricalWindowEstimator`).
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import Action, Observation
from greenhop.policies.base import (
    POLICIES,
    Capabilities,
    PolicyBase,
    job_power_at,
)
from greenhop.policies.common_moves import MoveFilter, StepState, evaluate_moves, greedy_moves
from greenhop.policies.window_estimate import (
    WindowEstimator,
    estimator_or_default,
    window_estimate_s,
)


class PaybackFilter(MoveFilter):
    """Keeps the destinations where the move's energy pays back inside the window."""

    def __init__(self, window_s: np.ndarray) -> None:
        self.window_s = window_s

    def accept(self, obs: Observation, job: int, src: int, dests: np.ndarray,
               p_here_w: float, local_w: float, state: StepState) -> np.ndarray:
        window = self.window_s[dests]
        p_dest = job_power_at(obs, np.full(dests.size, job), dests)
        grid_here = p_here_w - local_w
        grid_there = np.maximum(p_dest - np.maximum(state.head_w[dests], 0.0), 0.0)
        saved = grid_here - grid_there
        ok = (window > 0) & (saved > 0)
        if not ok.any():
            return ok
        f = evaluate_moves(obs, np.full(dests.size, job), np.full(dests.size, src), dests,
                           window, saved, extra=state.extra)
        return ok & f.justified


@POLICIES.register("cost-aware-greedy")
class CostAwareGreedyPolicy(PolicyBase):
    """Energy-greedy's move, taken only when its energy pays back within the window.

    Args:
        estimator: remaining-window estimator when the Observation carries no forecast
            (default: historical mean by time of day).
        window_threshold_w: surplus threshold of a window for the default estimator [W]
            (``None``: the Observation's ``window_threshold_w``).
    """

    name = "cost-aware-greedy"
    summary = ("energy-greedy's move, taken only when its migration energy pays back within "
               "the destination's estimated window")
    source = "greenhop (payback test of the feasibility model, docs/design.md section 3)"
    capabilities = Capabilities(migrates=True)

    def __init__(self, estimator: WindowEstimator | None = None,
                 window_threshold_w: float | None = None) -> None:
        self.estimator = estimator_or_default(self.name, estimator, window_threshold_w)

    def decide(self, observation: Observation) -> list[Action]:
        # Estimate every step so the historical estimator's record stays current.
        window = window_estimate_s(observation, self.estimator)
        return list(greedy_moves(observation, PaybackFilter(np.asarray(window, dtype=float))))
