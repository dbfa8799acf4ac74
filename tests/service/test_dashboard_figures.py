"""The dashboard's figures: valid Plotly JSON from a run database, drawn by the report's
components, served under /api/v1/figures."""

from __future__ import annotations

import json

import httpx
import plotly.graph_objects as go
import pytest
from servicekit import memory_run, rows, served
from test_controller_kit import wait_for

from greenhop.model.plot import DEFAULT_WINDOWS_S
from greenhop.service import figures
from greenhop.service.data import RunReader


def ready(reader: RunReader) -> RunReader:
    """The reader once it has read the run's scenario (built in the background)."""
    try:
        reader.scenario_inputs(wait=True)
    except TypeError:  # a reader that builds it on the first call
        reader.scenario_inputs()
    return reader


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("figs") / "run.db"
    assert memory_run(path, {12: [("drain", "tokyo-jp")]})["status"] == "done"
    return path


def test_timeline_has_every_site_and_booked_step(db):
    reader = ready(RunReader(db))
    tl = reader.timeline()
    fig = figures.timeline_figure(reader)
    go.Figure(fig)
    sites = [r["name"] for r in rows(db, "SELECT name FROM sites ORDER BY idx")]
    surplus = [t for t in fig["data"] if t["name"] == "surplus"]
    load = [t for t in fig["data"] if t["name"].startswith("job load")]
    assert len(surplus) == len(load) == len(sites) == 3
    assert all(len(t["y"]) == len(tl["steps"]) > 0 for t in load)
    # kW of the database's watts, site by site
    for i, s in enumerate(sites):
        assert load[i]["y"] == pytest.approx([w / 1e3 for w in tl["sites"][s]["job_load_w"]],
                                             abs=1e-3)


def test_placement_marks_every_migration_of_the_run(db):
    reader = ready(RunReader(db))
    fig = figures.placement_figure(reader)
    go.Figure(fig)
    migrated = rows(db, "SELECT job FROM events WHERE kind = 'migrate' ORDER BY seq")
    marks = [t for t in fig["data"] if t["type"] == "scatter"]
    assert migrated and len(marks) == 1 and len(marks[0]["y"]) == len(migrated)
    assert marks[0]["y"] == [m["job"] for m in migrated]
    jobs = [r["name"] for r in rows(db, "SELECT name FROM jobs ORDER BY idx")]
    assert fig["layout"]["yaxis"]["categoryarray"] == jobs


def test_feasibility_map_places_the_candidate_moves(db):
    reader = ready(RunReader(db))
    moves = reader.feasibility()["moves"]
    fig = figures.feasibility_figure(reader)
    go.Figure(fig)
    names = [t["name"] for t in fig["data"] if t.get("legendgroup") == "boundary"]
    assert len(names) == len(DEFAULT_WINDOWS_S)
    points = [t for t in fig["data"] if t.get("mode") == "markers"]
    drawn = sum(int(h.split(" x ")[0].split(": ")[1]) for t in points for h in t["hovertext"])
    assert drawn == len(moves)


def test_an_empty_run_gets_figures_that_say_why(tmp_path):
    class Empty:
        def run(self):
            return {"start_unix_s": None, "step_s": None, "step": 0}

        def names(self):
            return [], []

        def timeline(self):
            return {"steps": [], "sites": {}, "step_s": None, "start_unix_s": None}

        def placements(self):
            return []

        def feasibility(self):
            return {"alpha": None, "moves": []}

        def scenario_inputs(self):
            return None

    for build in (figures.timeline_figure, figures.placement_figure,
                  figures.feasibility_figure):
        fig = build(Empty())
        go.Figure(fig)
        assert fig["data"] == [] and fig["layout"]["annotations"][0]["text"]


def test_the_figures_are_served_as_plotly_json(db):
    with served(db) as base:
        for name in ("timeline", "placement", "feasibility"):
            def drawn(name=name):
                r = httpx.get(f"{base}/api/v1/figures/{name}", timeout=30)
                assert r.status_code == 200
                assert r.headers["content-type"] == "application/json"
                fig = json.loads(r.text)
                go.Figure(fig)
                return fig if fig["data"] else None  # empty (saying why) while loading

            wait_for(drawn, 120, f"the {name} figure", poll_s=0.2)
        spec = httpx.get(f"{base}/openapi.json", timeout=30).json()
        assert "/api/v1/figures/timeline" in spec["paths"]
