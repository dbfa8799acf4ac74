"""Demand response in a live run: an event filed while the run goes (as ``greenhop grid
event`` and the service do) is taken up by the controller at its next step and met, in
the database's record of the run, at every step of the event. This file: the real
controller on simulated processes (fast); test_live_dr_processes.py: real processes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import ClassVar

from test_controller_kit import LIVE, inputs, memory_controller

from greenhop.runtime.controller import Controller
from greenhop.runtime.memory import InMemoryExecutor
from greenhop.service.grid_events import file_event


class FilingController(Controller):
    """The real controller; demand-response events are filed at the steps of ``plan``
    (``{step: [fields, ...]}``) just before it looks for them."""

    plan: ClassVar[dict] = {}

    def _operator_actions(self, t: int) -> None:
        for fields in self.plan.get(t, []):
            file_event(self.store, fields)
        super()._operator_actions(t)


def memory_run(db: Path, plan: dict) -> dict:
    cls = type("Filing", (FilingController,), {"plan": plan})
    ctl = memory_controller(db, InMemoryExecutor(), cls=cls)
    try:
        ctl.prepare()
        return ctl.run()
    finally:
        ctl.store.close()


def events(db: Path, *kinds: str) -> list[dict]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    marks = ",".join("?" * len(kinds))
    q = f"SELECT step, kind, job, body FROM events WHERE kind IN ({marks}) ORDER BY seq"
    out = [{**dict(r), "body": json.loads(r["body"])} for r in con.execute(q, kinds)]
    con.close()
    return out


def base_w(site: str) -> float:
    _sc, inp = inputs(LIVE)
    return float(inp.base_demand_w[list(inp.site_names).index(site)])


def test_an_event_filed_mid_run_is_met_before_its_start_in_the_record(tmp_path):
    db = tmp_path / "run.db"
    limit = base_w("tokyo-jp") + 100.0  # no job fits under it: every job there must go
    ev = {"id": "peak", "site": "tokyo-jp", "from": "+1h", "to": "+3h", "announce": "now",
          "limit": limit}
    assert memory_run(db, {8: [ev]})["status"] == "done"
    taken = events(db, "grid-event")
    assert [(e["step"], e["body"]["id"]) for e in taken] == [(8, "peak")]
    by_grid = events(db, "migrate", "suspend", "resume")
    shed = [e for e in by_grid if e["body"].get("by") == "grid"]
    assert shed and all(e["step"] == 8 for e in shed if e["kind"] != "resume")
    booked = {e["step"]: e["body"] for e in events(db, "booked")}
    s = 1  # tokyo-jp
    over = [t for t in range(12, 20) if booked[t]["grid_w"][s] > limit + 1e-6]
    assert over == [], [(t, booked[t]["grid_w"][s]) for t in over]
    # the limit binds: before the event, the site's demand was over it
    assert booked[7]["demand_w"][s] > limit
    assert all(booked[t]["demand_w"][s] <= limit + 1e-6 for t in range(12, 20))
