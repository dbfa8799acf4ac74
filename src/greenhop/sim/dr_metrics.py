"""Demand-response metrics of a run (only for scenarios with ``[[grid.events]]``).

Over every step of every event at its site (the steps overlapping the event, within the
horizon; where events overlap at a site, the lowest limit counts):

* ``dr_compliance_pct``: share of those site-steps whose grid import was at or under the
  limit [%];
* ``dr_excess_kwh``: grid energy above the limits in them [kWh];
* ``flex_kwh``: the flexibility given on request: each job shed for an event (moved out or
  suspended) at its facility power at the site, over the rest of the event [kWh];
  ``dr_moved_pct``: the share of it that was moved to another site rather than suspended
  [%]; ``dr_moved`` / ``dr_suspended``: how many jobs;
* ``dr_best_effort``: events whose site's pinned load alone was over the limit (everything
  movable went; the rest could not);
* ``dr_events``: site-events with at least one step in the horizon;
* ``dr_by_event``: per such site-event, in order: ``event``, ``site``, ``steps`` (in the
  horizon, booked), ``limit_kw`` (its own limit), ``peak_import_kw`` (the site's highest
  grid import in those steps), ``steps_met`` (at or under the limit that counts there:
  the lowest of the events overlapping it) and ``excess_kwh``: what to check one event
  against.
"""

from __future__ import annotations

import numpy as np

from greenhop.fleet.demand_response import scenario_zones, site_events

KWH = 3.6e6
_TOL_W = 1e-6


def limit_matrix_w(inp, counters: dict, events: list | None = None,
                   steps: int | None = None) -> tuple[np.ndarray, int]:
    """``[T, S]`` the limit of each site-step under an event (``inf`` elsewhere) [W], and
    the number of site-events with a step in the horizon. ``events``: the site events
    (:class:`~greenhop.fleet.demand_response.SiteEvent`) enforced; None: the scenario's.
    ``steps``: only the first steps count (a live run stopped early booked no more)."""
    sc = inp.scenario
    T, S = inp.n_steps if steps is None else min(steps, inp.n_steps), len(inp.slots)
    lim = np.full((T, S), np.inf)
    n = 0
    if events is None:
        events = site_events(inp, sc.grid_events, scenario_zones(sc))
    for e in events:
        lo, hi = max(0, e.start_step), min(T, e.end_step)
        if hi <= lo:
            continue
        value = e.limit_w if np.isfinite(e.limit_w) else counters.get(f"dr_limit_w.{e.key}")
        if value is None:
            continue
        n += 1
        lim[lo:hi, e.site] = np.minimum(lim[lo:hi, e.site], float(value))
    return lim, n


def dr_metrics(inp, res, steps: int | None = None) -> dict:
    """The metrics of the module docstring; ``{}`` when the run had no events (the
    scenario's, or ``res.dr_site_events`` where a live run learnt of them as they came).
    ``steps``: the steps booked from the start (all of the horizon when None); a step not
    booked is neither met nor missed."""
    sc = inp.scenario
    events = getattr(res, "dr_site_events", None)
    if not (events if events is not None else getattr(sc, "grid_events", ())):
        return {}
    c = res.counters
    if events is None:  # the scenario's, expanded once for the limits and the per-event rows
        events = site_events(inp, sc.grid_events, scenario_zones(sc))
    lim, n = limit_matrix_w(inp, c, events, steps)
    mask = np.isfinite(lim)
    grid = np.asarray(res.grid_w, dtype=float)[:len(lim)]
    excess_w = np.where(mask, np.maximum(grid - lim, 0.0), 0.0)
    met = (grid <= lim + _TOL_W) & mask
    by_event = _by_event(inp, c, events, lim, grid, float(sc.step_s))
    moved_j = float(c.get("dr_moved_j", 0.0))
    susp_j = float(c.get("dr_suspended_j", 0.0))
    flex_j = moved_j + susp_j
    return {
        "dr_events": n,
        "dr_compliance_pct": (round(100.0 * float(met.sum()) / float(mask.sum()), 6)
                              if mask.any() else None),
        "dr_excess_kwh": round(float(excess_w.sum()) * float(sc.step_s) / KWH, 9),
        "flex_kwh": round(flex_j / KWH, 9),
        "dr_moved_pct": round(100.0 * moved_j / flex_j, 4) if flex_j > 0 else None,
        "dr_moved": int(c.get("dr_moved", 0)),
        "dr_suspended": int(c.get("dr_suspended", 0)),
        "dr_best_effort": int(c.get("dr_best_effort", 0)),
        "dr_by_event": by_event,
    }


def _by_event(inp, counters: dict, events: list, lim: np.ndarray,
              grid: np.ndarray, step_s: float) -> list[dict]:
    """``dr_by_event`` of the module docstring (``lim``: :func:`limit_matrix_w`'s)."""
    names = inp.params.site_names
    out = []
    for e in events:
        lo, hi = max(0, e.start_step), min(len(lim), e.end_step)
        value = e.limit_w if np.isfinite(e.limit_w) else counters.get(f"dr_limit_w.{e.key}")
        if hi <= lo or value is None:
            continue
        g, cap = grid[lo:hi, e.site], lim[lo:hi, e.site]
        out.append({
            "event": e.event_id, "site": names[e.site], "steps": hi - lo,
            "limit_kw": round(float(value) / 1e3, 6),
            "peak_import_kw": round(float(g.max()) / 1e3, 6),
            "steps_met": int((g <= cap + _TOL_W).sum()),
            "excess_kwh": round(float(np.maximum(g - cap, 0.0).sum()) * step_s / KWH, 9),
        })
    return out
