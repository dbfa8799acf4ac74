"""PV power per installed kWp from real weather, with pvlib.

Two ways, both returning power in **W per kWp of DC capacity** on an hourly
interval-start UTC index (the hour's mean power):

* :func:`tmy_pv_w_per_kwp`: pvlib's PVWatts chain on the bundled TMY weather
  of a station (:mod:`greenhop.traces.tmy`). :func:`tmy_pv_modelchain_w_per_kwp`
  runs pvlib's own :class:`~pvlib.modelchain.ModelChain` on the same inputs;
  the two agree (tested), which shows the chain reproduces pvlib.
* :func:`clearsky_index_pv_w_per_kwp`: PV for *any* coordinates. pvlib's
  Ineichen clear-sky model with the Linke turbidity climatology bundled with
  pvlib (``LinkeTurbidities.h5``) gives clear-sky irradiance at the site; it is
  multiplied by a **real clear-sky-index sequence** measured at a TMY station
  (station GHI divided by the station's own clear-sky GHI, hour by hour). The
  sequence is aligned by local solar time (the station's hour of the year is
  applied to the same local hour at the target), and shifted by half a year for
  a target in the other hemisphere so that winter clouds fall in winter. The
  clouds are therefore real but were measured elsewhere: the series has the
  right sun geometry and real weather variability, not the target's own weather.

System assumed (PVWatts defaults): fixed rack, azimuth facing the equator,
tilt = min(|latitude|, 35°), Hay–Davies transposition, physical incidence-angle
modifier, SAPM open-rack glass/glass cell temperature, temperature
coefficient -0.37 %/K, PVWatts system losses 14.08 %, PVWatts inverter with
96 % nominal efficiency sized at the DC rating.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from greenhop.traces import tmy as _tmy


def _quiet(func):
    """Run ``func`` with pvlib's pandas deprecation warnings silenced."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _tmy.quiet_third_party():
            return func(*args, **kwargs)

    return wrapper

GAMMA_PDC = -0.0037  # temperature coefficient of DC power [1/K]
PDC0_W = 1000.0  # 1 kWp [W]
CSI_MIN_CLEARSKY_GHI_W_M2 = 50.0  # below this clear-sky GHI the index is not measured [W/m²]
CSI_MAX = 1.3  # cloud enhancement cap for the hourly clear-sky index [-]


def default_tilt_deg(latitude_deg: float) -> float:
    """Fixed tilt used for a site [degrees]."""
    return float(min(abs(latitude_deg), 35.0))


def default_azimuth_deg(latitude_deg: float) -> float:
    """Equator-facing azimuth [degrees east of north]."""
    return 180.0 if latitude_deg >= 0 else 0.0


def _location(latitude_deg: float, longitude_deg: float, altitude_m: float | None):
    import pvlib

    if altitude_m is None:
        altitude_m = float(pvlib.location.lookup_altitude(latitude_deg, longitude_deg))
    return pvlib.location.Location(latitude_deg, longitude_deg, tz="UTC", altitude=altitude_m)


@_quiet
def pvwatts_chain(weather: pd.DataFrame, latitude_deg: float, longitude_deg: float,
                  altitude_m: float | None = None) -> pd.Series:
    """AC power of a 1 kWp PVWatts system [W] for hourly ``weather`` (canonical columns).

    ``weather`` is labelled with interval starts; the sun is placed at mid-interval.
    """
    import pvlib

    loc = _location(latitude_deg, longitude_deg, altitude_m)
    times = weather.index + pd.Timedelta(minutes=30)
    tilt = default_tilt_deg(latitude_deg)
    azimuth = default_azimuth_deg(latitude_deg)
    solpos = loc.get_solarposition(times, temperature=weather["temp_air_c"].to_numpy())
    dni_extra = pvlib.irradiance.get_extra_radiation(times)
    airmass = loc.get_airmass(times, solar_position=solpos, model="kastenyoung1989")
    poa = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, solpos["apparent_zenith"], solpos["azimuth"],
        weather["dni_w_m2"].to_numpy(), weather["ghi_w_m2"].to_numpy(),
        weather["dhi_w_m2"].to_numpy(), dni_extra=dni_extra,
        airmass=airmass["airmass_relative"], model="haydavies",
    )
    aoi = pvlib.irradiance.aoi(tilt, azimuth, solpos["apparent_zenith"], solpos["azimuth"])
    iam = pvlib.iam.physical(aoi)
    effective = (poa["poa_direct"] * iam + poa["poa_diffuse"]).fillna(0.0)
    params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_glass"]
    temp_cell = pvlib.temperature.sapm_cell(poa["poa_global"].fillna(0.0),
                                            weather["temp_air_c"].to_numpy(),
                                            weather["wind_speed_m_s"].to_numpy(), **params)
    dc = pvlib.pvsystem.pvwatts_dc(effective, temp_cell, PDC0_W, GAMMA_PDC)
    dc = dc * (1 - pvlib.pvsystem.pvwatts_losses() / 100.0)
    ac = pvlib.inverter.pvwatts(dc, PDC0_W)
    values = np.clip(np.nan_to_num(np.asarray(ac, dtype=float)), 0.0, None)
    return pd.Series(values, index=weather.index, name="pv_w_per_kwp")


@functools.lru_cache(maxsize=32)
def tmy_pv_w_per_kwp(key: str, year: int = 2023) -> pd.Series:
    """PVWatts power of 1 kWp at TMY station ``key`` [W per kWp], hourly, UTC, calendar ``year``."""
    site = _tmy.tmy_site(key)
    weather = _tmy.read_tmy(key, year)
    out = pvwatts_chain(weather, site.latitude_deg, site.longitude_deg, site.altitude_m)
    out.attrs.update(source=f"pvlib PVWatts on {site.name}", unit="W/kWp",
                     label="interval start")
    return out


@_quiet
def tmy_pv_modelchain_w_per_kwp(key: str, year: int = 2023) -> pd.Series:
    """The same system as :func:`tmy_pv_w_per_kwp` through pvlib's own ModelChain [W per kWp]."""
    import pvlib

    site = _tmy.tmy_site(key)
    weather = _tmy.read_tmy(key, year)
    tilt = default_tilt_deg(site.latitude_deg)
    azimuth = default_azimuth_deg(site.latitude_deg)
    system = pvlib.pvsystem.PVSystem(
        surface_tilt=tilt, surface_azimuth=azimuth,
        module_parameters={"pdc0": PDC0_W, "gamma_pdc": GAMMA_PDC},
        inverter_parameters={"pdc0": PDC0_W},
        temperature_model_parameters=pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"][
            "open_rack_glass_glass"],
    )
    loc = pvlib.location.Location(site.latitude_deg, site.longitude_deg, tz="UTC",
                                  altitude=site.altitude_m)
    mc = pvlib.modelchain.ModelChain(
        system, loc, transposition_model="haydavies", aoi_model="physical",
        spectral_model="no_loss", losses_model="pvwatts", dc_model="pvwatts",
        ac_model="pvwatts", temperature_model="sapm",
    )
    frame = pd.DataFrame({
        "ghi": weather["ghi_w_m2"].to_numpy(), "dni": weather["dni_w_m2"].to_numpy(),
        "dhi": weather["dhi_w_m2"].to_numpy(), "temp_air": weather["temp_air_c"].to_numpy(),
        "wind_speed": weather["wind_speed_m_s"].to_numpy(),
    }, index=weather.index + pd.Timedelta(minutes=30))
    mc.run_model(frame)
    values = np.clip(np.nan_to_num(np.asarray(mc.results.ac, dtype=float)), 0.0, None)
    return pd.Series(values, index=weather.index, name="pv_w_per_kwp")


@functools.lru_cache(maxsize=8)
@_quiet
def clearsky_index_local(key: str) -> np.ndarray:
    """Hourly clear-sky index of TMY station ``key`` in local standard time (8760 values) [-].

    ``GHI / clear-sky GHI`` where the clear-sky GHI is at least
    :data:`CSI_MIN_CLEARSKY_GHI_W_M2`; other hours take the mean index of their
    day (or of their month, when a day has no measurable hour); capped at
    :data:`CSI_MAX`.
    """
    site = _tmy.tmy_site(key)
    local = _tmy.typical_year_local(key, 2001)
    # Interval starts in local standard time -> UTC, then mid-interval for the sun.
    index = pd.date_range("2001-01-01", periods=8760, freq="h", tz="UTC") - pd.Timedelta(
        hours=site.utc_offset_h)
    loc = _location(site.latitude_deg, site.longitude_deg, site.altitude_m)
    clear = loc.get_clearsky(index + pd.Timedelta(minutes=30), model="ineichen")
    ghi_cs = clear["ghi"].to_numpy()
    ghi = local[:, _tmy.COLUMNS.index("ghi_w_m2")]
    valid = ghi_cs >= CSI_MIN_CLEARSKY_GHI_W_M2
    csi = np.full(8760, np.nan)
    csi[valid] = np.clip(ghi[valid] / ghi_cs[valid], 0.0, CSI_MAX)
    frame = pd.DataFrame({"csi": csi, "day": np.arange(8760) // 24,
                          "month": pd.date_range("2001-01-01", periods=8760, freq="h").month})
    daily = frame.groupby("day")["csi"].transform("mean")
    monthly = frame.groupby("month")["csi"].transform("mean")
    out = frame["csi"].fillna(daily).fillna(monthly).fillna(1.0)
    return out.to_numpy()


@functools.lru_cache(maxsize=128)
@_quiet
def clearsky_index_pv_w_per_kwp(latitude_deg: float, longitude_deg: float, csi_source: str,
                                year: int = 2023) -> pd.Series:
    """PV at any coordinates: clear-sky irradiance there x a real clear-sky index [W per kWp].

    Args:
        latitude_deg, longitude_deg: target location [degrees].
        csi_source: TMY station whose measured clear-sky index is replayed.
        year: calendar year [-].

    Returns:
        Hourly interval-start UTC series covering ``year``.
    """
    import pvlib

    site = _tmy.tmy_site(csi_source)
    index = _tmy.utc_year_index(year)
    n = len(index)
    csi_year = clearsky_index_local(csi_source)
    # Local mean solar hour of each UTC hour at the target, then the station's same local hour.
    offset_h = round(longitude_deg / 15.0)
    hour_of_year = (np.arange(n) + offset_h) % 8760
    if (latitude_deg >= 0) != (site.latitude_deg >= 0):
        hour_of_year = (hour_of_year + 4380) % 8760  # half a year: seasons of the other hemisphere
    hour_of_year = np.minimum(hour_of_year, 8759)
    csi = csi_year[hour_of_year]
    local = _tmy.typical_year_local(csi_source, 2001)
    temp = local[hour_of_year, _tmy.COLUMNS.index("temp_air_c")]
    wind = local[hour_of_year, _tmy.COLUMNS.index("wind_speed_m_s")]

    loc = _location(latitude_deg, longitude_deg, None)
    mid = index + pd.Timedelta(minutes=30)
    clear = loc.get_clearsky(mid, model="ineichen")
    ghi = clear["ghi"].to_numpy() * csi
    solpos = loc.get_solarposition(mid)
    parts = pvlib.irradiance.erbs(ghi, solpos["zenith"].to_numpy(), mid)
    weather = pd.DataFrame({
        "ghi_w_m2": ghi, "dni_w_m2": np.nan_to_num(np.asarray(parts["dni"], dtype=float)),
        "dhi_w_m2": np.nan_to_num(np.asarray(parts["dhi"], dtype=float)),
        "temp_air_c": temp, "wind_speed_m_s": wind, "pressure_pa": 101325.0,
    }, index=index)
    out = pvwatts_chain(weather, latitude_deg, longitude_deg, float(loc.altitude))
    out.attrs.update(source=(f"pvlib Ineichen clear sky at ({latitude_deg}, {longitude_deg}) x "
                             f"measured clear-sky index of {site.name}"),
                     unit="W/kWp", label="interval start")
    return out
