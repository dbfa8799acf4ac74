"""README's table of the default sites' traces says exactly what fleet.toml configures."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenhop.traces.fleet import load_fleet
from greenhop.traces.tmy import TMY_SITES

README = Path(__file__).resolve().parents[2] / "README.md"


def _rows() -> dict[str, tuple[str, str]]:
    text = README.read_text()
    section = text.split("### The default sites' traces", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and cells[0] not in ("site", "---"):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def _station(source: str) -> str:
    """``tmy:sand_point`` -> ``Sand Point, AK``."""
    return TMY_SITES[source.split(":", 1)[1]].name.split(" (", 1)[0]


@pytest.mark.parametrize("site", load_fleet(None).sites, ids=lambda s: s.name)
def test_readme_names_each_default_sites_pv_and_wind_source(site) -> None:
    rows = _rows()
    assert set(rows) == {s.name for s in load_fleet(None).sites}
    pv, wind = rows[site.name]
    kind = site.pv_source.split(":", 1)[0]
    station = _station(site.pv_source)
    if kind == "tmy":
        assert f"measured weather of {station}" in pv and "clear sky" not in pv
    else:
        assert kind == "clearsky"
        city = load_fleet(None).location(site.name).split(",")[0]
        assert f"clear sky at {city}" in pv and f"measured at {station}" in pv
        southern = (site.latitude_deg < 0) != (TMY_SITES[site.pv_source.split(":")[1]]
                                               .latitude_deg < 0)
        assert ("half a year" in pv) == southern
    if site.wind_kw > 0:
        assert wind.startswith(f"{site.wind_kw:g} kW") and site.wind_source == site.pv_source
        assert "same station" in wind
    else:
        assert wind == "none"
