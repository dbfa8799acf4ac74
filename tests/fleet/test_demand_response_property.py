"""Property: with a limit at or above a site's immovable load (its base load; no pinned
jobs) and a lead time long enough to checkpoint, enforcement keeps the site's grid import
under the limit at every step of the event, whatever the jobs, sites and renewables."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenhop.policies import make_policy
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import run_metrics
from greenhop.sim.scenario import load_scenario


def _site(name, renewable_w, base_w, slots):
    return {"name": name, "latitude": 0.0, "longitude": 0.0, "gpu_slots": slots,
            "base_load": f"{base_w}W", "pue": 1.2, "gpu_power": "400W", "gpu_idle": "50W",
            "throughput": 1.0, "trace": {"kind": "constant", "power": f"{renewable_w}W"}}


@st.composite
def fleets(draw):
    n_sites = draw(st.integers(2, 3))
    sites = [_site(f"s{i}", draw(st.sampled_from([0, 2000, 20000])),
                   draw(st.integers(200, 2000)), draw(st.integers(1, 4)))
             for i in range(n_sites)]
    links = [{"a": sites[i]["name"], "b": sites[k]["name"], "bandwidth": "1Gbps"}
             for i in range(n_sites) for k in range(i + 1, n_sites)]
    jobs = []
    for j in range(draw(st.integers(1, 5))):
        jobs.append({"name": f"j{j}", "arrival": f"{draw(st.integers(0, 90))}min",
                     "work_gpu_h": draw(st.sampled_from([0.5, 2.0, 6.0])),
                     "checkpoint": draw(st.sampled_from(["1GB", "20GB"])),
                     "gpus": 1, "origin": draw(st.sampled_from([s["name"] for s in sites]))})
    target = draw(st.sampled_from(sites))
    base = float(target["base_load"][:-1]) * 1.2
    extra = draw(st.sampled_from([0.0, 0.3, 0.9, 1.5])) * 480.0 * target["gpu_slots"]
    event = {"id": "ev", "site": target["name"], "start": f"{draw(st.integers(2, 4))}h",
             "duration": f"{draw(st.integers(1, 3))}h",
             "lead": f"{draw(st.integers(60, 120))}min", "limit": base + extra}
    return {"name": "dr-property", "start": "2023-01-01T00:00:00Z", "horizon": "8h",
            "step": "10min", "history": "0s", "seed": 0, "policies": ["static"],
            "sites": sites, "links": links, "jobs": jobs, "grid": {"events": [event]}}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleets(), st.sampled_from(["static", "energy-greedy", "feasibility-aware"]))
def test_enforcement_keeps_the_site_under_a_limit_above_its_immovable_load(d, policy):
    inp = build_inputs(load_scenario(d))
    res = Engine(inp, make_policy(policy), record=True).run()
    m = run_metrics(inp, res)
    ev = d["grid"]["events"][0]
    s = [x["name"] for x in d["sites"]].index(ev["site"])
    lo = int(ev["start"][:-1]) * 6
    hi = lo + int(ev["duration"][:-1]) * 6
    assert (res.grid_w[lo:hi, s] <= ev["limit"] + 1e-6).all()
    assert m["dr_compliance_pct"] == 100.0 and m["dr_best_effort"] == 0
    # every job is still accounted for: done, or somewhere in the fleet
    assert np.isfinite(res.job_remaining_gpu_s).all()
