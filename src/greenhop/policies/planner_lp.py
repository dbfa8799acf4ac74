"""The linear program of ``horizon-planner``: build it from a :class:`PlanInput`, solve it
with HiGHS.

Sets: jobs ``j`` (running or suspended), each at its home site ``h(j)``; candidate moves
``p = (j, c)`` to other sites ``c`` that pass the alpha rule now; sites ``s``; blocks ``b``
of length ``tau_b`` [h] with mid-points ``t_b`` [h] over the horizon ``H`` [h]; links ``l``.

A job that moves runs at ``c`` from the end of the move's downtime until its work is done
(``a[p,b]``: its share of block ``b``, with ``rho_p`` its speed at ``c`` over home), so a
move is one column; the next plan may suspend it there.

Variables (all in [0, 1] unless said):
    ``xh[j,b]``  share of block ``b`` job ``j`` runs at its home site;
    ``m[p]``     the move ``j -> c`` is started now;
    ``g[s,b]``   grid energy site ``s`` imports for the planned jobs in block ``b`` [kWh], >= 0;
    ``sl[j]``    work short of what the deadline needs [h at home speed], >= 0.

Constraints:
    home      ``xh[j,b] <= a_h[j,b] (1 - sum_p m[p])`` (``a_h``: share of the block left
              after a resume's restart);
    one move  ``sum_p m[p] <= 1``;
    work      ``sum_b tau_b xh + sum_p w_p m[p] <= R_j`` (``R_j``: remaining hours at home
              speed; ``w_p = sum_b tau_b rho_p a[p,b]`` the work a move does in the horizon);
    deadline  ``sum_b tau_b f_jb xh + sum_p (sum_b tau_b rho_p a[p,b] f_jb) m[p] + sl_j
              >= need_j`` (``f``: share of the block before the deadline; ``need``: work
              that must be done inside the horizon);
    energy    ``sum_j P tau_b xh + sum_p P_p tau_b a[p,b] m[p] - g[s,b] <= F[s,b] tau_b``
              (``P`` [kW]: the job's facility power at the site; ``F`` [kW]: forecast surplus
              left for the planned jobs); the staying GPUs of a partially migratable job
              draw at their own site ``k(j)`` (``Ps`` [kW]) whenever the job runs, on its
              home or after a move (not after a move back to ``k(j)``, which joins them);
    excess    ``sum_j (P - F)+ tau_b xh + sum_p (P_p - F)+ tau_b a[p,b] m[p] - g[s,b] <= 0``:
              surplus is used only while a job runs, so a job that draws more than the
              surplus draws the rest from the grid whenever it runs, whatever share of the
              block (a lower bound on the grid energy of any schedule inside the block);
    slots     ``sum_{p to s} gpus_p m[p] <= free_s``;
    links     ``sum_{p through l} Gbit_p m[p] <= budget_l`` (a necessary condition for the
              alpha rule when moves share a link; the policy checks each move exactly);
    DR        for every site ``s`` and block ``b`` that overlaps an announced
              demand-response event there: ``sum_{j at s} P_j xh[j,b] + sum_{p to s}
              P_p a[p,b] m[p] + sum_{p from s, in flight at the event} Pidle_p m[p]
              <= Lim[s,b]`` (``Lim`` [kW]: the event's job power limit, the smallest of the
              events there; a whole block counts, since a plan is acted on for a whole epoch).

Objective [kWh]: ``sum w g + sum_j P_j (lam D_j + e_j T_j) + sum_p (mu P_j + E_p) m[p]
+ dp sum_j P_j sl_j``
where ``D_j = H + R_j - sum_b prog_jb (1 + (H - t_b) / R_j)`` is the job's delay proxy (the
integral of its remaining share over the horizon plus the time the rest needs after it:
postponing a job by ``w`` hours raises it by ``w``), ``T_j = R_j - sum_b prog_jb`` the work
left after the horizon, priced at ``e_j``, the grid share expected then (the job's home share
of the horizon without enough forecast surplus), ``E_p`` the move's energy (network +
idle hardware during the downtime, counted as grid energy) and ``P_j`` [kW] the job's power
at home; ``w[s,b]`` is 1, or under a carbon or cost objective the relative weight of a grid
kWh at ``s`` in block ``b`` as forecast now (:func:`greenhop.policies.objectives.block_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greenhop.core.highs import new_highs

KWH_J = 3.6e6


@dataclass
class PlanInput:
    """Arrays of one planning problem (see the module docstring for the symbols).

    Per job ``[J]``: ``home``, ``p_home_kw``, ``rem_h``, ``need_h``, ``tail_grid``,
    ``dfrac`` ``[J, B]``, ``a_home`` ``[J, B]``. Per candidate move ``[P]``: ``pj`` (job row),
    ``pc`` (site), ``p_kw``, ``rho``, ``avail`` ``[P, B]``, ``gpus``, ``gbit``, ``e_kwh``,
    ``link_rows``/``link_cols`` (link row, move column pairs). Per site: ``surplus_kw``
    ``[S, B]``, ``free`` ``[S]``; per link ``budget_gbit`` ``[L]``; blocks ``tau_h`` ``[B]``,
    ``tmid_h`` ``[B]``.
    """

    home: np.ndarray
    #: the job's facility power [kW] (its staying GPUs' included)
    p_home_kw: np.ndarray
    rem_h: np.ndarray
    need_h: np.ndarray
    tail_grid: np.ndarray
    dfrac: np.ndarray
    a_home: np.ndarray
    pj: np.ndarray
    pc: np.ndarray
    p_kw: np.ndarray
    rho: np.ndarray
    avail: np.ndarray
    gpus: np.ndarray
    gbit: np.ndarray
    e_kwh: np.ndarray
    link_rows: np.ndarray
    link_cols: np.ndarray
    budget_gbit: np.ndarray
    surplus_kw: np.ndarray
    free: np.ndarray
    tau_h: np.ndarray
    tmid_h: np.ndarray
    #: ``[S, B]`` relative weight of a grid kWh per site and block under a carbon or cost
    #: objective (docs/grid.md); ``None``: every grid kWh weighs 1
    grid_weight: np.ndarray | None = None
    #: ``[J]`` the jobs' indices in the fleet and ``[L]`` the links' (their names across
    #: plans, for a warm start); ``None``: no warm start
    job_ids: np.ndarray | None = None
    link_ids: np.ndarray | None = None
    #: demand-response rows ``[R]``: site (fleet index), block and the job power limit
    #: there [kW]; ``None``: no announced event in the horizon
    dr_site: np.ndarray | None = None
    dr_block: np.ndarray | None = None
    dr_limit_kw: np.ndarray | None = None
    #: triplets (DR row, move column, idle facility power [kW]) of moves out of an event's
    #: site that would still hold their source when the event starts
    dr_out_row: np.ndarray | None = None
    dr_out_col: np.ndarray | None = None
    dr_out_kw: np.ndarray | None = None
    #: ``[J]`` the site of the staying GPUs of a partially migratable job whose migratable
    #: share is elsewhere, and their facility power there [kW] (0 for every other job:
    #: its GPUs are all at its home); ``[P]`` the same power for each move (0 for a move
    #: that takes the share back to them); ``None``: no job has GPUs apart
    stay_site: np.ndarray | None = None
    stay_kw: np.ndarray | None = None
    p_stay_kw: np.ndarray | None = None

    def stays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(stay_site [J], stay_kw [J], p_stay_kw [P])``, zeros where not given."""
        J, P = self.home.size, self.pj.size
        if self.stay_kw is None or self.stay_site is None:
            return self.home, np.zeros(J), np.zeros(P)
        p_stay = np.zeros(P) if self.p_stay_kw is None else self.p_stay_kw
        return self.stay_site, self.stay_kw, p_stay

    @property
    def n_dr(self) -> int:
        """Number of demand-response rows."""
        return 0 if self.dr_site is None else int(self.dr_site.size)


@dataclass
class PlanResult:
    """Solution of one plan: ``ok`` (optimal), first-block shares and move values
    (``xh``: every block's home shares ``[J, B]``, for inspection)."""

    ok: bool
    status: str
    xh0: np.ndarray
    xc0: np.ndarray
    m: np.ndarray
    objective_kwh: float
    cols: int
    rows: int
    xh: np.ndarray | None = None


@dataclass
class LpArrays:
    """The LP of one plan in HiGHS's column-wise form, and where its variables sit."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray
    n_col: int
    n_row: int
    c_m: int
    c_g: int
    #: a name per column and per row that stays the same from one plan to the next (kind,
    #: job or site, block or site or link), for a warm start; ``None`` without job ids
    col_names: np.ndarray | None = None
    row_names: np.ndarray | None = None

    def key(self) -> bytes:
        """Every number of the LP, as bytes: equal keys, equal LPs (and equal plans)."""
        parts = (self.cost, self.col_lower, self.col_upper, self.row_lower, self.row_upper,
                 self.start, self.index, self.value)
        return b"".join(np.ascontiguousarray(a).tobytes() for a in parts)


def build_lp(pi: PlanInput, *, lam: float, mu: float, deadline_penalty: float,
             names: bool = False) -> LpArrays:
    """The LP of the module docstring as arrays (vectorised; no loop over jobs or moves);
    ``names``: also name its columns and rows (for a warm start; needs ``pi.job_ids``)."""
    J, B = pi.a_home.shape
    P = pi.pj.size
    stay_site, stay_kw, p_stay_kw = pi.stays()
    apart = np.flatnonzero(stay_kw > 0)           # jobs whose staying GPUs draw elsewhere
    p_apart = np.flatnonzero(p_stay_kw > 0)       # moves that leave them drawing there
    # Only the sites this plan touches get energy rows and grid columns.
    used = np.unique(np.concatenate([pi.home, pi.pc, stay_site[apart]]))
    local = np.full(pi.surplus_kw.shape[0], -1, dtype=np.int64)
    local[used] = np.arange(used.size)
    home, pc, stay = local[pi.home], local[pi.pc], local[stay_site]
    main_kw = pi.p_home_kw - stay_kw              # what the job draws at its home
    surplus_kw, free = pi.surplus_kw[used], pi.free[used]
    S = used.size
    L = pi.budget_gbit.size
    H = float(pi.tau_h.sum())
    # Column layout.
    c_xh = 0
    c_m = c_xh + J * B
    c_g = c_m + P
    c_sl = c_g + S * B
    n_col = c_sl + J
    rem = np.maximum(pi.rem_h, 1e-3)
    # Value of an hour of progress: the delay it saves plus the grid energy the same work
    # would cost after the horizon (tail_grid: expected grid share there).
    wdel = (1.0 + (H - pi.tmid_h)[None, :] / rem[:, None]
            + pi.tail_grid[:, None] / max(lam, 1e-12))  # [J, B]
    prog = pi.tau_h[None, :] * pi.rho[:, None] * pi.avail  # [P, B] hours at home speed
    cost = np.zeros(n_col)
    cost[c_xh:c_m] = (-lam * pi.p_home_kw[:, None] * pi.tau_h[None, :] * wdel).ravel()
    if P:
        cost[c_m:c_g] = (mu * pi.p_home_kw[pi.pj] + pi.e_kwh
                         - lam * pi.p_home_kw[pi.pj] * (prog * wdel[pi.pj]).sum(axis=1))
    cost[c_g:c_sl] = 1.0 if pi.grid_weight is None else pi.grid_weight[used].ravel()
    cost[c_sl:] = deadline_penalty * pi.p_home_kw
    lo = np.zeros(n_col)
    hi = np.ones(n_col)
    hi[c_g:] = np.inf

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    rlo: list[np.ndarray] = []
    rhi: list[np.ndarray] = []
    r0 = 0

    def add(r, c, v):
        rows.append(np.asarray(r, dtype=np.int64))
        cols.append(np.asarray(c, dtype=np.int64))
        vals.append(np.asarray(v, dtype=float))

    jb = np.arange(J * B)
    jj = np.repeat(np.arange(J), B)
    pcol = c_m + np.arange(P)
    # home: xh[j,b] + a_h[j,b] sum_p m[p] <= a_h[j,b]
    add(r0 + jb, c_xh + jb, np.ones(J * B))
    if P:
        pr = (pi.pj[:, None] * B + np.arange(B)[None, :]).ravel()
        add(r0 + pr, np.repeat(pcol, B), pi.a_home[pi.pj].ravel())
    rlo.append(np.full(J * B, -np.inf))
    rhi.append(pi.a_home.ravel())
    r0 += J * B
    if P:
        # one move per job
        add(r0 + pi.pj, pcol, np.ones(P))
        rlo.append(np.full(J, -np.inf))
        rhi.append(np.ones(J))
        r0 += J
    # work cap
    tau_jb = np.tile(pi.tau_h, J)
    add(r0 + jj, c_xh + jb, tau_jb)
    if P:
        add(r0 + pi.pj, pcol, prog.sum(axis=1))
    rlo.append(np.full(J, -np.inf))
    rhi.append(rem)
    r0 += J
    # deadlines
    dl = np.flatnonzero(pi.need_h > 1e-9)
    if dl.size:
        rid = np.full(J, -1)
        rid[dl] = np.arange(dl.size)
        sel = rid[jj] >= 0
        add(r0 + rid[jj][sel], (c_xh + jb)[sel], (tau_jb * pi.dfrac.ravel())[sel])
        if P:
            sel_p = rid[pi.pj] >= 0
            coef = (prog * pi.dfrac[pi.pj]).sum(axis=1)
            add(r0 + rid[pi.pj][sel_p], pcol[sel_p], coef[sel_p])
        add(r0 + np.arange(dl.size), c_sl + dl, np.ones(dl.size))
        rlo.append(pi.need_h[dl])
        rhi.append(np.full(dl.size, np.inf))
        r0 += dl.size
    bb = np.arange(B)[None, :]
    e_rows = (pc[:, None] * B + bb).ravel()

    def site_rows(power) -> None:
        """One row per site and block over the planned jobs' draw there: ``power(kw,
        site)`` [kW] ``[n, B]`` per block for draws of ``kw`` [kW] at local ``site``, times
        the block's length (and a move's running share), less ``g[s,b]``."""
        add(r0 + (home[jj] * B + jb % B), c_xh + jb,
            (power(main_kw, home) * pi.tau_h[None, :]).ravel())
        if apart.size:
            add(r0 + (stay[apart, None] * B + bb).ravel(),
                (c_xh + apart[:, None] * B + bb).ravel(),
                (power(stay_kw[apart], stay[apart]) * pi.tau_h[None, :]).ravel())
        if P:
            add(r0 + e_rows, np.repeat(pcol, B),
                (power(pi.p_kw, pc) * pi.tau_h[None, :] * pi.avail).ravel())
            if p_apart.size:
                ps = stay[pi.pj[p_apart]]
                add(r0 + (ps[:, None] * B + bb).ravel(), np.repeat(pcol[p_apart], B),
                    (power(p_stay_kw[p_apart], ps) * pi.tau_h[None, :]
                     * pi.avail[p_apart]).ravel())
        add(r0 + np.arange(S * B), c_g + np.arange(S * B), -np.ones(S * B))
        rlo.append(np.full(S * B, -np.inf))

    # energy: sum P tau x - g <= F tau
    site_rows(lambda kw, _site: np.repeat(kw[:, None], B, axis=1))
    f_kw = np.maximum(surplus_kw, 0.0)
    rhi.append((f_kw * pi.tau_h[None, :]).ravel())
    r0 += S * B
    # excess: sum (P - F)+ tau x - g <= 0. Surplus is used only while a job runs: a job
    # drawing more than the site's surplus draws the rest from the grid whenever it runs,
    # so running a share of a block does not make it green (without this row the LP ran
    # such a job at surplus / P of each block, as if the surplus could be stored).
    site_rows(lambda kw, site: np.maximum(kw[:, None] - f_kw[site], 0.0))
    rhi.append(np.zeros(S * B))
    r0 += S * B
    if P:
        # slots at each destination
        add(r0 + pc, pcol, pi.gpus.astype(float))
        rlo.append(np.full(S, -np.inf))
        rhi.append(np.maximum(free, 0).astype(float))
        r0 += S
        if L:
            add(r0 + pi.link_rows, c_m + pi.link_cols, pi.gbit[pi.link_cols])
            rlo.append(np.full(L, -np.inf))
            rhi.append(pi.budget_gbit)
            r0 += L
    R = pi.n_dr
    if R:
        # demand response: the planned jobs' power at an event's site in each block it
        # overlaps stays under the event's job power limit (rows last: an LP without
        # events is the one it was before)
        ri, ji = np.nonzero(pi.dr_site[:, None] == pi.home[None, :])
        add(r0 + ri, c_xh + ji * B + pi.dr_block[ri], main_kw[ji])
        ri, ji = np.nonzero((pi.dr_site[:, None] == stay_site[None, :])
                            & (stay_kw > 0)[None, :])
        add(r0 + ri, c_xh + ji * B + pi.dr_block[ri], stay_kw[ji])
        if P:
            ri, pp = np.nonzero(pi.dr_site[:, None] == pi.pc[None, :])
            add(r0 + ri, c_m + pp, pi.p_kw[pp] * pi.avail[pp, pi.dr_block[ri]])
            ri, pp = np.nonzero((pi.dr_site[:, None] == stay_site[pi.pj][None, :])
                                & (p_stay_kw > 0)[None, :])
            add(r0 + ri, c_m + pp, p_stay_kw[pp] * pi.avail[pp, pi.dr_block[ri]])
            if pi.dr_out_row is not None and pi.dr_out_row.size:
                add(r0 + pi.dr_out_row, c_m + pi.dr_out_col, pi.dr_out_kw)
        rlo.append(np.full(R, -np.inf))
        rhi.append(np.maximum(pi.dr_limit_kw, 0.0))
        r0 += R
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = np.concatenate(vals)
    keep = v != 0.0
    r, c, v = r[keep], c[keep], v[keep]
    order = np.lexsort((r, c))
    start = np.zeros(n_col + 1, dtype=np.int32)
    np.cumsum(np.bincount(c, minlength=n_col), out=start[1:])
    col_names = row_names = None
    if names and pi.job_ids is not None and pi.link_ids is not None:
        jid = np.asarray(pi.job_ids, dtype=np.int64)
        bb = np.arange(B)
        col_names = np.concatenate([
            _name(0, np.repeat(jid, B), np.tile(bb, J)), _name(1, jid[pi.pj], pi.pc),
            _name(2, np.repeat(used, B), np.tile(bb, S)), _name(3, jid, 0)])
        parts = [_name(10, np.repeat(jid, B), np.tile(bb, J))]
        if P:
            parts.append(_name(11, jid, 0))
        parts.append(_name(12, jid, 0))
        if dl.size:
            parts.append(_name(13, jid[dl], 0))
        parts.append(_name(14, np.repeat(used, B), np.tile(bb, S)))
        parts.append(_name(18, np.repeat(used, B), np.tile(bb, S)))
        if P:
            parts.append(_name(15, used, 0))
            if L:
                parts.append(_name(16, np.asarray(pi.link_ids, dtype=np.int64), 0))
        if R:
            parts.append(_name(17, pi.dr_site, pi.dr_block))
        row_names = np.concatenate(parts)
    return LpArrays(cost=cost, col_lower=lo, col_upper=hi, row_lower=np.concatenate(rlo),
                    row_upper=np.concatenate(rhi), start=start,
                    index=r[order].astype(np.int32), value=v[order], n_col=n_col, n_row=r0,
                    c_m=c_m, c_g=c_g, col_names=col_names, row_names=row_names)


def _name(kind: int, a, b) -> np.ndarray:
    """One int64 name per variable or row: its kind, then two indices (< 2**24 each)."""
    a = np.asarray(a, dtype=np.int64)
    return (kind << 48) + (a << 24) + np.asarray(b, dtype=np.int64)


class PlanSolver:
    """Solves plans on one HiGHS instance kept across epochs (its options are set once).

    ``passModel`` replaces the previous model and clears HiGHS's solver state, so a plan's
    solution depends on its LP alone, as with a fresh instance. When an LP is the same,
    number for number, as the one solved just before (:meth:`LpArrays.key`), its plan is
    returned without a solve (``skipped`` counts these).
    """

    def __init__(self, warm_start: bool = False) -> None:
        self._h = None
        self._last: tuple[bytes, PlanResult] | None = None
        self.warm_start = warm_start
        #: per slot (a site cluster), the names and statuses of the last optimal basis
        self._basis: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self.solves = 0
        self.skipped = 0
        self.warm = 0

    def __getstate__(self) -> dict:
        # A HiGHS instance does not pickle or copy: a copy makes its own on its first solve.
        state = self.__dict__.copy()
        state["_h"] = None
        return state

    def _highs(self):
        if self._h is None:
            h = new_highs()
            h.setOptionValue("output_flag", False)
            # No "threads" option: HiGHS's thread pool is process-wide and set by the first
            # solve (e.g. a bound's), after which another value makes run() fail; the dual
            # simplex runs serially (deterministically) by default.
            h.setOptionValue("solver", "simplex")
            # Presolve stays on although it is about half of a solve's time here: without it
            # the simplex ends on another of the tied optima now and then, and the rounded
            # decisions differ (docs/planner.md, *Speed*).
            self._h = h
        return self._h

    def solve(self, pi: PlanInput, *, lam: float, mu: float, deadline_penalty: float,
              time_limit_s: float, slot: int = 0) -> PlanResult:
        """Build the LP (module docstring) and solve it with HiGHS's dual simplex (serial,
        deterministic) within ``time_limit_s``."""
        lp = build_lp(pi, lam=lam, mu=mu, deadline_penalty=deadline_penalty,
                      names=self.warm_start)
        key = lp.key()
        if self._last is not None and self._last[0] == key:
            self.skipped += 1
            return self._last[1]
        res = self._run(pi, lp, time_limit_s, slot)
        # Only an optimal plan is reused: a time limit may not be hit a second time.
        self._last = (key, res) if res.ok else None
        return res

    def _run(self, pi: PlanInput, lp: LpArrays, time_limit_s: float,
             slot: int = 0) -> PlanResult:
        import highspy

        h = self._highs()
        self.solves += 1
        # HiGHS's run clock adds up over an instance's runs: the limit is set past its reading.
        h.setOptionValue("time_limit", float(h.getRunTime()) + float(time_limit_s))
        h.passModel(lp.n_col, lp.n_row, int(lp.index.size), int(highspy.MatrixFormat.kColwise),
                    int(highspy.ObjSense.kMinimize), 0.0, lp.cost, lp.col_lower, lp.col_upper,
                    lp.row_lower, lp.row_upper, lp.start[:-1], lp.index, lp.value,
                    np.zeros(lp.n_col, dtype=np.int32))  # every column continuous: an LP
        if self.warm_start and slot in self._basis and lp.col_names is not None:
            self._set_basis(h, lp, self._basis[slot])
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        if status != "Optimal":
            self._basis.pop(slot, None)
            empty = np.zeros(0)
            return PlanResult(False, status, empty, empty, empty, float("nan"), lp.n_col,
                              lp.n_row)
        if self.warm_start and lp.col_names is not None:
            b = h.getBasis()
            self._basis[slot] = (lp.col_names, np.array([v.value for v in b.col_status]),
                                 lp.row_names, np.array([v.value for v in b.row_status]))
        J, B = pi.a_home.shape
        P = pi.pj.size
        x = np.asarray(h.getSolution().col_value)
        xh = x[:lp.c_m].reshape(J, B)
        m = x[lp.c_m:lp.c_g].copy()
        return PlanResult(True, status, xh[:, 0].copy(),
                          m * pi.avail[:, 0] if P else np.zeros(0), m,
                          float(h.getInfo().objective_function_value), lp.n_col, lp.n_row,
                          xh.copy())

    def _set_basis(self, h, lp: LpArrays, last: tuple) -> None:
        """Start from the last plan's basis: each column and row keeps its status where its
        name was in the last LP (new columns at their lower bound, new rows basic), nonbasic
        statuses moved to a finite bound, and the basic count made the row count."""
        import highspy

        old_c, old_cs, old_r, old_rs = last
        col = _carry(old_c, old_cs, lp.col_names, 0)
        row = _carry(old_r, old_rs, lp.row_names, 1)
        col = np.where((col != 1) & (col != 2), 0, col)
        col = np.where((col == 2) & ~np.isfinite(lp.col_upper), 0, col)
        fin_lo, fin_hi = np.isfinite(lp.row_lower), np.isfinite(lp.row_upper)
        row = np.where((row != 1) & ~fin_lo, 2, row)
        row = np.where((row != 1) & (row != 2) & fin_lo, 0, row)
        row = np.where((row == 2) & ~fin_hi, 0, row)
        extra = int((col == 1).sum() + (row == 1).sum()) - lp.n_row
        if extra > 0:  # too many basic: the last basic columns go to their lower bound
            col[np.flatnonzero(col == 1)[-extra:]] = 0
        elif extra < 0:  # too few: the first nonbasic rows become basic
            row[np.flatnonzero(row != 1)[:-extra]] = 1
        st = [highspy.HighsBasisStatus(v) for v in range(5)]  # made once: a lookup per entry
        basis = highspy.HighsBasis()
        basis.col_status = [st[v] for v in col.tolist()]
        basis.row_status = [st[v] for v in row.tolist()]
        basis.valid = True
        if h.setBasis(basis) == highspy.HighsStatus.kOk:
            self.warm += 1


def _carry(old_names: np.ndarray, old_status: np.ndarray, names: np.ndarray,
           default: int) -> np.ndarray:
    """The status each of ``names`` had under the same name before, else ``default``."""
    order = np.argsort(old_names, kind="stable")
    sorted_names = old_names[order]
    pos = np.clip(np.searchsorted(sorted_names, names), 0, max(sorted_names.size - 1, 0))
    out = np.full(names.size, default, dtype=np.int64)
    if sorted_names.size:
        hit = sorted_names[pos] == names
        out[hit] = old_status[order][pos[hit]]
    return out


def solve_plan(pi: PlanInput, *, lam: float, mu: float, deadline_penalty: float,
               time_limit_s: float, solver: PlanSolver | None = None,
               slot: int = 0) -> PlanResult:
    """Build the LP (module docstring) and solve it with HiGHS's dual simplex (serial,
    deterministic) within ``time_limit_s``; ``solver`` keeps one HiGHS instance across
    calls (a fresh one is made without it)."""
    return (solver or PlanSolver()).solve(pi, lam=lam, mu=mu,
                                          deadline_penalty=deadline_penalty,
                                          time_limit_s=time_limit_s, slot=slot)
