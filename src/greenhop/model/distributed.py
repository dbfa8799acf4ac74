"""The cost of one training job spread over several sites (low-communication training).

Workers at different sites take ``H`` local (inner) steps each, then exchange and
average their pseudo-gradients (DiLoCo: Douillard et al., 2023, "DiLoCo: Distributed
Low-Communication Training of Language Models"). Per outer step this module gives the
bytes of that exchange, its time over the WAN path, its energy, and the cost of moving
one worker; a multi-site job is feasible when the exchange fits in a share of the
outer step's compute time and a worker's move fits in the destination's window by the
migration rule (docs/design.md section 3).

Notation (every function broadcasts over numpy arrays like :func:`greenhop.model.evaluate`):

* ``N`` workers, ``P`` parameters, ``b`` bytes per pseudo-gradient value (2: bf16)
* all-reduce pattern: a **ring** over the ``N`` workers. Each worker sends (and
  receives) ``2 (N - 1) / N x P x b`` bytes per outer step (reduce-scatter then
  all-gather, ``2 (N - 1)`` rounds of ``P x b / N`` bytes); ``sync_bytes`` is that
  per-worker volume, ``total_sync_bytes = N x sync_bytes`` what all links carry.
* ``sync_s = 8 x sync_bytes / B_eff + 2 (N - 1) x rtt / 2``: the ring's hops run in
  parallel on distinct links at the path's effective rate ``B_eff`` (as for
  migrations: ``min(efficiency x bandwidth, streams x Mathis)``), and each of the
  ``2 (N - 1)`` rounds waits at least a one-way delay.
* ``sync_energy_j = 8 x total_sync_bytes x network_j_per_bit + N x idle_power_w x
  sync_s``: the network's energy per bit (the migrations' constant) plus the idle
  power of every worker waiting for the exchange.
* ``compute_s = H x step_s`` (one outer step of local work); feasible (sync) when
  ``sync_s <= sync_share x compute_s``.
* moving one worker carries its own state, ``P x worker_bytes_per_param``, through
  save -> transfer -> restore exactly like a migration; feasible (move) when that
  downtime ``<= alpha x window``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.model import constants as C
from greenhop.model.feasibility import _array, _out, evaluate, plain_fields

SYNC_SHARE = 0.1
"""Share of an outer step's compute time the pseudo-gradient exchange may take [-].

An engineering rule mirroring the migrations' alpha: low-communication training is
worth spreading over sites when the workers spend at most about a tenth of their time
waiting for the exchange (DiLoCo's premise is that communication is rare enough to be
negligible; 10% keeps the slowdown below 1.1x)."""

SYNC_BYTES_PER_VALUE = 2.0
"""Bytes per pseudo-gradient value [B]: bf16, as the DiLoCo reference exchanges them."""

WORKER_BYTES_PER_PARAM = 16.0
"""A worker's own state per parameter [B]: fp32 parameters (equal to the global ones at
an outer-step boundary) 4 + the inner AdamW's first and second moments 4 + 4 + the
outer Nesterov momentum 4. Data position and RNG state are negligible."""
SYNC_PRECISION = {"bf16": 2.0, "fp16": 2.0, "fp32": 4.0}
"""Bytes per pseudo-gradient value of each exchange precision [B]."""

STEP_S = 1.0
"""Default time of one inner (local) step [s]. An engineering assumption: one optimiser
step of a 1-10 B-parameter model on one multi-GPU node takes about 0.5-3 s; give the
measured figure with ``step_s`` (``--step-time``)."""


def _whole(name: str, value, lo: int = 1) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.size and not (np.all(np.isfinite(arr)) and np.all(arr == np.floor(arr))
                         and arr.min() >= lo):
        bad = arr[~(np.isfinite(arr) & (arr == np.floor(arr)) & (arr >= lo))].flat[0]
        raise ConfigError(f"{name} must be a whole number >= {lo}; got {float(bad)!r}")
    return arr


def ring_bytes_per_worker(params, workers, bytes_per_value=SYNC_BYTES_PER_VALUE):
    """Bytes each worker sends in one ring all-reduce [B]: ``2 (N - 1) / N x P x b``
    (0 for a single worker)."""
    p = _array("parameter count", params)
    n = _whole("workers", workers)
    b = _array("bytes per value", bytes_per_value)
    return _out(2.0 * (n - 1.0) / n * p * b)


def sync_seconds(sync_bytes, effective_rate_bps, workers, rtt_s=C.RTT_S):
    """Time of one ring all-reduce [s]: ``8 x sync_bytes / B_eff + (N - 1) x rtt``
    (``2 (N - 1)`` rounds of one one-way delay each)."""
    size = _array("sync bytes", sync_bytes, positive=False)
    rate = _array("effective rate", effective_rate_bps)
    n = _whole("workers", workers)
    rtt = _array("rtt", rtt_s, positive=False)
    return _out(8.0 * size / rate + (n - 1.0) * rtt)


@dataclass(frozen=True)
class DistributedCost:
    """Every term of one (vectorised) evaluation of a multi-site job; see the module.

    Sizes [B], rates [bit/s], times [s], energies [J]; arrays broadcast together.
    """

    workers: np.ndarray
    sync_every: np.ndarray
    params: np.ndarray
    sync_bytes: np.ndarray           # per worker per outer step [B]
    total_sync_bytes: np.ndarray     # all workers, per outer step [B]
    effective_bps: np.ndarray
    sync_s: np.ndarray
    compute_s: np.ndarray            # H x step_s [s]
    sync_budget_s: np.ndarray        # sync_share x compute_s [s]
    sync_feasible: np.ndarray
    slowdown: np.ndarray             # (compute_s + sync_s) / compute_s [-]
    sync_network_energy_j: np.ndarray
    sync_idle_energy_j: np.ndarray
    sync_energy_j: np.ndarray
    worker_state_bytes: np.ndarray
    worker_move_s: np.ndarray        # save + transfer + restore of one worker [s]
    worker_move_budget_s: np.ndarray  # alpha x window [s]
    worker_move_feasible: np.ndarray
    feasible: np.ndarray             # sync and move

    def to_dict(self) -> dict:
        """Plain Python values (floats, bools or lists) keyed by field name."""
        return plain_fields(self)


def evaluate_distributed(
    params,
    workers,
    sync_every,
    bandwidth_bps,
    window_s,
    *,
    step_s=STEP_S,
    sync_share=SYNC_SHARE,
    bytes_per_value=SYNC_BYTES_PER_VALUE,
    worker_state_bytes=None,
    worker_bytes_per_param=WORKER_BYTES_PER_PARAM,
    idle_power_w=C.IDLE_POWER_W,
    network_j_per_bit=C.NETWORK_J_PER_BIT,
    **link,
) -> DistributedCost:
    """Evaluate a job of ``workers`` workers syncing every ``sync_every`` inner steps.

    Args:
        params: parameter count P [-].
        workers: N [-], whole, >= 1.
        sync_every: H inner steps per outer step [-], whole, >= 1.
        bandwidth_bps: nominal rate of the WAN path between workers [bit/s].
        window_s: the destination's remaining window for a worker's move [s].
        step_s: time of one inner step [s].
        sync_share: share of the outer step's compute time the sync may take [-], (0, 1].
        bytes_per_value: bytes per pseudo-gradient value [B] (2: bf16, 4: fp32).
        worker_state_bytes: a worker's own state [B]; ``None``: ``P x worker_bytes_per_param``.
        idle_power_w: power of one worker's hardware while it waits [W].
        network_j_per_bit: WAN energy per bit [J/bit].
        **link: the link and disk options of :func:`greenhop.model.evaluate` (``alpha``,
            ``efficiency``, ``streams``, ``rtt_s``, ``loss``, ``write_Bps``, ...).
    """
    p = _array("parameter count", params)
    n = _whole("workers", workers)
    h = _whole("sync interval", sync_every)
    step = _array("step time", step_s)
    share = np.asarray(sync_share, dtype=float)
    if share.size and not (share.min() > 0 and share.max() <= 1):
        raise ConfigError(f"sync share must be in (0, 1]; got {sync_share!r}")
    pi = _array("idle power", idle_power_w, positive=False)
    epb = _array("network energy per bit", network_j_per_bit, positive=False)
    state = (p * _array("worker bytes per parameter", worker_bytes_per_param)
             if worker_state_bytes is None else _array("worker state", worker_state_bytes))
    # One worker's move is a migration of its own state: the same model, the same terms.
    move = evaluate(state, bandwidth_bps, window_s, idle_power_w=idle_power_w,
                    network_j_per_bit=network_j_per_bit, **link)
    b_eff = move.effective_bps
    per_worker = np.asarray(ring_bytes_per_worker(p, n, bytes_per_value))
    total = n * per_worker
    rtt = np.asarray(link.get("rtt_s", C.RTT_S), dtype=float)
    t_sync = np.asarray(sync_seconds(per_worker, b_eff, n, rtt))
    t_sync = np.where(n > 1, t_sync, 0.0)  # one worker exchanges nothing
    compute = h * step
    budget = share * compute
    e_net = 8.0 * total * epb
    e_idle = n * pi * t_sync
    shape = np.broadcast_shapes(p.shape, n.shape, h.shape, t_sync.shape, budget.shape,
                                move.downtime_s.shape, e_idle.shape)

    def b(x):
        return np.broadcast_to(np.asarray(x), shape)

    sync_ok = t_sync <= budget
    return DistributedCost(
        workers=b(n), sync_every=b(h), params=b(p), sync_bytes=b(per_worker),
        total_sync_bytes=b(total), effective_bps=b(b_eff), sync_s=b(t_sync),
        compute_s=b(compute), sync_budget_s=b(budget), sync_feasible=b(sync_ok),
        slowdown=b((compute + t_sync) / compute),
        sync_network_energy_j=b(e_net), sync_idle_energy_j=b(e_idle),
        sync_energy_j=b(e_net + e_idle), worker_state_bytes=b(state),
        worker_move_s=b(move.downtime_s), worker_move_budget_s=b(move.budget_s),
        worker_move_feasible=b(move.feasible), feasible=b(sync_ok & move.feasible),
    )


def min_sync_every(params, workers, bandwidth_bps, **kwargs):
    """Smallest sync interval H [inner steps] whose exchange fits the sync rule:
    ``ceil(sync_s / (sync_share x step_s))`` (at least 1), then stepped by one to the H
    that :func:`evaluate_distributed` judges feasible (``sync_s <= sync_share x (H x
    step_s)``) and whose H - 1 it does not: the ceil's rounding can miss by one."""
    step = np.asarray(kwargs.pop("step_s", STEP_S), dtype=float)
    share = np.asarray(kwargs.pop("sync_share", SYNC_SHARE), dtype=float)
    cost = evaluate_distributed(params, workers, 1, bandwidth_bps, 1.0, step_s=step,
                                sync_share=share, **kwargs)
    t = cost.sync_s
    h = np.maximum(1.0, np.ceil(t / (share * step)))
    for _ in range(4):   # rounding is off by one at most; a few passes settle any case
        h = np.where(t <= share * (h * step), h, h + 1.0)
        h = np.where((h > 1) & (t <= share * ((h - 1.0) * step)), h - 1.0, h)
    return _out(h)
