"""Full-model feasibility evaluations per second over a 1e6-point grid.

Measured side by side in one run, interleaved, against:

* a plain numpy multiply-add ``S * B + W`` over the same three arrays: the
  memory-bound limit of touching the inputs once (the issue's yardstick);
* the output floor: allocating and writing the 16 float and 2 boolean arrays a
  full evaluation returns (``np.multiply(S, B)`` into each), the least any eager
  full-model evaluation must do;
* the textbook expressions of docs/design.md section 3 written with whole-array
  temporaries (what ``evaluate`` computed before its chunked kernel).

Usage: ``python benchmarks/bench_model.py [--points 1000000] [--repeats 15]``.
Reports medians and ratios, never a bare time as a verdict; it never gates CI.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import numpy as np

from greenhop.model import constants as C
from greenhop.model import evaluate


def grid(points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checkpoint sizes [B] x bandwidths [bit/s] on a log grid, windows [s] varying."""
    side = math.isqrt(points)
    s, b = np.meshgrid(np.geomspace(1e9, 1e12, side), np.geomspace(1e8, 1e11, side))
    w = np.resize(np.linspace(3600.0, 9.5 * 3600.0, 97), side * side)
    return s.ravel().copy(), b.ravel().copy(), w


def multiply_add(s, b, w):
    return s * b + w


def output_floor(s, b, w):
    outs = [np.multiply(s, b) for _ in range(16)]
    outs += [np.less(s, b) for _ in range(2)]
    return outs


def textbook(s, b, w):
    """docs/design.md section 3 with default options, whole-array temporaries everywhere."""
    b_eff = C.EFFICIENCY * b
    per_byte_disk = 1.0 / C.WRITE_BPS + 1.0 / C.READ_BPS
    save = s / C.WRITE_BPS
    transfer = 8.0 * s / b_eff
    restore = s / C.READ_BPS + C.STARTUP_S
    down = save + transfer + restore
    budget = C.ALPHA * w
    e_net = 8.0 * s * C.NETWORK_J_PER_BIT
    e_idle = C.IDLE_POWER_W * down
    e_mig = e_net + e_idle
    payback = e_mig / (C.JOB_POWER_W * C.GREEN_GAIN)
    spare = budget - C.STARTUP_S
    max_s = np.where(spare > 0, spare / (per_byte_disk + 8.0 / b_eff), 0.0)
    min_window = down / C.ALPHA
    transfer_budget = spare - s * per_byte_disk
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.where(transfer_budget > 0, 8.0 * s / transfer_budget, np.inf)
    return [
        b_eff,
        save,
        transfer,
        restore,
        down,
        budget,
        down <= budget,
        budget - down,
        e_net,
        e_idle,
        e_mig,
        payback,
        payback < (w - down),
        max_s,
        max_s / s,
        min_window,
        w - min_window,
        need / C.EFFICIENCY,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="grid points [-]")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs of each [-]")
    args = parser.parse_args()
    s, b, w = grid(args.points)
    n = s.size
    contenders = {
        "evaluate (full model)": lambda: evaluate(s, b, w),
        "multiply-add S*B+W": lambda: multiply_add(s, b, w),
        "output floor (18 arrays)": lambda: output_floor(s, b, w),
        "textbook expressions": lambda: textbook(s, b, w),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for fn in contenders.values():  # warm-up: page in the allocator's arenas
        fn()
    for _ in range(args.repeats):
        for name, fn in contenders.items():  # interleaved, so drifts hit all alike
            start = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - start)
            del result
    med = {name: statistics.median(t) for name, t in times.items()}
    best = {name: min(t) for name, t in times.items()}
    limit = med["multiply-add S*B+W"]
    print(
        f"greenhop model benchmark: {n:,} points, {args.repeats} interleaved runs, "
        f"numpy {np.__version__}, {platform.processor() or platform.machine()}"
    )
    print(
        f"{'contender':28s} {'median':>10s} {'best':>10s} {'points/s':>12s} {'x multiply-add':>15s}"
    )
    for name in contenders:
        print(
            f"{name:28s} {med[name] * 1e3:8.2f}ms {best[name] * 1e3:8.2f}ms "
            f"{n / med[name]:12.3g} {med[name] / limit:14.1f}x"
        )
    ratio = med["evaluate (full model)"] / limit
    print(f"\nfull-model evaluations per second: {n / med['evaluate (full model)']:.3g}")
    print(
        f"ratio to the multiply-add limit: {ratio:.1f}x (target <= 10x: "
        f"{'met' if ratio <= 10 else 'not met'}); to the output floor: "
        f"{med['evaluate (full model)'] / med['output floor (18 arrays)']:.2f}x; "
        f"speed-up over the textbook expressions: "
        f"{med['textbook expressions'] / med['evaluate (full model)']:.2f}x"
    )


if __name__ == "__main__":
    main()
