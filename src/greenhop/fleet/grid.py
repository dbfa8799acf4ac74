"""Grid signals per site and step, the objective's weight of grid energy, and what of it
a policy may see.

A scenario's grid zones give every site per step (history and horizon, ``[H+T, S]``) a
marginal and an average carbon intensity [gCO2/kWh], an energy price [currency/MWh] and
a flag saying that the grid supply counts as green (a negative-price or high-curtailment
hour, ``docs/grid.md``). The objective turns them into the weight of one joule of grid
energy (:func:`grid_weights`):

* ``energy``: 1 everywhere (today's objective: every joule of grid energy counts);
* ``carbon`` / ``carbon-average``: marginal / average intensity [g/J];
* ``cost``: the price [currency/J], a negative price weighing 0;

and 0 in green hours under the three non-energy objectives.

What a policy sees (:meth:`GridFeed.attach`): the weight now and the weights of the
next ``F`` steps as issued at or before now, copied into buffers of their own: for each
site and target step, the true weight where it is published by now (``known_until``,
e.g. day-ahead prices), else the weight of the same time of day on the latest day that
is published (a seasonal-naive forecast; before the first day of the data, the latest
published weight). Nothing after that is reachable from the Observation.

Price events (demand-response events with a price, :func:`with_price_events`) set the
price of their sites for their duration: the signals' price is then the true one (the
booked ``job_energy_cost`` uses it), and under the ``cost`` objective a policy sees an
event's price from the step of its announcement on, over the steps it covers, blended as
booked with the zone's price *as forecast* at that step (never the true future price or
green hours); before that, and under the other objectives, it sees the zone's signals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.core.observation import Observation
from greenhop.core.readonly import readonly

OBJECTIVES = ("energy", "carbon", "carbon-average", "cost")
J_PER_KWH = 3.6e6
J_PER_MWH = 3.6e9


def grid_weights(objective: str, carbon_g_per_kwh: np.ndarray, carbon_avg_g_per_kwh: np.ndarray,
                 price_per_mwh: np.ndarray, green: np.ndarray) -> np.ndarray:
    """The weight of one joule of grid energy per step and site under ``objective``
    [1, g/J or currency/J]. The scenario parser requires every site to have the signal
    its objective needs, so no weight is NaN."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    shape = np.shape(green)
    if objective == "energy":
        return np.ones(shape)
    if objective == "carbon":
        w = np.asarray(carbon_g_per_kwh, dtype=float) / J_PER_KWH
    elif objective == "carbon-average":
        w = np.asarray(carbon_avg_g_per_kwh, dtype=float) / J_PER_KWH
    else:
        w = np.maximum(np.asarray(price_per_mwh, dtype=float), 0.0) / J_PER_MWH
    return np.where(np.asarray(green, dtype=bool), 0.0, w)


@dataclass(frozen=True)
class GridSignals:
    """Grid signals of a run per step (history and horizon) and site, ``[H+T, S]``.

    Attributes:
        objective: one of :data:`OBJECTIVES`.
        currency: the currency of ``price_per_mwh`` (e.g. ``EUR``).
        history_steps: ``H``: row ``H + k`` is step ``k`` of the run.
        carbon_g_per_kwh: marginal intensity [gCO2/kWh] (NaN where none is configured).
        carbon_avg_g_per_kwh: average intensity [gCO2/kWh] (NaN where none).
        price_per_mwh: price [currency/MWh] (NaN where none).
        green: the grid supply counts as green (negative price, high curtailment).
        known_until: the last row whose weight is published at each row (``>=`` the row).
        forecast_horizon_s: how far ahead policies see the weights [s].
    """

    objective: str
    currency: str
    history_steps: int
    carbon_g_per_kwh: np.ndarray
    carbon_avg_g_per_kwh: np.ndarray
    price_per_mwh: np.ndarray
    green: np.ndarray
    known_until: np.ndarray
    forecast_horizon_s: float = 86400.0
    #: the price events in rows (``()``: none); with them ``price_per_mwh`` is the price
    #: they set and ``zone_price_per_mwh`` the zones' own signal
    price_events: tuple[PriceEvent, ...] = ()
    zone_price_per_mwh: np.ndarray | None = None
    #: ``[H+T, S]`` the rows a price event covers (in part or whole); None: no event
    priced: np.ndarray | None = None

    def weights(self, objective: str | None = None) -> np.ndarray:
        """Weight of a joule of grid energy ``[H+T, S]`` under ``objective`` (default own).
        Under ``cost`` a row a price event covers is weighed at its price, green or not: the
        booked ``job_energy_cost`` charges that price (a 500 /MWh event in a negative-price
        hour weighed 0)."""
        objective = objective or self.objective
        green = self.green
        if objective == "cost" and self.priced is not None:
            green = np.asarray(green, dtype=bool) & ~self.priced
        return grid_weights(objective, self.carbon_g_per_kwh, self.carbon_avg_g_per_kwh,
                            self.price_per_mwh, green)

    def horizon(self, values: np.ndarray) -> np.ndarray:
        """The rows of the run's steps (history dropped), ``[T, S]``."""
        return values[self.history_steps:]


@dataclass(frozen=True)
class PriceEvent:
    """A price event at one site, in rows of :class:`GridSignals` (history first)."""

    site: int
    announce_row: int     # the first row at or after its announcement: known from here
    first_row: int        # the first row it overlaps
    end_row: int          # the first row after it
    price_per_mwh: float  # [currency/MWh]
    #: its span in rows, clipped to the signals' rows (``first_row <= lo < hi <= end_row``)
    lo: float = 0.0
    hi: float = 0.0


def _cover(events, first: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Of rows ``first .. end - 1`` at one site: the share of each row that ``events``
    (:class:`PriceEvent`, in the order given: a later one replaces an earlier where they
    overlap) cover [-], and the sum of each covered part x its price [currency/MWh]. The
    row's price is then ``(1 - cover) x the zone's + sum``, blended once: two events
    meeting inside a row share it by their time, not one blended into the other."""
    cover, total = np.zeros(end - first), np.zeros(end - first)
    cuts = sorted({min(max(x, first), end) for e in events for x in (e.lo, e.hi)})
    for a, b in pairwise(cuts):
        on = [e for e in events if e.lo <= a and b <= e.hi]
        if not on:
            continue
        rows = np.arange(int(np.floor(a)), int(np.ceil(b)))
        share = np.clip(np.minimum(rows + 1, b) - np.maximum(rows, a), 0.0, 1.0)
        cover[rows - first] += share
        total[rows - first] += share * on[-1].price_per_mwh
    return np.minimum(cover, 1.0), total


def with_price_events(signals: GridSignals, events, zones: dict[str, tuple[str, ...]],
                      site_names: tuple[str, ...], first_row_unix_s: float,
                      step_s: float) -> GridSignals:
    """``signals`` with the price of every event that has one
    (:class:`~greenhop.core.grid_events.GridEvent`, in the order given: a later one over
    an earlier one) at its sites over its span; a row it covers in part gets the
    time-weighted mean of the two prices (a site without a price signal pays only the
    event's share). Without price events: ``signals`` itself."""
    priced = [e for e in events if e.price_per_mwh is not None]
    if not priced:
        return signals
    col = {n: i for i, n in enumerate(site_names)}
    dt = float(step_s)
    zone_price = (np.asarray(signals.price_per_mwh, dtype=float)
                  if signals.zone_price_per_mwh is None else signals.zone_price_per_mwh)
    price = zone_price.copy()
    covered = np.zeros(price.shape, dtype=bool)
    n_rows = price.shape[0]
    out = list(signals.price_events)
    for e in priced:
        lo = (e.start_unix_s - first_row_unix_s) / dt
        hi = (e.end_unix_s - first_row_unix_s) / dt
        first, end = max(0, int(np.floor(lo + 1e-9))), min(n_rows, int(np.ceil(hi - 1e-9)))
        if end <= first:
            continue  # outside the run
        ann = (e.announce_unix_s - first_row_unix_s) / dt
        for name in e.targets(zones):
            out.append(PriceEvent(site=col[name], announce_row=max(0, int(np.ceil(ann - 1e-9))),
                                  first_row=first, end_row=end,
                                  price_per_mwh=float(e.price_per_mwh),
                                  lo=max(lo, 0.0), hi=min(hi, float(n_rows))))
    for s in sorted({e.site for e in out}):
        cover, total = _cover([e for e in out if e.site == s], 0, n_rows)
        on = cover > 0
        here = np.nan_to_num(zone_price[on, s], nan=0.0)
        price[on, s] = (1.0 - cover[on]) * here + total[on]
        covered[on, s] = True
    return replace(signals, price_per_mwh=price, price_events=tuple(out), priced=covered,
                   zone_price_per_mwh=zone_price)


class GridFeed:
    """Hands a policy the objective's weights of grid energy, past-only (see module doc)."""

    def __init__(self, signals: GridSignals, forecast_steps: int, step_s: float) -> None:
        self.signals = signals
        self.period = max(round(86400.0 / float(step_s)), 1)   # steps per day
        self.weight = signals.weights()
        # what a policy sees before an event is announced: the zones' own signals
        self.zone_weight = self.weight if not signals.price_events else grid_weights(
            signals.objective, signals.carbon_g_per_kwh, signals.carbon_avg_g_per_kwh,
            signals.zone_price_per_mwh, signals.green)
        self.forecast_steps = max(int(forecast_steps), 1)
        n_sites = self.weight.shape[1]
        self.now_w = np.zeros(n_sites)
        self.fc_w = np.zeros((self.forecast_steps, n_sites))
        self._cols = np.arange(n_sites)

    def forecast(self, step: int) -> np.ndarray:
        """The weights of steps ``step .. step+F-1`` as issued at ``step``, ``[F, S]`` (a
        view of this feed's buffer)."""
        row = self.signals.history_steps + step
        last = self.weight.shape[0] - 1
        known = self.signals.known_until[row]                     # [S]
        targets = np.minimum(row + np.arange(self.forecast_steps), last)[:, None]
        # beyond what is published: the same time of day on the latest published day
        days = np.maximum(-((known[None, :] - targets) // self.period), 0)
        rows = targets - days * self.period
        rows = np.where(rows < 0, known[None, :], rows)
        self.fc_w[:] = self.zone_weight[rows, self._cols[None, :]]
        if self.signals.objective == "cost":
            self._announced_prices(row, rows)
        return self.fc_w

    def _announced_prices(self, row: int, rows: np.ndarray) -> None:
        """Put the price of every event announced by ``row`` into the cost forecast over the
        steps it covers: blended, as the booked price is, with the zone's price *as
        forecast* (``rows``: the signal row each target is forecast from), and, as booked,
        never zeroed as a green hour. The true future weights over the event are not seen:
        they carry the zone's future price. (Under the carbon objectives a price changes no
        weight.)"""
        sig = self.signals
        end = min(row + self.forecast_steps, sig.price_per_mwh.shape[0])
        known = [e for e in sig.price_events  # announced (not the future) and ahead
                 if e.announce_row <= row and e.first_row < end and e.end_row > row]
        for s in sorted({e.site for e in known}):
            cover, total = _cover([e for e in known if e.site == s], row, end)
            k = np.flatnonzero(cover > 0)
            zone = np.nan_to_num(sig.zone_price_per_mwh[rows[k, s], s], nan=0.0)
            seen = (1.0 - cover[k]) * zone + total[k]
            # a row an event covers is weighed at its price, green or not (as booked)
            self.fc_w[k, s] = grid_weights("cost", None, None, seen,
                                           np.zeros(len(k), dtype=bool))

    def attach(self, obs: Observation) -> Observation:
        """``obs`` with the grid objective and its weights now and ahead (read-only)."""
        if self.signals.objective == "energy":
            return obs
        fc = self.forecast(obs.step)
        self.now_w[:] = fc[0]
        return replace(obs, grid_objective=self.signals.objective,
                       grid_weight_per_j=readonly(self.now_w),
                       grid_weight_forecast_per_j=readonly(fc))
