"""The controller's books in simulated time: the fleet core, fed measured durations.

The :class:`Ledger` is a thin adapter over :class:`~greenhop.fleet.core.FleetCore`, the
same code the simulator drives: state, admission, the Observation, per-step progress
and energy. What differs is where the inputs come from: the renewable power of a step is
*measured* (a :class:`~greenhop.runtime.power.PowerSource`), and a move's save,
transfer and restore durations and bytes are the ones measured on the real processes
(:meth:`Ledger.account`), not modelled. A move that took longer than a step carries its
downtime and energy into the following steps, as in the simulator.

Units: seconds, watts, joules, bytes.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.observation import MIGRATING, Observation
from greenhop.fleet.core import FleetCore
from greenhop.fleet.forecasts import ForecastSpec, LiveWindowForecasts
from greenhop.fleet.inputs import FleetInputs

#: the energy totals of :attr:`Ledger.energy_j` (per site, [J])
FLOWS = ("direct", "charge", "discharge", "grid", "curtailed", "unmet", "demand", "job_load")


def live_forecasts(inputs: FleetInputs, policy, spec: ForecastSpec | None,
                   seed: int = 0) -> LiveWindowForecasts | None:
    """The window forecasts a live run computes for ``policy``: none unless it declares
    ``window_forecasts``; then the scenario's ``[forecast]`` (``spec``, default
    :class:`~greenhop.fleet.forecasts.ForecastSpec`) on the measured surplus."""
    if not policy.capabilities.window_forecasts:
        return None
    return LiveWindowForecasts(inputs, spec if spec is not None else ForecastSpec(), seed)


class Ledger:
    """Simulated-time books of a live run (arrays ``[S]`` per site, ``[J]`` per job).

    Args:
        inputs: the fleet (the CLI hands over the scenario's
            :class:`~greenhop.fleet.inputs.FleetInputs`).
        forecasts: window forecasts for the Observation (:func:`live_forecasts`), computed
            from the power recorded so far, as the simulator's are from the trace.
    """

    def __init__(self, inputs: FleetInputs,
                 forecasts: LiveWindowForecasts | None = None) -> None:
        if inputs.params.on_window_close != "continue":
            raise ConfigError(
                f"on_window_close: live runs count a destination window that closes during a "
                f"move and let the move land; '{inputs.params.on_window_close}' needs an "
                "executor that cancels moves in flight (set on_window_close = 'continue')")
        self.inputs = inputs
        self.forecasts = forecasts
        self.core = FleetCore(inputs)
        self.state = self.core.state
        self.S = self.core.n_sites
        self.J = self.core.n_jobs
        self.T = int(inputs.n_steps)
        self.dt = self.core.dt_s
        self.site_names = tuple(inputs.params.site_names)
        self.job_names = inputs.job_names
        self.next_step = 0
        self.measured: set[int] = set()     # moving jobs whose measured durations are set
        # Demand and job load booked so far [J], step by step (the per-step series are
        # not kept across restarts).
        self.booked_j = {"demand": np.zeros(self.S), "job_load": np.zeros(self.S)}

    # ------------------------------------------------------------ views of the state
    @property
    def phase(self) -> np.ndarray:
        return self.state.phase

    @property
    def site(self) -> np.ndarray:
        return self.state.site

    @property
    def dest(self) -> np.ndarray:
        return self.state.dest

    @property
    def occ(self) -> np.ndarray:
        return self.state.occupied

    @property
    def last_load(self) -> np.ndarray:
        return self.state.last_load_w

    @property
    def soc(self) -> np.ndarray:
        return self.state.soc_j

    @property
    def last_move_s(self) -> np.ndarray:
        return self.state.last_move_s

    @property
    def remaining(self) -> np.ndarray:
        return self.state.remaining_gpu_s

    @property
    def start_s(self) -> np.ndarray:
        return self.state.start_s

    @property
    def finish_s(self) -> np.ndarray:
        return self.state.finish_s

    @property
    def job_energy(self) -> np.ndarray:
        return self.state.job_energy_j

    @property
    def job_down(self) -> np.ndarray:
        return self.state.job_down_s

    @property
    def job_moves(self) -> np.ndarray:
        return self.state.job_moves

    @property
    def counters(self) -> dict[str, float]:
        return self.state.counters

    @property
    def migrations(self) -> list[dict]:
        return self.state.migrations

    @property
    def energy_j(self) -> dict[str, np.ndarray]:
        """Energy per site [J] of the steps booked so far (keys :data:`FLOWS`)."""
        return {**self.core.books.energy_j, **self.booked_j}

    # ------------------------------------------------------------ persistence
    def to_state(self) -> dict:
        """A JSON-ready snapshot (restored by :meth:`load_state`)."""
        books = self.core.books
        power = self.core.power
        seen = power.surplus_w[power.offset:power.offset + power.seen_steps]
        return {
            "fleet": self.state.to_json(), "next_step": self.next_step,
            "measured": sorted(self.measured), "flushed": books.flushed,
            "energy_j": {k: v.tolist() for k, v in books.energy_j.items()},
            "booked_j": {k: v.tolist() for k, v in self.booked_j.items()},
            "surplus_rows": [[i, row.tolist()] for i, row in enumerate(seen)
                             if not np.isnan(row).any()],
            "latest_power": [power.latest_step, power.latest_renewable_w.tolist()],
            # the grid import of every booked step [W]: the demand-response and grid-signal
            # metrics read it per step, after a resume too
            "grid_rows": books.grid_w[:books.flushed].tolist(),
            # the jobs' facility load of every booked step [W]: net-green-loss moves
            "job_load_rows": books.job_load_w[:self.next_step].tolist(),
        }

    def load_state(self, data: dict) -> None:
        """Restore a snapshot of :meth:`to_state`."""
        core = self.core
        books = core.books
        self.state.load_json(data["fleet"])
        self.next_step = int(data["next_step"])
        self.measured = {int(j) for j in data["measured"]}
        books.flushed = int(data["flushed"])
        for k, v in data["energy_j"].items():
            books.energy_j[k][:] = v
        for k, v in data["booked_j"].items():
            self.booked_j[k][:] = v
        power = core.power
        for i, row in data["surplus_rows"]:
            power.surplus_w[power.offset + int(i)] = row
            power.seen_steps = max(power.seen_steps, int(i) + 1)
        rows = data.get("grid_rows")  # absent in snapshots of older versions
        if rows:
            books.grid_w[:len(rows)] = rows
        rows = data.get("job_load_rows")  # absent in snapshots of older versions
        if rows:
            books.job_load_w[:len(rows)] = rows
        step, row = data["latest_power"]
        if step >= 0:
            power.latest_step = int(step)
            power.latest_renewable_w[:] = row
        # Jobs arrive in a fixed order: those that have are a prefix of it.
        core.next_arrival = int((self.state.phase != 0).sum())

    # ------------------------------------------------------------ per step
    def record_power(self, step: int, renewable_w: np.ndarray) -> None:
        """Store the renewable power measured for ``step`` [W]."""
        self.core.see_power(step, np.asarray(renewable_w, dtype=float))

    def arrivals(self, t: int) -> list[int]:
        """Jobs arriving by step ``t`` become queued; returns them."""
        return self.core.arrivals(t)

    def active(self) -> bool:
        """Some job has arrived and is not done (the core's count, as the simulator uses)."""
        return self.state.n_active > 0

    def decides(self, t: int) -> bool:
        """The policy is asked at step ``t`` (its cadence, jobs active, not paused by the
        operator)."""
        return t % self.core.decision_every == 0 and self.active() and not self.state.paused

    def observation(self, t: int) -> Observation:
        """What the policy sees at the start of step ``t`` (the simulator's Observation)."""
        fc = self.forecasts
        if fc is None:
            return self.core.observe(t)
        return self.core.observe(t, window_forecast_q_s=fc.at(t, self.core.power.surplus_w),
                                 quantiles=fc.quantiles)

    def apply(self, actions, t: int) -> list[tuple[str, int, int, int]]:
        """Admit and apply ``actions`` as the simulator does; returns the accepted ones as
        ``(kind, job, src, dst)`` with kind ``migrate | suspend | resume | place``."""
        accepted = self.core.apply(actions, t)
        for _kind, j, _src, _dst in accepted:
            self.measured.discard(j)
        return accepted

    def place_queued(self, t: int) -> list[tuple[str, int, int, int]]:
        """Start queued jobs at their arrival site where slots are free (FIFO)."""
        return self.core.place_queued(t)

    def _set_measured(self, moves: dict[int, dict]) -> None:
        """Give each move that has not had them its measured durations and bytes."""
        for j, m in moves.items():
            if j in self.measured or self.state.phase[j] != MIGRATING:
                continue
            self.core.set_measured_move(
                j, save_s=float(m.get("save_s") or 0.0),
                transfer_s=float(m.get("transfer_s") or 0.0),
                restore_s=float(m.get("restore_s") or 0.0), nbytes=float(m.get("bytes") or 0.0))
            self.measured.add(int(j))

    def finishing(self, t: int, moves: dict[int, dict]) -> list[int]:
        """Jobs whose work completes during step ``t`` given the measured ``moves`` (see
        :meth:`account`); the controller waits for their trainers to finish."""
        self._set_measured(moves)
        return self.core.accounting.finishing(t)

    def account(self, t: int, moves: dict[int, dict]) -> list[int]:
        """Close step ``t``: progress, energy and dispatch. ``moves[j]`` holds the measured
        ``save_s``, ``transfer_s``, ``restore_s`` [s] and ``bytes`` [B] of a migration or
        resume under way (used once per move). Returns the jobs that finished."""
        core = self.core
        self._set_measured(moves)
        core.ensure_seen(t)
        finished = core.advance(t)
        self.measured = {j for j in self.measured if self.state.phase[j] == MIGRATING}
        books = core.books
        books.flush(t + 1, core.power.renewable_at(t)[None, :])
        self.booked_j["demand"] += books.demand_w[t] * self.dt
        self.booked_j["job_load"] += books.job_load_w[t] * self.dt
        self.next_step = t + 1
        return finished
