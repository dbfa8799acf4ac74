"""How much of a policy's job grid energy falls at moments when surplus is curtailed
elsewhere in the fleet: the part free, instant moves could at most have taken, at the
policy's own timing (GPU slots and move costs ignored). The rest only waiting avoids.

    .venv/bin/python benchmarks/planner_concurrent_surplus.py caiso-curtailment \\
        --policy horizon-planner --seeds 1-20

For each seed it runs the policy (the scenario's own parameters), and prints its job grid
energy [kWh], the part drawn while at least as much surplus was curtailed at other sites in
the same step [kWh], and the gap to the ``spacetime`` bound the policy would close if that
part were taken (``static`` and the bound computed for the seed). The last line is the mean
over the seeds with a 95% bootstrap interval of the share (docs/planner.md uses it).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np

KWH_J = 3.6e6


def concurrent_curtailment_kwh(inputs, run, base) -> tuple[float, float]:
    """``(job grid, concurrent)`` [kWh] of ``run`` (recorded flows): the jobs' grid draw per
    step (grid minus the base-only dispatch's, per site, at least 0) and, per step, the
    smaller of the fleet's draw and the surplus curtailed in the fleet, summed over steps
    (a site never curtails and imports at once, so what is curtailed is elsewhere)."""
    dt = inputs.scenario.step_s
    steps = run.grid_w.shape[0]
    job_grid_w = np.clip(run.grid_w - base.grid_w[:steps], 0.0, None)   # [T, S]
    curtailed_w = run.flows["curtailed_w"]                              # [T, S]
    concurrent_w = np.minimum(job_grid_w.sum(axis=1), curtailed_w.sum(axis=1))
    return float(job_grid_w.sum() * dt / KWH_J), float(concurrent_w.sum() * dt / KWH_J)


def main(argv: list[str] | None = None) -> int:
    """The command; bad input (a scenario, policy or seeds) is one line and exit 2."""
    from greenhop.core.errors import GreenhopError

    try:
        return _run(argv)
    except GreenhopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(argv: list[str] | None) -> int:
    from greenhop.policies import make_policy
    from greenhop.sim.api import policy_params
    from greenhop.sim.attribution import base_only_dispatch
    from greenhop.sim.bounds import compute_bound
    from greenhop.sim.engine import Engine
    from greenhop.sim.inputs import build_inputs
    from greenhop.sim.scenario import load_scenario
    from greenhop.sim.sweep_grid import parse_seeds

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", help="a packaged scenario's name or a scenario file")
    ap.add_argument("--policy", default="horizon-planner")
    ap.add_argument("--seeds", default="1-5", help="seeds such as 1-20 or 1,3,5-8")
    args = ap.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    make_policy(args.policy, **policy_params(load_scenario(args.scenario), args.policy))
    shares, gaps = [], []
    for seed in seeds:
        sc = dataclasses.replace(load_scenario(args.scenario), seed=seed)
        inp = build_inputs(sc)
        base = base_only_dispatch(inp)
        run = Engine(inp, make_policy(args.policy, **policy_params(sc, args.policy)),
                     record=True).run()
        total, concurrent = concurrent_curtailment_kwh(inp, run, base)
        static = Engine(inp, make_policy("static"), record=True).run()
        static_kwh, _ = concurrent_curtailment_kwh(inp, static, base)
        bound = compute_bound(inp, "spacetime", static=static,
                              deadlines=sc.bounds_deadlines).job_nr_kwh
        gap = (static_kwh - (total - concurrent)) / (static_kwh - bound) * 100.0
        shares.append(concurrent / total)
        gaps.append(gap)
        print(f"seed {seed}: job grid {total:,.0f} kWh, drawn while curtailed elsewhere "
              f"{concurrent:,.0f} kWh ({100 * concurrent / total:.0f}%); with it taken, gap "
              f"closed {gap:.0f}% (static {static_kwh:,.0f}, spacetime bound {bound:,.0f})",
              flush=True)
    rng = np.random.default_rng(0)
    share = np.array(shares)
    boot = [share[rng.integers(0, share.size, share.size)].mean() for _ in range(5000)]
    lo, hi = np.percentile(boot, [2.5, 97.5]) * 100
    print(f"mean over {share.size} seeds: {share.mean() * 100:.1f}% [{lo:.1f}, {hi:.1f}] of "
          f"the job grid energy; gap closed were it taken {np.mean(gaps):.0f}% "
          f"(min {np.min(gaps):.0f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
