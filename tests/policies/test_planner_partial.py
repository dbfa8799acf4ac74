"""horizon-planner and partially migratable jobs: the migratable share moves to surplus
while the staying GPUs keep drawing at home, in the plan's energy rows and in the books."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit
from test_horizon_planner import Recorder, run, two_site

from greenhop.core.observation import Migrate
from greenhop.policies import make_policy
from greenhop.policies.planner_lp import PlanInput, build_lp


def partial_at_a(link: str = "100Gbps") -> dict:
    """:func:`two_site` (a without renewables, b with 10 kW), its one job partially
    migratable: 2 GPUs, half of them (and of its checkpoint) may move, 4 GPU-h of work."""
    d = two_site(link)
    d["jobs"][0].update(gpus=2, mobility="partial", migratable_share=0.5, work_gpu_h=4.0)
    return d


def test_moves_the_migratable_share_to_surplus_and_the_staying_gpus_draw_at_home():
    pol = Recorder(make_policy("horizon-planner", lam=1.0, move_partial=True))
    res, m = run(partial_at_a(), pol)
    _, m_static = run(partial_at_a(), simkit.Never())
    moves = [a for _, acts in pol.log for a in acts if isinstance(a, Migrate)]
    assert [(a.job, a.dest) for a in moves] == [(0, 1)]  # to b
    assert m["migrations"] == 1 and m["unfinished_jobs"] == 0
    # the moved GPU runs on b's surplus; the staying one draws from a's grid, so the job
    # causes about half of static's grid energy, not none of it
    assert 0.3 * m_static["job_nr_kwh"] < m["job_nr_kwh"] < 0.7 * m_static["job_nr_kwh"]
    assert any(seg[0] == 0 and seg[1] == 1 and seg[4] == "running" for seg in res.segments)


@pytest.mark.parametrize(("link", "move_partial"), [
    ("1Mbps", True),     # 25 GB over 1 Mbit/s x 0.5: days of downtime, beyond alpha x a window
    ("100Gbps", False),  # switched off: partially migratable jobs run or wait at home
])
def test_no_move_when_the_alpha_rule_refuses_it_or_when_switched_off(link, move_partial):
    pol = Recorder(make_policy("horizon-planner", lam=1.0, move_partial=move_partial))
    _, m = run(partial_at_a(link), pol)
    assert m["migrations"] == 0
    assert not any(isinstance(a, Migrate) for _, acts in pol.log for a in acts)


def test_the_share_moves_by_default():
    _, m = run(partial_at_a(), make_policy("horizon-planner", lam=1.0))
    assert m["migrations"] == 1


def test_a_share_moves_only_when_its_downtime_is_at_most_partial_downtime_s():
    """25 GB over 400 Mbit/s x 0.5: 18 minutes of downtime (save, transfer, restore), which
    the alpha rule allows into b's day-long window and which pays back within the hour, but
    the whole job stands still meanwhile: past the default ``partial_downtime_s`` (15 min)
    the share stays, with no limit it moves; a fully migratable job moves either way."""
    _, m = run(partial_at_a("400Mbps"), make_policy("horizon-planner", lam=1.0))
    assert m["migrations"] == 0
    _, m = run(partial_at_a("400Mbps"),
               make_policy("horizon-planner", lam=1.0, partial_downtime_s=float("inf")))
    assert m["migrations"] == 1
    d = partial_at_a("400Mbps")
    d["jobs"][0].update(mobility="migratable", checkpoint="25GB")
    del d["jobs"][0]["migratable_share"]
    _, m = run(d, make_policy("horizon-planner", lam=1.0))
    assert m["migrations"] == 1


def test_a_share_moves_only_to_a_site_at_least_as_fast_as_its_staying_gpus():
    """b at 0.8 x a's speed: the split job would run at b's speed, its staying GPU
    included, so the share stays home, where a fully migratable job moves (with delay
    weighed at ``lam`` 0.5 the surplus is worth the slower run: without the rule the
    share moved too)."""
    d = partial_at_a()
    d["sites"][1]["throughput"] = 0.8
    _, m = run(d, make_policy("horizon-planner", lam=0.5, move_partial=True))
    assert m["migrations"] == 0
    d["jobs"][0].update(mobility="migratable")
    del d["jobs"][0]["migratable_share"]
    _, m = run(d, make_policy("horizon-planner", lam=0.5, move_partial=True))
    assert m["migrations"] == 1


def split_job_input(p_stay_kw: float) -> PlanInput:
    """One job at site 0 (0.4 kW there) whose staying GPUs draw 0.3 kW at site 1, over two
    1-hour blocks; one candidate move of its share to site 2 (0.4 kW there, the staying
    GPUs' ``p_stay_kw`` at site 1 after it)."""
    B = 2
    return PlanInput(
        home=np.array([0]), p_home_kw=np.array([0.7]), rem_h=np.array([2.0]),
        need_h=np.array([0.0]), tail_grid=np.zeros(1), dfrac=np.ones((1, B)),
        a_home=np.ones((1, B)), pj=np.array([0]), pc=np.array([2]), p_kw=np.array([0.4]),
        rho=np.array([1.0]), avail=np.array([[0.5, 1.0]]), gpus=np.array([1]),
        gbit=np.array([8.0]), e_kwh=np.array([0.01]), link_rows=np.array([0]),
        link_cols=np.array([0]), budget_gbit=np.array([100.0]),
        surplus_kw=np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]), free=np.array([0, 0, 2]),
        tau_h=np.ones(B), tmid_h=np.array([0.5, 1.5]), stay_site=np.array([1]),
        stay_kw=np.array([0.3]), p_stay_kw=np.array([p_stay_kw]))


def column(lp, c: int) -> dict[int, float]:
    """Row -> coefficient of column ``c`` of ``lp``."""
    lo, hi = lp.start[c], lp.start[c + 1]
    return dict(zip(lp.index[lo:hi].tolist(), lp.value[lo:hi].tolist(), strict=True))


@pytest.mark.parametrize("p_stay_kw", [0.3, 0.0])
def test_the_staying_gpus_draw_at_their_own_site_in_the_plan(p_stay_kw):
    lp = build_lp(split_job_input(p_stay_kw), lam=0.5, mu=0.5, deadline_penalty=20.0)
    J, B, P, S = 1, 2, 1, 3
    # rows: home [J*B], one move [J], work [J], energy [S*B] (sites 0, 1, 2), slots, links
    energy0 = J * B + J + J
    home_col = column(lp, 0)          # xh[0, block 0]
    assert home_col[energy0 + 0 * B] == pytest.approx(0.4)   # site 0: the job less its stay
    assert home_col[energy0 + 1 * B] == pytest.approx(0.3)   # site 1: the staying GPUs
    assert energy0 + 2 * B not in home_col
    move_col = column(lp, lp.c_m)     # m[0]: the share runs at site 2 from mid-block 0
    assert move_col[energy0 + 2 * B] == pytest.approx(0.4 * 0.5)
    assert move_col[energy0 + 2 * B + 1] == pytest.approx(0.4)
    if p_stay_kw:
        assert move_col[energy0 + 1 * B] == pytest.approx(0.3 * 0.5)
        assert move_col[energy0 + 1 * B + 1] == pytest.approx(0.3)
    else:  # a move that joins the staying GPUs leaves nothing drawing at their site
        assert energy0 + 1 * B not in move_col and energy0 + 1 * B + 1 not in move_col
    assert lp.n_col == J * B + P + S * B + J


def test_a_split_job_runs_at_the_slower_of_its_two_sites():
    """``Observation.job_speed``: a partially migratable job whose share is away from its
    staying GPUs runs at the slower of the two sites (as the simulator books it); a job
    whose GPUs are together, or one not started yet, at the site's speed."""
    import types

    from greenhop.core.observation import MIGRATABLE, PARTIAL, Observation

    obs = types.SimpleNamespace(
        throughput=np.array([1.0, 2.0, 0.5]),
        job_mobility=np.array([PARTIAL, PARTIAL, MIGRATABLE, PARTIAL]),
        job_site=np.array([1, -1, 1, 0]), job_origin=np.array([0, 0, 1, 0]),
        job_home=np.array([0, -1, 1, 0]))
    obs.stay_site = lambda jobs: Observation.stay_site(obs, jobs)
    jobs = np.arange(4)
    assert obs.stay_site(jobs).tolist() == [0, 0, 1, 0]
    speed = Observation.job_speed(obs, jobs, np.array([1, 1, 1, 2]))
    assert speed.tolist() == [1.0, 2.0, 2.0, 0.5]  # the queued one has no GPUs apart yet
    # without job_home (a mechanism that does not say) the origin stands in
    obs.job_home = None
    assert obs.stay_site(jobs).tolist() == [0, 0, 1, 0]
