"""The two on-disk formats of a greenhop checkpoint, read and written without pickle.

* **safetensors** for tensors: an 8-byte little-endian header length, a JSON
  header (``{name: {"dtype", "shape", "data_offsets"}}``) padded with spaces to
  a multiple of 8 bytes, then the raw little-endian tensor bytes. This module
  parses and validates the header itself (no torch needed), and writes files
  straight from the tensors' memory, hashing while it writes. The files are
  read back by the official ``safetensors`` library.
* **JSON** for everything else. A nested state (an optimizer's ``state_dict``)
  is *flattened*: every tensor is replaced by a reference ``{"__tensor__": key}``
  and stored in the safetensors file under ``key``; tuples and dicts with
  non-string keys are encoded explicitly so the structure round-trips exactly.

Nothing here ever calls :mod:`pickle` or ``torch.load``. A file that looks like
a pickle or a ``torch.save`` archive is rejected by its magic bytes.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenhop.core.errors import CheckpointError

MAX_HEADER_BYTES = 100_000_000
"""Largest safetensors header accepted [B] (the reference implementation's limit)."""

DTYPE_SIZES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
"""Bytes per element of every safetensors dtype this module accepts."""

_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
_ZIP_MAGIC = b"PK\x03\x04"

_TENSOR = "__tensor__"
_TUPLE = "__tuple__"
_DICT = "__dict__"
_FLOAT = "__float__"
_MARKERS = {_TENSOR, _TUPLE, _DICT, _FLOAT}


class UnsafeCheckpoint(CheckpointError):
    """A checkpoint file is a pickle or a ``torch.save`` archive: not damage but a format
    greenhop never loads, so a resume stops on it rather than skipping it."""


def sniff_unsafe(head: bytes, where: str) -> None:
    """Raise :class:`UnsafeCheckpoint` if ``head`` (a file's first bytes) is a pickle or zip.

    ``torch.save`` writes a zip archive holding a pickle; ``pickle.dump`` writes
    the protocol byte ``0x80`` first. greenhop never loads either.
    """
    if head.startswith(_PICKLE_MAGIC):
        raise UnsafeCheckpoint(
            f"{where} is a pickle payload; greenhop never unpickles checkpoints because "
            "unpickling can run arbitrary code. Re-save it with greenhop.workload "
            "(safetensors + JSON)"
        )
    if head.startswith(_ZIP_MAGIC):
        raise UnsafeCheckpoint(
            f"{where} is a zip archive (a torch.save file holding a pickle); greenhop never "
            "loads pickled data. Re-save it with greenhop.workload (safetensors + JSON)"
        )


# --------------------------------------------------------------------------------------------
# safetensors header


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a safetensors file: name, dtype, shape and byte range in the data part."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class SafetensorsHeader:
    """A validated safetensors header: entries sorted by ``begin``, where the data starts."""

    entries: tuple[TensorEntry, ...]
    metadata: dict[str, str]
    data_start: int
    data_bytes: int


class _DuplicateKey(ValueError):
    """A JSON object of a safetensors header names one key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(repr(k))
        out[k] = v
    return out


def _count(x: Any) -> bool:
    """Whether ``x`` is a non-negative JSON integer (``true`` is a Python int, not one)."""
    return type(x) is int and x >= 0


def parse_header(raw: bytes, file_size_bytes: int, where: str) -> SafetensorsHeader:
    """Validate a safetensors file from its first bytes ``raw`` and its total size [B].

    ``raw`` must hold at least the 8-byte length and the header itself. Checks
    the length, the JSON, every dtype and shape, and that the data ranges tile
    the data part exactly (no gap, no overlap, nothing outside the file).
    """
    sniff_unsafe(raw[:4], where)
    if len(raw) < 8 or file_size_bytes < 8:
        raise CheckpointError(
            f"{where} is too short to be a safetensors file ({file_size_bytes} B)"
        )
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER_BYTES or 8 + n > file_size_bytes:
        raise CheckpointError(
            f"{where} is not a valid safetensors file: header length {n} B does not fit "
            f"the file size {file_size_bytes} B"
        )
    if len(raw) < 8 + n:
        raise CheckpointError(f"{where}: header truncated ({len(raw) - 8} of {n} B read)")
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf-8"), object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:  # json.loads would keep the last one silently
        raise CheckpointError(f"{where}: safetensors header names {exc} twice") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{where}: safetensors header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{where}: safetensors header must be a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise CheckpointError(f"{where}: safetensors __metadata__ must map strings to strings")
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(f"{where}: tensor {name!r} has a malformed header entry {info!r}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPE_SIZES:
            raise CheckpointError(f"{where}: tensor {name!r} has unknown dtype {dtype!r}")
        if not (isinstance(shape, list) and all(_count(d) for d in shape)):
            raise CheckpointError(f"{where}: tensor {name!r} has an invalid shape {shape!r}")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(_count(o) for o in offsets)
            and offsets[0] <= offsets[1]
        ):
            raise CheckpointError(f"{where}: tensor {name!r} has invalid data_offsets {offsets!r}")
        if offsets[1] - offsets[0] != math.prod(shape) * DTYPE_SIZES[dtype]:
            raise CheckpointError(
                f"{where}: tensor {name!r} spans {offsets[1] - offsets[0]} B but its shape "
                f"{shape} of {dtype} needs {math.prod(shape) * DTYPE_SIZES[dtype]} B"
            )
        entries.append(TensorEntry(name, dtype, tuple(shape), offsets[0], offsets[1]))
    entries.sort(key=lambda e: (e.begin, e.end))
    cursor = 0
    for e in entries:
        if e.begin != cursor:
            raise CheckpointError(f"{where}: tensor data overlaps or leaves a gap at {e.name!r}")
        cursor = e.end
    data_start = 8 + n
    if data_start + cursor != file_size_bytes:
        raise CheckpointError(
            f"{where}: tensor data ends at {data_start + cursor} B but the file has "
            f"{file_size_bytes} B (truncated or padded)"
        )
    return SafetensorsHeader(tuple(entries), dict(metadata), data_start, cursor)


def read_header(path: Path) -> SafetensorsHeader:
    """Read and validate the header of the safetensors file at ``path``."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        sniff_unsafe(head, str(path))
        if len(head) == 8:
            (n,) = struct.unpack("<Q", head)
            if n <= MAX_HEADER_BYTES and 8 + n <= size:
                head += fh.read(n)
    return parse_header(head, size, str(path))


def encode_header(
    entries: Iterable[tuple[str, str, tuple[int, ...], int]], metadata: dict[str, str] | None = None
) -> bytes:
    """Header bytes (length + JSON + padding) for ``(name, dtype, shape, nbytes)`` in file order."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, dtype, shape, nbytes in entries:
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


# --------------------------------------------------------------------------------------------
# JSON structure with tensor references


def flatten(state: Any, prefix: str, is_tensor, where: str) -> tuple[Any, dict[str, Any]]:
    """Split ``state`` into a JSON-able structure and a ``{key: tensor}`` dict.

    Tensors (``is_tensor(x)`` true) become ``{"__tensor__": key}`` with keys
    ``prefix`` + a running index, counted in a canonical order (string-keyed dicts in
    sorted key order, as the JSON lists them; lists, tuples and other dicts in their own
    order), so equal states give equal bytes whatever order their dicts were filled in;
    tuples, non-finite floats and dicts whose keys are not all strings are encoded so
    :func:`unflatten` rebuilds them exactly.
    Anything else that JSON cannot hold raises :class:`CheckpointError`.
    """
    tensors: dict[str, Any] = {}

    def enc(x: Any, path: str) -> Any:
        if is_tensor(x):
            key = f"{prefix}{len(tensors)}"
            tensors[key] = x
            return {_TENSOR: key}
        if x is None or isinstance(x, bool | int | str):
            return x
        if isinstance(x, float):
            return x if math.isfinite(x) else {_FLOAT: repr(x)}
        if isinstance(x, tuple):
            return {_TUPLE: [enc(v, f"{path}[{i}]") for i, v in enumerate(x)]}
        if isinstance(x, list):
            return [enc(v, f"{path}[{i}]") for i, v in enumerate(x)]
        if isinstance(x, dict):
            if all(isinstance(k, str) for k in x) and not (set(x) & _MARKERS):
                # sorted: the JSON lists these keys sorted anyway, so their order never
                # survives a round trip; numbering the tensors in that order too makes the
                # bytes canonical (an optimizer's state comes back from load_state_dict with
                # its keys in another order, and a resumed run must write identical files)
                return {k: enc(x[k], f"{path}.{k}") for k in sorted(x)}
            pairs = []
            for k, v in x.items():
                if not isinstance(k, str | int | bool | float | type(None) | tuple):
                    raise CheckpointError(
                        f"{where}: cannot store dict key {k!r} of type {type(k).__name__} at "
                        f"{path}; use str, int, float, bool, None or tuple keys"
                    )
                pairs.append([enc(k, path), enc(v, f"{path}[{k!r}]")])
            return {_DICT: pairs}
        if hasattr(x, "item") and hasattr(x, "dtype") and getattr(x, "shape", None) == ():
            return enc(x.item(), path)  # numpy scalar
        raise CheckpointError(
            f"{where}: cannot store a value of type {type(x).__name__} at {path or '<root>'} "
            "without pickle; keep checkpoint state to tensors, numbers, strings, lists and dicts"
        )

    return enc(state, ""), tensors


def unflatten(structure: Any, tensors: dict[str, Any], where: str) -> Any:
    """Inverse of :func:`flatten`: rebuild the state, resolving tensor references."""

    def dec(x: Any) -> Any:
        if isinstance(x, list):
            return [dec(v) for v in x]
        if isinstance(x, dict):
            if len(x) == 1 and next(iter(x)) in _MARKERS:
                ((tag, value),) = x.items()
                if tag == _TENSOR:
                    if not isinstance(value, str) or value not in tensors:
                        raise CheckpointError(f"{where}: reference to a missing tensor {value!r}")
                    return tensors[value]
                if tag == _TUPLE and isinstance(value, list):
                    return tuple(dec(v) for v in value)
                if tag == _FLOAT and value in ("inf", "-inf", "nan"):
                    return float(value)
                if (
                    tag == _DICT
                    and isinstance(value, list)
                    and all(isinstance(p, list) and len(p) == 2 for p in value)
                ):
                    out = {}
                    for k, v in value:
                        key = dec(k)
                        if isinstance(key, list | dict):
                            raise CheckpointError(f"{where}: unhashable dict key {k!r}")
                        out[key] = dec(v)
                    return out
                raise CheckpointError(f"{where}: malformed {tag} entry {value!r}")
            return {k: dec(v) for k, v in x.items()}
        if x is None or isinstance(x, bool | int | float | str):
            return x
        raise CheckpointError(f"{where}: unexpected JSON value {x!r}")

    return dec(structure)


def load_json_bytes(data: bytes, where: str,
                    not_json: type[CheckpointError] = CheckpointError) -> Any:
    """Parse JSON bytes, refusing pickles (:class:`UnsafeCheckpoint`) and anything that is
    not UTF-8 JSON (``not_json``)."""
    sniff_unsafe(data[:4], where)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise not_json(
            f"{where} is not valid JSON ({exc}); the checkpoint is malformed"
        ) from None


def dump_json_bytes(obj: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, newline-terminated)."""
    return (json.dumps(obj, sort_keys=True, indent=1, allow_nan=False) + "\n").encode("utf-8")


def hash_file(path: Path, h, block_bytes: int = 1 << 22) -> str:
    """Hex digest of the file at ``path`` fed to the fresh hash object ``h`` (hashlib's
    interface: ``update``, ``hexdigest``), read in ``block_bytes`` blocks."""
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(block_bytes)
        view = memoryview(buf)
        while True:
            n = fh.readinto(view)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()
