"""Wind power per kW of turbine rating from the measured 10 m wind of the TMY stations.

Provenance: the wind speed is the measured 10 m wind of the bundled pvlib TMY
files (:mod:`greenhop.traces.tmy`). The turbine power curve comes from
windpowerlib's local copy of the Open Energy Database turbine library
(``windpowerlib/oedb/power_curves.csv``, shipped with windpowerlib, MIT
licensed); nothing is downloaded.

Height correction: the 10 m wind is extrapolated to the hub height with the
logarithmic wind profile (windpowerlib's ``logarithmic_profile``) and a
roughness length of 0.1 m (open farmland with scattered obstacles). Power
comes from the turbine's power curve (windpowerlib ``power_curve``) without
air-density correction, divided by the turbine's nominal power, and is
returned in **W per kW of rated power**, capped at 1000 (curves that exceed
the nominal rating are clipped).

Interval labelling: hourly, labelled with the start of the hour, UTC (the
TMY hour's wind stands for the whole hour).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from greenhop.core.errors import TraceError
from greenhop.traces import tmy as _tmy

DEFAULT_TURBINE = "E-53/800"
DEFAULT_HUB_HEIGHT_M = 73.0
ROUGHNESS_LENGTH_M = 0.1
MEASUREMENT_HEIGHT_M = 10.0


@functools.lru_cache(maxsize=16)
def _turbine_curve(turbine_type: str) -> tuple[np.ndarray, np.ndarray, float]:
    from windpowerlib import WindTurbine

    try:
        with _tmy.quiet_third_party():
            turbine = WindTurbine(turbine_type=turbine_type, hub_height=DEFAULT_HUB_HEIGHT_M)
    except Exception as exc:  # windpowerlib raises plain KeyError/ValueError
        raise TraceError(
            f"turbine {turbine_type!r} has no power curve in windpowerlib's local library; "
            f"use one such as {DEFAULT_TURBINE!r} (see windpowerlib/oedb/power_curves.csv)"
        ) from exc
    curve = turbine.power_curve
    if curve is None:
        raise TraceError(f"turbine {turbine_type!r} has no power curve; choose another type")
    return (curve["wind_speed"].to_numpy(dtype=float), curve["value"].to_numpy(dtype=float),
            float(turbine.nominal_power))


def wind_w_per_kw(wind_speed_10m_m_s, turbine_type: str = DEFAULT_TURBINE,
                  hub_height_m: float = DEFAULT_HUB_HEIGHT_M) -> np.ndarray:
    """Power per kW of rating [W/kW] for wind speeds measured at 10 m [m/s] (vectorised)."""
    from windpowerlib import power_output, wind_speed

    speeds, values, nominal_w = _turbine_curve(turbine_type)
    v10 = pd.Series(np.asarray(wind_speed_10m_m_s, dtype=float))
    with _tmy.quiet_third_party():
        hub = wind_speed.logarithmic_profile(v10, MEASUREMENT_HEIGHT_M, hub_height_m,
                                             ROUGHNESS_LENGTH_M)
        power = power_output.power_curve(hub, pd.Series(speeds), pd.Series(values))
    return np.clip(np.asarray(power, dtype=float) / nominal_w * 1000.0, 0.0, 1000.0)


@functools.lru_cache(maxsize=32)
def tmy_wind_w_per_kw(key: str, year: int = 2023, turbine_type: str = DEFAULT_TURBINE,
                      hub_height_m: float = DEFAULT_HUB_HEIGHT_M) -> pd.Series:
    """Wind power at TMY station ``key`` [W per kW of rating], hourly, UTC, calendar ``year``."""
    site = _tmy.tmy_site(key)
    weather = _tmy.read_tmy(key, year)
    values = wind_w_per_kw(weather["wind_speed_m_s"].to_numpy(), turbine_type, hub_height_m)
    out = pd.Series(values, index=weather.index, name="wind_w_per_kw")
    out.attrs.update(source=(f"windpowerlib {turbine_type} at {hub_height_m:g} m driven by the "
                             f"measured 10 m wind of {site.name}"),
                     unit="W/kW", label="interval start")
    return out
