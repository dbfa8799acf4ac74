"""The scenario file a served run was started with: one edited since the run started is not
used (its start would move the run's clock, its sites would misindex the database's) and
the views name it; one that is gone or unreadable is named too, and tried again later, so
the figures never promise a figure for ever."""

from __future__ import annotations

import re

import httpx
import pytest
from servicekit import LIVE, edited_copy, memory_run, served

from greenhop.service import data as data_mod
from greenhop.service import figures
from greenhop.service.data import RunReader


@pytest.fixture(scope="module")
def finished_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "run.db"
    assert memory_run(db)["status"] == "done"
    return db


def _on(finished_db, tmp_path, scenario) -> RunReader:
    """A copy of the run whose recorded scenario path is ``scenario`` (its recorded SHA-256
    stays the file the run started with)."""
    db = edited_copy(finished_db, tmp_path / "run.db",
                     f"UPDATE run SET scenario = '{scenario}'")
    return RunReader(db)


def _note(fig: dict) -> str:
    """The figure's notes as one line (Plotly's line breaks are spaces here)."""
    return " ".join(a["text"] for a in fig["layout"].get("annotations", [])).replace("<br>", " ")


def _start_moved(path):
    path.write_text(LIVE.read_text().replace('start = "2023-06-01T00:00:00Z"',
                                             'start = "2024-01-01T00:00:00Z"'))
    return path


def _one_site_less(path):
    text = LIVE.read_text().replace('"madrid-es", "tokyo-jp", "greensboro-nc"',
                                    '"madrid-es", "tokyo-jp"')
    text = re.sub(r'\[\[links\]\]\na = "[a-z-]+"\nb = "greensboro-nc"\n[^\[]*', "", text)
    path.write_text(text.replace('origin = "greensboro-nc"', 'origin = "madrid-es"'))
    return path


def test_a_scenario_whose_start_moved_after_the_run_started_does_not_move_its_clock(
        finished_db, tmp_path):
    scenario = _start_moved(tmp_path / "scenario.toml")
    reader = _on(finished_db, tmp_path, scenario)
    assert reader.scenario_inputs(wait=True) is None
    run = reader.run()
    assert run["start_unix_s"] is None and run["step_s"] == 900.0  # the booked steps'
    assert reader.timeline()["step_s"] == 900.0  # the same fallback (it was null)
    assert f"{scenario} changed since the run started" in run["scenario_error"]
    assert "database" not in run["scenario_error"]


def test_a_scenario_with_a_site_less_is_named_not_a_damaged_database(finished_db, tmp_path):
    """The scenario's per-site arrays indexed by the database's sites raised IndexError,
    answered 503 "restore the database from a copy"."""
    scenario = _one_site_less(tmp_path / "scenario.toml")
    reader = _on(finished_db, tmp_path, scenario)
    with served(reader.path) as url, httpx.Client(base_url=url, timeout=20) as c:
        for path in ("/api/v1/run", "/api/v1/timeline", "/api/v1/feasibility", "/api/v1/sites",
                     "/api/v1/jobs", "/api/v1/migrations", "/metrics"):
            r = c.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
        assert c.get("/api/v1/feasibility").json() == {"alpha": None, "moves": []}
        tl = c.get("/api/v1/timeline").json()
        assert len(tl["sites"]) == 3 and tl["steps"]  # the database's sites, all of them
        for name in ("timeline", "feasibility"):
            r = c.get(f"/api/v1/figures/{name}")
            assert r.status_code == 200, (name, r.text[:300])
            note = _note(r.json())
            assert f"{scenario.name} changed since the run started" in note, note
            assert "database" not in note and "few seconds" not in note


def test_a_gone_scenario_is_named_and_tried_again_once_it_is_back(finished_db, tmp_path,
                                                                 monkeypatch):
    """The loader ran once, failed, and the figures said "follows in a few seconds" for the
    life of the server."""
    monkeypatch.setattr(data_mod, "SCENARIO_RETRY_S", 0.0)  # tried again on every read
    scenario = tmp_path / "scenario.toml"
    reader = _on(finished_db, tmp_path, scenario)
    assert reader.scenario_inputs(wait=True) is None
    for build in (figures.timeline_figure, figures.feasibility_figure):
        note = _note(build(reader))
        assert f"{scenario.name} is gone" in note and "few seconds" not in note, note
    assert reader.scenario_problem().startswith(f"the run's scenario {scenario} is gone")
    assert reader.run()["scenario_error"] == reader.scenario_problem()
    scenario.write_text("not = = toml\n")  # back, but not the file the run started with
    assert reader.scenario_inputs(wait=True) is None
    assert "changed since the run started" in reader.scenario_problem()
    scenario.write_bytes(LIVE.read_bytes())  # the file the run started with
    assert reader.scenario_inputs(wait=True) is not None
    assert reader.scenario_problem() is None and reader.run()["start_unix_s"] is not None
    assert figures.feasibility_figure(reader)["data"]  # drawn now
