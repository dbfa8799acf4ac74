"""A sweep joining a multi-node Ray cluster (a head and two worker nodes on this machine):
the cells spread over the nodes and equal those of a serial run."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import sweepkit

from greenhop.sim.sweep import prepare_sweep, run_sweep
from greenhop.sim.sweep_ray import import_ray

STORE_BYTES = 80 * 1024**2


@pytest.fixture
def cluster():
    ray = import_ray()  # before anything imports ray: sets the environment it reads
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": STORE_BYTES, "node_ip_address": "127.0.0.1"}
    c = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        for _ in range(2):
            c.add_node(**node)
        c.wait_for_nodes()
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


def test_cells_spread_over_nodes_and_equal_the_serial_run(cluster, tmp_path):
    path = sweepkit.write(tmp_path)
    spec = prepare_sweep(path, seeds="1-6", policies=["static", "energy-greedy"])
    out = run_sweep(spec, tmp_path / "cluster", address=cluster.address)
    nodes = Counter(json.loads(p.read_text())["node_id"]
                    for p in (out.out / "meta").glob("*.json"))
    assert sum(nodes.values()) == 12
    assert len(nodes) >= 2, nodes
    assert None not in nodes
    serial = run_sweep(spec, tmp_path / "serial", serial=True)
    for p in sorted((serial.out / "cells").glob("*.json")):
        assert (out.out / "cells" / p.name).read_text() == p.read_text(), p.name
    for name in ("cells.parquet", "cells.csv", "summary.json", "report.html"):
        assert (out.out / name).read_bytes() == (serial.out / name).read_bytes(), name
