"""Checkpoints a read-only probe found resumed or accepted when they should not be: a
safetensors header that lies about a dtype (sizes made consistent, the manifest
recomputed), names a tensor twice or gives a shape as JSON ``true``; and a save that
hits a write error."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys

import blake3
import pytest

torch = pytest.importorskip("torch")

import greenhop.workload as wl  # noqa: E402
from greenhop.core.errors import CheckpointError, ConfigError  # noqa: E402
from greenhop.workload import checkpoint as ck  # noqa: E402
from greenhop.workload import safeformat as sf  # noqa: E402


def _rewrite_header(path, file: str, edit) -> None:
    """Rewrite the JSON header of ``path/file`` as ``edit(header) -> text``, then its
    manifest record, so that only the header is wrong."""
    f = path / file
    raw = f.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    text = edit(json.loads(raw[8:8 + n])).encode()
    text += b" " * (-len(text) % 8)
    out = struct.pack("<Q", len(text)) + text + raw[8 + n:]
    f.write_bytes(out)
    manifest = json.loads((path / wl.MANIFEST).read_text())
    manifest["files"][file] = {"size_bytes": len(out),
                               "sha256": hashlib.sha256(out).hexdigest(),
                               "blake3": blake3.blake3(out).hexdigest()}
    (path / wl.MANIFEST).write_text(json.dumps(manifest))


def _as_i32(header: dict) -> str:
    for k, v in header.items():
        if k != "__metadata__" and v["dtype"] == "F32":
            v["dtype"] = "I32"
    return json.dumps(header)


def _trained(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    return wl.TrainingSession(tmp_path, model=model, optimizer=opt).save(5)


@pytest.mark.parametrize("file", ["model.safetensors", "optimizer.safetensors"])
def test_a_tensor_recorded_as_another_dtype_is_refused_on_resume(tmp_path, file) -> None:
    path = _trained(tmp_path)
    _rewrite_header(path, file, _as_i32)
    wl.verify_checkpoint(path)  # the manifest agrees: only the dtype lies
    model = torch.nn.Linear(4, 3)
    kept = model.weight.detach().clone()
    session = wl.TrainingSession(tmp_path, model=model,
                                 optimizer=torch.optim.Adam(model.parameters(), lr=1e-2))
    with pytest.raises(ck.IncompatibleCheckpoint, match=r"torch\.int32, not") as err:
        session.resume()
    assert isinstance(err.value, ConfigError) and "\n" not in str(err.value)
    assert torch.equal(model.weight, kept)  # nothing was loaded into it
    assert path.is_dir()  # left as it is


def _first(header: dict) -> str:
    return min((k for k in header if k != "__metadata__"),
               key=lambda k: header[k]["data_offsets"][0])


def _duplicate(header: dict) -> str:
    k = _first(header)
    other = {**header[k], "dtype": "I32"}
    return json.dumps(header)[:-1] + "," + json.dumps({k: other})[1:]


def _bool_dim(header: dict) -> str:
    header[_first(header)]["shape"].append(True)
    return json.dumps(header)


def _bool_offset(header: dict) -> str:
    e = header[_first(header)]
    if e["data_offsets"][0] != 0:
        pytest.skip("first tensor does not start at 0")
    e["data_offsets"][0] = False
    return json.dumps(header)


@pytest.mark.parametrize("lie,words", [(_duplicate, "twice"), (_bool_dim, "invalid shape"),
                                       (_bool_offset, "invalid data_offsets")])
def test_a_duplicate_name_or_a_boolean_number_in_the_header_is_refused(tmp_path, lie,
                                                                        words) -> None:
    path = wl.TrainingSession(tmp_path, model=torch.nn.Linear(4, 3)).save(2)
    _rewrite_header(path, "model.safetensors", lie)
    with pytest.raises(CheckpointError, match=words):
        sf.read_header(path / "model.safetensors")
    with pytest.raises(CheckpointError, match=words):
        wl.load_checkpoint(path)


def _reference(ckpt, steps: int, limit: str = "unlimited"):
    return subprocess.run(
        ["bash", "-c", f'ulimit -f {limit}; exec "$0" -m greenhop.workload.reference mlp '
         f'"$1" {steps} --every 2', sys.executable, str(ckpt)],
        capture_output=True, text=True, timeout=120)


def test_a_write_error_while_the_reference_trainer_saves_is_one_line(tmp_path) -> None:
    """``ulimit -f 30`` (EFBIG) on the next checkpoint's write: exit 1, one line naming
    the file and the error, no ``.tmp-step-*`` left, the older checkpoint kept."""
    ckpt = tmp_path / "mlp"
    assert _reference(ckpt, 2).returncode == 0
    proc = _reference(ckpt, 4, "30")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    (err,) = [line for line in proc.stderr.splitlines() if not line.startswith("greenhop: ")]
    assert err.startswith("error: cannot write checkpoint ") and ".safetensors" in err, err
    assert "File too large (EFBIG)" in err, err
    assert sorted(p.name for p in ckpt.iterdir() if not p.name.startswith(".greenhop")) == [
        "step-000000002"]
    wl.verify_checkpoint(ckpt / "step-000000002")
