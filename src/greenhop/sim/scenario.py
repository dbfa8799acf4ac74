"""Scenario files: sites, WAN links, jobs, time frame and the policies to compare.

A scenario is a TOML file (or the equivalent dict). :func:`load_scenario`
validates it completely and raises :class:`~greenhop.core.errors.ConfigError`
naming the dotted path to the bad key (``links[2].bandwidth``). See
``docs/simulator.md`` for the schema with an example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenhop.core.errors import ConfigError, UserError
from greenhop.core.files import is_pipe_or_device, not_a_file_reason, parse_toml, read_text_file
from greenhop.core.names import check_name
from greenhop.core.specs import MAX_GPU_SLOTS, MOBILITY, BatterySpec, JobSpec, LinkSpec, SiteSpec
from greenhop.core.units import (
    MAX_CARBON_G_PER_KWH,
    MAX_POWER_W,
    MAX_SPAN_S,
    beyond_ceiling,
    finite_float,
    format_power,
    is_whole_steps,
)
from greenhop.fleet.conventions import DRAW_CHOICES, HELD_CHOICES, HOST_SHARE_MAX, EnergyConventions
from greenhop.model import constants as C
from greenhop.sim import distributed_jobs
from greenhop.sim.forecasts import (
    ForecastSpec,
    parse_forecast,
    stale_replay_notes,
    with_policy_quantiles,
)
from greenhop.sim.grid import GridSpec, parse_grid
from greenhop.sim.policy_table import check_params, check_policy_names, parse_policies
from greenhop.sim.schema import Table, shown

ON_WINDOW_CLOSE = ("continue", "abort", "fallback")
SEED_MAX = 2**32 - 1
"""The largest seed: the random generators take an unsigned 32-bit seed."""


def check_seed(seed: int, where: str = "seed") -> int:
    """``seed`` if it lies in 0 .. :data:`SEED_MAX`, else a ConfigError naming ``where`` (the
    scenario key, or ``--seed``)."""
    if not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"{where}: must be a whole number from 0 to {SEED_MAX}, got {seed}")
    return seed

#: offline bounds a scenario may ask for in its `[bounds]` table (`greenhop.sim.bounds`)
BOUND_KINDS = ("space", "spacetime", "time")
#: the bounds a `[bounds]` table without `kinds` computes: `time` bounds only the policies
#: that never move a job, so it is asked for by name
DEFAULT_BOUND_KINDS = ("space", "spacetime")
TRACE_KINDS = ("fleet", "constant", "values", "solar", "caiso")
#: columns of the packaged CAISO curtailment a ``caiso`` trace may follow
CAISO_COLUMNS = ("total", "solar", "wind")
START_YEARS = (1900, 2100)
"""The years a scenario's ``start`` may fall in (traces and pandas' clock end before 2262)."""
MAX_THROUGHPUT = 1000.0
"""The fastest GPU a site may have, relative to the reference GPU (an A100) [-]."""
GENERATED_WORK_GPU_H = (1e-6, 1e12)
"""The range a generator's ``work_gpu_h`` may span [GPU-h]."""
MAX_STEPS = 10_000_000
"""Most steps of history and horizon together: every trace and result is an array of steps
x sites (10 years of 1-minute steps is 5.3 million)."""
MAX_GENERATED_JOBS = 1_000_000
"""The most jobs a ``[generator]`` may draw (each is a row of every per-job array)."""


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
    (:mod:`greenhop.traces.caiso`).
    """

    kind: str = "fleet"
    power_w: float = 0.0
    values_w: tuple[float, ...] = ()
    peak_w: float = 0.0
    column: str = "total"
    share: float = 0.0
    offset_s: float = 0.0
    cover_base_load: bool = False


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


@dataclass(frozen=True)
class ModelMix:
    """One entry of the generator's model mix.

    ``gpus`` (when set) fixes the GPU count of this model's jobs and ``work_gpu_h`` (when
    set) replaces the generator's work range for them; otherwise the generator's draws
    apply.
    """

    name: str
    checkpoint_bytes: float
    weight: float
    gpus: int | None = None
    work_gpu_h: tuple[float, float] | None = None


@dataclass(frozen=True)
class GeneratorSpec:
    """Random jobs: Poisson (or uniform) arrivals, a model mix, log-uniform work."""

    count: int
    arrival: str
    until_s: float
    models: tuple[ModelMix, ...]
    work_gpu_h: tuple[float, float]
    gpus: tuple[int, ...]
    gpu_weights: tuple[float, ...]
    mobility: tuple[tuple[str, float], ...]
    partial_share: float
    deadline_factor: float
    origins: tuple[str, ...]
    max_gpus: int = 0                 # > 0: jobs that may move are elastic up to this count
    scaling: float | None = None      # their serial share (None: the default)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario (SI units). Build it with :func:`load_scenario`."""

    name: str
    start: pd.Timestamp
    horizon_s: float
    step_s: float
    seed: int
    history_s: float
    decision_interval_s: float
    policies: tuple[str, ...]
    policy_params: dict[str, dict[str, Any]]
    sites: tuple[SimSite, ...]
    links: tuple[LinkSpec, ...]
    explicit_jobs: tuple[JobSpec, ...]
    generator: GeneratorSpec | None
    window_threshold_w: float = 1000.0
    on_window_close: str = "continue"
    alpha: float = C.ALPHA
    write_Bps: float = C.WRITE_BPS
    read_Bps: float = C.READ_BPS
    startup_s: float = C.STARTUP_S
    #: ablation: checkpoints are saved, moved and restored in no time and for no energy
    free_migration: bool = False
    forecast: ForecastSpec = field(default_factory=ForecastSpec)
    #: offline bounds to compute (``[bounds] kinds``, from :data:`BOUND_KINDS`)
    bounds: tuple[str, ...] = ()
    #: whether the bounds honour job deadlines (``[bounds] deadlines``)
    bounds_deadlines: bool = False
    #: the accounting conventions (``[energy]``; see docs/design.md, "Energy conventions")
    energy: EnergyConventions = field(default_factory=EnergyConventions)
    #: grid objective, currency and zones with their signals (``[grid]``, docs/grid.md)
    grid: GridSpec = field(default_factory=GridSpec)
    description: str = ""
    source: str = "<dict>"
    #: demand-response events (``[[grid.events]]``, :mod:`greenhop.sim.dr_scenario`)
    grid_events: tuple = ()
    #: what the file seems to ask for but cannot do, by key path (see :func:`scenario_warnings`)
    notes: tuple[str, ...] = field(default=(), compare=False)
    jobs_cache: tuple[JobSpec, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def n_steps(self) -> int:
        return round(self.horizon_s / self.step_s)

    @property
    def history_steps(self) -> int:
        return round(self.history_s / self.step_s)

    @property
    def site_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sites)

    def with_seed(self, seed: int) -> Scenario:
        """The same scenario with another seed (generated jobs are drawn again); a seed
        outside 0 .. 2**32 - 1 is a ConfigError, as it is in the scenario file."""
        return replace(self, seed=check_seed(int(seed)), jobs_cache=None)

    def with_policies(self, policies: list[str] | tuple[str, ...]) -> Scenario:
        """The same scenario comparing ``policies`` (each checked against the registry)."""
        check_policy_names(policies)
        return replace(self, policies=tuple(policies))

    def jobs(self) -> tuple[JobSpec, ...]:
        """Explicit jobs followed by generated ones (deterministic for the seed)."""
        if self.jobs_cache is None:
            generated = generate_jobs(self) if self.generator else ()
            object.__setattr__(self, "jobs_cache", tuple(self.explicit_jobs) + tuple(generated))
        return self.jobs_cache


# ---------------------------------------------------------------- loading


def _scenario_dir() -> Path:
    return Path(str(resources.files("greenhop") / "data" / "scenarios"))


def default_scenario_path() -> Path:
    """The packaged default scenario (the default fleet, a month of jobs, real traces)."""
    return _scenario_dir() / "default.toml"


def packaged_scenarios() -> dict[str, Path]:
    """The packaged scenarios by name (the file name without ``.toml``), sorted by name."""
    # by the name, not the file name: "a-b.toml" sorts before "a.toml", "a" before "a-b"
    return {p.stem: p for p in sorted(_scenario_dir().glob("*.toml"), key=lambda p: p.stem)}


def scenario_document(source: str | Path | dict | None = None) -> tuple[dict, str, Path]:
    """The raw scenario dict, its source label and the base directory of relative paths.

    ``source`` is a TOML file, the name of a packaged scenario (used when no file of that
    name exists, e.g. ``"caiso-curtailment"``), a dict (label ``<dict>``, paths relative
    to the working directory) or ``None`` (the packaged default). Change the dict and
    pass it to :func:`parse_scenario` to validate it (this is how overrides are applied).

    Raises:
        ConfigError: neither a file nor a packaged name (the message lists the names),
            or not valid TOML.
    """
    if isinstance(source, dict):
        return source, "<dict>", Path.cwd()
    path = default_scenario_path() if source is None else Path(source)
    if not path.is_file():
        packaged = packaged_scenarios()
        name = str(source)
        if name in packaged:
            path = packaged[name]
        else:
            if is_pipe_or_device(path):
                raise ConfigError(f"scenario {name!r} {not_a_file_reason(path)}; give the path "
                                  "of a TOML scenario")
            what = "is a folder" if path.is_dir() else "does not exist as a file"
            raise ConfigError(
                f"scenario {name!r} {what} and is not a packaged scenario; packaged "
                f"scenarios: {', '.join(packaged)}; or pass the path of a TOML scenario "
                "(see docs/simulator.md)")
    data = parse_toml(read_text_file(path, "scenario"), str(path))
    return data, str(path), path.parent


def load_scenario(source: str | Path | dict | Scenario | None = None) -> Scenario:
    """Validate a scenario from a TOML path, a packaged scenario's name, a dict, or pass a
    Scenario through.

    ``None`` loads the packaged default scenario; see :func:`scenario_document`.
    """
    if isinstance(source, Scenario):
        return source
    data, label, base_dir = scenario_document(source)
    return parse_scenario(data, label, base_dir)


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


def _parse_site(st: Table, base: SiteSpec | None, fleet_given: bool = True) -> SimSite:
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
            fields = dict(
                capacity_j=bt.energy("capacity", lo=0, lo_open=True),
                max_power_w=bt.power("power", lo=0, lo_open=True),
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


def _checkpoint(jt: Table) -> float:
    from greenhop.model.presets import checkpoint_bytes

    if jt.has("checkpoint"):
        # a job spread over sites reads model_params for its exchanges (distributed_jobs)
        both = next((k for k in ("model_params", "preset") if jt.has(k)), None)
        if both is not None and not jt.has("workers"):
            raise ConfigError(f"{jt.where(both)}: give checkpoint, or model_params (with a "
                              "preset), not both")
        return jt.size("checkpoint", lo=0, lo_open=True)
    params = jt.number("model_params", lo=0, lo_open=True)
    preset = jt.string("preset", "mixed-adam")
    try:
        return float(checkpoint_bytes(params, preset))
    except ConfigError as exc:
        raise ConfigError(f"{jt.where('preset')}: {exc}") from None


def _parse_job(jt: Table, names: set[str]) -> JobSpec:
    name = check_name("job", jt.string("name"), jt.where("name"))
    arrival = jt.duration("arrival", 0.0)
    # at most the generator's ceiling: past it a float no longer counts a second of work
    work = jt.number("work_gpu_h", lo=0, lo_open=True, hi=GENERATED_WORK_GPU_H[1])
    ckpt = _checkpoint(jt)
    gpus = jt.number("gpus", 1, lo=1, hi=MAX_GPU_SLOTS, integer=True)
    mobility = jt.string("mobility", "migratable", choices=MOBILITY)
    share = jt.number("migratable_share", 0.5 if mobility == "partial" else 1.0, lo=0, hi=1)
    if mobility == "partial" and not 0 < share < 1:
        raise ConfigError(f"{jt.where('migratable_share')}: a partial job moves a share in "
                          f"(0, 1), got {share!r}")
    deadline = jt.duration("deadline", None, lo=0, lo_open=True)
    allowed = tuple(jt.strings("allowed_sites", [], unique=True))
    if jt.has("allowed_sites") and not allowed:
        raise ConfigError(f"{jt.where('allowed_sites')}: an empty list would leave the job no "
                          "site; list at least one, or leave the key out to allow every site")
    for i, s in enumerate(allowed):
        if s not in names:
            raise ConfigError(f"{jt.where('allowed_sites')}[{i}]: unknown site '{s}'; sites: "
                              f"{', '.join(sorted(names))}")
    origin = jt.string("origin", None)
    if origin is not None and origin not in names:
        raise ConfigError(f"{jt.where('origin')}: unknown site '{origin}'; sites: "
                          f"{', '.join(sorted(names))}")
    if origin is not None and allowed and origin not in allowed:
        raise ConfigError(f"{jt.where('origin')}: '{origin}' is not among allowed_sites")
    # Elastic jobs: the GPU counts the job may scale between and its speedup curve.
    min_gpus = jt.number("min_gpus", gpus, lo=1, hi=gpus, integer=True)
    max_gpus = jt.number("max_gpus", gpus, lo=gpus, integer=True)
    scaling = jt.number("scaling", None, lo=0, hi=0.99)
    if mobility == "partial" and min_gpus < max_gpus:
        raise ConfigError(f"{jt.where('max_gpus')}: a partially migratable job cannot scale; "
                          "make it migratable or pinned, or drop min_gpus / max_gpus")
    jt.done()
    return JobSpec(name=name, arrival_s=arrival, work_gpu_h=work, checkpoint_bytes=ckpt,
                   gpus=gpus, mobility=mobility, migratable_share=share,
                   deadline_s=None if deadline is None else arrival + deadline,
                   allowed_sites=allowed, origin=origin, min_gpus=min_gpus,
                   max_gpus=max_gpus, serial_share=scaling)


def _work_range(t: Table) -> tuple[float, float]:
    """``work_gpu_h = [min, max]`` reference-GPU hours with ``1e-6 <= min <= max <= 1e12``
    (a drawn work is rounded to 6 decimals: a smaller one would be 0 GPU-h)."""
    work = t.raw("work_gpu_h")
    if (not isinstance(work, list) or len(work) != 2
            or not all(isinstance(w, int | float) and not isinstance(w, bool)
                       and finite_float(w) is not None for w in work)
            or not GENERATED_WORK_GPU_H[0] <= work[0] <= work[1] <= GENERATED_WORK_GPU_H[1]):
        raise ConfigError(f"{t.where('work_gpu_h')}: expected [min, max] GPU-hours with "
                          f"{GENERATED_WORK_GPU_H[0]:g} <= min <= max <= "
                          f"{GENERATED_WORK_GPU_H[1]:g} (drawn works are rounded to 6 "
                          f"decimals), got {shown(work)}")
    return float(work[0]), float(work[1])


def _parse_generator(gt: Table, names: tuple[str, ...], horizon_s: float) -> GeneratorSpec:
    from greenhop.model.presets import checkpoint_bytes

    count = gt.number("count", lo=1, hi=MAX_GENERATED_JOBS, integer=True)
    arrival = gt.string("arrival", "poisson", choices=("poisson", "uniform"))
    until = gt.duration("until", horizon_s * 0.8, lo=0, lo_open=True)
    if until > horizon_s:
        raise ConfigError(f"{gt.where('until')}: arrivals must end within the horizon "
                          f"({horizon_s:g} s), got {until:g} s")
    models = []
    for mt in gt.tables("models"):
        mname = mt.string("name")
        if mt.has("checkpoint"):
            ck = mt.size("checkpoint", lo=0, lo_open=True)
        else:
            params = mt.number("params", lo=0, lo_open=True)
            preset = mt.string("preset", "mixed-adam")
            try:
                ck = float(checkpoint_bytes(params, preset))
            except ConfigError as exc:
                raise ConfigError(f"{mt.where('preset')}: {exc}") from None
        weight = mt.number("weight", 1.0, lo=0, lo_open=True)
        m_gpus = mt.number("gpus", None, lo=1, integer=True)
        m_work = _work_range(mt) if mt.has("work_gpu_h") else None
        models.append(ModelMix(mname, ck, weight, m_gpus, m_work))
        mt.done()
    if not models:
        raise ConfigError(f"{gt.where('models')}: the generator needs at least one model")
    work = _work_range(gt)
    gpus = gt.raw("gpus", [1])
    if (not isinstance(gpus, list) or not gpus
            or not all(isinstance(g, int) and not isinstance(g, bool) and g >= 1 for g in gpus)):
        raise ConfigError(f"{gt.where('gpus')}: expected a list of whole numbers >= 1, "
                          f"got {shown(gpus)}")
    gw = gt.raw("gpu_weights", [1.0] * len(gpus))
    if (not isinstance(gw, list) or len(gw) != len(gpus)
            or not all(isinstance(w, int | float) and not isinstance(w, bool)
                       and finite_float(w) is not None and w >= 0 for w in gw)
            or not (finite_float(sum(gw)) or 0) > 0):  # the weights are normalised by their sum
        raise ConfigError(f"{gt.where('gpu_weights')}: expected {len(gpus)} finite, "
                          f"non-negative weights with a positive, finite sum, got {shown(gw)}")
    mt = gt.table("mobility", None)
    mob: list[tuple[str, float]] = []
    if mt is None:
        mob = [("migratable", 1.0)]
    else:
        for m in MOBILITY:
            w = mt.number(m, 0.0, lo=0, hi=1)
            if w > 0:
                mob.append((m, w))
        mt.done()
        total = sum(w for _, w in mob)
        if abs(total - 1.0) > 1e-9:
            parts = " + ".join(f"{m} {w:g}" for m, w in mob) or "nothing"
            raise ConfigError(f"{mt.path}: the shares of jobs per mobility must sum to 1, "
                              f"got {total:g} ({parts})")
    share = gt.number("partial_share", 0.5, lo=0, lo_open=True, hi=0.999)
    deadline_factor = gt.number("deadline_factor", 0.0, lo=0)
    if 0 < deadline_factor < 1:
        raise ConfigError(f"{gt.where('deadline_factor')}: a deadline factor below 1 can never "
                          f"be met; use 0 (no deadline) or >= 1, got {deadline_factor!r}")
    origins = tuple(gt.strings("origins", list(names), unique=True))
    if not origins:
        raise ConfigError(f"{gt.where('origins')}: give at least one site jobs arrive at "
                          "(or leave the key out: every site)")
    for i, o in enumerate(origins):
        if o not in names:
            raise ConfigError(f"{gt.where('origins')}[{i}]: unknown site '{o}'")
    elastic_max = gt.number("max_gpus", 0, lo=0, integer=True)
    scaling = gt.number("scaling", None, lo=0, hi=0.99)
    gt.done()
    return GeneratorSpec(count, arrival, until, tuple(models), work,
                         tuple(gpus), tuple(float(w) for w in gw), tuple(mob), share,
                         deadline_factor, origins, elastic_max, scaling)


def _parse_bounds(t: Table) -> tuple[tuple[str, ...], bool]:
    """The ``[bounds]`` table: ``kinds`` (default: :data:`DEFAULT_BOUND_KINDS`), ``deadlines``."""
    if not t.has("bounds"):
        return (), False
    bt = t.table("bounds")
    kinds = bt.strings("kinds", list(DEFAULT_BOUND_KINDS), unique=True)
    for i, k in enumerate(kinds):
        if k not in BOUND_KINDS:
            raise ConfigError(f"{bt.where('kinds')}[{i}]: unknown bound {k!r}; valid bounds: "
                              f"{', '.join(BOUND_KINDS)}")
    deadlines = bt.boolean("deadlines", False)
    bt.done()
    return tuple(kinds), bool(deadlines)


def _parse_energy(t: Table, source: str) -> EnergyConventions:
    """The ``[energy]`` table: one key per field of :class:`EnergyConventions`, each
    defaulting to the field's default. Errors name the file and the key."""
    if not t.has("energy"):
        return EnergyConventions()
    d = EnergyConventions()
    try:
        et = t.table("energy")
        conv = EnergyConventions(
            source_in_flight=et.string("source_in_flight", d.source_in_flight,
                                       choices=DRAW_CHOICES),
            dest_held=et.string("dest_held", d.dest_held, choices=HELD_CHOICES),
            host_share=et.number("host_share", d.host_share, lo=0, hi=HOST_SHARE_MAX),
            suspend_saves=et.boolean("suspend_saves", d.suspend_saves),
            network_to_grid=et.boolean("network_to_grid", d.network_to_grid))
        et.done()
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return conv


def parse_scenario(data: dict, source: str = "<dict>", base_dir: Path | None = None, *,
                   name_source: bool = True) -> Scenario:
    """Validate a scenario dict (the parsed TOML) into a :class:`Scenario`.

    An error names the scenario it is in before the key (``my.toml: horizon: ...``; a
    packaged scenario by its name, a dict not at all); ``name_source=False`` leaves that to
    the caller (a sweep names the ``--set`` values that made the document instead).
    """
    try:
        return _parse_scenario(data, source, base_dir)
    except UserError as exc:  # a bad key, or a bad file it names (a trace, a price file)
        if not name_source:
            raise
        raise named_by_source(exc, source) from None


def named_by_source(exc: UserError, source: str) -> UserError:
    """``exc`` with the scenario ``source`` named before its message (as
    :func:`_source_name` names it), or ``exc`` itself when it already names it, the
    source is a dict, or its class takes another signature."""
    where = _source_name(source)
    message = str(exc)
    if where is None or message.startswith(f"{where}:"):
        return exc
    try:
        return type(exc)(f"{where}: {message}")
    except TypeError:  # a subclass with another signature keeps its own message
        return exc


def _source_name(source: str) -> str | None:
    """How an error names the scenario file ``source``: a packaged scenario by its name,
    any other file by its path, a dict (``<dict>``) not at all."""
    if not source or source == "<dict>":
        return None
    path = Path(source)
    packaged = packaged_scenarios().get(path.stem)
    if packaged is not None and packaged.resolve() == path.resolve():
        return path.stem
    return source


def _parse_scenario(data: dict, source: str, base_dir: Path | None) -> Scenario:
    from greenhop.policies import POLICIES

    t = Table(data, "")
    base_dir = base_dir or Path.cwd()
    name = t.string("name", "scenario")
    description = t.string("description", "")
    start_raw = t.raw("start", "2023-06-01T00:00:00Z")
    # text, or a TOML date-time (which the checks below treat alike)
    if not isinstance(start_raw, str | date) or not str(start_raw).strip():
        raise ConfigError(f"start: expected a UTC timestamp like 2023-06-01T00:00:00Z, got "
                          f"{shown(start_raw)}")
    try:
        start = pd.Timestamp(start_raw)
    except (ValueError, TypeError):
        raise ConfigError(f"start: expected a UTC timestamp such as '2023-06-01T00:00:00Z', "
                          f"got {start_raw!r}") from None
    if start.tzinfo is None:  # a local time would silently shift every trace
        raise ConfigError(f"start: {str(start_raw)!r} has no time zone; end it with Z for UTC "
                          "(e.g. '2023-06-01T00:00:00Z') or give an offset such as +02:00")
    start = start.tz_convert("UTC")
    if not START_YEARS[0] <= start.year <= START_YEARS[1]:  # pandas' clock ends in 2262
        raise ConfigError(f"start: {str(start_raw)!r} is outside the years "
                          f"{START_YEARS[0]}-{START_YEARS[1]} a scenario may start in")
    step = t.duration("step", 300.0, lo=0, lo_open=True)
    horizon = t.duration("horizon", lo=0, lo_open=True)
    for key, value in (("step", step), ("horizon", horizon)):
        _check_span(key, value)
    if horizon < step:
        raise ConfigError(f"horizon: must be at least one step ({step:g} s), got {horizon:g} s")
    if horizon / step > MAX_STEPS:  # every trace and result is an array of steps x sites
        raise ConfigError(f"step: {step:g} s makes {horizon / step:.4g} steps of horizon; at "
                          f"most {MAX_STEPS:,} steps, so a step of at least "
                          f"{horizon / MAX_STEPS:.3g} s")
    if not is_whole_steps(horizon, step):
        raise ConfigError(f"horizon: must be a whole number of steps of {step:g} s, got "
                          f"{horizon:g} s")
    history = _check_span("history", t.duration("history", 7 * 86400.0))
    if not is_whole_steps(history, step):  # else silently rounded to whole steps
        raise ConfigError(f"history: must be a whole number of steps of {step:g} s, got "
                          f"{history:g} s")
    if (history + horizon) / step > MAX_STEPS:
        raise ConfigError(f"history: {history:g} s and a horizon of {horizon:g} s make "
                          f"{(history + horizon) / step:.4g} steps of {step:g} s; at most "
                          f"{MAX_STEPS:,} in all: shorten the history or lengthen the step")
    decision = t.duration("decision_interval", step, lo=0, lo_open=True)
    if not is_whole_steps(decision, step):
        raise ConfigError(f"decision_interval: must be a whole number of steps of {step:g} s, "
                          f"got {decision:g} s")
    seed = check_seed(t.number("seed", 0, integer=True))
    # a list of names, or [policies.NAME] tables (which may bring a policy from a file)
    policies, params = parse_policies(t, base_dir)
    if t.has("policy_params"):
        pt = t.table("policy_params")
        for pname in list(pt.data):
            if pname not in POLICIES:
                raise ConfigError(f"policy_params.{pname}: unknown policy; valid: "
                                  f"{', '.join(POLICIES.names())}")
            sub = pt.table(pname)
            twice = sorted(set(params.get(pname, {})) & set(sub.data))
            if twice:
                raise ConfigError(f"{sub.where(twice[0])}: also set in [policies.{pname}]; "
                                  "set it once")
            params[pname] = {**params.get(pname, {}), **sub.data}
            # built once now, so a bad parameter is reported with its key path (an unknown
            # one with the policy's parameters), as in a [policies.NAME] table
            check_params(pname, params[pname], sub.path)
    threshold = t.power("window_threshold", 1000.0)
    on_close = t.string("on_window_close", "continue", choices=ON_WINDOW_CLOSE)
    alpha = t.number("alpha", C.ALPHA, lo=0, lo_open=True, hi=1)
    write_Bps, read_Bps, startup = C.WRITE_BPS, C.READ_BPS, C.STARTUP_S
    free_migration = False
    if t.has("migration"):
        mt = t.table("migration")
        write_Bps = mt.rate("write_rate", write_Bps * 8, lo=0, lo_open=True) / 8
        read_Bps = mt.rate("read_rate", read_Bps * 8, lo=0, lo_open=True) / 8
        startup = mt.duration("startup", startup)
        free_migration = mt.boolean("free", False)
        mt.done()
    bounds, bounds_deadlines = _parse_bounds(t)
    energy = _parse_energy(t, source)

    fleet = _fleet_sites(t, base_dir)
    sites: dict[str, SimSite] = {}
    overrides = t.tables("sites")
    seen: set[str] = set()
    for st in overrides:
        n = st.data.get("name") if isinstance(st.data, dict) else None
        if isinstance(n, str) and n in seen:
            raise ConfigError(f"{st.where('name')}: site '{n}' is defined twice")
        if isinstance(n, str):
            seen.add(n)
    for n in fleet:
        sites[n] = None  # type: ignore[assignment]  # keep fleet order
    by_name = {st.data.get("name"): st for st in overrides}
    for n in list(sites):
        if n in by_name:
            sites[n] = _parse_site(by_name[n], fleet[n])
        else:
            spec = fleet[n]
            power, idle, tput = _platform_figures(spec.gpu_platform, f"fleet site '{n}'")
            sites[n] = SimSite(spec, TraceSpec("fleet"), power, idle, tput)
    for st in overrides:
        n = st.data.get("name")
        if n not in fleet:
            site = _parse_site(st, None, t.has("fleet"))
            sites[site.name] = site
    if not sites:
        raise ConfigError("sites: the scenario has no sites; add a [fleet] table or [[sites]]")
    names = set(sites)
    first = start - pd.Timedelta(seconds=round(history / step) * step)
    last = start + pd.Timedelta(seconds=horizon)
    n_trace = round(history / step) + round(horizon / step)  # steps a trace must cover
    notes = []
    for n, site in sites.items():
        where = by_name[n].path if n in by_name else f"fleet site '{n}'"
        if site.trace.kind == "caiso":
            _check_caiso_span(site, f"{where}.trace.offset", first, start, last)
        elif site.trace.kind == "values" and len(site.trace.values_w) < n_trace:
            raise ConfigError(
                f"{where}.trace.values: {len(site.trace.values_w)} values cover fewer steps "
                f"than history + horizon ({n_trace} steps of {step:g} s); add values or "
                "shorten horizon / history")
        elif site.trace.kind == "fleet":
            notes.extend(_check_site_model(site.spec, where, n in by_name))
        if _zero_trace(site.trace):
            notes.append(f"{where}.trace (site '{n}') is zero at every step: the site never "
                         "has a surplus and runs on the grid alone")

    links: list[LinkSpec] = []
    pairs: set[frozenset] = set()
    for lt in t.tables("links"):
        link = _parse_link(lt, names)
        key = frozenset((link.a, link.b))
        if key in pairs:
            raise ConfigError(f"{lt.path}: a second link between '{link.a}' and '{link.b}'; "
                              "give each pair one link")
        pairs.add(key)
        links.append(link)

    jobs = []
    job_names: set[str] = set()
    for jt in t.tables("jobs"):
        spread = distributed_jobs.read_keys(jt)  # workers = N: one job per worker
        job = _parse_job(jt, names)
        if job.name in job_names:
            raise ConfigError(f"{jt.where('name')}: job '{job.name}' is defined twice")
        job_names.add(job.name)
        hosts = job.allowed_sites or tuple(names)
        if job.gpus > max(sites[h].spec.gpu_slots for h in hosts):
            raise ConfigError(
                f"{jt.where('gpus')}: job '{job.name}' needs {job.gpus} GPUs but the largest "
                f"site it may use has {max(sites[h].spec.gpu_slots for h in hosts)} slots; "
                "lower gpus or add slots")
        if job.origin is not None and job.gpus > sites[job.origin].spec.gpu_slots:
            raise ConfigError(
                f"{jt.where('origin')}: job '{job.name}' needs {job.gpus} GPUs but its arrival "
                f"site '{job.origin}' has {sites[job.origin].spec.gpu_slots} slots; pick "
                "another origin or lower gpus")
        if job.arrival_s >= horizon:
            raise ConfigError(f"{jt.where('arrival')}: job '{job.name}' arrives at or after "
                              f"the horizon ({horizon:g} s)")
        jobs.extend(distributed_jobs.expand(
            job, spread, {n: s.spec.gpu_slots for n, s in sites.items()}, job_names, links))
    generator = None
    if t.has("generator"):
        generator = _parse_generator(t.table("generator"), tuple(sites), horizon)
        if not any(sites[o].spec.gpu_slots for o in generator.origins):
            # generate_jobs weights the origins by their slots: no slot, no origin to draw
            raise ConfigError(f"generator.origins: no site jobs arrive at has GPU slots "
                              f"({', '.join(generator.origins)}: 0 each); add an origin with "
                              "slots or give one gpu_slots")
        # a job starts at its origin: a GPU count no origin has would be cut to its slots
        origin_slots = max(sites[o].spec.gpu_slots for o in generator.origins)
        among = f"among generator.origins ({', '.join(generator.origins)})"
        too_big = [g for g in generator.gpus if g > origin_slots]
        if too_big:
            raise ConfigError(f"generator.gpus: {shown(too_big[0], 20)} GPUs is more than the "
                              f"largest site has ({origin_slots} slots) {among}; lower gpus "
                              "or add an origin with more slots")
        for i, m in enumerate(generator.models):
            if m.gpus is not None and m.gpus > origin_slots:
                raise ConfigError(f"generator.models[{i}].gpus: {shown(m.gpus, 20)} GPUs is more "
                                  f"than the largest site has ({origin_slots} slots) {among}; "
                                  "lower gpus or add an origin with more slots")
    forecast = ForecastSpec()
    if t.has("forecast"):
        forecast = parse_forecast(
            t.table("forecast"), step, history, tuple(sites),
            {n: (s.spec.latitude_deg, s.spec.longitude_deg) for n, s in sites.items()}, base_dir)
    forecast = with_policy_quantiles(forecast, params)
    grid = GridSpec()
    if t.has("grid"):
        gt = t.table("grid")
        grid = parse_grid(gt, tuple(sites), base_dir)
        gt.has("events")  # [[grid.events]]: read by parse_grid_events below
        gt.done()
    if not jobs and generator is None and "jobs" not in t.data:
        raise ConfigError("jobs: the scenario has no jobs; add [[jobs]] or a [generator] "
                          "(or write jobs = [] for an energy-only run)")
    from greenhop.sim.dr_scenario import parse_grid_events

    grid_events = parse_grid_events(t, sites, start.timestamp(),
                                    zones={z.name: z.sites for z in grid.zones})
    t.done()
    return Scenario(
        name=name, start=start, horizon_s=horizon, step_s=step, seed=seed, history_s=history,
        decision_interval_s=decision, policies=tuple(policies), policy_params=params,
        sites=tuple(sites.values()), links=tuple(links), explicit_jobs=tuple(jobs),
        generator=generator, window_threshold_w=threshold, on_window_close=on_close,
        alpha=alpha, write_Bps=write_Bps, read_Bps=read_Bps, startup_s=startup,
        free_migration=free_migration,
        forecast=forecast, bounds=bounds, bounds_deadlines=bounds_deadlines, energy=energy,
        grid=grid, description=description, source=source, grid_events=grid_events,
        notes=tuple(notes),
    )


def scenario_warnings(scenario: Scenario) -> list[str]:
    """What ``scenario`` seems to ask for but cannot do; it still runs. One sentence each.

    A policy whose only action is migration, on a fleet without links, can never move a
    job, so it does exactly what ``static`` does: comparing them measures nothing. (One
    that also suspends, rescales or places jobs still acts.) A site without any renewable
    source never has a surplus; a replayed forecast file that stops before the run ends
    leaves the policy deciding on an ever older forecast. A demand-response event wholly
    outside the run limits nothing.
    """
    from greenhop.policies import POLICIES

    def only_migrates(name: str) -> bool:
        c = POLICIES.get(name).capabilities
        return c.migrates and not (c.suspends or c.scales or c.places)

    notes = []
    if not scenario.links:
        migrating = [name for name in scenario.policies
                     if name in POLICIES and only_migrates(name)]
        if migrating:
            where = "one site" if len(scenario.sites) == 1 else "no links"
            notes.append(f"scenario '{scenario.name}' has {where}: no job can move between "
                         f"sites, so every policy that only migrates ({', '.join(migrating)}) "
                         "equals static; add [[links]] to compare them")
    notes.extend(scenario.notes)
    notes.extend(_events_outside_run(scenario))
    if scenario.forecast.model == "replay":
        last_step = scenario.start + pd.Timedelta(seconds=scenario.horizon_s - scenario.step_s)
        notes.extend(stale_replay_notes(scenario.forecast, last_step))
    return notes


def _events_outside_run(scenario: Scenario) -> list[str]:
    """A note for each demand-response event that ends at or before the run's start or
    begins at or after its end: it asks for a limit the run never meets (a typo in a date
    or a duration is the usual cause), and it counts as no event in the metrics."""
    t0 = scenario.start.timestamp()
    t1 = t0 + scenario.horizon_s
    return [f"grid event {ev.id!r} ({_utc(ev.start_unix_s)} to "
            f"{_utc(ev.start_unix_s + ev.duration_s)}) lies wholly outside the run "
            f"({_utc(t0)} to {_utc(t1)}): it limits nothing"
            for ev in scenario.grid_events
            if ev.start_unix_s + ev.duration_s <= t0 or ev.start_unix_s >= t1]


def _utc(unix_s: float) -> str:
    """``unix_s`` [s] as an ISO UTC time to the minute, e.g. ``2023-06-01T14:00Z``."""
    return pd.Timestamp(unix_s, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%MZ")


def generate_jobs(scenario: Scenario) -> list[JobSpec]:
    """Draw the generator's jobs with ``numpy.random.default_rng(seed)`` (deterministic)."""
    g = scenario.generator
    assert g is not None
    rng = np.random.default_rng(scenario.seed)
    if g.arrival == "poisson":
        gaps = rng.exponential(g.until_s / g.count, size=g.count)
        arrivals = np.cumsum(gaps)
        arrivals = arrivals * min(1.0, (g.until_s * 0.999) / max(arrivals[-1], 1e-9))
    else:
        arrivals = np.sort(rng.uniform(0, g.until_s, size=g.count))
    mw = np.array([m.weight for m in g.models])
    model_idx = rng.choice(len(g.models), size=g.count, p=mw / mw.sum())
    lo, hi = g.work_gpu_h
    log_work = rng.uniform(np.log(lo), np.log(hi), size=g.count)
    work = np.exp(log_work)
    # A model with its own work range maps the same uniform draw onto its range.
    frac = (log_work - np.log(lo)) / np.log(hi / lo) if hi > lo else np.zeros(g.count)
    for k, m in enumerate(g.models):
        if m.work_gpu_h is not None:
            sel = model_idx == k
            mlo, mhi = np.log(m.work_gpu_h[0]), np.log(m.work_gpu_h[1])
            work[sel] = np.exp(mlo + frac[sel] * (mhi - mlo))
    gw = np.array(g.gpu_weights)
    gpus = np.array(g.gpus)[rng.choice(len(g.gpus), size=g.count, p=gw / gw.sum())]
    mob_w = np.array([w for _, w in g.mobility])
    mob = rng.choice(len(g.mobility), size=g.count, p=mob_w / mob_w.sum())
    site_by_name = {s.name: s for s in scenario.sites}
    slots = np.array([site_by_name[o].spec.gpu_slots for o in g.origins], dtype=float)
    origin_idx = rng.choice(len(g.origins), size=g.count, p=slots / slots.sum())
    # Models with a fixed GPU count arrive at a site with enough slots: one more draw per
    # job, taken last so that scenarios without such models draw exactly as before.
    redraw = rng.random(g.count) if any(m.gpus is not None for m in g.models) else None
    jobs = []
    width = len(str(g.count))
    for i in range(g.count):
        origin = g.origins[origin_idx[i]]
        model = g.models[model_idx[i]]
        wanted = model.gpus if model.gpus is not None else gpus[i]
        if redraw is not None and model.gpus is not None and \
                site_by_name[origin].spec.gpu_slots < model.gpus:
            fits = slots >= model.gpus
            if fits.any():
                cum = np.cumsum(np.where(fits, slots, 0.0))
                origin = g.origins[int(np.searchsorted(cum, redraw[i] * cum[-1], "right"))]
        n_gpu = int(min(wanted, site_by_name[origin].spec.gpu_slots))
        mobility = g.mobility[mob[i]][0]
        share = g.partial_share if mobility == "partial" else 1.0
        deadline = None
        if g.deadline_factor > 0:
            ideal_s = work[i] * 3600.0 / (n_gpu * site_by_name[origin].throughput)
            deadline = float(arrivals[i] + g.deadline_factor * ideal_s)
        # Elastic (generator max_gpus > 0, not partial): 1 .. max_gpus, within the origin.
        hi = min(g.max_gpus, site_by_name[origin].spec.gpu_slots)
        elastic = g.max_gpus > 0 and mobility != "partial"
        jobs.append(JobSpec(
            name=f"job-{i:0{width}d}", arrival_s=float(round(arrivals[i], 3)),
            work_gpu_h=float(round(work[i], 6)),
            checkpoint_bytes=model.checkpoint_bytes, gpus=max(n_gpu, 1),
            mobility=mobility, migratable_share=share, deadline_s=deadline, origin=origin,
            min_gpus=1 if elastic else None,
            max_gpus=max(hi, n_gpu, 1) if elastic else None,
            serial_share=g.scaling if elastic else None))
    return jobs
