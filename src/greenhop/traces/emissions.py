"""Real hourly carbon intensity of the German grid, 2021-2024, from mosaik-emissions.

Provenance: the ``mosaik-emissions`` package (MIT licensed, OFFIS / mosaik team)
ships ``mosaik_components/emissions/data/electricitymaps_DE.zip``: hourly
carbon intensity of electricity in Germany published by Electricity Maps
(electricitymaps.com, "datasets"), in two scopes: ``direct`` (combustion only)
and ``lifecycle``. greenhop reads the file from the installed package, without
importing it. Terms: Electricity Maps' dataset terms apply (attribution to
Electricity Maps); the package code is MIT.

Interval labelling: each value is stamped with the start of its hour, UTC
(``2021-01-01 00:00:00+00:00``). Unit: gCO2eq/kWh.
"""

from __future__ import annotations

import functools
import importlib.util
import zipfile
from pathlib import Path

import pandas as pd

from greenhop.core.errors import TraceError

SCOPES = ("direct", "lifecycle")
YEARS = (2021, 2022, 2023, 2024)


def _data_file() -> Path:
    spec = importlib.util.find_spec("mosaik_components")
    if spec is None or not spec.submodule_search_locations:
        raise TraceError("the mosaik-emissions package is not installed; "
                         "install it with: pip install mosaik-emissions")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "emissions" / "data" / "electricitymaps_DE.zip"
        if path.is_file():
            return path
    raise TraceError("mosaik-emissions is installed but electricitymaps_DE.zip is missing; "
                     "reinstall it with: pip install --force-reinstall mosaik-emissions")


def is_present() -> bool:
    """True when the mosaik-emissions data file can be found."""
    try:
        _data_file()
    except TraceError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    with zipfile.ZipFile(_data_file()) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".csv"))
        return pd.read_csv(zf.open(name), sep=";")


def read_germany_carbon_intensity(year: int | None = None, scope: str = "lifecycle") -> pd.Series:
    """Hourly carbon intensity of Germany [gCO2eq/kWh] on an interval-start UTC index.

    Args:
        year: 2021-2024, or None for all years.
        scope: ``direct`` or ``lifecycle``.
    """
    if scope not in SCOPES:
        raise TraceError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)}")
    if year is not None and year not in YEARS:
        raise TraceError(f"no German carbon intensity for {year!r}; years: "
                         f"{', '.join(map(str, YEARS))}")
    table = _table()
    rows = table[table["scope"] == scope]
    if year is not None:
        rows = rows[rows["year"] == year]
    index = pd.DatetimeIndex(pd.to_datetime(rows["datetime"], utc=True, format="ISO8601"))
    value_col = next(c for c in table.columns if c.startswith("carbon_intensity"))
    out = pd.Series(rows[value_col].to_numpy(dtype=float), index=index,
                    name="carbon_g_per_kwh").sort_index()
    out = out[~out.index.duplicated(keep="first")]
    out.attrs.update(source="Electricity Maps via mosaik-emissions electricitymaps_DE.zip",
                     unit="gCO2eq/kWh", label="interval start", scope=scope)
    return out
