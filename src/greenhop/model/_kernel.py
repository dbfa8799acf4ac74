"""The arithmetic of :func:`greenhop.model.feasibility.evaluate`, chunked.

A 1e6-point feasibility map is memory-bound: it writes sixteen float and two
boolean arrays. The inputs are walked in cache-sized chunks, and every term is
computed in place into its output slice, so intermediate values stay in cache
and no whole-array temporary is ever allocated. Inputs arrive already checked
(see ``evaluate``). Units as in ``evaluate``: [B], [bit/s], [s], [W], [J].
"""

from __future__ import annotations

import math

import numpy as np

CHUNK = 1 << 15
"""Elements per chunk [-]: about 20 live chunk arrays of 256 kB fit in L2/L3 cache."""

SQRT_3_2 = math.sqrt(1.5)
FEASIBLE_RTOL = 1e-12
"""Relative slack of the feasibility test ``D <= alpha x W`` [-]: rounding only, so a
migration exactly at the boundary is feasible, as the rule and the closed-form boundaries
(largest checkpoint, shortest window, smallest bandwidth) say."""

FLOAT_OUTPUTS = (
    "effective_bps", "save_s", "transfer_s", "restore_s", "downtime_s", "budget_s",
    "time_margin_s", "network_energy_j", "idle_energy_j", "migration_energy_j", "payback_s",
    "max_checkpoint_bytes", "checkpoint_headroom", "min_window_s", "window_slack_s",
    "min_bandwidth_bps",
)
BOOL_OUTPUTS = ("feasible", "justified")


def run(inputs: dict[str, np.ndarray], shape: tuple[int, ...]) -> dict:
    """Every term of the model for ``inputs`` broadcast to ``shape``; arrays of ``shape``."""
    size = math.prod(shape)
    flat = {name: _flatten(arr, shape) for name, arr in inputs.items()}
    lossy = bool(inputs["loss"].max(initial=0.0) > 0)
    outs = {name: np.empty(size) for name in FLOAT_OUTPUTS}
    outs.update({name: np.empty(size, dtype=bool) for name in BOOL_OUTPUTS})
    # inf is a meaningful answer here (a zero or vanishing rate, an unbounded window: an
    # endless transfer, no bound on the checkpoint), not a fault to report.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for start in range(0, size, CHUNK):
            part = slice(start, start + CHUNK)
            x = {name: arr[part] if arr.ndim else arr for name, arr in flat.items()}
            _chunk(x, {name: arr[part] for name, arr in outs.items()}, lossy)
    return {name: arr.reshape(shape) for name, arr in outs.items()}


def _flatten(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A 0-d array for a single value, else a contiguous 1-d view (or copy) of the full shape."""
    if arr.size == 1:
        return arr.reshape(())
    return np.ascontiguousarray(np.broadcast_to(arr, shape)).reshape(-1)


def _chunk(x: dict, o: dict, lossy: bool) -> None:
    """Fill the output slices ``o`` from the input slices ``x`` (docs/design.md section 3)."""
    S, W, a, eff = x["checkpoint_bytes"], x["window_s"], x["alpha"], x["efficiency"]
    t0 = x["startup_s"]
    scratch = np.empty(len(o["save_s"]))
    mask = np.empty(len(o["save_s"]), dtype=bool)

    # B_eff = min(efficiency x bandwidth, streams x Mathis bound) [bit/s].
    b_eff = np.multiply(eff, x["bandwidth_bps"], out=o["effective_bps"])
    tcp_bps = None
    if lossy:
        p = x["loss"]
        tcp_bps = x["mss_bytes"] * 8.0 / x["rtt_s"] * SQRT_3_2 / np.sqrt(p)
        tcp_bps = x["streams"] * np.where(p > 0, tcp_bps, np.inf)
        np.minimum(b_eff, tcp_bps, out=b_eff)

    # Phase times [s]. 8 S / B_eff is computed as 8 (S / B_eff): scaling by a power of
    # two is exact, so the values are bit-identical to the textbook expression.
    save = np.divide(S, x["write_Bps"], out=o["save_s"])
    transfer = np.divide(S, b_eff, out=o["transfer_s"])
    transfer *= 8.0
    restore = np.divide(S, x["read_Bps"], out=o["restore_s"])
    restore += t0
    down = np.add(save, transfer, out=o["downtime_s"])
    down += restore
    budget = np.multiply(a, W, out=o["budget_s"])
    # D <= alpha W up to rounding: at the boundary the two sides, computed apart, differ
    # in the last bits (4.9 s against 4.9 s read "not feasible")
    np.less_equal(down, np.multiply(budget, 1.0 + FEASIBLE_RTOL, out=scratch),
                  out=o["feasible"])
    np.subtract(budget, down, out=o["time_margin_s"])
    # ... and its margin is 0 there, not -8.9e-16 s beside "feasible"
    np.copyto(o["time_margin_s"], 0.0, where=o["feasible"] & (o["time_margin_s"] < 0.0))

    # Energy [J] and payback [s].
    e_net = np.multiply(S, x["network_j_per_bit"], out=o["network_energy_j"])
    e_net *= 8.0
    e_idle = np.multiply(x["idle_power_w"], down, out=o["idle_energy_j"])
    e_mig = np.add(e_net, e_idle, out=o["migration_energy_j"])
    payback = np.divide(e_mig, x["job_power_w"] * x["green_gain"], out=o["payback_s"])
    np.less(payback, np.subtract(W, down, out=scratch), out=o["justified"])

    # Closed-form boundaries; spare = budget - startup is the time left for disk and WAN.
    per_byte_disk = 1.0 / x["write_Bps"] + 1.0 / x["read_Bps"]
    spare = np.subtract(budget, t0, out=o["min_bandwidth_bps"])
    np.divide(8.0, b_eff, out=scratch)
    scratch += per_byte_disk
    max_s = np.divide(spare, scratch, out=o["max_checkpoint_bytes"])
    np.maximum(max_s, 0.0, out=max_s)  # nothing fits when spare <= 0
    np.divide(max_s, S, out=o["checkpoint_headroom"])
    min_window = np.divide(down, a, out=o["min_window_s"])
    np.subtract(W, min_window, out=o["window_slack_s"])

    # Smallest nominal bandwidth: 8 S / (spare - disk time) / efficiency; inf when that
    # time is <= 0 or the needed rate exceeds the loss-limited TCP bound.
    if np.any(per_byte_disk != 0):
        spare -= np.multiply(S, per_byte_disk, out=scratch)
    np.less_equal(spare, 0.0, out=mask)
    min_bw = np.divide(S, spare, out=spare)
    min_bw *= 8.0
    np.copyto(min_bw, np.inf, where=mask)
    if lossy:
        np.copyto(min_bw, np.inf, where=np.greater(min_bw, tcp_bps, out=mask))
    min_bw /= eff
