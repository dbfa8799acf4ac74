"""Measured migration downtime (save + transfer + restore) vs the feasibility model.

A reference LM training job runs as a real process at site A. It is sent
SIGTERM; it finishes its step, checkpoints and exits (75). The checkpoint is
pulled by site B from A's agent (its own process, started before the migration,
``greenhop agent serve --rate ...``) over a rate-limited loopback link. The job is
restarted at B and resumes. Measured, per phase:

* save     = last step finished at A (its ``step N`` line) -> checkpoint complete
  (the job's log line written right after the manifest);
* transfer = process A exited -> ``pull_checkpoint`` returned (list, manifest,
  files, commit at B);
* restore  = checkpoint complete -> process A exited, plus process B spawned ->
  its first step finished (``step N+1`` line): stopping and restarting the job.

downtime = last step at A -> first step at B, the sum of the three.

The model's prediction comes from ``greenhop.model.evaluate`` with parameters
measured in the same round, just before each migration, on separate runs:

* ``write_Bps``: the same job state saved in-process, size / time;
* ``read_Bps``: that checkpoint restored in-process (``TrainingSession.resume``:
  read, verify every SHA-256, apply to model, optimizer, scheduler and RNGs; it
  is in the page cache, as a just-received checkpoint is at B), size / time;
* ``startup_s``: the fixed cost of a restart = a cold start of the same job
  with no checkpoint (spawn -> first step finished) + a stop (a job's checkpoint
  complete -> its exit), both measured on separate runs (restore_s = S / read_Bps
  + startup_s);
* the configured link rate with ``efficiency = 1`` (the token bucket is the link).

    python benchmarks/bench_downtime.py --rate 1Gbps --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from agentproc import AgentProcess
from greenhop.core.units import format_rate, format_size, parse_rate
from greenhop.model import evaluate
from greenhop.runtime.transfer import pull_checkpoint
from greenhop.workload import TrainingSession, latest_complete
from greenhop.workload.reference.run import RunOptions, _setup, build

LM = ["--width", "512", "--layers", "6", "--context", "32", "--batch-size", "2"]
OPTS = RunOptions(steps=10**6, width=512, layers=6, context=32, batch_size=2)
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


class Job:
    """The reference LM as its own process; stdout and stderr lines are time-stamped."""

    def __init__(self, ckpt_dir: Path) -> None:
        self.t_spawn = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "greenhop.workload.reference",
                "lm",
                str(ckpt_dir),
                str(OPTS.steps),
                *LM,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        self.saved_at: float | None = None
        self._err = threading.Thread(target=self._watch_stderr, daemon=True)
        self._err.start()

    def _watch_stderr(self) -> None:
        for line in self.proc.stderr:
            if "migration requested" in line:  # logged right after the checkpoint is complete
                self.saved_at = time.perf_counter()

    def steps(self):
        """Yield (step, arrival time) for each finished step."""
        for line in self.proc.stdout:
            if line.startswith("step "):
                yield int(line.split()[1]), time.perf_counter()

    def wait(self) -> float:
        self.proc.wait()
        t = time.perf_counter()
        self._err.join(timeout=10)
        return t

    def kill(self) -> None:
        self.proc.kill()
        self.wait()


def first_step_s(ckpt_dir: Path) -> float:
    """Spawn the job and return the time until its first step finished [s]; stop it."""
    job = Job(ckpt_dir)
    _step, t = next(job.steps())
    job.kill()
    return t - job.t_spawn


def stop_s(ckpt_dir: Path) -> float:
    """SIGTERM a running job; time from its checkpoint being complete to its exit [s]."""
    job = Job(ckpt_dir)
    next(job.steps())
    job.proc.send_signal(signal.SIGTERM)
    for _ in job.steps():
        pass
    t_exit = job.wait()
    assert job.proc.returncode == 75 and job.saved_at is not None
    return t_exit - job.saved_at


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir())


def calibrate(base: Path, r: int) -> dict[str, float]:
    import torch

    _setup(torch, 1, 0)
    model, opt, sched, sampler, step_fn = build("lm", OPTS)
    step_fn()
    session = TrainingSession(
        base / "cal",
        model=model,
        optimizer=opt,
        scheduler=sched,
        loader=sampler,
        log=lambda m: None,
    )
    writes, reads = [], []
    for i in range(2):
        t = time.perf_counter()
        path = session.save(i + 1)
        writes.append(dir_bytes(path) / (time.perf_counter() - t))
        t = time.perf_counter()
        session.resume()  # load + verify + apply to model, optimizer, scheduler, RNGs
        reads.append(dir_bytes(path) / (time.perf_counter() - t))
    shutil.rmtree(base / "cal")
    starts = [first_step_s(base / f"cold-{r}")]
    stops = [stop_s(base / f"stop-{r}")]
    return {
        "write_Bps": statistics.median(writes),
        "read_Bps": statistics.median(reads),
        "start_s": statistics.median(starts),
        "stop_s": statistics.median(stops),
        "startup_s": statistics.median(starts) + statistics.median(stops),
    }


def migrate(base: Path, rate_bps: float, r: int) -> dict[str, float]:
    a, b = base / f"a{r}", base / f"b{r}"
    # site A's agent: its own process, running before the migration
    agent = AgentProcess(a, rate_bps)
    job = Job(a / "job")
    steps = job.steps()
    for step, _t in steps:
        if step >= 3:
            break
    job.proc.send_signal(signal.SIGTERM)
    t_last = time.perf_counter()
    for _step, t in steps:  # the step in flight finishes, then the checkpoint is written
        t_last = t
    t_exit = job.wait()
    assert job.proc.returncode == 75 and job.saved_at is not None, job.proc.returncode
    size = dir_bytes(latest_complete(a / "job"))
    with agent as url:
        pull_checkpoint(url, "job", b / "job", credentials=agent.credentials)
        t_pulled = time.perf_counter()
    restore = first_step_s(b / "job")
    return {
        "size": size,
        "save_s": job.saved_at - t_last,
        "transfer_s": t_pulled - t_exit,
        "restore_s": (t_exit - job.saved_at) + restore,
        "downtime_s": t_pulled - t_last + restore,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", default="1Gbps")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dir", default=None)
    a = p.parse_args()
    rate = parse_rate(a.rate)
    base = Path(tempfile.mkdtemp(prefix="greenhop-bench-downtime-", dir=a.dir))
    try:
        print(f"link {format_rate(rate)}; each round calibrates, then migrates")
        rows = []
        for r in range(a.repeats):
            cal = calibrate(base, r)  # side by side with the migration it predicts
            print(
                f"round {r} calibration: write {cal['write_Bps'] / 1e9:.2f} GB/s, "
                f"read {cal['read_Bps'] / 1e9:.2f} GB/s, "
                f"cold start to first step {cal['start_s']:.2f} s, stop {cal['stop_s']:.2f} s"
            )
            m = migrate(base, rate, r)
            f = evaluate(
                m["size"],
                rate,
                86400.0,
                efficiency=1.0,
                write_Bps=cal["write_Bps"],
                read_Bps=cal["read_Bps"],
                startup_s=cal["startup_s"],
            )
            rows.append((m, f))
            print(
                f"run {r}: checkpoint {format_size(m['size'])}: measured "
                f"{m['save_s']:.2f} + {m['transfer_s']:.2f} + {m['restore_s']:.2f} = "
                f"{m['downtime_s']:.2f} s; model {f.save_s:.2f} + {f.transfer_s:.2f} + "
                f"{f.restore_s:.2f} = {f.downtime_s:.2f} s; measured/model "
                f"{m['downtime_s'] / f.downtime_s:.2f}",
                flush=True,
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("\n| phase | measured (median) | model (median) | measured / model |\n|---|---|---|---|")
    for key, attr in (
        ("save_s", "save_s"),
        ("transfer_s", "transfer_s"),
        ("restore_s", "restore_s"),
        ("downtime_s", "downtime_s"),
    ):
        meas = statistics.median(m[key] for m, _ in rows)
        model = statistics.median(float(getattr(f, attr)) for _, f in rows)
        print(f"| {key.removesuffix('_s')} | {meas:.2f} s | {model:.2f} s | {meas / model:.2f} |")
    ratios = [m["downtime_s"] / f.downtime_s for m, f in rows]
    print(
        f"\ndowntime measured / model: median {statistics.median(ratios):.2f} (runs "
        f"{', '.join(f'{x:.2f}' for x in ratios)}); target within 15% (0.85-1.15)"
    )


if __name__ == "__main__":
    main()
