"""The scenario's ``[grid]`` table: objective, currency, green-hour rule and grid zones,
and the per-step grid signals of a run built from it (``docs/grid.md``).

```toml
[grid]
objective = "carbon"            # energy (default) | carbon | carbon-average | cost
currency = "EUR"                # the unit of the prices (default EUR)
green_price_below = 0.0         # price < this [currency/MWh]: the grid supply counts as green
green_curtailment_above = "1GW" # curtailment >= this: the grid supply counts as green
forecast_horizon = "24h"        # how far ahead policies see the weights

[[grid.zones]]
name = "DE"
sites = ["berlin", "munich"]
carbon = "de-lifecycle"         # marginal: a signal name, a number or a list per step
carbon_average = "de-lifecycle" # default: the marginal signal
price = "nl-day-ahead"          # or { file = "prices.csv" } in the same format
curtailment = "caiso-curtailment"
offset = "0s"                   # the zone sees its signals' time t + offset
```

A signal is a name from :data:`greenhop.traces.grid_signals.SIGNALS`, a number (held
over the run) or a list of numbers, one per step of history + horizon. Every site is in
exactly one zone when ``[[grid.zones]]`` is given. ``[[grid.events]]`` (demand-response
events) is read by its own parser; this module leaves the key to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from greenhop.core.errors import ConfigError, TraceError, shown
from greenhop.core.grid_events import MAX_PRICE_PER_MWH
from greenhop.core.units import MAX_CARBON_G_PER_KWH, MAX_CARBON_TEXT, finite_float
from greenhop.fleet.grid import OBJECTIVES, GridSignals
from greenhop.sim.schema import Table

MAX_FORECAST_HORIZON_S = 366 * 86400.0
"""The longest ``[grid] forecast_horizon`` [s]: a year ahead."""

#: the keys of [grid] this module reads (``events`` belongs to demand response)
GRID_KEYS = ("objective", "currency", "green_price_below", "green_curtailment_above",
             "forecast_horizon", "zones")
#: what each objective needs of every site's zone
NEEDS = {"carbon": "carbon", "carbon-average": "carbon_average", "cost": "price"}
DEFAULT_GREEN_CURTAILMENT_W = 1e9


@dataclass(frozen=True)
class Signal:
    """A zone's signal: a named series, a constant, or one value per step."""

    name: str | None = None
    constant: float | None = None
    values: tuple[float, ...] = ()
    #: a price file of the day-ahead format (``{ file = "prices.csv" }``), read strictly
    path: str | None = None

    def describe(self) -> str:
        if self.path is not None:
            return self.path
        if self.name is not None:
            return self.name
        if self.constant is not None:
            return f"{self.constant:g}"
        return f"{len(self.values)} values"


@dataclass(frozen=True)
class ZoneSpec:
    """One grid zone: its sites and signals (``None``: not given)."""

    name: str
    sites: tuple[str, ...]
    carbon: Signal | None = None
    carbon_average: Signal | None = None
    price: Signal | None = None
    curtailment: Signal | None = None
    offset_s: float = 0.0


@dataclass(frozen=True)
class GridSpec:
    """The validated ``[grid]`` table."""

    objective: str = "energy"
    currency: str = "EUR"
    green_price_below: float = 0.0
    green_curtailment_above_w: float = DEFAULT_GREEN_CURTAILMENT_W
    forecast_horizon_s: float = 86400.0
    zones: tuple[ZoneSpec, ...] = ()


def _check_intensities(where: str, kind: str, values: list, listed: bool = True) -> None:
    """A carbon intensity [gCO2/kWh] lies in 0 .. the user traces' ceiling (a price may be
    negative; an intensity may not) and of prices (within +-1e9 per MWh, as events'
    prices: beyond, a run's costs overflow)."""
    if kind == "price":
        for i, v in enumerate(values):
            if not -MAX_PRICE_PER_MWH <= v <= MAX_PRICE_PER_MWH:
                at = f"[{i}]" if listed else ""
                raise ConfigError(f"{where}{at}: a price is from {-MAX_PRICE_PER_MWH:g} to "
                                  f"{MAX_PRICE_PER_MWH:g} per MWh, got {v!r}")
    if kind != "carbon":
        return
    for i, v in enumerate(values):
        if not 0 <= v <= MAX_CARBON_G_PER_KWH:
            at = f"[{i}]" if listed else ""
            raise ConfigError(f"{where}{at}: a carbon intensity is from 0 to "
                              f"{MAX_CARBON_TEXT}, got {v!r}")


def _signal(zt: Table, key: str, kind: str, base_dir: Path) -> Signal | None:
    from greenhop.traces.grid_signals import check_signal, read_nl_day_ahead

    if not zt.has(key):
        return None
    value = zt.raw(key)
    where = zt.where(key)
    if isinstance(value, dict) and kind == "price":
        ft = Table(value, where)
        path = Path(ft.string("file"))
        ft.done()
        path = path if path.is_absolute() else base_dir / path
        try:  # read now: a bad file stops the scenario before any run, naming its row
            read_nl_day_ahead(path)
        except TraceError as exc:
            raise TraceError(f"{where}.file: {exc}") from None
        return Signal(path=str(path))
    if isinstance(value, str):
        return Signal(name=check_signal(value, kind, where).name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if finite_float(value) is None:
            raise ConfigError(f"{where}: expected a finite number, got {shown(value, 60)}")
        _check_intensities(where, kind, [value], listed=False)
        return Signal(constant=float(value))
    if (isinstance(value, list) and value
            and all(isinstance(v, int | float) and not isinstance(v, bool)
                    and finite_float(v) is not None for v in value)):
        _check_intensities(where, kind, value)
        return Signal(values=tuple(float(v) for v in value))
    file = " or { file = \"prices.csv\" }" if kind == "price" else ""
    raise ConfigError(f"{where}: expected a {kind} signal name, a number, a non-empty list "
                      f"of finite numbers{file}, got {shown(value, 60)}")


def parse_grid(gt: Table, site_names: tuple[str, ...], base_dir: Path | None = None
               ) -> GridSpec:
    """Read the keys of :data:`GRID_KEYS` from ``[grid]`` (the caller calls ``gt.done()``).

    Raises:
        ConfigError: naming the dotted path: an unknown objective, zone signal or site, a
            site in two zones or in none, a zone lacking the signal the objective needs.
    """
    base_dir = base_dir or Path.cwd()
    objective = gt.string("objective", "energy", choices=OBJECTIVES)
    currency = gt.string("currency", "EUR")
    green_price = gt.number("green_price_below", 0.0)
    green_curt = gt.power("green_curtailment_above", DEFAULT_GREEN_CURTAILMENT_W)
    horizon = gt.duration("forecast_horizon", 86400.0, lo=0, lo_open=True)
    if horizon > MAX_FORECAST_HORIZON_S:  # policies get an array of that many steps
        raise ConfigError(f"{gt.where('forecast_horizon')}: at most 366 days, got "
                          f"{horizon / 86400:.4g} days")
    zones: list[ZoneSpec] = []
    owner: dict[str, str] = {}
    for zt in gt.tables("zones"):
        name = zt.string("name")
        if any(z.name == name for z in zones):
            raise ConfigError(f"{zt.where('name')}: zone {name!r} is defined twice")
        sites = tuple(zt.strings("sites", unique=True))
        for i, s in enumerate(sites):
            if s not in site_names:
                raise ConfigError(f"{zt.where('sites')}[{i}]: unknown site {s!r}; sites: "
                                  f"{', '.join(site_names)}")
            if s in owner:
                raise ConfigError(f"{zt.where('sites')}[{i}]: site {s!r} is already in zone "
                                  f"{owner[s]!r}; a site is in one zone")
            owner[s] = name
        carbon = _signal(zt, "carbon", "carbon", base_dir)
        zone = ZoneSpec(
            name=name, sites=sites, carbon=carbon,
            carbon_average=_signal(zt, "carbon_average", "carbon", base_dir) or carbon,
            price=_signal(zt, "price", "price", base_dir),
            curtailment=_signal(zt, "curtailment", "curtailment", base_dir),
            offset_s=zt.duration("offset", 0.0, lo=-math.inf))
        zt.done()
        need = NEEDS.get(objective)
        if need is not None and getattr(zone, need) is None:
            raise ConfigError(f"{zt.path}: objective {objective!r} needs a {need} signal in "
                              f"every zone; zone {name!r} has none")
        zones.append(zone)
    if zones:
        lost = [s for s in site_names if s not in owner]
        if lost:
            raise ConfigError(f"{gt.where('zones')}: site {lost[0]!r} is in no zone; list "
                              "every site in one zone")
    elif objective != "energy":
        raise ConfigError(f"{gt.where('objective')}: objective {objective!r} needs grid "
                          "signals; add [[grid.zones]] with the sites and their signals")
    return GridSpec(objective, currency, float(green_price), float(green_curt),
                    float(horizon), tuple(zones))


def _series(sig: Signal | None, index: pd.DatetimeIndex, offset_s: float,
            where: str) -> tuple[np.ndarray, np.ndarray]:
    """The signal on the run's steps and the last step published at each step."""
    from greenhop.traces.grid_signals import known_until, on_clock

    n = len(index)
    own = np.arange(n)
    if sig is None:
        return np.full(n, np.nan), np.full(n, n - 1)
    if sig.path is not None:  # a day-ahead price file: published a day ahead
        from greenhop.traces.grid_signals import (
            day_ahead_known_until,
            read_nl_day_ahead,
            series_on_clock,
        )

        series = read_nl_day_ahead(sig.path)
        return (series_on_clock(series, 3600.0, index, offset_s=offset_s,
                                what=f"price file {sig.path}", where=where),
                day_ahead_known_until(index, offset_s))
    if sig.name is not None:
        return (on_clock(sig.name, index, offset_s=offset_s, where=where),
                known_until(sig.name, index, offset_s))
    if sig.constant is not None:
        return np.full(n, sig.constant), np.full(n, n - 1)
    if len(sig.values) < n:
        raise ConfigError(f"{where}: {len(sig.values)} values cover fewer steps than history "
                          f"+ horizon ({n} steps); add values")
    return np.asarray(sig.values[:n], dtype=float), own


def build_grid_signals(spec: GridSpec, site_names: tuple[str, ...], index: pd.DatetimeIndex,
                       history_steps: int) -> GridSignals:
    """The per-step signals of every site on the run's steps ``index`` (history first)."""
    n, S = len(index), len(site_names)
    col = {s: i for i, s in enumerate(site_names)}
    carbon = np.full((n, S), np.nan)
    carbon_avg = np.full((n, S), np.nan)
    price = np.full((n, S), np.nan)
    green = np.zeros((n, S), dtype=bool)
    known = np.tile(np.arange(n)[:, None], (1, S))
    need = NEEDS.get(spec.objective)
    for k, z in enumerate(spec.zones):
        where = f"grid.zones[{k}]"
        cols = [col[s] for s in z.sites]
        c, kc = _series(z.carbon, index, z.offset_s, f"{where}.carbon")
        ca, kca = _series(z.carbon_average, index, z.offset_s, f"{where}.carbon_average")
        p, kp = _series(z.price, index, z.offset_s, f"{where}.price")
        cu, kcu = _series(z.curtailment, index, z.offset_s, f"{where}.curtailment")
        g = np.zeros(n, dtype=bool)
        if z.price is not None:
            g |= p < spec.green_price_below
        if z.curtailment is not None:
            g |= cu >= spec.green_curtailment_above_w
        # a weight is published when every signal it is made of is
        parts = {"carbon": kc, "carbon_average": kca, "price": kp}
        k_w = np.minimum(kp if z.price is not None else n - 1,
                         kcu if z.curtailment is not None else n - 1)
        if need is not None:
            k_w = np.minimum(k_w, parts[need])
        for i in cols:
            carbon[:, i], carbon_avg[:, i], price[:, i], green[:, i] = c, ca, p, g
            known[:, i] = np.maximum(k_w, np.arange(n))
    return GridSignals(spec.objective, spec.currency, int(history_steps), carbon, carbon_avg,
                       price, green, known, forecast_horizon_s=spec.forecast_horizon_s)


def grid_metrics(grid: GridSignals | None, grid_w: np.ndarray, base_grid_w: np.ndarray,
                 step_s: float) -> dict:
    """Job-attributable carbon and cost of a run (``docs/grid.md``).

    Per step and site the jobs' grid energy is the run's grid import minus the base-only
    dispatch's ``(grid_w - base_grid_w) x dt`` [J] (as for ``job_nr_kwh``); it is priced at
    that step's signals: ``job_co2_kg`` (marginal intensity), ``job_co2_avg_kg`` (average),
    ``job_energy_cost`` (price, in ``currency``), and ``job_grid_green_kwh`` (the part in
    hours whose grid supply counts as green). A metric is left out when no site has its
    signal; sites without it add nothing.
    """
    if grid is None:
        return {}
    d_j = (np.asarray(grid_w) - np.asarray(base_grid_w)) * float(step_s)     # [T, S]

    def priced(values: np.ndarray, per_j: float) -> float | None:
        v = grid.horizon(values)
        has = ~np.isnan(v)
        if not has.any():
            return None
        return float((d_j[has] * v[has]).sum()) / per_j

    out: dict = {}
    co2 = priced(grid.carbon_g_per_kwh, 3.6e6 * 1000.0)
    co2_avg = priced(grid.carbon_avg_g_per_kwh, 3.6e6 * 1000.0)
    cost = priced(grid.price_per_mwh, 3.6e9)
    if co2 is not None:
        out["job_co2_kg"] = round(co2, 6) + 0.0
    if co2_avg is not None:
        out["job_co2_avg_kg"] = round(co2_avg, 6) + 0.0
    if cost is not None:
        out["job_energy_cost"] = round(cost, 6) + 0.0
        out["currency"] = grid.currency
    out["job_grid_green_kwh"] = round(float(d_j[grid.horizon(grid.green)].sum()) / 3.6e6, 9) + 0.0
    return out
