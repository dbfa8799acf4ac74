"""Every real dataset greenhop can use: what it is, where it comes from, its terms, and presence."""

from __future__ import annotations

import os
from dataclasses import dataclass

from greenhop.core.errors import GreenhopError
from greenhop.traces import vessim_data


@dataclass(frozen=True)
class Dataset:
    """One dataset: ``how`` says how it gets onto this machine."""

    name: str
    what: str
    source: str
    terms: str
    how: str
    fetchable: bool = False


def _pvlib_file(name: str) -> bool:
    try:
        from greenhop.traces.tmy import pvlib_data_dir

        return os.path.isfile(os.path.join(pvlib_data_dir(), name))
    except ImportError:  # pragma: no cover - pvlib is a dependency
        return False


def datasets() -> list[Dataset]:
    """All datasets, bundled ones first."""
    pvlib_terms = "NREL TMY data, public; pvlib BSD-3-Clause"
    out = [
        Dataset("tmy3-greensboro", "TMY3 hourly weather, Greensboro NC (PV + 10 m wind)",
                "NREL NSRDB via pvlib data/723170TYA.CSV", pvlib_terms, "installed with pvlib"),
        Dataset("tmy3-sand-point", "TMY3 hourly weather, Sand Point AK (PV + 10 m wind)",
                "NREL NSRDB via pvlib data/703165TY.csv", pvlib_terms, "installed with pvlib"),
        Dataset("tmy2-miami", "TMY2 hourly weather, Miami FL (PV + 10 m wind)",
                "NREL NSRDB via pvlib data/12839.tm2", pvlib_terms, "installed with pvlib"),
        Dataset("linke-turbidity", "Monthly Linke turbidity climatology (clear sky anywhere)",
                "SoDa / pvlib data/LinkeTurbidities.h5", "pvlib BSD-3-Clause; SoDa climatology",
                "installed with pvlib"),
        Dataset("windpowerlib-turbines", "Turbine power curves (Open Energy Database copy)",
                "windpowerlib oedb/power_curves.csv", "windpowerlib MIT; OEDB data",
                "installed with windpowerlib"),
        Dataset("mosaik-emissions-de", "Hourly carbon intensity of Germany 2021-2024 "
                "(direct and lifecycle)", "Electricity Maps via mosaik-emissions",
                "mosaik-emissions MIT; Electricity Maps dataset terms (attribution)",
                "installed with mosaik-emissions"),
        Dataset("caiso-curtailment", "Hourly wind and solar curtailment of the California "
                "ISO, 2016-06-30 to 2017-05-10 (13 days missing) [MW]",
                "CAISO daily curtailment reports as CSV (ahrensdaniel/caiso-curtailment-scraper "
                "06e7b526); greenhop/data/caiso/README.md",
                "CAISO's published figures; conversion MIT", "packaged with greenhop"),
        Dataset("nl-day-ahead", "Hourly day-ahead electricity prices of the Netherlands "
                "2015-2024 [EUR/MWh] (grid signal, docs/grid.md)",
                "ENTSO-E published prices via the ev2gym wheel "
                "data/Netherlands_day-ahead-2015-2024.csv", "ev2gym MIT; ENTSO-E data",
                "pip install --no-deps ev2gym"),
    ]
    for name, info in vessim_data.VESSIM_DATASETS.items():
        out.append(Dataset(name, info["what"], info["source"], info["terms"],
                           f"greenhop data fetch {name}", fetchable=True))
    return out


def is_present(ds: Dataset) -> bool:
    """Whether the dataset's files are on this machine."""
    if ds.fetchable:
        return vessim_data.is_present(ds.name)
    files = {"tmy3-greensboro": "723170TYA.CSV", "tmy3-sand-point": "703165TY.csv",
             "tmy2-miami": "12839.tm2", "linke-turbidity": "LinkeTurbidities.h5"}
    if ds.name in files:
        return _pvlib_file(files[ds.name])
    if ds.name == "windpowerlib-turbines":
        import importlib.util

        return importlib.util.find_spec("windpowerlib") is not None
    if ds.name == "mosaik-emissions-de":
        from greenhop.traces.emissions import is_present as emissions_present

        return emissions_present()
    if ds.name == "caiso-curtailment":
        from greenhop.traces.caiso import packaged_path

        return packaged_path().is_file()
    if ds.name == "nl-day-ahead":
        from greenhop.traces.grid_signals import nl_day_ahead_path

        try:
            nl_day_ahead_path()
        except GreenhopError:
            return False
        return True
    return False  # pragma: no cover
