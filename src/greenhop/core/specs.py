"""Shared, validated descriptions of sites, links and jobs (SI units inside).

These are plain frozen dataclasses: the fleet file, the scenario file and the
live orchestrator all build them, and the simulator and runtime read them.
Validation happens in ``__post_init__`` and raises
:class:`~greenhop.core.errors.ConfigError` naming the object and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from greenhop.core.errors import ConfigError

MAX_GPU_SLOTS = 1_000_000
"""Most GPUs one site may hold: ten times the largest clusters built so far; more is a slip
(and a count past 2**63 would not fit the simulator's integer arrays)."""


def _check(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{where}: {message}")


def _finite_nonneg(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value >= 0


@dataclass(frozen=True)
class BatterySpec:
    """A site battery.

    Attributes:
        capacity_j: usable energy capacity [J].
        max_power_w: charge and discharge power limit [W].
        round_trip_efficiency: energy out / energy in over a full cycle [-], in (0, 1].
            Losses are split evenly: sqrt(eta) on charge and on discharge.
        initial_soc: state of charge at the start, as a fraction of capacity [-].
        min_soc: lowest allowed state of charge, as a fraction of capacity [-].
    """

    capacity_j: float
    max_power_w: float
    round_trip_efficiency: float = 0.9
    initial_soc: float = 0.5
    min_soc: float = 0.0

    def __post_init__(self) -> None:
        where = "battery"
        _check(_finite_nonneg(self.capacity_j) and self.capacity_j > 0, where,
               f"capacity must be a positive energy, got {self.capacity_j!r} J")
        _check(_finite_nonneg(self.max_power_w) and self.max_power_w > 0, where,
               f"power limit must be a positive power, got {self.max_power_w!r} W")
        _check(0 < self.round_trip_efficiency <= 1, where,
               f"round-trip efficiency must be in (0, 1], got {self.round_trip_efficiency!r}")
        _check(0 <= self.min_soc <= self.initial_soc <= 1, where,
               f"need 0 <= min_soc <= initial_soc <= 1, got min_soc={self.min_soc!r}, "
               f"initial_soc={self.initial_soc!r}")


@dataclass(frozen=True)
class SiteSpec:
    """A renewable-powered micro-datacenter.

    Attributes:
        name: unique site name.
        latitude_deg, longitude_deg: location [degrees].
        timezone: IANA time-zone name of the site (display only; traces are UTC).
        pv_kwp: installed PV peak power [kWp] (scales a normalised PV trace, W per kWp).
        wind_kw: installed wind turbine rated power [kW].
        base_load_w: IT load that is always on, before PUE [W].
        pue: power usage effectiveness [-], >= 1: facility power = IT power x PUE.
        gpu_platform: name of the GPU platform in :mod:`greenhop.model.platforms`.
        gpu_slots: number of GPUs available to training jobs [-].
        battery: optional battery.
        grid_import_limit_w: largest grid import [W]; ``inf`` for none.
        pv_source, wind_source: names of the traces that drive PV and wind.
    """

    name: str
    latitude_deg: float
    longitude_deg: float
    timezone: str = "UTC"
    pv_kwp: float = 0.0
    wind_kw: float = 0.0
    base_load_w: float = 0.0
    pue: float = 1.2
    gpu_platform: str = "A100-SXM4-80GB"
    gpu_slots: int = 8
    battery: BatterySpec | None = None
    grid_import_limit_w: float = math.inf
    pv_source: str | None = None
    wind_source: str | None = None

    def __post_init__(self) -> None:
        where = f"site '{self.name}'"
        _check(isinstance(self.name, str) and self.name.strip() != "", "site",
               "every site needs a non-empty name")
        _check(-90 <= self.latitude_deg <= 90, where,
               f"latitude must be in [-90, 90] degrees, got {self.latitude_deg!r}")
        _check(-180 <= self.longitude_deg <= 180, where,
               f"longitude must be in [-180, 180] degrees, got {self.longitude_deg!r}")
        _check(_finite_nonneg(self.pv_kwp), where, f"pv_kwp must be >= 0, got {self.pv_kwp!r}")
        _check(_finite_nonneg(self.wind_kw), where, f"wind_kw must be >= 0, got {self.wind_kw!r}")
        _check(_finite_nonneg(self.base_load_w), where,
               f"base load must be >= 0 W, got {self.base_load_w!r}")
        _check(isinstance(self.pue, int | float) and 1 <= self.pue <= 5, where,
               f"PUE must be between 1 and 5, got {self.pue!r}")
        _check(isinstance(self.gpu_slots, int) and 0 <= self.gpu_slots <= MAX_GPU_SLOTS, where,
               f"gpu_slots must be a whole number from 0 to {MAX_GPU_SLOTS:,}, "
               f"got {self.gpu_slots!r}")
        _check(self.grid_import_limit_w >= 0, where,
               f"grid import limit must be >= 0 W, got {self.grid_import_limit_w!r}")


@dataclass(frozen=True)
class LinkSpec:
    """A full-duplex WAN link between two sites (each direction carries ``bandwidth_bps``).

    Attributes:
        a, b: site names at each end.
        bandwidth_bps: nominal link rate [bit/s].
        rtt_s: round-trip time [s].
        loss: packet loss probability [-], in [0, 1).
        efficiency: share of the nominal rate a tuned transfer reaches [-], in (0, 1].
        streams: parallel TCP streams a transfer opens [-].
        network_j_per_bit: energy per bit carried end to end [J/bit];
            ``None`` uses :data:`greenhop.model.constants.NETWORK_J_PER_BIT`.
    """

    a: str
    b: str
    bandwidth_bps: float
    rtt_s: float = 0.02
    loss: float = 0.0
    efficiency: float = 0.9
    streams: int = 8
    network_j_per_bit: float | None = None

    def __post_init__(self) -> None:
        where = f"link {self.a}-{self.b}"
        _check(self.a != self.b, where, "a link must join two different sites")
        _check(_finite_nonneg(self.bandwidth_bps) and self.bandwidth_bps > 0, where,
               f"bandwidth must be positive, got {self.bandwidth_bps!r} bit/s")
        _check(_finite_nonneg(self.rtt_s), where, f"RTT must be >= 0 s, got {self.rtt_s!r}")
        _check(0 <= self.loss < 1, where, f"loss must be in [0, 1), got {self.loss!r}")
        _check(0 < self.efficiency <= 1, where,
               f"efficiency must be in (0, 1], got {self.efficiency!r}")
        _check(isinstance(self.streams, int) and self.streams >= 1, where,
               f"streams must be a whole number >= 1, got {self.streams!r}")
        _check(self.network_j_per_bit is None or _finite_nonneg(self.network_j_per_bit), where,
               f"network_j_per_bit must be >= 0, got {self.network_j_per_bit!r}")


MOBILITY = ("migratable", "pinned", "partial")


@dataclass(frozen=True)
class WorkerSpec:
    """One worker of a job spread over sites (low-communication training; docs/distributed.md).

    A job of ``workers`` workers becomes that many :class:`JobSpec` entities, one per worker,
    each carrying this description of its group.

    Attributes:
        group: the spread job's name.
        index: this worker's index in ``0 .. workers - 1``.
        workers: the group's number of workers N [-].
        sync_every: inner steps between two pseudo-gradient exchanges H [-].
        outer_steps: outer steps (exchanges) of the whole job [-].
        pseudo_gradient_bytes: one worker's pseudo-gradient [B] (params x bytes per value).
        elastic: the group goes on without a worker that is not running (it drops out and
            rejoins at a later outer step); otherwise every worker waits for every other.
    """

    group: str
    index: int
    workers: int
    sync_every: int
    outer_steps: int
    pseudo_gradient_bytes: float
    elastic: bool = False

    def __post_init__(self) -> None:
        where = f"job '{self.group}'"
        for key in ("workers", "sync_every", "outer_steps"):
            v = getattr(self, key)
            _check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, where,
                   f"{key} must be a whole number >= 1, got {v!r}")
        _check(isinstance(self.index, int) and 0 <= self.index < self.workers, where,
               f"worker index must be in [0, {self.workers}), got {self.index!r}")
        _check(_finite_nonneg(self.pseudo_gradient_bytes) and self.pseudo_gradient_bytes > 0,
               where, f"pseudo-gradient size must be positive, got "
               f"{self.pseudo_gradient_bytes!r} B")


@dataclass(frozen=True)
class JobSpec:
    """A training job.

    Attributes:
        name: unique job name.
        arrival_s: arrival time, seconds after the scenario start [s].
        work_gpu_h: work in reference-GPU hours [h] (1.0 = one reference GPU for one hour).
        checkpoint_bytes: size of the state that crosses the WAN on migration [B].
        gpus: GPUs the job occupies [-].
        mobility: ``migratable``, ``pinned`` or ``partial``.
        migratable_share: for ``partial`` jobs, share of state and workers that moves [-].
        deadline_s: optional completion deadline after the scenario start [s].
        allowed_sites: sites the job may run on; empty means any.
        origin: site where the job arrives; ``None`` lets the placer choose.
        min_gpus, max_gpus: the GPU counts an elastic job may run on [-]; ``None`` means
            ``gpus`` (a job with ``min_gpus == max_gpus`` is not elastic). Only migratable
            and pinned jobs may be elastic, and ``min_gpus <= gpus <= max_gpus``.
        serial_share: Amdahl serial share of an elastic job's speedup curve [-], in [0, 1)
            (:mod:`greenhop.core.scaling`); ``None`` uses
            :data:`~greenhop.core.scaling.DEFAULT_SERIAL_SHARE`.
        worker: set when this job is one worker of a job spread over sites.
    """

    name: str
    arrival_s: float
    work_gpu_h: float
    checkpoint_bytes: float
    gpus: int = 1
    mobility: str = "migratable"
    migratable_share: float = 1.0
    deadline_s: float | None = None
    allowed_sites: tuple[str, ...] = field(default_factory=tuple)
    origin: str | None = None
    min_gpus: int | None = None
    max_gpus: int | None = None
    serial_share: float | None = None
    worker: WorkerSpec | None = None

    @property
    def gpu_range(self) -> tuple[int, int]:
        """``(min_gpus, max_gpus)`` with the defaults filled in [-]."""
        lo = self.gpus if self.min_gpus is None else self.min_gpus
        hi = self.gpus if self.max_gpus is None else self.max_gpus
        return lo, hi

    @property
    def elastic(self) -> bool:
        """Whether the job may change its GPU count while it runs."""
        lo, hi = self.gpu_range
        return lo < hi

    def __post_init__(self) -> None:
        where = f"job '{self.name}'"
        _check(isinstance(self.name, str) and self.name.strip() != "", "job",
               "every job needs a non-empty name")
        _check(_finite_nonneg(self.arrival_s), where,
               f"arrival must be >= 0 s, got {self.arrival_s!r}")
        _check(_finite_nonneg(self.work_gpu_h) and self.work_gpu_h > 0, where,
               f"work must be positive GPU-hours, got {self.work_gpu_h!r}")
        _check(_finite_nonneg(self.checkpoint_bytes) and self.checkpoint_bytes > 0, where,
               f"checkpoint size must be positive, got {self.checkpoint_bytes!r} B")
        _check(isinstance(self.gpus, int) and 1 <= self.gpus <= MAX_GPU_SLOTS, where,
               f"gpus must be a whole number from 1 to {MAX_GPU_SLOTS:,}, got {self.gpus!r}")
        _check(self.mobility in MOBILITY, where,
               f"mobility must be one of {', '.join(MOBILITY)}, got {self.mobility!r}")
        _check(0 <= self.migratable_share <= 1, where,
               f"migratable_share must be in [0, 1], got {self.migratable_share!r}")
        _check(self.deadline_s is None or self.deadline_s > self.arrival_s, where,
               f"deadline {self.deadline_s!r} s must come after arrival {self.arrival_s!r} s")
        for key in ("min_gpus", "max_gpus"):
            v = getattr(self, key)
            _check(v is None or (isinstance(v, int) and not isinstance(v, bool)
                                 and 1 <= v <= MAX_GPU_SLOTS),
                   where, f"{key} must be a whole number from 1 to {MAX_GPU_SLOTS:,} (the most "
                   f"GPU slots a site has), got {v!r}")
        lo, hi = self.gpu_range
        _check(lo <= self.gpus <= hi, where,
               f"need min_gpus <= gpus <= max_gpus, got {lo} <= {self.gpus} <= {hi}")
        _check(not (lo < hi and self.mobility == "partial"), where,
               "a partially migratable job cannot be elastic (min_gpus < max_gpus); make it "
               "migratable or pinned, or set min_gpus = max_gpus = gpus")
        _check(self.serial_share is None or (isinstance(self.serial_share, int | float)
                                             and 0 <= self.serial_share < 1), where,
               f"scaling (the serial share) must be in [0, 1), got {self.serial_share!r}")
