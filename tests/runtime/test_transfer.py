"""Site agent and transfer: verified, resumable, rate-limited, fails cleanly."""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import greenhop.workload as wl
from greenhop.core.errors import TransferError
from greenhop.runtime.agent import Faults, SiteAgent
from greenhop.runtime.agent_client import list_remote
from greenhop.runtime.transfer import pull_checkpoint
from greenhop.runtime.transfer_storage import Storage

CHUNK_BYTES = 128 * 1024  # as in conftest.py


def pull(*args, **kwargs):
    """``pull_checkpoint`` with the small test chunk size."""
    return pull_checkpoint(*args, chunk_bytes=CHUNK_BYTES, **kwargs)


def _digests(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


def _sizes(path: Path) -> tuple[int, int]:
    manifest = wl.verify_checkpoint(path)
    return sum(r["size_bytes"] for r in manifest["files"].values()), (
        path / "MANIFEST.json"
    ).stat().st_size


class DropAt(Faults):
    """Drop the connection once, just before byte ``at`` of the whole checkpoint."""

    def __init__(self, at: int) -> None:
        self.at, self.sent, self.fired = at, 0, False

    def on_block(self, name, file, offset, block):
        if file == "MANIFEST.json":
            return block
        if not self.fired and self.sent + len(block) > self.at:
            self.fired = True
            return None
        self.sent += len(block)
        return block


class FlipAt(Faults):
    """Flip one bit of the byte at ``offset`` of ``file`` the first time it is sent."""

    def __init__(self, file: str, offset: int) -> None:
        self.file, self.offset, self.fired = file, offset, False

    def on_block(self, name, file, offset, block):
        if not self.fired and file == self.file and offset <= self.offset < offset + len(block):
            self.fired = True
            data = bytearray(block)
            data[self.offset - offset] ^= 0x10
            return bytes(data)
        return block


def test_plain_pull_commits_a_verified_copy(tmp_path, source_site) -> None:
    root, path = source_site
    with SiteAgent(root) as agent:
        assert [c["name"] for c in list_remote(agent.url, "job")] == [path.name]
        result = pull(agent.url, "job", tmp_path / "dst" / "job")
        again = pull(agent.url, "job", tmp_path / "dst" / "job")
    assert result.received_bytes == result.total_bytes and result.retries == 0
    assert again.skipped and again.received_bytes == 0
    assert _digests(result.path) == _digests(path)
    assert sorted(p.name for p in (tmp_path / "dst" / "job").iterdir()) == [path.name]


def test_agent_connections_send_small_writes_at_once(tmp_path, source_site) -> None:
    """Nagle is off on every connection the agent accepts: a frame's length and digest are
    small writes, and with Nagle on each one waited for the client's delayed ACK (about
    40 ms per small file of a checkpoint)."""
    import socket

    root, _ = source_site
    with SiteAgent(root) as agent:
        conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=10)
        conn.request("GET", "/v1/jobs/job/checkpoints")
        assert conn.getresponse().read()
        server_sockets = [c.transport.get_extra_info("socket")
                          for c in agent._server.server_state.connections]
        flags = [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in server_sockets]
        conn.close()
    assert flags and all(flags), flags


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_dropped_connection_resumes_and_resends_at_most_one_chunk(
    tmp_path, source_site, fraction
) -> None:
    root, path = source_site
    total, manifest_bytes = _sizes(path)
    faults = DropAt(int(fraction * total))
    with SiteAgent(root, faults=faults) as agent:
        result = pull(agent.url, "job", tmp_path / "dst")
        sent = agent.stats.bytes_sent
    assert faults.fired and result.retries == 1
    resent = sent - manifest_bytes - total
    assert 0 <= resent <= CHUNK_BYTES, f"re-sent {resent} B"
    assert _digests(result.path) == _digests(path)


def test_flipped_byte_in_transit_is_detected_and_fetched_again(tmp_path, source_site) -> None:
    root, path = source_site
    total, manifest_bytes = _sizes(path)
    faults = FlipAt("model.safetensors", 700_000)
    with SiteAgent(root, faults=faults) as agent:
        result = pull(agent.url, "job", tmp_path / "dst")
        sent = agent.stats.bytes_sent
    assert faults.fired and result.bad_chunks == 1
    assert any("failed its SHA-256" in e for e in result.events)
    # the receiver discards one chunk and asks again from its start; it never reads
    # more than one chunk twice (the sender may have pushed more into socket buffers)
    assert result.wire_bytes - total <= CHUNK_BYTES
    assert sent >= total + manifest_bytes
    assert _digests(result.path) == _digests(path)


def test_flipped_byte_at_rest_in_a_partial_copy_is_fetched_again(tmp_path, source_site) -> None:
    root, path = source_site
    total, _ = _sizes(path)
    dst = tmp_path / "dst"
    with (
        SiteAgent(root, faults=DropAt(total // 2)) as agent,
        pytest.raises(TransferError, match=r"failed 1 times"),
    ):
        pull(agent.url, "job", dst, max_retries=0)
    partial = dst / f".incoming-{path.name}" / "model.safetensors"
    assert partial.stat().st_size > 3 * CHUNK_BYTES
    data = bytearray(partial.read_bytes())
    data[CHUNK_BYTES + 5] ^= 0xFF  # rot inside the second chunk
    partial.write_bytes(bytes(data))
    with SiteAgent(root) as agent:
        result = pull(agent.url, "job", dst)
    files = wl.verify_checkpoint(path)["files"]
    before_model = sum(files[n]["size_bytes"] for n in files if n < "model.safetensors")
    assert result.reused_bytes == before_model + CHUNK_BYTES  # only chunk 0 still verified
    assert result.received_bytes == total - result.reused_bytes
    assert _digests(result.path) == _digests(path)
    assert wl.latest_complete(dst) == result.path


def test_flipped_byte_at_rest_at_the_source_is_never_committed(tmp_path, source_site) -> None:
    root, path = source_site
    target = path / "model.safetensors"
    data = bytearray(target.read_bytes())
    data[900_000] ^= 0x01
    target.write_bytes(bytes(data))
    before = _digests(path)
    with SiteAgent(root) as agent, pytest.raises(TransferError, match="corrupt at rest"):
        pull(agent.url, "job", tmp_path / "dst", max_retries=2)
    assert wl.latest_complete(tmp_path / "dst") is None
    assert not (tmp_path / "dst" / path.name).exists()
    assert _digests(path) == before


def test_flipped_byte_at_rest_after_commit_is_never_loaded(tmp_path, source_site) -> None:
    root, path = source_site
    older = wl.save_checkpoint(root / "job", 41, {"model": {"w": wl_tensor()}})
    with SiteAgent(root) as agent:
        pull(agent.url, "job", tmp_path / "dst", older.name)
        result = pull(agent.url, "job", tmp_path / "dst")
    data = bytearray((result.path / "model.safetensors").read_bytes())
    data[-3] ^= 0x01
    (result.path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(wl.checkpoint.CheckpointError, match="BLAKE3"):
        wl.load_checkpoint(result.path)
    assert wl.latest_complete(tmp_path / "dst").name == older.name
    with SiteAgent(root) as agent:  # fetched again: the corrupt copy is replaced
        fixed = pull(agent.url, "job", tmp_path / "dst")
    assert not fixed.skipped and _digests(fixed.path) == _digests(path)


def wl_tensor():
    import torch

    return torch.zeros(10)


class _QuotaFile:
    def __init__(self, fh, storage) -> None:
        self._fh, self._storage = fh, storage

    def write(self, data) -> int:
        if self._storage.written + len(data) > self._storage.quota:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._storage.written += len(data)
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)


class FullDisk(Storage):
    """A destination whose disk fills after ``quota`` bytes (and claims plenty free)."""

    def __init__(self, quota: int) -> None:
        self.quota, self.written = quota, 0

    def free_bytes(self, path: Path) -> int:
        return 10**12

    def open_at(self, path, offset):
        return _QuotaFile(super().open_at(path, offset), self)


def test_destination_disk_full_fails_cleanly_and_leaves_the_source_untouched(
    tmp_path, source_site
) -> None:
    root, path = source_site
    before = _digests(path)
    dst = tmp_path / "dst"
    with SiteAgent(root) as agent, pytest.raises(TransferError, match="destination disk full"):
        pull(agent.url, "job", dst, storage=FullDisk(500_000))
    assert not dst.exists()  # no staging left, nothing committed, no empty directory
    assert _digests(path) == before
    wl.verify_checkpoint(path)


def test_destination_disk_full_on_a_real_small_tmpfs(tmp_path, source_site) -> None:
    root, path = source_site
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)],
            capture_output=True,
            timeout=10,
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root); the fake full disk covers it")
    try:
        before = _digests(path)
        with SiteAgent(root) as agent:
            with pytest.raises(TransferError, match="destination disk full"):
                pull(agent.url, "job", mnt / "job")  # space check up front
            with pytest.raises(TransferError, match="destination disk full"):
                pull(agent.url, "job", mnt / "job", check_space=False)  # ENOSPC
        assert not (mnt / "job").exists()
        assert _digests(path) == before
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, timeout=10)


def test_pickle_listed_in_a_remote_manifest_is_refused(tmp_path, source_site) -> None:
    root, path = source_site
    manifest = json.loads((path / "MANIFEST.json").read_text())
    manifest["files"]["evil.pkl"] = manifest["files"]["meta.json"]
    (path / "MANIFEST.json").write_text(json.dumps(manifest))
    with SiteAgent(root) as agent, pytest.raises(TransferError, match=r"evil\.pkl"):
        pull(agent.url, "job", tmp_path / "dst", path.name)
    assert not (tmp_path / "dst").exists() or list((tmp_path / "dst").iterdir()) == []


def test_pickle_payload_with_matching_hashes_is_refused_after_transfer(
    tmp_path, source_site
) -> None:
    import pickle

    root, path = source_site
    payload = pickle.dumps({"x": 1}, protocol=4)
    (path / "loader.json").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    manifest = json.loads((path / "MANIFEST.json").read_text())
    manifest["files"]["loader.json"] = {
        "size_bytes": len(payload),
        "sha256": digest,
    }
    (path / "MANIFEST.json").write_text(json.dumps(manifest))
    with SiteAgent(root) as agent, pytest.raises(TransferError, match="pickle payload"):
        pull(agent.url, "job", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_rate_limit_and_latency_hold_on_loopback(tmp_path, source_site) -> None:
    root, path = source_site
    total, _ = _sizes(path)
    rate_bps = 40e6
    with SiteAgent(root, rate_bps=rate_bps, latency_s=0.05) as agent:
        t0 = time.monotonic()
        result = pull(agent.url, "job", tmp_path / "dst")
        elapsed = time.monotonic() - t0
    files = len(wl.verify_checkpoint(path)["files"])
    # one latency per request: list, manifest and each file
    assert elapsed >= 0.05 * (2 + files)
    achieved = 8 * total / (elapsed - 0.05 * (2 + files))
    assert 0.3 * rate_bps <= achieved <= 1.15 * rate_bps  # loose: shared CI machines
    assert result.rate_bps <= 1.15 * rate_bps


def test_agent_serves_only_manifest_files_and_stops_when_idle(tmp_path, source_site) -> None:
    root, path = source_site
    (path / "secret.txt").write_text("no")
    agent = SiteAgent(root, idle_timeout_s=0.5).start()
    try:
        for url, status in [
            (f"/v1/jobs/job/checkpoints/{path.name}/secret.txt", 404),
            (f"/v1/jobs/job/checkpoints/{path.name}/..%2F..%2Fetc", 404),
            ("/v1/jobs/..%2Fx/checkpoints", 404),
            ("/v1/health", 200),
            (f"/v1/jobs/job/checkpoints/{path.name}/meta.json", 200),
        ]:
            conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=5)
            conn.request("GET", url)
            assert conn.getresponse().status == status, url
            conn.close()
        assert agent.wait(timeout_s=5)
    finally:
        agent.stop()
    shutil.rmtree(path / "secret.txt", ignore_errors=True)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3 * 4096 + 17), min_size=1, max_size=8),
       st.integers(0, 2), st.booleans())
def test_receive_file_writes_any_sizes_in_order(tmp_path_factory, sizes, start_blocks,
                                                aligned) -> None:
    """ReceiveFile: O_DIRECT for aligned pieces, plain writes for the rest, in any mix;
    the file holds exactly the bytes written after the kept prefix."""
    import mmap

    path = tmp_path_factory.mktemp("recv") / "f.bin"
    prefix = os.urandom(start_blocks * 4096 + 100)
    path.write_bytes(prefix)
    offset = start_blocks * 4096
    fh = Storage().open_at(path, offset)
    expected = bytearray(prefix[:offset])
    try:
        for n in sizes:
            data = os.urandom(n)
            if aligned:  # page-aligned, as the receiver's buffers are
                buf = mmap.mmap(-1, max(n, 1))
                buf[:n] = data
                assert fh.write(memoryview(buf)[:n]) == n
            else:
                assert fh.write(data) == n
            expected += data
        Storage().sync(fh)
    finally:
        fh.close()
    assert path.read_bytes() == bytes(expected)


def test_a_different_checkpoint_under_the_same_name_at_the_destination_is_kept(
        tmp_path, source_site) -> None:
    """DEST/step-N holding another checkpoint (another job's, or a file) was deleted without
    a word when the pull committed; the same checkpoint pulled again is still replaced."""
    import torch

    root, path = source_site
    dst = tmp_path / "dst"
    other = wl.save_checkpoint(dst, 42, {"model": {"w": torch.zeros(3)}})
    other_manifest = (other / wl.MANIFEST).read_bytes()
    with SiteAgent(root) as agent:
        got = pull(agent.url, "job", dst).path
        assert (got / wl.MANIFEST).read_bytes() == (path / wl.MANIFEST).read_bytes()
        kept = [p for p in dst.iterdir() if p.name.startswith(f"foreign-{got.name}-")]
        assert len(kept) == 1 and (kept[0] / wl.MANIFEST).read_bytes() == other_manifest
        pull(agent.url, "job", dst)  # the same checkpoint again: replaced, nothing kept
        assert sorted(p.name for p in dst.iterdir()) == sorted([got.name, kept[0].name])
    wl.verify_checkpoint(got)
