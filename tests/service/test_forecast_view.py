"""A live run whose policy reads window forecasts: the sites view shows the quantiles the
policy saw at its last decision."""

from __future__ import annotations

import json

from servicekit import LIVE, memory_run, rows

from greenhop.service.data import RunReader


def test_sites_show_the_forecast_quantiles_of_the_last_decision(tmp_path):
    scenario = tmp_path / "live-forecast.toml"
    text = LIVE.read_text()
    assert 'policies = ["feasibility-aware"]' in text
    scenario.write_text(text.replace('policies = ["feasibility-aware"]',
                                     'policies = ["forecast-feasibility"]'))
    db = tmp_path / "run.db"
    assert memory_run(db, path=scenario)["status"] == "done"
    booked = [json.loads(r["body"]) for r in rows(
        db, "SELECT body FROM events WHERE kind = 'booked' ORDER BY seq")]
    with_fc = [b for b in booked if "window_forecast_q_s" in b]
    assert with_fc and len(with_fc) < len(booked)  # decision steps only
    last = with_fc[-1]
    sites = RunReader(db).sites()
    for i, s in enumerate(sites):
        assert s["forecast_window_s"] == dict(zip(("0.1", "0.5", "0.9"),
                                                  last["window_forecast_q_s"][i],
                                                  strict=True))
    assert any(v is not None and v > 0 for s in sites for v in s["forecast_window_s"].values())


def test_without_forecasts_the_sites_show_none(tmp_path):
    db = tmp_path / "run.db"
    assert memory_run(db)["status"] == "done"
    assert [s["forecast_window_s"] for s in RunReader(db).sites()] == [None, None, None]
