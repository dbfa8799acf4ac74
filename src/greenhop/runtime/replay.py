"""Replay a live run's decisions: feed the logged observations to a fresh policy.

Each ``decision`` event of the log holds the dynamic part of the Observation the
policy saw (phases, sites, progress, slots, load, battery) and the actions it
returned; ``power`` events hold the renewable power measured at every step. With
the scenario's static arrays (``inputs``) that rebuilds every Observation bit for
bit, so a deterministic policy must return the same actions. The controller uses
the same routine after a restart to bring a fresh policy object back to the state
(dwell timers, statistics) it had before the crash.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import Migrate, Place, Resume, Suspend
from greenhop.fleet.admission import resolve
from greenhop.policies.base import decide
from greenhop.runtime.ledger import Ledger

OBS_ARRAYS = ("phase", "site", "dest", "remaining", "last_move_s", "occ", "last_load", "soc")


def action_to_json(act, site_names, job_names) -> list:
    """``["migrate", job, dest]`` etc., with names (indices resolved)."""
    def named(key, names):
        # resolved as the fleet resolves it; one it refuses (a bool, a float, out of range)
        # is logged as given
        i = resolve(key, {}, len(names))
        return names[i] if i >= 0 else str(key)

    def jn(j):
        return named(j, job_names)

    def sn(s):
        return named(s, site_names)

    if isinstance(act, Migrate):
        return ["migrate", jn(act.job), sn(act.dest)]
    if isinstance(act, Place):
        return ["place", jn(act.job), sn(act.site)]
    if isinstance(act, Suspend):
        return ["suspend", jn(act.job)]
    if isinstance(act, Resume):
        return ["resume", jn(act.job)]
    return ["unknown", repr(act)]


def snapshot(ledger: Ledger) -> dict:
    return {k: getattr(ledger, k).tolist() for k in OBS_ARRAYS}


def restore(ledger: Ledger, obs: dict) -> None:
    for k in OBS_ARRAYS:
        cur = getattr(ledger, k)
        cur[:] = np.asarray(obs[k], dtype=cur.dtype)


def replay_decisions(ledger: Ledger, policy, events, *, upto_step: int | None = None) -> dict:
    """Re-run ``policy`` on the decision events (steps ``<= upto_step``); returns
    ``{"decisions", "actions", "mismatches": [...], "migrations": [(step, job, src, dst)]}``.

    ``ledger`` is used as scratch space (its arrays are overwritten)."""
    out = {"decisions": 0, "actions": 0, "mismatches": [], "migrations": []}
    for ev in events:
        if upto_step is not None and ev["step"] > upto_step:
            break
        if ev["kind"] == "power":
            ledger.record_power(ev["step"], np.asarray(ev["body"]["renewable_w"], dtype=float))
        elif ev["kind"] == "decision":
            body = ev["body"]
            restore(ledger, body["obs"])
            obs = ledger.observation(ev["step"])
            got = [action_to_json(a, ledger.site_names, ledger.job_names)
                   for a in decide(policy, obs)]
            out["decisions"] += 1
            out["actions"] += len(got)
            if got != body["actions"]:
                out["mismatches"].append({"step": ev["step"], "logged": body["actions"],
                                          "replayed": got})
            for kind, j, src, dst in body.get("accepted", []):
                if kind == "migrate":
                    out["migrations"].append((ev["step"], j, src, dst))
    return out
