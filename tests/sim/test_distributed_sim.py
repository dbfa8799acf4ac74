"""Jobs spread over sites in the simulator: hand-worked 2-3 site micro-scenarios.

Sites ``a``, ``b``, ``c`` (simkit: 4 slots, 400 W training / 50 W idle per GPU, PUE 1,
throughput 1), links 8 Gbit/s x efficiency 0.5 = 4 Gbit/s each way, RTT 10 ms, 1e-7 J/bit.
One job of 3 workers (1 GPU each), 3 reference-GPU hours in all (1 h per worker), 6 outer
steps (600 s of work per worker each), model 1e9 parameters: a bf16 pseudo-gradient is
V = 2e9 B, each ring hop carries 2 (3-1)/3 x V = 2.6667e9 B = 21.333e9 bit: 5.3333 s at
4 Gbit/s, plus (3-1) x 10 ms: an exchange takes 5.35333 s.
"""

from __future__ import annotations

import pytest
import simkit
from hypothesis import given, settings
from hypothesis import strategies as st
from simkit import MoveAt

from greenhop.core.errors import ConfigError
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import run_metrics
from greenhop.sim.scenario import load_scenario

SYNC3_S = 21.333333333333332e9 / 4e9 + 0.02
HOP_B = 2 * 2 / 3 * 2e9


def link(a: str, b: str) -> dict:
    return {"a": a, "b": b, "bandwidth": "8Gbps", "efficiency": 0.5, "rtt": "10ms",
            "energy_per_bit": 1e-7}


def spread(**job) -> dict:
    j = {"name": "d", "arrival": "0s", "work_gpu_h": 3.0, "gpus": 1, "workers": 3,
         "sync_every": 100, "outer_steps": 6, "model_params": 1e9,
         "worker_sites": ["a", "b", "c"]}
    j.update(job)
    return j


def scenario(*, sites=None, jobs=None, **over) -> dict:
    return simkit.legacy_micro(
        sites=sites or [simkit.site("a"), simkit.site("b"), simkit.site("c")],
        links=[link("a", "b"), link("b", "c"), link("a", "c")],
        jobs=jobs or [spread()], horizon="3h", **over)


def run(d, policy=None):
    inp = build_inputs(load_scenario(d))
    eng = Engine(inp, policy or simkit.Never(), record=True)
    res = eng.run()
    return eng, res, run_metrics(inp, res)


def test_three_sites_in_lockstep():
    eng, res, m = run(scenario())
    g = eng.core.groups.summary()[0]
    assert g["outer_steps"] == 6
    # six exchanges, three WAN hops each
    assert g["sync_bytes"] == pytest.approx(6 * 3 * HOP_B)
    # every worker: 6 x 600 s of work and 5 exchanges waited for (the last one is not)
    assert res.job_finish_s.tolist() == pytest.approx([3600 + 5 * SYNC3_S] * 3)
    assert g["finish_s"] == pytest.approx(3600 + 5 * SYNC3_S)
    assert all(w == pytest.approx(5 * SYNC3_S) for w in g["worker_wait_s"].values())
    assert m["sync_gb"] == pytest.approx(6 * 3 * HOP_B / 1e9)
    assert m["sync_energy_kwh"] == pytest.approx(6 * 3 * HOP_B * 8 * 1e-7 / 3.6e6, abs=1e-6)
    assert m["outer_steps"] == 6
    # each worker's energy: 3600 s x 400 W training, waits at 50 W idle, a third of the
    # exchanges' network energy
    assert res.job_energy_j[0] == pytest.approx(
        3600 * 400 + 5 * SYNC3_S * 50 + 6 * 3 * HOP_B * 8 * 1e-7 / 3)


def test_a_straggler_sets_the_pace():
    slow = [simkit.site("a"), simkit.site("b"), simkit.site("c", tput=0.5)]
    eng, res, _ = run(scenario(sites=slow))
    # the worker at c needs 1200 s per outer step; the others wait 600 s each time
    end = 6 * 1200 + 5 * SYNC3_S
    assert res.job_finish_s.tolist() == pytest.approx([end] * 3)
    waits = eng.core.groups.summary()[0]["worker_wait_s"]
    assert waits["d.w0"] == pytest.approx(6 * 600 + 5 * SYNC3_S)
    assert waits["d.w2"] == pytest.approx(5 * SYNC3_S)


def test_workers_on_one_site_exchange_nothing_over_the_wan():
    eng, res, m = run(scenario(jobs=[spread(worker_sites=["b", "b", "b"])]))
    assert eng.core.groups.summary()[0]["sync_bytes"] == 0
    assert res.job_finish_s.tolist() == pytest.approx([3600.0] * 3)
    assert m["sync_gb"] == 0


def test_moving_one_worker_holds_the_others_at_the_next_barrier():
    # At step 1 (t = 300 s) worker 2 moves from c to a with its own state, 1e9 x 16 B:
    # save 8 s, transfer 128e9 bit / 4e9 = 32 s, restore 8 s + 60 s: 108 s down.
    eng, res, m = run(scenario(), MoveAt(1, "a", jobs=[2]))
    assert res.migrations[0]["downtime_s"] == pytest.approx(108.0)
    g = eng.core.groups.summary()[0]
    assert g["worker_moves"] == {"d.w0": 0, "d.w1": 0, "d.w2": 1}
    # the first barrier is 108 s late; after the move the ring a, a, b has two WAN hops
    assert res.job_finish_s.tolist() == pytest.approx([3600 + 108 + 5 * SYNC3_S] * 3)
    assert g["sync_bytes"] == pytest.approx(6 * 2 * HOP_B)
    assert g["worker_wait_s"]["d.w0"] == pytest.approx(108 + 5 * SYNC3_S)
    assert m["worker_downtime_s"]["max"] == pytest.approx(108.0)
    assert m["worker_downtime_s"]["mean"] == pytest.approx(36.0)


def test_only_movable_workers_move():
    _, res, _ = run(scenario(jobs=[spread(movable_workers=1)]), MoveAt(1, "a", jobs=[1, 2]))
    assert res.migrations == [] and res.counters["rejected_actions"] == 2
    _, res, _ = run(scenario(jobs=[spread(movable_workers=1)]), MoveAt(1, "b", jobs=[0]))
    assert len(res.migrations) == 1


def test_an_elastic_group_goes_on_without_a_worker_that_lost_its_surplus():
    # c has no surplus (0.5 kW of renewables under a 1 kW base load), a and b have 200 W
    # over a 100 W threshold: worker 2 drops out after the first outer step.
    sites = [simkit.site("a"), simkit.site("b"), simkit.site("c", power="0.5kW")]
    eng, res, m = run(scenario(sites=sites, jobs=[spread(elastic=True)],
                               window_threshold="100W"))
    g = eng.core.groups.summary()[0]
    assert g["outer_steps"] == 6
    assert res.counters["worker_dropouts"] == 1
    assert res.counters["outer_steps_missed"] == 5
    # the five local steps worker 2 skipped (600 s of work each) are not work done: 13 of
    # the 18 worker-outer-steps were trained
    assert m["worker_skipped_gpu_h"] == pytest.approx(5 * 600 / 3600)
    assert m["work_done_gpu_h"] == pytest.approx(13 * 600 / 3600, abs=1e-4)  # 4 decimals
    # exchanges: the first with 3 workers, four with 2 (one hop each way of 2e9 B: 4.01 s)
    sync2_s = 16e9 / 4e9 + 0.01
    end = 3600 + SYNC3_S + 4 * sync2_s
    assert res.job_finish_s[:2].tolist() == pytest.approx([end, end])
    assert res.job_finish_s[2] == pytest.approx(end)          # it ends with its job
    assert g["sync_bytes"] == pytest.approx(3 * HOP_B + 5 * 2 * 2e9)
    assert g["pseudo_gradient_bytes"] == pytest.approx((3 + 5 * 2) * 2e9)
    # the worker that left waited through the first exchange, then stopped training
    assert g["worker_wait_s"]["d.w2"] == pytest.approx(SYNC3_S)
    assert res.energy_j["job_load"].sum() == pytest.approx(res.job_energy_j.sum(), rel=1e-9)


@pytest.mark.parametrize(("job", "expect"), [
    (dict(workers=17, worker_sites=None),
     "has 17 workers of 1 GPU(s) but the sites it may use have 16 GPU"),
    (dict(sync_every=0), "jobs[0].sync_every: must be >= 1"),
    (dict(worker_sites=["a", "b", "z"]), "worker_sites[2]: worker 2 of job 'd' needs 1 GPU"),
    (dict(worker_sites=["a", "b"]), "give one site per worker (3), got 2"),
    (dict(mobility="partial"), "use movable_workers"),
    (dict(movable_workers=4), "jobs[0].movable_workers: must be <= 3"),
    (dict(model_params=None), "needs model_params"),
    (dict(model_params=1e300), "jobs[0].model_params: must be <= 1e+15"),
    (dict(sync_every=10**300), "jobs[0].sync_every: must be <= 1e+09"),
    (dict(worker_sites=["a", "b", "y"]), "worker_sites[2]: no WAN path joins 'y' and 'a'"),
])
def test_bad_spread_jobs_are_one_clear_error(job, expect):
    sites = [simkit.site("a"), simkit.site("b"), simkit.site("c"), simkit.site("z", slots=0),
             simkit.site("y")]                     # y: no link reaches it
    j = {k: v for k, v in spread(**job).items() if v is not None}
    with pytest.raises(ConfigError) as err:
        load_scenario(scenario(sites=sites, jobs=[j]))
    assert expect in str(err.value)
    assert "\n" not in str(err.value)


def test_keys_of_a_spread_job_need_workers():
    j = {"name": "x", "work_gpu_h": 1.0, "checkpoint": "1GB", "sync_every": 10}
    with pytest.raises(ConfigError, match="only a job spread over sites has sync_every"):
        load_scenario(scenario(jobs=[j]))


def test_parity_expectation_counts_outer_steps_bytes_and_moves():
    from greenhop.sim.distributed_parity import expected_counts

    still = expected_counts(scenario(), "d")
    assert still["outer_steps"] == 6 and still["finished"]
    assert still["pseudo_gradient_bytes"] == pytest.approx(6 * 3 * 2e9)
    assert still["sync_bytes"] == pytest.approx(6 * 3 * HOP_B)
    assert still["worker_moves"] == {0: 0, 1: 0, 2: 0}
    moved = expected_counts(scenario(), "d", moves=[(2, 2, "a")])
    assert moved["outer_steps"] == 6
    assert moved["pseudo_gradient_bytes"] == pytest.approx(6 * 3 * 2e9)
    assert moved["worker_moves"] == {0: 0, 1: 0, 2: 1}
    # the moved worker shares site a with worker 0 from then on: fewer WAN bytes
    assert moved["sync_bytes"] < still["sync_bytes"]
    with pytest.raises(ConfigError, match="no job spread over sites named 'x'"):
        expected_counts(scenario(), "x")


def test_the_packaged_scenario_spreads_jobs_and_runs():
    from greenhop.sim.scenario import parse_scenario, scenario_document

    doc, label, base = scenario_document("distributed-llm")
    doc["horizon"] = "1d"
    doc["generator"]["until"] = "12h"
    sc = parse_scenario(doc, label, base)
    spread_jobs = {j.worker.group for j in sc.jobs() if j.worker is not None}
    assert spread_jobs == {"span-1b", "span-7b", "span-elastic"}
    movable = [j.mobility for j in sc.jobs() if j.worker and j.worker.group == "span-7b"]
    assert movable == ["migratable", "pinned", "pinned"]
    inp = build_inputs(sc)
    res = Engine(inp, simkit.Never()).run()
    m = run_metrics(inp, res)
    assert m["outer_steps"] > 0 and m["sync_gb"] > 0 and m["sync_energy_kwh"] > 0


BAD = """
name = "bad"
start = "2023-01-01T00:00:00Z"
horizon = "2h"
step = "5min"
policies = ["static"]

[[sites]]
name = "a"
latitude = 0.0
longitude = 0.0
gpu_slots = 4
trace = { kind = "constant", power = "5kW" }

[[sites]]
name = "z"
latitude = 0.0
longitude = 0.0
gpu_slots = 0
trace = { kind = "constant", power = "5kW" }

[[links]]
a = "a"
b = "z"
bandwidth = "1Gbps"

[[jobs]]
name = "d"
work_gpu_h = 2.0
workers = 2
outer_steps = 4
model_params = 1e9
"""


@pytest.mark.parametrize(("keys", "expect"), [
    ("sync_every = 0\n", "jobs[0].sync_every: must be >= 1"),
    ("sync_every = 5\nworkers = 5\n", "has 5 workers of 1 GPU(s) but the sites it may use "
     "have 4 GPU slots"),
    ('sync_every = 5\nworker_sites = ["a", "z"]\n', "worker_sites[1]: worker 1 of job 'd' "
     "needs 1 GPU(s) but site 'z' has 0 slots"),
])
def test_simulate_refuses_a_bad_spread_job_with_exit_2(tmp_path, capsys, keys, expect):
    from greenhop.cli.main import main

    text = BAD.replace("workers = 2\n", "") if "workers = 5" in keys else BAD
    path = tmp_path / "bad.toml"
    path.write_text(text + keys, encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert expect in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_parity_scenario_matches_a_live_run_description():
    from dataclasses import dataclass

    from greenhop.sim.distributed_parity import expected_counts, parity_scenario

    @dataclass(frozen=True)
    class Move:                     # the shape of a live move: attributes, not a tuple
        outer_step: int
        worker: int
        site: str

    d = parity_scenario(3, 10, 8, 1234.0, sites=["a", "b", "c"])
    got = expected_counts(d, "diloco", moves=[Move(4, 1, "c")])
    assert got["outer_steps"] == 8 and got["finished"]
    assert got["pseudo_gradient_bytes"] == 3 * 8 * 1234 * 4      # fp32, every worker, every step
    assert got["worker_moves"] == {0: 0, 1: 1, 2: 0}
    assert [r["workers"] for r in got["per_outer_step"]] == [3] * 8


@settings(max_examples=20, deadline=None)
@given(tputs=st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0]), min_size=3, max_size=3),
       placement=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4),
       outer=st.integers(1, 5), work_h=st.floats(0.2, 1.0))
def test_lockstep_finish_and_bytes_follow_the_slowest_worker(tputs, placement, outer, work_h):
    n = len(placement)
    sites = [simkit.site(s, tput=t) for s, t in zip("abc", tputs, strict=True)]
    job = spread(workers=n, worker_sites=placement, outer_steps=outer, work_gpu_h=work_h * n)
    eng, res, m = run(scenario(sites=sites, jobs=[job]))
    g = eng.core.groups.summary()[0]
    tput = dict(zip("abc", tputs, strict=True))
    w_outer_s = work_h * 3600.0 / outer                    # one outer step of one worker
    slowest_s = max(w_outer_s / tput[s] for s in placement)
    distinct = len(set(placement))
    hops = distinct if distinct > 1 else 0
    hop_b = 2.0 * (n - 1) / n * 2e9
    sync_s = 8 * hop_b / 4e9 + (n - 1) * 0.01 if hops else 0.0
    assert g["outer_steps"] == outer
    assert g["sync_bytes"] == pytest.approx(outer * hops * hop_b)
    # every worker ends with the slowest one's last outer step
    assert res.job_finish_s.tolist() == pytest.approx(
        [outer * slowest_s + (outer - 1) * sync_s] * n, rel=1e-9, abs=1e-5)
    # the books balance: the jobs' energy is the job load the sites booked
    assert res.energy_j["job_load"].sum() == pytest.approx(res.job_energy_j.sum(), rel=1e-9)
    assert m["worker_moves"] == 0


def test_a_live_run_refuses_a_spread_job_with_exit_2(tmp_path, capsys):
    from greenhop.cli.main import main

    path = tmp_path / "spread.toml"   # a valid spread job: site z gets GPU slots
    path.write_text(BAD.replace("gpu_slots = 0", "gpu_slots = 4") + "sync_every = 5\n",
                    encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["run", str(path), "--workdir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert "job 'd' is spread over sites" in err and "Traceback" not in err


def test_a_worker_a_policy_resumes_is_the_policys_from_then_on():
    from greenhop.core.observation import SUSPENDED, Resume
    from greenhop.policies.base import Capabilities, PolicyBase

    class Resume2(PolicyBase):
        name = "resume-w2"
        capabilities = Capabilities(suspends=True)

        def decide(self, obs):
            j = obs.job_names.index("d.w2")
            return [Resume(j)] if obs.job_phase[j] == SUSPENDED else []

    # as in the elastic test, worker 2 drops out after the first outer step; the policy
    # resumes it, and the group does not drop it again although c still has no surplus
    sites = [simkit.site("a"), simkit.site("b"), simkit.site("c", power="0.5kW")]
    eng, res, _ = run(scenario(sites=sites, jobs=[spread(elastic=True)],
                               window_threshold="100W"), Resume2())
    assert res.counters["worker_dropouts"] == 1 and res.counters["worker_rejoins"] == 0
    assert res.counters["suspensions"] == 1
    log = eng.core.groups.groups[0].log
    assert [r["workers"] for r in log][:2] == [3, 2] and log[-1]["workers"] == 3
    assert res.counters["outer_steps_missed"] < 5


def test_more_than_ten_thousand_outer_steps_in_one_step_are_all_simulated():
    """A step of 300 s holding 30,000 outer steps of 0.01 s: the job ends after its 300 s
    of work (a cap of 10,000 outer steps per step used to book the rest as waits)."""
    from greenhop.sim.distributed_parity import expected_counts, parity_scenario

    sc = parity_scenario(2, 10, 30_000, 1e3, sites=["a"], placement=["a", "a"],
                         outer_step_s=0.01)
    got = expected_counts(sc, "diloco")
    assert got["finished"] and got["outer_steps"] == 30_000
    assert got["per_outer_step"][-1]["end_s"] == pytest.approx(300.0, abs=1e-6)


@pytest.mark.parametrize("outer_step_s", [10.0, 7.5, 0.3])
def test_parity_scenario_is_valid_for_any_outer_step_length(outer_step_s):
    from greenhop.sim.distributed_parity import expected_counts, parity_scenario

    d = parity_scenario(2, 10, 100, 1000, sites=["a", "b"], outer_step_s=outer_step_s)
    got = expected_counts(d, "diloco")
    assert got["finished"] and got["outer_steps"] == 100
    assert got["pseudo_gradient_bytes"] == 2 * 100 * 1000 * 4
    assert type(got["pseudo_gradient_bytes"]) is int        # as the live count


def test_the_summary_and_the_report_show_the_spread_jobs_exchanges(tmp_path, capsys,
                                                                    monkeypatch):
    """Sync bytes, worker wait and missed outer steps were in metrics.json only: the table
    and report.html of a scenario with spread jobs said nothing of them. They are there
    for such a scenario and nowhere else."""
    import json

    from greenhop.cli.main import main

    monkeypatch.setenv("COLUMNS", "250")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(simkit.write_scenario(scenario(), tmp_path / "s.toml")),
              "-p", "static", "--out", str(out)])
    text = capsys.readouterr().out
    assert not info.value.code
    m = json.loads((out / "metrics.json").read_text())["policies"]["static"]
    row = next(line for line in text.splitlines() if line.startswith("│ static"))
    head = next(line for line in text.splitlines() if "sync GB" in line)
    cells = dict(zip([c.strip() for c in head.split("┃")[1:-1]],
                     [c.strip() for c in row.split("│")[1:-1]], strict=True))
    assert m["sync_gb"] > 0 and cells["sync GB"] == f"{m['sync_gb']:,.0f}"
    assert cells["missed"] == f"{m['outer_steps_missed']:,d}"
    assert "sync GB = the spread jobs' pseudo-gradient exchanges" in " ".join(text.split())
    page = (out / "report.html").read_text()
    assert "<th>sync GB</th>" in page and "<th>worker wait h</th>" in page
