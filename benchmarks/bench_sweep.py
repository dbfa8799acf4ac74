"""The same sweep cells one after another in one process vs on Ray (this machine's cores),
vs on a local multi-node Ray cluster; reports the speed-up ratios (target >= 1.7x on 2 cores).

Cells: the packaged default scenario (seven sites on real traces, a month of jobs) without
its offline bounds, seeds x policies (default 1-8 x static, energy-greedy,
feasibility-aware). Every contender writes its own output directory; the cells of all
three are checked to be identical. Ray start-up is timed apart from the sweep itself, so
both the end-to-end and the cells-only ratios are shown.

    .venv/bin/python benchmarks/bench_sweep.py
    .venv/bin/python benchmarks/bench_sweep.py --seeds 1-4 --horizon 14d
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def _spec(seeds: str, policies: list[str], horizon: str):
    from greenhop.core.units import parse_duration
    from greenhop.sim.scenario import scenario_document
    from greenhop.sim.sweep import prepare_sweep

    doc, _, _ = scenario_document(None)
    doc = dict(doc)
    doc.pop("bounds", None)  # LP solves would dominate; this measures the policy cells
    doc["horizon"] = horizon
    gen = dict(doc["generator"])
    horizon_s = parse_duration(horizon)
    if parse_duration(gen.get("until", horizon)) > 0.8 * horizon_s:  # arrivals in the horizon
        gen["until"] = f"{0.8 * horizon_s:g}s"
    doc["generator"] = gen
    return prepare_sweep(doc, seeds=seeds, policies=policies)


def _cells(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((out / "cells").glob("*.json"))}


def main() -> None:
    from rich.progress import Progress

    from greenhop.sim.sweep import run_sweep
    from greenhop.sim.sweep_ray import OBJECT_STORE_BYTES, import_ray

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1-8")
    ap.add_argument("--policies", default="static,energy-greedy,feasibility-aware")
    ap.add_argument("--horizon", default="30d")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 1,
                    help="Ray CPUs (local instance; the cluster gets one node per CPU)")
    args = ap.parse_args()
    ray = import_ray()
    from ray.cluster_utils import Cluster

    spec = _spec(args.seeds, args.policies.split(","), args.horizon)
    n = len(spec.cells())
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    load = os.getloadavg()
    print(f"greenhop sweep benchmark: {len(spec.seeds)} seeds x {len(spec.policies)} policies "
          f"= {n} cells, default scenario over {args.horizon}; {os.cpu_count()} cores, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; Python "
          f"{sys.version.split()[0]}, Ray {ray.__version__}")

    def timed(label: str, **kw) -> float:
        with Progress(transient=True) as bar:
            task = bar.add_task(label, total=n)
            t0 = time.perf_counter()
            run_sweep(spec, tmp / label, progress=lambda d, t: bar.update(task, completed=d),
                      **kw)
            return time.perf_counter() - t0

    t_serial = timed("serial", serial=True)

    t0 = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
             _node_ip_address="127.0.0.1", log_to_driver=False, logging_level="ERROR")
    t_ray_init = time.perf_counter() - t0
    t_ray = timed("ray")
    t0 = time.perf_counter()
    ray.shutdown()
    t_ray_down = time.perf_counter() - t0

    node = {"num_cpus": 1, "object_store_memory": 80 * 1024**2, "node_ip_address": "127.0.0.1"}
    t0 = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        for _ in range(args.cpus - 1):
            cluster.add_node(**node)
        cluster.wait_for_nodes()
        t_cl_init = time.perf_counter() - t0
        t_cluster = timed("cluster", address=cluster.address)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()

    same = _cells(tmp / "serial") == _cells(tmp / "ray") == _cells(tmp / "cluster")
    print(f"{'contender':34s} {'wall s':>8s} {'cells/s':>8s} {'x serial':>9s}")
    rows = [("serial (one process, --serial)", t_serial, 0.0),
            (f"local Ray, {args.cpus} CPUs (cells only)", t_ray, 0.0),
            (f"local Ray, {args.cpus} CPUs (+ start/stop)", t_ray, t_ray_init + t_ray_down),
            (f"cluster, {args.cpus} nodes x 1 CPU (cells only)", t_cluster, 0.0),
            (f"cluster, {args.cpus} nodes x 1 CPU (+ start)", t_cluster, t_cl_init)]
    for label, t, extra in rows:
        total = t + extra
        print(f"{label:34s} {total:8.1f} {n / total:8.2f} {t_serial / total:8.2f}x")
    print(f"cells identical across the three: {same}")
    print(f"speed-up of the Ray sweep over serial: {t_serial / t_ray:.2f}x cells only, "
          f"{t_serial / (t_ray + t_ray_init + t_ray_down):.2f}x with start/stop "
          f"(target >= 1.7x); multi-node cluster: {t_serial / t_cluster:.2f}x")
    print(f"outputs in {tmp}")


if __name__ == "__main__":
    main()
