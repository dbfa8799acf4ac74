"""The controller's side of operator actions, and what it records of each booked step.

``greenhop serve`` writes an operator's request (drain, undrain, pin, unpin, pause,
resume) to the run database's ``operator_actions`` table and the event log
(``operator-request``). At the start of each step, before the policy is asked, the
controller applies every pending request (:func:`apply_pending`): the fleet state's
operator fields change, the row gets its ``applied_step`` and an ``operator`` event
records it, in one transaction with the ledger snapshot. A restart resumes from that
snapshot, so an action is applied once, at the step the log names.

Demand-response events filed with the run (``grid_events``) are taken up in the same
place, before the policy is asked (:func:`apply_grid_events`): the fleet's enforcement
moves, suspends or resumes jobs, each logged with ``"by": "grid"``.

After the policy's decision, :func:`drain_step` moves the jobs still running on a
drained site (:func:`greenhop.fleet.operator.drain_moves`) and logs each move as a
``migrate`` event with ``"by": "operator"``. :func:`record_step` logs each booked step
(``booked``: per-site renewable, demand, job load and grid import [W], a histogram of
the reconcile passes of the step, and on decision steps the window forecast quantiles the
policy saw, when it reads forecasts), which ``greenhop serve`` turns into timelines,
forecast windows and Prometheus metrics.
"""

from __future__ import annotations

import contextlib
import json
import time

import numpy as np

from greenhop.core.errors import ConfigError, RuntimeFailure
from greenhop.core.grid_events import GridEvent
from greenhop.fleet import demand_response
from greenhop.fleet.operator import OPERATOR_KINDS, apply_operator, drain_moves
from greenhop.model import constants as C
from greenhop.policies.window_estimate import HistoricalWindowEstimator, window_estimate_s

#: upper bounds of the reconcile-pass duration histogram [s] (Prometheus' ``le``)
RECONCILE_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                       2.5, 5.0)


def apply_pending(ctl, t: int) -> list[dict]:
    """Apply the operator's pending actions to ``ctl``'s books at step ``t``; returns them."""
    st = ctl.store
    pending = st.operator_actions(pending=True)
    if not pending:
        return []
    led = ctl.ledger
    done = []
    with st.tx():
        for row in pending:
            kind, target = row["kind"], row["target"]
            what = OPERATOR_KINDS.get(kind, "?")
            names = ctl.sites if what == "site" else ctl.jobs if what == "job" else None
            body = {"id": row["id"], "action": kind, "target": target}
            if what == "?" or (names is not None and target not in names):
                body["error"] = "unknown action or target; ignored"
                changed = False
            else:
                idx = None if names is None else names.index(target)
                changed = apply_operator(led.state, kind, idx)
            body["changed"] = changed
            st.con.execute("UPDATE operator_actions SET applied_step = ? WHERE id = ?",
                           (int(t), row["id"]))
            st.event(t, "operator", body, job=target if what == "job" else None)
            done.append(body)
        st.con.execute("UPDATE run SET ledger = ?, updated_unix_s = ? WHERE id = 1",
                       (json.dumps(led.to_state()), time.time()))
    for body in done:
        ctl.log(f"step {t}: operator {body['action']}"
                + (f" {body['target']}" if body["target"] else ""))
    return done


def apply_grid_events(ctl, t: int) -> list[tuple[str, str, str, str]]:
    """Take up the demand-response events filed since the last step and enforce every
    event at the start of step ``t`` (before the policy is asked), with the fleet's own
    code (:class:`~greenhop.fleet.demand_response.DemandResponse`); the moves, suspensions
    and resumes it asks for start here, logged with ``"by": "grid"``. Returns
    ``(kind, job, src, dst)`` of each."""
    st = ctl.store
    led = ctl.ledger
    core = led.core
    dr = core.demand_response
    first = not getattr(ctl, "_grid_events_loaded", False)
    ctl._grid_events_loaded = True
    taken = st.grid_events(pending=False) if first else []
    pending = st.grid_events(pending=True)
    if dr is None and not taken and not pending:
        return []
    if dr is None:  # as the simulator builds it: the scenario's zones and alpha
        dr = core.demand_response = demand_response.for_inputs(ctl.inp)
    for row in taken:  # a restarted controller: the events it had taken up
        with contextlib.suppress(ConfigError):
            dr.add(GridEvent(**row["body"]))
    done = []
    for row in pending:
        body = {"id": row["id"]}
        try:
            dr.add(GridEvent(**row["body"]))
        except (ConfigError, ValueError) as exc:
            body["error"] = f"{exc}; ignored"
        done.append(body)
    accepted = dr.on_step(core, t)
    if not done and not accepted:
        return []
    now = time.time()
    out = []
    with st.tx():
        for body in done:
            st.con.execute("UPDATE grid_events SET applied_step = ? WHERE id = ?",
                           (int(t), body["id"]))
            st.event(t, "grid-event", body)
        for kind, j, s, d in accepted:
            name = ctl.jobs[j]
            ctl._start_action(t, kind, st.job(name), s, d, now, by="grid")
            out.append((kind, name, ctl.sites[s], ctl.sites[d]))
        st.con.execute("UPDATE run SET ledger = ?, updated_unix_s = ? WHERE id = 1",
                       (json.dumps(led.to_state()), now))
    for body in done:
        ctl.log(f"step {t}: grid event {body['id']}" + (f": {body['error']}"
                                                          if "error" in body else ""))
    for kind, name, s, d in out:
        ctl.log(f"step {t}: demand response: {kind} {name} {s}"
                + (f" -> {d}" if kind == "migrate" else ""))
    return out


def drain_step(ctl, t: int) -> list[tuple[str, str, str]]:
    """Start the moves that take running jobs off drained sites at step ``t`` (after the
    policy's decision of the step); returns ``(job, src, dst)`` of each."""
    led = ctl.ledger
    state = led.state
    if not state.drained.any():
        return []
    obs = led.observation(t)
    est = getattr(ctl, "_drain_estimator", None)
    if est is None:
        est = ctl._drain_estimator = HistoricalWindowEstimator()
    window = window_estimate_s(obs, est)
    alpha = float(getattr(ctl.policy, "alpha", C.ALPHA))
    acts = drain_moves(obs, state.drained, state.pinned, window, alpha=alpha)
    if not acts:
        return []
    accepted = led.apply(acts, t)
    st = ctl.store
    now = time.time()
    out = []
    with st.tx():
        for kind, j, s, d in accepted:
            name = ctl.jobs[j]
            ctl._start_action(t, kind, st.job(name), s, d, now, by="operator")
            out.append((name, ctl.sites[s], ctl.sites[d]))
        st.con.execute("UPDATE run SET ledger = ?, updated_unix_s = ? WHERE id = 1",
                       (json.dumps(led.to_state()), now))
    for name, s, d in out:
        ctl.log(f"step {t}: drain: migrate {name} {s} -> {d}")
    return out


def reconcile_histogram(durations_s: list[float]) -> dict:
    """``{"le": [...], "counts": [...], "sum": s, "count": n}`` of reconcile passes [s]
    (non-cumulative counts per bucket, the last for ``+Inf``)."""
    arr = np.asarray(durations_s, dtype=float)
    idx = np.searchsorted(np.asarray(RECONCILE_BUCKETS_S), arr, side="left")
    counts = np.bincount(idx, minlength=len(RECONCILE_BUCKETS_S) + 1)
    return {"le": list(RECONCILE_BUCKETS_S), "counts": counts.tolist(),
            "sum": float(arr.sum()), "count": int(arr.size)}


def record_step(ctl, t: int) -> None:
    """Log the books of booked step ``t`` (``booked`` event) and the step's reconcile
    passes; clears the controller's list of pass durations."""
    led = ctl.ledger
    books = led.core.books
    passes = list(getattr(ctl, "reconcile_wall_s", []))
    ctl.reconcile_wall_s = []
    grid = np.asarray(books.grid_w[t], dtype=float)
    demand = np.asarray(books.demand_w[t], dtype=float)
    job = np.asarray(books.job_load_w[t], dtype=float)
    try:
        renewable = np.asarray(led.core.power.renewable_at(t), dtype=float).tolist()
    except RuntimeFailure:  # a step whose power is no longer the latest: unknown, JSON null
        renewable = [None] * grid.size  # (NaN would make the stored body invalid JSON)
    body = {"renewable_w": renewable, "demand_w": demand.tolist(),
            "job_load_w": job.tolist(), "grid_w": grid.tolist(),
            # the jobs' share of the grid import: the base load takes renewables first
            "job_grid_w": np.minimum(job, grid).tolist(), "step_s": float(led.dt),
            "reconcile": reconcile_histogram(passes)}
    fc = led.forecasts
    if fc is not None and led.decides(t):
        # the window forecasts the policy saw this step (computed once per step, cached)
        q = np.asarray(fc.at(t, led.core.power.surplus_w), dtype=float)
        body["window_forecast_q_s"] = [[float(v) if np.isfinite(v) else None for v in row]
                                       for row in q]
        body["window_forecast_quantiles"] = [float(v) for v in fc.quantiles]
    with ctl.store.tx():
        ctl.store.event(t, "booked", body)


def timed_reconcile(ctl) -> bool:
    """One reconcile pass of ``ctl``, its wall time kept for :func:`record_step`."""
    t0 = time.perf_counter()
    settled = ctl.reconcile()
    ctl.reconcile_wall_s = getattr(ctl, "reconcile_wall_s", [])
    ctl.reconcile_wall_s.append(time.perf_counter() - t0)
    return settled
