"""Two processes pulling one checkpoint into one directory at once (two `greenhop transfer
pull`s, two controllers on one disk): one copies, the other waits for its OS file lock and
then finds the checkpoint committed; and the blocking lock itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from test_controller_kit import wait_for
from test_transfer import CHUNK_BYTES, _digests

import greenhop.workload as wl
from greenhop.core.filelock import LockTimeout, hold_lock, release_lock
from greenhop.runtime.agent import Faults, SiteAgent

RATE_BPS = 6e6
"""Source link rate [bit/s]: the ~1.6 MB checkpoint takes about 2 s to cross, long enough
for the second pull to start well inside the first."""

PULLER = r"""
import json, sys
from greenhop.runtime.transfer import pull_checkpoint

url, dest, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()  # go
try:
    out = {"ok": True, **pull_checkpoint(url, "job", dest, chunk_bytes=chunk).to_json()}
except Exception as exc:
    out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(out), flush=True)
"""
"""A pull in its own process: imports first, says ``ready``, pulls on a line on stdin,
prints its result (or error) as one JSON line."""


class Watch(Faults):
    """Records every block the source sends: (monotonic time [s], file, offset [B])."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str, int]] = []

    def on_block(self, name, file, offset, block):
        self.sent.append((time.monotonic(), file, offset))
        return block

    def data(self) -> list[float]:
        return [t for t, f, _ in self.sent if f != "MANIFEST.json"]

    def manifests(self) -> list[float]:
        return [t for t, f, _ in self.sent if f == "MANIFEST.json"]


def _puller(url: str, dest) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PULLER, url, str(dest), str(CHUNK_BYTES)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _go(proc: subprocess.Popen) -> None:
    proc.stdin.write("go\n")
    proc.stdin.flush()


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.splitlines()[-1])


def test_two_processes_pulling_one_checkpoint_into_one_directory(tmp_path, source_site):
    root, path = source_site
    dest = tmp_path / "dst" / "job"
    manifest = wl.verify_checkpoint(path)
    total = sum(r["size_bytes"] for r in manifest["files"].values())
    watch = Watch()
    procs = []
    try:
        with SiteAgent(root, rate_bps=RATE_BPS, faults=watch) as agent:
            procs = [_puller(agent.url, dest) for _ in range(2)]
            for p in procs:  # both imported: the second starts pulling at once when told
                assert p.stdout.readline().strip() == "ready", p.stderr.read()[-3000:]
            first, second = procs
            _go(first)
            # the first is mid-transfer once the source sends it file data
            wait_for(watch.data, 10, "the first pull's data")
            _go(second)
            a, b = _result(first), _result(second)
            sent = agent.stats.bytes_sent
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert a["ok"] and b["ok"], (a, b)
    # the second started (asked for the manifest) while the first was still receiving
    assert len(watch.manifests()) == 2 and watch.manifests()[1] < watch.data()[-1]
    # one copied, the other waited for it and found it committed: nothing crossed twice
    assert not a["skipped"] and a["received_bytes"] == total, a
    assert b["skipped"] and b["received_bytes"] == 0 and b["wire_bytes"] == 0, b
    assert any(e.startswith("waited ") for e in b["events"]), b["events"]
    assert sent == total + 2 * (path / "MANIFEST.json").stat().st_size
    assert a["manifest_sha256"] == b["manifest_sha256"]
    # the committed copy is the source's; no staging directory, lock file or other file left
    assert sorted(p.name for p in dest.iterdir()) == [path.name]
    assert wl.verify_checkpoint(dest / path.name) == manifest
    assert _digests(dest / path.name) == _digests(path)


def _take_in_thread(lock, **kwargs) -> tuple[threading.Thread, list[int]]:
    """``hold_lock(lock, **kwargs)`` in a daemon thread; its descriptor lands in the list."""
    got: list[int] = []
    t = threading.Thread(target=lambda: got.append(hold_lock(lock, **kwargs)), daemon=True)
    t.start()
    return t, got


def test_hold_lock_waits_for_the_holder(tmp_path):
    lock = tmp_path / "x.lock"
    fd = hold_lock(lock)
    waits: list[int] = []
    t, got = _take_in_thread(lock, on_wait=lambda: waits.append(1))
    time.sleep(0.3)
    # another open file holds it (here in this process, as from another): it waits
    assert not got and waits == [1]
    release_lock(fd)
    t.join(5)
    assert got, "the waiter did not get the lock once it was free"
    release_lock(got[0])


def test_hold_lock_timeout_names_the_path(tmp_path):
    lock = tmp_path / "x.lock"
    fd = hold_lock(lock)
    try:
        t0 = time.monotonic()
        with pytest.raises(LockTimeout, match=f"0.2 s waiting for the lock on {lock}"):
            hold_lock(lock, timeout_s=0.2)
        assert 0.2 <= time.monotonic() - t0 < 2
    finally:
        release_lock(fd)
    release_lock(hold_lock(lock, timeout_s=0.2))  # free again: taken at once


def test_a_lock_removed_by_its_holder_is_taken_anew_by_a_waiter(tmp_path):
    """A waiter that gets the lock of a file its holder removed takes the lock of the file
    now at the path: never two holders of "the" lock at once."""
    lock = tmp_path / "x.lock"
    fd = hold_lock(lock)
    t, got = _take_in_thread(lock)
    time.sleep(0.2)
    assert not got
    release_lock(fd, lock, remove=True)
    t.join(5)
    assert got, "the waiter did not get the lock once it was free"
    try:
        assert os.path.samestat(os.fstat(got[0]), os.stat(lock))
        with pytest.raises(LockTimeout):
            hold_lock(lock, timeout_s=0.1)  # a third process would wait for the waiter
    finally:
        release_lock(got[0], lock, remove=True)
    assert not lock.exists()
