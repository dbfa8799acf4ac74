"""Announced demand-response events as hard constraints of ``horizon-planner``'s LP.

An event announced at or before now (``Observation.dr_events``) caps the facility power of
the jobs at its site from its start to its end (its *job power limit*: the grid-import
limit less the site's base demand, docs/grid.md "Demand response"). Renewables and
batteries only ever lower the grid import below the demand, so a plan whose job power is
under that limit meets the event whatever the weather: the plan counts neither, as the
fleet's enforcement does not.

The planner acts on its first block for a whole epoch, so a block that overlaps an event
at all is held under the limit for the whole block (the job stops at the latest at the
start of the epoch in which the event starts). A stop is not instant either (a suspension
writes a checkpoint first), so an event that starts within ``lead_s`` after a block ends
(the longest checkpoint save of the planned jobs) counts as overlapping it: the next plan
would come too late to stop before the start. A move out of the site still holds its
source's GPUs at idle power until its downtime ends; if that is after the event starts,
that power counts against the limit too.
"""

from __future__ import annotations

import numpy as np

from greenhop.core.observation import RUNNING, Observation

_TOL_W = 1e-6


def closed_sites(obs: Observation) -> np.ndarray:
    """``[S]`` bool, the sites closed to new work now (all open where the mechanism does not
    say)."""
    if obs.site_closed is None:
        return np.zeros(obs.n_sites, dtype=bool)
    return np.asarray(obs.site_closed, dtype=bool)


def closed_until_s(obs: Observation) -> np.ndarray:
    """Time from now until each site's announced events are over [s], ``[S]`` (0 at a site
    without one): a job suspended there cannot resume before (admission refuses it)."""
    out = np.zeros(obs.n_sites)
    ev = obs.dr_events
    if ev is not None and len(ev):
        np.maximum.at(out, ev.site, np.maximum(ev.end_s - obs.now_s, 0.0))
    return out


def dr_rows(obs: Observation, edges_s: np.ndarray, sites: np.ndarray, fixed_w: np.ndarray,
            home: np.ndarray, pj: np.ndarray, pc: np.ndarray, down_s: np.ndarray,
            idle_w: np.ndarray, lead_s: float = 0.0) -> dict:
    """The LP rows of the announced events over the blocks ``edges_s`` [s from now].

    Args:
        sites: ``[S]`` bool, the sites of this plan (its cluster).
        fixed_w: ``[S]`` facility power of jobs arriving by migration (not planned) [W],
            taken off the limit.
        home: ``[J]`` each planned job's site; ``pj``, ``pc``: ``[P]`` each candidate
            move's job row and destination; ``down_s`` its downtime [s]; ``idle_w`` the
            idle facility power it holds at its source meanwhile [W].
        lead_s: how long before an event's start a stop must begin [s] (module docstring).

    Returns:
        ``{"lp": PlanInput keyword arguments (dr_site, dr_block, dr_limit_kw, dr_out_row,
        dr_out_col, dr_out_kw), "first": {site: (job power limit [W], when the event
        starts in the first block [s from now])}}`` (empty without events).
    """
    empty = {"lp": {}, "first": {}}
    ev = obs.dr_events
    if ev is None or not len(ev):
        return empty
    lo, hi = edges_s[:-1], edges_s[1:]
    t0 = np.asarray(ev.start_s, dtype=float) - obs.now_s
    t1 = np.asarray(ev.end_s, dtype=float) - obs.now_s
    touched = np.zeros(obs.n_sites, dtype=bool)
    touched[home] = True
    touched[pc] = True
    keep = touched[ev.site] & np.asarray(sites, dtype=bool)[ev.site]
    over = (lo[None, :] < t1[:, None]) & (hi[None, :] + lead_s > t0[:, None]) & keep[:, None]
    e_idx, b_idx = np.nonzero(over)
    if e_idx.size == 0:
        return empty
    # One row per (site, block): the smallest limit of the events there, from the first start.
    key = ev.site[e_idx] * lo.size + b_idx
    rows, inv = np.unique(key, return_inverse=True)
    limit_w = np.full(rows.size, np.inf)
    np.minimum.at(limit_w, inv, ev.job_limit_w[e_idx])
    from_s = np.full(rows.size, np.inf)
    np.minimum.at(from_s, inv, t0[e_idx])
    site = rows // lo.size
    block = rows % lo.size
    from_s = np.maximum(from_s, lo[block])
    limit_w = np.maximum(limit_w - fixed_w[site], 0.0)
    # Moves out of an event's site still holding their source when the event starts.
    r_out, p_out = np.nonzero((site[:, None] == home[pj][None, :])
                              & (down_s[None, :] > from_s[:, None]))
    lp = {"dr_site": site.astype(np.int64), "dr_block": block.astype(np.int64),
          "dr_limit_kw": limit_w / 1e3, "dr_out_row": r_out.astype(np.int64),
          "dr_out_col": p_out.astype(np.int64), "dr_out_kw": idle_w[p_out] / 1e3}
    first = {int(s): (float(w), float(f))
             for s, b, w, f in zip(site, block, limit_w, from_s, strict=True) if b == 0}
    return {"lp": lp, "first": first}


def hold_first_block(obs: Observation, jobs: np.ndarray, home: np.ndarray,
                     power_w: np.ndarray, run_share: np.ndarray, first: dict,
                     taken: dict[int, float], idle_w: dict[int, float],
                     stopping: set[int], resuming: set[int]) -> tuple[set[int], set[int]]:
    """Make the rounded first block meet the events that overlap it: at each such site the
    power of the jobs that keep running (or resume) there, plus the idle power of moves
    out still in flight when the event starts, stays under the job power limit; more jobs
    are held (suspended, or not resumed), the ones the plan ran least first.

    Args:
        jobs, home, power_w, run_share: ``[J]`` the planned jobs, their sites, their facility
            power there [W] and their planned share of the first block.
        first: ``{site: (limit [W], event start [s from now])}``.
        taken: job -> downtime [s] of each move rounded this epoch; idle_w: job -> the idle
            power it holds at its source meanwhile [W].
        stopping, resuming: jobs the rounding suspends / resumes so far.

    Returns:
        ``(more to suspend, resumes to drop)``.
    """
    suspend, drop = set(), set()
    for s, (limit_w, from_s) in sorted(first.items()):
        load = 0.0
        running = []
        for k, j in enumerate(jobs.tolist()):
            if home[k] != s:
                continue
            if j in taken:
                if taken[j] > from_s:
                    load += idle_w[j]
                continue
            if (obs.job_phase[j] == RUNNING and j not in stopping) or j in resuming:
                load += float(power_w[k])
                running.append(k)
        for k in sorted(running, key=lambda k: (run_share[k], -power_w[k], k)):
            if load <= limit_w + _TOL_W:
                break
            j = int(jobs[k])
            (drop if j in resuming else suspend).add(j)
            load -= float(power_w[k])
    return suspend, drop
