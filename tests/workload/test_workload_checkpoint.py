"""Checkpoint save/load, completeness, fallback, retention and the training session."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
from concurrent.futures import ThreadPoolExecutor

import blake3
import numpy as np
import pytest
import torch

import greenhop.workload as wl
from greenhop.core.errors import CheckpointError, ConfigError
from greenhop.workload import checkpoint as ck
from greenhop.workload import verified_read as vr


def _flip(path, offset=-1) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_save_and_load_round_trip_everything(tmp_path, small_state) -> None:
    path = wl.save_checkpoint(tmp_path, 7, {**small_state, "loader": {"epoch": 1, "cursor": 3}})
    assert path.name == "step-000000007"
    manifest = wl.verify_checkpoint(path)
    assert manifest["step"] == 7 and set(manifest["files"]) >= {"model.safetensors", "meta.json"}
    loaded = wl.load_checkpoint(path)
    assert loaded.step == 7 and not loaded.finished
    for k, v in small_state["model"].items():
        assert torch.equal(loaded.components["model"][k], v)
    opt = loaded.components["optimizer"]
    assert opt["param_groups"] == small_state["optimizer"]["param_groups"]
    assert torch.equal(opt["state"][0]["exp_avg"], small_state["optimizer"]["state"][0]["exp_avg"])
    assert loaded.components["scheduler"] == small_state["scheduler"]
    assert loaded.components["loader"] == {"epoch": 1, "cursor": 3}
    assert not any(p.name.startswith(".") for p in path.iterdir())  # no temp files left


def test_weights_digest_covers_model_bytes_in_name_order(tmp_path, small_state) -> None:
    path = wl.save_checkpoint(tmp_path, 1, small_state)
    h = hashlib.sha256()
    for name in sorted(small_state["model"]):
        h.update(small_state["model"][name].contiguous().numpy().tobytes())
    assert wl.weights_sha256(path) == h.hexdigest()
    assert wl.describe(path)["weights_sha256"] == h.hexdigest()


def test_incomplete_and_corrupt_checkpoints_fall_back_to_the_previous_complete(
    tmp_path, small_state
) -> None:
    wl.save_checkpoint(tmp_path, 1, small_state)
    wl.save_checkpoint(tmp_path, 2, small_state)
    newest = wl.save_checkpoint(tmp_path, 3, small_state)
    assert wl.latest_complete(tmp_path) == newest
    _flip(newest / "optimizer.safetensors")  # at rest
    messages = []
    assert wl.latest_complete(tmp_path, log=messages.append).name == "step-000000002"
    assert "BLAKE3" in messages[0]
    with pytest.raises(CheckpointError, match="BLAKE3"):
        wl.load_checkpoint(newest)
    (tmp_path / "step-000000002" / "MANIFEST.json").unlink()  # incomplete
    assert wl.latest_complete(tmp_path).name == "step-000000001"


def test_prune_keeps_the_newest_complete_and_leaves_a_newer_partial(tmp_path, small_state) -> None:
    for step in (1, 2, 3, 4):
        wl.save_checkpoint(tmp_path, step, small_state)
    partial = tmp_path / ck.step_dir_name(5)
    partial.mkdir()
    removed = wl.prune(tmp_path, keep=2)
    assert sorted(p.name for p in removed) == ["step-000000001", "step-000000002"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step-000000003",
        "step-000000004",
        "step-000000005",
    ]
    with pytest.raises(ConfigError):
        wl.prune(tmp_path, keep=0)


def test_a_session_never_prunes_what_it_just_saved_for_a_newer_corrupt_one(tmp_path) -> None:
    # step 50 is corrupt: the session skips it, resumes from step 5 and saves step 10 and
    # 20; with keep=1 it must keep step 20 (not the corrupt 50) and leave 50 alone
    model = torch.nn.Linear(2, 2)
    wl.save_checkpoint(tmp_path, 5, {"model": model.state_dict()})
    wl.save_checkpoint(tmp_path, 50, {"model": model.state_dict()})
    _flip(tmp_path / ck.step_dir_name(50) / "model.safetensors")
    session = wl.TrainingSession(tmp_path, model=model, every_steps=10, keep=1,
                                 capture_rng=False, signals=())
    assert session.resume() == 5
    for step in range(6, 21):
        session.step_done(step)
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-000000020",
                                                               "step-000000050"]
    assert wl.latest_complete(tmp_path).name == "step-000000020"
    assert wl.prune(tmp_path, keep=1, upto_step=20) == []


def test_recover_restores_a_swapped_out_checkpoint(tmp_path, small_state) -> None:
    path = wl.save_checkpoint(tmp_path, 4, small_state)
    os.rename(path, tmp_path / ".old-step-000000004-123")
    (tmp_path / ".tmp-step-000000005-123").mkdir()
    ck.recover(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000000004"]
    assert wl.latest_complete(tmp_path) == path


def test_sampler_resumes_mid_epoch() -> None:
    a = wl.ResumableSampler(10, 3, seed=1)
    seen = [a.next_batch() for _ in range(5)]
    b = wl.ResumableSampler(10, 3, seed=1)
    b.next_batch()
    b.next_batch()
    c = wl.ResumableSampler(10, 3, seed=1)
    c.load_state_dict(json.loads(json.dumps(b.state_dict())))
    assert all(np.array_equal(x, c.next_batch()) for x in seen[2:])
    # other data settings: the user's mistake (exit 2), not a damaged checkpoint
    with pytest.raises(ck.IncompatibleCheckpoint, match="batch_size"):
        wl.ResumableSampler(10, 2, seed=1).load_state_dict(b.state_dict())


def _session_run(ckpt_dir, steps, *, stop_at=None, every=0, signal_at=None):
    """A tiny in-process loop; returns (exit code, final weights)."""
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sampler = wl.ResumableSampler(8, 2, seed=0)
    x = torch.arange(24, dtype=torch.float32).reshape(8, 3) / 10
    with wl.TrainingSession(
        ckpt_dir, model=model, optimizer=opt, loader=sampler, every_steps=every, log=lambda m: None
    ) as s:
        try:
            for step in range(s.resume(), steps):
                idx = torch.from_numpy(sampler.next_batch())
                noise = float(np.random.rand()) + random.random() + float(torch.rand(()))
                loss = (model(x[idx]) - noise).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                if stop_at == step + 1:
                    (ckpt_dir / wl.CONTROL_FILE).touch()
                if signal_at == step + 1:
                    os.kill(os.getpid(), signal.SIGUSR1)
                s.step_done(step + 1)
            s.finish(steps)
        except wl.MigrationExit as exc:
            return exc.code, model.weight.detach().clone()
    return 0, model.weight.detach().clone()


def test_session_control_file_and_signal_checkpoint_exit_and_resume_exactly(tmp_path) -> None:
    code, ref = _session_run(tmp_path / "ref", 12)
    assert code == wl.EXIT_FINISHED
    d = tmp_path / "job"
    d.mkdir()
    assert _session_run(d, 12, stop_at=4)[0] == wl.EXIT_MIGRATED
    assert not (d / wl.CONTROL_FILE).exists()
    assert wl.latest_complete(d).name == "step-000000004"
    assert _session_run(d, 12, signal_at=9, every=3)[0] == wl.EXIT_MIGRATED
    assert wl.latest_complete(d).name == "step-000000009"
    code, weights = _session_run(d, 12)
    assert code == wl.EXIT_FINISHED and torch.equal(weights, ref)
    last = wl.load_checkpoint(wl.latest_complete(d))
    assert last.step == 12 and last.finished
    assert _session_run(d, 12)[0] == wl.EXIT_FINISHED  # finished runs stay finished
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL


def test_large_components_are_sharded_and_read_back_whole(tmp_path, small_state) -> None:
    one = wl.save_checkpoint(tmp_path / "one", 1, small_state)
    many = wl.save_checkpoint(tmp_path / "many", 1, small_state, shard_bytes=64)
    names = {p.name for p in many.iterdir()}
    assert {"model.safetensors", "model.1.safetensors", "optimizer.2.safetensors"} <= names
    assert wl.weights_sha256(many) == wl.weights_sha256(one)
    loaded = wl.load_checkpoint(many).components
    for k, v in small_state["model"].items():
        assert torch.equal(loaded["model"][k], v)
    assert torch.equal(
        loaded["optimizer"]["state"][2]["exp_avg_sq"],
        small_state["optimizer"]["state"][2]["exp_avg_sq"],
    )


def _replace_with_matching_manifest(path, name, data: bytes) -> None:
    (path / name).write_bytes(data)
    manifest = json.loads((path / "MANIFEST.json").read_text())
    manifest["files"][name] = {
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    (path / "MANIFEST.json").write_text(json.dumps(manifest))


def test_resume_falls_back_past_corruption_but_refuses_unsafe_content(tmp_path) -> None:
    import pickle

    messages: list[str] = []
    model = torch.nn.Linear(2, 1)
    first = wl.TrainingSession(tmp_path, model=model, log=messages.append)
    first.save(1)
    newest = first.save(2)
    _flip(newest / "model.safetensors")  # at rest, manifest unchanged
    again = wl.TrainingSession(tmp_path, model=torch.nn.Linear(2, 1), log=messages.append)
    assert again.resume() == 1
    assert any("skipping step-000000002" in m and "BLAKE3" in m for m in messages)
    _replace_with_matching_manifest(newest, "model.safetensors", pickle.dumps([1], protocol=4))
    unsafe = wl.TrainingSession(tmp_path, model=torch.nn.Linear(2, 1), log=messages.append)
    with pytest.raises(CheckpointError, match="pickle payload"):
        unsafe.resume()


def test_large_files_load_bit_identical_through_direct_reads_and_corruption_is_caught(
    tmp_path,
) -> None:
    """Files of 4 MiB or more are read with O_DIRECT into an aligned buffer: an odd-sized
    shard (its last block partly past the end of the file) loads bit-identically, a flipped
    byte in that last block fails the BLAKE3, and a file system without O_DIRECT (or a
    small file) takes the plain path to the same bytes."""
    g = torch.Generator().manual_seed(5)
    state = {"model": {"big": torch.randn(1_300_001, generator=g),
                       "odd": torch.arange(7, dtype=torch.int8)}}
    path = wl.save_checkpoint(tmp_path, 3, state)
    shard = path / "model.safetensors"
    size = shard.stat().st_size
    assert size >= vr._DIRECT_MIN_BYTES and size % vr._DIRECT_ALIGN != 0
    # a VerifiedReader's hashing lane and its pool of reads in flight
    with ThreadPoolExecutor(1) as lane, ThreadPoolExecutor(vr._READ_DEPTH) as io:
        h = blake3.blake3()
        direct = vr._read_direct(shard, size, lane, io, h)
    if direct is None:
        pytest.skip("this file system refuses O_DIRECT; the plain path is tested elsewhere")
    buf, n = direct
    assert n == size and buf.ctypes.data % vr._DIRECT_ALIGN == 0
    assert bytes(buf) == shard.read_bytes()
    assert h.hexdigest() == wl.verify_checkpoint(path)["files"]["model.safetensors"]["blake3"]
    loaded = wl.load_checkpoint(path)
    assert torch.equal(loaded.components["model"]["big"], state["model"]["big"])
    assert torch.equal(loaded.components["model"]["odd"], state["model"]["odd"])
    _flip(shard, size - 3)
    with pytest.raises(ck.IncompleteCheckpoint, match="BLAKE3 mismatch"):
        wl.load_checkpoint(path)


def test_the_manifest_records_sha256_and_blake3_of_every_file(tmp_path) -> None:
    """Both digests of every file, as an independent hash of its bytes gives them: SHA-256
    for transfers, BLAKE3 for loads (a large shard included, hashed while written)."""
    g = torch.Generator().manual_seed(2)
    state = {"model": {"big": torch.randn(1_300_001, generator=g)}}
    path = wl.save_checkpoint(tmp_path, 4, state)
    files = json.loads((path / "MANIFEST.json").read_text())["files"]
    assert set(files) == {p.name for p in path.iterdir()} - {"MANIFEST.json"}
    for name, rec in files.items():
        data = (path / name).read_bytes()
        assert rec == {"size_bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest(),
                       "blake3": blake3.blake3(data).hexdigest()}


def test_a_manifest_without_blake3_loads_and_is_checked_by_sha256(tmp_path) -> None:
    """Checkpoints saved before BLAKE3 was recorded (SHA-256 only) load bit-identically,
    and a flipped byte in one of them fails its SHA-256 at load and in verify."""
    g = torch.Generator().manual_seed(3)
    state = {"model": {"big": torch.randn(1_300_001, generator=g),
                       "small": torch.arange(5, dtype=torch.int16)}}
    path = wl.save_checkpoint(tmp_path, 6, state)
    manifest = json.loads((path / "MANIFEST.json").read_text())
    for rec in manifest["files"].values():
        del rec["blake3"]
    (path / "MANIFEST.json").write_text(json.dumps(manifest))
    loaded = wl.load_checkpoint(path)
    assert torch.equal(loaded.components["model"]["big"], state["model"]["big"])
    assert torch.equal(loaded.components["model"]["small"], state["model"]["small"])
    _flip(path / "model.safetensors", 4096 + 17)
    with pytest.raises(ck.IncompleteCheckpoint, match="SHA-256 mismatch"):
        wl.load_checkpoint(path)
    with pytest.raises(CheckpointError, match="fails its SHA-256 check"):
        wl.verify_checkpoint(path)


def test_a_file_whose_blake3_disagrees_with_the_manifest_is_refused_though_its_sha256_agrees(
    tmp_path,
) -> None:
    """A load checks the BLAKE3 the manifest records, not only the SHA-256 a transfer
    checked: a manifest whose BLAKE3 of a file is wrong makes the load a loud failure."""
    path = wl.save_checkpoint(tmp_path, 7, {"model": {"w": torch.ones(3)}})
    manifest = json.loads((path / "MANIFEST.json").read_text())
    manifest["files"]["model.safetensors"]["blake3"] = "0" * 64
    (path / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(ck.IncompleteCheckpoint, match="BLAKE3 mismatch"):
        wl.load_checkpoint(path)
    with pytest.raises(CheckpointError, match="fails its BLAKE3 check"):
        wl.verify_checkpoint(path)
