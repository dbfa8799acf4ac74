"""``greenhop feasibility`` and ``greenhop feasibility-map``.

Options take human units (``98GB``, ``10Gbps``, ``2.5h``, ``700W``) and are
turned into SI here, at the edge; every bad value becomes a one-line
:class:`~greenhop.core.errors.ConfigError` naming the option and its accepted forms.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from greenhop.core import units
from greenhop.core.errors import ConfigError, UnitError
from greenhop.core.platforms import platform
from greenhop.model import constants as C
from greenhop.model import evaluate, mathis_bps
from greenhop.model.presets import PRESETS, checkpoint_bytes, preset

# ----------------------------------------------------------------------------- options

_UNITS = "Decimal prefixes (1 GB = 1e9 B) unless Ki/Mi/Gi/Ti is written."
_HELP = {
    "checkpoint": f"Checkpoint size S, e.g. 98GB or 1.5GiB. {_UNITS} Or use --params.",
    "params": "Parameter count instead of --checkpoint, e.g. 7e9, 7B or 1.5M; S = params x "
    "bytes/param of --preset.",
    "preset": f"What the checkpoint holds, in bytes per parameter: {', '.join(PRESETS)}.",
    "bandwidth": "Nominal WAN link rate, e.g. 1Gbps, 250Mbit/s or 400MB/s (bytes per second).",
    "window": "The destination's remaining surplus window W, e.g. 2.5h, 90min or 1h30min.",
    "alpha": f"Share of the window the downtime may use [-], in (0, 1]. Default: {C.ALPHA}.",
    "efficiency": "Share of the nominal link rate a transfer reaches [-], in (0, 1]. "
    f"Default: {C.EFFICIENCY}; 1 with --ideal.",
    "streams": f"Parallel TCP streams [-], >= 1 (the Mathis bound is per stream). "
    f"Default: {C.STREAMS}.",
    "rtt": f"Round-trip time of the path, e.g. 50ms (used only with --loss > 0). "
    f"Default: {C.RTT_S * 1e3:g}ms.",
    "loss": "Packet loss probability [-], in [0, 1); > 0 caps each stream at the Mathis bound "
    "MSS x 8 / RTT x sqrt(3/2) / sqrt(loss). Default: 0.",
    "write_rate": "Checkpoint write rate at the source, e.g. 2GB/s or 16Gbps; 'inf' for free. "
    f"Default: {units.format_size(C.WRITE_BPS)}/s; inf with --ideal.",
    "read_rate": "Checkpoint read rate at the destination, e.g. 2GB/s; 'inf' for free. "
    f"Default: {units.format_size(C.READ_BPS)}/s; inf with --ideal.",
    "startup": "Fixed restart cost at the destination, e.g. 60s or 2min. "
    f"Default: {C.STARTUP_S:g}s; 0 with --ideal.",
    "job_power": "Power of the whole job while training, e.g. 700W or 5.6kW. "
    f"Default: --gpu power x --gpus, else {C.JOB_POWER_W:g}W.",
    "gpu": "GPU platform the job runs on (sets job and idle power per GPU), e.g. H100-SXM, "
    "A100-SXM4-80GB, L40S, RTX-4090, Jetson-AGX-Orin, DGX-Spark (case-insensitive).",
    "gpus": "Number of GPUs of the job [-]; multiplies the per-GPU powers. Default: 1.",
    "idle_power": "Power the job's hardware draws during the downtime, e.g. 70W. "
    f"Default: --gpu idle power x --gpus, else {C.IDLE_POWER_W:g}W.",
    "network_j_per_bit": "WAN energy per bit carried [J/bit], >= 0. "
    f"Default: {C.NETWORK_J_PER_BIT:g}, Aslan et al. 2018 extrapolated to 2025.",
    "green_gain": "Gain in renewable share of the job's power after the move [-], in (0, 1]. "
    f"Default: {C.GREEN_GAIN:g}.",
    "ideal": "Textbook check: efficiency 1, no loss limit, infinite disk rates, zero startup. "
    "Options given explicitly still win.",
    "json": "Print one JSON object (SI units: bytes, bit/s, s, W, J) instead of the table.",
}


def _opt(name: str, metavar: str, key: str, *short: str, default=None):
    """A string option: parsed (with its units) and checked by this module, not by Typer."""
    return typer.Option(default, name, *short, metavar=metavar, help=_HELP[key],
                        show_default=False)


def _wrap(option: str, parser, text: str) -> float:
    try:
        return parser(text)
    except UnitError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _positive(option: str, value: float, text: str, example: str) -> float:
    if not value > 0:
        raise ConfigError(f"{option} {text!r} must be positive; give e.g. {option} {example}")
    return value


def _size(option: str, text: str, example: str) -> float:
    return _positive(option, _wrap(option, units.parse_size, text), text, example)


def _rate_bps(option: str, text: str, example: str) -> float:
    return _positive(option, _wrap(option, units.parse_rate, text), text, example)


def _disk_Bps(option: str, text: str | None, default: float) -> float:
    if text is None:
        return default
    if text.strip().lower() in ("inf", "infinite", "unlimited"):
        return math.inf
    return _rate_bps(option, text, "2GB/s") / 8.0


def _duration(option: str, text: str, example: str, *, allow_zero: bool = False) -> float:
    value = _wrap(option, units.parse_duration, text)
    return value if allow_zero else _positive(option, value, text, example)


def _power(option: str, text: str, example: str, *, allow_zero: bool = False) -> float:
    value = _wrap(option, units.parse_power, text)
    return value if allow_zero else _positive(option, value, text, example)


def _in_range(option: str, value: float | None, low: float, high: float, low_open: bool,
              meaning: str) -> float | None:
    if value is None:
        return None
    ok = (low < value <= high) if low_open else (low <= value < high)
    if not ok:
        interval = f"({low:g}, {high:g}]" if low_open else f"[{low:g}, {high:g})"
        raise ConfigError(f"{option} {value!r} is outside {interval}; it is {meaning}")
    return value


def _number(option: str, text: str | None, example: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not a number; give e.g. {option} {example}"
                          ) from None


def _whole(option: str, text: str, example: str) -> int:
    value = _number(option, text, example)
    if not (value is not None and math.isfinite(value) and value >= 1 and value == int(value)):
        raise ConfigError(f"{option} {text} must be a whole number >= 1, e.g. {option} {example}")
    return int(value)


@dataclass
class LinkOptions:
    """The time side of the model, shared by both commands (SI units)."""

    alpha: float
    efficiency: float
    streams: int
    rtt_s: float
    loss: float
    write_Bps: float
    read_Bps: float
    startup_s: float

    def kwargs(self) -> dict:
        return dict(vars(self))


def link_options(*, alpha, efficiency, streams, rtt, loss, write_rate, read_rate, startup,
                 ideal: bool) -> LinkOptions:
    """Parse and check the time-side options; ``--ideal`` fills only what was not given."""
    alpha = _in_range("--alpha", _number("--alpha", alpha, "0.1"), 0.0, 1.0, True,
                      "the share of the window the downtime may use")
    efficiency = _in_range("--efficiency", _number("--efficiency", efficiency, "0.8"), 0.0,
                           1.0, True, "the share of the link rate reached")
    loss = _in_range("--loss", _number("--loss", loss, "1e-4"), 0.0, 1.0, False,
                     "a packet loss probability")
    streams = None if streams is None else _whole("--streams", streams, "8")
    return LinkOptions(
        alpha=C.ALPHA if alpha is None else alpha,
        efficiency=efficiency if efficiency is not None else (1.0 if ideal else C.EFFICIENCY),
        streams=C.STREAMS if streams is None else streams,
        rtt_s=C.RTT_S if rtt is None else _duration("--rtt", rtt, "50ms"),
        loss=0.0 if loss is None else loss,
        write_Bps=_disk_Bps("--write-rate", write_rate, math.inf if ideal else C.WRITE_BPS),
        read_Bps=_disk_Bps("--read-rate", read_rate, math.inf if ideal else C.READ_BPS),
        startup_s=(0.0 if ideal else C.STARTUP_S) if startup is None
        else _duration("--startup", startup, "60s", allow_zero=True),
    )


def _checkpoint(checkpoint: str | None, params: str | None, preset_name: str) -> float:
    if checkpoint is not None and params is not None:
        raise ConfigError("give either --checkpoint SIZE or --params COUNT, not both")
    if checkpoint is None and params is None:
        raise ConfigError("give the checkpoint size: --checkpoint 98GB, or --params 7e9 "
                          "--preset mixed-adam")
    preset(preset_name)  # an unknown preset is an error even with --checkpoint
    if checkpoint is not None:
        return _size("--checkpoint", checkpoint, "98GB")
    count = _positive("--params", _wrap("--params", units.parse_count, params), params, "7e9")
    return checkpoint_bytes(count, preset_name)


def _powers(job_power, gpu, gpus_text, idle_power) -> tuple[float, float, str | None]:
    gpus = _whole("--gpus", gpus_text, "8")
    plat = platform(gpu) if gpu is not None else None
    per_gpu = (plat.train_power_w, plat.idle_power_w) if plat else (C.JOB_POWER_W, C.IDLE_POWER_W)
    job_w = per_gpu[0] * gpus if job_power is None else _power("--job-power", job_power, "700W")
    idle_w = (per_gpu[1] * gpus if idle_power is None
              else _power("--idle-power", idle_power, "70W", allow_zero=True))
    return job_w, idle_w, plat.name if plat else None


# ----------------------------------------------------------------------------- output


def _finite(value):
    """JSON has no infinity: non-finite numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _verdict_table(r: dict) -> Table:
    f, size, rate = units.format_duration, units.format_size, units.format_rate
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("term")
    table.add_column("value", justify="right")
    table.add_column("how")
    rows = [
        ("checkpoint S", size(r["checkpoint_bytes"]), r["checkpoint_how"]),
        ("link bandwidth", rate(r["bandwidth_bps"]), "nominal"),
        ("effective rate B_eff", rate(r["effective_bps"]), _rate_how(r)),
        ("save", f(r["save_s"]), f"S / write {_Bps(r['write_Bps'])}"),
        ("transfer", f(r["transfer_s"]), "8 S / B_eff"),
        ("restore", f(r["restore_s"]), f"S / read {_Bps(r['read_Bps'])} + startup "
         f"{f(r['startup_s'])}"),
        ("downtime D", f(r["downtime_s"]), "save + transfer + restore"),
        ("window W", f(r["window_s"]), "destination surplus window"),
        ("budget", f(r["budget_s"]), f"alpha {r['alpha']:g} x W"),
        ("time margin", f(r["time_margin_s"]), "budget - D (>= 0 is feasible)"),
        ("largest checkpoint", size(r["max_checkpoint_bytes"]),
         f"{r['checkpoint_headroom']:.3g} x S still fits"),
        ("shortest window", f(r["min_window_s"]), "D / alpha"),
        ("smallest bandwidth", "none suffices" if r["min_bandwidth_bps"] is None
         else rate(r["min_bandwidth_bps"]), "nominal link rate at D = budget"),
        ("network energy", units.format_energy(r["network_energy_j"]),
         f"8 S x {r['network_j_per_bit']:.3g} J/bit"),
        ("idle energy", units.format_energy(r["idle_energy_j"]),
         f"idle {units.format_power(r['idle_power_w'])} x D"),
        ("migration energy E_mig", units.format_energy(r["migration_energy_j"]),
         "network + idle"),
        ("payback t_pb", f(r["payback_s"]), f"E_mig / (job {units.format_power(r['job_power_w'])}"
         f" x gain {r['green_gain']:g})"),
        ("time left after move", f(r["window_s"] - r["downtime_s"]), "W - D (> t_pb: justified)"),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def _rate_how(r: dict) -> str:
    if r["loss"] == 0:
        return f"eff {r['efficiency']:g} x link (loss 0: no TCP cap)"
    per_stream = units.format_rate(mathis_bps(r["rtt_s"], r["loss"]))
    return f"min({r['efficiency']:g} x link, {r['streams']} x {per_stream} Mathis)"


def _Bps(value: float) -> str:
    return "free" if math.isinf(value) else f"{units.format_size(value)}/s"


def _print_verdict(r: dict) -> None:
    console = Console(highlight=False)
    console.print(_verdict_table(r))
    ok = "[bold green]FEASIBLE[/]" if r["feasible"] else "[bold red]NOT FEASIBLE[/]"
    cmp = "<=" if r["feasible"] else ">"
    console.print(f"\n{ok}: downtime {units.format_duration(r['downtime_s'])} {cmp} budget "
                  f"{units.format_duration(r['budget_s'])} (alpha {r['alpha']:g} x window "
                  f"{units.format_duration(r['window_s'])})", soft_wrap=True)
    just = "[bold green]JUSTIFIED[/]" if r["justified"] else "[bold red]NOT JUSTIFIED[/]"
    cmp = "<" if r["justified"] else ">="
    console.print(f"{just}: payback {units.format_duration(r['payback_s'])} {cmp} time left "
                  f"{units.format_duration(r['window_s'] - r['downtime_s'])} (window - downtime)",
                  soft_wrap=True)


# ----------------------------------------------------------------------------- commands


def feasibility(
    checkpoint: str | None = _opt("--checkpoint", "SIZE", "checkpoint", "-c"),
    params: str | None = _opt("--params", "COUNT", "params"),
    preset_name: str = typer.Option("mixed-adam", "--preset", metavar="NAME",
                                    help=_HELP["preset"]),
    bandwidth: str = _opt("--bandwidth", "RATE", "bandwidth", "-b", default=...),
    window: str = _opt("--window", "DURATION", "window", "-w", default=...),
    alpha: str | None = _opt("--alpha", "SHARE", "alpha"),
    efficiency: str | None = _opt("--efficiency", "SHARE", "efficiency"),
    streams: str | None = _opt("--streams", "N", "streams"),
    rtt: str | None = _opt("--rtt", "DURATION", "rtt"),
    loss: str | None = _opt("--loss", "PROB", "loss"),
    write_rate: str | None = _opt("--write-rate", "RATE", "write_rate"),
    read_rate: str | None = _opt("--read-rate", "RATE", "read_rate"),
    startup: str | None = _opt("--startup", "DURATION", "startup"),
    job_power: str | None = _opt("--job-power", "POWER", "job_power"),
    gpu: str | None = _opt("--gpu", "NAME", "gpu"),
    gpus: str = _opt("--gpus", "N", "gpus", default="1"),
    idle_power: str | None = _opt("--idle-power", "POWER", "idle_power"),
    network_j_per_bit: str | None = _opt("--network-j-per-bit", "J_PER_BIT", "network_j_per_bit"),
    green_gain: str | None = _opt("--green-gain", "SHARE", "green_gain"),
    ideal: bool = typer.Option(False, "--ideal", help=_HELP["ideal"]),
    as_json: bool = typer.Option(False, "--json", help=_HELP["json"]),
) -> None:
    """Can this checkpoint cross the WAN, and the job restart, within alpha x the window,
    and does the move pay back its energy?

    Feasible when downtime D = save + transfer + restore <= alpha x window; justified when
    the payback time E_mig / (job power x green gain) < window - D.
    """
    size_b = _checkpoint(checkpoint, params, preset_name)
    link_bps = _rate_bps("--bandwidth", bandwidth, "1Gbps")
    window_s = _duration("--window", window, "2.5h")
    opts = link_options(alpha=alpha, efficiency=efficiency, streams=streams, rtt=rtt, loss=loss,
                        write_rate=write_rate, read_rate=read_rate, startup=startup, ideal=ideal)
    job_w, idle_w, gpu_name = _powers(job_power, gpu, gpus, idle_power)
    green_gain = _in_range("--green-gain", _number("--green-gain", green_gain, "1"), 0.0, 1.0,
                           True, "a gain in renewable share")
    network_j_per_bit = _number("--network-j-per-bit", network_j_per_bit, "8.4e-7")
    if network_j_per_bit is not None and not (0 <= network_j_per_bit < math.inf):
        raise ConfigError(f"--network-j-per-bit {network_j_per_bit!r} must be finite and >= 0, "
                          f"e.g. --network-j-per-bit {C.NETWORK_J_PER_BIT:g}")
    energy = dict(
        job_power_w=job_w,
        idle_power_w=idle_w,
        network_j_per_bit=C.NETWORK_J_PER_BIT if network_j_per_bit is None else network_j_per_bit,
        green_gain=C.GREEN_GAIN if green_gain is None else green_gain,
    )
    result = evaluate(size_b, link_bps, window_s, **opts.kwargs(), **energy).to_dict()
    result.update(opts.kwargs(), **energy, gpu=gpu_name, gpus=_whole("--gpus", gpus, "8"),
                  ideal=ideal)
    if params is not None:
        result.update(params=units.parse_count(params), preset=preset_name)
    record = {key: _finite(value) for key, value in result.items()}
    if as_json:
        typer.echo(json.dumps(record, sort_keys=False))
        return
    how = "given" if params is None else (
        f"{params} params x {preset(preset_name).bytes_per_param:g} B ({preset_name})")
    _print_verdict({**result, "checkpoint_how": how,
                    "min_bandwidth_bps": record["min_bandwidth_bps"]})


def feasibility_map(
    out: Path = typer.Option(..., "--out", "-o", metavar="PATH",
                             help="Image to write: .png, .svg or .pdf; parent folders are "
                             "created."),
    windows: str = typer.Option("1h,2.5h,5h,9.5h", "--windows", metavar="DURATIONS",
                                help="Window lengths, one boundary each, comma-separated "
                                "durations, e.g. 1h,2.5h,5h,9.5h."),
    sizes: str = typer.Option("1GB:1TB", "--sizes", metavar="MIN:MAX",
                              help="Checkpoint-size axis range MIN:MAX, "
                              "e.g. 1GB:1TB (log scale)."),
    bandwidths: str = typer.Option("100Mbps:100Gbps", "--bandwidths", metavar="MIN:MAX",
                                   help="Bandwidth axis range MIN:MAX, e.g. 100Mbps:100Gbps "
                                   "(nominal link rate, log scale)."),
    swap_axes: bool = typer.Option(False, "--swap-axes",
                                   help="Bandwidth on x and checkpoint size on y."),
    alpha: str | None = _opt("--alpha", "SHARE", "alpha"),
    efficiency: str | None = _opt("--efficiency", "SHARE", "efficiency"),
    streams: str | None = _opt("--streams", "N", "streams"),
    rtt: str | None = _opt("--rtt", "DURATION", "rtt"),
    loss: str | None = _opt("--loss", "PROB", "loss"),
    write_rate: str | None = _opt("--write-rate", "RATE", "write_rate"),
    read_rate: str | None = _opt("--read-rate", "RATE", "read_rate"),
    startup: str | None = _opt("--startup", "DURATION", "startup"),
    ideal: bool = typer.Option(False, "--ideal", help=_HELP["ideal"]),
) -> None:
    """Draw the feasible domain: checkpoint size against WAN bandwidth, one boundary per
    window length, the feasible side shaded, reference models marked.

    Only the time criterion shapes the domain (energy almost always pays back), so the
    energy options of `greenhop feasibility` do not apply here.
    """
    from greenhop.model.plot import draw_feasibility_map

    opts = link_options(alpha=alpha, efficiency=efficiency, streams=streams, rtt=rtt, loss=loss,
                        write_rate=write_rate, read_rate=read_rate, startup=startup, ideal=ideal)
    window_list = [_duration("--windows", w.strip(), "1h,2.5h") for w in windows.split(",")
                   if w.strip()]
    if not window_list:
        raise ConfigError("--windows is empty; give durations such as --windows 1h,2.5h,5h")
    size_range = _range("--sizes", sizes, _size, "1GB:1TB")
    bw_range = _range("--bandwidths", bandwidths, _rate_bps, "100Mbps:100Gbps")
    suffix = out.suffix.lower().lstrip(".")
    if suffix not in ("png", "svg", "pdf"):
        raise ConfigError(f"--out {str(out)!r}: unknown image type {out.suffix!r}; "
                          "end the name with .png, .svg or .pdf")
    out.parent.mkdir(parents=True, exist_ok=True)
    draw_feasibility_map(out, windows_s=window_list, size_range_bytes=size_range,
                         bandwidth_range_bps=bw_range, swap_axes=swap_axes, **opts.kwargs())
    typer.echo(f"wrote {out}")


def _range(option: str, text: str, parse, example: str) -> tuple[float, float]:
    parts = text.split(":")
    if len(parts) != 2:
        raise ConfigError(f"{option} {text!r} is not a range MIN:MAX; give e.g. "
                          f"{option} {example}")
    low, high = (parse(option, part.strip(), example) for part in parts)
    if not low < high:
        raise ConfigError(f"{option} {text!r}: MIN must be below MAX, e.g. {option} {example}")
    return low, high


def register(app: typer.Typer) -> None:
    """Add the feasibility commands to ``app``."""
    app.command("feasibility")(feasibility)
    app.command("feasibility-map")(feasibility_map)
