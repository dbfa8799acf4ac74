"""The feasibility-domain model: can a checkpoint cross the WAN, and the job
restart, well inside the destination's surplus window, and does it pay back?

Pure functions that broadcast over numpy arrays (a whole feasibility map is
one call). Notation (docs/design.md section 3; glossary in docs/nomenclature.md):

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
from greenhop.model import _kernel
from greenhop.model import constants as C

_SQRT_3_2 = _kernel.SQRT_3_2


def _bounds(arr: np.ndarray) -> tuple[float, float]:
    """(min, max) of ``arr`` in two read-only passes; NaN propagates into both."""
    if arr.size == 0:
        return 1.0, 1.0
    return float(arr.min()), float(arr.max())


def _in_range(arr: np.ndarray, low: float, high: float, *, low_open: bool) -> bool:
    """Whether every element lies in (low, high] (``low_open``) or [low, high)."""
    lo, hi = _bounds(arr)
    if low_open:
        return lo > low and hi <= high
    return lo >= low and hi < high


def _array(name: str, value, *, positive: bool = True, allow_inf: bool = False) -> np.ndarray:
    """``value`` as a float array, checked: finite (or +inf if allowed), > 0 or >= 0."""
    arr = np.asarray(value, dtype=float)
    lo, hi = _bounds(arr)
    if (lo > 0 if positive else lo >= 0) and (allow_inf or hi < np.inf):
        return arr
    bad = np.isnan(arr) | (np.isneginf(arr) if allow_inf else np.isinf(arr))
    bad |= arr <= 0 if positive else arr < 0
    first = float(arr[bad].flat[0])
    need = "positive" if positive else "non-negative"
    need += " (inf allowed)" if allow_inf else " and finite"
    raise ConfigError(f"{name} must be {need}; got {first!r}")


def _check_alpha(alpha) -> np.ndarray:
    arr = np.asarray(alpha, dtype=float)
    if not _in_range(arr, 0.0, 1.0, low_open=True):
        raise ConfigError(f"alpha must be in (0, 1]; got {alpha!r}")
    return arr


def _check_loss(loss) -> np.ndarray:
    arr = np.asarray(loss, dtype=float)
    if not _in_range(arr, 0.0, 1.0, low_open=False):
        raise ConfigError(f"loss must be in [0, 1); got {loss!r}")
    return arr


def _check_efficiency(efficiency) -> np.ndarray:
    arr = np.asarray(efficiency, dtype=float)
    if not _in_range(arr, 0.0, 1.0, low_open=True):
        raise ConfigError(f"efficiency must be in (0, 1]; got {efficiency!r}")
    return arr


def _check_streams(streams) -> np.ndarray:
    arr = np.asarray(streams, dtype=float)
    lo, hi = _bounds(arr)
    if not (lo >= 1 and hi < np.inf) or np.any(arr != np.floor(arr)):
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
    size = _array("checkpoint size", checkpoint_bytes)
    return _out(size / _array("write rate", write_Bps, allow_inf=True))


def transfer_seconds(checkpoint_bytes, effective_rate_bps):
    """Time to move the checkpoint over the WAN [s]: ``8 S / B_eff``."""
    size = _array("checkpoint size", checkpoint_bytes)
    return _out(8.0 * size / _array("effective rate", effective_rate_bps))


def restore_seconds(checkpoint_bytes, read_Bps=C.READ_BPS, startup_s=C.STARTUP_S):
    """Time to read the checkpoint and restart at the destination [s]:
    ``S / read_Bps + startup_s``."""
    size = _array("checkpoint size", checkpoint_bytes)
    read = _array("read rate", read_Bps, allow_inf=True)
    return _out(size / read + _array("startup time", startup_s, positive=False))


def plain_fields(result) -> dict:
    """A result dataclass's array fields as plain Python values (floats, bools or lists)
    keyed by field name, for JSON."""
    out = {}
    for f in fields(result):
        arr = np.asarray(getattr(result, f.name))
        out[f.name] = arr.tolist() if arr.ndim else arr.item()
    return out


@dataclass(frozen=True)
class Feasibility:
    """Every term of one (vectorised) feasibility evaluation; arrays broadcast together.

    Times in [s], sizes in [B], rates in [bit/s], energies in [J]. Every field has the
    broadcast shape of all inputs; the four inputs echoed back (``checkpoint_bytes``,
    ``bandwidth_bps``, ``window_s``, ``alpha``) are read-only broadcast views, not copies.

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
        return plain_fields(self)


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
    mss = _array("mss", mss_bytes)
    wr = _array("write rate", write_Bps, allow_inf=True)
    rd = _array("read rate", read_Bps, allow_inf=True)
    t0 = _array("startup time", startup_s, positive=False)
    pj = _array("job power", job_power_w)
    pi = _array("idle power", idle_power_w, positive=False)
    epb = _array("network energy per bit", network_j_per_bit, positive=False)
    gain = np.asarray(green_gain, dtype=float)
    if not _in_range(gain, 0.0, 1.0, low_open=True):
        raise ConfigError(f"green gain must be in (0, 1]; got {green_gain!r}")

    inputs = {
        "checkpoint_bytes": S, "bandwidth_bps": bw, "window_s": W, "alpha": a,
        "efficiency": eff, "streams": n, "loss": p, "rtt_s": rtt, "mss_bytes": mss,
        "write_Bps": wr, "read_Bps": rd, "startup_s": t0, "job_power_w": pj, "idle_power_w": pi,
        "network_j_per_bit": epb, "green_gain": gain,
    }
    shape = np.broadcast_shapes(*(arr.shape for arr in inputs.values()))
    terms = _kernel.run(inputs, shape)
    # The inputs come back as read-only broadcast views: no copy of the caller's arrays.
    return Feasibility(
        checkpoint_bytes=np.broadcast_to(S, shape),
        bandwidth_bps=np.broadcast_to(bw, shape),
        window_s=np.broadcast_to(W, shape),
        alpha=np.broadcast_to(a, shape),
        **terms,
    )


def max_checkpoint_bytes(bandwidth_bps, window_s, **kwargs):
    """Largest checkpoint [B] that is feasible for this bandwidth and window."""
    kwargs.setdefault("checkpoint_bytes", 1.0)
    result = evaluate(bandwidth_bps=bandwidth_bps, window_s=window_s, **kwargs)
    return _out(result.max_checkpoint_bytes)


def min_window_seconds(checkpoint_bytes, bandwidth_bps, **kwargs):
    """Shortest destination window [s] in which the migration is feasible."""
    kwargs.setdefault("window_s", 1.0)
    return _out(evaluate(checkpoint_bytes, bandwidth_bps, **kwargs).min_window_s)


def min_bandwidth_bps(checkpoint_bytes, window_s, **kwargs):
    """Smallest nominal bandwidth [bit/s] at which the migration is feasible (``inf``: none)."""
    kwargs.setdefault("bandwidth_bps", 1.0)
    return _out(evaluate(checkpoint_bytes, window_s=window_s, **kwargs).min_bandwidth_bps)
