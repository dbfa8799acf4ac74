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
              left for the planned jobs);
    slots     ``sum_{p to s} gpus_p m[p] <= free_s``;
    links     ``sum_{p through l} Gbit_p m[p] <= budget_l`` (a necessary condition for the
              alpha rule when moves share a link; the policy checks each move exactly).

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


@dataclass
class PlanResult:
    """Solution of one plan: ``ok`` (optimal), first-block shares and move values."""

    ok: bool
    status: str
    xh0: np.ndarray
    xc0: np.ndarray
    m: np.ndarray
    objective_kwh: float
    cols: int
    rows: int


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

    def key(self) -> bytes:
        """Every number of the LP, as bytes: equal keys, equal LPs (and equal plans)."""
        parts = (self.cost, self.col_lower, self.col_upper, self.row_lower, self.row_upper,
                 self.start, self.index, self.value)
        return b"".join(np.ascontiguousarray(a).tobytes() for a in parts)


def build_lp(pi: PlanInput, *, lam: float, mu: float, deadline_penalty: float) -> LpArrays:
    """The LP of the module docstring as arrays (vectorised; no loop over jobs or moves)."""
    J, B = pi.a_home.shape
    P = pi.pj.size
    # Only the sites this plan touches get energy rows and grid columns.
    used = np.unique(np.concatenate([pi.home, pi.pc]))
    local = np.full(pi.surplus_kw.shape[0], -1, dtype=np.int64)
    local[used] = np.arange(used.size)
    home, pc = local[pi.home], local[pi.pc]
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
    # energy: sum P tau x - g <= F tau
    add(r0 + (home[jj] * B + jb % B), c_xh + jb,
        (pi.p_home_kw[:, None] * pi.tau_h[None, :]).ravel())
    if P:
        e_rows = (pc[:, None] * B + np.arange(B)[None, :]).ravel()
        add(r0 + e_rows, np.repeat(pcol, B),
            (pi.p_kw[:, None] * pi.tau_h[None, :] * pi.avail).ravel())
    add(r0 + np.arange(S * B), c_g + np.arange(S * B), -np.ones(S * B))
    rlo.append(np.full(S * B, -np.inf))
    rhi.append((np.maximum(surplus_kw, 0.0) * pi.tau_h[None, :]).ravel())
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
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = np.concatenate(vals)
    keep = v != 0.0
    r, c, v = r[keep], c[keep], v[keep]
    order = np.lexsort((r, c))
    start = np.zeros(n_col + 1, dtype=np.int32)
    np.cumsum(np.bincount(c, minlength=n_col), out=start[1:])
    return LpArrays(cost=cost, col_lower=lo, col_upper=hi, row_lower=np.concatenate(rlo),
                    row_upper=np.concatenate(rhi), start=start,
                    index=r[order].astype(np.int32), value=v[order], n_col=n_col, n_row=r0,
                    c_m=c_m, c_g=c_g)


class PlanSolver:
    """Solves plans on one HiGHS instance kept across epochs (its options are set once).

    ``passModel`` replaces the previous model and clears HiGHS's solver state, so a plan's
    solution depends on its LP alone, as with a fresh instance. When an LP is the same,
    number for number, as the one solved just before (:meth:`LpArrays.key`), its plan is
    returned without a solve (``skipped`` counts these).
    """

    def __init__(self) -> None:
        self._h = None
        self._last: tuple[bytes, PlanResult] | None = None
        self.solves = 0
        self.skipped = 0

    def _highs(self):
        if self._h is None:
            h = new_highs()
            h.setOptionValue("output_flag", False)
            # No "threads" option: HiGHS's thread pool is process-wide and set by the first
            # solve (e.g. a bound's), after which another value makes run() fail; the dual
            # simplex runs serially (deterministically) by default.
            h.setOptionValue("solver", "simplex")
            self._h = h
        return self._h

    def solve(self, pi: PlanInput, *, lam: float, mu: float, deadline_penalty: float,
              time_limit_s: float) -> PlanResult:
        """Build the LP (module docstring) and solve it with HiGHS's dual simplex (serial,
        deterministic) within ``time_limit_s``."""
        lp = build_lp(pi, lam=lam, mu=mu, deadline_penalty=deadline_penalty)
        key = lp.key()
        if self._last is not None and self._last[0] == key:
            self.skipped += 1
            return self._last[1]
        res = self._run(pi, lp, time_limit_s)
        # Only an optimal plan is reused: a time limit may not be hit a second time.
        self._last = (key, res) if res.ok else None
        return res

    def _run(self, pi: PlanInput, lp: LpArrays, time_limit_s: float) -> PlanResult:
        import highspy

        h = self._highs()
        self.solves += 1
        # HiGHS's run clock adds up over an instance's runs: the limit is set past its reading.
        h.setOptionValue("time_limit", float(h.getRunTime()) + float(time_limit_s))
        h.passModel(lp.n_col, lp.n_row, int(lp.index.size), int(highspy.MatrixFormat.kColwise),
                    int(highspy.ObjSense.kMinimize), 0.0, lp.cost, lp.col_lower, lp.col_upper,
                    lp.row_lower, lp.row_upper, lp.start[:-1], lp.index, lp.value,
                    np.zeros(lp.n_col, dtype=np.int32))  # every column continuous: an LP
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        if status != "Optimal":
            empty = np.zeros(0)
            return PlanResult(False, status, empty, empty, empty, float("nan"), lp.n_col,
                              lp.n_row)
        J, B = pi.a_home.shape
        P = pi.pj.size
        x = np.asarray(h.getSolution().col_value)
        xh = x[:lp.c_m].reshape(J, B)
        m = x[lp.c_m:lp.c_g].copy()
        return PlanResult(True, status, xh[:, 0].copy(),
                          m * pi.avail[:, 0] if P else np.zeros(0), m,
                          float(h.getInfo().objective_function_value), lp.n_col, lp.n_row)


def solve_plan(pi: PlanInput, *, lam: float, mu: float, deadline_penalty: float,
               time_limit_s: float, solver: PlanSolver | None = None) -> PlanResult:
    """Build the LP (module docstring) and solve it with HiGHS's dual simplex (serial,
    deterministic) within ``time_limit_s``; ``solver`` keeps one HiGHS instance across
    calls (a fresh one is made without it)."""
    return (solver or PlanSolver()).solve(pi, lam=lam, mu=mu,
                                          deadline_penalty=deadline_penalty,
                                          time_limit_s=time_limit_s)
