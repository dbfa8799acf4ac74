"""The feasibility-domain model: can a checkpoint cross the WAN, and the job
restart, well inside the destination's surplus window, and does it pay back?

Pure functions that broadcast over numpy arrays (a whole feasibility map is
one call). Notation (DESIGN.md section 3; glossary in docs/nomenclature.md):

* ``S`` checkpoint size [B]
* ``B_eff = min(efficiency x bandwidth, streams x mathis)`` effective rate [bit/s]
* ``save_s = S / write_Bps``, ``transfer_s = 8 S / B_eff``,
  ``restore_s = S / read_Bps + startup_s``; downtime ``D`` = their sum [s]
* feasible (time): ``D <= alpha x window_s``
* migration energy ``E_mig = 8 S x network_j_per_bit + idle_power_w x D`` [J];
  payback ``t_pb = E_mig / (job_power_w x green_gain)`` [s];
  justified (energy): ``t_pb < window_s - D``
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from greenhop.core.errors import ConfigError
from greenhop.model import constants as C

_SQRT_3_2 = float(np.sqrt(1.5))


def _array(name: str, value, *, positive: bool = True, allow_inf: bool = False) -> np.ndarray:
    """``value`` as a float array, checked: finite (or +inf if allowed), > 0 or >= 0."""
    arr = np.asarray(value, dtype=float)
    bad_nan = np.isnan(arr)
    bad_inf = np.isinf(arr) if not allow_inf else np.isneginf(arr)
    bad_sign = arr <= 0 if positive else arr < 0
    if np.any(bad_nan | bad_inf | bad_sign):
        first = arr[bad_nan | bad_inf | bad_sign].flat[0]
        need = "positive" if positive else "non-negative"
        need += " (inf allowed)" if allow_inf else " and finite"
        raise ConfigError(f"{name} must be {need}; got {first!r}")
    return arr


def _check_alpha(alpha) -> np.ndarray:
    arr = np.asarray(alpha, dtype=float)
    if np.any(~(arr > 0) | ~(arr <= 1)):
        raise ConfigError(f"alpha must be in (0, 1]; got {alpha!r}")
    return arr


def _check_loss(loss) -> np.ndarray:
    arr = np.asarray(loss, dtype=float)
    if np.any(~(arr >= 0) | ~(arr < 1)):
        raise ConfigError(f"loss must be in [0, 1); got {loss!r}")
    return arr


def _check_efficiency(efficiency) -> np.ndarray:
    arr = np.asarray(efficiency, dtype=float)
    if np.any(~(arr > 0) | ~(arr <= 1)):
        raise ConfigError(f"efficiency must be in (0, 1]; got {efficiency!r}")
    return arr


def _check_streams(streams) -> np.ndarray:
    arr = np.asarray(streams, dtype=float)
    if np.any(~(arr >= 1) | (arr != np.floor(arr))):
        raise ConfigError(f"streams must be a whole number >= 1; got {streams!r}")
    return arr


def _out(value):
    """Plain float for 0-d results, the array otherwise."""
    arr = np.asarray(value)
    return arr.item() if arr.ndim == 0 else arr


def mathis_bps(rtt_s, loss, mss_bytes=C.MSS_BYTES):
    """Mathis et al. (1997) steady-state TCP throughput of one stream [bit/s].

    ``mss x 8 / rtt x sqrt(3/2) / sqrt(loss)``; ``inf`` where ``loss == 0``
    (the bound does not apply without loss).
    """
    rtt = _array("rtt", rtt_s)
    p = _check_loss(loss)
    mss = _array("mss", mss_bytes)
    with np.errstate(divide="ignore"):
        bound = mss * 8.0 / rtt * _SQRT_3_2 / np.sqrt(p)
    return _out(np.where(p > 0, bound, np.inf))


def effective_bps(
    bandwidth_bps,
    *,
    efficiency=C.EFFICIENCY,
    streams=C.STREAMS,
    rtt_s=C.RTT_S,
    loss=0.0,
    mss_bytes=C.MSS_BYTES,
):
    """Effective transfer rate ``min(efficiency x bandwidth, streams x mathis)`` [bit/s]."""
    bw = _array("bandwidth", bandwidth_bps)
    eff = _check_efficiency(efficiency)
    n = _check_streams(streams)
    p = _check_loss(loss)
    if np.any(p > 0):
        return _out(np.minimum(eff * bw, n * mathis_bps(rtt_s, p, mss_bytes)))
    return _out(eff * bw * np.ones_like(n))


def save_seconds(checkpoint_bytes, write_Bps=C.WRITE_BPS):
    """Time to write the checkpoint at the source [s]: ``S / write_Bps``."""
    return _out(_array("checkpoint size", checkpoint_bytes) / _array("write rate", write_Bps, allow_inf=True))


def transfer_seconds(checkpoint_bytes, effective_rate_bps):
    """Time to move the checkpoint over the WAN [s]: ``8 S / B_eff``."""
    return _out(8.0 * _array("checkpoint size", checkpoint_bytes) / _array("effective rate", effective_rate_bps))


def restore_seconds(checkpoint_bytes, read_Bps=C.READ_BPS, startup_s=C.STARTUP_S):
    """Time to read the checkpoint and restart at the destination [s]:
    ``S / read_Bps + startup_s``."""
    size = _array("checkpoint size", checkpoint_bytes)
    return _out(size / _array("read rate", read_Bps, allow_inf=True) + _array("startup time", startup_s, positive=False))


@dataclass(frozen=True)
class Feasibility:
    """Every term of one (vectorised) feasibility evaluation; arrays broadcast together.

    Times in [s], sizes in [B], rates in [bit/s], energies in [J].

    Margins:
        time_margin_s: ``alpha x window - downtime``; >= 0 when feasible.
        max_checkpoint_bytes: largest checkpoint that would still be feasible here.
        checkpoint_headroom: ``max_checkpoint_bytes / checkpoint_bytes`` [-]; >= 1 when feasible.
        min_window_s: shortest window in which this migration is feasible (``D / alpha``).
        window_slack_s: how much shorter the window could be: ``window - min_window``.
        min_bandwidth_bps: smallest nominal bandwidth that makes it feasible (``inf``
            when no bandwidth suffices: the fixed costs alone exceed the budget, or
            the loss-limited rate caps the transfer).
    """

    checkpoint_bytes: np.ndarray
    bandwidth_bps: np.ndarray
    effective_bps: np.ndarray
    save_s: np.ndarray
    transfer_s: np.ndarray
    restore_s: np.ndarray
    downtime_s: np.ndarray
    window_s: np.ndarray
    alpha: np.ndarray
    budget_s: np.ndarray
    feasible: np.ndarray
    time_margin_s: np.ndarray
    network_energy_j: np.ndarray
    idle_energy_j: np.ndarray
    migration_energy_j: np.ndarray
    payback_s: np.ndarray
    justified: np.ndarray
    max_checkpoint_bytes: np.ndarray
    checkpoint_headroom: np.ndarray
    min_window_s: np.ndarray
    window_slack_s: np.ndarray
    min_bandwidth_bps: np.ndarray

    def to_dict(self) -> dict:
        """Plain Python values (floats, bools or lists) keyed by field name."""
        out = {}
        for f in fields(self):
            arr = np.asarray(getattr(self, f.name))
            out[f.name] = arr.tolist() if arr.ndim else arr.item()
        return out


def evaluate(
    checkpoint_bytes,
    bandwidth_bps,
    window_s,
    *,
    alpha=C.ALPHA,
    efficiency=C.EFFICIENCY,
    streams=C.STREAMS,
    rtt_s=C.RTT_S,
    loss=0.0,
    mss_bytes=C.MSS_BYTES,
    write_Bps=C.WRITE_BPS,
    read_Bps=C.READ_BPS,
    startup_s=C.STARTUP_S,
    job_power_w=C.JOB_POWER_W,
    idle_power_w=C.IDLE_POWER_W,
    network_j_per_bit=C.NETWORK_J_PER_BIT,
    green_gain=C.GREEN_GAIN,
) -> Feasibility:
    """Evaluate the feasibility model; every argument broadcasts.

    Args:
        checkpoint_bytes: checkpoint size S [B].
        bandwidth_bps: nominal WAN link rate [bit/s].
        window_s: the destination's remaining surplus window [s].
        alpha: share of the window the downtime may use [-], in (0, 1].
        efficiency: share of the nominal rate a transfer reaches [-], in (0, 1].
        streams: parallel TCP streams [-].
        rtt_s: round-trip time [s] (used only when ``loss > 0``).
        loss: packet loss probability [-], in [0, 1).
        mss_bytes: TCP maximum segment size [B].
        write_Bps, read_Bps: checkpoint write and read rates [B/s] (``inf`` = free).
        startup_s: fixed restart cost at the destination [s].
        job_power_w: power of the job while training [W].
        idle_power_w: power drawn by the job's hardware during downtime [W].
        network_j_per_bit: WAN energy per bit [J/bit].
        green_gain: gain in renewable share after the move [-], in (0, 1].
    """
    S = _array("checkpoint size", checkpoint_bytes)
    bw = _array("bandwidth", bandwidth_bps)
    W = _array("window", window_s)
    a = _check_alpha(alpha)
    eff = _check_efficiency(efficiency)
    n = _check_streams(streams)
    p = _check_loss(loss)
    rtt = _array("rtt", rtt_s)
    wr = _array("write rate", write_Bps, allow_inf=True)
    rd = _array("read rate", read_Bps, allow_inf=True)
    t0 = _array("startup time", startup_s, positive=False)
    pj = _array("job power", job_power_w)
    pi = _array("idle power", idle_power_w, positive=False)
    epb = _array("network energy per bit", network_j_per_bit, positive=False)
    gain = np.asarray(green_gain, dtype=float)
    if np.any(~(gain > 0) | ~(gain <= 1)):
        raise ConfigError(f"green gain must be in (0, 1]; got {green_gain!r}")

    # Effective rate: the link share, capped by the loss-limited TCP bound when loss > 0.
    link_bps = eff * bw
    if np.any(p > 0):
        with np.errstate(divide="ignore"):
            tcp_bps = n * np.asarray(_mathis_unchecked(rtt, p, float(mss_bytes)))
        b_eff = np.minimum(link_bps, tcp_bps)
    else:
        tcp_bps = np.inf
        b_eff = link_bps * np.ones_like(n)

    # Seconds per byte of each phase; the downtime is linear in S plus the fixed startup.
    per_byte_disk = 1.0 / wr + 1.0 / rd
    save = S / wr
    transfer = 8.0 * S / b_eff
    restore = S / rd + t0
    downtime = save + transfer + restore
    budget = a * W
    feasible = downtime <= budget

    bits = 8.0 * S
    e_net = bits * epb
    e_idle = pi * downtime
    e_mig = e_net + e_idle
    payback = e_mig / (pj * gain)
    justified = payback < (W - downtime)

    # Closed-form boundaries.
    spare = budget - t0
    max_s = np.where(spare > 0, spare / (per_byte_disk + 8.0 / b_eff), 0.0)
    min_window = downtime / a
    # Needed effective rate: 8 S / (budget - startup - disk time); none if that is <= 0.
    transfer_budget = spare - S * per_byte_disk
    with np.errstate(divide="ignore", invalid="ignore"):
        need_eff = np.where(transfer_budget > 0, 8.0 * S / transfer_budget, np.inf)
        min_bw = np.where(need_eff <= tcp_bps, need_eff / eff, np.inf)

    return Feasibility(
        checkpoint_bytes=S * np.ones_like(downtime),
        bandwidth_bps=bw * np.ones_like(downtime),
        effective_bps=b_eff,
        save_s=save,
        transfer_s=transfer,
        restore_s=restore,
        downtime_s=downtime,
        window_s=W * np.ones_like(downtime),
        alpha=a * np.ones_like(downtime),
        budget_s=budget,
        feasible=feasible,
        time_margin_s=budget - downtime,
        network_energy_j=e_net,
        idle_energy_j=e_idle,
        migration_energy_j=e_mig,
        payback_s=payback,
        justified=justified,
        max_checkpoint_bytes=max_s,
        checkpoint_headroom=max_s / S,
        min_window_s=min_window,
        window_slack_s=W - min_window,
        min_bandwidth_bps=min_bw,
    )


def _mathis_unchecked(rtt_s, loss, mss_bytes):
    with np.errstate(divide="ignore"):
        return np.where(loss > 0, mss_bytes * 8.0 / rtt_s * _SQRT_3_2 / np.sqrt(loss), np.inf)


def max_checkpoint_bytes(bandwidth_bps, window_s, **kwargs):
    """Largest checkpoint [B] that is feasible for this bandwidth and window."""
    kwargs.setdefault("checkpoint_bytes", 1.0)
    return _out(evaluate(bandwidth_bps=bandwidth_bps, window_s=window_s, **kwargs).max_checkpoint_bytes)


def min_window_seconds(checkpoint_bytes, bandwidth_bps, **kwargs):
    """Shortest destination window [s] in which the migration is feasible."""
    kwargs.setdefault("window_s", 1.0)
    return _out(evaluate(checkpoint_bytes, bandwidth_bps, **kwargs).min_window_s)


def min_bandwidth_bps(checkpoint_bytes, window_s, **kwargs):
    """Smallest nominal bandwidth [bit/s] at which the migration is feasible (``inf``: none)."""
    kwargs.setdefault("bandwidth_bps", 1.0)
    return _out(evaluate(checkpoint_bytes, window_s=window_s, **kwargs).min_bandwidth_bps)
