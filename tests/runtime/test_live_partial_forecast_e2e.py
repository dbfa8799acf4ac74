"""End to end with real trainers and agents: `greenhop run` of a forecast-driven policy on
a fleet with partially migratable jobs. Every job finishes with the weights of an
uninterrupted run, the live decisions are the simulator's (forecasts computed live from
the measured power), and replaying the log reproduces them."""

from __future__ import annotations

import pytest
from test_controller_kit import (
    EVERY,
    LIVE,
    STEPS,
    db_jobs,
    db_sites,
    final_weights,
    reference_weights,
    run_to_end,
    steps_lost,
)

pytestmark = pytest.mark.slow


def scenario(tmp_path):
    text = LIVE.read_text().replace('policies = ["feasibility-aware"]',
                                    'policies = ["forecast-feasibility"]')
    head = 'name = "job-b"\n'
    i = text.index(head)
    j = text.index("gpus = 1\n", i)
    text = (text[:j] + 'gpus = 2\nmobility = "partial"\nmigratable_share = 0.5\n'
            + text[j + len("gpus = 1\n"):])
    assert "forecast-feasibility" in text and "partial" in text
    path = tmp_path / "live-partial-forecast.toml"
    path.write_text(text)
    return path


def test_partial_jobs_and_live_forecasts_with_real_processes(tmp_path, tmp_path_factory):
    from greenhop.cli.replay import replay_report

    path = scenario(tmp_path)
    work = run_to_end(tmp_path / "run", path, 3600, "--step-sleep", "0.04")
    refs = reference_weights(tmp_path_factory.getbasetemp() / "refs", 4)
    sites = [s["name"] for s in db_sites(work / "run.db")]
    for j, row in enumerate(db_jobs(work / "run.db")):
        assert row["phase"] == "done"
        step, sha = final_weights(work, row["name"], sites[row["site"]])
        assert (step, sha) == (STEPS, refs[j]), row["name"]
        assert steps_lost(work, row["name"]) <= EVERY
    out = replay_report(work / "events.jsonl")
    assert out["mismatches"] == []
    assert out["decisions"] >= 5
    assert out["live_migrations"] == out["sim_migrations"]
    assert any(m[1] == "job-b" for m in out["live_migrations"]), out["live_migrations"]
