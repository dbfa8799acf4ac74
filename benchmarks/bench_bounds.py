"""Offline bounds on the default scenario: LP sizes, solve times, and their ratio to one
``static`` simulation of the same scenario (7 sites, 8,640 five-minute steps, 150 jobs).

For each kind (``space``, ``spacetime``; with ``--deadlines`` also their deadline
variants) prints the LP's columns, rows and nonzeros, the estimate the memory guard
uses, HiGHS's status, the wall and CPU time of building + solving (CPU time is the steadier
figure on a shared machine), the peak resident memory
of the process, and ``solve time / static run time`` (both measured here, side by side).

    .venv/bin/python benchmarks/bench_bounds.py [--seed N] [--deadlines] [--block-s 3600]
"""

from __future__ import annotations

import argparse
import resource
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--deadlines", action="store_true")
    ap.add_argument("--block-s", type=float, default=3600.0)
    args = ap.parse_args()

    from greenhop.policies import make_policy
    from greenhop.sim import load_scenario
    from greenhop.sim.bounds import compute_bound
    from greenhop.sim.engine import Engine
    from greenhop.sim.inputs import build_inputs

    sc = load_scenario(None)
    if args.seed is not None:
        sc = sc.with_seed(args.seed)
    t = time.perf_counter()
    inputs = build_inputs(sc)
    print(f"scenario {sc.name}: {len(sc.sites)} sites, {sc.n_steps:,} steps, "
          f"{len(inputs.jobs)} jobs, seed {sc.seed} (inputs built in "
          f"{time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    static = Engine(inputs, make_policy("static")).run()
    static_s = time.perf_counter() - t
    print(f"static run: {static_s:.2f} s")
    variants = [(k, False) for k in ("space", "spacetime")]
    if args.deadlines:
        variants += [(k, True) for k in ("space", "spacetime")]
    print(f"{'kind':<22}{'cols':>9}{'rows':>9}{'nnz':>10}{'est. GB':>9}{'solve s':>9}"
          f"{'cpu s':>7}{'x static':>9}  {'job grid kWh':>13}  status")
    for kind, dl in variants:
        c0 = time.process_time()
        b = compute_bound(inputs, kind, static=static, deadlines=dl, block_s=args.block_s)
        cpu = time.process_time() - c0
        nr = "-" if b.job_nr_kwh is None else f"{b.job_nr_kwh:,.1f}"
        name = kind + (" (deadlines)" if dl else "")
        print(f"{name:<22}{b.lp_size.cols:>9,}{b.lp_size.rows:>9,}{b.lp_size.nnz:>10,}"
              f"{b.lp_size.bytes / 1e9:>9.2f}{b.solve_s:>9.1f}{cpu:>7.1f}"
              f"{b.solve_s / static_s:>9.1f}"
              f"  {nr:>13}  {b.status}")
    print(f"static's job grid energy: {b.static_job_nr_kwh:,.1f} kWh; work required: "
          f"{b.work_gpu_h:,.0f} GPU-h")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} "
          "MB")


if __name__ == "__main__":
    main()
