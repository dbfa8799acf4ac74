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

So is the log's order and coherence (:func:`replay_decisions`), as the writer
(:meth:`~greenhop.runtime.store.Store.event`, the controller's ``_decide``) makes it: ``seq``
rises by one from event to event (the SQLite AUTOINCREMENT key; a log filtered to some kinds,
as the controller reads it, only rises); the ``power`` events' steps rise; a ``decision``
comes right after the ``power`` event of its step; its ``accepted`` actions are among its
``actions`` (or places of queued jobs) and, in a whole log, are the events right after it,
one per accepted action, with the same job and sites. A line deleted, repeated, moved or
edited is a ConfigError naming the line and what is wrong ("the log was edited or
damaged"), never a mismatch blamed on the policy or the simulator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greenhop.core.errors import ConfigError
from greenhop.core.observation import DONE, PENDING, QUEUED, Migrate, Place, Resume, Suspend
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
    """The ``run-start`` event: the scenario file and its SHA-256, the policy, names, the
    reference workload of each job that runs one, and the run's steps (logs written before
    it was recorded have no ``n_steps``)."""

    scenario: str
    policy: str
    scenario_sha256: str | None = None
    n_steps: int | None = None
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
ACCEPTED_KINDS = ("place", "migrate", "suspend", "resume", "scale")
"""Kinds of an accepted action; the controller logs one event of that kind (body ``src``,
``dst``) for each, in order, right after the decision."""


def where(ev: dict) -> str:
    """Where event ``ev`` is, for a message: its ``where`` (``FILE:LINE``, set by
    :func:`~greenhop.runtime.event_log.read_events`) or ``event SEQ (KIND)``."""
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


def partial_last_line(path: str | Path) -> int | None:
    """The number of the last line of the JSON-lines log at ``path`` when it is part of an
    event cut off with no newline after it, which
    :func:`~greenhop.runtime.event_log.read_events` drops (a log cut off, or still being
    written); None when nothing was dropped (a run database, a log ending in a newline or in
    a whole event)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if not data or data.endswith(b"\n") or data.startswith(b"SQLite format 3"):
        return None
    lines = data.decode("utf-8", errors="replace").splitlines()
    if not lines or not lines[-1].strip():
        return None
    try:
        json.loads(lines[-1])
    except ValueError:
        return len(lines)
    return None


def damaged(ev: dict, what: str) -> ConfigError:
    """The error for a log whose order or contents the writer cannot have made."""
    return ConfigError(f"{where(ev)}: {what}; the log was edited or damaged (a line changed, "
                       "missing, repeated or moved), so it cannot be replayed")


def check_seq(ev: dict, prev: dict | None, *, whole: bool,
              seen: dict[int, dict] | None = None) -> None:
    """``ev``'s ``seq`` follows ``prev``'s: by one in a ``whole`` log (every event, as the
    run wrote them), rising in a log filtered to some kinds. ``seen`` (seq -> event, of the
    whole log) tells a line moved from one deleted. A ConfigError otherwise."""
    seq = ev.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise damaged(ev, f"{ev['kind']} event without a seq number")
    if prev is None:
        return
    last = prev["seq"]
    if seq == last + 1 or (seq > last and not whole):
        return
    if seq == last:
        what = f"seq {seq} again: the event before has the same one"
    elif seq < last:
        what = f"seq {seq} after seq {last}: events out of order"
    elif seen is not None and last + 1 in seen:
        what = (f"seq {seq} after seq {last}: events out of order (seq {last + 1} is at "
                f"{where(seen[last + 1])})")
    else:
        gone = f"event {last + 1} is" if seq == last + 2 else f"events {last + 1}..{seq - 1} are"
        what = f"seq {seq} after seq {last}: {gone} missing"
    raise damaged(ev, what)


def check_accepted(ev: dict, body: DecisionBody, ledger: Ledger) -> None:
    """A decision's ``accepted`` actions are what admission can have made of its
    ``actions``: each migrate, suspend, resume or place one of them (a place may also start
    a queued job at its arrival site) with the job's own site as source; names known."""
    sites, jobs = ledger.site_names, list(ledger.job_names)
    left = [list(a) for a in body.actions]
    touched: set[int] = set()
    for i, (kind, job, src, dst) in enumerate(body.accepted):
        what = f"decision accepted[{i}] {kind} {job} {src} -> {dst}"
        if kind not in ACCEPTED_KINDS:
            raise damaged(ev, f"{what}: no such action kind")
        if job not in jobs or src not in sites or dst not in sites:
            raise damaged(ev, f"{what}: a job or site this run does not have")
        j = jobs.index(job)
        if kind != "migrate" and src != dst:
            raise damaged(ev, f"{what}: a {kind} stays at one site")
        if kind != "place" and j not in touched:
            at = body.obs.site[j]
            if at < 0 or sites[at] != src:
                raise damaged(ev, f"{what}: the job is at "
                                  f"{sites[at] if at >= 0 else 'no site'} in the decision's obs")
        want = {"migrate": ["migrate", job, dst], "suspend": ["suspend", job],
                "resume": ["resume", job], "place": ["place", job, dst]}.get(kind)
        if want in left:
            left.remove(want)
        elif not (kind == "place" and body.obs.phase[j] == QUEUED) and kind != "scale":
            raise damaged(ev, f"{what}: not among the decision's actions")
        touched.add(j)


def check_action_event(ev: dict, decision: dict, i: int, entry) -> None:
    """``ev`` is the event the controller logged for ``decision``'s ``accepted[i]``
    (``entry``): its kind, step, job and sites."""
    kind, job, src, dst = entry
    body = ev.get("body") or {}
    if (ev["kind"], ev["step"], ev.get("job"), body.get("src"), body.get("dst")) != (
            kind, decision["step"], job, src, dst):
        raise damaged(decision, f"decision accepted[{i}] {kind} {job} {src} -> {dst}, but the "
                                f"event logged for it ({where(ev)}) is {ev['kind']} "
                                f"{ev.get('job')} {body.get('src')} -> {body.get('dst')} at "
                                f"step {ev['step']}")


def replay_decisions(ledger: Ledger, policy, events, *, upto_step: int | None = None) -> dict:
    """Re-run ``policy`` on the decision events (steps ``<= upto_step``); returns
    ``{"decisions", "actions", "mismatches": [...], "migrations": [(step, job, src, dst)]}``.

    ``events`` is a whole log (it starts with ``run-start``) or one filtered to some kinds
    (the controller passes its ``power`` and ``decision`` events). ``ledger`` is used as
    scratch space (its arrays are overwritten). An event of another shape than the run's
    (:func:`check_event`), or a log out of the writer's order (:func:`check_seq`, the steps,
    :func:`check_accepted`, :func:`check_action_event`), is a ConfigError naming it."""
    events = list(events)
    whole = bool(events) and events[0]["kind"] == "run-start"
    seen = {e["seq"]: e for e in reversed(events) if isinstance(e.get("seq"), int)}
    out = {"decisions": 0, "actions": 0, "mismatches": [], "migrations": []}
    prev: dict | None = None
    power_step: int | None = None
    expect: list[tuple[dict, int, tuple]] = []  # (decision, i, accepted[i]) still to be seen
    for ev in events:
        if upto_step is not None and ev["step"] > upto_step:
            break
        check_seq(ev, prev, whole=whole, seen=seen)
        if expect:
            decision, i, entry = expect.pop(0)
            check_action_event(ev, decision, i, entry)
        if ev["kind"] == "power":
            body = check_event(ev, ledger)
            if power_step is not None and ev["step"] <= power_step:
                raise damaged(ev, f"power of step {ev['step']} after the power of step "
                                  f"{power_step}")
            power_step = ev["step"]
            ledger.record_power(ev["step"], np.asarray(body.renewable_w, dtype=float))
        elif ev["kind"] == "decision":
            body = check_event(ev, ledger)
            if prev is None or prev["kind"] != "power" or prev["step"] != ev["step"]:
                raise damaged(ev, f"decision of step {ev['step']} not right after the power "
                                  "event of its step")
            check_accepted(ev, body, ledger)
            if whole:
                expect = [(ev, i, entry) for i, entry in enumerate(body.accepted)]
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
        prev = ev
    # accepted actions whose events are missing at the end: a log cut off (the caller warns)
    return out
