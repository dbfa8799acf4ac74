"""Scenario files: sites, WAN links, jobs, time frame and the policies to compare.

A scenario is a TOML file (or the equivalent dict). :func:`load_scenario`
validates it completely and raises :class:`~greenhop.core.errors.ConfigError`
naming the dotted path to the bad key (``links[2].bandwidth``). See
``docs/simulator.md`` for the schema with an example.

This module holds the :class:`Scenario`, the loading and the top-level validation; the
sites, traces and links are parsed in :mod:`greenhop.sim.scenario_sites`, the jobs and the
job generator in :mod:`greenhop.sim.scenario_jobs`, and :mod:`greenhop.sim.scenario_warnings`
says what a valid scenario cannot do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from greenhop.core.errors import ConfigError, UserError
from greenhop.core.files import is_pipe_or_device, not_a_file_reason, parse_toml, read_text_file
from greenhop.core.specs import JobSpec, LinkSpec
from greenhop.core.units import format_duration, is_whole_steps
from greenhop.fleet.conventions import DRAW_CHOICES, HELD_CHOICES, HOST_SHARE_MAX, EnergyConventions
from greenhop.model import constants as C
from greenhop.sim import distributed_jobs
from greenhop.sim.forecasts import ForecastSpec, parse_forecast, with_policy_quantiles
from greenhop.sim.grid import GridSpec, parse_grid
from greenhop.sim.policy_table import check_params, check_policy_names, parse_policies
from greenhop.sim.scenario_jobs import GeneratorSpec, _parse_generator, _parse_job, generate_jobs
from greenhop.sim.scenario_sites import (
    SimSite,
    TraceSpec,
    _check_caiso_span,
    _check_file_span,
    _check_site_model,
    _check_span,
    _fleet_sites,
    _parse_link,
    _parse_site,
    _platform_figures,
    _zero_trace,
)
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
START_YEARS = (1900, 2100)
"""The years a scenario's ``start`` may fall in (traces and pandas' clock end before 2262)."""
MAX_STEPS = 10_000_000
"""Most steps of history and horizon together: every trace and result is an array of steps
x sites (10 years of 1-minute steps is 5.3 million)."""


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
    #: what the file seems to ask for but cannot do, by key path (see
    #: :func:`~greenhop.sim.scenario_warnings.scenario_warnings`)
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


LIVE_JOB_KEYS = ("command", "env", "cwd", "steps")
"""Keys of a scenario's ``[[jobs]]`` that only a live run reads (``greenhop run`` checks
them; the simulator, replay and the service leave them out)."""
LIVE_KEYS = ("agents",)
"""Top-level keys only a live run reads (its remote site agents)."""


def without_live_keys(data: dict) -> dict:
    """``data`` (a scenario document) without :data:`LIVE_KEYS` and the jobs'
    :data:`LIVE_JOB_KEYS` (a copy: ``data`` is left as it is)."""
    out = {k: v for k, v in data.items() if k not in LIVE_KEYS}
    if isinstance(out.get("jobs"), list):
        out["jobs"] = [{k: v for k, v in jt.items() if k not in LIVE_JOB_KEYS}
                       if isinstance(jt, dict) else jt for jt in out["jobs"]]
    return out


def _parse_scenario(data: dict, source: str, base_dir: Path | None) -> Scenario:
    from greenhop.policies import POLICIES

    # a live run's own keys: the same file simulates and replays (greenhop run reads them)
    data = without_live_keys(data)
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
            sites[n] = _parse_site(by_name[n], fleet[n], base_dir=base_dir)
        else:
            spec = fleet[n]
            power, idle, tput = _platform_figures(spec.gpu_platform, f"fleet site '{n}'")
            sites[n] = SimSite(spec, TraceSpec("fleet"), power, idle, tput)
    for st in overrides:
        n = st.data.get("name")
        if n not in fleet:
            site = _parse_site(st, None, t.has("fleet"), base_dir=base_dir)
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
        elif site.trace.kind == "file":
            _check_file_span(site, f"{where}.trace", first, n_trace, step)
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
            raise ConfigError(f"{jt.where('arrival')}: job '{job.name}' arrives at "
                              f"{format_duration(job.arrival_s)}, at or after the run's end "
                              f"(horizon {format_duration(horizon)})")
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
