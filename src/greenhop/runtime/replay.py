"""Replay a live run's decisions: feed the logged observations to a fresh policy.

Each ``decision`` event of the log holds the dynamic part of the Observation the
policy saw (phases, sites, progress, slots, load, battery) and the actions it
returned; ``power`` events hold the renewable power measured at every step. With
the scenario's static arrays (``inputs``) that rebuilds every Observation bit for
bit, so a deterministic policy must return the same actions. The controller uses
the same routine after a restart to bring a fresh policy object back to the state
(dwell timers, statistics) it had before the crash.

The bodies replay reads (``run-start``, ``power``, ``decision``) are checked here, in one
place (:func:`check_event`): a log edited or damaged into another shape is one
:class:`~greenhop.core.errors.ConfigError` naming the event (``FILE:LINE`` or
``DB: event SEQ (KIND)``), never a traceback or a silent misreading.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greenhop.core.errors import ConfigError
from greenhop.core.observation import DONE, PENDING, Migrate, Place, Resume, Suspend
from greenhop.fleet.admission import resolve
from greenhop.policies.base import decide
from greenhop.runtime.ledger import Ledger

OBS_ARRAYS = ("phase", "site", "dest", "remaining", "last_move_s", "occ", "last_load", "soc")
SITE_INDEX_ARRAYS = ("site", "dest")
"""Observation arrays holding a site index (-1: none)."""


class _Body(BaseModel):
    # strict: a string where a number belongs is refused, not converted
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class RunStartBody(_Body):
    """The ``run-start`` event: the scenario file and its SHA-256, the policy, names, and
    the reference workload of each job that runs one."""

    scenario: str
    policy: str
    scenario_sha256: str | None = None
    sites: list[str] | None = None
    jobs: list[str] | None = None
    workloads: dict[str, str] | None = None


class PowerBody(_Body):
    """A ``power`` event: the renewable power of every site at the step [W]."""

    renewable_w: list[float]


class ObsBody(_Body):
    """The dynamic arrays of the Observation a decision was made on (:data:`OBS_ARRAYS`)."""

    phase: list[int]
    site: list[int]
    dest: list[int]
    remaining: list[float]
    last_move_s: list[float]
    occ: list[int]
    last_load: list[float]
    soc: list[float]


class DecisionBody(_Body):
    """A ``decision`` event: its observation, the actions the policy returned (names) and
    those admitted, ``[kind, job, src, dst]``."""

    obs: ObsBody
    actions: list[list[str]]
    # JSON has no tuples: a list of four names is one (strict would refuse it)
    accepted: list[Annotated[tuple[str, str, str, str], Field(strict=False)]] = []


BODIES: dict[str, type[_Body]] = {"run-start": RunStartBody, "power": PowerBody,
                                  "decision": DecisionBody}
"""The event kinds replay reads, with the model of their body."""


def where(ev: dict) -> str:
    """Where event ``ev`` is, for a message: its ``where`` (``FILE:LINE``, set by
    :func:`~greenhop.runtime.store.read_events`) or ``event SEQ (KIND)``."""
    return ev.get("where") or f"event {ev.get('seq', '?')} ({ev.get('kind')})"


def check_event(ev: dict, ledger: Ledger | None = None) -> Any:
    """The validated body of ``ev`` (a :data:`BODIES` kind); with ``ledger``, its step and
    array lengths must fit the run's steps, sites and jobs. A ConfigError names the event
    and the field otherwise."""
    try:
        body = BODIES[ev["kind"]].model_validate(ev["body"])
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(x) for x in e.get("loc", ()))
        raise ConfigError(f"{where(ev)}: {ev['kind']} body{': ' + loc if loc else ''}: "
                          f"{e.get('msg', 'invalid')}; the log was edited or damaged") \
            from None
    if ledger is None:
        return body

    def bad(what: str) -> ConfigError:
        return ConfigError(f"{where(ev)}: {ev['kind']} {what}; the log was edited or damaged")

    step = ev["step"]
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < ledger.T:
        raise bad(f"at step {ev['step']}, outside the run's steps 0..{ledger.T - 1}")
    n_sites = len(ledger.site_names)
    if isinstance(body, PowerBody) and len(body.renewable_w) != n_sites:
        raise bad(f"body: renewable_w has {len(body.renewable_w)} values for {n_sites} sites")
    if isinstance(body, DecisionBody):
        for k in OBS_ARRAYS:
            got, want = len(getattr(body.obs, k)), len(getattr(ledger, k))
            if got != want:
                raise bad(f"body: obs.{k} has {got} values, the run {want}")
        if not all(PENDING <= v <= DONE for v in body.obs.phase):
            raise bad(f"body: obs.phase: a phase outside {PENDING}..{DONE}")
        if not all(-1 <= v < n_sites for k in SITE_INDEX_ARRAYS for v in getattr(body.obs, k)):
            raise bad(f"body: obs.site or obs.dest: a site index outside -1..{n_sites - 1}")
    return body


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


def restore(ledger: Ledger, obs: ObsBody) -> None:
    for k in OBS_ARRAYS:
        cur = getattr(ledger, k)
        cur[:] = np.asarray(getattr(obs, k), dtype=cur.dtype)


def replay_decisions(ledger: Ledger, policy, events, *, upto_step: int | None = None) -> dict:
    """Re-run ``policy`` on the decision events (steps ``<= upto_step``); returns
    ``{"decisions", "actions", "mismatches": [...], "migrations": [(step, job, src, dst)]}``.

    ``ledger`` is used as scratch space (its arrays are overwritten). An event of another
    shape than the run's (:func:`check_event`) is a ConfigError naming it."""
    out = {"decisions": 0, "actions": 0, "mismatches": [], "migrations": []}
    for ev in events:
        if upto_step is not None and ev["step"] > upto_step:
            break
        if ev["kind"] == "power":
            body = check_event(ev, ledger)
            ledger.record_power(ev["step"], np.asarray(body.renewable_w, dtype=float))
        elif ev["kind"] == "decision":
            body = check_event(ev, ledger)
            restore(ledger, body.obs)
            obs = ledger.observation(ev["step"])
            got = [action_to_json(a, ledger.site_names, ledger.job_names)
                   for a in decide(policy, obs)]
            out["decisions"] += 1
            out["actions"] += len(got)
            if got != body.actions:
                out["mismatches"].append({"step": ev["step"], "logged": body.actions,
                                          "replayed": got})
            for kind, j, src, dst in body.accepted:
                if kind == "migrate":
                    out["migrations"].append((ev["step"], j, src, dst))
    return out
