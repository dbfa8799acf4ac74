"""kill -9 at random moments while checkpoints are written never leads to a wrong resume."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

import greenhop.workload as wl
from greenhop.workload.reference.run import RunOptions, build, run_reference

HARNESS = Path(__file__).with_name("crash_harness.py")
TRIALS, STEPS, EVERY = 60, 400, 2


def test_kill_9_during_checkpoint_writes_never_resumes_wrong(tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            str(tmp_path / "trials"),
            str(TRIALS),
            "20261126",
            str(STEPS),
            str(EVERY),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    trials = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(trials) == TRIALS

    # an uninterrupted reference run keeps every checkpoint: the truth at each step
    ref_dir = tmp_path / "ref"
    top = max(t["last_step"] or 0 for t in trials) + EVERY
    run_reference(
        "mlp",
        ref_dir,
        RunOptions(steps=min(top, STEPS), every_steps=EVERY, keep=10**6),
        log=lambda msg: None,
    )
    truth = {step: wl.weights_sha256(path) for step, path in wl.list_checkpoints(ref_dir)}

    mid_write = 0
    for t in trials:
        assert t["killed"]
        mid_write += t["mid_write"]
        ckpt_dir, last = Path(t["dir"]), t["last_step"]
        # resume exactly as a restarted job would
        model, opt, sched, sampler, _ = build("mlp", RunOptions(steps=STEPS))
        session = wl.TrainingSession(
            ckpt_dir,
            model=model,
            optimizer=opt,
            scheduler=sched,
            loader=sampler,
            log=lambda msg: None,
        )
        step = session.resume()
        if last is None:
            assert step == 0
            continue
        assert last - EVERY <= step <= last, t  # lost at most one checkpoint interval
        if step:
            path = wl.latest_complete(ckpt_dir)
            assert wl.weights_sha256(path) == truth[step], t
            blob = b"".join(v.numpy().tobytes() for _k, v in sorted(model.state_dict().items()))
            assert hashlib.sha256(blob).hexdigest() == truth[step]
            # the data position is the one `step` batches lead to (at an epoch's end the
            # sampler wraps on the next batch, so (epoch, cursor) is then (e, n_items))
            fresh = build("mlp", RunOptions(steps=STEPS))[3]
            for _ in range(step):
                fresh.next_batch()
            assert sampler.state_dict() == fresh.state_dict(), t
        if ckpt_dir.exists():  # recover() tidied what the kill left behind
            assert not any(p.name.startswith(".tmp-") for p in ckpt_dir.iterdir())
    assert mid_write >= 10, f"only {mid_write} kills landed during a checkpoint write"
    assert torch.get_num_threads() == 1
