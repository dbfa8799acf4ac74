"""Checkpoints on disk: atomic writes, the manifest, verification, loading, retention.

Layout of one checkpoint (``<ckpt_dir>/step-000000120/``)::

    model.safetensors   model.json        # weights + structure
    optimizer.safetensors optimizer.json  # flattened state_dict
    ...one pair per component (scheduler, loader, rng, ...)
    meta.json                             # step, finished, components, created time
    MANIFEST.json                         # written last: size, SHA-256 and chunk SHA-256s

A checkpoint is built in a staging directory ``.tmp-step-...``: every file is
written to a temporary name, fsynced, renamed into place, and the directory
fsynced; ``MANIFEST.json`` comes last; then the staging directory is renamed
to ``step-NNNNNNNNN`` and the parent fsynced. A checkpoint is
*complete* when its manifest exists and every listed file has the listed size
and SHA-256; anything else is ignored on resume.

torch is imported lazily (extra ``torch``); listing and verifying need only
the standard library.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenhop.core.errors import CheckpointError, ConfigError, require
from greenhop.workload import safeformat as sf

FORMAT = "greenhop-checkpoint"
VERSION = 1
MANIFEST = "MANIFEST.json"
META = "meta.json"
DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024
"""Chunk size of the per-chunk SHA-256 list in the manifest [B] (the transfer unit)."""

_BLOCK_BYTES = 8 * 1024 * 1024
_STEP_DIR = re.compile(r"^step-(\d{9})$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.(json|safetensors)$")
_COMPONENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


def step_dir_name(step: int) -> str:
    """Directory name of the checkpoint taken after ``step`` steps."""
    return f"step-{int(step):09d}"


def parse_step_dir(name: str) -> int | None:
    """The step of a checkpoint directory name, or None if it is not one."""
    m = _STEP_DIR.match(name)
    return int(m.group(1)) if m else None


def check_file_name(name: str, where: str) -> None:
    """Reject names a checkpoint may not list: paths, hidden files, other extensions."""
    if not isinstance(name, str) or not _FILE_NAME.match(name) or name == MANIFEST:
        hint = ""
        if isinstance(name, str) and name.endswith(
            (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")
        ):
            hint = " (a pickle-based format; greenhop never unpickles)"
        raise CheckpointError(
            f"{where} lists a file {name!r}{hint}; a greenhop checkpoint holds only plain "
            "*.json and *.safetensors files in its own directory"
        )


def fsync_dir(path: Path) -> None:
    """fsync a directory so renames and new entries in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# hashing while writing


@dataclass
class FileRecord:
    """What the manifest says about one file: size [B], SHA-256, chunk SHA-256s."""

    name: str
    size_bytes: int
    sha256: str
    chunks_sha256: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "chunks_sha256": self.chunks_sha256,
        }


class StreamHasher:
    """SHA-256 of a whole stream plus one SHA-256 per ``chunk_bytes`` chunk.

    :meth:`update` hands the buffer to two background threads (whole-file and
    per-chunk digests run in parallel with the caller's write; hashlib releases
    the GIL on large buffers). The buffer must stay unchanged until :meth:`finish`.
    """

    def __init__(self, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        if chunk_bytes <= 0:
            raise ConfigError(f"chunk size must be positive; got {chunk_bytes} B")
        self.chunk_bytes = chunk_bytes
        self._file = hashlib.sha256()
        self._chunk = hashlib.sha256()
        self._chunk_fill = 0
        self.chunks: list[str] = []
        self.size_bytes = 0
        self._pool_file = ThreadPoolExecutor(1)
        self._pool_chunk = ThreadPoolExecutor(1)
        self._pending: list = []

    def _chunks(self, view: memoryview) -> None:
        pos = 0
        while pos < len(view):
            take = min(self.chunk_bytes - self._chunk_fill, len(view) - pos)
            self._chunk.update(view[pos : pos + take])
            self._chunk_fill += take
            pos += take
            if self._chunk_fill == self.chunk_bytes:
                self.chunks.append(self._chunk.hexdigest())
                self._chunk = hashlib.sha256()
                self._chunk_fill = 0

    def update(self, data) -> None:
        view = memoryview(data).cast("B")
        self.size_bytes += len(view)
        self._pending.append(self._pool_file.submit(self._file.update, view))
        self._pending.append(self._pool_chunk.submit(self._chunks, view))
        if len(self._pending) > 64:
            for f in self._pending[:-16]:
                f.result()
            self._pending = self._pending[-16:]

    def finish(self) -> tuple[str, list[str]]:
        """Wait for the hashes; return (file SHA-256, chunk SHA-256s)."""
        for f in self._pending:
            f.result()
        self._pool_file.shutdown()
        self._pool_chunk.shutdown()
        if self._chunk_fill or not self.chunks:
            self.chunks.append(self._chunk.hexdigest())
            self._chunk_fill = 0
        return self._file.hexdigest(), self.chunks


def write_atomic(
    directory: Path,
    name: str,
    pieces,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    *,
    sync_dir: bool = True,
) -> FileRecord:
    """Write ``pieces`` (bytes-like buffers, in order) to ``directory/name`` atomically.

    Temp file ``.name.tmp``, hash while writing, fsync, rename, fsync the
    directory. Returns the :class:`FileRecord` for the manifest.
    """
    tmp = directory / f".{name}.tmp"
    hasher = StreamHasher(chunk_bytes)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for piece in pieces:
            view = memoryview(piece).cast("B")
            for start in range(0, len(view), _BLOCK_BYTES):
                block = view[start : start + _BLOCK_BYTES]
                hasher.update(block)
                written = 0
                while written < len(block):
                    written += os.write(fd, block[written:])
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        hasher.finish()
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    digest, chunks = hasher.finish()
    os.replace(tmp, directory / name)
    if sync_dir:
        fsync_dir(directory)
    return FileRecord(name, hasher.size_bytes, digest, chunks)


# --------------------------------------------------------------------------------------------
# torch <-> safetensors


_TORCH_DTYPES = {
    "bool": "BOOL",
    "uint8": "U8",
    "int8": "I8",
    "int16": "I16",
    "uint16": "U16",
    "float16": "F16",
    "bfloat16": "BF16",
    "int32": "I32",
    "uint32": "U32",
    "float32": "F32",
    "int64": "I64",
    "uint64": "U64",
    "float64": "F64",
    "float8_e5m2": "F8_E5M2",
    "float8_e4m3fn": "F8_E4M3",
}


def _torch():
    return require("torch", "torch")


def _is_tensor(x: Any) -> bool:
    torch = _torch()
    return isinstance(x, torch.Tensor)


def _st_dtype(t) -> str:
    name = str(t.dtype).removeprefix("torch.")
    if name not in _TORCH_DTYPES:
        raise CheckpointError(f"tensor dtype {t.dtype} cannot be stored in safetensors")
    return _TORCH_DTYPES[name]


def _tensor_bytes(t) -> memoryview:
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    flat = t.contiguous().reshape(-1)
    if flat.numel() == 0:
        return memoryview(b"")
    return memoryview(flat.view(_torch().uint8).numpy()).cast("B")


def safetensors_pieces(tensors: dict[str, Any]) -> list:
    """Header + tensor buffers of a safetensors file holding ``tensors``, names in sorted order.

    Sorted by name: the data part of a model file is then the model's bytes in
    canonical order (what ``weights_sha256`` hashes).
    """
    names = sorted(tensors)
    bufs = [_tensor_bytes(tensors[n]) for n in names]
    header = sf.encode_header(
        (n, _st_dtype(tensors[n]), tuple(tensors[n].shape), len(b))
        for n, b in zip(names, bufs, strict=True)
    )
    return [header, *bufs]


def tensors_from_buffer(buf: bytearray, header: sf.SafetensorsHeader, where: str) -> dict[str, Any]:
    """Tensors backed by ``buf`` (the whole file's bytes), checked against ``header``."""
    torch = _torch()
    rev = {v: k for k, v in _TORCH_DTYPES.items()}
    out = {}
    for e in header.entries:
        dtype = getattr(torch, rev[e.dtype], None)
        if dtype is None:
            raise CheckpointError(f"{where}: dtype {e.dtype} is not supported by this torch")
        n = e.end - e.begin
        start = header.data_start + e.begin
        if n == 0:
            out[e.name] = torch.empty(e.shape, dtype=dtype)
            continue
        if start % sf.DTYPE_SIZES[e.dtype]:  # unaligned: copy
            raw = torch.frombuffer(bytearray(buf[start : start + n]), dtype=torch.uint8)
        else:
            raw = torch.frombuffer(buf, dtype=torch.uint8, count=n, offset=start)
        out[e.name] = raw.view(dtype).reshape(e.shape)
    return out


def read_verified(path: Path, record: dict[str, Any] | None, where: str) -> bytearray:
    """Read a whole file, hashing while reading; compare with the manifest ``record``."""
    size = path.stat().st_size
    if record is not None and size != record["size_bytes"]:
        raise CheckpointError(
            f"{where}: size {size} B differs from the manifest's {record['size_bytes']} B"
        )
    buf = bytearray(size)
    view = memoryview(buf)
    h = hashlib.sha256()
    pool = ThreadPoolExecutor(1)
    pending = None
    with open(path, "rb", buffering=0) as fh:
        pos = 0
        while pos < size:
            n = fh.readinto(view[pos : pos + _BLOCK_BYTES])
            if not n:
                break
            if pending is not None:
                pending.result()
            pending = pool.submit(h.update, view[pos : pos + n])
            pos += n
    if pending is not None:
        pending.result()
    pool.shutdown()
    if pos != size:
        raise CheckpointError(f"{where}: file shrank while reading ({pos} of {size} B)")
    if record is not None and h.hexdigest() != record["sha256"]:
        raise CheckpointError(
            f"{where}: SHA-256 mismatch (corrupt at rest); the checkpoint is not loaded"
        )
    view.release()
    return buf


# --------------------------------------------------------------------------------------------
# saving


def save_checkpoint(
    ckpt_dir: str | Path,
    step: int,
    components: dict[str, Any],
    *,
    finished: bool = False,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    extra_meta: dict[str, Any] | None = None,
) -> Path:
    """Write a complete checkpoint of ``components`` (name -> state) after ``step`` steps.

    Each state is a nested structure of tensors, numbers, strings, lists and
    dicts (a ``state_dict``). A flat ``{name: tensor}`` dict keeps its tensor
    names in the safetensors file. Returns the checkpoint directory.
    """
    root = Path(ckpt_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / step_dir_name(step)
    path = root / f".tmp-{final.name}-{os.getpid()}"
    if path.exists():
        shutil.rmtree(path)
    path.mkdir()
    records: list[FileRecord] = []
    for name, state in components.items():
        if not _COMPONENT.match(name):
            raise ConfigError(f"component name {name!r} must be letters, digits, _ or -")
        where = f"component {name!r}"
        if (
            isinstance(state, dict)
            and state
            and all(isinstance(k, str) for k in state)
            and all(_is_tensor(v) for v in state.values())
        ):
            tensors = dict(state)
            structure = {"__flat__": sorted(state)}
        else:
            structure, tensors = sf.flatten(state, "t", _is_tensor, where)
            structure = {"__tree__": structure}
        records.append(
            write_atomic(
                path,
                f"{name}.safetensors",
                safetensors_pieces(tensors),
                chunk_bytes,
                sync_dir=False,
            )
        )
        records.append(
            write_atomic(
                path, f"{name}.json", [sf.dump_json_bytes(structure)], chunk_bytes, sync_dir=False
            )
        )
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "finished": bool(finished),
        "components": list(components),
        "created_unix_s": time.time(),
        **(extra_meta or {}),
    }
    records.append(
        write_atomic(path, META, [sf.dump_json_bytes(meta)], chunk_bytes, sync_dir=False)
    )
    fsync_dir(path)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "finished": bool(finished),
        "chunk_size_bytes": chunk_bytes,
        "files": {r.name: r.to_json() for r in records},
    }
    write_atomic(path, MANIFEST, [sf.dump_json_bytes(manifest)], chunk_bytes)
    old = None
    if final.exists():  # re-saving the same step (e.g. to mark it finished): swap
        old = root / f".old-{final.name}-{os.getpid()}"
        os.rename(final, old)
    os.rename(path, final)
    fsync_dir(root)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def recover(ckpt_dir: str | Path) -> None:
    """Tidy ``ckpt_dir`` after a crash: drop staging dirs, put back a swapped-out checkpoint.

    Call it only when no other process writes to ``ckpt_dir``.
    """
    root = Path(ckpt_dir)
    if not root.is_dir():
        return
    for p in root.iterdir():
        if p.name.startswith(".tmp-step-"):
            shutil.rmtree(p, ignore_errors=True)
        elif p.name.startswith(".old-step-"):
            final = root / p.name[len(".old-") :].rsplit("-", 1)[0]
            if final.exists():
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.rename(p, final)
    fsync_dir(root)


# --------------------------------------------------------------------------------------------
# reading, verifying


def read_manifest(path: Path) -> dict[str, Any]:
    """Parse and validate ``path/MANIFEST.json``; raise :class:`CheckpointError` if malformed."""
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise CheckpointError(f"{path} has no {MANIFEST}: the checkpoint is incomplete")
    return parse_manifest(mpath.read_bytes(), str(mpath))


def parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    """Parse and validate manifest bytes (from disk or the network)."""
    m = sf.load_json_bytes(data, where)
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise CheckpointError(f"{where} is not a greenhop checkpoint manifest (format {FORMAT!r})")
    if m.get("version") != VERSION:
        raise CheckpointError(
            f"{where} has version {m.get('version')!r}; this greenhop reads {VERSION}"
        )
    step = m.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise CheckpointError(f"{where}: step must be a non-negative integer; got {step!r}")
    chunk = m.get("chunk_size_bytes")
    if not isinstance(chunk, int) or chunk <= 0:
        raise CheckpointError(
            f"{where}: chunk_size_bytes must be a positive integer; got {chunk!r}"
        )
    files = m.get("files")
    if not isinstance(files, dict) or META not in files:
        raise CheckpointError(f"{where}: 'files' must list every file including {META}")
    for name, rec in files.items():
        check_file_name(name, where)
        ok = (
            isinstance(rec, dict)
            and isinstance(rec.get("size_bytes"), int)
            and rec["size_bytes"] >= 0
            and isinstance(rec.get("sha256"), str)
            and re.fullmatch(r"[0-9a-f]{64}", rec["sha256"])
            and isinstance(rec.get("chunks_sha256"), list)
            and all(
                isinstance(c, str) and re.fullmatch(r"[0-9a-f]{64}", c)
                for c in rec["chunks_sha256"]
            )
            and len(rec["chunks_sha256"]) == max(1, -(-rec["size_bytes"] // chunk))
        )
        if not ok:
            raise CheckpointError(f"{where}: malformed entry for {name!r}")
    return m


def verify_checkpoint(path: str | Path, *, hashes: bool = True) -> dict[str, Any]:
    """Check that the checkpoint at ``path`` is complete: manifest, sizes, SHA-256s, formats.

    ``hashes=False`` skips re-hashing (for a caller that verified the bytes
    while streaming them). Returns the manifest. Raises :class:`CheckpointError`
    naming the first problem.
    """
    path = Path(path)
    m = read_manifest(path)
    for name, rec in m["files"].items():
        f = path / name
        if not f.is_file():
            raise CheckpointError(f"{path}: {name} listed in the manifest is missing")
        if f.stat().st_size != rec["size_bytes"]:
            raise CheckpointError(
                f"{path}: {name} has {f.stat().st_size} B, the manifest says {rec['size_bytes']} B"
            )
        with open(f, "rb") as fh:
            sf.sniff_unsafe(fh.read(4), str(f))
        if hashes and sf.sha256_file(f) != rec["sha256"]:
            raise CheckpointError(f"{path}: {name} fails its SHA-256 check (corrupt at rest)")
        if name.endswith(".safetensors"):
            sf.read_header(f)
    return m


def list_checkpoints(ckpt_dir: str | Path) -> list[tuple[int, Path]]:
    """All ``step-*`` directories under ``ckpt_dir`` as (step, path), newest first."""
    root = Path(ckpt_dir)
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        step = parse_step_dir(p.name)
        if step is not None and p.is_dir():
            out.append((step, p))
    return sorted(out, reverse=True)


def latest_complete(ckpt_dir: str | Path, *, verify: bool = True, log=None) -> Path | None:
    """The newest checkpoint whose manifest exists and (if ``verify``) whose hashes check.

    Incomplete or corrupt ones are skipped (reported through ``log(msg)``);
    older complete ones are the fallback. None when there is none.
    """
    for _step, path in list_checkpoints(ckpt_dir):
        try:
            if verify:
                verify_checkpoint(path)
            else:
                read_manifest(path)
            return path
        except CheckpointError as exc:
            if log is not None:
                log(f"skipping {path.name}: {exc}")
    return None


@dataclass
class LoadedCheckpoint:
    """A verified checkpoint in memory: its step, meta, manifest and component states."""

    path: Path
    step: int
    finished: bool
    meta: dict[str, Any]
    manifest: dict[str, Any]
    components: dict[str, Any]


def load_component(path: Path, name: str, manifest: dict[str, Any]) -> Any:
    """Load one component's state (tensors as torch tensors) from a checkpoint directory."""
    files = manifest["files"]
    st, js = f"{name}.safetensors", f"{name}.json"
    for f in (st, js):
        if f not in files:
            raise CheckpointError(f"{path}: component {name!r} lacks {f} in the manifest")
    jbuf = read_verified(path / js, files[js], f"{path / js}")
    structure = sf.load_json_bytes(bytes(jbuf), str(path / js))
    buf = read_verified(path / st, files[st], f"{path / st}")
    header = sf.parse_header(_header_bytes(buf), len(buf), str(path / st))
    tensors = tensors_from_buffer(buf, header, str(path / st))
    where = f"{path / js}"
    if isinstance(structure, dict) and set(structure) == {"__flat__"}:
        names = structure["__flat__"]
        if not isinstance(names, list) or sorted(names) != sorted(tensors):
            raise CheckpointError(f"{where}: tensor names do not match {st}")
        return {n: tensors[n] for n in names}
    if isinstance(structure, dict) and set(structure) == {"__tree__"}:
        return sf.unflatten(structure["__tree__"], tensors, where)
    raise CheckpointError(f"{where}: expected an object with '__flat__' or '__tree__'")


def _header_bytes(buf: bytearray) -> bytes:
    n = int.from_bytes(buf[:8], "little") if len(buf) >= 8 else 0
    return bytes(buf[: 8 + max(0, min(n, sf.MAX_HEADER_BYTES, len(buf) - 8))])


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """Verify and load the checkpoint at ``path`` (never unpickles; see module docstring)."""
    path = Path(path)
    manifest = read_manifest(path)
    for name in manifest["files"]:
        f = path / name
        if not f.is_file():
            raise CheckpointError(f"{path}: {name} listed in the manifest is missing")
    meta_buf = read_verified(path / META, manifest["files"][META], str(path / META))
    meta = sf.load_json_bytes(bytes(meta_buf), str(path / META))
    if not isinstance(meta, dict) or not isinstance(meta.get("components"), list):
        raise CheckpointError(f"{path / META}: malformed (needs a 'components' list)")
    if meta.get("step") != manifest["step"]:
        raise CheckpointError(
            f"{path}: meta.json step {meta.get('step')} != manifest step {manifest['step']}"
        )
    comps = {}
    for name in meta["components"]:
        if not isinstance(name, str) or not _COMPONENT.match(name):
            raise CheckpointError(f"{path / META}: invalid component name {name!r}")
        comps[name] = load_component(path, name, manifest)
    return LoadedCheckpoint(
        path, manifest["step"], bool(manifest.get("finished")), meta, manifest, comps
    )


def weights_sha256(path: str | Path, component: str = "model") -> str:
    """SHA-256 over the model weights' bytes: each tensor's raw little-endian bytes,
    tensors in sorted-name order (the data part of ``model.safetensors``)."""
    f = Path(path) / f"{component}.safetensors"
    if not f.is_file():
        raise CheckpointError(f"{path} has no {f.name}")
    header = sf.read_header(f)
    h = hashlib.sha256()
    names = sorted(e.name for e in header.entries)
    by_name = {e.name: e for e in header.entries}
    with open(f, "rb") as fh:
        for n in names:
            e = by_name[n]
            fh.seek(header.data_start + e.begin)
            left = e.end - e.begin
            while left:
                block = fh.read(min(left, _BLOCK_BYTES))
                if not block:
                    raise CheckpointError(f"{f} is truncated")
                h.update(block)
                left -= len(block)
    return h.hexdigest()


def prune(ckpt_dir: str | Path, keep: int) -> list[Path]:
    """Keep the newest ``keep`` complete checkpoints; remove older ones and stale partial ones.

    A checkpoint's manifest is removed first, so a crash mid-removal leaves an
    incomplete (ignored) directory, never a wrong one. Returns what was removed.
    """
    if keep < 1:
        raise ConfigError(f"keep must be at least 1; got {keep}")
    removed = []
    complete = 0
    for _step, path in list_checkpoints(ckpt_dir):
        has_manifest = (path / MANIFEST).is_file()
        if has_manifest and complete < keep:
            complete += 1
            continue
        if not has_manifest and complete == 0:
            continue  # newer than every complete one: maybe being written right now
        (path / MANIFEST).unlink(missing_ok=True)
        fsync_dir(path)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        fsync_dir(Path(ckpt_dir))
    return removed


def describe(path: str | Path) -> dict[str, Any]:
    """A summary of the checkpoint at ``path`` for ``greenhop workload inspect``."""
    path = Path(path)
    m = verify_checkpoint(path)
    meta = json.loads((path / META).read_text())
    return {
        "path": str(path),
        "step": m["step"],
        "finished": bool(m.get("finished")),
        "components": meta.get("components", []),
        "size_bytes": sum(r["size_bytes"] for r in m["files"].values()),
        "files": {
            n: {"size_bytes": r["size_bytes"], "sha256": r["sha256"]} for n, r in m["files"].items()
        },
        "weights_sha256": weights_sha256(path) if "model.safetensors" in m["files"] else None,
    }
