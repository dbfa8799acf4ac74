"""The on-disk formats: our safetensors writer, the flattened JSON structure, unsafe input."""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import struct

import pytest
import torch
from safetensors.torch import load_file

from greenhop.core.errors import CheckpointError
from greenhop.workload import checkpoint as ck
from greenhop.workload import safeformat as sf
from greenhop.workload.atomic_files import FileRecord, write_atomic
from greenhop.workload.torch_tensors import safetensors_pieces, tensors_from_buffer
from greenhop.workload.verified_read import read_verified


def test_safetensors_writer_reads_back_with_the_official_library(tmp_path) -> None:
    tensors = {
        "w": torch.randn(3, 5),
        "b": torch.arange(7, dtype=torch.int64),
        "h": torch.randn(4).to(torch.bfloat16),
        "s": torch.tensor(2.5),
        "e": torch.empty(0, 3),
        "m": torch.tensor([True, False]),
    }
    write_atomic(tmp_path, "x.safetensors", safetensors_pieces(tensors))
    official = load_file(str(tmp_path / "x.safetensors"))
    assert set(official) == set(tensors)
    for k, v in tensors.items():
        assert official[k].dtype == v.dtype and torch.equal(official[k], v)
    buf = read_verified(tmp_path / "x.safetensors", None, "x")
    ours = tensors_from_buffer(buf, sf.read_header(tmp_path / "x.safetensors"), "x")
    for k, v in tensors.items():
        assert torch.equal(ours[k], v)


def test_flatten_round_trips_optimizer_like_structures() -> None:
    t = torch.ones(2)
    state = {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": t}, 1: {}},
        "param_groups": [
            {
                "betas": (0.9, 0.999),
                "params": [0, 1],
                "lr": 1e-3,
                "foreach": None,
                "eps": float("inf"),
            }
        ],
        "__tensor__": "not a marker",
        "nested": [(1, "a"), {"k": -math.inf}],
    }
    structure, tensors = sf.flatten(state, "t", lambda x: isinstance(x, torch.Tensor), "test")
    text = json.dumps(structure, allow_nan=False)
    back = sf.unflatten(json.loads(text), tensors, "test")
    assert back["param_groups"][0]["betas"] == (0.9, 0.999)
    assert set(back["state"]) == {0, 1} and back["state"][0]["exp_avg"] is t
    assert back["param_groups"][0]["eps"] == math.inf
    assert back["__tensor__"] == "not a marker"
    assert back["nested"] == [(1, "a"), {"k": -math.inf}]


def test_flatten_refuses_objects_that_would_need_pickle() -> None:
    with pytest.raises(CheckpointError, match="without pickle"):
        sf.flatten({"f": lambda: 0}, "t", lambda x: False, "component 'x'")


def _st(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x00" * 4, "too short"),
        (struct.pack("<Q", 10**12) + b"{}", "does not fit"),
        (_st(b"[]"), "JSON object"),
        (_st(b"{x}"), "not valid JSON"),
        (_st(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', b"\0" * 4), "needs 8 B"),
        (
            _st(b'{"a":{"dtype":"Q99","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4),
            "unknown dtype",
        ),
        (_st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 2), "truncated"),
        (_st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 8), "gap"),
    ],
)
def test_malformed_safetensors_headers_are_rejected(raw, message) -> None:
    with pytest.raises(CheckpointError, match=message):
        sf.parse_header(raw, len(raw), "f.safetensors")


class _Boom:
    """Unpickling this would create a marker file: it must never happen."""

    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _pickle_payload(marker) -> bytes:
    _Boom.marker = marker
    return pickle.dumps(_Boom(), protocol=4)


def test_pickle_payload_in_place_of_safetensors_is_rejected_without_running_it(
    tmp_path, small_state
) -> None:
    path = ck.save_checkpoint(tmp_path, 5, small_state)
    marker = tmp_path / "pwned"
    payload = _pickle_payload(marker)
    target = path / "model.safetensors"
    target.write_bytes(payload)
    # an attacker also fixes up the manifest so the hashes match
    manifest = json.loads((path / "MANIFEST.json").read_text())
    manifest["files"]["model.safetensors"] = FileRecord(
        "model.safetensors",
        len(payload),
        hashlib.sha256(payload).hexdigest(),
    ).to_json()
    (path / "MANIFEST.json").write_text(json.dumps(manifest))
    for action in (ck.verify_checkpoint, ck.load_checkpoint):
        with pytest.raises(CheckpointError, match="pickle payload; greenhop never unpickles"):
            action(path)
    assert not marker.exists()


def test_torch_save_file_listed_in_manifest_is_rejected(tmp_path, small_state) -> None:
    path = ck.save_checkpoint(tmp_path, 5, small_state)
    marker = tmp_path / "pwned"
    _Boom.marker = marker
    torch.save({"x": _Boom()}, path / "model.pt")
    manifest = json.loads((path / "MANIFEST.json").read_text())
    data = (path / "model.pt").read_bytes()
    manifest["files"]["model.pt"] = {
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    (path / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"model\.pt.*pickle-based format"):
        ck.load_checkpoint(path)
    assert not marker.exists()


def test_zip_archive_is_named_as_a_torch_save_file(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="zip archive"):
        sf.load_json_bytes(b"PK\x03\x04rest", "x.json")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m.update(format="other"),
        lambda m: m.update(version=99),
        lambda m: m.update(step=-1),
        lambda m: m["files"].update({"../escape.json": m["files"]["meta.json"]}),
        lambda m: m["files"]["meta.json"].update(sha256="zz"),
        lambda m: m["files"]["meta.json"].update(blake3="ZZ" * 32),
        lambda m: m["files"]["meta.json"].update(blake3=None),
        lambda m: m["files"].pop("meta.json"),
    ],
)
def test_malformed_manifests_are_rejected(tmp_path, small_state, mutate) -> None:
    path = ck.save_checkpoint(tmp_path, 5, small_state)
    manifest = json.loads((path / "MANIFEST.json").read_text())
    mutate(manifest)
    (path / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError):
        ck.load_checkpoint(path)
    assert ck.latest_complete(tmp_path) is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("size_bytes", -4, "size_bytes must be a non-negative integer, got -4"),
        ("size_bytes", True, "size_bytes must be a non-negative integer, got True"),
        ("sha256", "ab" * 40, "sha256 must be 64 lowercase hex digits, got 'abab"),
        ("blake3", 7, "blake3 must be 64 lowercase hex digits, got 7"),
    ],
)
def test_a_malformed_manifest_entry_names_the_file_and_the_field(tmp_path, small_state, field,
                                                                 value, message) -> None:
    path = ck.save_checkpoint(tmp_path, 5, small_state)
    manifest = json.loads((path / "MANIFEST.json").read_text())
    manifest["files"]["meta.json"][field] = value
    (path / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError) as err:
        ck.load_checkpoint(path)
    text = str(err.value)
    assert "malformed entry for 'meta.json'" in text and message in text
    assert len(text) < 300  # a long bad value is cut, not echoed whole


def test_malformed_json_component_is_rejected(tmp_path, small_state) -> None:
    path = ck.save_checkpoint(tmp_path, 5, small_state)
    bad = b'{"__tree__": {"__tensor__": "missing"}, "__shards__": ["scheduler.safetensors"]}'
    (path / "scheduler.json").write_bytes(bad)
    manifest = json.loads((path / "MANIFEST.json").read_text())
    digest = hashlib.sha256(bad).hexdigest()
    manifest["files"]["scheduler.json"] = {"size_bytes": len(bad), "sha256": digest}
    (path / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="missing tensor"):
        ck.load_checkpoint(path)
