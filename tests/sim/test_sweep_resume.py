"""A real ``greenhop sweep`` killed with SIGKILL and started again with the same command runs
only the missing cells, and ends with the files of an uninterrupted sweep."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sweepkit

from greenhop.sim.sweep import prepare_sweep, run_sweep
from greenhop.sim.sweep_store import FINAL_FILES

GREENHOP = str(Path(sys.executable).with_name("greenhop"))
SEEDS, POLICIES = "1-8", "static,energy-greedy"
TOTAL = 16


def _start(path: Path, out: Path, mode: list[str]) -> subprocess.Popen:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.Popen([GREENHOP, "sweep", str(path), "--seeds", SEEDS, "--policies",
                             POLICIES, "--out", str(out), *mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    """Kill what is left of the sweep's process group (with Ray, the agents of its local
    instance outlive a killed driver) and reap the driver."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def _wait_for_cells(proc: subprocess.Popen, cells: Path, n: int = 3) -> None:
    """Until the running sweep has stored ``n`` cells (it must still be running then)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if cells.is_dir() and len(list(cells.glob("*.json"))) >= n:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep ended before it could be stopped"


@pytest.mark.parametrize("mode", [["--serial"], ["--workers", "2"]], ids=["serial", "ray"])
def test_killed_sweep_resumes_with_the_missing_cells_only(tmp_path, mode):
    path = sweepkit.write(tmp_path, horizon="3d", jobs=12)
    out = tmp_path / "out"
    proc = _start(path, out, mode)
    cells = out / "cells"
    try:
        _wait_for_cells(proc, cells)
        proc.send_signal(signal.SIGKILL)  # the driver alone, as kill -9 <pid> would
        proc.wait(timeout=30)
    finally:
        _stop(proc)
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cells.glob("*.json")}
    assert 3 <= len(before) < TOTAL
    assert not any((out / name).exists() for name in FINAL_FILES)

    again = _start(path, out, mode)
    try:
        stdout, stderr = again.communicate(timeout=240)
    finally:
        _stop(again)
    assert again.returncode == 0, stderr.decode()
    assert f"{TOTAL} cells ({TOTAL - len(before)} run now, {len(before)} already there)" \
        in stdout.decode()
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cells.glob("*.json")}
    assert len(after) == TOTAL
    assert all(after[name] == before[name] for name in before)  # untouched
    rerun = [json.loads((out / "meta" / name).read_text())["pid"] for name in after
             if name not in before]
    assert len(rerun) == TOTAL - len(before)
    if mode == ["--serial"]:
        assert set(rerun) == {again.pid}

    spec = prepare_sweep(path, seeds=SEEDS, policies=POLICIES.split(","))
    whole = run_sweep(spec, tmp_path / "whole", serial=True)
    for p in (whole.out / "cells").glob("*.json"):
        assert (cells / p.name).read_text() == p.read_text()
    for name in FINAL_FILES:
        assert (out / name).read_bytes() == (whole.out / name).read_bytes(), name


def test_a_sweep_on_ray_stopped_by_sigterm_exits_quietly(tmp_path):
    """SIGTERM to a sweep on Ray printed Ray's native stack trace four or five times; it now
    stops as ``--serial`` does (exit 143, nothing on stderr) and leaves no Ray process."""
    path = sweepkit.write(tmp_path, horizon="3d", jobs=12)
    out = tmp_path / "out"
    proc = _start(path, out, ["--workers", "2"])
    cells = out / "cells"
    try:
        _wait_for_cells(proc, cells)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGTERM
        assert b"SIGTERM received" not in stderr and b"Traceback" not in stderr, stderr
        time.sleep(1.0)
        with pytest.raises(ProcessLookupError):  # the local instance went with the driver
            os.killpg(proc.pid, 0)
    finally:
        _stop(proc)
