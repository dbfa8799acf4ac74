"""edge-fleet and edge-fleet-dc do the same work: for any seed both draw the same jobs."""

from __future__ import annotations

import pytest

from greenhop.core.platforms import platform
from greenhop.sim.scenario import load_scenario


@pytest.mark.parametrize("seed", [1, 7])
def test_the_edge_and_datacenter_fleets_get_the_same_jobs(seed):
    edge = load_scenario("edge-fleet").with_seed(seed)
    dc = load_scenario("edge-fleet-dc").with_seed(seed)
    a, b = edge.jobs(), dc.jobs()
    assert len(a) == len(b) == 40
    assert [(j.arrival_s, j.work_gpu_h, j.checkpoint_bytes, j.gpus) for j in a] == \
           [(j.arrival_s, j.work_gpu_h, j.checkpoint_bytes, j.gpus) for j in b]


def test_the_edge_fleet_is_many_small_edge_sites():
    edge, dc = load_scenario("edge-fleet"), load_scenario("edge-fleet-dc")
    assert len(edge.sites) == 24 and len(dc.sites) == 3
    assert {platform(s.spec.gpu_platform).kind for s in edge.sites} == {"edge"}
    assert {platform(s.spec.gpu_platform).kind for s in dc.sites} == {"datacenter"}
    # the same installed PV in all, slower links at the edge
    assert sum(s.spec.pv_kwp for s in edge.sites) == pytest.approx(
        sum(s.spec.pv_kwp for s in dc.sites))
    assert max(lk.bandwidth_bps for lk in edge.links) < min(lk.bandwidth_bps for lk in dc.links)
