"""Options of ``greenhop feasibility`` and ``greenhop feasibility-map``: help texts and parsing.

Options arrive as strings with human units (``98GB``, ``10Gbps``, ``2.5h``, ``700W``) and
are turned into SI here, at the edge. Every bad value becomes a one-line
:class:`~greenhop.core.errors.ConfigError` that names the option and shows a valid example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import typer

from greenhop.core import units
from greenhop.core.errors import ConfigError, UnitError, named
from greenhop.core.platforms import platform
from greenhop.model import constants as C
from greenhop.model.distributed import SYNC_PRECISION
from greenhop.model.presets import PRESETS, checkpoint_bytes, preset

_UNITS = "Decimal prefixes (1 GB = 1e9 B) unless Ki/Mi/Gi/Ti is written."
HELP = {
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
    "rtt": "Round-trip time of the path, e.g. 50ms: caps each stream at the Mathis bound "
    "with --loss > 0, and adds (N-1) x RTT to a sync exchange of N workers. "
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
    f"Default: --gpu power x --gpus, else {C.JOB_POWER_W:g}W: the GPUs alone (the simulator "
    "adds the host's share and the site's PUE: give their product here to match it).",
    "gpu": "GPU platform the job runs on (sets job and idle power per GPU), e.g. H100-SXM, "
    "A100-SXM4-80GB, L40S, RTX-4090, Jetson-AGX-Orin, DGX-Spark (case-insensitive).",
    "gpus": "Number of GPUs of the job [-]; multiplies the per-GPU powers. Default: 1.",
    "idle_power": "Power the job's hardware draws during the downtime, e.g. 70W. "
    f"Default: --gpu idle power x --gpus, else {C.IDLE_POWER_W:g}W.",
    "network_j_per_bit": "WAN energy per bit carried [J/bit], in [0, 0.001]. "
    f"Default: {C.NETWORK_J_PER_BIT:g}, Aslan et al. 2018 extrapolated to 2025.",
    "green_gain": "Gain in renewable share of the job's power after the move [-], in (0, 1]. "
    f"Default: {C.GREEN_GAIN:g}.",
    "ideal": "Textbook check: efficiency 1, no loss limit, infinite disk rates, zero startup. "
    "Options given explicitly still win.",
    "json": "Print one JSON object (SI units: bytes, bit/s, s, W, J) instead of the table.",
    "workers": "Spread the job over N workers at different sites (low-communication "
    "training, docs/distributed.md); with --sync-every it adds the sync and worker-move terms.",
    "sync_every": "Inner steps between two pseudo-gradient exchanges (outer step H), >= 1; "
    "needs --workers.",
    "step_time": "Time of one inner step of a worker, e.g. 1.5s. Default: 1s.",
    "sync_share": "Share of an outer step's compute time the exchange may take [-], in "
    "(0, 1]. Default: 0.1.",
    "sync_precision": "Precision of the exchanged pseudo-gradients: bf16 or fp16 (2 B/value) "
    "or fp32 (4 B/value). Default: bf16.",
    "worker_state": "Size of one worker's own state (what moves with it), e.g. 16GB. "
    "Default: params x 16 B (fp32 params, AdamW moments, outer momentum).",
}

def option(name: str, metavar: str, key: str, *short: str, default=None,
           help: str | None = None):
    """A string option: parsed (with its units) and checked by this module, not by Typer;
    ``help`` replaces the shared text where a command lacks what it refers to."""
    return typer.Option(default, name, *short, metavar=metavar,
                        help=HELP[key] if help is None else help, show_default=False)


def parsed(option: str, parser, text: str) -> float:
    try:
        return parser(text)
    except UnitError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def positive(option: str, value: float, text: str, example: str) -> float:
    if not value > 0:
        raise ConfigError(f"{option} {text!r} must be positive; give e.g. {option} {example}")
    return value


# Physical ranges of the options: far beyond any real job or link, near enough that the
# model's products and quotients stay finite (1e-300 bit/s made a downtime of "never" and a
# margin of -inf; 1e300 J/bit an energy of inf GWh).
SIZE_RANGE_B = (1.0, 1e18, "1 B", "1 EB")
RATE_RANGE_BPS = (1.0, 1e15, "1 bit/s", "1 Pbit/s")
DURATION_RANGE_S = (1e-3, units.MAX_SPAN_S, "1 ms", "3650d (10 years)")
PARAMS_RANGE = (1.0, units.MAX_MODEL_PARAMS, "1", "1e15")
MAX_J_PER_BIT = 1e-3
"""Largest WAN energy per bit [J/bit]: a thousand times today's estimates of 1e-7-1e-6."""


def within(option: str, value: float, text: str, example: str,
           bounds: tuple[float, float, str, str]) -> float:
    """``value`` if it lies in ``bounds`` (low, high and how they read), else a ConfigError
    naming the option, the range and an example."""
    low, high, low_text, high_text = bounds
    if not low <= value <= high:
        side = f"below {low_text}" if value < low else f"above {high_text}"
        raise ConfigError(f"{option} {text!r} is {side}; it must lie between {low_text} and "
                          f"{high_text}, e.g. {option} {example}")
    return value


def size(option: str, text: str, example: str) -> float:
    value = positive(option, parsed(option, units.parse_size, text), text, example)
    return within(option, value, text, example, SIZE_RANGE_B)


def rate_bps(option: str, text: str, example: str) -> float:
    value = positive(option, parsed(option, units.parse_rate, text), text, example)
    return within(option, value, text, example, RATE_RANGE_BPS)


def disk_Bps(option: str, text: str | None, default: float) -> float:
    if text is None:
        return default
    if text.strip().lower() in ("inf", "infinite", "unlimited"):
        return math.inf
    return rate_bps(option, text, "2GB/s") / 8.0


def duration(option: str, text: str, example: str, *, allow_zero: bool = False) -> float:
    value = parsed(option, units.parse_duration, text)
    if allow_zero and value == 0:
        return value
    value = positive(option, value, text, example)
    return within(option, value, text, example, DURATION_RANGE_S)


def power(option: str, text: str, example: str, *, allow_zero: bool = False) -> float:
    value = parsed(option, units.parse_power, text)
    if not allow_zero:
        positive(option, value, text, example)
    too_high = units.beyond_ceiling(value, "power")
    if too_high:
        raise ConfigError(f"{option} {text!r}: {too_high}; give e.g. {option} {example}")
    return value


def in_range(option: str, value: float | None, low: float, high: float, low_open: bool,
              meaning: str) -> float | None:
    if value is None:
        return None
    ok = (low < value <= high) if low_open else (low <= value < high)
    if not ok:
        interval = f"({low:g}, {high:g}]" if low_open else f"[{low:g}, {high:g})"
        raise ConfigError(f"{option} {value!r} is outside {interval}; it is {meaning}")
    return value


def number(option: str, text: str | None, example: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not a number; give e.g. {option} {example}"
                          ) from None


WHOLE_MAX = 2**53
"""Largest whole-number option: beyond it a float no longer tells whole numbers apart."""


def whole(option: str, text: str, example: str) -> int:
    value = number(option, text, example)
    if text.strip().isdigit():  # read exactly: a float rounds 2^53 + 1 down to 2^53
        value = int(text.strip())
    if not (value is not None and 1 <= value <= WHOLE_MAX and value == int(value)):
        raise ConfigError(f"{option} {text} must be a whole number >= 1 (and <= 2^53), "
                          f"e.g. {option} {example}")
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
    alpha = in_range("--alpha", number("--alpha", alpha, "0.1"), 0.0, 1.0, True,
                      "the share of the window the downtime may use")
    efficiency = in_range("--efficiency", number("--efficiency", efficiency, "0.8"), 0.0,
                           1.0, True, "the share of the link rate reached")
    loss = in_range("--loss", number("--loss", loss, "1e-4"), 0.0, 1.0, False,
                     "a packet loss probability")
    streams = None if streams is None else whole("--streams", streams, "8")
    return LinkOptions(
        alpha=C.ALPHA if alpha is None else alpha,
        efficiency=efficiency if efficiency is not None else (1.0 if ideal else C.EFFICIENCY),
        streams=C.STREAMS if streams is None else streams,
        rtt_s=C.RTT_S if rtt is None else duration("--rtt", rtt, "50ms"),
        loss=0.0 if loss is None else loss,
        write_Bps=disk_Bps("--write-rate", write_rate, math.inf if ideal else C.WRITE_BPS),
        read_Bps=disk_Bps("--read-rate", read_rate, math.inf if ideal else C.READ_BPS),
        startup_s=(0.0 if ideal else C.STARTUP_S) if startup is None
        else duration("--startup", startup, "60s", allow_zero=True),
    )


def checkpoint_size(checkpoint: str | None, params: str | None, preset_name: str) -> float:
    if checkpoint is not None and params is not None:
        raise ConfigError("give either --checkpoint SIZE or --params COUNT, not both")
    if checkpoint is None and params is None:
        raise ConfigError("give the checkpoint size: --checkpoint 98GB, or --params 7e9 "
                          "--preset mixed-adam")
    named("--preset", preset, preset_name)  # unknown: an error even with --checkpoint
    if checkpoint is not None:
        return size("--checkpoint", checkpoint, "98GB")
    return checkpoint_bytes(param_count(0.0, params, preset_name), preset_name)


@dataclass
class EnergyOptions:
    """The energy side of the model (SI units), and the GPU platform it came from."""

    job_power_w: float
    idle_power_w: float
    network_j_per_bit: float
    green_gain: float
    gpu: str | None
    gpus: int

    def kwargs(self) -> dict:
        """The keyword arguments of :func:`greenhop.model.evaluate`."""
        return {key: value for key, value in vars(self).items() if key not in ("gpu", "gpus")}


def energy_options(*, job_power, gpu, gpus, idle_power, network_j_per_bit,
                   green_gain) -> EnergyOptions:
    """Parse and check the energy-side options; ``--gpu`` x ``--gpus`` gives the default
    powers, ``--job-power`` and ``--idle-power`` (totals) win over it."""
    count = whole("--gpus", gpus, "8")
    plat = named("--gpu", platform, gpu) if gpu is not None else None
    per_gpu = (plat.train_power_w, plat.idle_power_w) if plat else (C.JOB_POWER_W, C.IDLE_POWER_W)
    gain = in_range("--green-gain", number("--green-gain", green_gain, "1"), 0.0, 1.0, True,
                    "a gain in renewable share")
    per_bit = number("--network-j-per-bit", network_j_per_bit, "8.4e-7")
    if per_bit is not None and not 0 <= per_bit <= MAX_J_PER_BIT:
        raise ConfigError(f"--network-j-per-bit {per_bit!r} must lie between 0 and "
                          f"{MAX_J_PER_BIT:g} J/bit, e.g. --network-j-per-bit "
                          f"{C.NETWORK_J_PER_BIT:g}")
    for name, per, given in (("--job-power", per_gpu[0], job_power),
                             ("--idle-power", per_gpu[1], idle_power)):
        if given is None and units.beyond_ceiling(per * count, "power") is not None:
            # the default power of --gpus GPUs is a total like the option's: one ceiling
            raise ConfigError(f"--gpus {count}: the default {name} (the GPU's {per:g} W x "
                              f"--gpus) is {per * count:g} W, more than "
                              f"{units.MAX_POWER_TEXT}, far above any real job; give a real "
                              "GPU count, e.g. --gpus 8")
    return EnergyOptions(
        job_power_w=per_gpu[0] * count if job_power is None
        else power("--job-power", job_power, "700W"),
        idle_power_w=per_gpu[1] * count if idle_power is None
        else power("--idle-power", idle_power, "70W", allow_zero=True),
        network_j_per_bit=C.NETWORK_J_PER_BIT if per_bit is None else per_bit,
        green_gain=C.GREEN_GAIN if gain is None else gain,
        gpu=plat.name if plat else None,
        gpus=count,
    )


AXIS_DECADES = 30
"""Widest log axis of the maps: MAX / MIN at most 10^30 (the defaults span 3 decades)."""


def axis_range(option: str, text: str, parser, example: str) -> tuple[float, float]:
    parts = text.split(":")
    if len(parts) != 2:
        raise ConfigError(f"{option} {text!r} is not a range MIN:MAX; give e.g. "
                          f"{option} {example}")
    low, high = (parser(option, part.strip(), example) for part in parts)
    if not low < high:
        raise ConfigError(f"{option} {text!r}: MIN must be below MAX, e.g. {option} {example}")
    decades = math.log10(high) - math.log10(low)
    if round(decades, 2) > AXIS_DECADES:
        raise ConfigError(f"{option} {text!r} spans {decades:.4g} decades; a map's log axis "
                          f"spans at most {AXIS_DECADES}, e.g. {option} {example}")
    return low, high


@dataclass
class DistributedOptions:
    """A job spread over sites (SI units): the keyword arguments of
    :func:`greenhop.model.evaluate_distributed` besides the link and energy ones."""

    workers: int
    sync_every: int
    step_s: float
    sync_share: float
    bytes_per_value: float
    worker_state_bytes: float | None

    def kwargs(self) -> dict:
        return {k: v for k, v in vars(self).items() if k not in ("workers", "sync_every")}


def distributed_options(*, workers, sync_every, step_time, sync_share, sync_precision,
                        worker_state) -> DistributedOptions | None:
    """Parse the multi-site options; ``None`` when the job is not spread (no --workers)."""
    given = [name for name, v in (("--step-time", step_time), ("--sync-share", sync_share),
                                  ("--sync-precision", sync_precision),
                                  ("--worker-state", worker_state)) if v is not None]
    if workers is None and sync_every is None:
        if given:
            raise ConfigError(f"{given[0]} describes a job spread over sites; give --workers N "
                              "and --sync-every H too")
        return None
    if workers is None or sync_every is None:
        missing = "--workers N" if workers is None else "--sync-every H"
        raise ConfigError(f"a job spread over sites needs {missing} too, e.g. --workers 3 "
                          "--sync-every 500")
    n = whole("--workers", workers, "3")
    h = whole("--sync-every", sync_every, "500")
    share = in_range("--sync-share", number("--sync-share", sync_share, "0.1"), 0.0, 1.0,
                     True, "the share of the outer step the exchange may take")
    precision = (sync_precision or "bf16").strip().lower()
    if precision not in SYNC_PRECISION:
        raise ConfigError(f"--sync-precision {sync_precision!r} is not one of "
                          f"{', '.join(SYNC_PRECISION)}")
    from greenhop.model import distributed as D

    return DistributedOptions(
        workers=n, sync_every=h,
        step_s=D.STEP_S if step_time is None else duration("--step-time", step_time, "1.5s"),
        sync_share=D.SYNC_SHARE if share is None else share,
        bytes_per_value=SYNC_PRECISION[precision],
        worker_state_bytes=None if worker_state is None
        else size("--worker-state", worker_state, "16GB"),
    )


def param_count(checkpoint_b: float, params: str | None, preset_name: str) -> float:
    """The parameter count: ``--params``, else the checkpoint size / the preset's bytes
    per parameter."""
    if params is not None:
        count = positive("--params", parsed("--params", units.parse_count, params), params,
                         "7e9")
        return within("--params", count, params, "7e9", PARAMS_RANGE)
    return checkpoint_b / preset(preset_name).bytes_per_param
