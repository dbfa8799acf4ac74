"""The same sweep cells one after another in one process vs on Ray (this machine's cores),
vs on a local multi-node Ray cluster; reports the speed-up ratios (target >= 1.7x on 2 cores).

Cells: the packaged default scenario (seven sites on real traces, a month of jobs) without
its offline bounds, seeds x policies (default 1-8 x static, energy-greedy,
feasibility-aware). Each contender is the whole ``greenhop sweep`` command in a fresh
process (so each pays for its imports and its workers' trace computation, as a user's
would): ``--serial``, ``--workers N`` (a local Ray instance, its start and stop
included) and ``--address`` of a local cluster of N one-CPU nodes (started beforehand,
its start-up reported apart). Rounds are interleaved, their order rotated, and medians
reported; every run's cells are checked to be identical.

    .venv/bin/python benchmarks/bench_sweep.py
    .venv/bin/python benchmarks/bench_sweep.py --seeds 1-4 --horizon 14d --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GREENHOP = str(Path(sys.executable).with_name("greenhop"))


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


def _run(args: list[str]) -> float:
    """Wall time of one ``greenhop sweep`` process (fresh: no warm trace cache)."""
    t0 = time.perf_counter()
    proc = subprocess.run([GREENHOP, "sweep", *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"greenhop sweep {' '.join(args)} failed:\n{proc.stderr}")
    return wall


def main() -> None:
    from greenhop.sim.sweep_ray import import_ray

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1-8")
    ap.add_argument("--policies", default="static,energy-greedy,feasibility-aware")
    ap.add_argument("--horizon", default="30d")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (medians)")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 1,
                    help="Ray CPUs (local instance; the cluster gets one node per CPU)")
    args = ap.parse_args()
    ray = import_ray()
    from ray.cluster_utils import Cluster

    spec = _spec(args.seeds, args.policies.split(","), args.horizon)
    n = len(spec.cells())
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    scenario_toml = tmp / "bench.toml"  # the scenario as a file for the command line
    scenario_toml.write_text(_toml(spec.document), encoding="utf-8")
    common = [str(scenario_toml), "--seeds", args.seeds, "--policies", args.policies]
    load = os.getloadavg()
    print(f"greenhop sweep benchmark: {len(spec.seeds)} seeds x {len(spec.policies)} policies "
          f"= {n} cells, default scenario over {args.horizon}; {os.cpu_count()} cores, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start; Python "
          f"{sys.version.split()[0]}, Ray {ray.__version__}; {args.rounds} interleaved rounds")

    node = {"num_cpus": 1, "object_store_memory": 80 * 1024**2, "node_ip_address": "127.0.0.1"}
    # the cluster's workers at normal priority like the local instance's (Ray's default is
    # nice 15); the raylets this process starts read it from the environment
    os.environ["RAY_worker_niceness"] = "0"  # noqa: SIM112 (Ray spells it so)
    times: dict[str, list[float]] = {"serial": [], "ray": [], "cluster": [], "cluster start": []}
    loads = []
    for r in range(args.rounds):
        order = ["serial", "ray", "cluster"]
        order = order[r % 3:] + order[:r % 3]  # rotate: no contender always runs first
        for who in order:
            out = tmp / f"{who}-{r}"
            loads.append(os.getloadavg()[0])
            if who == "serial":
                times[who].append(_run([*common, "--serial", "--out", str(out)]))
            elif who == "ray":
                times[who].append(_run([*common, "--workers", str(args.cpus),
                                        "--out", str(out)]))
            else:
                t0 = time.perf_counter()
                cluster = Cluster(initialize_head=True,
                                  head_node_args={**node, "include_dashboard": False})
                try:
                    for _ in range(args.cpus - 1):
                        cluster.add_node(**node)
                    cluster.wait_for_nodes()
                    times["cluster start"].append(time.perf_counter() - t0)
                    times[who].append(_run([*common, "--address", cluster.address,
                                            "--out", str(out)]))
                finally:
                    cluster.shutdown()
            print(f"  round {r + 1} {who:8s} {times[who][-1]:7.1f} s "
                  f"(load average {loads[-1]:.1f})", flush=True)

    ref = _cells(tmp / "serial-0")
    same = all(_cells(p) == ref for p in tmp.iterdir() if p.is_dir())
    med = {k: statistics.median(v) for k, v in times.items() if v}
    best = {k: min(v) for k, v in times.items() if v}
    print(f"{'contender (whole command)':44s} {'median s':>9s} {'best s':>8s} "
          f"{'x serial (median)':>18s}")
    rows = [("serial: greenhop sweep --serial", "serial"),
            (f"local Ray: --workers {args.cpus}", "ray"),
            (f"cluster, {args.cpus} nodes x 1 CPU: --address", "cluster")]
    for label, k in rows:
        print(f"{label:44s} {med[k]:9.1f} {best[k]:8.1f} {med['serial'] / med[k]:17.2f}x")
    print(f"{'(cluster start-up, not in the row above)':44s} {med['cluster start']:9.1f} "
          f"{best['cluster start']:8.1f}")
    print(f"cells identical across all runs: {same}")
    print(f"speed-up over serial: local Ray {med['serial'] / med['ray']:.2f}x median, "
          f"{best['serial'] / best['ray']:.2f}x best (target >= 1.7x); multi-node cluster "
          f"{med['serial'] / med['cluster']:.2f}x median, "
          f"{best['serial'] / best['cluster']:.2f}x best; load average during the runs "
          f"{min(loads):.1f}-{max(loads):.1f}")
    print(f"outputs in {tmp}")


def _toml(doc: dict) -> str:
    """A TOML rendering of a scenario document (tables, arrays of tables, plain values)."""
    lines: list[str] = []

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"
        return repr(v)

    def table(prefix: str, d: dict) -> None:
        for k, v in d.items():
            if not isinstance(v, dict) and not (isinstance(v, list) and v
                                                and all(isinstance(x, dict) for x in v)):
                lines.append(f"{json.dumps(k)} = {value(v)}")
        for k, v in d.items():
            name = f"{prefix}{json.dumps(k)}"
            if isinstance(v, dict):
                lines.append(f"[{name}]")
                table(f"{name}.", v)
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                for x in v:
                    lines.append(f"[[{name}]]")
                    table(f"{name}.", x)

    table("", doc)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
