"""greenhop's simulator vs Vessim 0.16 on the same microgrid: site-steps per second.

One site, one year at 5-minute steps (105,120 steps): a real PV trace (pvlib on the
Greensboro TMY weather, 250 kWp), a constant 30 kW load, a lossless 150 kWh battery
(c-rate 0.5, as Vessim's SimpleBattery has no conversion losses) and the grid. Both
engines get the same PV array; trace building is not timed. Runs are interleaved,
``--repeats`` times each; the medians give the ratio (target: >= 50x).

A second greenhop figure adds training jobs on the same site (static policy: 40 jobs
over the year), which Vessim has no counterpart for; it shows the cost of the job loop.

    .venv/bin/python benchmarks/bench_sim_vs_vessim.py --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

CAP_WH = 150_000.0
C_RATE = 0.5
LOAD_W = 30_000.0


def scenario(days: int, jobs: bool) -> dict:
    d = {
        "name": "one-site-year",
        "start": "2023-01-01T00:00:00Z",
        "horizon": f"{days}d",
        "step": "5min",
        "history": "0s",
        "policies": ["static"],
        "jobs": [],
        "sites": [
            {
                "name": "microgrid",
                "latitude": 36.1,
                "longitude": -79.95,
                "pv_kwp": 250.0,
                "pv_source": "tmy:greensboro",
                "base_load": f"{LOAD_W}W",
                "pue": 1.0,
                "gpu_slots": 16,
                "battery": {
                    "capacity": f"{CAP_WH}Wh",
                    "power": f"{C_RATE * CAP_WH}W",
                    "round_trip_efficiency": 1.0,
                    "initial_soc": 0.5,
                    "min_soc": 0.1,
                },
            }
        ],
    }
    if jobs:
        d.pop("jobs")
        d["generator"] = {
            "count": 40,
            "work_gpu_h": [20, 400],
            "gpus": [1, 2, 4, 8],
            "models": [{"name": "llama-7b", "params": 6.7e9}],
            "until": f"{int(days * 0.9)}d",
        }
    return d


def run_greenhop(inputs) -> tuple[float, float]:
    from greenhop.policies import make_policy
    from greenhop.sim.engine import Engine

    t0 = time.perf_counter()
    res = Engine(inputs, make_policy("static")).run()
    return time.perf_counter() - t0, float(res.energy_j["grid"].sum())


def run_vessim(pv_w: np.ndarray, dt_s: int) -> tuple[float, float]:
    import vessim as vs

    class GridLog(vs.Controller):
        def __init__(self) -> None:
            self.p: list[float] = []

        def step(self, now, microgrid_states) -> None:
            self.p.append(microgrid_states["mg"]["p_grid"])

    idx = pd.to_timedelta(np.arange(pv_w.size) * dt_s, unit="s")
    t0 = time.perf_counter()
    env = vs.Environment(sim_start="2023-01-01", step_size=dt_s)
    log = GridLog()
    env.add_microgrid(
        actors=[
            vs.Producer("pv", signal=vs.Trace(pd.Series(pv_w, index=idx))),
            vs.Consumer("load", signal=LOAD_W),
        ],
        dispatchables=[
            vs.SimpleBattery(
                "battery", capacity=CAP_WH, initial_soc=0.5, min_soc=0.1, c_rate=C_RATE
            ),
            vs.GridConnection("grid"),
        ],
        name="mg",
    )
    env.add_controller(log)
    env.run(until=pv_w.size * dt_s)
    elapsed = time.perf_counter() - t0
    return elapsed, float(np.maximum(-np.asarray(log.p), 0.0).sum() * dt_s)


def main() -> None:
    from importlib.metadata import version

    from greenhop.sim.inputs import build_inputs
    from greenhop.sim.scenario import load_scenario

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    energy = build_inputs(load_scenario(scenario(args.days, jobs=False)))
    with_jobs = build_inputs(load_scenario(scenario(args.days, jobs=True)))
    pv = energy.renewable_w[:, 0].copy()
    steps = pv.size
    g, gj, v = [], [], []
    for _ in range(args.repeats):
        t, grid_g = run_greenhop(energy)
        g.append(t)
        t, _ = run_greenhop(with_jobs)
        gj.append(t)
        t, grid_v = run_vessim(pv, 300)
        v.append(t)
    mg, mgj, mv = statistics.median(g), statistics.median(gj), statistics.median(v)
    print(
        f"one site, {args.days} days at 5 min = {steps} steps; vessim {version('vessim')}; "
        f"{args.repeats} interleaved repeats (median, best)"
    )
    print(
        f"  grid import: greenhop {grid_g / 3.6e6:,.1f} kWh, vessim {grid_v / 3.6e6:,.1f} kWh "
        f"({100 * (grid_g - grid_v) / grid_v:+.3f}%)"
    )
    print(
        f"  vessim (native engine)      {mv:8.3f} s  {steps / mv:12,.0f} site-steps/s  "
        f"(best {min(v):.3f} s)"
    )
    print(
        f"  greenhop, energy only       {mg:8.3f} s  {steps / mg:12,.0f} site-steps/s  "
        f"(best {min(g):.3f} s)  -> {mv / mg:,.0f}x vessim"
    )
    print(
        f"  greenhop, + {len(with_jobs.jobs)} jobs (static) {mgj:8.3f} s  "
        f"{steps / mgj:12,.0f} site-steps/s  (best {min(gj):.3f} s)  -> {mv / mgj:,.1f}x vessim"
    )


if __name__ == "__main__":
    main()
