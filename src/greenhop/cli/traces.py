"""``greenhop sites``, ``greenhop data list|fetch`` and ``greenhop windows``.

Heavy work (pvlib, windpowerlib, matplotlib) is imported inside the commands so
that ``greenhop --help`` stays fast. Progress goes to stderr; ``--json`` output
goes to stdout alone, so it can be piped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from greenhop.cli import paths
from greenhop.cli.trace_options import COLUMN_HELP, UNIT_HELP, check_site_or_trace
from greenhop.core import units
from greenhop.core.errors import ConfigError, TraceError, named

_FLEET_HELP = "Fleet file (TOML); default: the fleet shipped with greenhop."
_STAT_KEYS = ("count", "mean_h", "median_h", "p10_h", "p90_h", "duty_factor", "energy_kwh",
              "max_h", "total_h", "span_h")

data_app = typer.Typer(help="List the real datasets greenhop uses and fetch the ones it may "
                            "download into the user cache.", no_args_is_help=True)


def _out() -> Console:
    return Console(highlight=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def _parse(kind: str, option: str, text: str) -> float:
    return units.parse_quantity(text, kind, option=option)


def _site_row(site, location: str) -> dict:
    battery = site.battery
    return {
        "name": site.name,
        "location": location,
        "latitude_deg": site.latitude_deg,
        "longitude_deg": site.longitude_deg,
        "timezone": site.timezone,
        "pv_kwp": site.pv_kwp,
        "wind_kw": site.wind_kw,
        "pv_source": site.pv_source,
        "wind_source": site.wind_source,
        "base_load_w": site.base_load_w,
        "pue": site.pue,
        "gpu_platform": site.gpu_platform,
        "gpu_slots": site.gpu_slots,
        "battery_kwh": battery.capacity_j / 3.6e6 if battery else 0.0,
        "battery_kw": battery.max_power_w / 1e3 if battery else 0.0,
        "grid_import_limit_w": None if math.isinf(site.grid_import_limit_w)
        else site.grid_import_limit_w,
    }


def sites(
    fleet: Path | None = typer.Option(None, "--fleet", help=_FLEET_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the fleet as JSON (SI units: W, "
                                 "degrees; capacities in kWp, kW, kWh as the keys say)."),
) -> None:
    """List the fleet: name, location, time zone, PV (kWp), wind (kW), battery (kWh), GPUs."""
    from greenhop.traces.fleet import load_fleet

    f = load_fleet(fleet)
    rows = [_site_row(s, f.location(s.name)) for s in f.sites]
    if as_json:
        typer.echo(json.dumps({"fleet": f.name, "path": f.path, "sites": rows}, indent=2))
        return
    # Site and GPU names are typed into options (--site, --gpu): never cut. Units sit in
    # the headers, the time zone under the location and the GPU model under the GPU count,
    # so 80 columns hold the table.
    table = Table(title=f"fleet '{f.name}' ({len(rows)} sites)", box=box.SIMPLE_HEAD,
                  collapse_padding=True, pad_edge=False, show_edge=False)
    table.add_column("site", no_wrap=True)
    table.add_column("location\ntime zone", overflow="fold")
    for col in ("PV\nkWp", "wind\nkW", "battery\nkWh", "base kW\nx PUE"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("GPUs", no_wrap=True)
    for r in rows:
        where = r["location"] or f"{r['latitude_deg']:.2f}, {r['longitude_deg']:.2f}"
        table.add_row(
            r["name"], f"{where}\n{r['timezone']}", f"{r['pv_kwp']:g}", f"{r['wind_kw']:g}",
            f"{r['battery_kwh']:g}" if r["battery_kwh"] else "-",
            f"{r['base_load_w'] / 1e3:g} x {r['pue']:g}",
            f"{r['gpu_slots']} x\n{r['gpu_platform']}",
        )
    _out().print(table)


@data_app.command("list")
def data_list(
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
) -> None:
    """Every dataset: what it is, its source, its terms, and whether it is on this machine."""
    from greenhop.traces import catalog

    rows = [{"name": d.name, "what": d.what, "source": d.source, "terms": d.terms,
             "present": catalog.is_present(d), "how": d.how} for d in catalog.datasets()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="datasets", box=box.SIMPLE_HEAD, collapse_padding=True,
                  pad_edge=False, show_edge=False)
    table.add_column("name", no_wrap=True)  # typed into `greenhop data fetch`: never cut
    table.add_column("here", no_wrap=True)
    for col in ("what", "source", "terms", "how to get it"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], "yes" if r["present"] else "no", r["what"], r["source"],
                      r["terms"], r["how"])
    _out().print(table)


@data_app.command("fetch")
def data_fetch(
    name: str = typer.Argument(..., help="Dataset to fetch: solcast2022_global, "
                               "solcast2022_germany or watttime2023_caiso-north."),
    force: bool = typer.Option(False, "--force", help="Download again even if present."),
) -> None:
    """Download a dataset from the vessim 0.13.1 source distribution into the user cache.

    Runs pip download --no-deps --no-binary :all: vessim==0.13.1 into a temporary
    folder, unpacks only the named dataset into $GREENHOP_CACHE_DIR (default
    ~/.cache/greenhop) and records its provenance and terms in provenance.json.
    """
    from greenhop.traces import vessim_data

    if name not in vessim_data.VESSIM_DATASETS:
        from greenhop.traces import catalog

        known = {d.name: d for d in catalog.datasets()}
        if name in known:  # listed, but it comes another way (installed with a package)
            raise ConfigError(f"{name!r} is not fetched: {known[name].how} (here: "
                              f"{'yes' if catalog.is_present(known[name]) else 'no'}); "
                              f"fetchable: {', '.join(vessim_data.VESSIM_DATASETS)}")
        raise ConfigError(f"unknown dataset {name!r}; fetchable: "
                          f"{', '.join(vessim_data.VESSIM_DATASETS)} (see greenhop data list)")
    with _err().status(f"fetching {name} (pip download of vessim "
                       f"{vessim_data.VESSIM_VERSION}) ..."):
        folder = vessim_data.fetch_dataset(name, force=force)
    _out().print(f"{name}: in {folder} (provenance.json records source and terms)",
                 soft_wrap=True)


def _stats_table(title: str, stats_by_name: dict[str, dict]) -> Table:
    table = Table(title=title)
    table.add_column("site", no_wrap=True)  # names are typed into --site: never cut them
    for col in ("windows", "mean h", "median h", "p10 h", "p90 h", "duty", "kWh in"):
        table.add_column(col, justify="right", overflow="fold")
    for name, s in stats_by_name.items():
        table.add_row(name, str(s["count"]), f"{s['mean_h']:.2f}", f"{s['median_h']:.2f}",
                      f"{s['p10_h']:.2f}", f"{s['p90_h']:.2f}", f"{s['duty_factor']:.1%}",
                      f"{s['energy_kwh']:,.0f}")
    return table


def _plot(path: Path, panels: list, threshold_w: float, title: str) -> None:
    """Write the image ``path``: one panel per ``(name, surplus_w, windows)`` in ``panels``
    (surplus [W] over time, the windows shaded, the threshold [W] dashed), one above the
    other on a shared time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    fig, axes = plt.subplots(n, 1, figsize=(11, 4 if n == 1 else 1.2 + 2.2 * n),
                             sharex=True, squeeze=False, constrained_layout=True)
    for k, (ax, (name, surplus_w, windows)) in enumerate(zip(axes[:, 0], panels, strict=True)):
        ax.plot(surplus_w.index, surplus_w.to_numpy() / 1e3, lw=0.8, color="tab:green",
                label="surplus")
        ax.axhline(threshold_w / 1e3, color="tab:red", lw=0.8, ls="--",
                   label=f"threshold {units.format_power(threshold_w)}")
        for i, (start, end) in enumerate(zip(windows["start"], windows["end"], strict=True)):
            ax.axvspan(start, end, color="gold", alpha=0.3, lw=0,
                       label="surplus window" if i == 0 else None)
        ax.set_ylabel("surplus power [kW]")
        ax.set_title(f"{name}: {title}" if n == 1 else name, fontsize=None if n == 1 else 9)
        if k == 0:
            ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    if n > 1:
        fig.suptitle(title)
    axes[-1, 0].set_xlabel("time [UTC]")
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # an earlier plot survives a failure
    try:
        fig.savefig(tmp, dpi=110)
        tmp.replace(path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)


def _plot_panel(name: str, ser, first_day, plot_start: str | None, plot_days: float,
                threshold_w: float, min_s: float, step_s: float) -> tuple:
    """``(name, surplus, windows)`` of one panel of ``--plot``: the part of the surplus
    series ``ser`` [W] that ``--plot-start`` / ``--plot-days`` select, and its windows
    clipped to it."""
    import pandas as pd

    from greenhop.traces.windows import find_windows

    if first_day is not None and not ser.index[0].normalize() <= first_day <= ser.index[-1]:
        raise ConfigError(f"--plot-start {plot_start} is outside the series "
                          f"({ser.index[0]:%Y-%m-%d} to {ser.index[-1]:%Y-%m-%d}); pick a "
                          "day inside it")
    part = ser if first_day is None else ser[ser.index >= first_day]
    if len(part) and 0 < plot_days < (part.index[-1] - part.index[0]) / pd.Timedelta(days=1):
        part = part[part.index < part.index[0] + pd.Timedelta(days=plot_days)]
    if len(part) == 0:
        raise ConfigError("--plot-start/--plot-days select no data; pick a day inside the "
                          "series")
    wins = find_windows(ser, threshold_w, min_s, step_s)
    wins = wins[(wins["end"] > part.index[0]) & (wins["start"] <= part.index[-1])]
    wins = wins.assign(start=wins["start"].clip(lower=part.index[0]),
                       end=wins["end"].clip(upper=part.index[-1] + pd.Timedelta(seconds=step_s)))
    return name, part, wins


def _plot_start(text: str):
    """``--plot-start`` as a UTC timestamp (a date or time without an offset is UTC)."""
    import pandas as pd

    try:
        start = pd.Timestamp(text)
    except ValueError:  # pandas' DateParseError and OutOfBoundsDatetime are ValueErrors
        start = pd.NaT
    if start is pd.NaT:
        raise ConfigError(f"--plot-start {text!r} is not a date; give e.g. --plot-start "
                          "2023-06-01 (UTC)")
    return start.tz_localize("UTC") if start.tz is None else start.tz_convert("UTC")


SITE_YEAR, SITE_STEP = 2023, "5min"
"""Defaults of `windows --year` and `--step`, options of --site only."""
MIN_SITE_STEP_S = 60.0
DEFAULT_THRESHOLD = "5kW"
"""``--threshold`` of ``greenhop windows`` without ``--scenario`` (a scenario has its own)."""
"""The finest `windows --step` [s]."""


def windows(
    site: str | None = typer.Option(None, "--site", help="Site of the fleet whose surplus "
                                    "(renewable - base load x PUE) is analysed; 'all' for "
                                    "every site and the fleet complementarity."),
    trace: Path | None = typer.Option(None, "--trace", help="Your own surplus (or renewable) "
                                      "power trace, .csv or .parquet, instead of --site. A "
                                      "surplus is negative where the load exceeds generation: "
                                      "such steps have no surplus (never in a window)."),
    column: str | None = typer.Option(None, "--column", help=COLUMN_HELP),
    unit: str | None = typer.Option(None, "--unit", help=UNIT_HELP),
    time_column: str | None = typer.Option(None, "--time-column", help="Timestamp column of "
                                           "--trace (UTC offsets required; interval starts). "
                                           "Default: time, timestamp or datetime, else "
                                           "the first column."),
    gaps: str = typer.Option("error", "--gaps", help="What a gap in --trace means: error (stop "
                             "and say where), break (a window never spans a gap), interpolate "
                             "(fill gaps up to 1 h linearly)."),
    threshold: str | None = typer.Option(
        None, "--threshold", help="Surplus power a window needs, e.g. 5kW or 500W (steps "
        "equal to it count). Default: 5kW; with --scenario, the scenario's "
        "window_threshold (the simulator's windows)."),
    min_duration: str = typer.Option("1h", "--min-duration", help="Shortest window kept, e.g. "
                                     "1h, 30min or 0s."),
    fleet: Path | None = typer.Option(None, "--fleet", help=_FLEET_HELP),
    scenario: str | None = typer.Option(
        None, "--scenario", help="With --site: a site of this scenario (a TOML file or a "
        "packaged name), its surplus as the simulator builds it (its own traces, base load "
        "and PUE, over history + horizon at the scenario's step)."),
    year: int = typer.Option(SITE_YEAR, "--year", help="Calendar year the typical-year weather of "
                             "--site is mapped onto, 1901-2099."),
    step: str = typer.Option(SITE_STEP, "--step", help="Simulation step for --site, e.g. 5min "
                             "or 1h: at least 1min, and it divides a day."),
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as JSON: count, "
                                 "mean_h, median_h, p10_h, p90_h (h), duty_factor (0-1), "
                                 "energy_kwh (kWh), ..."),
    plot: Path | None = typer.Option(None, "--plot", help="Write an image (.png, .svg or "
                                     ".pdf) of surplus over time with the windows shaded "
                                     "(with --site all, one panel per site), e.g. out.png; "
                                     "its folder must exist."),
    plot_days: float | None = typer.Option(None, "--plot-days", help="Days shown in --plot, "
                                           "from --plot-start (days); 0 for all. Default: 14.",
                                           show_default=False),
    plot_start: str | None = typer.Option(None, "--plot-start", help="First day of --plot, "
                                          "e.g. 2023-06-01 (UTC); default: the series start."),
) -> None:
    """Surplus windows: maximal intervals with surplus >= --threshold lasting >= --min-duration.

    Give either --site NAME (a site of the fleet, one typical year at --step; of a
    scenario with --scenario) or --trace FILE --column NAME --unit UNIT. Prints count,
    duration mean / median /
    p10 / p90 (h), duty factor (share of time inside windows) and energy inside
    windows (kWh).
    """
    import pandas as pd

    from greenhop.traces.tmy import YEARS
    from greenhop.traces.windows import fleet_complementarity, window_stats

    if plot is None:
        for option, value in (("--plot-days", plot_days), ("--plot-start", plot_start)):
            if value is not None:
                raise ConfigError(f"{option} goes with --plot FILE")
    else:
        paths.output_file(plot, "--plot")
        plot_days = 14.0 if plot_days is None else plot_days
        if not (math.isfinite(plot_days) and plot_days >= 0):
            raise ConfigError(f"--plot-days: must be a finite number of days >= 0 (0 for all), "
                              f"got {plot_days:g}")
    first_day = None if plot_start is None else _plot_start(plot_start)
    if year not in YEARS:
        raise ConfigError(f"--year {year}: the typical-year weather of a site maps onto the "
                          f"calendar years {YEARS[0]}-{YEARS[-1]}; give e.g. --year 2023")
    # a plain number beside --unit kW reads as kW to a user, but would be W: ask for a unit
    threshold_w = units.parse_quantity(threshold or DEFAULT_THRESHOLD, "power",
                                       option="--threshold", plain=False)
    if too_high := units.beyond_ceiling(threshold_w, "power"):
        raise ConfigError(f"--threshold {threshold!r}: {too_high}; give e.g. --threshold 5kW")
    min_s = units.parse_quantity(min_duration, "duration", option="--min-duration",
                                 plain=False)
    step_s = _parse("duration", "--step", step)
    if gaps not in ("error", "break", "interpolate"):
        raise ConfigError(f"--gaps must be error, break or interpolate, got {gaps!r}")
    check_site_or_trace(site, trace, column, unit, trace_only={
        "--time-column": time_column, "--gaps": None if gaps == "error" else gaps})
    if trace is not None:  # options of --site only would be ignored without a word
        for option, given in (("--fleet", fleet is not None), ("--year", year != SITE_YEAR),
                              ("--step", step != SITE_STEP),
                              ("--scenario", scenario is not None)):
            if given:
                raise ConfigError(f"{option} goes with --site (a fleet site's typical year); "
                                  "--trace has its own times and step")
    elif scenario is not None:
        for option, given in (("--fleet", fleet is not None), ("--year", year != SITE_YEAR),
                              ("--step", step != SITE_STEP)):
            if given:
                raise ConfigError(f"{option} goes with a fleet site; --scenario has its own "
                                  "sites, span and step")
    if step_s <= 0:
        raise ConfigError(f"--step must be positive, e.g. 5min, 15min or 1h; got {step!r}")
    if 86400 % step_s != 0:
        raise ConfigError(f"--step must divide a day, e.g. 5min, 15min or 1h; got {step!r}")
    if step_s < MIN_SITE_STEP_S:  # a year of 1 s steps per site ran for minutes
        raise ConfigError(f"--step must be at least 1min: the sites' weather is hourly, so "
                          f"a finer step adds steps, not detail; got {step!r}")
    info: dict = {"threshold_w": threshold_w, "min_duration_s": min_s}
    if trace is not None:
        from greenhop.traces.user_trace import UNITS, read_trace

        if unit in UNITS and UNITS[unit][0] != "power_w":
            raise TraceError(f"--unit {unit} is a carbon intensity; windows need a power trace "
                             "(W, kW, MW, GW, Wh, kWh, MWh)")
        # a surplus (renewable - load) is negative where the load exceeds generation; such
        # steps are below any --threshold (>= 0): no surplus, never inside a window
        series = read_trace(trace, column, unit, time_column=time_column, gaps=gaps,
                            signed=True)
        step_s = float(series.attrs["step_s"])
        label = f"{trace.name}:{column}"
        surplus = {label: series}
        info.update(trace=str(trace), column=column, unit=unit, gaps=gaps)
    elif scenario is not None:
        from greenhop.sim.inputs import build_inputs
        from greenhop.sim.scenario import load_scenario

        sc = load_scenario(scenario)
        names = list(sc.site_names)
        if site != "all" and site not in names:
            raise ConfigError(f"--site {site}: no site of that name in scenario '{sc.name}'; "
                              f"its sites: {', '.join(names)}")
        with _err().status(f"building the traces of scenario '{sc.name}' ..."):
            inp = build_inputs(sc)
        step_s = sc.step_s
        if threshold is None:  # as the simulator reads them: the scenario's own threshold
            threshold_w = info["threshold_w"] = float(sc.window_threshold_w)
        surplus = {n: pd.Series(inp.surplus_w[:, names.index(n)], index=inp.index)
                   for n in (names if site == "all" else [site])}
        info.update(scenario=sc.name, step_s=step_s)
    else:
        from greenhop.traces.fleet import load_fleet
        from greenhop.traces.site_model import simulation_index, site_energy

        f = load_fleet(fleet)
        chosen = list(f.sites) if site == "all" else [named(f"--site {site}", f.site, site)]
        index = simulation_index(f"{year}-01-01", f"{year + 1}-01-01", f"{step_s:g}s")
        surplus = {}
        with _err().status("computing site energy from real weather ...") as status:
            for s in chosen:
                status.update(f"computing site energy of {s.name} ...")
                surplus[s.name] = site_energy(s, index)["surplus_w"]
        info.update(year=year, step_s=step_s, fleet=f.path)
    stats = {name: window_stats(ser, threshold_w, min_s, step_s) for name, ser in surplus.items()}
    comp = None
    if site == "all":
        comp = fleet_complementarity(pd.DataFrame(surplus), threshold_w, min_s, step_s)
    if plot is not None:
        if 0 < plot_days * 86400.0 < step_s:  # less than one step draws an empty panel
            raise ConfigError(f"--plot-days {plot_days:g} is shorter than one step "
                              f"({units.format_duration(step_s)}); give at least "
                              f"{step_s / 86400:.3g} days (0 for all)")
        panels = [_plot_panel(name, ser, first_day, plot_start, plot_days, threshold_w, min_s,
                              step_s) for name, ser in surplus.items()]
        _plot(plot, panels, threshold_w,
              f"surplus and windows (>= {units.format_power(threshold_w)}, "
              f">= {units.format_duration(min_s)})")
    if as_json:
        if len(stats) == 1 and site != "all":
            (name, s), = stats.items()
            out = {"name": name, **{k: s[k] for k in _STAT_KEYS}, **info}
        else:
            out = {"sites": {n: {k: s[k] for k in _STAT_KEYS} for n, s in stats.items()},
                   "complementarity": comp, **info}
        typer.echo(json.dumps(out, indent=2))
        return
    console = _out()
    console.print(_stats_table(
        f"surplus windows >= {units.format_power(threshold_w)} lasting >= "
        f"{units.format_duration(min_s)}", stats))
    if comp is not None:
        console.print(f"at least one site in a window {comp['any_share']:.1%} of the time; "
                      f"mean sites in a window {comp['mean_sites']:.2f}")
    if plot is not None:
        console.print(f"plot written to {plot}")


def register(app: typer.Typer) -> None:
    """Add ``sites``, ``data`` and ``windows`` to ``app``."""
    app.command("sites")(sites)
    app.add_typer(data_app, name="data")
    app.command("windows")(windows)
