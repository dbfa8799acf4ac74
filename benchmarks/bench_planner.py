"""horizon-planner's decision latency at fleet scale, beside feasibility-aware's.

100 sites x 1,000 jobs (the controller benchmark's fleet, ``bench_controller.fleet_scenario``:
one 10 Gbit/s ring, a day of diurnal PV per site, 1-GPU jobs), simulated at 15-min steps.
At every decision the same Observation is handed to ``horizon-planner`` (planning at every
decision: ``epoch_s`` = the step) and to a ``feasibility-aware`` instance; both are timed
side by side and the planner's actions are applied. Reported: median and p95 decide time
of each and their ratio, the LP's size, and fallbacks. Target: planner p95 <= 1 s.

    .venv/bin/python benchmarks/bench_planner.py [--rounds 24] [--jobs 1000] [--sites 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


class SideBySide:
    """Times the planner and feasibility-aware on each Observation; applies the planner's."""

    def __init__(self, planner, reference, rounds: int) -> None:
        self.planner, self.reference = planner, reference
        self.name = planner.name
        self.capabilities = planner.capabilities
        self.rounds = rounds
        self.t_plan: list[float] = []
        self.t_ref: list[float] = []
        self.sizes: list[tuple[int, int]] = []
        self.actions = 0

    def counters(self) -> dict[str, float]:
        return self.planner.counters()

    def decide(self, obs):
        if len(self.t_plan) >= self.rounds or not (obs.job_phase == 2).any():
            return []
        t0 = time.perf_counter()
        self.reference.decide(obs)
        t1 = time.perf_counter()
        acts = self.planner.decide(obs)
        t2 = time.perf_counter()
        self.t_ref.append(t1 - t0)
        self.t_plan.append(t2 - t1)
        self.sizes.append(self.planner.last_size)
        self.actions += len(acts)
        print(f"  decision {len(self.t_plan)}: planner {1e3 * (t2 - t1):.0f} ms, "
              f"feasibility-aware {1e3 * (t1 - t0):.1f} ms, LP {self.planner.last_size}, "
              f"{len(acts)} actions", file=sys.stderr)
        return acts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=24)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--sites", type=int, default=100)
    ap.add_argument("--warm-start", action="store_true",
                    help="start each cluster's solve from its last basis")
    args = ap.parse_args()

    from bench_controller import fleet_scenario
    from greenhop.policies import make_policy
    from greenhop.sim.engine import Engine
    from greenhop.sim.inputs import build_inputs
    from greenhop.sim.scenario import load_scenario

    d = fleet_scenario(args.sites, args.jobs)
    d["horizon"] = f"{(args.rounds + 2) * 15}min"
    inp = build_inputs(load_scenario(d))
    planner = make_policy("horizon-planner", epoch_s=900.0, warm_start=args.warm_start)
    ref = make_policy("feasibility-aware")
    wrap = SideBySide(planner, ref, args.rounds)
    Engine(inp, wrap).run()
    tp = 1e3 * np.array(wrap.t_plan)
    tr = 1e3 * np.array(wrap.t_ref)
    c = planner.counters()
    cols = max(s[0] for s in wrap.sizes)
    rows = max(s[1] for s in wrap.sizes)
    p95 = float(np.percentile(tp, 95))
    print(f"{args.sites} sites x {args.jobs} jobs, {tp.size} decisions: horizon-planner median "
          f"{np.median(tp):.0f} ms, p95 {p95:.0f} ms; feasibility-aware median "
          f"{np.median(tr):.1f} ms, p95 {np.percentile(tr, 95):.1f} ms; ratio of medians "
          f"{np.median(tp) / np.median(tr):.0f}x; LP up to {cols} columns x {rows} rows; "
          f"{wrap.actions} actions, {int(c['planner_fallbacks'])} fallbacks of "
          f"{int(c['planner_solves'])} solves; target p95 <= 1000 ms: "
          f"{'met' if p95 <= 1000 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
