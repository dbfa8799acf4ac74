"""``greenhop feasibility`` and ``greenhop feasibility-map``.

Options take human units (``98GB``, ``10Gbps``, ``2.5h``, ``700W``); they are parsed
and checked in :mod:`greenhop.cli.feasibility_options`, so every bad value becomes a
one-line :class:`~greenhop.core.errors.ConfigError` naming the option.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from greenhop.cli import feasibility_options as parse
from greenhop.cli import paths
from greenhop.cli.lists import comma_entries
from greenhop.core import units
from greenhop.core.errors import ConfigError
from greenhop.model import constants as C
from greenhop.model import evaluate, evaluate_distributed, mathis_bps
from greenhop.model.presets import DEFAULT_PRESET, preset

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


def _compared(a_s: float, b_s: float) -> tuple[str, str]:
    """Two durations [s] a verdict compares, in seconds to as many decimals as tell them
    apart where the rounded texts are the same ("sync 3 min 7 s > budget 3 min 7 s")."""
    fa, fb = units.format_duration(a_s), units.format_duration(b_s)
    if fa != fb or a_s == b_s or not (math.isfinite(a_s) and math.isfinite(b_s)):
        return fa, fb
    for digits in (1, 2, 3, 4, 6, 9):
        fa, fb = f"{a_s:,.{digits}f} s", f"{b_s:,.{digits}f} s"
        if fa != fb:
            break
    return fa, fb


def _print_verdict(r: dict) -> None:
    console = Console(highlight=False)
    console.print(_verdict_table(r))
    ok = "[bold green]FEASIBLE[/]" if r["feasible"] else "[bold red]NOT FEASIBLE[/]"
    cmp = "<=" if r["feasible"] else ">"
    down, budget = _compared(r["downtime_s"], r["budget_s"])
    console.print(f"\n{ok}: downtime {down} {cmp} budget {budget} (alpha {r['alpha']:g} x window "
                  f"{units.format_duration(r['window_s'])})", soft_wrap=True)
    just = "[bold green]JUSTIFIED[/]" if r["justified"] else "[bold red]NOT JUSTIFIED[/]"
    cmp = "<" if r["justified"] else ">="
    payback, left = _compared(r["payback_s"], r["window_s"] - r["downtime_s"])
    console.print(f"{just}: payback {payback} {cmp} time left {left} (window - downtime)",
                  soft_wrap=True)


def _spread_table(r: dict) -> Table:
    f, size = units.format_duration, units.format_size
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("term (spread over sites)")
    table.add_column("value", justify="right")
    table.add_column("how")
    n = r["workers"]
    rows = [
        ("workers N", f"{n}", "one per site"),
        ("parameters P", f"{r['spread_params']:.4g}", "--params, or S / preset bytes per param"),
        ("sync bytes per worker", size(r["sync_bytes"]),
         f"ring: 2 (N-1)/N x P x {r['sync_bytes_per_value']:g} B"),
        ("sync bytes, all links", size(r["total_sync_bytes"]), "N x per worker"),
        ("sync time", f(r["sync_s"]), "8 x bytes / B_eff + (N-1) x RTT"),
        ("outer step compute", f(r["spread_compute_s"]),
         f"H {r['sync_every']} x step {f(r['step_s'])}"),
        ("sync budget", f(r["sync_budget_s"]), f"share {r['sync_share']:g} x compute"),
        ("slowdown", f"{r['spread_slowdown']:.3f}x", "(compute + sync) / compute"),
        ("sync energy", units.format_energy(r["sync_energy_j"]),
         f"network {units.format_energy(r['sync_network_energy_j'])} + N x idle x sync"),
        ("worker state", size(r["worker_state_bytes"]), "what one worker's move carries"),
        ("worker move", f(r["worker_move_s"]), "save + transfer + restore of that state"),
        ("worker move budget", f(r["worker_move_budget_s"]), "alpha x W"),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def _print_spread(r: dict) -> None:
    console = Console(highlight=False)
    console.print()
    console.print(_spread_table(r))
    ok = "[bold green]SYNC FEASIBLE[/]" if r["sync_feasible"] else "[bold red]SYNC NOT FEASIBLE[/]"
    cmp = "<=" if r["sync_feasible"] else ">"
    sync, budget = _compared(r["sync_s"], r["sync_budget_s"])
    console.print(f"\n{ok}: sync {sync} {cmp} budget {budget}", soft_wrap=True)
    ok = ("[bold green]WORKER MOVE FEASIBLE[/]" if r["worker_move_feasible"]
          else "[bold red]WORKER MOVE NOT FEASIBLE[/]")
    cmp = "<=" if r["worker_move_feasible"] else ">"
    move, budget = _compared(r["worker_move_s"], r["worker_move_budget_s"])
    console.print(f"{ok}: move {move} {cmp} budget {budget}", soft_wrap=True)


# ----------------------------------------------------------------------------- commands


def feasibility(
    checkpoint: str | None = parse.option("--checkpoint", "SIZE", "checkpoint", "-c"),
    params: str | None = parse.option("--params", "COUNT", "params"),
    preset_given: str | None = typer.Option(None, "--preset", metavar="NAME",
                                            help=parse.HELP["preset"] + " With --params, or "
                                            "--checkpoint and --workers. Default: "
                                            f"{DEFAULT_PRESET}.",
                                            show_default=False),
    bandwidth: str = parse.option("--bandwidth", "RATE", "bandwidth", "-b", default=...),
    window: str = parse.option("--window", "DURATION", "window", "-w", default=...),
    alpha: str | None = parse.option("--alpha", "SHARE", "alpha"),
    efficiency: str | None = parse.option("--efficiency", "SHARE", "efficiency"),
    streams: str | None = parse.option("--streams", "N", "streams"),
    rtt: str | None = parse.option("--rtt", "DURATION", "rtt"),
    loss: str | None = parse.option("--loss", "PROB", "loss"),
    write_rate: str | None = parse.option("--write-rate", "RATE", "write_rate"),
    read_rate: str | None = parse.option("--read-rate", "RATE", "read_rate"),
    startup: str | None = parse.option("--startup", "DURATION", "startup"),
    job_power: str | None = parse.option("--job-power", "POWER", "job_power"),
    gpu: str | None = parse.option("--gpu", "NAME", "gpu"),
    gpus: str = parse.option("--gpus", "N", "gpus", default="1"),
    idle_power: str | None = parse.option("--idle-power", "POWER", "idle_power"),
    network_j_per_bit: str | None = parse.option("--network-j-per-bit", "J_PER_BIT",
                                                 "network_j_per_bit"),
    green_gain: str | None = parse.option("--green-gain", "SHARE", "green_gain"),
    ideal: bool = typer.Option(False, "--ideal", help=parse.HELP["ideal"]),
    as_json: bool = typer.Option(False, "--json", help=parse.HELP["json"]),
    workers: str | None = parse.option("--workers", "N", "workers"),
    sync_every: str | None = parse.option("--sync-every", "H", "sync_every"),
    step_time: str | None = parse.option("--step-time", "DURATION", "step_time"),
    sync_share: str | None = parse.option("--sync-share", "SHARE", "sync_share"),
    sync_precision: str | None = parse.option("--sync-precision", "NAME", "sync_precision"),
    worker_state: str | None = parse.option("--worker-state", "SIZE", "worker_state"),
) -> None:
    """Can this checkpoint cross the WAN, and the job restart, within alpha x the window,
    and does the move pay back its energy?

    Feasible when downtime D = save + transfer + restore <= alpha x window; justified when
    the payback time E_mig / (job power x green gain) < window - D.

    With --workers N --sync-every H the job is spread over N sites: it adds the
    pseudo-gradient exchange per outer step (ring all-reduce; feasible when it takes at
    most --sync-share of the H steps' compute time) and the move of one worker.
    """
    preset_name = preset_given or DEFAULT_PRESET
    size_b = parse.checkpoint_size(checkpoint, params, preset_name)
    link_bps = parse.rate_bps("--bandwidth", bandwidth, "1Gbps")
    window_s = parse.duration("--window", window, "2.5h")
    link = parse.link_options(alpha=alpha, efficiency=efficiency, streams=streams, rtt=rtt,
                              loss=loss, write_rate=write_rate, read_rate=read_rate,
                              startup=startup, ideal=ideal)
    energy = parse.energy_options(job_power=job_power, gpu=gpu, gpus=gpus,
                                  idle_power=idle_power, network_j_per_bit=network_j_per_bit,
                                  green_gain=green_gain)
    dist = parse.distributed_options(workers=workers, sync_every=sync_every,
                                     step_time=step_time, sync_share=sync_share,
                                     sync_precision=sync_precision, worker_state=worker_state)
    if preset_given is not None and params is None and dist is None:
        raise ConfigError("--preset turns --params into checkpoint bytes (or, with --workers, "
                          "the checkpoint into parameters); with --checkpoint alone it changes "
                          "nothing: drop it, or give --params COUNT instead")
    result = evaluate(size_b, link_bps, window_s, **link.kwargs(), **energy.kwargs()).to_dict()
    result.update(link.kwargs(), **vars(energy), ideal=ideal)
    if params is not None:
        result.update(params=units.parse_count(params), preset=preset_name)
    spread = None
    if dist is not None:
        count = parse.param_count(size_b, params, preset_name)
        # Each worker is a replica of the job: --gpus and --idle-power describe one worker.
        spread = evaluate_distributed(
            count, dist.workers, dist.sync_every, link_bps, window_s, **link.kwargs(),
            **dist.kwargs(), idle_power_w=energy.idle_power_w,
            network_j_per_bit=energy.network_j_per_bit).to_dict()
        spread["params"] = count
        result.update({f"{k}" if k.startswith(("sync", "worker", "total_sync")) else
                       f"spread_{k}": v for k, v in spread.items()})
        result.update(workers=dist.workers, sync_every=dist.sync_every, step_s=dist.step_s,
                      sync_share=dist.sync_share, sync_bytes_per_value=dist.bytes_per_value)
    record = {key: _finite(value) for key, value in result.items()}
    if as_json:
        typer.echo(json.dumps(record, sort_keys=False))
        return
    how = _given(checkpoint) if params is None else (
        f"{params} params x {preset(preset_name).bytes_per_param:g} B ({preset_name})")
    _print_verdict({**result, "checkpoint_how": how,
                    "min_bandwidth_bps": record["min_bandwidth_bps"]})
    if spread is not None:
        _print_spread(result)


def _given(checkpoint: str | None) -> str:
    """How the checkpoint size was given: ``given``, or with the size as typed where it was
    in bits (``98Gb`` is 98 gigabits, 12.25 GB: said, since GB was likely meant)."""
    text = (checkpoint or "").strip()
    in_bits = text.endswith(("b", "bit", "bits")) and not text.endswith(("B", "byte", "bytes"))
    return f"given as {text}, in bits (write B for bytes)" if in_bits else "given"


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
    alpha: str | None = parse.option("--alpha", "SHARE", "alpha"),
    efficiency: str | None = parse.option("--efficiency", "SHARE", "efficiency"),
    streams: str | None = parse.option("--streams", "N", "streams"),
    rtt: str | None = parse.option(  # this map has no sync exchange: the shared text's half
        "--rtt", "DURATION", "rtt",
        help="Round-trip time of the path, e.g. 50ms: caps each stream at the Mathis bound "
             f"with --loss > 0. Default: {C.RTT_S * 1e3:g}ms."),
    loss: str | None = parse.option("--loss", "PROB", "loss"),
    write_rate: str | None = parse.option("--write-rate", "RATE", "write_rate"),
    read_rate: str | None = parse.option("--read-rate", "RATE", "read_rate"),
    startup: str | None = parse.option("--startup", "DURATION", "startup"),
    ideal: bool = typer.Option(False, "--ideal", help=parse.HELP["ideal"]),
) -> None:
    """Draw the feasible domain: checkpoint size against WAN bandwidth, one boundary per
    window length, the feasible side shaded, reference models marked.

    Only the time criterion shapes the domain (energy almost always pays back), so the
    energy options of `greenhop feasibility` do not apply here.
    """
    from greenhop.model.plot import draw_feasibility_map, feasible_anywhere, map_boundaries

    paths.output_file(out, "--out", create_parents=True)
    link = parse.link_options(alpha=alpha, efficiency=efficiency, streams=streams, rtt=rtt,
                              loss=loss, write_rate=write_rate, read_rate=read_rate,
                              startup=startup, ideal=ideal)
    entries = comma_entries("--windows", windows, "durations", "1h,2.5h,5h")
    window_list = [parse.duration("--windows", w, "1h,2.5h") for w in entries]
    for i, w in enumerate(window_list):
        if w in window_list[:i]:  # one boundary per window: the same one twice is a slip
            raise ConfigError(f"--windows: {entries[i]} is the same window as "
                              f"{entries[window_list.index(w)]}; give each window once")
    size_range = parse.axis_range("--sizes", sizes, parse.size, "1GB:1TB")
    bw_range = parse.axis_range("--bandwidths", bandwidths, parse.rate_bps, "100Mbps:100Gbps")
    out.parent.mkdir(parents=True, exist_ok=True)
    draw_feasibility_map(out, windows_s=window_list, size_range_bytes=size_range,
                         bandwidth_range_bps=bw_range, swap_axes=swap_axes, **link.kwargs())
    typer.echo(f"wrote {out}")
    # the smallest checkpoint needs the least bandwidth: it alone says whether any fits
    if not feasible_anywhere(map_boundaries([size_range[0]], window_list, **link.kwargs()),
                             bw_range[1]):
        Console(stderr=True, highlight=False).print(
            f"warning: nothing is feasible on this map: even {sizes.split(':')[0].strip()} "
            f"over {bandwidths.split(':')[1].strip()} takes more than alpha x the longest "
            "window (the restart and disk times alone, or a short window); the map says so",
            soft_wrap=True)


def sync_map(
    out: Path | None = typer.Option(None, "--out", "-o", metavar="PATH",
                                    help="Image to write: .png, .svg or .pdf; parent folders "
                                    "are created. Without it only the table is printed."),
    workers: str = parse.option("--workers", "N", "workers", default="3",
                                help="Workers the job is spread over, each at its own site "
                                     "[-], >= 1 (1: nothing to exchange). Default: 3."),
    models: str = typer.Option("1.3B,7B,13B,70B", "--models", metavar="COUNTS",
                               help="Model sizes in parameters, one curve each, "
                               "comma-separated, e.g. 1.3B,7B,70B."),
    bandwidths: str = typer.Option("100Mbps:100Gbps", "--bandwidths", metavar="MIN:MAX",
                                   help="Bandwidth axis range MIN:MAX (nominal link rate, "
                                   "log scale); the table shows its decades."),
    step_time: str | None = parse.option("--step-time", "DURATION", "step_time"),
    sync_share: str | None = parse.option("--sync-share", "SHARE", "sync_share"),
    sync_precision: str | None = parse.option("--sync-precision", "NAME", "sync_precision"),
    efficiency: str | None = parse.option(
        "--efficiency", "SHARE", "efficiency",
        help="Share of the nominal link rate a transfer reaches [-], in (0, 1]. "
             f"Default: {C.EFFICIENCY}."),
    streams: str | None = parse.option("--streams", "N", "streams"),
    rtt: str | None = parse.option("--rtt", "DURATION", "rtt"),
    loss: str | None = parse.option("--loss", "PROB", "loss"),
) -> None:
    """The feasibility map of a job spread over sites: for each model size, the smallest
    sync interval H whose pseudo-gradient exchange takes at most --sync-share of the H
    steps' compute time, against the WAN bandwidth (a table; a figure with --out)."""
    from greenhop.model.distributed_plot import draw_sync_map, sync_boundaries, sync_table

    if out is not None:
        paths.output_file(out, "--out", create_parents=True)
    dist = parse.distributed_options(workers=workers, sync_every="1", step_time=step_time,
                                     sync_share=sync_share, sync_precision=sync_precision,
                                     worker_state=None)
    link = parse.link_options(alpha=None, efficiency=efficiency, streams=streams, rtt=rtt,
                              loss=loss, write_rate=None, read_rate=None, startup=None,
                              ideal=False)
    entries = comma_entries("--models", models, "parameter counts", "1.3B,7B")
    counts = [parse.within("--models", parse.positive(
        "--models", parse.parsed("--models", units.parse_count, m), m, "7B"), m, "7B",
        parse.PARAMS_RANGE) for m in entries]
    for i, n in enumerate(counts):
        if n in counts[:i]:  # one row per model: the same one twice is a slip
            raise ConfigError(f"--models: {entries[i]} is the same model size as "
                              f"{entries[counts.index(n)]}; give each size once")
    bw_range = parse.axis_range("--bandwidths", bandwidths, parse.rate_bps, "100Mbps:100Gbps")
    model = {"step_s": dist.step_s, "sync_share": dist.sync_share,
             "bytes_per_value": dist.bytes_per_value, "efficiency": link.efficiency,
             "streams": link.streams, "rtt_s": link.rtt_s, "loss": link.loss}
    # H is largest for the largest model on the slowest link; the figure shades up to 10 x it.
    with np.errstate(all="ignore"):
        largest = float(sync_boundaries(counts, [bw_range[0]], dist.workers, **model).max())
    if not math.isfinite(10 * largest):
        raise ConfigError(f"the smallest sync interval H at {units.format_rate(bw_range[0])} "
                          "(MIN of --bandwidths) is too large to compute; raise MIN, or check "
                          "--models, --step-time and --sync-share")
    lo, hi = np.ceil(np.log10(bw_range[0]) - 1e-9), np.floor(np.log10(bw_range[1]) + 1e-9)
    decades = [10.0 ** e for e in np.arange(lo, hi + 1)] or list(bw_range)
    typer.echo(f"smallest sync interval H [inner steps], {dist.workers} "
               f"worker{'' if dist.workers == 1 else 's'}:")
    typer.echo(sync_table(counts, decades, dist.workers, **model))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        draw_sync_map(out, params=counts, bandwidth_range_bps=bw_range, workers=dist.workers,
                      **model)
        typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add the feasibility commands to ``app``."""
    app.command("feasibility")(feasibility)
    app.command("feasibility-map")(feasibility_map)
    app.command("sync-map")(sync_map)
