"""Series to forecast: real Solcast PV with its issued forecasts, and fleet sites' surplus.

The Solcast 2022 data come from :mod:`greenhop.traces.vessim_data` (fetched
into the user cache by ``greenhop data fetch solcast2022_global`` or
``solcast2022_germany``), as interval-start UTC series in W per kWp. Their
issued forecasts become a :class:`~greenhop.forecast.table.ForecastTable` in
greenhop's label convention: a forecast Solcast issued at wall-clock time
``W`` was made once the interval ending at ``W`` (labelled ``W - 5 min``) was
known, so its issue label is ``W - 5 min`` and its horizons run 5-65 min.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from greenhop.core.errors import ConfigError
from greenhop.forecast.table import ForecastTable

SOLCAST_DATASETS = ("solcast2022_global", "solcast2022_germany")

#: City centres [degrees] of the Solcast 2022 sites (for clear-sky features).
SOLCAST_CITIES: dict[str, tuple[str, float, float]] = {
    "Berlin": ("solcast2022_global", 52.52, 13.40),
    "Cape Town": ("solcast2022_global", -33.92, 18.42),
    "Hong Kong": ("solcast2022_global", 22.32, 114.17),
    "Lagos": ("solcast2022_global", 6.52, 3.38),
    "Mexico City": ("solcast2022_global", 19.43, -99.13),
    "Mumbai": ("solcast2022_global", 19.08, 72.88),
    "San Francisco": ("solcast2022_global", 37.77, -122.42),
    "Stockholm": ("solcast2022_global", 59.33, 18.07),
    "Sydney": ("solcast2022_global", -33.87, 151.21),
    "São Paulo": ("solcast2022_global", -23.55, -46.63),
    "Cologne": ("solcast2022_germany", 50.94, 6.96),
    "Dortmund": ("solcast2022_germany", 51.51, 7.47),
    "Düsseldorf": ("solcast2022_germany", 51.23, 6.77),
    "Essen": ("solcast2022_germany", 51.46, 7.01),
    "Frankfurt": ("solcast2022_germany", 50.11, 8.68),
    "Hamburg": ("solcast2022_germany", 53.55, 9.99),
    "Leipzig": ("solcast2022_germany", 51.34, 12.37),
    "Munich": ("solcast2022_germany", 48.14, 11.58),
    "Stuttgart": ("solcast2022_germany", 48.78, 9.18),
}


@dataclass(frozen=True)
class ForecastSite:
    """A series ready to forecast.

    Attributes:
        name: site name as given on the command line.
        series: observed values, interval-start UTC labels, regular step.
        unit: unit of ``series`` ("W/kWp" for Solcast PV, "W" for surplus).
        latitude_deg, longitude_deg: location [degrees] (clear-sky features).
        issued: the real issued forecasts, when the source has them.
        default_threshold: window threshold in the series' unit.
        source: provenance in words.
    """

    name: str
    series: pd.Series
    unit: str
    latitude_deg: float | None
    longitude_deg: float | None
    issued: ForecastTable | None
    default_threshold: float
    source: str


def parse_solcast_name(name: str) -> tuple[str, str] | None:
    """``"Berlin"``, ``"solcast:Berlin"`` or ``"solcast2022_germany:Berlin"`` -> (dataset, city)."""
    prefix, _, rest = name.partition(":")
    if rest:
        if prefix in SOLCAST_DATASETS:
            return prefix, rest
        if prefix == "solcast" and rest in SOLCAST_CITIES:
            return SOLCAST_CITIES[rest][0], rest
        return None
    if name in SOLCAST_CITIES:
        return SOLCAST_CITIES[name][0], name
    return None


def solcast_issued_table(forecast: pd.Series, step_s: float = 300.0,
                         name: str = "solcast") -> ForecastTable:
    """Solcast's issued forecasts (MultiIndex issued_at, target_start) as a ForecastTable.

    Missing values inside an issue are filled by linear interpolation along the
    lead time of that same issue (never from another issue: no leakage).
    """
    issued = forecast.index.get_level_values(0)
    target = forecast.index.get_level_values(1)
    label = issued - pd.Timedelta(seconds=step_s)  # the latest interval known at issue
    frame = pd.DataFrame({"issued_at": label, "valid_for": target,
                          "value": forecast.to_numpy(dtype=float)})
    if frame["value"].isna().any():
        # a few values are missing inside some issues (Lagos 2, Mumbai 11 of ~110k):
        # fill them along the lead time within the same issue
        frame["value"] = (frame.groupby("issued_at", sort=False)["value"]
                          .transform(lambda v: v.interpolate(limit_direction="both")))
    return ForecastTable.from_long(frame, quantiles=(0.5,), name=name, unit="W/kWp",
                                   source=f"{name} forecasts")


def solcast_site(name: str) -> ForecastSite:
    """Real Solcast PV of a city [W per kWp] with Solcast's issued forecasts (needs the cache)."""
    parsed = parse_solcast_name(name)
    if parsed is None:
        raise ConfigError(f"'{name}' is not a Solcast site; cities: "
                          f"{', '.join(SOLCAST_CITIES)}")
    dataset, city = parsed
    from greenhop.traces.vessim_data import read_solcast

    data = read_solcast(dataset, city)
    actual = data["actual_w_per_kwp"].astype(float)
    actual.name = city
    lat = lon = None
    if city in SOLCAST_CITIES:
        _, lat, lon = SOLCAST_CITIES[city]
    issued = solcast_issued_table(data["forecast_w_per_kwp"], name="solcast")
    return ForecastSite(city, actual, "W/kWp", lat, lon, issued, 300.0,
                        f"Solcast 2022 ({dataset}) via vessim 0.13.1")


def fleet_site(name: str, start="2023-06-01", days: float = 42.0,
               step: str = "5min") -> ForecastSite:
    """Surplus of a site of the default fleet [W] (renewable minus base load, before battery)."""
    from greenhop.traces.fleet import load_fleet
    from greenhop.traces.site_model import simulation_index, site_energy

    fleet = load_fleet()
    sites = {s.name: s for s in fleet.sites}
    if name not in sites:
        raise ConfigError(f"unknown site '{name}'; fleet sites: {', '.join(sites)}; Solcast "
                          f"cities: {', '.join(SOLCAST_CITIES)}")
    site = sites[name]
    t0 = pd.Timestamp(start, tz="UTC")
    index = simulation_index(t0, t0 + pd.Timedelta(days=days), step)
    energy = site_energy(site, index)
    surplus = energy["surplus_w"].astype(float)
    surplus.name = name
    return ForecastSite(name, surplus, "W", site.latitude_deg, site.longitude_deg, None,
                        0.0, f"greenhop default fleet site '{name}'")


def trace_site(path, column: str, unit: str) -> ForecastSite:
    """Your own power trace (a CSV or Parquet file, read as ``greenhop windows --trace``
    reads it: every check and message alike), in W, without a location (the clear-sky
    features fall back to the series' own envelope)."""
    from pathlib import Path

    from greenhop.traces.user_trace import read_trace

    series = read_trace(path, column, unit, signed=True)
    # a surplus (negative where the load exceeds generation) has windows at >= 0 W; a
    # generation trace is never negative, and at 0 W its every night would be a window,
    # scored perfect by any model: its windows need some power
    threshold = 0.0 if (series < 0).any() else TRACE_GENERATION_THRESHOLD_W
    return ForecastSite(name=f"{Path(path).name}:{column}", series=series, unit="W",
                        latitude_deg=None, longitude_deg=None, issued=None,
                        default_threshold=threshold, source=f"your trace file {path}")


TRACE_GENERATION_THRESHOLD_W = 1.0
"""The default window threshold of a trace that is never negative (a generation trace)
[W]: any power, so that its zeros are out of every window."""


def load_site(name: str) -> ForecastSite:
    """A Solcast city when the name is one, else a site of the default fleet."""
    if parse_solcast_name(name) is not None:
        return solcast_site(name)
    return fleet_site(name)
