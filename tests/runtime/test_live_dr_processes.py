"""A demand-response event sent with ``greenhop grid event`` while a live 3-site run goes
(real controller, agents and trainers): the run's database records the event taken up,
the jobs at the site shed before the event starts, the site's demand and grid import under
the limit at every step of the event, and every job's trainer ending with the weights of
an uninterrupted run, bit for bit (a job whose simulated work the suspension pushed past
the horizon still trains its steps; it is running, not done, when the run ends)."""

from __future__ import annotations

import json
import subprocess

import pytest
from test_controller_kit import (
    LIVE,
    db_jobs,
    db_sites,
    final_weights,
    greenhop_cmd,
    inputs,
    kill_all_under,
    wait_for,
)

pytestmark = pytest.mark.slow
STEPS, EVERY = 60, 20
TOKYO = 1


def reference(base, n_jobs):
    from greenhop.workload import latest_complete, weights_sha256
    from greenhop.workload.reference.run import RunOptions, run_reference

    out = []
    for seed in range(n_jobs):
        d = base / f"ref-{seed}"
        assert run_reference("mlp", d, RunOptions(steps=STEPS, every_steps=EVERY, seed=seed),
                             log=lambda m: None) == 0
        out.append(weights_sha256(latest_complete(d)))
    return out


def records(db, kind):
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = [(s, j, json.loads(b)) for s, j, b in con.execute(
        "SELECT step, job, body FROM events WHERE kind = ? ORDER BY seq", (kind,))]
    con.close()
    return rows


def test_an_event_sent_mid_run_is_met_before_its_start_and_training_is_bit_identical(
        tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    log = open(work / "controller.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        greenhop_cmd("run", str(LIVE), "--workdir", str(work), "--time-scale", "7200",
                     "--train-steps", str(STEPS), "--checkpoint-every", str(EVERY),
                     "--step-sleep", "0.04", "--policy", "static"),
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)
    log.close()
    db = work / "run.db"
    _sc, inp = inputs(LIVE)
    limit_w = float(inp.base_demand_w[TOKYO]) + 100.0  # no GPU fits: every job must go
    try:
        wait_for(lambda: any(j["site"] == TOKYO and j["phase"] == "running"
                             for j in db_jobs(db)), 120, "a job running at tokyo-jp")
        sent = subprocess.run(greenhop_cmd(
            "grid", "event", "--site", "tokyo-jp", "--from", "+1h", "--to", "+3h",
            "--limit", f"{limit_w}W", "--id", "peak", "--db", str(db)),
            capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        start_s = json.loads(sent.stdout)["body"]["start_unix_s"] - _sc.start.timestamp()
        code = proc.wait(timeout=240)
        assert code == 0, (work / "controller.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all_under(work)
    (taken,) = records(db, "grid-event")
    t0 = taken[0]
    start, end = round(start_s / 900), round(start_s / 900) + 8
    assert t0 < start, "taken up before the event starts"
    shed = [(s, j, b) for kind in ("migrate", "suspend") for s, j, b in records(db, kind)
            if b.get("by") == "grid"]
    # from the take-up on (a suspension as late as its checkpoint allows), before the start
    assert shed and all(t0 <= s < start and b["src"] == "tokyo-jp" for s, _j, b in shed)
    booked = {s: b for s, _j, b in records(db, "booked")}
    for t in range(start, min(end, max(booked) + 1)):
        assert booked[t]["demand_w"][TOKYO] <= limit_w + 1e-6, t
        assert booked[t]["grid_w"][TOKYO] <= limit_w + 1e-6, t
    refs = reference(tmp_path / "refs", len(inp.jobs))
    sites = [s["name"] for s in db_sites(db)]
    for j, row in enumerate(db_jobs(db)):
        assert row["real_step"] == STEPS, row
        assert final_weights(work, row["name"], sites[row["site"]]) == (STEPS, refs[j])
