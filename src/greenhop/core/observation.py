"""What a policy sees (:class:`Observation`) and what it may answer (:class:`Action`).

The simulator and the live orchestrator build the same :class:`Observation` and
apply the same actions, so one policy object runs unchanged in both.

Design for speed: an Observation is a thin record of *read-only numpy views*
(per site and per job), not one Python object per job. The mechanism owns the
underlying arrays and updates them in place between steps, so the views are
valid for the step they were handed out in; a policy that wants to keep a value
across steps must copy it.

Nothing after ``now`` is visible. Recent surplus history is reachable only
through :class:`SurplusHistory`, which raises :class:`LeakageError` if asked
for any step after the current one: a leaking forecaster fails loudly instead
of quietly looking good.

Site and job indices refer to :attr:`Observation.site_names` and
:attr:`Observation.job_names`; actions may name a job or a site by index or by
name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from greenhop.core.errors import GreenhopError
from greenhop.core.readonly import readonly
from greenhop.core.scaling import split_throughput

# Job phases (codes in ``Observation.job_phase``; int8).
PENDING = 0
"""Not yet arrived: invisible to scheduling, present only so arrays keep their shape. Its
fields read neutral values until it arrives (no work, one GPU, no checkpoint, no
deadline, arrival NaN, origin -1, every site allowed): they are the future."""
QUEUED = 1
"""Arrived, waiting for GPU slots (or for a ``Place``)."""
RUNNING = 2
"""Training at ``job_site``."""
SUSPENDED = 3
"""Stopped at ``job_site`` with a local checkpoint; draws no power; resumes there."""
MIGRATING = 4
"""Saving, transferring or restoring (no progress); ``job_dest`` is where it is going."""
DONE = 5
"""Finished its work."""

PHASE_NAMES = ("pending", "queued", "running", "suspended", "migrating", "done")

# Job mobility (codes in ``Observation.job_mobility``; int8).
MIGRATABLE = 0
PINNED = 1
PARTIAL = 2
MOBILITY_NAMES = ("migratable", "pinned", "partial")


def starts_at_origin_only(mobility: int, origin: int) -> bool:
    """Whether a job may start only at its origin: a pinned job never leaves it, and a
    partial job's staying GPUs are at home there (the bounds assume both)."""
    return origin >= 0 and mobility in (PINNED, PARTIAL)


def ideal_throughput(throughput: np.ndarray, origin: np.ndarray,
                     allowed: np.ndarray) -> np.ndarray:
    """Each job's relative throughput in its ideal time [-], ``[J]`` (a slowdown's
    denominator is its work on its GPUs at this throughput): its origin's, and for a job
    without one (``origin`` -1) the fastest site it may use. The site the placer picks for
    such a job depends on the run, which a slowdown, compared across policies, must not.

    Args:
        throughput: ``[S]`` each site's relative throughput [-].
        origin: ``[J]`` each job's arrival site index, -1 for none.
        allowed: ``[J, S]`` bool, the sites each job may run on.
    """
    fastest = np.where(allowed, np.asarray(throughput, dtype=float)[None, :], 0.0).max(
        axis=1, initial=0.0)
    return np.where(origin >= 0, throughput[np.maximum(origin, 0)], fastest)


class LeakageError(GreenhopError):
    """Something asked for data from after the current time (a forecaster or policy bug)."""


class SurplusHistory:
    """Guarded, read-only access to past surplus per site [W].

    Rows are steps, columns are sites. Step numbers are the simulator's integer
    step offsets from the scenario start; negative steps are history before the
    start (``first_step`` is the earliest one available). The current step
    (``now_step``) is visible (its value is measured now); any later step raises
    :class:`LeakageError`.
    """

    __slots__ = ("_data", "_offset", "dt_s", "first_step", "now_step")

    def __init__(self, data: np.ndarray, offset: int, now_step: int, dt_s: float) -> None:
        """``data[offset + k]`` is the surplus of step ``k``; ``now_step`` the current step."""
        self._data = data
        self._offset = int(offset)
        self.first_step = -int(offset)
        self.now_step = int(now_step)
        self.dt_s = float(dt_s)

    def _leak(self, stop: int) -> None:
        raise LeakageError(
            f"surplus history asked for step {stop - 1}, but the current step is "
            f"{self.now_step}: nothing after now is visible to a policy or forecaster; "
            "use a forecast for the future"
        )

    def slice(self, start: int, stop: int) -> np.ndarray:
        """Surplus of steps ``start .. stop-1`` [W], shape ``(stop-start, n_sites)``, read-only.

        ``start`` is clipped to the first available step; ``stop`` may be at most
        ``now_step + 1``.
        """
        if stop > self.now_step + 1:
            self._leak(stop)
        start = max(int(start), self.first_step)
        if stop <= start:
            return readonly(self._data[0:0])
        return readonly(self._data[self._offset + start: self._offset + stop])

    def last(self, n: int) -> np.ndarray:
        """The last ``n`` steps up to and including now [W], shape ``(<=n, n_sites)``."""
        return self.slice(self.now_step + 1 - int(n), self.now_step + 1)

    def at(self, step: int) -> np.ndarray:
        """Surplus of every site at ``step`` [W] (``first_step <= step <= now_step``): a
        later step raises :class:`LeakageError`, an earlier one :class:`IndexError`."""
        if step > self.now_step:
            self._leak(step + 1)
        if step < self.first_step:
            # not a leak: the past is simply not kept that far back
            raise IndexError(
                f"surplus history asked for step {step}, but it starts at step "
                f"{self.first_step} ({-self.first_step} steps before the scenario start); "
                "slice() and last() clip to what is kept")
        return readonly(self._data[self._offset + step])

    def __getitem__(self, key):
        raise TypeError("index SurplusHistory with .slice(start, stop), .last(n) or .at(step)")


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """Static feasibility inputs of every site pair along its shortest path (arrays ``[S, S]``).

    Links are directed and full duplex: a scenario link ``a <-> b`` is two directed links
    (``2k``: ``a -> b``, ``2k + 1``: ``b -> a`` for scenario link ``k``) of its full
    bandwidth each, so per-link arrays have ``D = 2 x links`` entries and transfers in
    opposite directions never share one.

    Attributes:
        bandwidth_bps: bottleneck nominal rate on the path [bit/s] (``inf`` on the diagonal,
            0 where no path exists).
        efficiency: share of the nominal rate a transfer reaches on the bottleneck [-].
        rtt_s: path round-trip time (sum over hops) [s].
        loss: path loss probability, ``1 - prod(1 - loss_hop)`` [-].
        streams: parallel streams of a transfer [-].
        j_per_bit: network energy per bit along the path (sum over hops) [J/bit].
        hops: number of links on the path (0 on the diagonal, -1 when unreachable).
        active_transfers: transfers now crossing each directed link, ``[D]`` (live view).
        link_rate_bps: effective rate of each directed link, ``efficiency x bandwidth``
            [bit/s], ``[D]``.
        route: ``[S*S, D]`` bool, the directed links on the path from ``s`` to ``d``
            (row ``s*S + d``).
        write_Bps, read_Bps, startup_s: checkpoint write / read rate [B/s] and restart cost [s].
        fair_share: set by the mechanism when it knows the routes of the transfers in
            flight: ``fair_share(src, dst, extra)`` is what :meth:`shared_rate_bps` returns.
    """

    bandwidth_bps: np.ndarray
    efficiency: np.ndarray
    rtt_s: np.ndarray
    loss: np.ndarray
    streams: np.ndarray
    j_per_bit: np.ndarray
    hops: np.ndarray
    active_transfers: np.ndarray
    link_rate_bps: np.ndarray
    route: np.ndarray
    write_Bps: float
    read_Bps: float
    startup_s: float
    fair_share: Callable[..., np.ndarray] | None = None

    def shared_rate_bps(self, src: np.ndarray, dst: np.ndarray,
                        extra: np.ndarray | None = None) -> np.ndarray:
        """Effective rate [bit/s] one more transfer ``src -> dst`` would get now.

        It is the max-min fair rate with the transfers in flight (each held to its TCP
        bound), the newcomer's own TCP bound left out; ``extra`` ``[D]`` adds transfers
        per directed link, e.g. ones decided this step (their routes unknown, each counts
        as a one-hop transfer on every link it crosses). ``inf`` for ``src == dst`` or no
        path. Without :attr:`fair_share` (the mechanism does not track routes, or the
        fleet is too large for the exact rate per round) it is the lower bound
        ``min over the path of link_rate / (transfers on the link + 1)``, exact when every
        transfer there is held by it.
        Broadcasts ``src`` against ``dst``.
        """
        if self.fair_share is not None:
            return self.fair_share(src, dst, extra)
        n_sites = self.bandwidth_bps.shape[0]
        key = np.asarray(src) * n_sites + np.asarray(dst)
        if self.route.shape[1] == 0:
            return np.full(key.shape, np.inf)
        count = self.active_transfers + (0 if extra is None else extra) + 1
        share = self.link_rate_bps / count
        if key.size <= 256:  # few pairs: the direct masked minimum is cheapest
            return np.where(self.route[key], share, np.inf).min(axis=-1)
        # Many pairs: the path's narrowest share is that of its first link in ascending order of
        # share: a boolean argmax over the reordered route rows, once per distinct pair.
        order = np.argsort(share, kind="stable")
        pairs, where = np.unique(key.ravel(), return_inverse=True)
        rows = self.route[pairs][:, order]
        first = rows.argmax(axis=1)
        rate = np.where(rows[np.arange(pairs.size), first], share[order][first], np.inf)
        return rate[where].reshape(key.shape)


@dataclass(frozen=True, slots=True)
class AnnouncedEvents:
    """Demand-response events announced at or before now and not yet over, one row per
    event and site (``[E]`` arrays, read-only; docs/grid.md, "Demand response").

    An announced event is known information, not future data: the fleet learns of it at
    its announcement, so an event announced after now is absent.

    Attributes:
        keys: ``"<event id>@<site name>"`` per row.
        site: the site index [-].
        start_s: start of the first step the event covers [s since the scenario start].
        end_s: end of the last step it covers (exclusive) [s since the scenario start].
        job_limit_w: the facility power the site's jobs may draw during it [W]: the
            event's grid-import limit minus the site's base demand (for a ``reduce``
            event, the limit fixed at its announcement), at least 0.
        announced_s: when the fleet learnt of it (the step it was taken up) [s].
    """

    keys: tuple[str, ...]
    site: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    job_limit_w: np.ndarray
    announced_s: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything a policy may know at step ``step`` (time ``now_s``); arrays are read-only.

    Per-site arrays have shape ``[S]``; per-job arrays shape ``[J]``.

    Attributes:
        now_s: seconds since the scenario start [s].
        step: integer step index (``now_s = step x dt_s``).
        dt_s: step length [s].
        decision_interval_s: time until the policy is asked again [s] (a whole number of
            steps; None: every step). A job suspended now resumes no sooner than that.
        site_names, job_names: names behind the indices.
        renewable_w: renewable power at each site now [W].
        base_demand_w: facility power of the always-on load (base load x PUE) [W].
        surplus_w: ``renewable_w - base_demand_w`` [W] (what training could use).
        job_load_w: facility power of the jobs at each site over the last step [W].
        headroom_w: ``surplus_w - job_load_w``: surplus left for more jobs [W].
        soc_j: battery energy [J] (0 without a battery); battery_capacity_j: [J];
            battery_power_w: its largest charge or discharge power [W];
            battery_efficiency: its round-trip efficiency [-] (``sqrt`` of it on each leg);
            battery_min_soc: the share of its capacity it is never discharged below [-].
        free_gpus: free GPU slots [-]; gpu_slots: total slots [-].
        gpu_power_w, gpu_idle_w: per-GPU training and idle power of the site platform [W].
        throughput: relative throughput per GPU vs the reference GPU [-].
        pue: power usage effectiveness per site [-].
        history: guarded access to the past surplus (:class:`SurplusHistory`).
        window_forecast_s: optional remaining-window forecast per site [s] (``None``
            unless a forecaster fills it).
        window_forecast_q_s: optional ``[S, Q]`` quantiles of each site's remaining window
            [s], the latest forecast issued at or before now (``None`` unless the mechanism
            has window forecasts; NaN for a site with no forecast issued yet). Column ``q``
            is level ``window_forecast_quantiles[q]``. Where a site is in a window the value
            is the remaining duration of that window; elsewhere it is the forecast duration
            of the next window (read :attr:`surplus_w` to tell the two apart).
        window_forecast_quantiles: the levels of the columns of ``window_forecast_q_s``
            (increasing, strictly inside (0, 1)); empty without forecasts.
        start_unix_s: UTC time of step 0 as POSIX seconds [s] (for time-of-day features).
        window_threshold_w: a surplus window is a run of steps with ``surplus_w`` at or above
            this [W] (the scenario's definition; estimators and forecasters use it).
        job_phase: phase codes (:data:`QUEUED`, :data:`RUNNING`, ...).
        job_site: current (or, while migrating, source) site index; -1 if none.
        job_dest: destination while migrating; -1 otherwise.
        job_origin: arrival site index (-1: let the placer choose).
        job_progress: share of the work done [-].
        job_remaining_gpu_s: remaining work [reference-GPU seconds].
        job_checkpoint_bytes: full checkpoint size [B]; job_move_bytes: what crosses the
            WAN on a migration (``checkpoint x migratable share``) [B].
        job_gpus: GPUs the job runs on now [-] (an elastic job's current count; while it
            rescales, the count it is going to); job_mobility: mobility codes;
            job_arrival_s [s];
        job_deadline_s: deadline [s] (``inf`` when none).
        job_last_move_s: time the job last arrived at a site or started there [s].
        job_allowed: ``[J, S]`` bool, sites each job may run on.
        job_home: where each job's staying GPUs are (a partially migratable job's: the
            site it started at; they stay there while its migratable share moves) or, for
            any other job, its site; -1 before it starts; ``None`` from a mechanism that
            does not say (read it through :meth:`stay_site`).
        links: :class:`LinkInfo`.
        job_min_gpus, job_max_gpus: the GPU counts each job may run on [-] (equal to its
            nominal count for a job that is not elastic); ``None`` from a mechanism that
            does not scale (read them through :meth:`job_gpu_range`).
        job_nominal_gpus: the count the job's work is measured at [-] (its ``gpus``).
        job_serial_share: Amdahl serial share of each job's speedup curve [-]
            (:mod:`greenhop.core.scaling`).
        grid_objective: what the scenario asks policies to minimise: ``energy`` (grid
            energy, the default), ``carbon``, ``carbon-average`` or ``cost``
            (``docs/grid.md``).
        grid_weight_per_j: ``[S]`` weight of one joule of grid energy at each site now
            (g/J for carbon, currency/J for cost, 0 where the grid supply counts as
            green); ``None`` under the energy objective (every joule weighs 1).
        grid_weight_forecast_per_j: ``[F, S]`` the weights of steps ``now .. now+F-1`` as
            issued at or before now (published day-ahead prices, else persistence);
            ``None`` under the energy objective.
        site_closed: ``[S]`` bool, sites closed to new work now (nothing may be placed,
            migrated or resumed there: drained by the operator or held by an announced
            demand-response event); ``None`` from a mechanism that does not say.
        dr_events: the demand-response events announced by now, not yet over and
            starting before the run's end (:class:`AnnouncedEvents`; one starting later
            limits nothing); ``None`` while there is none.
        run_end_s: when the run ends, in seconds since the scenario start [s]: a job not
            done by then counts as unfinished (the scenario's horizon, in a simulation and
            in a live run alike); ``inf`` from a mechanism without a set end.
    """

    now_s: float
    step: int
    dt_s: float
    site_names: tuple[str, ...]
    job_names: tuple[str, ...]
    renewable_w: np.ndarray
    base_demand_w: np.ndarray
    surplus_w: np.ndarray
    job_load_w: np.ndarray
    headroom_w: np.ndarray
    soc_j: np.ndarray
    battery_capacity_j: np.ndarray
    battery_power_w: np.ndarray
    battery_efficiency: np.ndarray
    battery_min_soc: np.ndarray
    free_gpus: np.ndarray
    gpu_slots: np.ndarray
    gpu_power_w: np.ndarray
    gpu_idle_w: np.ndarray
    throughput: np.ndarray
    pue: np.ndarray
    history: SurplusHistory
    job_phase: np.ndarray
    job_site: np.ndarray
    job_dest: np.ndarray
    job_origin: np.ndarray
    job_progress: np.ndarray
    job_remaining_gpu_s: np.ndarray
    job_checkpoint_bytes: np.ndarray
    job_move_bytes: np.ndarray
    job_gpus: np.ndarray
    job_mobility: np.ndarray
    job_arrival_s: np.ndarray
    job_deadline_s: np.ndarray
    job_last_move_s: np.ndarray
    job_allowed: np.ndarray
    links: LinkInfo
    window_forecast_s: np.ndarray | None = None
    start_unix_s: float = 0.0
    window_threshold_w: float = 0.0
    window_forecast_q_s: np.ndarray | None = None
    window_forecast_quantiles: tuple[float, ...] = ()
    job_min_gpus: np.ndarray | None = None
    job_max_gpus: np.ndarray | None = None
    job_nominal_gpus: np.ndarray | None = None
    job_serial_share: np.ndarray | None = None
    grid_objective: str = "energy"
    grid_weight_per_j: np.ndarray | None = None
    grid_weight_forecast_per_j: np.ndarray | None = None
    site_closed: np.ndarray | None = None
    dr_events: AnnouncedEvents | None = None
    decision_interval_s: float | None = None
    job_home: np.ndarray | None = None
    run_end_s: float = float("inf")

    @property
    def decision_s(self) -> float:
        """Time until the next decision [s]: :attr:`decision_interval_s`, else a step."""
        return self.dt_s if self.decision_interval_s is None else max(
            float(self.decision_interval_s), self.dt_s)

    @property
    def n_sites(self) -> int:
        return len(self.site_names)

    @property
    def n_jobs(self) -> int:
        return len(self.job_names)

    def window_forecast_at(self, q: float) -> np.ndarray | None:
        """Quantile ``q`` of every site's remaining-window forecast [s], ``[S]``; ``None``
        without forecasts. A level the forecasts do not carry raises ``ConfigError``."""
        if self.window_forecast_q_s is None:
            return None
        for i, level in enumerate(self.window_forecast_quantiles):
            if abs(level - q) < 1e-9:
                return self.window_forecast_q_s[:, i]
        from greenhop.core.errors import ConfigError

        raise ConfigError(f"the window forecasts carry the quantiles "
                          f"{list(self.window_forecast_quantiles)}, not {q}; ask for one of "
                          "them or add it to the forecast quantiles")

    def stay_site(self, jobs: np.ndarray) -> np.ndarray:
        """Site of the staying GPUs of each of ``jobs`` (a partially migratable job's
        home; :attr:`job_home`, else its origin, else its site; -1 for a job with none of
        them yet), shaped as ``jobs``."""
        jobs = np.asarray(jobs, dtype=np.int64)
        site = np.asarray(self.job_site)[jobs]
        origin = np.asarray(self.job_origin)[jobs]
        home = origin if self.job_home is None else np.asarray(self.job_home)[jobs]
        return np.where(home >= 0, home, np.where(origin >= 0, origin, site))

    def jobs_in(self, *phases: int) -> np.ndarray:
        """Indices of the jobs in any of ``phases``."""
        return np.flatnonzero(np.isin(self.job_phase, phases))

    def job_gpu_range(self) -> tuple[np.ndarray, np.ndarray]:
        """``(min, max)`` GPU counts per job [-]; both the current count without scaling."""
        if self.job_min_gpus is None or self.job_max_gpus is None:
            return self.job_gpus, self.job_gpus
        return self.job_min_gpus, self.job_max_gpus

    def job_elastic(self) -> np.ndarray:
        """Which jobs may change their GPU count (``min < max``), ``[J]`` bool."""
        lo, hi = self.job_gpu_range()
        return np.asarray(lo < hi)

    def job_rate(self, jobs: np.ndarray, gpus: np.ndarray, sites: np.ndarray) -> np.ndarray:
        """Progress of ``jobs`` on ``gpus`` GPUs at ``sites`` [reference-GPU s / s]
        (broadcasts): ``gpus x`` :meth:`job_speed` for a job that is not elastic, else its
        speedup curve (:func:`greenhop.core.scaling.effective_gpus`)."""
        from greenhop.core.scaling import effective_gpus

        jobs = np.asarray(jobs)
        g = np.asarray(gpus, dtype=float)
        tp = self.job_speed(jobs, sites)
        if self.job_nominal_gpus is None or self.job_serial_share is None:
            return g * tp
        eff = effective_gpus(g, self.job_nominal_gpus[jobs], self.job_serial_share[jobs])
        return np.where(self.job_elastic()[jobs], eff, g) * tp

    def job_speed(self, jobs: np.ndarray, sites: np.ndarray) -> np.ndarray:
        """Relative throughput [-] of ``jobs`` running at ``sites`` (broadcasts): the
        site's, or for a placed partially migratable job whose staying GPUs are at another
        site, the slower of the two (the simulator's and the live run's rule)."""
        jobs = np.asarray(jobs, dtype=np.int64)
        sites = np.asarray(sites, dtype=np.int64)
        tp = self.throughput[sites]
        stay = self.stay_site(jobs)
        placed = np.asarray(self.job_site)[jobs] >= 0  # a queued job has no GPUs apart
        split = (self.job_mobility[jobs] == PARTIAL) & placed & (stay >= 0) & (stay != sites)
        return split_throughput(tp, self.throughput[np.maximum(stay, 0)], split)

    def job_power_w(self) -> np.ndarray:
        """Facility power of each job while training at its current site [W] (0 if none)."""
        site = np.maximum(self.job_site, 0)
        return np.where(
            self.job_site >= 0, self.job_gpus * self.gpu_power_w[site] * self.pue[site], 0.0
        )


# ---------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Migrate:
    """Checkpoint ``job``, move it over the WAN to ``dest`` and resume it there."""

    job: int | str
    dest: int | str


@dataclass(frozen=True, slots=True)
class Suspend:
    """Stop ``job`` where it is (keeps its slots, draws no power)."""

    job: int | str


@dataclass(frozen=True, slots=True)
class Resume:
    """Restart a suspended ``job`` at its site (costs the restore time)."""

    job: int | str


@dataclass(frozen=True, slots=True)
class Place:
    """Start a queued ``job`` at ``site`` (instead of its arrival site)."""

    job: int | str
    site: int | str


@dataclass(frozen=True, slots=True)
class Scale:
    """Run elastic ``job`` on ``gpus`` GPUs from now on, at its current site.

    Admitted for a running elastic job, ``min <= gpus <= max``, with free slots for an
    increase; the job checkpoints and restarts in place (a save and a restore at idle
    power, no transfer), which counts as downtime.
    """

    job: int | str
    gpus: int


Action = Migrate | Suspend | Resume | Place | Scale
"""Any action a policy may return."""
