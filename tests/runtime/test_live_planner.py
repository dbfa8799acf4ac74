"""horizon-planner runs live: with the window forecasts computed from the measured power it
plans at every decision epoch and the controller applies the first epoch's actions, the
same as in the simulator; replay reproduces every decision."""

from __future__ import annotations

from test_controller_kit import LIVE, inputs, memory_controller, sim_migrations

from greenhop.policies import make_policy
from greenhop.runtime.ledger import Ledger, live_forecasts
from greenhop.runtime.memory import InMemoryExecutor
from greenhop.runtime.replay import replay_decisions
from greenhop.sim.api import policy_params


def test_horizon_planner_live_makes_the_simulators_first_epoch_decisions(tmp_path):
    text = LIVE.read_text().replace('policies = ["feasibility-aware"]',
                                    'policies = ["horizon-planner"]')
    path = tmp_path / "live-planner.toml"
    path.write_text(text)
    ctl = memory_controller(tmp_path / "run.db", InMemoryExecutor(), path=path)
    assert ctl.prepare() == "new"
    assert ctl.run()["status"] == "done"
    counters = ctl.policy.counters()
    assert counters["planner_solves"] >= 5 and counters["planner_fallbacks"] == 0
    # metrics.json of the live run carries them, as the simulator's does
    from greenhop.cli.run import live_metrics

    sc, inp = inputs(path)
    m = live_metrics(sc, inp, ctl.ledger, "horizon-planner", {}, ctl.policy)
    row = m["policies"]["horizon-planner"]
    assert row["planner_solves"] == counters["planner_solves"]
    assert row["planner_fallbacks"] == 0
    live = [[m["decided_step"], ctl.jobs[m["job"]], ctl.sites[m["src"]], ctl.sites[m["dst"]]]
            for m in ctl.ledger.migrations]
    assert live and live == sim_migrations(path)
    sc, inp = inputs(path)
    fresh = make_policy("horizon-planner", **policy_params(sc, "horizon-planner"))
    scratch = Ledger(inp, forecasts=live_forecasts(inp, fresh, sc.forecast, sc.seed))
    res = replay_decisions(scratch, fresh, list(ctl.store.events(("power", "decision"))))
    assert res["mismatches"] == [] and res["decisions"] >= 5
    ctl.store.close()
