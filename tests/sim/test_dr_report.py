"""The demand-response metrics reach the report and a sweep's per-run table."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))
from test_demand_response import scenario

from greenhop.sim import simulate
from greenhop.sim.report import render_report


def test_the_report_shows_the_demand_response_columns_only_with_events():
    d = scenario()
    d["policies"] = ["static", "energy-greedy"]
    page = render_report(simulate(d))
    for label in ("DR event steps met %", "DR excess kWh", "flex kWh", "DR shed moved %"):
        assert label in page
    d.pop("grid")
    assert "DR event steps met %" not in render_report(simulate(d))
