"""How much of a policy's job grid energy falls at moments when surplus is curtailed
elsewhere in the fleet: the part free, instant moves could at most have taken, at the
policy's own timing (move costs ignored). The rest only waiting avoids.

    .venv/bin/python benchmarks/planner_concurrent_surplus.py caiso-curtailment \\
        --policy horizon-planner --seeds 1-20

For each seed it runs the policy (the scenario's own parameters), and prints its job grid
energy [kWh] and three nested parts of it, each step's smaller of the jobs' grid draw and:

* ``concurrent``: the surplus curtailed in the fleet (GPU slots ignored);
* ``in free slots``: the curtailed surplus that the free GPU slots of the curtailing sites
  could draw (each site's free slots x its GPU facility power, at most its curtailment);
* ``movable``: the same, against only the grid draw of the running migratable jobs (each
  site's job grid draw x the share of its running jobs' GPUs that are migratable): what
  moves of whole jobs into free slots could at most have taken;

and the gap to the ``spacetime`` bound the policy would close were each part taken
(``static`` and the bound computed for the seed). The last lines are the means over the
seeds with a 95% bootstrap interval of each part's share (docs/planner.md uses them).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np

KWH_J = 3.6e6
PARTS = ("concurrent", "in free slots", "movable")


def occupancy_recorder(engine, n_steps: int, n_sites: int):
    """Record, before each step ``engine`` advances, each site's occupied GPU slots and the
    GPUs of its running migratable jobs; returns the two ``[T, S]`` arrays it fills (steps
    the engine skips, with no job active, stay 0)."""
    from greenhop.core.observation import MIGRATABLE, RUNNING

    core = engine.core
    occupied = np.zeros((n_steps, n_sites))
    movable_gpus = np.zeros((n_steps, n_sites))
    advance = core.advance

    def recording_advance(step: int):
        st = core.state
        occupied[step] = st.occupied
        mine = (st.phase == RUNNING) & (core.inputs.job_mobility == MIGRATABLE)
        movable_gpus[step] = np.bincount(st.site[mine], weights=st.gpus[mine],
                                         minlength=n_sites)
        return advance(step)

    core.advance = recording_advance
    return occupied, movable_gpus


def job_grid_w(run, base) -> np.ndarray:
    """The jobs' grid draw [W] per step and site: grid minus the base-only dispatch's, at
    least 0, ``[T, S]``."""
    steps = run.grid_w.shape[0]
    return np.clip(run.grid_w - base.grid_w[:steps], 0.0, None)


def concurrent_parts_kwh(inputs, run, base, occupied, movable_gpus) -> dict[str, float]:
    """The job grid energy of ``run`` (recorded flows) and its three nested parts [kWh]
    (module docstring; a site never curtails and imports at once, so what is curtailed is
    elsewhere)."""
    dt = inputs.scenario.step_s
    grid_w = job_grid_w(run, base)                                      # [T, S]
    curtailed_w = run.flows["curtailed_w"]                              # [T, S]
    gpu_w = (inputs.gpu_power_w * inputs.pue)[None, :]                 # per GPU, facility
    free = np.clip(inputs.slots[None, :] - occupied, 0.0, None)
    room_w = np.minimum(curtailed_w, free * gpu_w)
    running_w = run.job_load_w                                          # [T, S]
    share = np.clip(movable_gpus * gpu_w / np.maximum(running_w, 1e-9), 0.0, 1.0)
    movable_w = grid_w * np.where(running_w > 0, share, 0.0)
    total = grid_w.sum(axis=1)
    return {
        "job grid": float(total.sum() * dt / KWH_J),
        "concurrent": float(np.minimum(total, curtailed_w.sum(axis=1)).sum() * dt / KWH_J),
        "in free slots": float(np.minimum(total, room_w.sum(axis=1)).sum() * dt / KWH_J),
        "movable": float(np.minimum(movable_w.sum(axis=1), room_w.sum(axis=1)).sum()
                         * dt / KWH_J),
    }


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
    shares = {k: [] for k in PARTS}
    gaps = {k: [] for k in PARTS}
    for seed in seeds:
        sc = dataclasses.replace(load_scenario(args.scenario), seed=seed)
        inp = build_inputs(sc)
        base = base_only_dispatch(inp)
        engine = Engine(inp, make_policy(args.policy, **policy_params(sc, args.policy)),
                        record=True)
        occupied, movable_gpus = occupancy_recorder(engine, inp.n_steps, len(inp.slots))
        run = engine.run()
        parts = concurrent_parts_kwh(inp, run, base, occupied, movable_gpus)
        static = Engine(inp, make_policy("static"), record=True).run()
        static_kwh = float(job_grid_w(static, base).sum() * sc.step_s / KWH_J)
        bound = compute_bound(inp, "spacetime", static=static,
                              deadlines=sc.bounds_deadlines).job_nr_kwh
        total = parts["job grid"]
        line = []
        for k in PARTS:
            gap = (static_kwh - (total - parts[k])) / (static_kwh - bound) * 100.0
            shares[k].append(parts[k] / total)
            gaps[k].append(gap)
            line.append(f"{k} {parts[k]:,.0f} ({100 * parts[k] / total:.0f}%, gap {gap:.0f}%)")
        print(f"seed {seed}: job grid {total:,.0f} kWh; " + "; ".join(line)
              + f" (static {static_kwh:,.0f}, spacetime bound {bound:,.0f})", flush=True)
    rng = np.random.default_rng(0)
    for k in PARTS:
        share = np.array(shares[k])
        boot = [share[rng.integers(0, share.size, share.size)].mean() for _ in range(5000)]
        lo, hi = np.percentile(boot, [2.5, 97.5]) * 100
        print(f"{k}, mean over {share.size} seeds: {share.mean() * 100:.1f}% [{lo:.1f}, "
              f"{hi:.1f}] of the job grid energy; gap closed were it taken "
              f"{np.mean(gaps[k]):.0f}% (min {np.min(gaps[k]):.0f}%, max "
              f"{np.max(gaps[k]):.0f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
