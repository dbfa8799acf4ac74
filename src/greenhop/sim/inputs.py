"""Everything a run needs that does not depend on the policy, computed once per scenario:
renewable power and surplus per site and step (history included), routing tables,
and the job table as arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from greenhop.core.errors import ConfigError, TraceError, UserError
from greenhop.core.observation import MIGRATABLE, PARTIAL, PINNED
from greenhop.fleet.inputs import FleetInputs, FleetParams
from greenhop.fleet.network import build_network
from greenhop.sim.scenario import Scenario, named_by_source

_MOBILITY_CODE = {"migratable": MIGRATABLE, "pinned": PINNED, "partial": PARTIAL}


@dataclass(frozen=True)
class SimInputs(FleetInputs):
    """Policy-independent arrays of one scenario (``H`` history steps, ``T`` steps, ``S`` sites,
    ``J`` jobs): the fleet core's :class:`~greenhop.fleet.inputs.FleetInputs` plus the whole
    renewable trace, which only the simulator's driver reads (step by step)."""

    scenario: Scenario
    index: pd.DatetimeIndex          # H + T step starts, UTC
    renewable_w: np.ndarray          # [H+T, S]
    surplus_w: np.ndarray            # [H+T, S] renewable - base demand
    carbon_g_per_kwh: np.ndarray     # [S] NaN where unknown


def fleet_params(sc: Scenario) -> FleetParams:
    """The scalar settings the fleet core needs from a scenario."""
    return FleetParams(
        site_names=sc.site_names, step_s=sc.step_s, history_steps=sc.history_steps,
        n_steps=sc.n_steps, decision_interval_s=sc.decision_interval_s,
        window_threshold_w=sc.window_threshold_w, on_window_close=sc.on_window_close,
        write_Bps=sc.write_Bps, read_Bps=sc.read_Bps, startup_s=sc.startup_s,
        free_migration=sc.free_migration, start_unix_s=float(sc.start.timestamp()),
        energy=sc.energy)


def _caiso_w(site, index: pd.DatetimeIndex, where: str) -> np.ndarray:
    """``share x`` CAISO curtailment [W] of hour ``t + offset`` at each step ``t`` (hourly
    energy held as mean power over the step), plus the base demand when it is covered."""
    from greenhop.traces.caiso import read_caiso_curtailment
    from greenhop.traces.resample import resample_energy

    tr = site.trace
    series = read_caiso_curtailment()[f"{tr.column}_w"]
    shifted = index + pd.Timedelta(seconds=tr.offset_s)
    try:
        values = resample_energy(series, shifted, source_step_s=3600.0,
                                 what="CAISO curtailment").to_numpy()
    except TraceError as exc:
        raise TraceError(f"{where}.offset: site '{site.name}' (offset "
                         f"{tr.offset_s / 3600:g} h): {exc}; change the offset or move start "
                         "or shorten horizon / history") from None
    # A step touching a missing hour of the reports has no curtailment: it ends a window.
    out = tr.share * np.nan_to_num(values, nan=0.0)
    if tr.cover_base_load:
        out = out + site.spec.base_load_w * site.spec.pue
    return out


def _price_events(sc, grid, names, first_row_unix_s: float, dt: float):
    """The grid signals with the prices of the scenario's price events (docs/grid.md)."""
    priced = [i for i, e in enumerate(sc.grid_events) if e.price_per_mwh is not None]
    if not priced:
        return grid
    if grid is None:
        raise ConfigError(f"grid.events[{priced[0]}].price: a price event needs "
                          "[[grid.zones]] (its sites' zones and the currency)")
    from greenhop.fleet.demand_response import scenario_zones
    from greenhop.fleet.grid import with_price_events

    return with_price_events(grid, sc.grid_events, scenario_zones(sc), names,
                             first_row_unix_s, dt)


def _missing_dataset(spec) -> str | None:
    """The first renewable source of site ``spec`` whose dataset must be fetched first
    (``solcast2022_global:Berlin`` before ``greenhop data fetch solcast2022_global``)."""
    from greenhop.traces.site_model import parse_source
    from greenhop.traces.vessim_data import VESSIM_DATASETS, is_present

    for role, capacity, source in (("pv", spec.pv_kwp, spec.pv_source),
                                   ("wind", spec.wind_kw, spec.wind_source)):
        if capacity > 0 and source:
            kind, _ = parse_source(source, role)
            if kind in VESSIM_DATASETS and not is_present(kind):
                return f"{role}_source {source!r}"
    return None


def _trace_matrix(scenario: Scenario, index: pd.DatetimeIndex) -> np.ndarray:
    n = len(index)
    out = np.zeros((n, len(scenario.sites)))
    secs = (index.asi8 // 10**9).astype(float) if index.unit == "s" else \
        index.as_unit("ns").asi8 / 1e9
    tod_h = np.mod(secs, 86400.0) / 3600.0
    for i, site in enumerate(scenario.sites):
        tr = site.trace
        where = f"sites[{site.name}].trace"
        if tr.kind == "constant":
            out[:, i] = tr.power_w
        elif tr.kind == "solar":
            out[:, i] = tr.peak_w * np.maximum(0.0, np.sin(np.pi * (tod_h - 6.0) / 12.0))
        elif tr.kind == "values":  # long enough: checked when the scenario is read
            out[:, i] = np.asarray(tr.values_w[:n])
        elif tr.kind == "caiso":
            out[:, i] = _caiso_w(site, index, where)
        elif tr.kind == "file":  # covers the run: checked when the scenario is read
            from greenhop.sim.file_trace import file_trace_w

            out[:, i] = file_trace_w(tr, index)
        else:
            from greenhop.traces.site_model import renewable_power

            try:
                out[:, i] = renewable_power(site.spec, index)["renewable_w"].to_numpy()
            except TraceError as exc:  # a ConfigError: the scenario file is named with it
                missing = _missing_dataset(site.spec)
                if missing is not None:  # not a span to change: the error says what to fetch
                    raise ConfigError(f"site '{site.name}' ({missing}): {exc}") from None
                raise ConfigError(
                    f"start / history / horizon: the traces of site '{site.name}' do not cover "
                    f"{index[0]} .. {index[-1]} (start - history .. start + horizon): {exc}; "
                    "move start or shorten horizon / history") from None
    return out


def build_inputs(scenario: Scenario) -> SimInputs:
    """Compute the policy-independent arrays of ``scenario``.

    A :class:`ConfigError` found here (a trace or signal shorter than the run, ...) names
    the scenario file, as the errors found when it is read do.
    """
    try:
        return _build_inputs(scenario)
    except UserError as exc:  # a trace or signal file, or a key it read: name the scenario
        named = named_by_source(exc, scenario.source)
        if named is exc:
            raise
        raise named from exc


def _step_index(sc: Scenario) -> pd.DatetimeIndex:
    """The start of every step of ``sc``, history first, UTC."""
    H, dt = sc.history_steps, sc.step_s
    return pd.date_range(sc.start - pd.Timedelta(seconds=H * dt), periods=H + sc.n_steps,
                         freq=pd.Timedelta(seconds=dt), tz="UTC")


def _base_demand_w(sc: Scenario) -> np.ndarray:
    """Always-on load x PUE of every site [W]: what its renewables cover before any job."""
    return np.array([s.spec.base_load_w * s.spec.pue for s in sc.sites])


def window_threshold_notes(scenario: Scenario) -> list[str]:
    """A note where no site's surplus reaches the scenario's window threshold at any step of
    the run: no surplus window ever opens, so every move fails the alpha rule and
    ``curtail-threshold`` never switches a site on, whatever the policy (a threshold set for
    a larger fleet's jobs is the usual cause). Empty otherwise, and where the traces cannot
    be read (the run then stops with the error, naming the scenario). The traces read here
    are cached for the run."""
    from greenhop.core.units import format_power

    sc = scenario
    try:
        ren = _trace_matrix(sc, _step_index(sc))[sc.history_steps:]
    except UserError:
        return []
    surplus = ren - _base_demand_w(sc)[None, :]
    if surplus.size == 0 or float(surplus.max()) >= sc.window_threshold_w:
        return []
    best = int(np.argmax(surplus.max(axis=0)))
    return [f"window_threshold {format_power(sc.window_threshold_w)}: no site's surplus "
            f"reaches it in the run (the highest is {format_power(float(surplus.max()))}, at "
            f"'{sc.site_names[best]}'), so no surplus window ever opens: every move fails "
            "the alpha rule and curtail-threshold never switches a site on; set "
            "window_threshold to about one job's facility power"]


def _build_inputs(scenario: Scenario) -> SimInputs:
    from greenhop.traces.windows import remaining_window_s

    sc = scenario
    H, dt = sc.history_steps, sc.step_s
    index = _step_index(sc)
    ren = _trace_matrix(sc, index)
    specs = [s.spec for s in sc.sites]
    pue = np.array([s.pue for s in specs])
    base = _base_demand_w(sc)
    surplus = ren - base[None, :]
    rem = remaining_window_s(surplus[H:].T, sc.window_threshold_w, dt).T
    rem = np.vstack([rem, np.zeros((1, rem.shape[1]))])
    names = sc.site_names
    site_idx = {n: i for i, n in enumerate(names)}
    net = build_network(names, sc.links)

    def bat(attr, default):
        return np.array([getattr(s.battery, attr) if s.battery else default for s in specs],
                        dtype=float)

    cap = bat("capacity_j", 0.0)
    jobs = sc.jobs()
    J, S = len(jobs), len(specs)
    allowed = np.ones((J, S), dtype=bool)
    for j, job in enumerate(jobs):
        if job.allowed_sites:
            allowed[j] = False
            allowed[j, [site_idx[s] for s in job.allowed_sites]] = True
    share = np.array([j.migratable_share if j.mobility == "partial" else 1.0 for j in jobs])
    gpus = np.array([j.gpus for j in jobs], dtype=np.int64)
    g_move = np.where(share < 1.0, np.clip(np.ceil(gpus * share - 1e-9), 1, gpus), gpus)
    g_move = g_move.astype(np.int64)
    ckpt = np.array([j.checkpoint_bytes for j in jobs], dtype=float)
    arrival = np.array([j.arrival_s for j in jobs], dtype=float)
    conv = sc.energy
    grid = None
    if sc.grid.zones:
        from greenhop.sim.grid import build_grid_signals

        grid = build_grid_signals(sc.grid, names, index, H)
    grid = _price_events(sc, grid, names, float(sc.start.timestamp()) - H * dt, dt)
    return SimInputs(
        params=fleet_params(sc), history_renewable_w=ren[:H].copy(),
        scenario=sc, index=index, renewable_w=ren, base_demand_w=base, surplus_w=surplus,
        remaining_window_s=rem, network=net,
        slots=np.array([s.gpu_slots for s in specs], dtype=np.int64),
        # The host share is power the books charge per GPU: policies see it too.
        gpu_power_w=conv.gpu_power_w(np.array([s.gpu_power_w for s in sc.sites])),
        gpu_idle_w=conv.gpu_power_w(np.array([s.gpu_idle_w for s in sc.sites])),
        throughput=np.array([s.throughput for s in sc.sites]),
        pue=pue,
        carbon_g_per_kwh=np.array([np.nan if s.carbon_g_per_kwh is None else s.carbon_g_per_kwh
                                   for s in sc.sites]),
        bat_capacity_j=cap, bat_power_w=bat("max_power_w", 0.0),
        bat_eta=bat("round_trip_efficiency", 1.0), bat_min_soc=bat("min_soc", 0.0),
        bat_initial_j=bat("initial_soc", 0.0) * cap,
        grid_limit_w=np.array([s.grid_import_limit_w for s in specs], dtype=float),
        jobs=jobs, job_arrival_s=arrival,
        job_arrival_step=np.ceil(arrival / dt - 1e-9).astype(np.int64),
        job_work_gpu_s=np.array([j.work_gpu_h * 3600.0 for j in jobs]),
        job_ckpt_bytes=ckpt, job_move_bytes=ckpt * share, job_gpus=gpus, job_g_move=g_move,
        job_g_stay=gpus - g_move,
        job_mobility=np.array([_MOBILITY_CODE[j.mobility] for j in jobs], dtype=np.int8),
        job_deadline_s=np.array([np.inf if j.deadline_s is None else j.deadline_s
                                 for j in jobs]),
        job_allowed=allowed, grid=grid,
        job_origin=np.array([-1 if j.origin is None else site_idx[j.origin] for j in jobs],
                            dtype=np.int64),
    )
