"""An interrupted run, carried between two sites by the agent, ends bit-identical.

Real subprocesses receive SIGTERM / SIGUSR1 at steps drawn by a seeded RNG;
between interruptions the newest checkpoint crosses from one site directory
to the other through the site agents over TCP on 127.0.0.1.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import greenhop.workload as wl
from greenhop.runtime.agent import SiteAgent
from greenhop.runtime.transfer import fetch_via, pull_checkpoint

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ARGS = {
    "mlp": ["--step-sleep", "0.01"],
    "lm": [
        "--width",
        "32",
        "--layers",
        "1",
        "--context",
        "32",
        "--batch-size",
        "8",
        "--step-sleep",
        "0.01",
    ],
}
STEPS = {"mlp": 60, "lm": 36}


def _start(workload: str, ckpt_dir: Path) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "greenhop.workload.reference",
        workload,
        str(ckpt_dir),
        str(STEPS[workload]),
        *ARGS[workload],
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def _run(
    workload: str, ckpt_dir: Path, stop_after: int | None = None, sig: int = signal.SIGTERM
) -> int:
    proc = _start(workload, ckpt_dir)
    try:
        if stop_after is not None:
            for line in proc.stdout:
                if line.startswith("step ") and int(line.split()[1]) >= stop_after:
                    proc.send_signal(sig)
                    break
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (wl.EXIT_FINISHED, wl.EXIT_MIGRATED), err
    return proc.returncode


@pytest.mark.parametrize("workload", ["mlp", "lm"])
def test_interrupted_and_migrated_run_is_bit_identical(tmp_path, workload) -> None:
    steps = STEPS[workload]
    assert _run(workload, tmp_path / "ref" / "job") == wl.EXIT_FINISHED
    reference = wl.latest_complete(tmp_path / "ref" / "job")
    assert wl.load_checkpoint(reference).finished

    rng = random.Random(f"exactness-{workload}")
    stops = sorted(rng.sample(range(3, steps - 3), 3))
    sites = [tmp_path / "site-a", tmp_path / "site-b"]
    with (
        SiteAgent(sites[0], name="a", idle_timeout_s=120) as a,
        SiteAgent(sites[1], name="b", idle_timeout_s=120) as b,
    ):
        agents = [a, b]
        here = 0
        reached = []
        for i, stop in enumerate(stops):
            sig = signal.SIGTERM if i % 2 == 0 else signal.SIGUSR1
            assert _run(workload, sites[here] / "job", stop, sig) == wl.EXIT_MIGRATED
            step = wl.load_checkpoint(wl.latest_complete(sites[here] / "job")).step
            assert stop <= step < steps
            reached.append(step)
            there = 1 - here
            if i % 2 == 0:  # the destination pulls
                result = pull_checkpoint(agents[here].url, "job", sites[there] / "job")
                assert result.step == step and result.received_bytes == result.total_bytes
            else:  # the source's operator pushes: the destination agent fetches
                assert fetch_via(agents[there].url, agents[here].url, "job")["step"] == step
            here = there
        assert _run(workload, sites[here] / "job") == wl.EXIT_FINISHED
    assert reached == sorted(set(reached))
    final = wl.latest_complete(sites[here] / "job")
    assert wl.load_checkpoint(final).step == steps
    assert wl.weights_sha256(final) == wl.weights_sha256(reference)
    got, want = wl.load_checkpoint(final).components, wl.load_checkpoint(reference).components
    for name in ("optimizer", "scheduler", "loader", "rng"):
        assert _same(got[name], want[name]), name


def _same(a, b) -> bool:
    """Deep, bit-exact equality of two states (tensors compared by dtype, shape and bytes)."""
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.numpy().tobytes() == b.numpy().tobytes()
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return a == b
