"""``greenhop run --policy-file``: the example policy (examples/my_policy.py) drives a live
run on real trainers, and ``greenhop replay --policy-file`` makes the same decisions again
(and the simulator the same migrations)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
LIVE = ROOT / "src" / "greenhop" / "data" / "scenarios" / "live-3site.toml"
SPEC = f"{ROOT / 'examples' / 'my_policy.py'}:SurplusChaser"


def greenhop(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "greenhop", *args], capture_output=True,
                          text=True, timeout=timeout, start_new_session=True)


def _kill_under(path: Path) -> None:
    """SIGKILL whatever still runs from ``path`` (trainers, agents) after a failed run."""
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                if str(path) in (p / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                    os.kill(int(p.name), signal.SIGKILL)


@pytest.mark.slow
def test_a_live_run_of_the_file_policy_finishes_and_replays(tmp_path):
    work = tmp_path / "run"
    try:
        r = greenhop("run", str(LIVE), "--policy-file", SPEC, "--workdir", str(work),
                     "--time-scale", "18000", "--train-steps", "100", "--checkpoint-every", "25")
    finally:
        _kill_under(work)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "policy surplus-chaser" in r.stderr
    doc = json.loads((work / "metrics.json").read_text())
    m = doc["policies"]["surplus-chaser"]
    assert m["finished_jobs"] == m["jobs"] == 4
    assert m["migrations"] >= 1  # the sun moves: the policy chases it
    r = greenhop("replay", str(work / "run.db"), "--policy-file", SPEC, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["policy"] == "surplus-chaser" and out["mismatches"] == []
    assert out["same_as_sim"] is True
    assert "not the run's policy" not in r.stderr
    # a second file whose policy the run did not use is named, not silently ignored
    other = tmp_path / "other.py"
    other.write_text("from greenhop.policies import PolicyBase\n\n\n"
                     "class Idle(PolicyBase):\n    name = 'idle-here'\n\n"
                     "    def decide(self, observation):\n        return []\n")
    r = greenhop("replay", str(work / "run.db"), "--policy-file", SPEC,
                 "--policy-file", f"{other}:Idle", "--no-sim", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["mismatches"] == []
    assert (f"warning: --policy-file {other}:Idle ('idle-here'): not the run's policy "
            "('surplus-chaser'), so not used") in " ".join(r.stderr.split())
    # without the file the policy is unknown: one line, exit 2
    r = greenhop("replay", str(work / "run.db"), "--no-sim")
    assert r.returncode == 2 and "unknown policy 'surplus-chaser'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

    # with only another policy's file, the message says the file given is not the run's
    r = greenhop("replay", str(work / "run.db"), "--policy-file", f"{other}:Idle", "--no-sim")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert ("unknown policy 'surplus-chaser'" in r.stderr and f"--policy-file {other}:Idle "
            "('idle-here') is not it: pass the file of the run's policy"
            in " ".join(r.stderr.split()))


def _alive_under(path: Path) -> list[str]:
    """Command lines of the processes still running from ``path``."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if str(path) in cmd:
                    out.append(cmd)
    return out


def test_a_policy_failing_mid_run_leaves_no_trainer_and_a_failed_run(tmp_path):
    """The policy raised at step 8: `greenhop run` exited 1, but its trainers trained on
    with no parent, the run stayed recorded live and no metrics.json or events.jsonl was
    written. Now every trainer is stopped after its checkpoint, the run is failed with
    the policy's error, and both files are written."""
    mine = tmp_path / "boom.py"
    mine.write_text("from greenhop.policies import Capabilities, PolicyBase\n\n\n"
                    "class Boom(PolicyBase):\n"
                    "    name = 'boom'\n"
                    "    capabilities = Capabilities(migrates=True)\n\n"
                    "    def decide(self, obs):\n"
                    "        if obs.step >= 8:\n"
                    "            raise ValueError('boom')\n"
                    "        return []\n")
    work = tmp_path / "run"
    try:
        r = greenhop("run", str(LIVE), "--policy-file", f"{mine}:Boom", "--workdir", str(work),
                     "--time-scale", "3600", "--train-steps", "400", "--step-sleep", "0.02",
                     "--max-wall", "3min")
        left = _alive_under(work)
    finally:
        _kill_under(work)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "policy 'boom' failed at step 8" in r.stderr and "boom.py:10 in decide" in r.stderr
    assert "Fix the policy, then run the same command again to resume" in r.stderr
    assert "Traceback" not in r.stderr
    assert left == []  # nothing trains on unsupervised
    assert (work / "metrics.json").is_file()
    events = [json.loads(line) for line in (work / "events.jsonl").read_text().splitlines()]
    assert events[-1]["kind"] == "run-failed" and "boom" in events[-1]["body"]["error"]
    r = greenhop("status", "--db", str(work / "run.db"), "--json")
    assert json.loads(r.stdout)["run"]["status"] == "failed"
