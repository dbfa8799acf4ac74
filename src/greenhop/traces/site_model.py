"""The site energy model: capacities x real normalised traces -> renewable, load, surplus, battery.

Per site (a :class:`~greenhop.core.specs.SiteSpec`):

* renewable power ``renewable_w = pv_kwp x PV[W/kWp] + wind_kw x wind[W/kW]``, from the
  source named by ``pv_source`` / ``wind_source`` (see :func:`source_w_per_unit`);
* load ``load_w = (base_load_w + it_load_w) x PUE`` where ``it_load_w`` is the
  extra IT power the caller asks for (e.g. GPUs busy with training);
* surplus ``surplus_w = renewable_w - load_w`` (before any battery): the power
  training could use without drawing on the grid;
* battery and grid via :func:`greenhop.traces.dispatch.dispatch_series`
  (renewables, then battery, then grid).

Source names (the ``pv_source`` / ``wind_source`` fields):

* ``tmy:<station>``: pvlib PVWatts (PV) or windpowerlib (wind) on the bundled
  TMY weather of ``greensboro``, ``sand_point`` or ``miami``; the typical year
  repeats for every calendar year the index touches;
* ``clearsky:<station>`` (PV only): clear sky at the *site's* coordinates x the
  measured clear-sky index of the station (:mod:`greenhop.traces.pv`);
* ``solcast2022_global:<city>`` / ``solcast2022_germany:<city>`` (PV only):
  real 5-minute Solcast PV, needs ``greenhop data fetch``; covers about one
  month of 2022.

Expensive pvlib/windpowerlib work is cached per source and year in memory,
and the resampled normalised series per (source, index) too, so many sites
sharing sources load quickly.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from greenhop.core.errors import ConfigError, TraceError
from greenhop.core.specs import SiteSpec
from greenhop.traces.dispatch import dispatch_series
from greenhop.traces.resample import check_utc_index, infer_step_s, resample_energy

SOURCE_KINDS = {
    "tmy": ("pv", "wind"),
    "clearsky": ("pv",),
    "solcast2022_global": ("pv",),
    "solcast2022_germany": ("pv",),
}


def parse_source(source: str, role: str) -> tuple[str, str]:
    """Split ``"kind:arg"`` and check it can drive ``role`` (``pv`` or ``wind``)."""
    if not isinstance(source, str) or ":" not in source:
        raise ConfigError(
            f"{role} source {source!r} must look like 'kind:name', e.g. 'tmy:greensboro'; "
            f"kinds: {', '.join(SOURCE_KINDS)}"
        )
    kind, arg = source.split(":", 1)
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"unknown {role} source kind {kind!r} in {source!r}; "
                          f"use one of {', '.join(SOURCE_KINDS)}")
    if role not in SOURCE_KINDS[kind]:
        raise ConfigError(f"source {source!r} cannot drive {role}; {kind!r} gives only "
                          f"{', '.join(SOURCE_KINDS[kind])}")
    if kind in ("tmy", "clearsky"):
        from greenhop.traces.tmy import TMY_SITES

        if arg not in TMY_SITES:
            raise ConfigError(f"unknown TMY station {arg!r} in {source!r}; "
                              f"use one of {', '.join(sorted(TMY_SITES))}")
    elif not arg:
        raise ConfigError(f"source {source!r} names no city; e.g. '{kind}:Berlin'")
    return kind, arg


@functools.lru_cache(maxsize=256)
def _source_years(source: str, role: str, latitude_deg: float, longitude_deg: float,
                  years: tuple[int, ...]) -> pd.Series:
    """Normalised source [W per kWp or W per kW] over ``years`` (hourly or native step)."""
    kind, arg = parse_source(source, role)
    if kind in ("solcast2022_global", "solcast2022_germany"):
        from greenhop.traces.vessim_data import read_solcast

        return read_solcast(kind, arg)["actual_w_per_kwp"]
    parts = []
    for year in years:
        if kind == "tmy" and role == "pv":
            from greenhop.traces.pv import tmy_pv_w_per_kwp

            parts.append(tmy_pv_w_per_kwp(arg, year))
        elif kind == "tmy":
            from greenhop.traces.wind import tmy_wind_w_per_kw

            parts.append(tmy_wind_w_per_kw(arg, year))
        else:
            from greenhop.traces.pv import clearsky_index_pv_w_per_kwp

            parts.append(clearsky_index_pv_w_per_kwp(latitude_deg, longitude_deg, arg, year))
    out = pd.concat(parts) if len(parts) > 1 else parts[0]
    return out


def _years_of(index: pd.DatetimeIndex, step_s: float) -> tuple[int, ...]:
    last = index[-1] + pd.Timedelta(seconds=step_s) - pd.Timedelta(microseconds=1)
    return tuple(range(index[0].year, last.year + 1))


@functools.lru_cache(maxsize=64)  # a 5-minute year is 0.8 MB per entry
def _resampled(source: str, role: str, latitude_deg: float, longitude_deg: float,
               start_ns: int, n: int, step_s: float) -> np.ndarray:
    index = pd.date_range(pd.Timestamp(start_ns, unit="ns", tz="UTC"), periods=n,
                          freq=pd.Timedelta(seconds=step_s))
    years = _years_of(index, step_s)
    series = _source_years(source, role, latitude_deg, longitude_deg, years)
    out = resample_energy(series, index, what=f"{role} source {source!r}").to_numpy()
    out.setflags(write=False)
    return out


def source_w_per_unit(source: str, role: str, index: pd.DatetimeIndex, *,
                      latitude_deg: float = 0.0, longitude_deg: float = 0.0) -> np.ndarray:
    """Normalised power of ``source`` on ``index`` [W per kWp for PV, W per kW for wind]."""
    index = check_utc_index(index, "simulation index")
    step_s = infer_step_s(index, "simulation index")
    kind, _ = parse_source(source, role)
    if kind != "clearsky":  # the coordinates only matter for clear-sky PV: share the cache
        latitude_deg = longitude_deg = 0.0
    diffs = np.diff(index.as_unit("ns").asi8)
    if len(diffs) and np.any(diffs != diffs[0]):
        raise TraceError("simulation index must have a regular step; build it with "
                         "pd.date_range(start, periods=n, freq='5min', tz='UTC')")
    start_ns = int(index[:1].as_unit("ns").asi8[0])
    return _resampled(source, role, float(latitude_deg), float(longitude_deg), start_ns,
                      len(index), float(step_s))


def renewable_power(site: SiteSpec, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Renewable power of ``site`` on ``index``: columns ``pv_w``, ``wind_w``, ``renewable_w`` [W].

    ``index`` is a tz-aware UTC DatetimeIndex of interval starts with a regular
    step (e.g. 5 min). Values are mean power over each step, resampled from
    the source resolution with energy conserved. A site with capacity but no
    source, or an index outside a source's covered range, raises TraceError
    or ConfigError saying what to change.
    """
    index = check_utc_index(index, "simulation index")
    n = len(index)
    pv = np.zeros(n)
    wind = np.zeros(n)
    if site.pv_kwp > 0:
        if not site.pv_source:
            raise ConfigError(f"site '{site.name}': pv_kwp is {site.pv_kwp} but no pv_source is "
                              "set; add pv_source = 'tmy:greensboro' (or another source)")
        pv = site.pv_kwp * source_w_per_unit(site.pv_source, "pv", index,
                                             latitude_deg=site.latitude_deg,
                                             longitude_deg=site.longitude_deg)
    if site.wind_kw > 0:
        if not site.wind_source:
            raise ConfigError(f"site '{site.name}': wind_kw is {site.wind_kw} but no wind_source "
                              "is set; add wind_source = 'tmy:sand_point' (or another source)")
        wind = site.wind_kw * source_w_per_unit(site.wind_source, "wind", index,
                                                latitude_deg=site.latitude_deg,
                                                longitude_deg=site.longitude_deg)
    return pd.DataFrame({"pv_w": pv, "wind_w": wind, "renewable_w": pv + wind}, index=index)


def gpu_power_w(site: SiteSpec) -> float | None:
    """Training power of one GPU of the site's platform [W], or None if it cannot be known."""
    try:
        from greenhop.core import platforms  # the platform table (optional here)
    except ImportError:  # pragma: no cover - present in this tree
        return None
    try:
        spec = platforms.platform(site.gpu_platform)
    except ConfigError:
        return None
    return float(getattr(spec, "train_power_w", getattr(spec, "power_w", 0.0))) or None


def site_energy(site: SiteSpec, index: pd.DatetimeIndex, it_load_w=0.0) -> pd.DataFrame:
    """Full energy balance of ``site`` on ``index``.

    Args:
        site: the site.
        index: interval-start UTC index with a regular step.
        it_load_w: extra IT power on top of the base load [W] (scalar or per step),
            e.g. ``gpus_busy x gpu_power_w(site)``.

    Returns:
        DataFrame with ``pv_w``, ``wind_w``, ``renewable_w``, ``load_w`` (facility
        power, PUE included), ``surplus_w`` (renewable - load, before the battery),
        the dispatch flows ``direct_w``, ``charge_w``, ``discharge_w``, ``grid_w``,
        ``curtailed_w``, ``unmet_w`` [W] and ``soc_j`` (battery energy at the start
        of each step) [J].
    """
    power = renewable_power(site, index)
    step_s = infer_step_s(index, "simulation index")
    load = (site.base_load_w + np.broadcast_to(np.asarray(it_load_w, dtype=float),
                                               (len(index),))) * site.pue
    power["load_w"] = load
    power["surplus_w"] = power["renewable_w"] - load
    battery = site.battery
    kwargs = {"grid_import_limit_w": site.grid_import_limit_w}
    if battery is not None:
        kwargs.update(capacity_j=battery.capacity_j, max_power_w=battery.max_power_w,
                      round_trip_efficiency=battery.round_trip_efficiency,
                      min_soc=battery.min_soc, initial_soc=battery.initial_soc)
    flows = dispatch_series(power["renewable_w"].to_numpy(), load, step_s, **kwargs)
    for key, values in flows.items():
        power[key] = values
    return power


def simulation_index(start: str | pd.Timestamp, end: str | pd.Timestamp,
                     step: str = "5min") -> pd.DatetimeIndex:
    """Interval-start UTC index from ``start`` (inclusive) to ``end`` (exclusive)."""
    return pd.date_range(pd.Timestamp(start, tz="UTC") if pd.Timestamp(start).tz is None
                         else pd.Timestamp(start).tz_convert("UTC"),
                         pd.Timestamp(end, tz="UTC") if pd.Timestamp(end).tz is None
                         else pd.Timestamp(end).tz_convert("UTC"),
                         freq=step, inclusive="left")
