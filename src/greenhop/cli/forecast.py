"""``greenhop forecast backtest`` and ``greenhop forecast models``.

A backtest runs a forecaster over a real series the way it would run live
(refitting on the history known at each moment), calibrates its quantiles with
rolling conformal intervals, and scores it: MAE, RMSE, skill against
persistence, pinball loss, interval coverage and window-duration error.
``--site`` takes a Solcast 2022 city (``Berlin``, ``solcast2022_germany:Munich``;
fetch the data first with ``greenhop data fetch solcast2022_global``) or a site
of the default fleet (its surplus).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.console import Console

from greenhop.cli import paths
from greenhop.cli.lists import comma_entries
from greenhop.cli.tables import print_fitted
from greenhop.cli.trace_options import COLUMN_HELP, UNIT_HELP, check_site_or_trace
from greenhop.core.errors import ConfigError, named
from greenhop.core.units import beyond_ceiling, format_duration, is_whole_steps, parse_quantity

forecast_app = typer.Typer(help="Surplus-window forecasters: list them (models) and "
                                "backtest them on a site's trace (backtest).",
                           no_args_is_help=True)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _horizons(text: str) -> list[float]:
    """The durations of ``--horizons 1h,2h`` [s]: positive, each once (one listed twice,
    as ``1h,60min`` too, is refused, as the maps and sweeps refuse theirs), sorted."""
    out: list[float] = []
    given: dict[float, str] = {}
    for part in comma_entries("--horizons", text, "horizons", "1h,2h,3h,4h"):
        horizon_s = parse_quantity(part, "duration", option="--horizons", plain=False)
        if horizon_s <= 0:
            raise ConfigError(f"--horizons: horizon {part!r} must be longer than 0, e.g. "
                              "--horizons 1h,2h,3h,4h")
        if horizon_s in given:
            raise ConfigError(f"--horizons: {part} is the same horizon as {given[horizon_s]}; "
                              "list each once, e.g. --horizons 1h,2h,3h,4h")
        given[horizon_s] = part
        out.append(horizon_s)
    return sorted(set(out))


def _on_step_grid(option: str, durations_s: list[float], step_s: float, site: str) -> None:
    """Refuse, naming ``option``, a duration that is not a whole number of series steps."""
    for h in durations_s:
        if not is_whole_steps(h, step_s):
            raise ConfigError(f"{option}: {format_duration(h)} is not a whole number of "
                              f"the {format_duration(step_s)} steps of '{site}'; give "
                              f"multiples of {format_duration(step_s)}")


def _cell(value: float, fmt: str) -> str:
    """``value`` in ``fmt``, or ``–`` where it is undefined (NaN: no pair to score)."""
    return format(value, fmt) if math.isfinite(value) else "–"


def _threshold(text: str, unit: str) -> float:
    """``--threshold`` in the series' unit [W or W/kWp]: a plain number, or a power
    (``5kW``; ``300W/kWp`` for a per-kWp series)."""
    per_kwp = unit == "W/kWp"
    body = text.strip()
    if body.endswith("/kWp"):
        if not per_kwp:
            raise ConfigError(f"--threshold {text!r}: this series is in {unit}, not W/kWp; "
                              "give a power such as 5kW")
        body = body[: -len("/kWp")]
    elif per_kwp and any(c.isalpha() for c in body.replace("e", "").replace("E", "")):
        # a site's power (5kW) against PV per kWp would never be reached: refused, not read
        raise ConfigError(f"--threshold {text!r}: this series is in W/kWp (PV per kWp of "
                          "capacity), not W; give a power per kWp such as 300W/kWp")
    value = parse_quantity(body, "power", option="--threshold")
    if too_high := beyond_ceiling(value, "power"):
        raise ConfigError(f"--threshold {text!r}: {too_high}; give e.g. --threshold 5kW")
    return value


@forecast_app.command("models")
def models_cmd() -> None:
    """List the forecasters that --model accepts."""
    from greenhop.forecast import FORECASTERS

    for name in FORECASTERS.names():
        typer.echo(name)


@forecast_app.command("backtest")
def backtest_cmd(
    site: str | None = typer.Option(None, "--site", help="Solcast city (e.g. Berlin) or "
                                    "fleet site; or give --trace."),
    trace: Path | None = typer.Option(None, "--trace", help="Your own power trace, .csv or "
                                      ".parquet (with --column and --unit), instead of --site."),
    column: str | None = typer.Option(None, "--column", help=COLUMN_HELP),
    unit: str | None = typer.Option(None, "--unit", help=UNIT_HELP),
    model: str = typer.Option("gbm", "--model", help="Forecaster name (see 'forecast models')."),
    horizons: str = typer.Option("1h,2h,3h,4h", "--horizons", help="Horizons scored."),
    warmup: str = typer.Option("10d", "--warmup", help="History used only to fit/calibrate."),
    issue_every: str = typer.Option("15min", "--issue-every", help="Spacing of issues."),
    refit_every: str = typer.Option("2d", "--refit-every", help="Refit period of the model."),
    calibration: str = typer.Option("7d", "--calibration-window",
                                    help="Rolling conformal calibration history."),
    threshold: str | None = typer.Option(None, "--threshold",
                                         help="Window threshold: a power such as 5kW for a "
                                              "site, 300W/kWp for a Solcast city; a plain "
                                              "number is W (W/kWp). Default: 300 W/kWp for "
                                              "Solcast, 0 W for a site and for a --trace "
                                              "with negative values (a surplus), else 1 W "
                                              "(a generation trace: its zeros are no "
                                              "window)."),
    no_windows: bool = typer.Option(False, "--no-windows", help="Skip window forecasts."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    plot: str | None = typer.Option(None, "--plot", help="Write an image (.png, .svg or "
                                    ".pdf) of forecast vs actual; its folder must exist."),
) -> None:
    """Backtest a forecaster on a real series: accuracy, skill, calibration, windows."""
    import greenhop.forecast.models  # noqa: F401
    from greenhop.forecast.backtest import backtest, plot_backtest
    from greenhop.forecast.base import FORECASTERS, series_step_s
    from greenhop.forecast.conformal import BIN_H, MIN_PAIRS
    from greenhop.forecast.data import load_site

    named("--model", FORECASTERS.get, model)  # unknown names fail before any data is read
    if plot:
        paths.output_file(plot, "--plot")
    hz = _horizons(horizons)
    spans_s = {opt: parse_quantity(text, "duration", option=opt) for opt, text in (
        ("--warmup", warmup), ("--issue-every", issue_every), ("--refit-every", refit_every),
        ("--calibration-window", calibration))}
    # The rules of the scenario's [forecast] keys issue_every, refit_every, calibration_window.
    for opt, example in (("--issue-every", "15min"), ("--refit-every", "2d"),
                         ("--calibration-window", "7d")):
        if spans_s[opt] <= 0:
            raise ConfigError(f"{opt}: must be longer than 0 s, e.g. {opt} {example}")
    if spans_s["--issue-every"] % 86400.0 == 0:
        # every issue at one time of day: at night a solar series is 0 at all of them
        console_err = Console(stderr=True)
        console_err.print(f"[bold yellow]warning:[/] --issue-every {issue_every}: every issue "
                          "falls at the same time of day, so the scores describe that hour "
                          "only; give a spacing that is not a whole number of days, e.g. "
                          "--issue-every 15min", soft_wrap=True)
    pairs = spans_s["--calibration-window"] / spans_s["--issue-every"] * BIN_H / 24.0
    if pairs < MIN_PAIRS:  # the Mondrian groups fall back to one pooled shift, unsaid
        Console(stderr=True).print(
            f"[bold yellow]warning:[/] --issue-every {issue_every} with --calibration-window "
            f"{calibration}: a {BIN_H:g}-hour block of the day gets about {pairs:.0f} pairs "
            f"per horizon, fewer than the {MIN_PAIRS} its own calibration needs, so every "
            "hour of the day shares one shift (a solar series' nights then set the day's "
            "intervals, and 'cov act' reads as 'cover'); issue more often or calibrate on a "
            "longer window", soft_wrap=True)
    if threshold is not None:  # a typo is refused even where it goes unused (--no-windows)
        parse_quantity(threshold.strip().removesuffix("/kWp"), "power", option="--threshold")
    check_site_or_trace(site, trace, column, unit)
    if trace is None:
        data = named(f"--site {site}", load_site, site)
    else:
        from greenhop.forecast.data import trace_site

        data = trace_site(trace, column, unit)
        site = data.name
    step_s = series_step_s(data.series, f"--site {site}")
    _on_step_grid("--horizons", hz, step_s, data.name)
    _on_step_grid("--issue-every", [spans_s["--issue-every"]], step_s, data.name)
    options: dict = {}
    if model in ("gbm", "clear-sky-persistence") and data.latitude_deg is not None:
        options = {"latitude_deg": data.latitude_deg, "longitude_deg": data.longitude_deg}
    if model == "replay":
        if data.issued is None:
            raise ConfigError(f"--model replay: site '{site}' has no issued forecasts; use a "
                              "Solcast city (e.g. --site Berlin)")
        options = {"table": data.issued}
    thr = None if no_windows or model == "replay" else (
        data.default_threshold if threshold is None else _threshold(threshold, data.unit))
    console = Console(stderr=True)
    with console.status(f"backtesting {model} on {data.name} ..."):
        result = backtest(data.series, model, horizons_s=hz, warmup_s=spans_s["--warmup"],
                          issue_every_s=spans_s["--issue-every"],
                          refit_every_s=spans_s["--refit-every"],
                          calibration_window_s=spans_s["--calibration-window"], threshold=thr,
                          site=data.name, unit=data.unit, model_options=options)
    payload = result.to_dict()
    payload["source"] = data.source
    if plot:
        plot_backtest(result, plot)
        payload["plot"] = plot
    if as_json:
        typer.echo(json.dumps(_finite(payload), indent=2, ensure_ascii=False))
        return
    out = Console()
    scale, unit = 1.0, data.unit
    if unit == "W" and float(result.per_horizon["rmse_persistence"].max()) > 1e4:
        scale, unit = 1e-3, "kW"
    rows = [(f"{h:g}", [f"{int(r['n'])}", _cell(r["mae"] * scale, ".4g"),
                        _cell(r["rmse"] * scale, ".4g"),
                        _cell(r["rmse_persistence"] * scale, ".4g"), _cell(r["skill"], "+.3f"),
                        _cell(r["pinball"] * scale, ".3g"), _cell(r["coverage"], ".1%"),
                        _cell(r["coverage_active"], ".1%"), _cell(r["coverage_raw"], ".1%")])
            for h, r in result.per_horizon.iterrows()]
    print_fitted(out, title=f"{model} on {data.name} ({data.source}), scored from "
                            f"{result.eval_start:%Y-%m-%d %H:%M} UTC [{unit}]", key="h",
                 columns=["n", "MAE", "RMSE", "RMSE pers", "skill", "pinball", "cover",
                          "cov act", "cov raw"], rows=rows)
    if (result.per_horizon["rmse_persistence"] == 0).any():
        out.print("skill –: persistence made no error at that horizon (RMSE pers 0), so no "
                  "forecast can improve on it there")
    qs = result.calibrated.quantiles
    out.print(f"units: {unit}; interval p{round(qs[0] * 100)}-p{round(qs[-1] * 100)}; "
              "skill = 1 - RMSE/RMSE(persistence)")
    w = result.window_metrics
    if w:
        # no issue time inside a window leaves the in-window statistics NaN
        inside = (f"(in a window: MAE {w['in_window_mae_h']:.2f} h, coverage "
                  f"{w['in_window_coverage']:.1%})" if _finite(w["in_window_mae_h"]) is not None
                  else "(never in a window at an issue time)")
        out.print(f"windows (surplus >= {w['threshold']:g} {data.unit}, capped at "
                  f"{w['horizon_h']:g} h): p50 MAE {w['mae_h']:.2f} h, bias {w['bias_h']:+.2f} h, "
                  f"p10-p90 coverage {w['coverage']:.1%} {inside}")
    if plot:
        out.print(f"plot written to {plot}")


def register(app: typer.Typer) -> None:
    """Add ``greenhop forecast ...`` to the main app."""
    app.add_typer(forecast_app, name="forecast")
