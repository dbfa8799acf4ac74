"""Real typical-year weather bundled with pvlib: TMY3 Greensboro and Sand Point, TMY2 Miami.

Provenance: the files ship inside the installed ``pvlib`` package (``pvlib/data``):
``723170TYA.CSV`` (TMY3, Greensboro Piedmont Triad Intl., NC), ``703165TY.csv``
(TMY3, Sand Point, AK) and ``12839.tm2`` (TMY2, Miami, FL). They were produced by
NREL from measured and modelled irradiance and measured surface weather (the
National Solar Radiation Data Base). Terms: NREL's TMY data are public; pvlib is
BSD-3-Clause licensed. Nothing is copied into greenhop; the files are read from
the installed package.

A typical meteorological year (TMY) is assembled from twelve typical months
taken from *different* real years (for Greensboro, January 1988, February
1996, ...). :func:`read_tmy` therefore maps all months onto **one configurable
calendar year** (``year``). In a leap year, 28 February is repeated as
29 February. The typical year is treated as cyclic: the hours that fall
outside the UTC calendar year after the time-zone shift wrap around to its
other end, so the result covers exactly ``[year-01-01 00:00Z, year+1-01-01 00:00Z)``.

Interval labelling: TMY3 values describe the hour *ending* at the file's
timestamp (local standard time); TMY2 values, as pvlib reads them, are
labelled with the *start* of their hour. The frame returned here is always
labelled with the **start** of each hourly interval, in UTC.

Canonical columns and units: ``ghi_w_m2``, ``dni_w_m2``, ``dhi_w_m2`` [W/m²],
``temp_air_c`` [°C], ``wind_speed_m_s`` [m/s] measured at 10 m,
``pressure_pa`` [Pa].
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from greenhop.core.errors import TraceError

YEARS = range(1901, 2100)
"""Calendar years the typical year can be mapped onto (:func:`read_tmy`'s ``year``)."""

COLUMNS = ("ghi_w_m2", "dni_w_m2", "dhi_w_m2", "temp_air_c", "wind_speed_m_s", "pressure_pa")


@dataclass(frozen=True)
class TmySite:
    """One bundled TMY station."""

    key: str
    file: str
    kind: str  # "tmy3" or "tmy2"
    name: str
    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    utc_offset_h: int  # local standard time - UTC [h]
    timezone: str


TMY_SITES: dict[str, TmySite] = {
    "greensboro": TmySite("greensboro", "723170TYA.CSV", "tmy3", "Greensboro, NC (TMY3 723170)",
                          36.1, -79.95, 273.0, -5, "America/New_York"),
    "sand_point": TmySite("sand_point", "703165TY.csv", "tmy3", "Sand Point, AK (TMY3 703165)",
                          55.317, -160.517, 7.0, -9, "America/Anchorage"),
    "miami": TmySite("miami", "12839.tm2", "tmy2", "Miami, FL (TMY2 12839)",
                     25.8, -80.2667, 2.0, -5, "America/New_York"),
}


def tmy_site(key: str) -> TmySite:
    """The bundled TMY station ``key``; an unknown key raises TraceError listing the valid ones."""
    try:
        return TMY_SITES[key]
    except KeyError:
        raise TraceError(
            f"unknown TMY station {key!r}; choose one of {', '.join(sorted(TMY_SITES))}"
        ) from None


@contextlib.contextmanager
def quiet_third_party():
    """Silence deprecation warnings that pvlib/windpowerlib trigger inside pandas 3.

    They concern the libraries' own pandas calls (e.g. ``DatetimeIndex.dayofyear``),
    not greenhop's, and would otherwise turn into errors under ``-W error``.
    """
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
            warnings.filterwarnings("ignore", category=category, module=r"(pvlib|windpowerlib)")
        warnings.filterwarnings("ignore", message=r".*deprecated.*",
                                module=r"(pvlib|windpowerlib)")
        yield


def pvlib_data_dir() -> str:
    """Folder of pvlib's bundled data files."""
    import pvlib

    return os.path.join(os.path.dirname(pvlib.__file__), "data")


@functools.lru_cache(maxsize=8)
def _local_typical_hours(key: str) -> pd.DataFrame:
    """8760 hourly rows in local standard time, January 1 00:00 first, interval-start labels."""
    import pvlib

    site = tmy_site(key)
    path = os.path.join(pvlib_data_dir(), site.file)
    if not os.path.exists(path):  # pragma: no cover - depends on the pvlib install
        raise TraceError(f"pvlib's bundled file {path} is missing; reinstall pvlib")
    if site.kind == "tmy3":
        with quiet_third_party():
            df, _ = pvlib.iotools.read_tmy3(path, coerce_year=2001, map_variables=True)
        out = pd.DataFrame({
            "ghi_w_m2": df["ghi"], "dni_w_m2": df["dni"], "dhi_w_m2": df["dhi"],
            "temp_air_c": df["temp_air"], "wind_speed_m_s": df["wind_speed"],
            "pressure_pa": df["pressure"] * 100.0,
        })
        # TMY3 labels the end of each hour: the row stamped 01:00 covers 00:00-01:00.
        month = (df.index - pd.Timedelta(hours=1)).month
        hour_of_month_order = np.arange(len(df))
    else:
        with quiet_third_party():
            df, _ = pvlib.iotools.read_tmy2(path)
        out = pd.DataFrame({
            "ghi_w_m2": df["GHI"], "dni_w_m2": df["DNI"], "dhi_w_m2": df["DHI"],
            "temp_air_c": df["DryBulb"] / 10.0, "wind_speed_m_s": df["Wspd"] / 10.0,
            "pressure_pa": df["Pressure"] * 100.0,
        })
        month = df.index.month
        hour_of_month_order = np.arange(len(df))
    # Order by calendar month (then file order) so the months of different years line up.
    order = np.lexsort((hour_of_month_order, np.asarray(month)))
    values = out.to_numpy(dtype=float)[order]
    if values.shape[0] != 8760:  # pragma: no cover - the bundled files have 8760 rows
        raise TraceError(f"{path}: expected 8760 hourly rows, found {values.shape[0]}")
    return pd.DataFrame(values, columns=list(COLUMNS))


def typical_year_local(key: str, year: int) -> np.ndarray:
    """Hourly values [rows x COLUMNS] for ``year`` in local standard time (leap day = 28 Feb)."""
    base = _local_typical_hours(key).to_numpy()
    if pd.Timestamp(year=year, month=1, day=1).is_leap_year:
        feb28 = 58 * 24  # first hour of 28 February (day index 58)
        base = np.concatenate([base[: feb28 + 24], base[feb28: feb28 + 24], base[feb28 + 24:]])
    return base


def utc_year_index(year: int, freq: str = "h") -> pd.DatetimeIndex:
    """Interval-start UTC index covering the calendar year ``year``."""
    return pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq=freq, tz="UTC",
                         inclusive="left")


def roll_local_to_utc(values: np.ndarray, utc_offset_h: float) -> np.ndarray:
    """Re-align a cyclic local-time hourly year to UTC (UTC hour h = local hour h + offset)."""
    shift = round(utc_offset_h)
    return np.roll(values, -shift, axis=0)


@functools.lru_cache(maxsize=32)
def read_tmy(key: str, year: int = 2023) -> pd.DataFrame:
    """Typical-year weather of station ``key`` mapped onto calendar ``year``, hourly, UTC.

    Args:
        key: ``greensboro``, ``sand_point`` or ``miami``.
        year: calendar year the typical months are mapped onto.

    Returns:
        DataFrame with :data:`COLUMNS` (units in the module docstring) on an
        interval-start UTC index covering the whole year. Treat it as read-only
        (it is cached).
    """
    if not isinstance(year, int) or year not in YEARS:
        raise TraceError(f"TMY year must be a whole year in {YEARS[0]}-{YEARS[-1]}, "
                         f"got {year!r}")
    site = tmy_site(key)
    values = roll_local_to_utc(typical_year_local(key, year), site.utc_offset_h)
    frame = pd.DataFrame(values, index=utc_year_index(year), columns=list(COLUMNS))
    frame.attrs.update(source=f"pvlib bundled {site.kind.upper()} {site.name}",
                       label="interval start", step_s=3600.0, year=year)
    return frame
