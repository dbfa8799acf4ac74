"""Measured migration downtime (save + transfer + restore) vs the feasibility model.

A reference LM training job runs as a real process at site A. It is sent
SIGTERM; it finishes its step, checkpoints and exits (75). The checkpoint is
pulled by site B from A's agent over a rate-limited loopback link. The job is
restarted at B and resumes. Measured, per phase:

* save     = last step finished at A (its ``step N`` line) -> process A exited;
* transfer = the whole ``pull_checkpoint`` call (list, manifest, files, commit);
* restore  = process B spawned -> its first step finished (``step N+1`` line).

The model's prediction comes from ``greenhop.model.evaluate`` with parameters
measured in the same run, independently of the migrations:

* ``write_Bps``: the same job state saved in-process, size / time;
* ``read_Bps``: that checkpoint loaded and verified (it is in the page cache, as
  a just-received checkpoint is at B), size / time;
* ``startup_s``: a cold start of the same job with no checkpoint, spawn -> first
  step finished (restore_s = S / read_Bps + startup_s);
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
import time
from pathlib import Path

from greenhop.core.units import format_rate, format_size, parse_rate
from greenhop.model import evaluate
from greenhop.runtime.agent import SiteAgent
from greenhop.runtime.transfer import pull_checkpoint
from greenhop.workload import TrainingSession, latest_complete, load_checkpoint
from greenhop.workload.reference.run import RunOptions, _setup, build

LM = ["--width", "512", "--layers", "6", "--context", "32", "--batch-size", "2"]
OPTS = RunOptions(steps=10**6, width=512, layers=6, context=32, batch_size=2)
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def spawn(ckpt_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
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
        stderr=subprocess.DEVNULL,
        text=True,
        env=ENV,
    )


def first_step_s(ckpt_dir: Path) -> float:
    """Spawn the job and return the time until its first step finished [s]; stop it."""
    t0 = time.perf_counter()
    proc = spawn(ckpt_dir)
    line = proc.stdout.readline()
    t = time.perf_counter() - t0
    assert line.startswith("step "), line
    proc.kill()
    proc.wait()
    return t


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir())


def calibrate(base: Path) -> dict[str, float]:
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
    for i in range(3):
        t = time.perf_counter()
        path = session.save(i + 1)
        writes.append(dir_bytes(path) / (time.perf_counter() - t))
        t = time.perf_counter()
        load_checkpoint(path)
        reads.append(dir_bytes(path) / (time.perf_counter() - t))
    shutil.rmtree(base / "cal")
    starts = [first_step_s(base / f"cold-{i}") for i in range(3)]
    return {
        "write_Bps": statistics.median(writes),
        "read_Bps": statistics.median(reads),
        "startup_s": statistics.median(starts),
    }


def migrate(base: Path, rate_bps: float, r: int) -> dict[str, float]:
    a, b = base / f"a{r}", base / f"b{r}"
    proc = spawn(a / "job")
    for line in proc.stdout:
        if line.startswith("step ") and int(line.split()[1]) >= 3:
            break
    proc.send_signal(signal.SIGTERM)
    t_last = time.perf_counter()
    for line in proc.stdout:  # the step in flight finishes, then the checkpoint is written
        if line.startswith("step "):
            t_last = time.perf_counter()
    proc.wait()
    t_exit = time.perf_counter()
    assert proc.returncode == 75, proc.returncode
    size = dir_bytes(latest_complete(a / "job"))
    with SiteAgent(a, rate_bps=rate_bps) as agent:
        t = time.perf_counter()
        pull_checkpoint(agent.url, "job", b / "job")
        t_pulled = time.perf_counter()
        assert t_pulled > t
    restore = first_step_s(b / "job")
    return {
        "size": size,
        "save_s": t_exit - t_last,
        "transfer_s": t_pulled - t_exit,
        "restore_s": restore,
        "downtime_s": t_exit - t_last + t_pulled - t_exit + restore,
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
        cal = calibrate(base)
        print(
            f"calibration: write {cal['write_Bps'] / 1e9:.2f} GB/s, "
            f"read {cal['read_Bps'] / 1e9:.2f} GB/s, "
            f"cold start to first step {cal['startup_s']:.2f} s; link {format_rate(rate)}"
        )
        rows = []
        for r in range(a.repeats):
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
