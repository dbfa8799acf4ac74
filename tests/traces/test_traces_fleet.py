"""The fleet file and the site energy model contract used by the simulator."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from greenhop.core.errors import ConfigError, TraceError
from greenhop.core.specs import SiteSpec
from greenhop.traces import site_model
from greenhop.traces.fleet import Fleet, load_fleet, parse_fleet
from greenhop.traces.site_model import renewable_power, site_energy

SITE = """
[[site]]
name = "a"
latitude_deg = 36.1
longitude_deg = -79.95
timezone = "America/New_York"
pv = "100kW"
pv_source = "tmy:greensboro"
"""


def test_default_fleet_has_six_sites_in_three_time_zones() -> None:
    fleet = load_fleet()
    assert isinstance(fleet, Fleet)
    assert len(fleet.sites) >= 6
    offsets = {ZoneInfo(s.timezone).utcoffset(pd.Timestamp("2023-01-15").to_pydatetime())
               for s in fleet.sites}
    assert len(offsets) >= 3
    assert fleet.names == tuple(s.name for s in fleet.sites)
    assert fleet.site(fleet.names[0]) is fleet.sites[0]
    kinds = {s.pv_source.split(":")[0] for s in fleet.sites}
    assert kinds == {"tmy", "clearsky"}
    assert any(s.wind_kw > 0 for s in fleet.sites) and any(s.battery for s in fleet.sites)


def test_unknown_site_lists_the_names() -> None:
    fleet = load_fleet()
    with pytest.raises(ConfigError, match=r"no site 'atlantis'.*sites: greensboro-nc"):
        fleet.site("atlantis")


def test_a_minimal_file_parses_with_defaults() -> None:
    fleet = parse_fleet(SITE, "mini.toml")
    site = fleet.site("a")
    assert site.pv_kwp == 100.0 and site.wind_kw == 0.0 and site.battery is None
    assert np.isinf(site.grid_import_limit_w) and fleet.name == "mini"


BAD_FLEETS = [
    ("name = ", "not valid TOML"),
    ("", "no sites; add at least one [[site]]"),
    ("site = 3", "site: must be an array of tables"),
    ("[extra]\nx = 1\n" + SITE, "unknown table or key 'extra'"),
    ("[fleet]\nowner = 'me'\n" + SITE, "fleet: unknown key 'owner'"),
    (SITE.replace('name = "a"', ""), "site[0]: missing key 'name'"),
    (SITE.replace('name = "a"', 'name = ""'), "site[0].name: must be a non-empty string"),
    (SITE.replace("latitude_deg = 36.1", ""), "site[0] ('a'): missing key 'latitude_deg'"),
    (SITE.replace("latitude_deg = 36.1", 'latitude_deg = "north"'),
     "site[0] ('a').latitude_deg: must be a number"),
    (SITE.replace("latitude_deg = 36.1", "latitude_deg = 95.0"), "latitude must be in [-90, 90]"),
    (SITE.replace("longitude_deg = -79.95", "longitude_deg = 200"), "longitude must be in"),
    (SITE.replace('"America/New_York"', '"Mars/Olympus"'), "unknown time zone 'Mars/Olympus'"),
    (SITE.replace('pv = "100kW"', 'pv = 100'), "site[0] ('a').pv: must be a string with a unit"),
    (SITE.replace('pv = "100kW"', 'pv = "100kWh"'), "site[0] ('a').pv: unknown power unit"),
    (SITE.replace('pv = "100kW"', 'pv = "-5kW"'), "is negative"),
    (SITE.replace('pv_source = "tmy:greensboro"', ""), "'pv' is set but 'pv_source' is missing"),
    (SITE.replace("tmy:greensboro", "tmy:atlantis"), "unknown TMY station 'atlantis'"),
    (SITE.replace("tmy:greensboro", "nasa:greensboro"), "unknown pv source kind 'nasa'"),
    (SITE.replace("tmy:greensboro", "greensboro"), "must look like 'kind:name'"),
    (SITE + 'wind = "1kW"\nwind_source = "clearsky:miami"\n', "cannot drive wind"),
    (SITE + "pue = 0.9\n", "PUE must be between 1 and 5"),
    (SITE + "gpu_slots = 2.5\n", "gpu_slots: must be a whole number"),
    (SITE + 'gpu_platform = "TPU-v9"\n', "unknown GPU platform 'TPU-v9'"),
    (SITE + "colour = 'green'\n", "unknown key 'colour'; valid keys"),
    (SITE + SITE, "site[1].name: duplicate site name 'a' (also site[0])"),
    (SITE + "battery = 5\n", "site[0] ('a').battery: must be a table"),
    (SITE + '[site.battery]\npower = "10kW"\n', "battery: missing key 'capacity'"),
    (SITE + '[site.battery]\ncapacity = "10kW"\npower = "10kW"\n',
     "battery.capacity: unknown energy unit"),
    (SITE + '[site.battery]\ncapacity = "10kWh"\npower = "10kW"\nround_trip_efficiency = 1.5\n',
     "round-trip efficiency must be in (0, 1]"),
    (SITE + '[site.battery]\ncapacity = "10kWh"\npower = "10kW"\nmin_soc = 0.8\n',
     "need 0 <= min_soc <= initial_soc <= 1"),
    (SITE + '[site.battery]\ncapacity = "10kWh"\npower = "10kW"\nsize = 3\n',
     "battery: unknown key 'size'"),
    (SITE + 'grid_import_limit = "lots"\n', "grid_import_limit: cannot parse power"),
    # finite, but a run's sums would overflow: refused at a physical ceiling
    (SITE.replace('pv = "100kW"', 'pv = "1e300kW"'),
     "site[0] ('a').pv: 1e+303 W is more than 1 TW, far above any real one"),
    (SITE + 'base_load = "2TW"\n', "base_load: 2e+12 W is more than 1 TW"),
    (SITE + '[site.battery]\ncapacity = "1e300kWh"\npower = "10kW"\n',
     "battery.capacity: 3.6e+306 J is more than 10,000 TWh"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FLEETS,
                         ids=[f"case{i}" for i in range(len(BAD_FLEETS))])
def test_bad_fleet_files_name_the_file_and_key(text, message) -> None:
    with pytest.raises(ConfigError) as info:
        parse_fleet(text, "fleet.toml")
    assert str(info.value).startswith("fleet.toml: ")
    assert message in str(info.value)


def test_missing_and_non_utf8_fleet_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_fleet(tmp_path / "none.toml")
    with pytest.raises(ConfigError, match=r"fleet file .* is a folder"):
        load_fleet(tmp_path)
    bad = tmp_path / "latin.toml"
    bad.write_bytes("name = 'caf\xe9'".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_fleet(bad)


def year_index(step: str = "5min", year: int = 2023) -> pd.DatetimeIndex:
    return pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq=step, tz="UTC",
                         inclusive="left")


def test_renewable_power_contract_on_a_five_minute_year() -> None:
    fleet = load_fleet()
    index = year_index()
    for site in fleet.sites:
        power = renewable_power(site, index)
        assert list(power.columns) == ["pv_w", "wind_w", "renewable_w"]
        assert power.index.equals(index)
        assert np.isfinite(power.to_numpy()).all() and (power.to_numpy() >= 0).all()
        np.testing.assert_allclose(power["renewable_w"], power["pv_w"] + power["wind_w"])
        assert power["pv_w"].max() <= site.pv_kwp * 1000.0 * 1.01
        assert power["wind_w"].max() <= site.wind_kw * 1000.0 + 1e-6


def test_resampling_to_five_minutes_keeps_the_hourly_energy() -> None:
    site = load_fleet().sites[0]
    hourly = renewable_power(site, year_index("1h"))
    fine = renewable_power(site, year_index("5min"))
    assert fine["renewable_w"].sum() * 300 == pytest.approx(hourly["renewable_w"].sum() * 3600,
                                                            rel=1e-9)


def test_pv_is_zero_at_local_midnight_and_peaks_near_noon() -> None:
    fleet = load_fleet()
    index = year_index("1h")
    for name in ("tokyo-jp", "madrid-es", "greensboro-nc"):
        site = fleet.site(name)
        pv = renewable_power(site, index)["pv_w"]
        local_hour = pv.index.tz_convert(site.timezone).hour
        by_hour = pv.groupby(local_hour).mean()
        assert by_hour.loc[[0, 1, 2, 3]].max() == 0.0
        assert 10 <= by_hour.idxmax() <= 14


def test_southern_site_has_its_summer_in_january() -> None:
    pv = renewable_power(load_fleet().site("sydney-au"), year_index("1h"))["pv_w"]
    monthly = pv.groupby(pv.index.month).sum()
    assert monthly.loc[1] > 1.3 * monthly.loc[6]


def test_many_sites_sharing_sources_compute_each_source_once() -> None:
    """Sites that share a source share its pvlib/windpowerlib work: loading 100 sites does
    one source computation per distinct source, not per site (what keeps a large fleet
    fast; the speed itself is measured in benchmarks, not asserted here)."""
    fleet = load_fleet()
    index = year_index()
    renewable_power(fleet.sites[0], index)  # warm the per-source cache
    sources = {(s.pv_source, "pv") for s in fleet.sites if s.pv_kwp > 0} | {
        (s.wind_source, "wind") for s in fleet.sites if s.wind_kw > 0}
    before = site_model._resampled.cache_info()
    for i in range(100):
        renewable_power(fleet.sites[i % len(fleet.sites)], index)
    after = site_model._resampled.cache_info()
    assert after.misses - before.misses <= len(sources)
    assert after.hits - before.hits >= 100 - len(sources)


@pytest.mark.parametrize(("site", "message"), [
    (SiteSpec(name="x", latitude_deg=0, longitude_deg=0, pv_kwp=1.0), "no pv_source"),
    (SiteSpec(name="x", latitude_deg=0, longitude_deg=0, wind_kw=1.0), "no wind_source"),
    (SiteSpec(name="x", latitude_deg=0, longitude_deg=0, pv_kwp=1.0, pv_source="tmy:nowhere"),
     "unknown TMY station"),
])
def test_sites_without_usable_sources_are_rejected(site, message) -> None:
    with pytest.raises(ConfigError, match=message):
        renewable_power(site, year_index("1h"))


def test_irregular_or_naive_index_is_rejected() -> None:
    site = load_fleet().sites[0]
    with pytest.raises(TraceError, match="naive"):
        renewable_power(site, pd.date_range("2023-01-01", periods=3, freq="h"))
    irregular = pd.DatetimeIndex(["2023-01-01 00:00", "2023-01-01 01:00", "2023-01-01 01:30"],
                                 tz="UTC")
    with pytest.raises(TraceError, match="regular step"):
        renewable_power(site, irregular)


def test_site_energy_balances_and_battery_stays_in_bounds() -> None:
    site = load_fleet().site("greensboro-nc")
    index = year_index("15min")
    e = site_energy(site, index, it_load_w=8 * 400.0)
    np.testing.assert_allclose(e["renewable_w"], e["direct_w"] + e["charge_w"]
                               + e["curtailed_w"], atol=1e-6)
    np.testing.assert_allclose(e["load_w"], e["direct_w"] + e["discharge_w"] + e["grid_w"]
                               + e["unmet_w"], atol=1e-6)
    cap = site.battery.capacity_j
    assert e["soc_j"].between(site.battery.min_soc * cap - 1e-6, cap + 1e-6).all()
    np.testing.assert_allclose(e["surplus_w"], e["renewable_w"] - e["load_w"])
    assert e["load_w"].iloc[0] == pytest.approx((site.base_load_w + 3200.0) * site.pue)
