"""Site energy dispatch over blocks of steps, vectorised over time and sites.

Same energy order and the same per-step equations as
:func:`greenhop.traces.dispatch.dispatch_step` (renewables, then battery, then
grid), but a whole block of ``n`` steps of ``S`` sites in one pass: the battery
recursion ``soc[t+1] = clip(soc[t] + u[t], floor, capacity)`` (``u`` = the
power-limited charge minus discharge of step ``t``) is a composition of clamp
functions, and clamps compose into clamps, so a parallel prefix scan
(``log2 n`` numpy passes) replaces the Python loop over time.
"""

from __future__ import annotations

import numpy as np

from greenhop.traces.dispatch import dispatch_step


def _scan_clamps(a: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Inclusive scan of ``f_t(x) = clip(x + a_t, lo_t, hi_t)`` along axis 0 (in place)."""
    n = a.shape[0]
    d = 1
    while d < n:
        a_e, lo_e, hi_e = a[:-d], lo[:-d], hi[:-d]
        a_l, lo_l, hi_l = a[d:], lo[d:], hi[d:]
        new_lo = np.clip(lo_e + a_l, lo_l, hi_l)
        new_hi = np.clip(hi_e + a_l, lo_l, hi_l)
        new_a = a_e + a_l
        a[d:], lo[d:], hi[d:] = new_a, new_lo, new_hi
        d *= 2
    return a, lo, hi


def dispatch_block(renewable_w: np.ndarray, demand_w: np.ndarray, soc_j: np.ndarray,
                   dt_s: float, *, capacity_j: np.ndarray, max_power_w: np.ndarray,
                   round_trip_efficiency: np.ndarray, min_soc: np.ndarray,
                   grid_import_limit_w: np.ndarray) -> dict[str, np.ndarray]:
    """Dispatch ``n`` steps of ``S`` sites (arrays ``[n, S]``); ``soc_j`` [S] at the start.

    Returns flows [W] of shape ``[n, S]`` (``direct_w, charge_w, discharge_w, grid_w,
    curtailed_w, unmet_w``) and ``soc_end_j`` [S].
    """
    n = renewable_w.shape[0]
    if n == 1:
        f = dispatch_step(renewable_w[0], demand_w[0], soc_j, dt_s, capacity_j=capacity_j,
                          max_power_w=max_power_w, round_trip_efficiency=round_trip_efficiency,
                          min_soc=min_soc, grid_import_limit_w=grid_import_limit_w)
        out = {k: getattr(f, k)[None, :] for k in ("direct_w", "charge_w", "discharge_w",
                                                    "grid_w", "curtailed_w", "unmet_w")}
        out["soc_end_j"] = f.soc_j
        return out
    eta = np.sqrt(round_trip_efficiency)
    floor = min_soc * capacity_j
    direct = np.minimum(renewable_w, demand_w)
    excess = renewable_w - direct
    deficit = demand_w - direct
    u = (np.minimum(excess, max_power_w) * (dt_s * eta)
         - np.minimum(deficit, max_power_w) * (dt_s / eta))
    lo = np.broadcast_to(floor, u.shape).copy()
    hi = np.broadcast_to(np.maximum(capacity_j, floor), u.shape).copy()
    a, lo, hi = _scan_clamps(u, lo, hi)
    soc_after = np.clip(soc_j[None, :] + a, lo, hi)
    soc_before = np.vstack([soc_j[None, :], soc_after[:-1]])
    delta = soc_after - soc_before
    charge = np.maximum(delta, 0.0) / (dt_s * eta)
    discharge = np.maximum(-delta, 0.0) * eta / dt_s
    need = deficit - discharge
    grid = np.minimum(need, grid_import_limit_w)
    return {
        "direct_w": direct, "charge_w": charge, "discharge_w": discharge, "grid_w": grid,
        "curtailed_w": excess - charge, "unmet_w": need - grid, "soc_end_j": soc_after[-1],
    }
