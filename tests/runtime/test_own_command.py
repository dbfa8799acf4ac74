"""A job's own training script in a live run: ``examples/train_tiny_lm.py`` (written only
against the SDK's documented API) migrates and survives a controller kill -9, and ends
bit-identical (model, optimizer, scheduler, data position, RNG) to the same script run
uninterrupted; scripts that break the protocol fail with a clear error."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from test_controller_kit import (
    CHAOS,
    db_jobs,
    different_components,
    greenhop_cmd,
    kill_all_under,
    wait_for,
)

from greenhop.workload import latest_complete

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "train_tiny_lm.py"
STEPS = 200




def _scenario(tmp_path: Path, job_b: str) -> Path:
    text = CHAOS.read_text().replace('name = "job-b"', f'name = "job-b"\n{job_b}', 1)
    p = tmp_path / "own.toml"
    p.write_text(text)
    return p


def _run(work: Path, scenario: Path, *extra: str) -> subprocess.Popen:
    work.mkdir(parents=True, exist_ok=True)
    with open(work / "controller.log", "ab") as log:
        return subprocess.Popen(
            greenhop_cmd("run", str(scenario), "--workdir", str(work), "--time-scale", "18000",
                         "--train-steps", "300", "--checkpoint-every", "25", "--step-sleep",
                         "0.01", *extra),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _run_to_exit_1(work: Path, scenario: Path) -> None:
    """``greenhop run`` of ``scenario`` in ``work``, which must exit 1; nothing of it is
    left running."""
    proc = _run(work, scenario)
    try:
        assert proc.wait(timeout=180) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all_under(work)


def _status(work: Path) -> dict:
    """``greenhop status --json`` of the run in ``work``."""
    return json.loads(subprocess.run(greenhop_cmd("status", "--db", str(work / "run.db"),
                                                  "--json"), capture_output=True, text=True,
                                     timeout=60).stdout)


def _events(db: Path, job: str) -> list[tuple[str, dict]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = [(k, json.loads(b)) for k, b in con.execute(
        "SELECT kind, body FROM events WHERE job = ? ORDER BY seq", (job,))]
    con.close()
    return rows


def test_the_example_script_migrates_survives_a_controller_kill_and_is_bit_identical(tmp_path):
    ref = tmp_path / "ref"
    out = subprocess.run([sys.executable, str(EXAMPLE), "--ckpt", str(ref), "--steps",
                          str(STEPS), "--every", "25", "--seed", "1"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    scenario = _scenario(tmp_path, f'command = ["{sys.executable}", "{EXAMPLE}"]\n'
                                   f'steps = {STEPS}\nenv = {{ PYTHONHASHSEED = "0" }}')
    work = tmp_path / "run"
    db = work / "run.db"
    proc = _run(work, scenario)
    try:
        # kill -9 the controller once job-b trains at the site it migrated to
        moved = wait_for(lambda: [j for j in db_jobs(db) if j["name"] == "job-b"
                                  and j["phase"] == "running" and j["token"] >= 2
                                  and any(k == "migrate" for k, _ in _events(db, "job-b"))],
                         180, "job-b migrated and training")
        assert moved
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc = _run(work, scenario)
        assert proc.wait(timeout=300) == 0, (work / "controller.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all_under(work)
    row = next(j for j in db_jobs(db) if j["name"] == "job-b")
    assert row["phase"] == "done" and row["real_step"] == STEPS
    kinds = [k for k, _ in _events(db, "job-b")]
    assert "migrate" in kinds and "recover" in kinds
    sites = [r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sites ORDER BY idx")]
    final = latest_complete(work / "sites" / sites[row["site"]] / "job-b")
    assert final.name == f"step-{STEPS:09d}"
    assert different_components(final, latest_complete(ref)) == []
    # the script saw the documented environment and printed its progress through the SDK
    logs = sorted((work / "logs").glob("job-b.*.log"))
    assert any(line.startswith("step ") for p in logs for line in p.read_text().splitlines())


@pytest.mark.parametrize("script, error", [
    ("import sys; sys.exit(3)", "exited with code 3"),
    ("import time\nfor i in range(1, 10**7):\n    print(f'step {i}', flush=True)\n"
     "    time.sleep(0.002)\n", "never wrote a checkpoint"),
])
def test_a_command_that_breaks_the_protocol_fails_with_a_clear_error(tmp_path, script, error):
    prog = tmp_path / "bad.py"
    prog.write_text(script)
    scenario = _scenario(tmp_path, f'command = ["{sys.executable}", "{prog}"]')
    work = tmp_path / "run"
    _run_to_exit_1(work, scenario)
    log = (work / "controller.log").read_text()
    assert "job 'job-b' failed" in log and error in log and "Traceback" not in log
    st = _status(work)
    row = next(j for j in st["jobs"] if j["name"] == "job-b")
    assert row["phase"] == "failed" and error in row["error"]
    assert st["run"]["status"] == "failed"
    assert any(k == "job-failed" and error in b["error"]
               for k, b in _events(work / "run.db", "job-b"))


def test_a_command_that_cannot_be_started_fails_the_job_and_records_the_run(tmp_path):
    """A program that is not there stopped the controller with the run left `live`, the
    job `starting` and no run end, so `greenhop status` said the same command resumes it;
    now the job fails with that error and the run ends failed as for any failed job."""
    scenario = _scenario(tmp_path, 'command = ["greenhop-no-such-program", "x"]')
    work = tmp_path / "run"
    _run_to_exit_1(work, scenario)
    log = " ".join((work / "controller.log").read_text().split())
    assert "cannot start 'greenhop-no-such-program': No such file or directory" in log
    assert "Traceback" not in log
    st = _status(work)
    row = next(j for j in st["jobs"] if j["name"] == "job-b")
    assert row["phase"] == "failed" and "cannot start" in row["error"]
    assert st["run"]["status"] == "failed"
    assert (work / "metrics.json").is_file()
    assert (work / "events.jsonl").read_text().splitlines()[-1].find("run-failed") > 0


def test_the_example_refuses_a_finished_directory_for_another_length_in_one_line(tmp_path):
    """Run with a shorter --steps on a finished directory, the example wrote a "finished"
    checkpoint of the longer run's weights under the shorter run's step; with a longer
    one it trained on with a learning-rate schedule of the old length (and pruned the
    finished checkpoint). It now names its model and length and refuses both, exit 2."""
    ckpt = tmp_path / "ckpt"

    def example(steps: int) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(EXAMPLE), "--steps", str(steps),
                               "--every", "4", "--ckpt", str(ckpt)], capture_output=True,
                              text=True, timeout=120)

    done = example(8)
    assert done.returncode == 0, done.stderr
    assert "step 8/8 loss" in done.stdout  # progress, not silence
    before = sorted(p.name for p in ckpt.iterdir())
    for steps, says in ((4, "past this run's 4 steps"), (12, "cannot resume as tiny-lm")):
        r = example(steps)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith("error: ") and says in r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in ckpt.iterdir()) == before
    assert latest_complete(ckpt).name == "step-000000008"
