"""An Observation holds the past and the present only: no attribute chain reaches the future.

The scenario's renewable traces carry a distinct value at every step, so a future value
anywhere in memory reachable from an Observation would be recognised. A probing policy
walks everything it can reach at each decision: public and private attributes,
``__slots__`` and ``__dict__``, ``.base`` chains of arrays, containers, closures and
bound methods; it also tries to write.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
from simkit import micro

from greenhop.core.observation import RUNNING, LeakageError, Migrate
from greenhop.policies.base import Capabilities, PolicyBase
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

HISTORY_STEPS = 6          # 30 min of history at 5-minute steps
STEPS = 24                 # 2 h


def trace(site: int) -> list[float]:
    """A value no other step or site has: 1.2 kW plus an odd fraction per step."""
    return [1200.0 + 10_000.0 * site + 37.0 * k + 0.123456789 for k in
            range(HISTORY_STEPS + STEPS)]


def scenario() -> dict:
    d = micro(history="30min", decision_interval="5min")
    for i, s in enumerate(d["sites"]):
        s["trace"] = {"kind": "values", "values": trace(i)}
    d["jobs"] = [{"name": f"j{k}", "arrival": f"{10 * k}min", "work_gpu_h": 1.0,
                  "checkpoint": "1GB", "gpus": 1, "origin": "a"} for k in range(3)]
    return d


def reachable(root, limit: int = 20_000) -> list[np.ndarray]:
    """Every array reachable from ``root`` through attributes, slots, containers, closures
    and ``.base`` chains (functions' globals and classes are not followed)."""
    seen: set[int] = set()
    arrays: list[np.ndarray] = []
    todo = [root]
    while todo and len(seen) < limit:
        obj = todo.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool,
                                                                 type, types.ModuleType)):
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            arrays.append(obj)
            if obj.base is not None:
                todo.append(obj.base)
            continue
        if isinstance(obj, memoryview):  # a read-only view's base: the memory it shows
            todo.append(obj.obj)
            continue
        if isinstance(obj, dict):
            todo.extend(obj.values())
            continue
        if isinstance(obj, (list, tuple, set, frozenset)):
            todo.extend(obj)
            continue
        if isinstance(obj, types.MethodType):
            todo.append(obj.__self__)
            todo.append(obj.__func__)
            continue
        if isinstance(obj, types.FunctionType):
            todo.extend(c.cell_contents for c in obj.__closure__ or ())
            continue
        for cls in type(obj).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if hasattr(obj, name):
                    todo.append(getattr(obj, name))
        if hasattr(obj, "__dict__"):
            todo.extend(vars(obj).values())
    return arrays


class Probe(PolicyBase):
    """Walks every Observation; moves a job once so transfers and links are live too."""

    name = "probe"
    capabilities = Capabilities(migrates=True)

    def __init__(self, future_of) -> None:
        self.future_of = future_of
        self.checked = 0
        self.moved = False

    def decide(self, obs):
        future = self.future_of(obs.step)
        for arr in reachable(obs):
            if arr.dtype.kind != "f" or arr.size == 0:
                continue
            hits = np.isin(arr, future)
            assert not hits.any(), f"a future value is reachable: {arr[hits][:3]}"
        self._writes_fail(obs)
        self.checked += 1
        if not self.moved and obs.step >= 3:
            running = obs.jobs_in(RUNNING)
            if running.size:
                self.moved = True
                return [Migrate(int(running[0]), "b")]
        return []

    @staticmethod
    def _writes_fail(obs) -> None:
        for name in ("renewable_w", "surplus_w", "headroom_w", "job_load_w", "soc_j",
                     "free_gpus", "job_phase", "job_progress", "job_remaining_gpu_s"):
            with pytest.raises(ValueError, match="read-only"):
                getattr(obs, name)[...] = 0
            # nor by asking: a view that is made writeable, or written through its base,
            # was the fleet's own state (a policy set every job done, and the run said so)
            arr = getattr(obs, name)
            with pytest.raises(ValueError, match="WRITEABLE"):
                arr.setflags(write=True)
            with pytest.raises(TypeError, match="read-only"):
                arr.base[0] = 0
        with pytest.raises(AttributeError):
            obs.surplus_w = np.zeros(2)
        with pytest.raises(ValueError, match="read-only"):
            obs.history.at(obs.step)[...] = 0
        with pytest.raises(ValueError, match="read-only"):
            obs.history.last(3)[...] = 0
        with pytest.raises(ValueError, match="WRITEABLE"):
            obs.history.last(3).setflags(write=True)
        for name in ("bandwidth_bps", "route", "active_transfers"):
            with pytest.raises(ValueError, match="WRITEABLE"):
                getattr(obs.links, name).setflags(write=True)
        with pytest.raises(LeakageError):
            obs.history.at(obs.step + 1)
        with pytest.raises(LeakageError):
            obs.history.slice(0, obs.step + 2)
        # before what is kept is no leak: its own error, and slice clips to it
        first = obs.history.first_step
        with pytest.raises(IndexError, match=f"starts at step {first}"):
            obs.history.at(first - 1)
        assert obs.history.slice(first - 5, first + 1).shape[0] == 1


def test_no_future_value_is_reachable_from_an_observation():
    inp = build_inputs(load_scenario(scenario()))
    assert inp.history_steps == HISTORY_STEPS
    ren = inp.renewable_w
    sur = inp.surplus_w

    def future_of(step: int) -> np.ndarray:
        later = slice(HISTORY_STEPS + step + 1, None)
        return np.concatenate([ren[later].ravel(), sur[later].ravel()])

    probe = Probe(future_of)
    res = Engine(inp, probe).run()
    assert probe.checked >= 10 and probe.moved
    assert len(res.migrations) == 1


def test_the_walk_finds_the_present_and_the_history():
    """The same walk sees the present step and the history rows (it would see the future)."""
    inp = build_inputs(load_scenario(scenario()))
    seen: dict[int, set[float]] = {}

    class Keep(PolicyBase):
        name = "keep"

        def decide(self, obs):
            vals: set[float] = set()
            for arr in reachable(obs):
                if arr.dtype.kind == "f":
                    vals.update(arr[np.isfinite(arr)].ravel().tolist())
            seen[obs.step] = vals
            return []

    Engine(inp, Keep()).run()
    step = 5
    now = inp.renewable_w[HISTORY_STEPS + step]
    first = inp.surplus_w[0]
    assert set(now.tolist()) <= seen[step]
    assert set(first.tolist()) <= seen[step]


def test_a_trace_view_would_be_caught():
    """The check itself: a view of the whole trace (what the Observation used to hold)
    reaches the future through ``.base``."""
    inp = build_inputs(load_scenario(scenario()))
    row = inp.surplus_w[HISTORY_STEPS + 2]
    future = inp.surplus_w[HISTORY_STEPS + 3:].ravel()
    assert any(np.isin(a, future).any() for a in reachable(row) if a.dtype.kind == "f")


def test_a_job_that_has_not_arrived_shows_nothing_but_its_phase():
    """Every field of a pending job was its true value: its arrival time, work, GPUs,
    checkpoint, deadline, origin and sites, all the future. Until it arrives they read
    neutral values, and changing them changes nothing a policy sees."""
    import copy

    import simkit

    from greenhop.core.observation import PENDING, QUEUED
    from greenhop.sim.engine import Engine
    from greenhop.sim.inputs import build_inputs
    from greenhop.sim.scenario import load_scenario

    late = {"name": "late", "arrival": "1h", "work_gpu_h": 3.0, "checkpoint": "7GB",
            "gpus": 2, "origin": "b", "deadline": "5h", "allowed_sites": ["b"]}
    seen: dict[int, list] = {}

    class Keep(simkit.Never):
        def __init__(self, key):
            self.key = key

        def decide(self, obs):
            fields = {k: np.array(getattr(obs, k), copy=True) for k in (
                "job_arrival_s", "job_remaining_gpu_s", "job_gpus", "job_checkpoint_bytes",
                "job_move_bytes", "job_deadline_s", "job_origin", "job_allowed",
                "job_nominal_gpus", "job_max_gpus", "job_phase")}
            seen.setdefault(self.key, []).append(fields)
            return []

    for key, work in ((0, 3.0), (1, 30.0)):
        d = simkit.micro(jobs=[simkit.micro()["jobs"][0], {**copy.deepcopy(late),
                                                          "work_gpu_h": work}])
        Engine(build_inputs(load_scenario(d)), Keep(key)).run()
    first = seen[0][0]
    assert first["job_phase"][1] == PENDING
    assert np.isnan(first["job_arrival_s"][1]) and first["job_deadline_s"][1] == np.inf
    assert first["job_remaining_gpu_s"][1] == 0 and first["job_checkpoint_bytes"][1] == 0
    assert first["job_gpus"][1] == 1 and first["job_origin"][1] == -1
    assert first["job_allowed"][1].all()
    # the arrived job's own fields are its true ones
    assert first["job_remaining_gpu_s"][0] == 3600.0 and first["job_origin"][0] == 0
    # a pending job with ten times the work: nothing seen before it arrives differs
    arrived = next(i for i, f in enumerate(seen[0]) if f["job_phase"][1] != PENDING)
    for a, b in zip(seen[0][:arrived], seen[1][:arrived], strict=True):
        for k in a:
            assert np.array_equal(a[k], b[k], equal_nan=True), k
    now = seen[0][arrived]
    assert now["job_phase"][1] == QUEUED or now["job_remaining_gpu_s"][1] > 0
    assert now["job_arrival_s"][1] == 3600.0 and now["job_deadline_s"][1] == 3600.0 + 5 * 3600
    assert now["job_gpus"][1] == 2 and now["job_origin"][1] == 1
