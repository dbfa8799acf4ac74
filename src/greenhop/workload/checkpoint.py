"""Checkpoints on disk: atomic writes, the manifest, verification, loading, retention.

Layout of one checkpoint (``<ckpt_dir>/step-000000120/``)::

    model.safetensors   model.json        # weights + structure
    optimizer.safetensors optimizer.json  # flattened state_dict
    ...one pair per component (scheduler, loader, rng, ...)
    meta.json                             # step, finished, components, created time
    MANIFEST.json                         # written last: size, SHA-256 and BLAKE3 of every file

A component larger than ``DEFAULT_SHARD_BYTES`` is split into shards
``model.safetensors``, ``model.1.safetensors``, ...; ``model.json`` lists them.

A checkpoint is built in a staging directory ``.tmp-step-...``: every file is
written to a temporary name, fsynced, renamed into place, and the directory
fsynced; ``MANIFEST.json`` comes last; then the staging directory is renamed
to ``step-NNNNNNNNN`` and the parent fsynced. A checkpoint is
*complete* when its manifest exists and every listed file has the listed size
and digest; anything else is ignored on resume.

Every file has two digests in the manifest, for two readers. SHA-256 is what a transfer
checks chunk by chunk (the agents' prefix digests, ``greenhop.runtime.transfer``);
BLAKE3 is what a load and :func:`verify_checkpoint` check, because it hashes about 1.8x
faster per core than SHA-256 (2.7 against 1.5 GB/s on the development VM), and a verified
load is bounded by hashing on small machines (benchmarks/README.md, (a)). Manifests written
before BLAKE3 was recorded have only SHA-256, which is then checked instead. Both are
cryptographic, and the manifest's own bytes are what the controller authenticates.

torch is imported lazily (extra ``torch``); listing and verifying need only
the standard library.

Beside this module: :mod:`~greenhop.workload.atomic_files` writes each file (hashed while
written), :mod:`~greenhop.workload.verified_read` reads it back checked against the
manifest, :mod:`~greenhop.workload.torch_tensors` turns tensors into safetensors bytes and
back, and :mod:`~greenhop.workload.checkpoint_errors` holds the errors they raise.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenhop.core.errors import CheckpointError, ConfigError, shown
from greenhop.workload import safeformat as sf
from greenhop.workload.atomic_files import BLOCK_BYTES, AtomicFileWriter, fsync_dir, write_atomic
from greenhop.workload.checkpoint_errors import (
    CheckpointDirInUse,
    DamagedCheckpoint,
    IncompatibleCheckpoint,
    IncompleteCheckpoint,
    NoIntactCheckpoint,
)
from greenhop.workload.torch_tensors import is_tensor, safetensors_pieces, tensors_from_buffer
from greenhop.workload.verified_read import VerifiedReader, at_rest_digest

FORMAT = "greenhop-checkpoint"
VERSION = 1
MANIFEST = "MANIFEST.json"
META = "meta.json"
META_JOB = "job"
"""Key of ``meta.json`` naming the job that wrote the checkpoint (``GREENHOP_JOB`` in a
live run); a checkpoint of another job is never taken as this one's."""
LOCK_FILE = ".greenhop.lock"
"""File in a checkpoint directory that a :class:`~greenhop.workload.TrainingSession` holds an
exclusive ``flock`` on for as long as it lives (:func:`lock_dir`): one live session per
directory. The operating system drops the lock when the process exits, however it ends."""
DEFAULT_SHARD_BYTES = 256 * 1024 * 1024
"""Largest safetensors file of a checkpoint [B]; bigger components are split into shards
so that their digests are computed in parallel while writing and reading."""

_STEP_DIR = re.compile(r"^step-(\d{9})$")
MAX_STEP = 10**9 - 1
"""The largest step a checkpoint's directory name holds (``step-`` and nine digits)."""
_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.(json|safetensors)$")
_COMPONENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


def lock_dir(ckpt_dir: str | Path) -> int:
    """Take the exclusive lock of ``ckpt_dir`` (made if missing) and return its file
    descriptor; closing it (:func:`unlock_dir`) or the process's exit releases the lock.

    Raises :class:`CheckpointDirInUse` naming the directory (and the process holding it,
    when it recorded itself) when another session holds it, in this process or another.
    """
    root = Path(ckpt_dir)
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = ""
        with contextlib.suppress(OSError, ValueError):
            pid = int(os.pread(fd, 32, 0).decode("ascii").strip())
            holder = f" (process {pid})"
        os.close(fd)
        raise CheckpointDirInUse(
            f"{root} is in use by another running training session{holder}; two jobs "
            "writing one checkpoint directory would destroy each other's checkpoints: wait "
            "for it to exit or use another checkpoint directory") from None
    except BaseException:
        os.close(fd)
        raise
    with contextlib.suppress(OSError):  # who holds it, for the message above
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def unlock_dir(fd: int) -> None:
    """Release a lock taken by :func:`lock_dir` (the lock file stays)."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
    os.close(fd)


@contextlib.contextmanager
def _damage_is_incomplete() -> Iterator[None]:
    """Re-raise a :class:`CheckpointError` of the block as a :class:`DamagedCheckpoint`, which
    a resume skips; an :class:`IncompleteCheckpoint` or unsafe content passes as it is."""
    try:
        yield
    except (IncompleteCheckpoint, sf.UnsafeCheckpoint):
        raise
    except CheckpointError as exc:
        raise DamagedCheckpoint(str(exc)) from None


def check_job_dir(ckpt_dir: str | Path) -> None:
    """Refuse, as :class:`IncompatibleCheckpoint`, a ``ckpt_dir`` that is one checkpoint's
    folder (named ``step-N``, as ``greenhop workload inspect`` takes it, and holding a
    checkpoint's manifest or meta.json) rather than a job's checkpoint directory: a session
    there would ignore the checkpoint, train from step 0 and write its own checkpoints inside
    it. A job directory that is only named so (a job called ``step-1``) is not refused."""
    root = Path(ckpt_dir)
    if parse_step_dir(root.name) is not None and any(
            (root / name).is_file() for name in (MANIFEST, META)):
        raise IncompatibleCheckpoint(
            f"{root} is one checkpoint of the job directory {root.parent}, not a job's "
            f"checkpoint directory; pass the job directory {root.parent} to resume from its "
            "newest intact checkpoint")


def set_aside(path: Path, kind: str = "corrupt") -> Path:
    """Rename the checkpoint directory ``path`` to ``<kind>-<name>-<ns>`` beside it and return
    the new path: no longer a ``step-*`` directory, it is never loaded, served, pruned or
    written over again, and kept as evidence."""
    aside = path.with_name(f"{kind}-{path.name}-{time.time_ns()}")
    os.rename(path, aside)
    return aside


def step_dir_name(step: int) -> str:
    """Directory name of the checkpoint taken after ``step`` steps."""
    return f"step-{int(step):09d}"


def parse_step_dir(name: str) -> int | None:
    """The step of a checkpoint directory name, or None if it is not one."""
    m = _STEP_DIR.match(name)
    return int(m.group(1)) if m else None


def misnamed_step_dir(name: str) -> int | None:
    """The step of a folder named ``step-`` and digits that is not a checkpoint's name
    (``step-1``: greenhop writes 9 digits, :func:`step_dir_name`), or None."""
    digits = name.removeprefix("step-")
    if digits == name or not digits.isdigit() or parse_step_dir(name) is not None:
        return None
    return int(digits)


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


# --------------------------------------------------------------------------------------------
# saving


def _shards(tensors: dict[str, Any], shard_bytes: int) -> list[dict[str, Any]]:
    """Split ``tensors`` (sorted by name) into consecutive groups of at most ``shard_bytes``."""
    shards: list[dict[str, Any]] = [{}]
    size = 0
    for name in sorted(tensors):
        n = tensors[name].numel() * tensors[name].element_size()
        if shards[-1] and size + n > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = tensors[name]
        size += n
    return shards


def shard_file_name(component: str, index: int) -> str:
    """File of shard ``index`` of ``component``: ``model.safetensors``, ``model.1.safetensors``."""
    return f"{component}.safetensors" if index == 0 else f"{component}.{index}.safetensors"


def save_checkpoint(
    ckpt_dir: str | Path,
    step: int,
    components: dict[str, Any],
    *,
    finished: bool = False,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    extra_meta: dict[str, Any] | None = None,
) -> Path:
    """Write a complete checkpoint of ``components`` (name -> state) after ``step`` steps.

    Each state is a nested structure of tensors, numbers, strings, lists and
    dicts (a ``state_dict``). A flat ``{name: tensor}`` dict keeps its tensor
    names in the safetensors file. Tensors are split into safetensors shards of
    at most ``shard_bytes`` [B] whose SHA-256s are computed in parallel while
    they are written. Returns the checkpoint directory.
    """
    if shard_bytes <= 0:
        raise ConfigError(f"shard size must be positive; got {shard_bytes} B")
    root = Path(ckpt_dir)
    final = root / step_dir_name(step)
    path = root / f".tmp-{final.name}-{os.getpid()}"
    writing: list[Path] = [root]  # the file being written, for the error
    try:
        return _save(root, final, path, step, components, finished, shard_bytes,
                     extra_meta, writing)
    except OSError as exc:  # disk full, file too large, I/O error: one line, no temp left
        committed = final.is_dir() and not path.exists()  # failed after the rename
        shutil.rmtree(path, ignore_errors=True)
        what = exc.filename or writing[-1]
        code = errno.errorcode.get(exc.errno, exc.errno)
        raise CheckpointError(
            f"cannot write checkpoint {final}: {what}: {exc.strerror or exc} ({code}); "
            + ("it may not be on disk yet" if committed else
               "nothing was committed, the older checkpoints are kept")) from None
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def _save(root: Path, final: Path, path: Path, step: int, components: dict[str, Any],
          finished: bool, shard_bytes: int, extra_meta: dict[str, Any] | None,
          writing: list[Path]) -> Path:
    """:func:`save_checkpoint`'s work, in the temporary directory ``path`` then renamed to
    ``final``; appends each file it starts to ``writing``."""
    root.mkdir(parents=True, exist_ok=True)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir()
    writers: list[AtomicFileWriter] = []
    try:
        for name, state in components.items():
            if not _COMPONENT.match(name):
                raise ConfigError(f"component name {name!r} must be letters, digits, _ or -")
            where = f"component {name!r}"
            if (
                isinstance(state, dict)
                and state
                and all(isinstance(k, str) for k in state)
                and all(is_tensor(v) for v in state.values())
            ):
                tensors = dict(state)
                structure: dict[str, Any] = {"__flat__": sorted(state)}
            else:
                tree, tensors = sf.flatten(state, "t", is_tensor, where)
                structure = {"__tree__": tree}
            files = []
            for i, shard in enumerate(_shards(tensors, shard_bytes)):
                writing.append(path / shard_file_name(name, i))
                writer = AtomicFileWriter(path, shard_file_name(name, i))
                writers.append(writer)
                for piece in safetensors_pieces(shard):
                    writer.write(piece)
                writer.close()
                files.append(writer.name)
            structure["__shards__"] = files
            writing.append(path / f"{name}.json")
            writer = AtomicFileWriter(path, f"{name}.json")
            writers.append(writer)
            writer.write(sf.dump_json_bytes(structure))
            writer.close()
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "step": int(step),
            "finished": bool(finished),
            "components": list(components),
            "created_unix_s": time.time(),
            **(extra_meta or {}),
        }
        writing.append(path / META)
        writer = AtomicFileWriter(path, META)
        writers.append(writer)
        writer.write(sf.dump_json_bytes(meta))
        records = [w.commit() for w in writers]
    except BaseException:
        for w in writers:
            w.abort()
        raise
    writing.append(path / MANIFEST)
    fsync_dir(path)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "finished": bool(finished),
        "files": {r.name: r.to_json() for r in records},
    }
    write_atomic(path, MANIFEST, [sf.dump_json_bytes(manifest)])
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

    Call it only when no other process writes to ``ckpt_dir``: while holding its lock
    (:func:`lock_dir`), as :meth:`~greenhop.workload.TrainingSession.resume` does.
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
    """Parse and validate ``path/MANIFEST.json``; raise :class:`CheckpointError` if malformed.

    A missing manifest, or one that is not JSON at all (torn or corrupt at rest), makes the
    checkpoint incomplete (:class:`IncompleteCheckpoint`: resume falls back past it), and one
    that is JSON but not a well-formed manifest damaged (:class:`DamagedCheckpoint`: the same).
    A ``step-N`` directory whose manifest gives another step (copied or moved under
    another step's name) is not step N: it is incomplete too, or a resume told to load
    step N exactly would load another and skip the steps between.
    """
    mpath = path / MANIFEST
    if not path.exists():  # not there at all: a wrong name, not an incomplete checkpoint
        raise IncompleteCheckpoint(f"{path} does not exist: no such checkpoint")
    if not mpath.is_file():
        raise IncompleteCheckpoint(f"{path} has no {MANIFEST}: the checkpoint is incomplete")
    with _damage_is_incomplete():
        m = parse_manifest(mpath.read_bytes(), str(mpath), not_json=IncompleteCheckpoint)
    named = parse_step_dir(path.name)
    if named is not None and named != m["step"]:
        raise IncompleteCheckpoint(f"{path}: its manifest is of step {m['step']}, not step "
                                   f"{named}: a checkpoint copied under another step's name")
    return m


def parse_manifest(data: bytes, where: str,
                   not_json: type[CheckpointError] = CheckpointError) -> dict[str, Any]:
    """Parse and validate manifest bytes (from disk or the network); bytes that are not
    JSON raise ``not_json``."""
    m = sf.load_json_bytes(data, where, not_json)
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise CheckpointError(f"{where} is not a greenhop checkpoint manifest (format {FORMAT!r})")
    if m.get("version") != VERSION:
        raise CheckpointError(
            f"{where} has version {m.get('version')!r}; this greenhop reads {VERSION}"
        )
    step = m.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise CheckpointError(f"{where}: step must be a non-negative integer; got {step!r}")
    files = m.get("files")
    if not isinstance(files, dict) or META not in files:
        raise CheckpointError(f"{where}: 'files' must list every file including {META}")
    for name, rec in files.items():
        check_file_name(name, where)
        problem = _entry_problem(rec)
        if problem:
            raise CheckpointError(f"{where}: malformed entry for {name!r}: {problem}")
    return m


def _entry_problem(rec: Any) -> str | None:
    """What is wrong with one manifest file entry, in words; None when it is well formed."""
    if not isinstance(rec, dict):
        return f"expected an object with size_bytes and sha256, got {type(rec).__name__}"
    size = rec.get("size_bytes")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return f"size_bytes must be a non-negative integer, got {shown(size, 80)}"
    for field in ("sha256", "blake3"):
        if field == "blake3" and field not in rec:
            continue
        digest = rec.get(field)
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            return f"{field} must be 64 lowercase hex digits, got {shown(digest, 80)}"
    return None


def verify_checkpoint(path: str | Path, *, hashes: bool = True) -> dict[str, Any]:
    """Check that the checkpoint at ``path`` is complete: manifest, sizes, digests, formats.

    ``hashes=False`` skips re-hashing (for a caller that verified the bytes
    while streaming them). Besides the files' sizes and digests it checks that every
    safetensors header is valid and that ``meta.json`` and each component's structure file
    are well formed: what :func:`load_checkpoint` needs besides the tensors. Returns the
    manifest. Raises :class:`CheckpointError` naming the first problem
    (:class:`IncompleteCheckpoint` or :class:`DamagedCheckpoint` unless it is unsafe content).
    """
    path = Path(path)
    m = read_manifest(path)
    with _damage_is_incomplete():
        _verify_files(path, m, hashes)
        meta = sf.load_json_bytes((path / META).read_bytes(), str(path / META))
        for name in _components(meta, m, path):
            js = _structure_file(path, name, m)
            structure = sf.load_json_bytes((path / js).read_bytes(), str(path / js))
            shards = _shard_files(structure, m, str(path / js))
            _check_tensor_names(path, structure, shards, str(path / js))
    return m


def _check_tensor_names(path: Path, structure: dict[str, Any], shards: list[str],
                        where: str) -> None:
    """The tensors a component's structure file names are those of its shards' headers, as
    :func:`load_checkpoint` requires: a foreign safetensors file put in with its manifest
    rehashed passed the check and failed only the load."""
    names: list[str] = []
    for shard in shards:
        names += [e.name for e in sf.read_header(path / shard).entries]
    if len(set(names)) != len(names):
        raise CheckpointError(f"{where}: a tensor name appears in two shards")
    if "__flat__" in structure:
        flat = structure["__flat__"]
        if not isinstance(flat, list) or sorted(map(str, flat)) != sorted(names):
            raise CheckpointError(f"{where}: tensor names do not match the shards")
    else:  # every reference of the tree resolves to a tensor of the shards
        sf.unflatten(structure["__tree__"], dict.fromkeys(names), where)


def _verify_files(path: Path, m: dict[str, Any], hashes: bool) -> None:
    """:func:`verify_checkpoint`'s checks of each file the manifest ``m`` lists."""
    for name, rec in m["files"].items():
        f = path / name
        if not f.is_file():
            raise IncompleteCheckpoint(f"{path}: {name} listed in the manifest is missing")
        if f.stat().st_size != rec["size_bytes"]:
            raise IncompleteCheckpoint(
                f"{path}: {name} has {f.stat().st_size} B, the manifest says {rec['size_bytes']} B"
            )
        with open(f, "rb") as fh:
            sf.sniff_unsafe(fh.read(4), str(f))
        if hashes:
            algo, h, want = at_rest_digest(rec)
            if sf.hash_file(f, h) != want:
                raise IncompleteCheckpoint(
                    f"{path}: {name} fails its {algo} check (corrupt at rest)")
        if name.endswith(".safetensors"):
            sf.read_header(f)


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


def latest_complete(ckpt_dir: str | Path, *, verify: bool = True, log=None,
                    strict: bool = False) -> Path | None:
    """The newest checkpoint whose manifest exists and (if ``verify``) whose hashes check.

    Incomplete, corrupt or damaged ones are skipped (reported through ``log(msg)``);
    older complete ones are the fallback. None when there is none. ``strict``: as a resume
    does, skip only :class:`IncompleteCheckpoint` s (damaged ones included), raise the other
    :class:`CheckpointError` s (unsafe content: a pickle or zip payload), and raise
    :class:`NoIntactCheckpoint` when there are checkpoints but none is complete.
    """
    skipped = []
    for _step, path in list_checkpoints(ckpt_dir):
        try:
            if verify:
                verify_checkpoint(path)
            else:
                read_manifest(path)
            return path
        except CheckpointError as exc:
            if strict and not isinstance(exc, IncompleteCheckpoint):
                raise
            if log is not None:
                log(f"skipping {path.name}: {exc}")
            skipped.append(path.name)
    if strict and skipped:
        raise NoIntactCheckpoint(ckpt_dir, skipped)
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


def load_component(
    path: Path, name: str, manifest: dict[str, Any], reader: VerifiedReader | None = None
) -> Any:
    """Load one component's state (tensors as torch tensors) from a checkpoint directory.

    Every file is hashed while it is read and compared with the manifest (on ``reader``
    when given, so that several components' files stream through one reader).
    """
    if reader is None:
        with VerifiedReader() as own:
            return load_component(path, name, manifest, own)
    return _assemble_component(*_submit_component(path, name, manifest, reader))


def _submit_component(path: Path, name: str, manifest: dict[str, Any], reader: VerifiedReader):
    """Check a component's structure file and queue its shards on ``reader``."""
    files = manifest["files"]
    js = _structure_file(path, name, manifest)
    where = f"{path / js}"
    structure = sf.load_json_bytes(bytes(reader.submit(path / js, files[js], where).result()),
                                   where)
    return where, structure, [(str(path / f), reader.submit(path / f, files[f], str(path / f)))
                              for f in _shard_files(structure, manifest, where)]


def _components(meta: Any, manifest: dict[str, Any], path: Path) -> list[str]:
    """The component names that ``meta`` (the parsed ``meta.json`` of the checkpoint at
    ``path``) lists, checked against its ``manifest``."""
    if not isinstance(meta, dict) or not isinstance(meta.get("components"), list):
        raise CheckpointError(f"{path / META}: malformed (needs a 'components' list)")
    if meta.get("step") != manifest["step"]:
        raise CheckpointError(
            f"{path}: meta.json step {meta.get('step')} != manifest step {manifest['step']}"
        )
    for name in meta["components"]:
        if not isinstance(name, str) or not _COMPONENT.match(name):
            raise CheckpointError(f"{path / META}: invalid component name {name!r}")
    return meta["components"]


def _structure_file(path: Path, name: str, manifest: dict[str, Any]) -> str:
    """The structure file (``name.json``) of component ``name``; it must be in the manifest."""
    js = f"{name}.json"
    if js not in manifest["files"]:
        raise CheckpointError(f"{path}: component {name!r} lacks {js} in the manifest")
    return js


def _shard_files(structure: Any, manifest: dict[str, Any], where: str) -> list[str]:
    """The safetensors shards that ``structure`` (a parsed structure file, ``where``) lists,
    each one listed once and in the ``manifest``."""
    kinds = ({"__flat__", "__shards__"}, {"__tree__", "__shards__"})
    if not isinstance(structure, dict) or set(structure) not in kinds:
        raise CheckpointError(
            f"{where}: expected an object with '__shards__' and '__flat__' or '__tree__'"
        )
    shards, files = structure["__shards__"], manifest["files"]
    if not (
        isinstance(shards, list)
        and shards
        and all(isinstance(f, str) and f.endswith(".safetensors") and f in files for f in shards)
        and len(set(shards)) == len(shards)
    ):
        raise CheckpointError(f"{where}: '__shards__' must list this component's safetensors files")
    return shards


def _assemble_component(where: str, structure: dict[str, Any], futures: list) -> Any:
    """Wait for a component's shards and rebuild its state from them."""
    tensors: dict[str, Any] = {}
    for shard, future in futures:
        buf = future.result()
        part = tensors_from_buffer(buf, sf.parse_header(_header_bytes(buf), len(buf), shard), shard)
        if set(part) & set(tensors):
            raise CheckpointError(f"{where}: a tensor name appears in two shards")
        tensors.update(part)
    if "__flat__" in structure:
        names = structure["__flat__"]
        if not isinstance(names, list) or sorted(names) != sorted(tensors):
            raise CheckpointError(f"{where}: tensor names do not match the shards")
        return {n: tensors[n] for n in names}
    return sf.unflatten(structure["__tree__"], tensors, where)


def _header_bytes(buf) -> bytes:
    n = int.from_bytes(bytes(buf[:8]), "little") if len(buf) >= 8 else 0
    return bytes(buf[: 8 + max(0, min(n, sf.MAX_HEADER_BYTES, len(buf) - 8))])


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """Verify and load the checkpoint at ``path`` (never unpickles; see module docstring).

    Raises :class:`IncompleteCheckpoint` for a missing, torn or corrupt file,
    :class:`DamagedCheckpoint` for files that do not parse (a resume skips both), and
    :class:`~greenhop.workload.safeformat.UnsafeCheckpoint` for a pickle or zip payload."""
    path = Path(path)
    manifest = read_manifest(path)
    for name in manifest["files"]:
        f = path / name
        if not f.is_file():
            raise IncompleteCheckpoint(f"{path}: {name} listed in the manifest is missing")
    # Every file streams through one reader (meta.json first): one sequential read,
    # hashing on every core.
    with _damage_is_incomplete(), VerifiedReader() as reader:
        meta_buf = reader.submit(path / META, manifest["files"][META], str(path / META)).result()
        meta = sf.load_json_bytes(bytes(meta_buf), str(path / META))
        started = {name: _submit_component(path, name, manifest, reader)
                   for name in _components(meta, manifest, path)}
        comps = {name: _assemble_component(*plan) for name, plan in started.items()}
    return LoadedCheckpoint(
        path, manifest["step"], bool(manifest.get("finished")), meta, manifest, comps
    )


def weights_sha256(path: str | Path, component: str = "model") -> str:
    """SHA-256 over the model weights' bytes: each tensor's raw little-endian bytes,
    tensors in sorted-name order (the data parts of ``model*.safetensors`` in shard order)."""
    path = Path(path)
    js = path / f"{component}.json"
    if not js.is_file():
        raise CheckpointError(f"{path} has no {js.name}: not a checkpoint with a {component!r}")
    structure = sf.load_json_bytes(js.read_bytes(), str(js))
    shards = structure.get("__shards__") if isinstance(structure, dict) else None
    if not isinstance(shards, list) or not all(isinstance(f, str) for f in shards):
        raise CheckpointError(f"{js} is malformed (no '__shards__' list)")
    entries = []
    for f in shards:
        check_file_name(f, str(js))
        header = sf.read_header(path / f)
        entries += [
            (e.name, path / f, header.data_start + e.begin, e.end - e.begin) for e in header.entries
        ]
    h = hashlib.sha256()
    for _name, f, start, n in sorted(entries):
        with open(f, "rb") as fh:
            fh.seek(start)
            left = n
            while left:
                block = fh.read(min(left, BLOCK_BYTES))
                if not block:
                    raise CheckpointError(f"{f} is truncated")
                h.update(block)
                left -= len(block)
    return h.hexdigest()


def prune(ckpt_dir: str | Path, keep: int, *, upto_step: int | None = None,
          not_counted: set[int] | frozenset[int] = frozenset()) -> list[Path]:
    """Keep the newest ``keep`` complete checkpoints; remove older ones and stale partial ones.

    With ``upto_step`` (the step just saved) only checkpoints at or below it count and
    may go: one of a higher step is another history (a corrupt one the run skipped when
    it resumed, or one past the step it was told to resume from), and counting it would
    remove the checkpoint just written. ``not_counted``: steps known to be corrupt (the
    run skipped them when it resumed); they are left as they are and do not count as one
    of the ``keep``, so a corrupt checkpoint never takes the place of a verified one. A
    checkpoint's manifest is removed first, so a crash mid-removal leaves an incomplete
    (ignored) directory, never a wrong one. Returns what was removed.
    """
    if keep < 1:
        raise ConfigError(f"keep must be at least 1; got {keep}")
    removed = []
    complete = 0
    for step, path in list_checkpoints(ckpt_dir):
        if (upto_step is not None and step > upto_step) or step in not_counted:
            continue
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


def recorded_job(path: str | Path) -> str | None:
    """The job named in the ``meta.json`` of the checkpoint at ``path`` (None: none recorded,
    as by a session outside a live run). Read as it is: verify the checkpoint first."""
    try:
        meta = json.loads((Path(path) / META).read_bytes())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable {META}: {exc}") from None
    job = meta.get(META_JOB) if isinstance(meta, dict) else None
    return job if isinstance(job, str) else None


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
            n: {k: r[k] for k in ("size_bytes", "sha256", "blake3") if k in r}
            for n, r in m["files"].items()
        },
        "weights_sha256": weights_sha256(path) if "model.json" in m["files"] else None,
    }
