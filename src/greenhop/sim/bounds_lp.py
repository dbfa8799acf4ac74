"""The linear program behind the offline bounds (:mod:`greenhop.sim.bounds`), built for HiGHS.

Units inside the LP: energy in kWh, work in reference-GPU-hours, time in hours (numbers of
order 1-100, which keeps HiGHS well scaled). Time is cut into blocks of whole steps; every
constraint is the sum over a block of the simulator's per-step constraint, so any schedule
the simulator can produce maps to a feasible point (a relaxation: the LP optimum can only be
lower). Columns and rows (``S`` sites, ``B`` blocks):

* per site and block: grid ``g`` in ``[0, limit x hours]`` (the objective), renewables used
  directly ``u`` in ``[0, renewable energy of the block]``; with a battery, charge ``c`` and
  discharge ``d`` in ``[0, power x hours]`` and the state of charge at the block's end
  ``soc`` in ``[min_soc x capacity, capacity]``; where the grid limit could bind, unmet
  ``x`` (see :func:`peak_demand_w`);
* per job ``j`` and block ``b`` it may work in: its work ``w[j, b]`` in
  ``[0, GPUs x best throughput x available hours]`` (``spacetime``, and ``time``, where
  each job has one mode: all its GPUs at the site ``static`` ran it at), or fixed at
  static's work in that block (``space``: the profile over time is static's, only the place
  is free);
* per job class ``k`` (jobs with the same placement modes, see :class:`JobClass`), mode
  ``m`` and block: the class's work done in that mode ``y[k, m, b] >= 0``.

Rows: balance ``g + u + d + x - job energy >= base energy``; base deficit
``g + d + x >= sum over the block's steps of max(0, base - renewables)``; renewables
``u + c <= R`` (and ``c`` at most the block's power-limited excess over the base load);
where the grid limit could bind also ``g + d >= sum of min(base deficit, limit)``;
state of charge ``soc_b - soc_{b-1} - sqrt(eta) c + d / sqrt(eta) = 0``; GPU slots
``sum GPU-hours <= slots x hours``; class link ``sum_m y - sum_j w = 0``; per job
``sum_b w >= required`` (``spacetime``, ``time``); grid-limit chord
``(peak / limit - 1) g - x >= 0`` (none at a limit of 0: no grid, ``g = 0``, all of the
short demand unmet).
With a slowdown quantile (:class:`LpInput` ``cap_hi``/``exempt_max``), also per job an
exemption ``e`` in ``[0, 1]`` and ``sum_{b < cap_hi} w + required e >= required`` (the work
inside its slowdown cap, unless exempt), and ``sum_j e <= exempt_max``: the relaxation of
"all but ``exempt_max`` jobs keep the cap". With ``whole_exemptions`` each ``e`` is 0 or 1
(a MILP: which jobs pass the cap is chosen job by job); HiGHS stops once its best schedule
is within ``mip_gap_kwh`` of its dual bound, and the answer is that dual bound, below every
integer-feasible point, so it is still a lower bound; where the time limit stops branch and
bound first, the answer is the dual bound it had reached (looser, but a bound all the same).

Besides the optimum, :func:`solve` returns the **prices** of the work: the dual value of
each job's ``sum_b w >= required`` row (``spacetime``) and the reduced cost of each fixed
``w[j, b]`` (``space``) [kWh per reference-GPU-h]. The dual solution stays feasible when only
those right-hand sides or fixed values change, so by weak duality ``optimum + price x
(other work - this work)`` is a lower bound of the same LP for any other work: the bound
of a run that did different work (:meth:`greenhop.sim.bounds.BoundResult.for_run`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from greenhop.core.highs import new_highs
from greenhop.core.observation import PARTIAL, PINNED
from greenhop.core.scaling import split_throughput, work_extremes
from greenhop.sim.inputs import SimInputs

KWH_J = 3.6e6
H_S = 3600.0
#: estimated peak memory of HiGHS per nonzero and per row or column [bytes] (measured on the
#: default scenario with some margin; see docs/bounds.md)
BYTES_PER_NNZ = 240.0
BYTES_PER_VECTOR = 600.0


@dataclass(frozen=True)
class JobClass:
    """Jobs that share their placement modes and per-work coefficients.

    A *mode* is where a job's GPUs are: ``(site of the moving GPUs, home of the staying
    ones)``; for a job without staying GPUs both are the same site. Per unit of work
    [reference-GPU-h] a mode uses ``gpu_h[m, s]`` GPU-hours and ``it_kwh[m, s]`` IT energy
    at each site ``s``.
    """

    modes: tuple[tuple[int, int], ...]
    gpu_h: np.ndarray      # [M, S]
    it_kwh: np.ndarray     # [M, S]
    jobs: tuple[int, ...]


def job_modes(inp: SimInputs, j: int, at: int = -1) -> list[tuple[int, int]]:
    """The (moving-site, home) pairs job ``j`` could be in under some policy.

    Pinned jobs stay at their origin (any allowed site when they have none), partially
    migratable jobs keep their staying GPUs at their origin (any allowed site when none),
    everything else may be at any allowed site. A site without room for the GPUs it would
    hold is left out (the simulator never admits that placement); an elastic job needs room
    for its fewest GPUs only. With ``at`` >= 0 (the ``time`` bound) the job has one mode,
    all its GPUs at site ``at`` (where ``static`` ran it).
    """
    if at >= 0:
        return [(at, at)]
    allowed = np.flatnonzero(inp.job_allowed[j]).tolist()
    slots = inp.slots
    g, g_move, g_stay = int(inp.job_gpus[j]), int(inp.job_g_move[j]), int(inp.job_g_stay[j])
    g = min(g, inp.jobs[j].gpu_range[0])
    origin = int(inp.job_origin[j])
    homes = [origin] if origin >= 0 else allowed
    if inp.job_mobility[j] == PINNED:
        return [(h, h) for h in homes if slots[h] >= g]
    if inp.job_mobility[j] == PARTIAL and g_stay > 0:
        return [(s, h) for h in homes if slots[h] >= g for s in allowed
                if (s == h or slots[s] >= g_move)]
    return [(s, s) for s in allowed if slots[s] >= g]


def _rate_per_gpu(inp: SimInputs, j: int, s: int, h: int) -> float:
    """Reference work per GPU-second of job ``j`` in mode ``(s, h)`` (engine step 4)."""
    tp = inp.throughput
    return float(split_throughput(tp[s], tp[h], inp.job_g_stay[j] > 0))


def job_classes(inp: SimInputs, jobs: list[int], job_site: np.ndarray | None = None
                ) -> tuple[list[JobClass], np.ndarray]:
    """Group ``jobs`` into classes; returns the classes and each job's best rate per GPU.

    An elastic job's GPU-hours and energy per unit of work are those of its fewest GPUs
    (:func:`greenhop.core.scaling.work_extremes`), the least any count of its range uses.
    ``job_site`` (the ``time`` bound): the one site each job runs at, ``[J]``.
    """
    S = len(inp.slots)
    groups: dict[tuple, list[int]] = {}
    best = np.zeros(len(inp.jobs))
    coeffs: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    per_work, _ = work_extremes(inp.jobs)
    for j in jobs:
        modes = tuple(job_modes(inp, j, -1 if job_site is None else int(job_site[j])))
        g = float(inp.job_gpus[j]) / per_work[j]
        fm, fs = inp.job_g_move[j] / g, inp.job_g_stay[j] / g
        key = (modes, round(fm, 12), round(fs, 12))
        groups.setdefault(key, []).append(j)
        best[j] = max((_rate_per_gpu(inp, j, s, h) for s, h in modes), default=0.0)
        if key in coeffs:
            continue
        gpu_h = np.zeros((len(modes), S))
        it_kwh = np.zeros((len(modes), S))
        for m, (s, h) in enumerate(modes):
            rho = _rate_per_gpu(inp, j, s, h)
            # per reference-GPU-h of work: GPU-h = share / rho; kWh = share x P [kW] / rho
            gpu_h[m, s] += fm / rho
            it_kwh[m, s] += fm * inp.gpu_power_w[s] / 1000.0 / rho
            if fs > 0:
                gpu_h[m, h] += fs / rho
                it_kwh[m, h] += fs * inp.gpu_power_w[h] / 1000.0 / rho
        coeffs[key] = (gpu_h, it_kwh)
    classes = [JobClass(modes=k[0], gpu_h=coeffs[k][0], it_kwh=coeffs[k][1], jobs=tuple(v))
               for k, v in groups.items() if k[0]]
    return classes, best


def peak_demand_w(inp: SimInputs) -> np.ndarray:
    """An upper bound on any step's facility demand per site [W]: base load, every slot at
    the larger of training and idle power, and WAN energy: half (a transfer's network
    energy is booked half at each end) of the full effective rate of every directed link
    leaving or entering the site, times the most energy per bit of any route."""
    net = inp.network
    jpb = float(np.max(net.j_per_bit)) if net.j_per_bit.size else 0.0
    adj = np.zeros(len(inp.scenario.site_names))
    np.add.at(adj, net.link_src, 0.5 * net.link_eff_bps)
    np.add.at(adj, net.link_dst, 0.5 * net.link_eff_bps)
    it = inp.slots * np.maximum(inp.gpu_power_w, inp.gpu_idle_w)
    return inp.base_demand_w + inp.pue * it + adj * jpb


@dataclass(frozen=True)
class LpSize:
    """Size of the LP [columns, rows, nonzeros] and its estimated peak memory [bytes]."""

    cols: int
    rows: int
    nnz: int

    @property
    def bytes(self) -> float:
        return self.nnz * BYTES_PER_NNZ + (self.cols + self.rows) * BYTES_PER_VECTOR


@dataclass(frozen=True)
class LpInput:
    """What the LP needs besides the scenario arrays.

    Attributes:
        edges: block boundaries in steps, ``[B+1]`` from 0 to ``T``.
        avail_h: hours of block ``b`` in which job ``j`` may work, ``[J, B]``.
        required_gpu_h: work each job must do [reference-GPU-h], ``[J]``.
        profile_gpu_h: for ``space``, the work job ``j`` does in block ``b`` (static's),
            ``[J, B]``; ``None`` for ``spacetime`` and ``time``.
        job_site: for ``time``, the site each job must run at (static's), ``[J]``;
            ``None`` for ``space`` and ``spacetime`` (wherever its modes allow).
        cap_hi: ``spacetime`` or ``time`` with a slowdown quantile: for each job, the first
            block wholly after its slowdown cap, ``[J]`` (the block the cap falls in counts
            as inside: a relaxation); ``None`` otherwise.
        exempt_max: how many jobs may pass their cap (with ``cap_hi``).
        whole_exemptions: with ``cap_hi``: each job's exemption is 0 or 1 (a MILP) instead
            of a share in [0, 1] (the LP relaxation).
        mip_gap_kwh: with ``whole_exemptions``: HiGHS stops once its best schedule is
            within this much of its dual bound [kWh].
    """

    edges: np.ndarray
    avail_h: np.ndarray
    required_gpu_h: np.ndarray
    profile_gpu_h: np.ndarray | None
    job_site: np.ndarray | None = None
    cap_hi: np.ndarray | None = None
    exempt_max: float = 0.0
    whole_exemptions: bool = False
    mip_gap_kwh: float = 0.0


NO_GRID_SHARE = 1e-6
"""A site whose grid import limit is below this share of its peak demand counts as having
no grid in the LP [-]."""


class _Plan:
    """Column and row layout, computed before anything large is allocated."""

    def __init__(self, inp: SimInputs, lp: LpInput) -> None:
        S = len(inp.slots)
        B = len(lp.edges) - 1
        self.S, self.B = S, B
        self.has_bat = (inp.bat_capacity_j > 0) & (inp.bat_power_w > 0)
        peak = peak_demand_w(inp)
        # A limit under a millionth of the site's peak demand is no grid (0): the LP's
        # coefficient peak / limit would pass 1e6 and HiGHS's tolerances (1e-9 W gave
        # "Infeasible", 1e-300 W "Empty"). The bound drops at most limit x horizon of
        # grid energy, so it stays a lower bound.
        lim = np.where(inp.grid_limit_w < NO_GRID_SHARE * peak, 0.0, inp.grid_limit_w)
        self.grid_limit_w = lim
        self.peak_w = peak
        self.limited = np.isfinite(lim) & (lim < peak)
        jobs = [j for j in range(len(inp.jobs)) if lp.required_gpu_h[j] > 0]
        self.classes, self.best_rate = job_classes(inp, jobs, lp.job_site)
        _, self.fastest = work_extremes(inp.jobs)
        # blocks each job may work in: a contiguous range [lo, hi)
        self.job_lo = np.zeros(len(inp.jobs), dtype=np.int64)
        self.job_hi = np.zeros(len(inp.jobs), dtype=np.int64)
        for c in self.classes:
            for j in c.jobs:
                # every block of the job's window, also (for space) those static left idle:
                # their fixed work is 0, but their prices price a run that worked there
                nz = np.flatnonzero(lp.avail_h[j] > 0)
                if nz.size:
                    self.job_lo[j], self.job_hi[j] = nz[0], nz[-1] + 1
        self.class_lo = [int(min(self.job_lo[j] for j in c.jobs)) for c in self.classes]
        self.class_hi = [int(max(self.job_hi[j] for j in c.jobs)) for c in self.classes]
        n_w = int((self.job_hi - self.job_lo).sum())
        n_y = sum(len(c.modes) * (hi - lo)
                  for c, lo, hi in zip(self.classes, self.class_lo, self.class_hi, strict=True))
        y_nnz = sum(len(c.modes) * (hi - lo) + 2 * int((c.gpu_h > 0).sum()) * (hi - lo)
                    for c, lo, hi in zip(self.classes, self.class_lo, self.class_hi, strict=True))
        n_class_rows = sum(hi - lo for lo, hi in zip(self.class_lo, self.class_hi, strict=True))
        nb, nl = int(self.has_bat.sum()), int(self.limited.sum())
        space = lp.profile_gpu_h is not None
        site_cols = B * (2 * S + 3 * nb + nl)
        # deficit rows counted as if every block had one
        site_rows = B * (3 * S + 2 * nb + 2 * nl)
        site_nnz = B * (3 * S + 8 * nb + 6 * nl)
        self.n_w, self.n_y = n_w, n_y
        n_jobs = 0 if space else sum(len(c.jobs) for c in self.classes)
        # with a slowdown quantile: an exemption column, an in-cap row and one sum row
        n_e = n_jobs if lp.cap_hi is not None else 0
        self.size = LpSize(
            cols=site_cols + n_w + n_y + n_e,
            rows=site_rows + n_class_rows + n_jobs + n_e + (n_e > 0),
            nnz=site_nnz + y_nnz + 2 * n_w + (n_w + 2 * n_e if n_e else 0))

    def w_cap(self, inp: SimInputs, lp: LpInput, j: int) -> np.ndarray:
        """Upper bounds of job ``j``'s work per block [reference-GPU-h]: its GPUs x its best
        rate x the hours it may work there (an elastic job at its fastest count)."""
        lo, hi = int(self.job_lo[j]), int(self.job_hi[j])
        return inp.job_gpus[j] * self.fastest[j] * self.best_rate[j] * lp.avail_h[j, lo:hi]


def plan_size(inp: SimInputs, lp: LpInput) -> LpSize:
    """The LP's size, without building it."""
    return _Plan(inp, lp).size


class _Coo:
    """Columns, rows and coefficients appended in vectorised chunks."""

    def __init__(self) -> None:
        self.w_col: dict[int, np.ndarray] = {}    # job -> its work columns (blocks lo..hi)
        self.total_row: dict[int, int] = {}       # job -> its total-work row (spacetime)
        self.e_cols: list[int] = []               # exemption columns (slowdown quantile)
        self.n_col = 0
        self.n_row = 0
        self.col_lo: list[np.ndarray] = []
        self.col_hi: list[np.ndarray] = []
        self.cost: list[np.ndarray] = []
        self.row_lo: list[np.ndarray] = []
        self.row_hi: list[np.ndarray] = []
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []

    def cols(self, n: int, lo, hi, cost=0.0) -> np.ndarray:
        idx = np.arange(self.n_col, self.n_col + n)
        self.n_col += n
        self.col_lo.append(np.broadcast_to(np.asarray(lo, dtype=float), (n,)))
        self.col_hi.append(np.broadcast_to(np.asarray(hi, dtype=float), (n,)))
        self.cost.append(np.broadcast_to(np.asarray(cost, dtype=float), (n,)))
        return idx

    def rows(self, n: int, lo, hi) -> np.ndarray:
        idx = np.arange(self.n_row, self.n_row + n)
        self.n_row += n
        self.row_lo.append(np.broadcast_to(np.asarray(lo, dtype=float), (n,)))
        self.row_hi.append(np.broadcast_to(np.asarray(hi, dtype=float), (n,)))
        return idx

    def coef(self, r, c, v) -> None:
        r, c = np.broadcast_arrays(np.asarray(r), np.asarray(c))
        self.r.append(r.ravel())
        self.c.append(c.ravel())
        self.v.append(np.broadcast_to(np.asarray(v, dtype=float), r.shape).ravel())


def _assemble(inp: SimInputs, lp: LpInput, plan: _Plan) -> _Coo:
    """Every column, row and coefficient of the LP (see the module docstring)."""
    S, B = plan.S, plan.B
    T = inp.n_steps
    H = inp.history_steps
    dt = inp.scenario.step_s
    edges = lp.edges
    hours = np.diff(edges) * dt / H_S                                       # [B]
    ren = inp.renewable_w[H:H + T]
    ren_kwh = np.add.reduceat(ren, edges[:-1], axis=0) * dt / KWH_J          # [B, S]
    inf = np.inf
    m = _Coo()
    bs = (np.arange(B)[:, None] * S + np.arange(S)[None, :])               # [B, S] -> flat

    # site-block columns and rows
    lim_w = plan.grid_limit_w
    lim_kwh = np.where(np.isfinite(lim_w), lim_w / 1000.0, inf)
    g = m.cols(B * S, 0.0, (hours[:, None] * lim_kwh[None, :]).ravel(), 1.0)
    u = m.cols(B * S, 0.0, ren_kwh.ravel())
    base_kwh = hours[:, None] * inp.base_demand_w[None, :] / 1000.0
    bal = m.rows(B * S, base_kwh.ravel(), inf)
    slot_rows = m.rows(B * S, -inf, (hours[:, None] * inp.slots[None, :]).ravel())
    m.coef(bal, g, 1.0)
    m.coef(bal, u, 1.0)
    # Within a block, steps whose renewables fall short of the base load need grid or
    # battery whatever the jobs do (demand >= base load at every step): summed over the
    # block, grid + discharge (+ unmet) >= that base deficit. Likewise the battery charges
    # only from the excess over the demand, so at most from the excess over the base load.
    # Both hold step by step, so they keep the relaxation valid and remove most of what
    # netting renewables and load over a block would otherwise give away.
    base_w = inp.base_demand_w[None, :]
    deficit_w = np.maximum(base_w - ren, 0.0)                               # [T, S]
    deficit_kwh = np.add.reduceat(deficit_w, edges[:-1], axis=0) * dt / KWH_J
    excess_w = np.maximum(ren - base_w, 0.0)
    need = np.flatnonzero(deficit_kwh.ravel() > 0)
    dr = m.rows(need.size, deficit_kwh.ravel()[need], inf)
    dr_of = np.full(B * S, -1)
    dr_of[need] = dr
    m.coef(dr, g[need], 1.0)
    d_col: dict[int, np.ndarray] = {}
    for s in np.flatnonzero(plan.has_bat):
        eta = float(np.sqrt(inp.bat_eta[s]))
        pk = inp.bat_power_w[s] / 1000.0 * hours
        cap = inp.bat_capacity_j[s] / KWH_J
        floor = inp.bat_min_soc[s] * cap
        c_max = np.add.reduceat(np.minimum(excess_w[:, s], inp.bat_power_w[s]),
                                edges[:-1]) * dt / KWH_J
        c = m.cols(B, 0.0, c_max)
        d = m.cols(B, 0.0, pk)
        d_col[s] = d
        has = dr_of[bs[:, s]] >= 0
        m.coef(dr_of[bs[has, s]], d[has], 1.0)
        soc = m.cols(B, floor, max(cap, floor))
        rr = m.rows(B, -inf, ren_kwh[:, s])
        m.coef(rr, u[bs[:, s]], 1.0)
        m.coef(rr, c, 1.0)
        m.coef(bal[bs[:, s]], d, 1.0)
        init = inp.bat_initial_j[s] / KWH_J
        rhs = np.zeros(B)
        rhs[0] = init
        sr = m.rows(B, rhs, rhs)
        m.coef(sr, soc, 1.0)
        m.coef(sr[1:], soc[:-1], -1.0)
        m.coef(sr, c, -eta)
        m.coef(sr, d, 1.0 / eta)
    for s in np.flatnonzero(plan.limited):
        x = m.cols(B, 0.0, inf)
        m.coef(bal[bs[:, s]], x, 1.0)
        has = dr_of[bs[:, s]] >= 0
        m.coef(dr_of[bs[has, s]], x[has], 1.0)
        if lim_w[s] > 0:  # without a grid (limit 0) all short demand is unmet
            ch = m.rows(B, 0.0, inf)
            m.coef(ch, g[bs[:, s]], plan.peak_w[s] / lim_w[s] - 1.0)
            m.coef(ch, x, -1.0)
        # At every step grid + discharge >= min(base deficit, limit) (the grid takes the
        # need up to its limit and the need is at least the base deficit less discharge).
        capped = np.add.reduceat(np.minimum(deficit_w[:, s], lim_w[s]),
                                 edges[:-1]) * dt / KWH_J
        pos = np.flatnonzero(capped > 0)
        cr = m.rows(pos.size, capped[pos], inf)
        m.coef(cr, g[bs[pos, s]], 1.0)
        if s in d_col:
            m.coef(cr, d_col[s][pos], 1.0)

    # jobs
    space = lp.profile_gpu_h is not None
    w_col: dict[int, np.ndarray] = {}
    total_row: dict[int, int] = {}
    for j in (j for c in plan.classes for j in c.jobs):
        lo, hi = int(plan.job_lo[j]), int(plan.job_hi[j])
        if hi <= lo:
            continue
        if space:
            fixed = lp.profile_gpu_h[j, lo:hi]
            w_col[j] = m.cols(hi - lo, fixed, fixed)
        else:
            w_col[j] = m.cols(hi - lo, 0.0, plan.w_cap(inp, lp, j))
            tr = m.rows(1, float(lp.required_gpu_h[j]), inf)
            m.coef(tr, w_col[j], 1.0)
            total_row[j] = int(tr[0])
    if not space and lp.cap_hi is not None and w_col:
        # all but exempt_max jobs do their work inside their slowdown cap (relaxed: e)
        sum_row = m.rows(1, -inf, float(lp.exempt_max))
        for j, cols in w_col.items():
            req = float(lp.required_gpu_h[j])
            e = m.cols(1, 0.0, 1.0)
            m.e_cols.append(int(e[0]))
            m.coef(sum_row, e, 1.0)
            inside = int(np.clip(lp.cap_hi[j] - plan.job_lo[j], 0, cols.size))
            cr = m.rows(1, req, inf)
            m.coef(cr, e, req)
            if inside:
                m.coef(cr, cols[:inside], 1.0)
    for c, clo, chi in zip(plan.classes, plan.class_lo, plan.class_hi, strict=True):
        if chi <= clo:
            continue
        nb = chi - clo
        link = m.rows(nb, 0.0, 0.0)
        for j in c.jobs:
            lo, hi = int(plan.job_lo[j]), int(plan.job_hi[j])
            if hi > lo:
                m.coef(link[lo - clo:hi - clo], w_col[j], -1.0)
        blocks = np.arange(clo, chi)
        for mi in range(len(c.modes)):
            y = m.cols(nb, 0.0, inf)
            m.coef(link, y, 1.0)
            for s in np.flatnonzero(c.gpu_h[mi] > 0):
                rows = bs[blocks, s]
                m.coef(slot_rows[rows], y, c.gpu_h[mi, s])
                m.coef(bal[rows], y, -inp.pue[s] * c.it_kwh[mi, s])
    m.w_col, m.total_row = w_col, total_row
    return m


#: HiGHS's status when its time limit stopped a solve
MIP_TIME_LIMIT_STATUS = "Time limit reached"


@dataclass(frozen=True)
class LpSolution:
    """HiGHS's answer: status string, total grid energy [J] (``None`` unless optimal),
    wall time of building and solving [s], the size actually built, and the prices of the
    work [kWh per reference-GPU-h] (``None`` unless optimal): ``job_price`` ``[J]`` (the
    dual of each job's total-work row, ``spacetime``) or ``block_price`` ``[J, B]`` (the
    reduced cost of each fixed work column, ``space``); 0 where the LP has no such row or
    column."""

    status: str
    grid_j: float | None
    solve_s: float
    size: LpSize
    job_price: np.ndarray | None = None
    block_price: np.ndarray | None = None


def _csc(r: np.ndarray, c: np.ndarray, v: np.ndarray, n_col: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise sparse arrays (start, row index, value) of coefficients given as
    triplets; repeated (row, column) pairs are summed, zeros dropped."""
    key = c.astype(np.int64) * (int(r.max(initial=0)) + 1) + r
    order = np.argsort(key, kind="stable")
    key, r, c, v = key[order], r[order], c[order], v[order]
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    at = np.flatnonzero(first)
    value = np.add.reduceat(v, at) if v.size else v
    r, c = r[at], c[at]
    keep = value != 0.0
    r, c, value = r[keep], c[keep], value[keep]
    start = np.zeros(n_col + 1, dtype=np.int32)
    np.cumsum(np.bincount(c, minlength=n_col), out=start[1:])
    return start, r.astype(np.int32), np.ascontiguousarray(value, dtype=float)


def solve(inp: SimInputs, lp: LpInput, *, time_limit_s: float, threads: int = 0
          ) -> LpSolution:
    """Build the LP with :func:`_assemble` and solve it with HiGHS's interior-point method
    followed by crossover to an optimal basis (exact, unlike a first-order method; on the
    default scenario about as fast as the best simplex variant and far steadier than the
    dual simplex, which took minutes before the base-deficit rows); ``time_limit_s`` caps
    the solve. With ``lp.whole_exemptions`` the exemptions are integers and HiGHS's
    branch and bound answers its dual bound (no prices: a MILP has no duals)."""
    import highspy

    t0 = time.perf_counter()
    plan = _Plan(inp, lp)
    m = _assemble(inp, lp, plan)
    cat = np.concatenate
    start, index, value = _csc(cat(m.r), cat(m.c), cat(m.v), m.n_col)
    model = highspy.HighsLp()
    model.num_col_ = m.n_col
    model.num_row_ = m.n_row
    model.col_cost_ = np.ascontiguousarray(cat(m.cost))
    model.col_lower_ = np.ascontiguousarray(cat(m.col_lo))
    model.col_upper_ = np.ascontiguousarray(cat(m.col_hi))
    model.row_lower_ = np.ascontiguousarray(cat(m.row_lo))
    model.row_upper_ = np.ascontiguousarray(cat(m.row_hi))
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_ = start
    model.a_matrix_.index_ = index
    model.a_matrix_.value_ = value
    size = LpSize(cols=m.n_col, rows=m.n_row, nnz=int(value.size))
    w_col, total_row = m.w_col, m.total_row
    mip = bool(lp.whole_exemptions and m.e_cols)
    if mip:
        kinds = np.full(m.n_col, highspy.HighsVarType.kContinuous)
        kinds[m.e_cols] = highspy.HighsVarType.kInteger
        model.integrality_ = kinds.tolist()
    del m
    h = new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    if mip:
        # the gap in kWh of job energy: a relative gap would be one of the base load too
        h.setOptionValue("mip_abs_gap", float(lp.mip_gap_kwh))
        h.setOptionValue("mip_rel_gap", 1e-6)
    else:
        h.setOptionValue("solver", "ipm")
        h.setOptionValue("run_crossover", "on")
    if threads:
        h.setOptionValue("threads", int(threads))
    h.passModel(model)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    grid = job_price = block_price = None
    if mip and status in ("Optimal", MIP_TIME_LIMIT_STATUS):
        # the dual bound: no integer-feasible point lies below it, also when the time
        # limit stopped branch and bound; it is -inf only before the root LP is solved,
        # where the bound is the trivial one, no grid energy (never below it)
        dual = float(h.getInfo().mip_dual_bound)
        grid = max(dual, 0.0) * KWH_J if not np.isnan(dual) else None
    elif status == "Optimal":
        grid = float(h.getInfo().objective_function_value) * KWH_J
        sol = h.getSolution()
        J, B = len(inp.jobs), len(lp.edges) - 1
        if lp.profile_gpu_h is None:
            row_dual = np.asarray(sol.row_dual)
            job_price = np.zeros(J)
            for j, r in total_row.items():
                job_price[j] = row_dual[r]
        else:
            col_dual = np.asarray(sol.col_dual)
            block_price = np.zeros((J, B))
            for j, cols in w_col.items():
                lo = int(plan.job_lo[j])
                block_price[j, lo:lo + cols.size] = col_dual[cols]
    return LpSolution(status=status, grid_j=grid, solve_s=time.perf_counter() - t0, size=size,
                      job_price=job_price, block_price=block_price)
