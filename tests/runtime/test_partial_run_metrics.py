"""The books of a live run, stopped early or finished: a stopped run's metrics compare it
with the base-only counterfactual of the steps it booked (not of the whole horizon), and a
finished run books its idle tail like any other step (events and the sites' readings)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_controller_kit import LIVE, inputs, memory_controller

from greenhop.cli.run import live_metrics
from greenhop.runtime.controller import Controller
from greenhop.runtime.memory import InMemoryExecutor
from greenhop.sim.attribution import base_only_dispatch

STOP_AFTER = 9  # the last step booked before the stop
CARBON = 400.0  # gCO2/kWh at every site

ZONE = f"""
[grid]

[[grid.zones]]
name = "all"
sites = ["madrid-es", "tokyo-jp", "greensboro-nc"]
carbon = {CARBON}
"""


class _StopsEarly(Controller):
    """Asks to stop once step :data:`STOP_AFTER` is booked (as Ctrl-C would)."""

    def _book(self, t: int, deadline: float) -> bool:
        ok = super()._book(t, deadline)
        if t == STOP_AFTER:
            self.stop_requested = True
        return ok


def _metrics(ctl, summary: dict, path=LIVE) -> dict:
    sc, inp = inputs(path)
    return live_metrics(sc, inp, ctl.ledger, ctl.cfg.policy_name, summary)


def test_a_stopped_runs_metrics_are_those_of_the_steps_it_booked(tmp_path):
    path = tmp_path / "live-carbon.toml"
    path.write_text(LIVE.read_text() + ZONE)
    ctl = memory_controller(tmp_path / "run.db", InMemoryExecutor(), path=path, cls=_StopsEarly)
    ctl.prepare()
    summary = ctl.run()
    assert summary["status"] == "stopped" and summary["step"] == STOP_AFTER + 1
    doc = _metrics(ctl, summary, path)
    m = doc["policies"][ctl.cfg.policy_name]
    _sc, inp = inputs(path)
    n = STOP_AFTER + 1
    base = base_only_dispatch(inp)
    base_kwh = float(base.grid_w[:n].sum()) * inp.scenario.step_s / 3.6e6
    assert m["base_only_nr_kwh"] == pytest.approx(base_kwh, abs=1e-6)
    # the jobs cause grid energy, never less than none; a share of their energy is green
    assert m["job_nr_kwh"] == pytest.approx(m["non_renewable_kwh"] - base_kwh, abs=1e-3)
    assert m["job_nr_kwh"] >= -1e-6 and m["job_nr_kwh_per_gpu_h"] >= -1e-6
    assert 0.0 <= m["job_green_share"] <= 1.0
    assert 0.0 <= m["curtailment_absorbed_kwh"] <= m["curtailed_kwh"]
    # carbon priced per booked step and site: the same cut
    assert m["job_co2_kg"] == pytest.approx(m["job_nr_kwh"] * CARBON / 1000, abs=1e-3)
    # an unfinished job's time ends with the booked steps, not at the horizon's end
    assert m["unfinished_jobs"] > 0
    assert m["jct_p95_h"] <= n * inp.scenario.step_s / 3600
    assert doc["live"]["status"] == "stopped"
    ctl.store.close()


def test_a_finished_run_books_its_idle_tail_like_every_step(tmp_path):
    ctl = memory_controller(tmp_path / "run.db", InMemoryExecutor())
    ctl.prepare()
    summary = ctl.run()
    _sc, inp = inputs()
    T = inp.n_steps
    assert summary["status"] == "done" and summary["step"] == T
    m = _metrics(ctl, summary)["policies"][ctl.cfg.policy_name]
    con = ctl.store.con
    rows = con.execute("SELECT step, body FROM events WHERE kind = 'booked' "
                       "ORDER BY seq").fetchall()
    # every job finished before the horizon's end: the tail is booked too, step by step
    assert [r[0] for r in rows] == list(range(T))
    booked = [json.loads(r[1]) for r in rows]
    grid_kwh = sum(sum(b["grid_w"]) * b["step_s"] for b in booked) / 3.6e6
    assert grid_kwh == pytest.approx(m["non_renewable_kwh"], abs=1e-3)
    # the sites' readings are the last step's
    last = inp.renewable_w[inp.history_steps + T - 1]
    sites = [r[0] for r in con.execute("SELECT renewable_w FROM sites ORDER BY idx")]
    assert np.allclose(sites, last)
    assert np.allclose(booked[-1]["renewable_w"], last)
    ctl.store.close()


def test_a_run_that_booked_no_step_has_zero_job_energy(tmp_path):
    # a job's own command that fails at once ends the run before its first step is booked
    ctl = memory_controller(tmp_path / "run.db", InMemoryExecutor())
    ctl.prepare()
    assert ctl.ledger.next_step == 0
    m = _metrics(ctl, {"status": "failed", "step": 0})["policies"][ctl.cfg.policy_name]
    assert m["base_only_nr_kwh"] == 0.0 and m["job_nr_kwh"] == 0.0
    assert m["unfinished_jobs"] == len(inputs()[1].job_work_gpu_s)
    ctl.store.close()


def test_a_run_killed_as_it_finishes_is_resumed_not_refused_as_finished(tmp_path):
    """metrics.json was written after the run was recorded done: a kill -9 in between left
    a finished run no command would write its metrics for (a rerun was refused, saying they
    were in the work directory). Now they are written first, and a run killed then (its
    ``before_done`` never returns) resumes and finishes again."""
    db = tmp_path / "run.db"
    seen = {}

    def killed(summary):
        seen["status"] = summary["status"]
        seen["recorded"] = ctl.store.run_row()["status"]
        raise KeyboardInterrupt  # the process ends here, as kill -9 would end it

    ctl = memory_controller(db, InMemoryExecutor())
    try:
        ctl.prepare()
        with pytest.raises(KeyboardInterrupt):
            ctl.run(before_done=killed)
    finally:
        ctl.store.close()
    assert seen == {"status": "done", "recorded": "live"}
    again = memory_controller(db, InMemoryExecutor())
    try:
        assert again.prepare() == "resumed"
        assert again.run()["status"] == "done"
    finally:
        again.store.close()
