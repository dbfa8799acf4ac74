"""Small scenario builders shared by the simulator tests (imported as ``simkit``)."""

from __future__ import annotations

import copy
import json

from greenhop.core.observation import RUNNING, Migrate
from greenhop.policies.base import Capabilities, PolicyBase


def site(name: str, *, power: str | None = "1.2kW", slots: int = 4, tput: float = 1.0,
         **extra) -> dict:
    d = {"name": name, "latitude": 0.0, "longitude": 0.0, "gpu_slots": slots,
         "base_load": "1kW", "pue": 1.0, "gpu_power": "400W", "gpu_idle": "50W",
         "throughput": tput}
    if power is not None:
        d["trace"] = {"kind": "constant", "power": power}
    d.update(extra)
    return d


#: the legacy books as an ``[energy]`` table (hand-worked figures of the older tests)
LEGACY_ENERGY = {"source_in_flight": "zero", "dest_held": "idle", "host_share": 0.0,
                 "suspend_saves": False, "network_to_grid": False}


def legacy_micro(**over) -> dict:
    """:func:`micro` on the legacy books (``EnergyConventions.legacy()``)."""
    return micro(**{"energy": LEGACY_ENERGY, **over})


def micro(**over) -> dict:
    """Two sites, one link, one job: the hand-computed baseline (see test_sim_micro)."""
    d = {
        "name": "micro", "start": "2023-01-01T00:00:00Z", "horizon": "2h", "step": "5min",
        "history": "0s", "seed": 0, "policies": ["static"],
        "migration": {"write_rate": "2GB/s", "read_rate": "2GB/s", "startup": "60s"},
        "sites": [site("a"), site("b", power="10kW", tput=2.0)],
        "links": [{"a": "a", "b": "b", "bandwidth": "8Gbps", "efficiency": 0.5,
                   "rtt": "10ms", "energy_per_bit": 1e-7}],
        "jobs": [{"name": "j1", "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": "1GB",
                  "gpus": 1, "origin": "a"}],
    }
    for k, v in over.items():
        d[k] = v
    return copy.deepcopy(d)


class MoveAt(PolicyBase):
    """Test policy: at ``step`` migrate every running job in ``jobs`` to ``dest``."""

    name = "move-at"
    capabilities = Capabilities(migrates=True)

    def __init__(self, step: int, dest: str, jobs=None) -> None:
        self.step, self.dest, self.jobs = step, dest, jobs

    def decide(self, obs):
        if obs.step != self.step:
            return []
        out = []
        for j in range(obs.n_jobs):
            if obs.job_phase[j] == RUNNING and (self.jobs is None or j in self.jobs):
                out.append(Migrate(j, self.dest))
        return out


class Never(PolicyBase):
    """Test policy: never acts."""

    name = "never"

    def decide(self, obs):
        return []


class Chaos(PolicyBase):
    """Test policy: random (often invalid) actions from a seeded generator, to exercise
    every engine path (migrations, suspensions, resumes, placements, rejections)."""

    name = "chaos"
    capabilities = Capabilities(migrates=True, suspends=True, places=True)

    def __init__(self, seed: int, rate: float = 0.3) -> None:
        import numpy as np

        from greenhop.core.observation import Migrate, Place, Resume, Suspend

        self.rng = np.random.default_rng(seed)
        self.rate = rate
        self.kinds = (Migrate, Suspend, Resume, Place)

    def decide(self, obs):
        out = []
        if obs.n_jobs == 0 or self.rng.random() > self.rate:
            return out
        for _ in range(int(self.rng.integers(1, 3))):
            kind = self.kinds[int(self.rng.integers(len(self.kinds)))]
            job = int(self.rng.integers(obs.n_jobs))
            site = int(self.rng.integers(obs.n_sites))
            out.append(kind(job, site) if kind.__name__ in ("Migrate", "Place") else kind(job))
        return out


def _toml(value) -> str:
    """``value`` as TOML (inline tables and arrays: enough for a scenario dict)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def write_scenario(d: dict, path):
    """The scenario dict ``d`` as a TOML file at ``path`` (for the command line)."""
    path.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in d.items()))
    return path
