"""Random micro-fleets and random policies: no run ever beats its bound (hypothesis).

Two sites with random hourly renewables, an optional battery and grid limit, 1-3 random jobs,
and policies that migrate, suspend, resume and place at random (the engine rejects what its
admission rules do not allow). Whatever work a run did, its job grid energy is at least the
bound priced at that work (``BoundResult.for_run``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simkit import Chaos, micro, site

from greenhop.core.observation import Migrate, Resume, Suspend
from greenhop.policies import make_policy
from greenhop.sim.attribution import base_only_dispatch
from greenhop.sim.bounds import compute_bound
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

HOURS = 6
TOL_J = 3.6  # 1e-6 kWh


class Moves(Chaos):
    """Random migrations, suspensions and resumes."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed, rate=0.4)
        self.kinds = (Migrate, Suspend, Resume, Resume)


kw = st.floats(0.0, 4.0, allow_nan=False)
job = st.fixed_dictionaries({
    "gpus": st.sampled_from([1, 2]),
    "work_gpu_h": st.floats(0.3, 3.0),
    "arrival_h": st.integers(0, 2),
    "mobility": st.sampled_from(["migratable", "migratable", "pinned", "partial"]),
    "origin": st.sampled_from(["a", "b"]),
})


def _hourly(values_kw):
    return {"kind": "values", "values": [v * 1000.0 for v in values_kw for _ in range(12)]}


@settings(max_examples=40, deadline=None)
@given(ren_a=st.lists(kw, min_size=HOURS, max_size=HOURS),
       ren_b=st.lists(kw, min_size=HOURS, max_size=HOURS),
       jobs=st.lists(job, min_size=1, max_size=3), battery=st.booleans(),
       limit=st.booleans(), seed=st.integers(0, 10_000), tput_b=st.sampled_from([1.0, 2.0]))
def test_random_runs_never_beat_their_bound(ren_a, ren_b, jobs, battery, limit, seed,
                                                tput_b):
    extra_a = {"battery": {"capacity": "2kWh", "power": "1kW", "initial_soc": 0.5,
                           "min_soc": 0.1}} if battery else {}
    extra_b = {"grid_import_limit": "1.5kW"} if limit else {}
    d = micro(horizon=f"{HOURS}h",
              sites=[site("a", power=None, slots=3, trace=_hourly(ren_a), **extra_a),
                     site("b", power=None, slots=3, tput=tput_b, trace=_hourly(ren_b),
                          **extra_b)],
              jobs=[{"name": f"j{i}", "arrival": f"{j['arrival_h']}h",
                     "work_gpu_h": j["work_gpu_h"], "checkpoint": "1GB", "gpus": j["gpus"],
                     "mobility": j["mobility"], "origin": j["origin"],
                     **({"migratable_share": 0.5} if j["mobility"] == "partial" else {})}
                    for i, j in enumerate(jobs)])
    inp = build_inputs(load_scenario(d))
    base_j = base_only_dispatch(inp).total_j("grid")
    static = Engine(inp, make_policy("static")).run()
    # Chaos also places queued jobs anywhere, pinned ones included: for_run() must then
    # refuse (None) the runs that put a pinned job away from its origin.
    runs = [static, Engine(inp, Moves(seed)).run(), Engine(inp, Chaos(seed, rate=0.5)).run()]
    for kind in ("space", "spacetime"):
        for deadlines in (False, True):
            b = compute_bound(inp, kind, static=static, deadlines=deadlines)
            assert b.status == "Optimal"
            assert b.for_run(inp, static) == pytest.approx(b.job_nr_kwh, abs=1e-9)
            for run in runs:
                own = b.for_run(inp, run)
                if own is not None:
                    nr = float(run.energy_j["grid"].sum()) - base_j
                    assert nr >= own * 3.6e6 - TOL_J, (kind, deadlines, nr, own)
            assert np.all(b.job_work_gpu_s >= 0)
