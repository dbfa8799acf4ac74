"""Accounting faults a probe of the simulator's invariants found (each docstring gives its
case): slowdowns, import limits, window closes and suspend saves, worked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import simkit

from greenhop.core.observation import Migrate, Resume, Suspend
from greenhop.policies.base import Capabilities, PolicyBase
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import ideal_time_s, run_metrics
from greenhop.sim.scenario import load_scenario


def run(d, policy):
    inp = build_inputs(load_scenario(d))
    res = Engine(inp, policy, record=True).run()
    return inp, res, run_metrics(inp, res)


def test_a_job_without_an_origin_is_timed_at_the_fastest_site_it_may_use():
    """Two like jobs on one site of throughput 2, one with ``origin`` and one without: the
    one without was timed at the reference's throughput 1, a slowdown of 0.5 beside the
    other's 1 (and a stability CV of 0.33 for two jobs that ran alike)."""
    jobs = [{"name": n, "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": "1GB", "gpus": 1,
             **({"origin": "h"} if n == "b" else {})} for n in ("a", "b")]
    d = simkit.micro(sites=[simkit.site("h", tput=2.0), simkit.site("slow", tput=0.5)],
                     links=[], jobs=jobs)
    inp, res, m = run(d, simkit.Never())
    assert res.job_finish_s.tolist() == pytest.approx([1800.0, 1800.0])
    assert ideal_time_s(inp).tolist() == pytest.approx([1800.0, 1800.0])
    assert m["slowdown_mean"] == pytest.approx(1.0) and m["stability_cv"] == pytest.approx(0.0)
    # allowed only the slow site, it is timed there
    jobs[0]["allowed_sites"] = ["slow"]
    inp, _res, _m = run(simkit.micro(sites=d["sites"], links=[], jobs=jobs), simkit.Never())
    assert ideal_time_s(inp)[0] == pytest.approx(7200.0)


def test_network_energy_booked_to_the_grid_stays_under_the_import_limit():
    """``network_to_grid``: a move's network energy is demand only the grid serves. It
    was added to the grid past the site's import limit (9 kW against a 5 kW limit while
    500 GB crossed at 1e-5 J/bit); past the limit it is now unmet, as any demand is."""
    sites = [simkit.site("a", power="0kW", slots=8, base_load="5kW",
                         grid_import_limit="5kW"),
             simkit.site("b", power="50kW", slots=8)]
    links = [{"a": "a", "b": "b", "bandwidth": "1Gbps", "rtt": "10ms",
              "energy_per_bit": 1e-5}]
    jobs = [{"name": "j", "arrival": "0s", "work_gpu_h": 8.0, "checkpoint": "500GB",
             "gpus": 8, "origin": "a"}]
    d = simkit.micro(sites=sites, links=links, jobs=jobs, horizon="1d",
                     energy={"network_to_grid": True})
    _inp, res, m = run(d, simkit.MoveAt(1, "b"))
    assert res.migrations and m["network_kwh"] > 1.0
    f = res.flows
    assert f["grid_w"][:, 0].max() <= 5000.0 + 1e-6
    assert f["unmet_w"][:, 0].sum() * 300 / 3.6e6 >= m["network_kwh"] / 2 - 1e-6
    demand = f["direct_w"] + f["discharge_w"] + f["grid_w"] + f["unmet_w"]
    assert demand == pytest.approx(res.demand_w, abs=1e-6)


class _Script(PolicyBase):
    """Test policy: the actions of a step, by step number."""

    name = "script"
    capabilities = Capabilities(migrates=True, suspends=True)

    def __init__(self, plan):
        self.plan = plan

    def decide(self, obs):
        return self.plan.get(int(obs.step), [])


def _time_by_kind(res) -> dict[str, float]:
    out: dict[str, float] = {}
    for _j, _site, start, end, kind in res.segments:
        out[kind] = out.get(kind, 0.0) + end - start
    return out


def test_a_suspends_checkpoint_write_is_suspended_time_not_downtime_as_well():
    """With ``suspend_saves`` the checkpoint a Suspend writes was booked as downtime while
    the job's suspended segment was already open: queue + running + downtime + suspended
    came to more than the jobs' completion times."""
    d = simkit.micro(jobs=[{"name": "j", "arrival": "0s", "work_gpu_h": 1.0,
                            "checkpoint": "100GB", "gpus": 1, "origin": "a"}])
    _inp, res, m = run(d, _Script({1: [Suspend(0)], 4: [Resume(0)]}))
    kinds = _time_by_kind(res)
    assert kinds["suspended"] == pytest.approx(900.0)  # 300 s to 1200 s, the save within
    assert m["downtime_h"] * 3600 == pytest.approx(kinds["resuming"], abs=0.5)
    assert m["suspended_h"] * 3600 == pytest.approx(kinds["suspended"], abs=0.5)
    jct_s = res.job_finish_s[0]
    assert jct_s == pytest.approx(sum(kinds.values()))


def _closing_b(on_close: str, *, free: bool = False, third: str | None = None) -> dict:
    """``a`` -> ``b``, whose surplus is below the window threshold: the move's window closes
    at once. ``third``: the power of a site ``c`` with a window, linked to ``a``."""
    sites = [simkit.site("a"), simkit.site("b", power="0kW", tput=2.0)]
    links = [{"a": "a", "b": "b", "bandwidth": "8Gbps", "efficiency": 0.5, "rtt": "10ms",
              "energy_per_bit": 1e-7}]
    if third is not None:
        sites.append(simkit.site("c", power=third))
        links.append({**links[0], "b": "c"})
    d = simkit.micro(sites=sites, links=links, on_window_close=on_close,
                     jobs=[{"name": "j", "arrival": "0s", "work_gpu_h": 1.0,
                            "checkpoint": "100GB", "gpus": 1, "origin": "a"}])
    if free:
        d["migration"] = {**d["migration"], "free": True}
    return d


def test_an_aborted_move_of_a_suspended_job_leaves_it_suspended():
    """A suspended job moved and aborted was restored at its source and trained to the
    end, though the policy never resumed it."""
    _inp, res, m = run(_closing_b("abort"), _Script({1: [Suspend(0)], 3: [Migrate(0, "b")]}))
    assert m["aborted_migrations"] == 1
    assert np.isnan(res.job_finish_s[0])  # never resumed: unfinished
    assert res.segments[-1][4] == "suspended" and res.segments[-1][1] == 0
    assert "resuming" not in _time_by_kind(res)


@pytest.mark.parametrize("on_close", ["abort", "fallback"])
def test_a_free_move_stays_free_when_its_window_closes(on_close):
    """``[migration] free = true``: an aborted move still restored for 110 s at the source,
    and a redirected one sent its 100 GB again."""
    d = _closing_b(on_close, free=True, third="20kW" if on_close == "fallback" else None)
    _inp, res, m = run(d, simkit.MoveAt(1, "b"))
    assert m[f"{'aborted' if on_close == 'abort' else 'fallback'}_migrations"] == 1
    assert m["downtime_h"] == 0.0 and m["gb_moved"] == 0.0 and m["network_kwh"] == 0.0
    # no time lost: 300 GPU-s at a, the other 3300 at a or c (both of throughput 1)
    assert res.job_finish_s[0] == pytest.approx(3600.0, abs=1e-6)


def test_a_redirected_move_is_judged_at_the_site_it_went_to():
    """``on_window_close = "fallback"``: the move that ended at ``c`` (a window all along)
    was judged against ``b``'s closed one: window closed before payback and infeasible."""
    _inp, res, m = run(_closing_b("fallback", third="20kW"), simkit.MoveAt(1, "b"))
    (rec,) = res.migrations
    assert rec["fallback"] and rec["dst"] == 2 and rec["window_closed"]  # b's, in flight
    assert rec["window_at_start_s"] > 3600.0
    assert m["fallback_migrations"] == 1 and m["window_closed_mid_migration"] == 1
    assert m["window_closed_before_payback"] == 0 and m["infeasible_migrations"] == 0


@pytest.mark.parametrize(("kwh", "shown"), [(37.207898, 37.2078), (37.2079, 37.2079),
                                            (-1e-12, 0.0), (0.0, 0.0), (None, None)])
def test_a_bound_is_rounded_down_so_it_stays_below_what_it_bounds(kwh, shown):
    """Rounded to nearest, a tight bound of 37.207898 kWh read 37.2079, above the run's
    37.207898 it bounds."""
    import math

    from greenhop.sim.bounds import rounded_down

    got = rounded_down(kwh)
    assert got == shown
    if got is not None:
        assert math.copysign(1.0, got) > 0  # never -0.0


class _SeesLinks(simkit.MoveAt):
    """MoveAt that records, at every decision, the transfers a policy sees on the link
    ``a -> b`` and the rate it would be offered for one more."""

    def __init__(self, step: int, dest: str) -> None:
        super().__init__(step, dest)
        self.seen: dict[int, tuple[int, float]] = {}

    def decide(self, obs):
        links = obs.links
        self.seen[int(obs.step)] = (int(links.active_transfers.sum()),
                                    float(links.shared_rate_bps(np.array(0), np.array(1))))
        return super().decide(obs)


@pytest.mark.parametrize(("checkpoint", "last_step_sending"), [("100GB", 1), ("300GB", 3)])
def test_a_policy_sees_only_transfers_still_in_flight(checkpoint, last_step_sending):
    """A move's transfer on ``a -> b`` (4 Gbit/s effective): 100 GB sends in step 1 (50 s
    save, 200 s on the wire), 300 GB from step 1 into step 3 (150 s save, 600 s). The
    transfer counts were those of the last step that sent bytes: a policy saw a finished
    transfer still on the link, and was offered half the rate, a step longer."""
    d = simkit.micro(jobs=[{"name": "j", "arrival": "0s", "work_gpu_h": 1.0,
                            "checkpoint": checkpoint, "gpus": 1, "origin": "a"}])
    policy = _SeesLinks(1, "b")
    _inp, res, _m = run(d, policy)
    assert len(res.migrations) == 1
    assert policy.seen[1] == (0, pytest.approx(4e9))
    # in flight at the start of every step after the first that sent, until the last
    for step in range(2, last_step_sending + 1):
        assert policy.seen[step] == (1, pytest.approx(2e9))
    after = policy.seen[last_step_sending + 1]
    assert after == (0, pytest.approx(4e9))


def _two_moves(sizes: tuple[str, ...]) -> dict:
    """Jobs of checkpoints ``sizes`` at ``a``, all moved to ``b`` at step 1, over a link of
    exactly 1 Gbit/s; checkpoints write and read at 2 GB/s."""
    links = [{"a": "a", "b": "b", "bandwidth": "1Gbps", "efficiency": 1.0, "rtt": "10ms"}]
    jobs = [{"name": f"j{k}", "arrival": "0s", "work_gpu_h": 1.0, "checkpoint": size,
             "gpus": 1, "origin": "a"} for k, size in enumerate(sizes)]
    return simkit.micro(links=links, jobs=jobs, horizon="3h")


@pytest.mark.parametrize(("sizes", "transfer_s"), [
    (("10GB",), [80.0]),
    # 500 GB is still written (250 s) when 10 GB has crossed: it had half the link before
    (("10GB", "500GB"), [80.0, 4000.0]),
    # 10 GB alone from 5 s to 10 s, then both at 0.5 Gbit/s until it ends at 160 s, then
    # 20 GB alone: 155 s and 235 s (both at 0.5 Gbit/s for the whole step before)
    (("10GB", "20GB"), [155.0, 235.0]),
])
def test_links_are_shared_by_the_transfers_sending_at_each_moment(sizes, transfer_s):
    """Link rates were set once per step for every transfer that sent in it: one still
    writing its checkpoint took half the link from the step's start (10 GB took 160 s
    beside a 500 GB save), and one that ended left its share idle to the step's end."""
    _inp, res, _m = run(_two_moves(sizes), simkit.MoveAt(1, "b"))
    got = sorted(res.migrations, key=lambda r: r["job"])
    assert [r["transfer_s"] for r in got] == pytest.approx(transfer_s)
    assert [r["bytes_sent"] for r in got] == pytest.approx(
        [float(s.removesuffix("GB")) * 1e9 for s in sizes])
