"""End to end: `greenhop run` on the live 3-site scenario with real trainers and agents.

One run (module fixture) is checked for: finished jobs with weights bit-identical to
uninterrupted runs, at least 3 real migrations (the checkpoint moved mid-training), the
simulator's migration decisions in the same order, energy totals within 10 % of the
simulation, a clean end (no process, no temp file left)."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest
from test_controller_kit import (
    EVERY,
    LIVE,
    STEPS,
    db_jobs,
    db_sites,
    final_weights,
    greenhop_cmd,
    processes_under,
    reference_weights,
    run_to_end,
    steps_lost,
    temp_leftovers,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("live") / "run"
    return run_to_end(work, LIVE, 3600, "--step-sleep", "0.04", "--tls")


def test_every_job_finishes_with_the_weights_of_an_uninterrupted_run(live_run, tmp_path_factory):
    refs = reference_weights(tmp_path_factory.getbasetemp() / "refs", 4)
    db = live_run / "run.db"
    sites = [s["name"] for s in db_sites(db)]
    for j, row in enumerate(db_jobs(db)):
        assert row["phase"] == "done"
        step, sha = final_weights(live_run, row["name"], sites[row["site"]])
        assert (step, sha) == (STEPS, refs[j]), row["name"]
        assert steps_lost(live_run, row["name"]) <= EVERY


def test_at_least_three_real_migrations(live_run):
    con = sqlite3.connect(live_run / "run.db")
    moves = [json.loads(b) for (b,) in con.execute(
        "SELECT body FROM events WHERE kind = 'phase' AND body LIKE '%\"to\": \"transferring\"%'")]
    con.close()
    real = [m for m in moves if 0 < m["step"] < STEPS]  # training was in progress
    assert len(moves) >= 3 and len(real) >= 3, moves


def test_live_decisions_are_the_simulators_and_replay_reproduces_them(live_run,
                                                                      tmp_path_factory):
    from greenhop.cli.replay import replay_report

    out = replay_report(live_run / "events.jsonl")
    assert out["mismatches"] == []
    assert out["decisions"] >= 10
    assert len(out["live_migrations"]) >= 3
    assert out["live_migrations"] == out["sim_migrations"]
    assert out["ended"] == "done"
    # the log cut in half: fewer decisions, no end of run, and the CLI warns of it
    lines = (live_run / "events.jsonl").read_text().splitlines()
    cut = tmp_path_factory.mktemp("cut") / "events.jsonl"
    cut.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    half = replay_report(cut, against_sim=False)
    assert half["ended"] is None and half["mismatches"] == []
    assert 0 < half["decisions"] < out["decisions"]
    r = subprocess.run(greenhop_cmd("replay", str(cut), "--no-sim"), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "has no end of run" in " ".join(r.stderr.split())
    # against the simulator: only its moves up to the run's last decision count (before,
    # its later moves were reported as "different migrations", exit 1)
    prefix = replay_report(cut)
    assert prefix["same_as_sim"] is True
    assert prefix["sim_migrations"] == [m for m in out["sim_migrations"]
                                        if m[0] <= prefix["compared_upto_step"]]
    assert len(prefix["sim_migrations"]) <= len(out["sim_migrations"])
    # cut inside its last line (a log being written): replayed up to the line before
    text = (live_run / "events.jsonl").read_text()
    mid = tmp_path_factory.mktemp("mid") / "events.jsonl"
    mid.write_text(text[: len(text) // 2 + 7])
    assert not mid.read_text().endswith("\n")
    assert replay_report(mid, against_sim=False)["mismatches"] == []


def test_energy_agrees_with_the_simulation_within_10_percent(live_run, tmp_path):
    sim = subprocess.run(greenhop_cmd("simulate", str(LIVE), "--out", str(tmp_path),
                                      "--no-report"), capture_output=True, text=True, timeout=120)
    assert sim.returncode == 0, sim.stderr
    live = json.loads((live_run / "metrics.json").read_text())["policies"]["feasibility-aware"]
    simm = json.loads((tmp_path / "metrics.json").read_text())["policies"]["feasibility-aware"]
    for k in ("non_renewable_kwh", "renewable_kwh", "demand_kwh", "job_energy_kwh",
              "curtailed_kwh"):
        assert live[k] == pytest.approx(simm[k], rel=0.10), k
    assert live["migrations"] == simm["migrations"]
    cmp = subprocess.run(greenhop_cmd("compare", str(live_run / "metrics.json"),
                                      str(tmp_path / "metrics.json")),
                         capture_output=True, text=True, timeout=60)
    assert cmp.returncode == 0 and "non_renewable_kwh" in cmp.stdout


def test_the_last_line_gives_the_jobs_grid_energy_beside_the_sites(live_run):
    """The headline is the grid energy the jobs cause, as `simulate`'s is; the sites' total
    with their base load (hundreds of kWh here, against about one for the jobs) follows it."""
    m = json.loads((live_run / "metrics.json").read_text())["policies"]["feasibility-aware"]
    log = " ".join((live_run / "controller.log").read_text().split())
    assert m["job_nr_kwh"] < m["non_renewable_kwh"] / 10
    assert (f"{m['job_nr_kwh']:.2f} kWh job grid energy ({m['non_renewable_kwh']:.1f} kWh "
            "non-renewable at the sites, base load included)") in log, log[-600:]


def test_the_run_ends_clean(live_run):
    wait_for(lambda: not processes_under(live_run), 10, "every process to exit")
    assert temp_leftovers(live_run) == []
    out = subprocess.run(greenhop_cmd("status", "--db", str(live_run / "run.db"), "--json"),
                         capture_output=True, text=True, timeout=60)
    snap = json.loads(out.stdout)
    assert snap["run"]["status"] == "done" and snap["migrations_in_progress"] == []
    assert {j["phase"] for j in snap["jobs"]} == {"done"}


def test_the_agents_served_https_with_the_runs_ca_and_token(live_run):
    """The run above ran with --tls: its agents served HTTPS with certificates of a CA made
    for the run, and the secrets stay readable by their owner only."""
    sites = db_sites(live_run / "run.db")
    assert sites and all(s["agent_url"].startswith("https://127.0.0.1:") for s in sites)
    secrets = live_run / "secrets"
    assert (secrets / "tls" / "ca.pem").is_file()
    for key in [secrets / "token", *(secrets / "tls").glob("*.key")]:
        assert key.stat().st_mode & 0o077 == 0, key
