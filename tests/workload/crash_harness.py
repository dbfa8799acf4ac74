"""Child side of the crash-safety test: fork writers, kill -9 them at random moments.

Usage: ``python crash_harness.py ROOT TRIALS SEED STEPS EVERY``. Imports torch
once, then per trial forks a process running the reference MLP with a
checkpoint every EVERY steps into ``ROOT/trial-NNN``; the child reports each
finished step on a pipe *before* checkpointing it; after a random delay the
parent sends SIGKILL. Prints one JSON line per trial: the directory, the last
step reported, whether a checkpoint was being written (a staging directory left
behind), and the exit status.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from pathlib import Path

import torch  # noqa: F401 - imported once here, inherited by every fork

from greenhop.workload.reference.run import RunOptions, run_reference


def child(ckpt_dir: Path, steps: int, every: int, fd: int) -> None:
    def on_step(step: int, loss: float) -> None:
        os.write(fd, f"{step}\n".encode())

    code = run_reference(
        "mlp",
        ckpt_dir,
        RunOptions(steps=steps, every_steps=every, keep=2),
        on_step=on_step,
        log=lambda msg: None,
    )
    os._exit(code)


def main() -> None:
    root, trials, seed, steps, every = Path(sys.argv[1]), *map(int, sys.argv[2:6])
    rng = random.Random(seed)
    # warm up once (lazy imports, first-call costs) so each fork starts training at once
    run_reference("mlp", root / "warmup", RunOptions(steps=2, every_steps=1), log=lambda m: None)
    for trial in range(trials):
        ckpt_dir = root / f"trial-{trial:03d}"
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            child(ckpt_dir, steps, every, w)
        os.close(w)
        time.sleep(rng.uniform(0.005, 0.2))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        os.close(r)
        lines = data.decode().split()
        staging = (
            any(p.name.startswith(".tmp-step-") for p in ckpt_dir.iterdir())
            if ckpt_dir.exists()
            else False
        )
        print(
            json.dumps(
                {
                    "dir": str(ckpt_dir),
                    "last_step": int(lines[-1]) if lines else None,
                    "mid_write": staging,
                    "killed": os.WIFSIGNALED(status),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
