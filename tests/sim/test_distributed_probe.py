"""Spread jobs: refusals at load, the exchange beside a checkpoint still being written, an
elastic worker that resumes after a boundary, and the parity check's move schedule.

Same micro-scenario as tests/sim/test_distributed_sim.py (its helpers): sites of 4 slots,
links of 8 Gbit/s x 0.5 = 4 Gbit/s each way, RTT 10 ms; model 1e9 parameters, so a bf16
pseudo-gradient is V = 2e9 B; disks write and read 2 GB/s, a start takes 60 s.
"""

from __future__ import annotations

import pytest
import simkit
from simkit import MoveAt
from test_distributed_sim import SYNC3_S, link, run, scenario, spread

from greenhop.core.errors import ConfigError
from greenhop.sim.distributed_parity import expected_counts
from greenhop.sim.scenario import load_scenario

SYNC2_S = 16e9 / 4e9 + 0.01
"""Two workers: one hop each way of 2 (2-1)/2 x V = 2e9 B = 16e9 bit at 4 Gbit/s, + 10 ms."""


def _job(**job) -> dict:
    """The spread job of the helpers with ``job``'s keys (``None``: drop the key)."""
    return {k: v for k, v in spread(**job).items() if v is not None}


def _load_error(d) -> str:
    with pytest.raises(ConfigError) as err:
        load_scenario(d)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------ 1. GPU slots per site
@pytest.mark.parametrize(("job", "expect"), [
    # 3 workers x 2 GPUs = 6 GPUs on site a of 4 slots: the third never gets a slot
    (dict(gpus=2, worker_sites=["a", "a", "b"]), None),
    (dict(gpus=2, worker_sites=["a", "a", "a"]),
     "jobs[0].worker_sites: job 'd' starts 3 workers of 2 GPU(s) on site 'a' but it has 4 "
     "GPU slots"),
    (dict(gpus=2, worker_sites=None, origin="b"),
     "jobs[0].origin: job 'd' starts 3 workers of 2 GPU(s) on site 'b' but it has 4 GPU "
     "slots"),
])
def test_workers_that_cannot_all_run_on_their_first_site_are_refused(job, expect):
    d = scenario(jobs=[_job(**job)])
    if expect is None:
        load_scenario(d)            # 2 workers x 2 GPUs fill a; 2 more GPUs on b
    else:
        assert expect in _load_error(d)


def test_workers_that_no_placement_can_hold_at_once_are_refused():
    # 3 sites of 3 slots: 9 slots in all for 4 x 2 = 8 GPUs, but each site holds one
    # worker of 2 GPUs (3 // 2 = 1): the fourth would wait for ever, and the group with it
    sites = [simkit.site(s, slots=3) for s in "abc"]
    d = scenario(sites=sites, jobs=[_job(workers=4, gpus=2, worker_sites=None)])
    assert ("jobs[0].workers: job 'd' has 4 workers of 2 GPU(s) but the sites it may use "
            "hold only 3 such workers at once") in _load_error(d)
    load_scenario(scenario(sites=sites, jobs=[_job(workers=3, gpus=2, worker_sites=None)]))


TOML = """
name = "crowded"
start = "2023-01-01T00:00:00Z"
horizon = "2h"
step = "5min"
policies = ["static"]
{sites}
[[links]]
a = "a"
b = "b"
bandwidth = "8Gbps"

[[jobs]]
name = "d"
work_gpu_h = 3.0
gpus = 2
workers = 3
sync_every = 100
outer_steps = 6
model_params = 1e9
{extra}
"""
SITE = """
[[sites]]
name = "{name}"
latitude = 0.0
longitude = 0.0
gpu_slots = 4
trace = {{ kind = "constant", power = "5kW" }}
"""


@pytest.mark.parametrize(("names", "extra", "expect"), [
    ("ab", 'worker_sites = ["a", "a", "a"]', "jobs[0].worker_sites: job 'd' starts 3 workers"),
    ("aby", "", "jobs[0].worker_sites: job 'd' may place its workers on sites no WAN path "
     "joins ('a' and 'y')"),
])
def test_simulate_refuses_them_with_exit_2(tmp_path, capsys, names, extra, expect):
    from greenhop.cli.main import main

    path = tmp_path / "bad.toml"
    path.write_text(TOML.format(sites="".join(SITE.format(name=n) for n in names),
                                extra=extra), encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert expect in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# ------------------------------------------------------------ 2. one WAN component
def _split(jobs) -> dict:
    """Sites a and b linked; y (4 slots, much surplus) reached by no link."""
    return simkit.legacy_micro(
        sites=[simkit.site("a"), simkit.site("b"), simkit.site("y", power="10kW")],
        links=[link("a", "b")], jobs=jobs, horizon="3h")


def test_workers_the_placer_could_put_out_of_reach_of_each_other_are_refused():
    d = _split([_job(worker_sites=None)])
    assert ("jobs[0].worker_sites: job 'd' may place its workers on sites no WAN path joins "
            "('a' and 'y')") in _load_error(d)


def test_allowed_sites_in_one_linked_set_are_enough():
    d = _split([_job(workers=2, worker_sites=None, allowed_sites=["a", "b"])])
    _, _, m = run(d)
    assert m["outer_steps"] == 6 and m["unfinished_jobs"] == 0


@pytest.mark.parametrize("job", [dict(worker_sites=["a", "b", "a"]),
                                 dict(worker_sites=None, origin="a")])
def test_workers_pinned_to_a_linked_set_may_use_only_it(job):
    d = _split([_job(**job)])
    sc = load_scenario(d)
    assert [j.allowed_sites for j in sc.jobs()] == [("a", "b")] * 3


# ------------------------------------------------------------ 3. a checkpoint being written
def test_the_exchange_shares_no_link_with_a_checkpoint_still_being_written():
    # Workers on a and b (1 h of work each, 600 s per outer step). Job x (index 2) moves
    # from a to b at step 1 (300 s) with 1 TB: writing it takes 1e12 / 2e9 = 500 s, to
    # 800 s. The first exchange starts at 600 s: nothing is on the link a -> b yet, so each
    # hop has all of its 4 Gbit/s: 4.01 s (sharing it with x: 8.01 s).
    jobs = [spread(workers=2, work_gpu_h=2.0, worker_sites=["a", "b"]),
            {"name": "x", "arrival": "0s", "work_gpu_h": 5.0, "checkpoint": "1TB", "gpus": 1,
             "origin": "a"}]
    eng, res, _ = run(scenario(jobs=jobs), MoveAt(1, "b", jobs=[2]))
    assert res.migrations[0]["start_s"] == pytest.approx(300.0)
    log = eng.core.groups.groups[0].log
    assert log[0]["end_s"] == pytest.approx(600 + SYNC2_S)


# ------------------------------------------------------------ 5. an elastic rejoin
def test_a_worker_still_resuming_at_a_boundary_joins_at_the_next_one():
    # c has no surplus before 1200 s (0.5 kW under a 1 kW base load), then 200 W over the
    # 100 W threshold. Worker 2's state is 680 GB: a resume takes 340 s + 60 s = 400 s.
    # Outer step 1 (3 workers) ends at 600 + 5.3533; w2 drops out. Outer step 2 (2 workers)
    # ends at 1209.36 (step 4, c green): w2 rejoins; its resume starts with the next step
    # (1500 s, docs/distributed.md, Limits) and it runs from 1900 s. Outer step 3 ends at
    # 1813.37, before w2 runs: outer step 4 is the two others' (ends 2417.38), w2 joins
    # outer step 5 (3 workers: + 600 + 5.3533 = 3022.74).
    vals = [500.0] * 4 + [1200.0] * 40
    sites = [simkit.site("a"), simkit.site("b"),
             simkit.site("c", power=None, trace={"kind": "values", "values": vals})]
    eng, res, m = run(scenario(sites=sites, jobs=[spread(elastic=True, checkpoint="680GB")],
                               window_threshold="100W"))
    log = eng.core.groups.groups[0].log
    assert [r["workers"] for r in log] == [3, 2, 2, 2, 3, 3]
    ends = [600 + SYNC3_S]
    ends.append(ends[-1] + 600 + SYNC2_S)
    ends.append(ends[-1] + 600 + SYNC2_S)
    ends.append(ends[-1] + 600 + SYNC2_S)
    ends.append(ends[-1] + 600 + SYNC3_S)
    ends.append(ends[-1] + 600)
    assert [r["end_s"] for r in log] == pytest.approx(ends)
    assert m["outer_steps_missed"] == 3 and m["worker_rejoins"] == 1
    assert res.job_finish_s.tolist() == pytest.approx([ends[-1]] * 3)


# ------------------------------------------------------------ 7. the parity check's moves
@pytest.mark.parametrize(("moves", "expect"), [
    ([(2, 5, "a")], "moves[0]: job 'd': worker 5 is not one of its workers 0..2"),
    ([(2, -1, "a")], "moves[0]: job 'd': worker -1 is not one of its workers 0..2"),
    ([(2, 1, "zz")], "moves[0]: job 'd': unknown site 'zz'; sites: a, b, c"),
    ([(2, 1, "b")], "moves[0]: job 'd': worker 1 is already at 'b' then"),
    ([(3, 2, "a"), (2, 2, "a")], "moves[0]: job 'd': worker 2 is already at 'a' then"),
    ([(0, 1, "a")], "moves[0]: job 'd': outer step 0 is outside 1..5"),
    ([(6, 1, "a")], "moves[0]: job 'd': outer step 6 is outside 1..5"),
    ([(2, 1, "a"), (2, 1, "c")], "moves[1]: job 'd': worker 1 moves twice after outer step 2"),
    ([(1, 1)], "moves[0]: job 'd': a move is (outer_step, worker, site); got (1, 1)"),
])
def test_a_move_schedule_the_live_driver_would_refuse_is_refused(moves, expect):
    with pytest.raises(ConfigError) as err:
        expected_counts(scenario(), "d", moves=moves)
    assert expect in str(err.value) and "\n" not in str(err.value)


def test_a_valid_move_schedule_still_counts_its_moves():
    got = expected_counts(scenario(), "d", moves=[(2, 2, "a"), (4, 2, "c"), (1, 0, "b")])
    assert got["worker_moves"] == {0: 1, 1: 0, 2: 2} and got["outer_steps"] == 6
