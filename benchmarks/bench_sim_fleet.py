"""A fleet-sized run: 100 sites x 1,000 jobs x one year at 5-minute steps, feasibility-aware.

Sites: the seven sites of the default fleet, each with its real one-year renewable
trace (pvlib / windpowerlib on TMY weather, clear-sky-index PV), cloned to 100 sites
with capacities scaled by 0.5-1.5 and the trace shifted by a whole number of hours
(as if further east or west); 16 A100 slots each, base load 20 kW, PUE 1.2, a
battery at every third site. WAN: a ring plus 100 random chords (1-100 Gbit/s).
Jobs: 1,000 over the year (Poisson), the default scenario's model mix, 8-400
GPU-hours, 1-8 GPUs. Reports the simulation's wall time (trace building apart) and
the process's peak resident memory (targets: <= 60 s and <= 4 GB).

    .venv/bin/python benchmarks/bench_sim_fleet.py
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time

import numpy as np


def scenario(n_sites: int, n_jobs: int, days: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    sites = []
    for i in range(n_sites):
        s = {
            "name": f"mdc-{i:03d}",
            "latitude": 0.0,
            "longitude": 0.0,
            "gpu_slots": 16,
            "base_load": "20kW",
            "pue": 1.2,
            "trace": {"kind": "constant", "power": "0W"},
        }
        if i % 3 == 0:
            s["battery"] = {"capacity": "200kWh", "power": "50kW"}
        sites.append(s)
    links = [
        {
            "a": f"mdc-{i:03d}",
            "b": f"mdc-{(i + 1) % n_sites:03d}",
            "bandwidth": "10Gbps",
            "rtt": f"{int(rng.integers(10, 80))}ms",
        }
        for i in range(n_sites)
    ]
    pairs = {tuple(sorted((i, (i + 1) % n_sites))) for i in range(n_sites)}
    while len(links) < 2 * n_sites:
        a, b = (int(x) for x in rng.choice(n_sites, 2, replace=False))
        if tuple(sorted((a, b))) in pairs:
            continue
        pairs.add(tuple(sorted((a, b))))
        links.append(
            {
                "a": f"mdc-{a:03d}",
                "b": f"mdc-{b:03d}",
                "bandwidth": f"{int(rng.choice([1, 10, 40, 100]))}Gbps",
                "rtt": f"{int(rng.integers(20, 250))}ms",
            }
        )
    return {
        "name": "fleet-bench",
        "start": "2023-01-01T00:00:00Z",
        "horizon": f"{days}d",
        "step": "5min",
        "history": "7d",
        "seed": seed,
        "policies": ["feasibility-aware"],
        "sites": sites,
        "links": links,
        "generator": {
            "count": n_jobs,
            "until": f"{int(days * 0.9)}d",
            "work_gpu_h": [8, 400],
            "gpus": [1, 2, 4, 8],
            "gpu_weights": [0.3, 0.3, 0.25, 0.15],
            "mobility": {"migratable": 0.8, "pinned": 0.1, "partial": 0.1},
            "models": [
                {"name": "resnet50", "params": 25.6e6, "preset": "fp32-adam", "weight": 0.25},
                {"name": "bert-large", "params": 340e6, "weight": 0.25},
                {"name": "gpt2-xl", "params": 1.5e9, "weight": 0.2},
                {"name": "llama-7b", "params": 6.7e9, "weight": 0.2},
                {"name": "llama-13b", "params": 13e9, "weight": 0.1},
            ],
        },
    }


def real_traces(inputs, seed: int) -> np.ndarray:
    """[H+T, S] renewable power: the default fleet's real traces, scaled and shifted."""
    from greenhop.traces.fleet import load_fleet
    from greenhop.traces.site_model import renewable_power

    fleet = load_fleet()
    base = np.column_stack(
        [renewable_power(s, inputs.index)["renewable_w"].to_numpy() for s in fleet.sites]
    )
    rng = np.random.default_rng(seed)
    steps_per_h = round(3600 / inputs.scenario.step_s)
    S = len(inputs.scenario.sites)
    out = np.empty((base.shape[0], S))
    for i in range(S):
        col = base[:, i % base.shape[1]] * rng.uniform(0.5, 1.5)
        out[:, i] = np.roll(col, int(rng.integers(-12, 13)) * steps_per_h)
    return out


def with_traces(inputs, renewable_w: np.ndarray):
    from greenhop.traces.windows import remaining_window_s

    sc = inputs.scenario
    H = inputs.history_steps
    surplus = renewable_w - inputs.base_demand_w[None, :]
    rem = remaining_window_s(surplus[H:].T, sc.window_threshold_w, sc.step_s).T
    rem = np.vstack([rem, np.zeros((1, rem.shape[1]))])
    return dataclasses.replace(
        inputs, renewable_w=renewable_w, surplus_w=surplus, remaining_window_s=rem
    )


def main() -> None:
    from rich.progress import Progress

    from greenhop.policies import make_policy
    from greenhop.sim.engine import Engine
    from greenhop.sim.inputs import build_inputs
    from greenhop.sim.metrics import run_metrics
    from greenhop.sim.scenario import load_scenario

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    t0 = time.perf_counter()
    inputs = build_inputs(load_scenario(scenario(args.sites, args.jobs, args.days, args.seed)))
    inputs = with_traces(inputs, real_traces(inputs, args.seed))
    t_build = time.perf_counter() - t0
    n_steps = inputs.n_steps
    with Progress(transient=True) as bar:
        task = bar.add_task("simulating", total=n_steps)
        engine = Engine(
            inputs,
            make_policy("feasibility-aware"),
            on_progress=lambda done: bar.update(task, completed=done),
        )
        t1 = time.perf_counter()
        res = engine.run()
        t_run = time.perf_counter() - t1
    m = run_metrics(inputs, res)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_gb = peak_kb * (1 if sys.platform == "darwin" else 1024) / 1e9
    print(
        f"{args.sites} sites x {len(inputs.jobs)} jobs x {args.days} days at 5 min "
        f"({n_steps} steps, {len(inputs.scenario.links)} links), feasibility-aware"
    )
    print(f"  inputs (traces, routing, jobs): {t_build:6.1f} s")
    print(
        f"  simulation:                     {t_run:6.1f} s  "
        f"({n_steps * args.sites / t_run:,.0f} site-steps/s, "
        f"{1e6 * t_run / n_steps:,.0f} us/step)  target <= 60 s"
    )
    print(f"  peak resident memory:           {peak_gb:6.2f} GB  target <= 4 GB")
    print(
        f"  migrations {m['migrations']}, finished {m['finished_jobs']}/{m['jobs']} jobs, "
        f"non-renewable {m['non_renewable_kwh']:,.0f} kWh"
    )


if __name__ == "__main__":
    main()
