"""The fleet file: the sites greenhop simulates, in TOML, strictly validated.

The default fleet ships with greenhop (``greenhop/data/fleet.toml``). A fleet
file has an optional ``[fleet]`` table (``name``, ``description``) and one
``[[site]]`` table per site::

    [[site]]
    name = "greensboro-nc"
    latitude_deg = 36.1
    longitude_deg = -79.95
    timezone = "America/New_York"
    pv = "600kW"                  # installed PV peak power (kWp)
    wind = "300kW"                # turbine rating
    pv_source = "tmy:greensboro"
    wind_source = "tmy:greensboro"
    base_load = "20kW"            # always-on IT load before PUE
    pue = 1.2
    gpu_platform = "A100-SXM4-80GB"
    gpu_slots = 16
    grid_import_limit = "500kW"   # optional; absent = unlimited
    [site.battery]                # optional
    capacity = "400kWh"
    power = "100kW"
    round_trip_efficiency = 0.9
    initial_soc = 0.5
    min_soc = 0.1

Powers and energies are strings with units (``"600kW"``, ``"400kWh"``).
Every error names the file and the key path (``site[2].battery.capacity``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from greenhop.core.errors import ConfigError, UnitError
from greenhop.core.files import not_a_file_reason, parse_toml, read_text_file
from greenhop.core.names import check_name
from greenhop.core.specs import BatterySpec, SiteSpec
from greenhop.core.units import beyond_ceiling, finite_float, parse_energy, parse_power

SITE_KEYS = ("name", "latitude_deg", "longitude_deg", "timezone", "pv", "wind", "pv_source",
             "wind_source", "base_load", "pue", "gpu_platform", "gpu_slots",
             "grid_import_limit", "battery", "location")
REQUIRED_SITE_KEYS = ("name", "latitude_deg", "longitude_deg", "timezone")
BATTERY_KEYS = ("capacity", "power", "round_trip_efficiency", "initial_soc", "min_soc")
FLEET_KEYS = ("name", "description")


def default_fleet_path() -> Path:
    """Path of the fleet file packaged with greenhop."""
    return Path(str(resources.files("greenhop").joinpath("data", "fleet.toml")))


@dataclass(frozen=True)
class Fleet:
    """A validated fleet: its sites in file order."""

    sites: tuple[SiteSpec, ...]
    name: str = "fleet"
    description: str = ""
    path: str = ""
    locations: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Site names in file order."""
        return tuple(s.name for s in self.sites)

    def site(self, name: str) -> SiteSpec:
        """The site called ``name``; an unknown name raises ConfigError listing the names."""
        for s in self.sites:
            if s.name == name:
                return s
        raise ConfigError(f"no site {name!r} in the fleet {self.path or self.name}; "
                          f"sites: {', '.join(self.names)}")

    def location(self, name: str) -> str:
        """Human place name of site ``name`` ('' when the file gives none)."""
        for s, loc in zip(self.sites, self.locations, strict=False):
            if s.name == name:
                return loc
        return ""


class _Ctx:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}: {message}")


def _number(ctx: _Ctx, table: dict, key: str, where: str, default=None, *, whole=False):
    if key not in table:
        if default is None:
            raise ctx.fail(where, f"missing key '{key}'")
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ctx.fail(f"{where}.{key}", f"must be a number, got {value!r}")
    if whole and not isinstance(value, int):
        raise ctx.fail(f"{where}.{key}", f"must be a whole number, got {value!r}")
    if finite_float(value) is None:  # an integer can only be past any float
        raise ctx.fail(f"{where}.{key}", f"the number {str(value)[:20]}... is too large"
                       if isinstance(value, int) else f"must be finite, got {value!r}")
    return value


def _quantity(ctx: _Ctx, table: dict, key: str, where: str, parse, example: str,
              default: float | None = None) -> float:
    if key not in table:
        if default is None:
            raise ctx.fail(where, f"missing key '{key}' (e.g. {key} = \"{example}\")")
        return default
    value = table[key]
    if not isinstance(value, str):
        raise ctx.fail(f"{where}.{key}", f"must be a string with a unit such as \"{example}\", "
                                         f"got {value!r}")
    try:
        out = parse(value)
    except UnitError as exc:
        raise ctx.fail(f"{where}.{key}", str(exc)) from None
    why = beyond_ceiling(out, "energy" if parse is parse_energy else "power")
    if why:
        raise ctx.fail(f"{where}.{key}", why)
    return out


def _string(ctx: _Ctx, table: dict, key: str, where: str, default: str | None = None) -> str:
    if key not in table:
        if default is None:
            raise ctx.fail(where, f"missing key '{key}'")
        return default
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise ctx.fail(f"{where}.{key}", f"must be a non-empty string, got {value!r}")
    return value


def _unknown(ctx: _Ctx, table: dict, allowed: tuple[str, ...], where: str) -> None:
    extra = [k for k in table if k not in allowed]
    if extra:
        raise ctx.fail(where, f"unknown key '{extra[0]}'; valid keys: {', '.join(allowed)}")


def _battery(ctx: _Ctx, table: object, where: str) -> BatterySpec:
    if not isinstance(table, dict):
        raise ctx.fail(where, "must be a table ([site.battery]) with capacity and power")
    _unknown(ctx, table, BATTERY_KEYS, where)
    capacity = _quantity(ctx, table, "capacity", where, parse_energy, "400kWh")
    power = _quantity(ctx, table, "power", where, parse_power, "100kW")
    eta = _number(ctx, table, "round_trip_efficiency", where, 0.9)
    initial = _number(ctx, table, "initial_soc", where, 0.5)
    floor = _number(ctx, table, "min_soc", where, 0.0)
    try:
        return BatterySpec(capacity_j=capacity, max_power_w=power, round_trip_efficiency=eta,
                           initial_soc=initial, min_soc=floor)
    except ConfigError as exc:
        raise ctx.fail(where, str(exc)) from None


def _site(ctx: _Ctx, table: object, where: str) -> tuple[SiteSpec, str]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from greenhop.traces.site_model import parse_source

    if not isinstance(table, dict):
        raise ctx.fail(where, "must be a table ([[site]])")
    _unknown(ctx, table, SITE_KEYS, where)
    name = _string(ctx, table, "name", where)
    try:  # the rule scenario sites follow: a name becomes a directory name
        check_name("site", name)
    except ConfigError as exc:
        raise ctx.fail(f"{where}.name", str(exc)) from None
    where = f"{where} ('{name}')"
    lat = _number(ctx, table, "latitude_deg", where)
    lon = _number(ctx, table, "longitude_deg", where)
    tz = _string(ctx, table, "timezone", where)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ctx.fail(f"{where}.timezone", f"unknown time zone {tz!r}; use an IANA name "
                                            "such as 'Europe/Berlin'") from None
    pv_w = _quantity(ctx, table, "pv", where, parse_power, "600kW", 0.0)
    wind_w = _quantity(ctx, table, "wind", where, parse_power, "300kW", 0.0)
    sources = {}
    for role, capacity in (("pv", pv_w), ("wind", wind_w)):
        key = f"{role}_source"
        if key in table:
            src = _string(ctx, table, key, where)
            try:
                parse_source(src, role)
            except ConfigError as exc:
                raise ctx.fail(f"{where}.{key}", str(exc)) from None
            sources[role] = src
        elif capacity > 0:
            raise ctx.fail(where, f"'{role}' is set but '{key}' is missing; add e.g. "
                                  f"{key} = \"tmy:greensboro\"")
    base = _quantity(ctx, table, "base_load", where, parse_power, "20kW", 0.0)
    pue = _number(ctx, table, "pue", where, 1.2)
    platform = _string(ctx, table, "gpu_platform", where, "A100-SXM4-80GB")
    try:
        from greenhop.core.platforms import platform as _platform
    except ImportError:  # pragma: no cover - the platform table ships with greenhop
        _platform = None
    if _platform is not None:
        try:
            platform = _platform(platform).name
        except ConfigError as exc:
            raise ctx.fail(f"{where}.gpu_platform", str(exc)) from None
    slots = _number(ctx, table, "gpu_slots", where, 8, whole=True)
    limit = _quantity(ctx, table, "grid_import_limit", where, parse_power, "500kW", math.inf)
    battery = _battery(ctx, table["battery"], f"{where}.battery") if "battery" in table else None
    location = _string(ctx, table, "location", where, "") if "location" in table else ""
    try:
        spec = SiteSpec(name=name, latitude_deg=lat, longitude_deg=lon, timezone=tz,
                        pv_kwp=pv_w / 1000.0, wind_kw=wind_w / 1000.0, base_load_w=base,
                        pue=pue, gpu_platform=platform, gpu_slots=slots, battery=battery,
                        grid_import_limit_w=limit, pv_source=sources.get("pv"),
                        wind_source=sources.get("wind"))
    except ConfigError as exc:
        raise ctx.fail(where, str(exc)) from None
    return spec, location


def parse_fleet(text: str, path: str = "<fleet>") -> Fleet:
    """Validate the TOML text of a fleet file; ``path`` names it in errors."""
    ctx = _Ctx(path)
    data = parse_toml(text, path)
    extra = [k for k in data if k not in ("fleet", "site")]
    if extra:
        raise ctx.fail("top level", f"unknown table or key '{extra[0]}'; a fleet file has "
                                    "[fleet] and [[site]] tables")
    meta = data.get("fleet", {})
    if not isinstance(meta, dict):
        raise ctx.fail("fleet", "must be a table ([fleet])")
    _unknown(ctx, meta, FLEET_KEYS, "fleet")
    sites_raw = data.get("site")
    if sites_raw is None:
        raise ctx.fail("top level", "no sites; add at least one [[site]] table")
    if not isinstance(sites_raw, list) or not sites_raw:
        raise ctx.fail("site", "must be an array of tables ([[site]]), with at least one")
    sites, locations, seen = [], [], {}
    for i, raw in enumerate(sites_raw):
        spec, loc = _site(ctx, raw, f"site[{i}]")
        if spec.name in seen:
            raise ctx.fail(f"site[{i}].name", f"duplicate site name {spec.name!r} (also "
                                              f"site[{seen[spec.name]}]); names must be unique")
        seen[spec.name] = i
        sites.append(spec)
        locations.append(loc)
    name = meta.get("name", Path(path).stem)
    description = meta.get("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        raise ctx.fail("fleet", "name and description must be strings")
    return Fleet(sites=tuple(sites), name=name, description=description, path=path,
                 locations=tuple(locations))


def load_fleet(path: str | Path | None = None) -> Fleet:
    """Load and validate a fleet file; ``None`` loads the default fleet shipped with greenhop."""
    p = Path(path) if path is not None else default_fleet_path()
    if not p.is_file():
        what = not_a_file_reason(p)
        raise ConfigError(f"fleet file {p} {what}; check the path or omit it to use "
                          "the default fleet")
    return parse_fleet(read_text_file(p, "fleet file"), str(p))
