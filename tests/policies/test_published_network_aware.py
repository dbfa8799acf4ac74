"""``network-aware`` (c-NEMESIS): never two transfers on a saturated link at once, while
transfers on disjoint paths still run side by side."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.core.errors import ConfigError
from greenhop.policies import make_policy
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario


def link(a: str, b: str, bandwidth: str = "1Gbps") -> dict:
    return {"a": a, "b": b, "bandwidth": bandwidth, "efficiency": 0.5, "rtt": "10ms",
            "energy_per_bit": 1e-8}


def job(name: str, origin: str) -> dict:
    return {"name": name, "arrival": "0s", "work_gpu_h": 4.0, "checkpoint": "20GB",
            "gpus": 1, "origin": origin}


def scenario() -> dict:
    """Sources a1, a2 without surplus, sink b with plenty; a1 -- b and a2 -- b links of
    1 Gbit/s x 0.5 (a 20 GB checkpoint needs 320 s on the wire alone); two jobs at a1,
    one at a2."""
    sites = [simkit.site("a1", power="1kW"), simkit.site("a2", power="1kW"),
             simkit.site("b", power="20kW", slots=8)]
    return simkit.micro(horizon="6h", history="1d", sites=sites,
                        links=[link("a1", "b"), link("a2", "b")],
                        jobs=[job("x1", "a1"), job("x2", "a1"), job("y", "a2")],
                        window_threshold="1kW")


def run(d: dict, name: str):
    inp = build_inputs(load_scenario(d))
    return inp, Engine(inp, make_policy(name), record=True).run()


def overlapping_pairs_on_a_link(inp, migrations) -> int:
    """Pairs of migrations whose [start, end) intervals overlap and whose paths share a
    link."""
    n = inp.network.n_sites
    count = 0
    for i, m in enumerate(migrations):
        for o in migrations[i + 1:]:
            shared = (inp.network.route[m["src"] * n + m["dst"]]
                      & inp.network.route[o["src"] * n + o["dst"]]).any()
            overlap = m["start_s"] < o["end_s"] and o["start_s"] < m["end_s"]
            count += int(shared and overlap)
    return count


def test_never_two_transfers_on_a_saturated_link_but_disjoint_paths_run_together():
    inp, res = run(scenario(), "network-aware")
    migs = res.migrations
    assert len(migs) == 3 and all(m["end_s"] is not None for m in migs)
    assert overlapping_pairs_on_a_link(inp, migs) == 0
    # y (a2 -> b) moves alongside the first of a1's jobs: only a1 -- b is taken
    first = min(m["start_s"] for m in migs)
    starts_first = sorted(m["src"] for m in migs if m["start_s"] == first)
    assert starts_first == [0, 1]
    # the second a1 job waits for the first to finish, then goes
    a1 = sorted((m for m in migs if m["src"] == 0), key=lambda m: m["start_s"])
    assert a1[1]["start_s"] >= a1[0]["end_s"]
    # energy-greedy sends both a1 jobs at once over the same link
    inp, greedy = run(scenario(), "energy-greedy")
    assert overlapping_pairs_on_a_link(inp, greedy.migrations) >= 1


def test_each_transfer_gets_the_link_to_itself_so_downtime_is_as_estimated():
    _inp, res = run(scenario(), "network-aware")
    # 20 GB: save 10 s + 160e9 bit / 0.5e9 bit/s = 320 s + restore 10 s + 60 s = 400 s
    downs = [m["end_s"] - m["start_s"] for m in res.migrations]
    assert downs == pytest.approx([400.0] * 3)
    _inp, greedy = run(scenario(), "energy-greedy")
    assert max(m["end_s"] - m["start_s"] for m in greedy.migrations) > 400.0 + 1.0


def test_a_multi_hop_transfer_reserves_every_link_of_its_path():
    """a -- m -- b: a transfer a -> b holds both links, so m -> b must wait for it."""
    sites = [simkit.site("a", power="1kW"), simkit.site("m", power="1kW"),
             simkit.site("b", power="20kW", slots=8)]
    d = simkit.micro(horizon="6h", history="1d", sites=sites,
                     links=[link("a", "m"), link("m", "b")],
                     jobs=[job("x", "a"), job("y", "m")], window_threshold="1kW")
    inp, res = run(d, "network-aware")
    assert len(res.migrations) == 2
    assert overlapping_pairs_on_a_link(inp, res.migrations) == 0
    assert np.all([m["end_s"] is not None for m in res.migrations])


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="network-aware"):
        make_policy("network-aware", window_share=0.0)


def overloaded_links(inp, migrations) -> int:
    """(instant, link) pairs where the migrations in flight ask a link for more than its
    rate: each one asks its rate alone, ``efficiency x bottleneck bandwidth`` (lossless
    paths here), checked at every migration's start."""
    net = inp.network
    n = net.n_sites
    count = 0
    for m in migrations:
        t = m["start_s"]
        load = np.zeros(net.link_eff_bps.shape)
        for o in migrations:
            if o["start_s"] <= t < o["end_s"]:
                s, d = o["src"], o["dst"]
                load += net.route[s * n + d] * net.efficiency[s, d] * net.bandwidth_bps[s, d]
        count += int(np.count_nonzero(load > net.link_eff_bps * (1 + 1e-9)))
    return count


@settings(max_examples=12, deadline=None)
@given(st.integers(3, 5), st.data())
def test_no_link_is_ever_asked_for_more_than_its_rate(n_sites, data):
    """Random fleets (a random spanning tree of links, random bandwidths, surpluses and
    jobs; s0 has no surplus, the last site plenty): whatever moves, the migrations in
    flight together never ask a link for more than its rate, so none congests it (on a
    lossless path a transfer fills its bottleneck: no second one shares that link)."""
    names = [f"s{i}" for i in range(n_sites)]
    powers = (["1kW"] + [f"{data.draw(st.sampled_from([1, 2, 6, 20]))}kW"
                         for _ in range(n_sites - 2)] + ["20kW"])
    sites = [simkit.site(n, power=p, slots=6) for n, p in zip(names, powers, strict=True)]
    links = [link(names[i], names[data.draw(st.integers(0, i - 1))],
                  f"{data.draw(st.sampled_from([1, 2, 10]))}Gbps")
             for i in range(1, n_sites)]
    jobs = [{"name": f"j{k}", "arrival": f"{data.draw(st.integers(0, 60))}min",
             "work_gpu_h": 3.0, "checkpoint": f"{data.draw(st.sampled_from([5, 20, 60]))}GB",
             "gpus": 1, "origin": "s0" if k == 0 else data.draw(st.sampled_from(names[:2]))}
            for k in range(data.draw(st.integers(2, 8)))]
    d = simkit.micro(horizon="4h", history="1d", sites=sites, links=links, jobs=jobs,
                     window_threshold="1kW")
    inp, res = run(d, "network-aware")
    # a migration still in flight at the end holds its links to the end
    migs = [{**m, "end_s": np.inf if m["end_s"] is None else m["end_s"]}
            for m in res.migrations]
    assert migs  # j0 starts at s0, which has no surplus, so something moves
    assert overloaded_links(inp, migs) == 0
