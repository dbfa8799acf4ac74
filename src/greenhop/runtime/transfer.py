"""Pull a checkpoint from a site agent: chunked, verified while streaming, resumable.

For every file listed in the remote manifest the receiver

1. re-verifies what a previous attempt left in the staging directory, chunk by
   chunk against the source's chunk SHA-256s, and keeps the verified prefix (a
   flipped byte at rest is found here);
2. asks for the rest in frames (``?chunk=C`` with ``Range: bytes=<offset>-``,
   see :mod:`greenhop.runtime.agent`): each chunk arrives with the sender's
   SHA-256 of the file up to the chunk's end; the receiver keeps its own SHA-256
   of the file running over the bytes it received and compares the two after
   each chunk; a chunk that does not match (a flipped byte in transit) is
   discarded and fetched again, a dropped connection resumes from the last
   verified chunk (at most one chunk is sent twice);
3. compares the same running SHA-256, at the end, with the manifest's (one
   hashing pass per byte at each end checks every chunk and the whole file); a
   mismatch means the source changed at rest: the file is fetched once more
   from scratch, then the pull fails.

Verified chunks are written by a helper thread while the next one arrives, with
``O_DIRECT`` where the file system and the alignment allow (see
:class:`~greenhop.runtime.transfer_storage.ReceiveFile`).

Only when every file verifies is the manifest written and the staging
directory renamed into place: the destination never holds a partial checkpoint,
nor one with a byte that failed its check on the wire, under a ``step-*`` name.
What the check covers is the bytes as received: the written files are not read
back before the commit (sizes and formats are checked, not hashes), so a byte
changed in the staging directory by something else during the pull, or by the
disk, is committed. Reading back would be a second pass over the disk and
SHA-256 (100 MB on the development VM: 0.07-0.22 s on top of a 0.33 s loopback
pull; about 1-2 CPU-s per GB, where the receiver's CPU already bounds the rate,
benchmarks/README.md (b)); instead every consumer hashes each byte when it reads
the checkpoint (the controller before it starts a trainer, the trainer as it
loads), and a copy that fails is pulled again. The source is only read. When
retries run out (link down) the staging directory ``.incoming-<name>`` keeps
its verified prefix and the next pull resumes from it; on any other failure
(disk full, a checkpoint that does not verify) it is removed.
Two pulls of one checkpoint into one directory run one at a time, across processes
too: each holds the file lock ``.incoming-<name>.lock`` beside the staging directory
(:func:`greenhop.core.filelock.hold_lock`, removed again when the pull ends), and the
second, once it has it, finds the checkpoint committed and skips it.
Destination writes go through :class:`~greenhop.runtime.transfer_storage.Storage` so
tests can inject a full disk.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import mmap
import shutil
import struct
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from greenhop.core.errors import CheckpointError, ConfigError, TransferError
from greenhop.core.filelock import hold_lock, release_lock
from greenhop.core.units import format_size
from greenhop.runtime.agent import MAX_CHUNK_BYTES, MIN_CHUNK_BYTES
from greenhop.runtime.agent_client import Remote, list_checkpoints, message, why
from greenhop.runtime.auth import Credentials
from greenhop.runtime.transfer_storage import DIRECT_ALIGN_BYTES, Storage
from greenhop.workload import checkpoint as ck

FLUSH_BYTES = 64 * 1024 * 1024
"""Received bytes between background write-backs of the file being received [B]."""
DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024
"""Transfer chunk [B]: the unit of per-chunk SHA-256 checks and of re-sending."""

Progress = Callable[[int, int], None]
"""``progress(done_bytes, total_bytes)`` called as bytes are verified and written."""


class _Resumable(TransferError):
    """Retries exhausted; the staging directory keeps its verified prefix."""


class CorruptAtSource(TransferError):
    """A file of the source's checkpoint does not match its own manifest (corrupt at rest
    there); an older checkpoint of the source may still be intact."""


class ForeignCheckpoint(TransferError):
    """The source offered a checkpoint whose manifest the controller never recorded."""


@dataclass
class TransferResult:
    """Summary of one pull. Sizes [B], time [s].

    ``received_bytes`` were verified and written; ``wire_bytes`` were read off
    the connection, including chunks discarded for a bad hash or a drop;
    ``reused_bytes`` were already verified in the staging directory.
    """

    path: Path
    checkpoint: str
    step: int
    total_bytes: int
    received_bytes: int = 0
    wire_bytes: int = 0
    reused_bytes: int = 0
    retries: int = 0
    bad_chunks: int = 0
    elapsed_s: float = 0.0
    skipped: bool = False
    events: list[str] = field(default_factory=list)
    manifest_sha256: str = ""

    @property
    def rate_bps(self) -> float:
        return 8 * self.received_bytes / self.elapsed_s if self.elapsed_s > 0 else float("inf")

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "checkpoint": self.checkpoint,
            "step": self.step,
            "total_bytes": self.total_bytes,
            "received_bytes": self.received_bytes,
            "wire_bytes": self.wire_bytes,
            "reused_bytes": self.reused_bytes,
            "retries": self.retries,
            "bad_chunks": self.bad_chunks,
            "elapsed_s": self.elapsed_s,
            "rate_bps": self.rate_bps if self.elapsed_s > 0 else None,
            "skipped": self.skipped,
            "manifest_sha256": self.manifest_sha256,
            "events": self.events[-20:],
        }


def pull_checkpoint(
    source: str,
    job: str,
    dest_dir: str | Path,
    checkpoint: str = "latest",
    *,
    storage: Storage | None = None,
    max_retries: int = 8,
    timeout_s: float = 30.0,
    progress: Progress | None = None,
    check_space: bool = True,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    accept: set[str] | list[str] | None = None,
    credentials: Credentials | None = None,
) -> TransferResult:
    """Copy checkpoint ``checkpoint`` (a ``step-*`` name or ``"latest"``) of ``job`` from the
    agent at ``source`` into ``dest_dir/<name>``; return a :class:`TransferResult`.

    ``accept``: the SHA-256s of the manifests the caller trusts (the controller's
    records); any other checkpoint is refused (:class:`ForeignCheckpoint`). With
    ``"latest"``, a checkpoint that turns out corrupt at the source (or is not
    accepted) is skipped for the next older one; its name goes into
    ``result.events``.

    Raises :class:`TransferError` when the source is unreachable, has no intact
    (accepted) checkpoint, or the destination is full; the staging directory is
    then removed and nothing is committed.
    """
    if not (MIN_CHUNK_BYTES <= chunk_bytes <= MAX_CHUNK_BYTES):
        raise ConfigError(f"chunk size must be in [{MIN_CHUNK_BYTES}, {MAX_CHUNK_BYTES}] B")
    storage = storage or Storage()
    with Remote(source, timeout_s, credentials) as remote:
        return _pull(_Pull(remote, job, Path(dest_dir), storage, max_retries, progress,
                           check_space, chunk_bytes, None if accept is None else set(accept)),
                     checkpoint)


@dataclass(frozen=True)
class _Pull:
    """What one pull keeps for every checkpoint it tries: the agent, the job, the job's
    directory here, how to write, retry and report, and the manifests it accepts."""

    remote: Remote
    job: str
    dest: Path
    storage: Storage
    max_retries: int
    progress: Progress | None
    check_space: bool
    chunk_bytes: int
    accepted: set[str] | None

    def url(self, checkpoint: str) -> str:
        """The path of ``checkpoint`` on the agent."""
        return f"/v1/jobs/{quote(self.job)}/checkpoints/{checkpoint}"


def check_checkpoint_name(checkpoint: str) -> None:
    """Refuse a checkpoint to pull that is neither ``latest`` nor ``step-NNNNNNNNN``
    (ConfigError): before anything is asked of an agent, or drawn."""
    if checkpoint != "latest" and ck.parse_step_dir(checkpoint) is None:
        raise ConfigError(f"checkpoint name {checkpoint!r} must be 'latest' or step-NNNNNNNNN")


def _pull(pull: _Pull, checkpoint: str) -> TransferResult:
    remote, job = pull.remote, pull.job
    if checkpoint != "latest":
        check_checkpoint_name(checkpoint)
        return _pull_one(pull, checkpoint, [])
    entries = list_checkpoints(remote, job)
    if not entries:
        raise TransferError(
            f"the agent at {remote.url} has no complete checkpoint of job {job!r}"
        )
    skipped: list[str] = []
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or ck.parse_step_dir(name) is None:
            continue
        try:
            return _pull_one(pull, name, skipped)
        except (CorruptAtSource, ForeignCheckpoint) as exc:
            skipped.append(f"{name}: {exc}")
    recorded = " the controller recorded" if pull.accepted is not None else ""
    raise TransferError(
        f"the agent at {remote.url} has no intact checkpoint of job {job!r}{recorded}; "
        f"tried {len(skipped)}: " + "; ".join(skipped)
    )


def _clean_staging(staging: Path, files: dict[str, Any]) -> None:
    """Make ``staging`` a directory holding only files the manifest lists (a partial copy
    of one is kept: the pull resumes from its verified prefix)."""
    if staging.is_symlink() or (staging.exists() and not staging.is_dir()):
        staging.unlink()
    staging.mkdir(exist_ok=True)
    for p in staging.iterdir():
        if p.name not in files or p.is_symlink() or not p.is_file():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _pull_one(pull: _Pull, checkpoint: str, skipped: list[str]) -> TransferResult:
    t0 = time.monotonic()
    remote, job, dest = pull.remote, pull.job, pull.dest
    base = pull.url(checkpoint)
    mbytes = remote.get_bytes(f"{base}/{ck.MANIFEST}")
    digest = hashlib.sha256(mbytes).hexdigest()
    if pull.accepted is not None and digest not in pull.accepted:
        raise ForeignCheckpoint(
            f"manifest of {job}/{checkpoint} at {remote.url} (SHA-256 {digest[:16]}...) was "
            "never recorded by the controller; refusing it"
        )
    try:
        manifest = ck.parse_manifest(mbytes, f"{remote.url}{base}/{ck.MANIFEST}")
    except CheckpointError as exc:
        raise TransferError(f"refusing checkpoint {job}/{checkpoint}: {exc}") from None
    if manifest["step"] != ck.parse_step_dir(checkpoint):
        raise TransferError(f"refusing checkpoint {job}/{checkpoint}: its manifest says step "
                            f"{manifest['step']}")
    files = manifest["files"]
    total = sum(r["size_bytes"] for r in files.values())
    result = TransferResult(dest / checkpoint, checkpoint, manifest["step"], total)
    result.events.extend(f"skipped {s}" for s in skipped)
    result.manifest_sha256 = digest

    final = dest / checkpoint
    if _have(final, manifest):  # already here: no lock needed (a read-only dest works too)
        return _skip(result, t0)
    # one pull of this checkpoint into this directory at a time, across processes (two
    # `greenhop transfer pull`s, two controllers on one disk): they would share the
    # staging directory and break each other; the second waits, then finds it committed
    lock_path = dest / f".incoming-{checkpoint}.lock"
    made_dest, lock = _lock_pull(dest, lock_path, job, checkpoint, result)
    failed = True
    try:
        if _have(final, manifest):
            failed = False
            return _skip(result, t0)
        _receive(pull, files, mbytes, result)
        failed = False
    finally:
        # removed while still held: a process waiting for it then holds the removed file's
        # lock, which hold_lock notices (the path names another file, or none) and takes
        # the lock of the path anew; so no two pulls ever hold it at once, and nothing is
        # left behind (a failed pull's empty job directory goes too, below)
        with contextlib.suppress(OSError):  # the lock goes with the descriptor regardless
            release_lock(lock, lock_path, remove=True)
        if failed:
            _drop_if_empty(dest, made_dest)
    result.elapsed_s = time.monotonic() - t0
    return result


def _have(final: Path, manifest: dict[str, Any]) -> bool:
    """Whether ``final`` holds this very checkpoint, every byte verified."""
    if not final.is_dir():
        return False
    try:
        return ck.verify_checkpoint(final) == manifest
    except CheckpointError:
        return False


def _skip(result: TransferResult, t0: float) -> TransferResult:
    result.skipped = True
    result.elapsed_s = time.monotonic() - t0
    return result


def _lock_pull(dest: Path, lock_path: Path, job: str, checkpoint: str,
               result: TransferResult) -> tuple[bool, int]:
    """Make ``dest`` if missing and hold the lock ``lock_path`` in it, waiting for another
    process's pull; returns (whether this made ``dest``, the lock's descriptor)."""
    t_wait = time.monotonic()
    waited = False

    def on_wait() -> None:
        nonlocal waited
        waited = True

    while True:
        made_dest = not dest.exists()  # removed again if this pull fails and leaves it empty
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransferError(f"cannot create {dest}: {exc.strerror}") from None
        try:
            lock = hold_lock(lock_path, on_wait=on_wait)
        except FileNotFoundError:
            continue  # a failed pull removed its empty job directory meanwhile: make it anew
        except OSError as exc:
            _drop_if_empty(dest, made_dest)
            raise TransferError(f"cannot lock {lock_path} to pull {job}/{checkpoint}: "
                                f"{exc.strerror}") from None
        except BaseException:  # interrupted while waiting
            _drop_if_empty(dest, made_dest)
            raise
        if waited:
            result.events.append(
                f"waited {time.monotonic() - t_wait:.1f} s for another pull of {checkpoint} "
                f"into {dest}")
        return made_dest, lock


def _receive(pull: _Pull, files: dict[str, Any], mbytes: bytes,
             result: TransferResult) -> None:
    """Stage, verify and commit the checkpoint of ``result`` whose manifest is ``mbytes``
    (listing ``files``) into ``result.path`` (the caller holds the pull's lock)."""
    job, dest, storage, checkpoint = pull.job, pull.dest, pull.storage, result.checkpoint
    total, final = result.total_bytes, result.path
    staging = dest / f".incoming-{checkpoint}"
    try:
        _clean_staging(staging, files)
    except OSError as exc:
        raise TransferError(f"cannot prepare the staging directory {staging}: "
                            f"{exc.strerror}") from None
    try:
        if pull.check_space:
            have = sum((staging / n).stat().st_size for n in files if (staging / n).exists())
            free = storage.free_bytes(dest)
            if free < total - have:
                raise TransferError(
                    f"destination disk full: {dest} has {format_size(free)} free but checkpoint "
                    f"{job}/{checkpoint} needs {format_size(total - have)} more; "
                    "free space and retry"
                )
        done = 0
        # each file's fsync runs in a helper thread while the next file arrives (the link
        # idled for it between files); all of them end before the manifest and the commit
        with ThreadPoolExecutor(2, thread_name_prefix="greenhop-sync") as syncer:
            syncs: list = []
            try:
                for name in sorted(files):
                    done = _pull_file(pull, staging, name, files[name], result, done,
                                      syncer, syncs)
            finally:
                for f in syncs:
                    f.exception()  # wait for every fsync, even after a failure
            for f in syncs:
                f.result()
        storage.write_file(staging, ck.MANIFEST, mbytes)
        _clean_staging(staging, {**files, ck.MANIFEST: None})  # only listed files commit
        try:
            # hashes were checked while streaming; the disk's copy is re-hashed by its
            # readers (the controller before a start, the trainer's load), not here
            ck.verify_checkpoint(staging, hashes=False)
        except CheckpointError as exc:
            # every byte matched the source's manifest: the checkpoint is bad there (damaged
            # structure, unsafe content); its copy is of no use, an older one may be intact
            shutil.rmtree(staging, ignore_errors=True)
            raise CorruptAtSource(
                f"checkpoint {job}/{checkpoint} did not verify after transfer, though every "
                f"byte matched the source's manifest (it is bad at the source): {exc}"
            ) from None
        storage.commit(staging, final)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise TransferError(
                f"destination disk full while writing {job}/{checkpoint} into {dest}: "
                f"{exc.strerror}; nothing was committed; free space and retry"
            ) from None
        raise TransferError(f"cannot write {job}/{checkpoint} into {dest}: {exc}") from None
    except _Resumable as exc:  # keep the verified prefix: a later pull resumes from it
        raise TransferError(str(exc)) from None
    except TransferError:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _drop_if_empty(dest: Path, made: bool) -> None:
    """Remove the job directory ``dest`` when this pull made it and left it empty."""
    if made:
        with contextlib.suppress(OSError):
            dest.rmdir()  # fails, harmlessly, when anything is in it


def _verify_prefix(
    remote: Remote, url: str, path: Path, chunk_bytes: int, size: int
) -> tuple[int, Any]:
    """Length of the leading chunks of a partial file that the source's prefix digests
    confirm, and the running SHA-256 over exactly those bytes.

    Asks the source for its SHA-256 of the file up to the end of each chunk the
    partial copy covers and compares them with the local bytes hashed in one pass
    (a flipped byte at rest stops the prefix there); truncation is the caller's.
    """
    h = hashlib.sha256()
    if not path.exists():
        return 0, h
    have = min(path.stat().st_size, size)
    upto = have if have == size else have - have % chunk_bytes
    if upto <= 0:
        return 0, h
    try:
        wanted = json.loads(remote.get_bytes(f"{url}?chunk={chunk_bytes}&hashes={upto}"))
    except (TransferError, ValueError):
        return 0, h
    if not isinstance(wanted, list):
        return 0, h
    good = 0
    with open(path, "rb") as fh:
        for want in wanted:
            data = fh.read(min(chunk_bytes, upto - good))
            if not data:
                break
            before = h.copy()
            h.update(data)
            if h.hexdigest() != want:
                return good, before
            good += len(data)
    return good, h


def _sync_close(storage: Storage, fh) -> None:
    try:
        storage.sync(fh)
    finally:
        fh.close()


def _buffers(chunk_bytes: int, size: int) -> list[mmap.mmap]:
    """Page-aligned receive buffers (anonymous mappings; ``O_DIRECT`` needs the alignment):
    three for chunks up to 16 MiB (one filling, one being written, one spare), else two."""
    n = min(chunk_bytes, size)
    n += -n % DIRECT_ALIGN_BYTES
    return [mmap.mmap(-1, max(n, DIRECT_ALIGN_BYTES))
            for _ in range(3 if chunk_bytes <= 16 * 1024 * 1024 else 2)]


def _pull_file(pull: _Pull, staging: Path, name: str, rec: dict[str, Any],
               result: TransferResult, done: int, syncer: ThreadPoolExecutor,
               syncs: list) -> int:
    """Fetch file ``name`` (its manifest record ``rec``) of ``result``'s checkpoint into
    ``staging``; ``done``: the checkpoint's bytes verified before it; return the running
    count of verified bytes. Its final fsync (and close) is left running on ``syncer``,
    its future added to ``syncs``.

    One thread receives a chunk into a buffer and checks it (the SHA-256 of the file
    so far against the sender's); a helper thread writes the verified chunk while the
    next one arrives; another starts the write-back every :data:`FLUSH_BYTES`.
    """
    remote, storage, progress = pull.remote, pull.storage, pull.progress
    chunk_bytes, max_retries, total = pull.chunk_bytes, pull.max_retries, result.total_bytes
    base = pull.url(result.checkpoint)
    size = rec["size_bytes"]
    path = staging / name
    url = f"{base}/{quote(name)}"
    failures = 0
    for attempt in range(2):  # a whole-file hash mismatch earns one clean re-fetch
        if attempt == 0:
            offset, file_hash = _verify_prefix(remote, url, path, chunk_bytes, size)
        else:
            offset, file_hash = 0, hashlib.sha256()
        result.reused_bytes += offset
        start_done = done
        done += offset
        if progress:
            progress(done, total)
        writer = ThreadPoolExecutor(1, thread_name_prefix="greenhop-write")
        flusher = ThreadPoolExecutor(1, thread_name_prefix="greenhop-flush")
        flushing = None
        unflushed = 0
        bufs = _buffers(chunk_bytes, size) if offset < size else []
        writing: list = [None] * len(bufs)  # the write still using each buffer
        k = 0
        fh = storage.open_at(path, offset)
        try:
            while offset < size:
                if failures > max_retries:
                    raise _Resumable(
                        f"{name} of {base} failed {failures} times at byte {offset} "
                        f"({result.events[-1] if result.events else 'no detail'}); the link may "
                        "be down; the verified part is kept and a new pull resumes from it"
                    )
                try:
                    resp = remote.raw_stream(
                        f"{url}?chunk={chunk_bytes}", headers={"Range": f"bytes={offset}-"}
                    )
                except (OSError, httpx.HTTPError) as exc:
                    failures += 1
                    result.retries += 1
                    result.events.append(f"connect failed: {why(exc)}")
                    time.sleep(min(1.0, 0.05 * failures))
                    continue
                try:
                    if resp.status_code != 206:
                        try:
                            detail = message(resp.read())
                        except (OSError, httpx.HTTPError):
                            detail = "(no body)"
                        if resp.status_code in (502, 503):  # busy or broken: try again
                            failures += 1
                            result.retries += 1
                            result.events.append(f"answered {resp.status_code}: {detail}")
                            time.sleep(min(1.0, 0.05 * failures))
                            continue
                        if resp.status_code in (404, 409):
                            # a file the manifest lists is missing, a symlink (404) or not
                            # its listed size (409): this checkpoint is bad at the source
                            raise CorruptAtSource(
                                f"{name} of {base} is listed in its manifest but the source "
                                f"answered {resp.status_code} ({detail}): the source "
                                "checkpoint is corrupt at rest; nothing was committed")
                        raise TransferError(
                            f"{remote.url}{url} answered {resp.status_code} to a chunked range "
                            f"request: {detail}"
                        )
                    while offset < size:
                        want = min(chunk_bytes, size - offset)
                        if writing[k] is not None:  # the buffer's last write must be done
                            writing[k].result()
                            writing[k] = None
                        view = memoryview(bufs[k])[:want]
                        head = resp.read(8)
                        got = resp.readinto(view) if len(head) == 8 else 0
                        digest = resp.read(32) if got == want else b""
                        result.wire_bytes += got
                        if len(head) == 8 and struct.unpack(">Q", head)[0] != want:
                            # mangled in transit, or the file changed size at the source:
                            # ask again; the agent answers 409 if the size is really wrong
                            failures += 1
                            result.retries += 1
                            result.events.append(f"bad frame length at {offset} of {name}")
                            break
                        if len(digest) != 32:
                            failures += 1
                            result.retries += 1
                            result.events.append(f"connection dropped at {offset + got}")
                            break
                        before = file_hash.copy()
                        file_hash.update(view)
                        if file_hash.digest() != digest:
                            file_hash = before
                            result.bad_chunks += 1
                            failures += 1
                            result.events.append(
                                f"chunk at {offset} of {name} failed its SHA-256; fetching it again"
                            )
                            break
                        writing[k] = writer.submit(fh.write, view)
                        k = (k + 1) % len(bufs)
                        unflushed += want
                        if unflushed >= FLUSH_BYTES and (flushing is None or flushing.done()):
                            # write back while receiving, so the final fsync is short
                            flushing = flusher.submit(storage.write_back, fh)
                            unflushed = 0
                        offset += want
                        result.received_bytes += want
                        done += want
                        if progress:
                            progress(done, total)
                finally:
                    resp.close()
            for w in writing:
                if w is not None:
                    w.result()
            if flushing is not None:
                flushing.result()
            syncs.append(syncer.submit(_sync_close, storage, fh))
            fh = None
        finally:
            writer.shutdown()  # waits: the writes use the buffers and the file
            flusher.shutdown()
            if fh is not None:
                fh.close()
        if file_hash.hexdigest() == rec["sha256"]:
            return done
        result.events.append(f"{name}: whole-file SHA-256 mismatch")
        done = start_done
    raise CorruptAtSource(
        f"{name} of {base} does not match its manifest SHA-256 even after a clean re-fetch: "
        "the source checkpoint is corrupt at rest; nothing was committed"
    )


def fetch_via(
    dest_agent: str,
    source_agent: str,
    job: str,
    checkpoint: str = "latest",
    timeout_s: float = 3600.0,
    *,
    accept: list[str] | None = None,
    credentials: Credentials | None = None,
) -> dict[str, Any]:
    """Ask the agent at ``dest_agent`` to pull ``job``'s checkpoint from ``source_agent``
    (a push, seen from the source); ``accept``: see :func:`pull_checkpoint`."""
    remote = Remote(dest_agent, timeout_s, credentials)
    req: dict[str, Any] = {"source": source_agent, "checkpoint": checkpoint}
    if accept is not None:
        req["accept"] = list(accept)
    body = json.dumps(req).encode()
    try:
        resp = remote.client.post(f"/v1/jobs/{quote(job)}/fetch", content=body,
                                  headers={"Content-Type": "application/json"})
        data = resp.content
    except (OSError, httpx.HTTPError) as exc:
        raise TransferError(
            f"cannot reach the agent at {remote.url}: {why(exc)}; is it running?"
        ) from None
    finally:
        remote.close()
    if resp.status_code != 200:
        raise TransferError(f"{remote.url} could not fetch {job}/{checkpoint}: {message(data)}")
    return json.loads(data)
