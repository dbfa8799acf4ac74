"""Scenario sites and links: parse a scenario's ``[fleet]`` table, its ``[[sites]]`` (each
with its renewable ``trace``) and its ``[[links]]``, and check the traces against the run.

:func:`~greenhop.sim.scenario.parse_scenario` calls these helpers; each raises
:class:`~greenhop.core.errors.ConfigError` naming the dotted path to the bad key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from greenhop.core.errors import ConfigError, TraceError, UnitError
from greenhop.core.names import check_name
from greenhop.core.specs import MAX_GPU_SLOTS, BatterySpec, LinkSpec, SiteSpec
from greenhop.core.units import (
    MAX_CARBON_G_PER_KWH,
    MAX_POWER_W,
    MAX_SPAN_S,
    beyond_ceiling,
    finite_float,
    format_power,
    parse_duration,
)
from greenhop.model import constants as C
from greenhop.sim.schema import Table, shown

TRACE_KINDS = ("fleet", "constant", "values", "solar", "caiso", "file")
#: columns of the packaged CAISO curtailment a ``caiso`` trace may follow
CAISO_COLUMNS = ("total", "solar", "wind")
MAX_THROUGHPUT = 1000.0
"""The fastest GPU a site may have, relative to the reference GPU (an A100) [-]."""


@dataclass(frozen=True)
class TraceSpec:
    """Where a site's renewable power comes from.

    ``fleet``: the site energy model on real traces (:mod:`greenhop.traces.site_model`);
    ``constant``: ``power_w`` at every step; ``values``: ``values_w`` step by step from
    ``history`` before the start (must cover history + horizon); ``solar``: a clear-day
    shape ``peak_w x max(0, sin(pi (t - 6 h) / 12 h))`` in UTC (synthetic, for tests);
    ``caiso``: ``share x`` the real CAISO curtailment of ``column`` (``total``, ``solar``
    or ``wind``, mean power of each hour [W]) that was reported ``offset_s`` later than the
    simulated time, i.e. at simulated time ``t`` the site sees CAISO's hour ``t +
    offset_s`` (held as mean power over each step); a missing hour of the reports counts as
    no curtailment. With ``cover_base_load`` the site's base demand (base load x PUE) is
    added, so the surplus is exactly the curtailment share
    (:mod:`greenhop.traces.caiso`); ``file``: ``scale x`` the power in ``column`` (in
    ``unit``: W, kW, MW, GW, or Wh, kWh, MWh per interval) of the user's CSV or Parquet
    file ``path``, read as ``greenhop windows --trace`` reads it (``time_column``,
    ``label``, ``gaps``), seen ``offset_s`` later than the simulated time and held as mean
    power over each step (:mod:`greenhop.sim.file_trace`).
    """

    kind: str = "fleet"
    power_w: float = 0.0
    values_w: tuple[float, ...] = ()
    peak_w: float = 0.0
    column: str = "total"
    share: float = 0.0
    offset_s: float = 0.0
    cover_base_load: bool = False
    path: str = ""
    unit: str = "W"
    time_column: str | None = None
    label: str = "start"
    gaps: str = "error"
    scale: float = 1.0


@dataclass(frozen=True)
class SimSite:
    """A site as the simulator uses it: the spec, its trace, its GPU platform figures."""

    spec: SiteSpec
    trace: TraceSpec
    gpu_power_w: float
    gpu_idle_w: float
    throughput: float
    carbon_g_per_kwh: float | None = None

    @property
    def name(self) -> str:
        return self.spec.name



def _fleet_sites(t: Table, base_dir: Path) -> dict[str, SiteSpec]:
    if not t.has("fleet"):
        return {}
    ft = t.table("fleet")
    path = ft.string("path", None)
    names = ft.strings("sites", None, unique=True)
    ft.done()
    try:
        from greenhop.traces.fleet import load_fleet
    except ImportError:  # pragma: no cover - traces not installed
        raise ConfigError("fleet: the fleet loader greenhop.traces.fleet is not available; "
                          "define every site under [[sites]] instead") from None
    fleet_path = None
    if path is not None:
        fleet_path = Path(path) if Path(path).is_absolute() else base_dir / path
    try:
        fleet = load_fleet(fleet_path) if fleet_path is not None else load_fleet()
    except ConfigError as exc:
        raise ConfigError(f"fleet.path: {exc}") from None
    sites = {s.name: s for s in fleet.sites}
    if names is None:
        return sites
    out = {}
    for i, n in enumerate(names):
        if n not in sites:
            raise ConfigError(f"fleet.sites[{i}]: unknown site '{n}' in the fleet; valid: "
                              f"{', '.join(sites)}")
        out[n] = sites[n]
    return out


_SITE_FIELDS = {
    "latitude": "latitude_deg", "longitude": "longitude_deg", "timezone": "timezone",
    "pv_kwp": "pv_kwp", "wind_kw": "wind_kw", "pue": "pue", "gpu_platform": "gpu_platform",
    "gpu_slots": "gpu_slots", "pv_source": "pv_source", "wind_source": "wind_source",
}


_FLEET_SPELLINGS = {"latitude_deg": "latitude", "longitude_deg": "longitude",
                    "pv": "pv_kwp", "wind": "wind_kw"}
"""Keys of a fleet file's ``[[site]]`` and the key a scenario's ``[[sites]]`` spells them."""


def _refuse_fleet_spelling(st: Table) -> None:
    """Name a fleet file's key in a new site of a scenario (``latitude_deg`` copied from
    fleet.toml) as the unknown key it is here, before a missing latitude is blamed."""
    for key, ours in _FLEET_SPELLINGS.items():
        if key in st.data:
            raise ConfigError(f"{st.where(key)}: unknown key; a scenario's [[sites]] spells it "
                              f"{ours} (the fleet file's [[site]] spells it {key})")


def _platform_figures(name: str, where: str) -> tuple[float, float, float]:
    from greenhop.core.platforms import platform

    try:
        p = platform(name)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return p.train_power_w, p.idle_power_w, p.relative_throughput


def _time_zone(st: Table, key: str) -> str:
    """An IANA time zone name such as ``Europe/Berlin``, checked against the tz database."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = st.string(key)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{st.where(key)}: unknown time zone {name!r}; use an IANA name "
                          "such as 'Europe/Berlin'") from None
    return name


def _source(st: Table, key: str) -> str:
    """A weather source such as ``tmy:greensboro``, checked as the fleet file checks it (an
    unknown station is named with the key here, not later while traces are built)."""
    from greenhop.traces.site_model import parse_source

    source = st.string(key)
    try:
        parse_source(source, key.removesuffix("_source"))
    except ConfigError as exc:
        raise ConfigError(f"{st.where(key)}: {exc}") from None
    return source


def _trace_values(tt: Table) -> tuple[float, ...]:
    """The powers [W] of a ``values`` trace; an error names the first bad entry's index."""
    vals = tt.raw("values")
    if not isinstance(vals, list) or not vals:
        raise ConfigError(f"{tt.where('values')}: expected a non-empty list of non-negative "
                          f"powers in W, got {vals!r}")
    for i, v in enumerate(vals):
        if isinstance(v, bool) or not isinstance(v, int | float):
            why = f"is not a number ({v!r})"
        elif isinstance(v, float) and math.isnan(v):
            why = "is NaN"
        elif isinstance(v, float) and math.isinf(v):
            why = "is infinite"
        elif finite_float(v) is None:  # an integer past any float (1 and 400 zeros)
            why = f"is too large ({shown(v, 20)})"
        elif v < 0:
            why = f"is negative ({v!r})"
        elif too_big := beyond_ceiling(v, "power"):
            raise ConfigError(f"{tt.where('values')}[{i}]: {too_big}")
        else:
            continue
        raise ConfigError(f"{tt.where('values')}[{i}]: {why}; each value is a non-negative "
                          "power in W")
    return tuple(float(v) for v in vals)


_SOURCE_KEYS = ("pv_kwp", "pv_source", "wind_kw", "wind_source")
"""The keys of a site's own renewable capacity: a ``trace`` other than ``fleet`` replaces it."""


def _parse_site(st: Table, base: SiteSpec | None, fleet_given: bool = True,
                base_dir: Path | None = None) -> SimSite:
    name = check_name("site", st.string("name"), st.where("name"))
    kw: dict[str, Any] = {}
    for key, attr in _SITE_FIELDS.items():
        if not st.has(key):
            continue
        if key in ("latitude", "longitude"):
            bound = 90 if key == "latitude" else 180
            kw[attr] = st.number(key, lo=-bound, hi=bound)
        elif key in ("pv_kwp", "wind_kw"):  # kW: the ceiling of every power
            kw[attr] = st.number(key, lo=0, hi=MAX_POWER_W / 1e3)
        elif key == "pue":
            kw[attr] = st.number(key, lo=1, hi=5)
        elif key == "gpu_slots":
            kw[attr] = st.number(key, lo=0, hi=MAX_GPU_SLOTS, integer=True)
        elif key == "timezone":
            kw[attr] = _time_zone(st, key)
        elif key in ("pv_source", "wind_source"):
            kw[attr] = _source(st, key)
        else:
            kw[attr] = st.string(key)
    if st.has("base_load"):
        kw["base_load_w"] = st.power("base_load")
    if st.has("grid_import_limit"):
        kw["grid_import_limit_w"] = st.power("grid_import_limit")
    if st.has("battery"):
        bt = st.table("battery")
        if bt.data == {}:
            kw["battery"] = None
        else:
            try:
                capacity_j = bt.energy("capacity", lo=0, lo_open=True)
                power_w = bt.power("power", lo=0, lo_open=True)
            except ConfigError as exc:
                if base is None or base.battery is None:
                    raise
                raise ConfigError(f"{exc}; battery = {{}} leaves the fleet site's battery "
                                  "out") from None
            fields = dict(
                capacity_j=capacity_j,
                max_power_w=power_w,
                round_trip_efficiency=bt.number("round_trip_efficiency", 0.9, lo=0,
                                                lo_open=True, hi=1),
                initial_soc=bt.number("initial_soc", 0.5, lo=0, hi=1),
                min_soc=bt.number("min_soc", 0.0, lo=0, hi=1),
            )
            try:
                kw["battery"] = BatterySpec(**fields)
            except ConfigError as exc:
                raise ConfigError(f"{bt.path}: {exc}") from None
            bt.done()
    try:
        if base is None:
            if "latitude_deg" not in kw or "longitude_deg" not in kw:
                _refuse_fleet_spelling(st)
                if not fleet_given:
                    raise ConfigError(
                        f"{st.path}: site '{name}' is not in the fleet: no [fleet] table is "
                        "given, so the site needs latitude and longitude (or add a [fleet] "
                        "table that has it)")
                raise ConfigError(
                    f"{st.path}: site '{name}' is not in the fleet, so it needs latitude and "
                    "longitude (or add it to the fleet, or fix the name)")
            spec = SiteSpec(name=name, **kw)
        else:
            spec = replace(base, **kw)
    except ConfigError as exc:
        msg = str(exc)
        raise ConfigError(msg if msg.startswith(st.path) else f"{st.path}: {msg}") from None
    trace = TraceSpec("fleet")
    if st.has("trace"):
        tt = st.table("trace")
        kind = tt.string("kind", choices=TRACE_KINDS)
        if kind == "constant":
            trace = TraceSpec("constant", power_w=tt.power("power"))
        elif kind == "values":
            trace = TraceSpec("values", values_w=_trace_values(tt))
        elif kind == "solar":
            trace = TraceSpec("solar", peak_w=tt.power("peak"))
        elif kind == "caiso":
            trace = TraceSpec(
                "caiso", column=tt.string("column", "total", choices=CAISO_COLUMNS),
                share=tt.number("share", lo=0, lo_open=True, hi=1),
                offset_s=_offset_s(tt),
                cover_base_load=tt.boolean("cover_base_load", False))
        elif kind == "file":
            trace = _file_trace(tt, base_dir or Path.cwd())
        tt.done()
        ignored = next((k for k in _SOURCE_KEYS if k in st.data), None)
        if kind != "fleet" and ignored is not None:
            raise ConfigError(f"{st.where(ignored)}: a site with a '{kind}' trace takes its "
                              f"renewable power from the trace alone, so {ignored} would be "
                              f"ignored; drop {ignored}, or the trace to use the site's own "
                              "PV and wind")
    where = st.where("gpu_platform")
    power, idle, tput = _platform_figures(spec.gpu_platform, where)
    power = st.power("gpu_power", power, lo=0, lo_open=True)
    idle = st.power("gpu_idle", idle)
    if idle > power:  # every energy book assumes training draws at least the idle power
        key = "gpu_idle" if "gpu_idle" in st.data else "gpu_power"
        raise ConfigError(f"{st.where(key)}: a GPU idle at {format_power(idle)} would draw more "
                          f"than training at {format_power(power)}; gpu_idle must be at most "
                          "gpu_power")
    # relative to the reference GPU; a carbon intensity in gCO2/kWh: past these, products
    # over a run overflow (the user traces' ceiling for intensities)
    tput = st.number("throughput", tput, lo=0, lo_open=True, hi=MAX_THROUGHPUT)
    carbon = st.number("carbon_intensity", None, lo=0, hi=MAX_CARBON_G_PER_KWH)
    st.done()
    return SimSite(spec, trace, float(power), float(idle), float(tput),
                   None if carbon is None else float(carbon))


def _file_trace(tt: Table, base_dir: Path) -> TraceSpec:
    """A ``file`` trace's keys (``path`` relative to the scenario's folder), the file read
    now: a bad one stops the scenario before any run, naming the key and the file's row."""
    from greenhop.sim.file_trace import FILE_TRACE_UNITS, file_trace_series
    from greenhop.traces.user_trace import GAP_MODES

    path = Path(tt.string("path")).expanduser()
    trace = TraceSpec(
        "file", path=str(path if path.is_absolute() else base_dir / path),
        column=tt.string("column"),
        unit=tt.string("unit", "W", choices=FILE_TRACE_UNITS),  # required: checked below
        time_column=tt.string("time_column", None),
        label=tt.string("label", "start", choices=("start", "end")),
        gaps=tt.string("gaps", "error", choices=GAP_MODES),
        offset_s=_signed_offset_s(tt),
        scale=tt.number("scale", 1.0, lo=0, lo_open=True, hi=1e6))
    try:
        file_trace_series(trace)
    except TraceError as exc:
        raise ConfigError(f"{tt.where('path')}: {_as_keys(str(exc))}") from None
    if "unit" not in tt.data:  # read as W, a column of kW was 1000 times too small, unsaid
        raise ConfigError(f"{tt.where('unit')}: required: the unit of column "
                          f"{trace.column!r} ({', '.join(FILE_TRACE_UNITS)}), as "
                          "greenhop windows --trace asks for --unit")
    return trace


def _as_keys(message: str) -> str:
    """A trace reader's message in a scenario's words: its keys, not the command line's
    options (``--column``, ``--time-column``, ``(--gaps break)``)."""
    import re

    message = re.sub(r" \(--gaps \w+\)", "", message)
    message = message.replace(" (time_column=...)", "")
    return message.replace("--time-column", "time_column").replace("--column", "column")


def _check_site_model(spec: SiteSpec, where: str, in_file: bool) -> list[str]:
    """Check a site whose renewable power comes from its PV and wind capacity (trace kind
    ``fleet``); ``where`` is its key path (``sites[1]``), ``in_file`` whether it is one of
    the scenario's [[sites]]. Capacity without a weather source is an error; a site with
    no capacity at all runs with no renewable power, which the returned note says."""
    if in_file:  # a fleet file's own sites are checked where their traces are built
        for key, kind, unit, example in (("pv_kwp", "pv", "kWp", "tmy:greensboro"),
                                         ("wind_kw", "wind", "kW", "tmy:sand_point")):
            capacity = getattr(spec, key)
            if capacity > 0 and not getattr(spec, f"{kind}_source"):
                raise ConfigError(f"{where}.{key}: {capacity:g} {unit} needs a weather source, "
                                  f"but no {kind}_source is set; add {kind}_source = "
                                  f"'{example}' (or another source)")
    if spec.pv_kwp == 0 and spec.wind_kw == 0:
        label = f"{where} (site '{spec.name}')" if in_file else where
        return [f"{label} has no renewable source (no trace, and neither pv_kwp nor "
                "wind_kw above 0): it never has a surplus and runs on the grid alone; give "
                "it a trace or pv_kwp / wind_kw with a source if it should have one"]
    return []


def _zero_trace(trace: TraceSpec) -> bool:
    """Whether a synthetic trace gives no power at any step (a constant or a solar peak of
    0 W, or values all 0)."""
    if trace.kind == "constant":
        return trace.power_w == 0
    if trace.kind == "solar":
        return trace.peak_w == 0
    if trace.kind == "values":
        return not any(trace.values_w)
    return False


def _check_span(where: str, value_s: float) -> float:
    """``value_s`` [s] if it is at most :data:`MAX_SPAN_S`, else a ConfigError naming
    ``where`` (a longer span overflows the clock or makes arrays no machine holds)."""
    if value_s > MAX_SPAN_S:
        raise ConfigError(f"{where}: at most {MAX_SPAN_S / 86400 / 365:g} years, got "
                          f"{value_s / 86400:.4g} days")
    return value_s


def _offset_s(tt: Table) -> float:
    """A ``caiso`` trace's ``offset`` [s]: at most :data:`MAX_SPAN_S` (far past the series'
    own year; a time shift of 1e300 h overflows the clock)."""
    return _check_span(tt.where("offset"), tt.duration("offset", 0.0))


def _signed_offset_s(tt: Table) -> float:
    """A ``file`` trace's ``offset`` [s], which may be negative (``"-365d"``: last year's
    measurements serve this year's scenario); at most :data:`MAX_SPAN_S` either way."""
    raw = tt.raw("offset", None)
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw < 0:
        return -_check_span(tt.where("offset"), float(-raw))  # a plain number: seconds
    if isinstance(raw, str) and raw.strip().startswith("-"):
        try:
            value = parse_duration(raw.strip()[1:])
        except UnitError as exc:
            raise ConfigError(f"{tt.where('offset')}: {raw!r} is not a duration with a "
                              f"leading '-': {exc}") from None
        return -_check_span(tt.where("offset"), value)
    return _offset_s(tt)


def _check_caiso_span(site: SimSite, where: str, first: pd.Timestamp, start: pd.Timestamp,
                      last: pd.Timestamp) -> None:
    """Raise unless a ``caiso`` site's shifted span ``[first, last)`` (simulated time, UTC)
    lies inside the packaged curtailment series; say the covered range and valid offsets."""
    from greenhop.traces.caiso import covered_range

    lo, hi = covered_range()
    off = pd.Timedelta(seconds=site.trace.offset_s)
    if first + off >= lo and last + off <= hi:
        return
    fmt = "%Y-%m-%d %H:%M"
    span = (f"site '{site.name}' needs CAISO hours {first + off:{fmt}} to {last + off:{fmt}} "
            f"UTC (start - history + offset to start + horizon + offset)")
    min_h = max(math.ceil((lo - first).total_seconds() / 3600), 0)
    max_h = math.floor((hi - last).total_seconds() / 3600)

    def days_hours(h: int) -> str:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"

    if max_h >= min_h:
        fix = (f"choose an offset between {days_hours(min_h)} and {days_hours(max_h)}, or "
               "move start")
    elif last - first <= hi - lo and last > hi:  # start lies after the series (offsets >= 0)
        latest = start - (last + off - hi)
        fix = (f"move start to {latest:{fmt}} UTC or earlier, so that start + horizon + "
               "offset lies before the series' end")
    else:
        fix = "shorten history + horizon to fit inside it"
    raise ConfigError(f"{where}: {span}, but the CAISO curtailment series covers "
                      f"{lo:{fmt}} to {hi:{fmt}} UTC; {fix}")


def _check_file_span(site: SimSite, where: str, first: pd.Timestamp, n_steps: int,
                     step_s: float) -> None:
    """Raise unless a ``file`` site's trace covers the run's ``n_steps`` steps of
    ``step_s`` from ``first`` (start - history), shifted by its offset; the error says the
    file's span and the one asked for."""
    from greenhop.sim.file_trace import file_trace_w

    index = pd.date_range(first, periods=n_steps, freq=pd.Timedelta(seconds=step_s))
    try:
        file_trace_w(site.trace, index)
    except TraceError as exc:
        raise ConfigError(f"{where}: site '{site.name}': {exc} (start - history + offset "
                          "to start + horizon + offset); move start, shorten horizon / "
                          "history, or set the trace's offset") from None


def _parse_link(lt: Table, names: set[str]) -> LinkSpec:
    a = lt.string("a")
    b = lt.string("b")
    for key, v in (("a", a), ("b", b)):
        if v not in names:
            raise ConfigError(f"{lt.where(key)}: unknown site '{v}'; sites in this scenario: "
                              f"{', '.join(sorted(names))}")
    if a == b:
        raise ConfigError(f"{lt.where('b')}: a link must join two different sites, got "
                          f"'{a}' twice")
    epb = lt.number("energy_per_bit", None, lo=0)
    link = LinkSpec(
        a=a, b=b,
        bandwidth_bps=lt.rate("bandwidth", lo=0, lo_open=True),
        rtt_s=lt.duration("rtt", C.RTT_S),
        loss=lt.number("loss", 0.0, lo=0, hi=0.999999),
        efficiency=lt.number("efficiency", C.EFFICIENCY, lo=0, lo_open=True, hi=1),
        streams=lt.number("streams", C.STREAMS, lo=1, integer=True),
        network_j_per_bit=epb,
    )
    lt.done()
    return link
