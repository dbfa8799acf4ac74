"""Pull a checkpoint from a site agent: chunked, verified while streaming, resumable.

For every file listed in the remote manifest the receiver

1. re-verifies what a previous attempt left in the staging directory, chunk by
   chunk against the source's chunk SHA-256s, and keeps the verified prefix (a
   flipped byte at rest is found here);
2. asks for the rest in frames (``?chunk=C`` with ``Range: bytes=<offset>-``,
   see :mod:`greenhop.runtime.agent`): each chunk arrives with the SHA-256 the
   sender computed as it read it; a chunk that does not match (a flipped byte in
   transit) is discarded and fetched again, a dropped connection resumes from
   the last verified chunk (at most one chunk is sent twice);
3. keeps the whole file's SHA-256 running over the same bytes (hash while
   streaming, in a helper thread) and compares it with the manifest's at the
   end; a mismatch means the source changed at rest: the file is fetched once
   more from scratch, then the pull fails.

Only when every file verifies is the manifest written and the staging
directory renamed into place: the destination never holds a partial or
corrupt checkpoint under a ``step-*`` name. The source is only read. When
retries run out (link down) the staging directory ``.incoming-<name>`` keeps
its verified prefix and the next pull resumes from it; on any other failure
(disk full, a checkpoint that does not verify) it is removed.
Destination writes go through :class:`Storage` so tests can inject a full disk.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import struct
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import httpx

from greenhop.core.errors import CheckpointError, ConfigError, TransferError
from greenhop.core.units import format_size
from greenhop.runtime.agent import MAX_CHUNK_BYTES, MIN_CHUNK_BYTES
from greenhop.runtime.auth import Credentials
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


class Storage:
    """Where the receiver writes (the real local file system). Subclass to inject faults."""

    def free_bytes(self, path: Path) -> int:
        """Free space on the file system holding ``path`` [B]."""
        return shutil.disk_usage(path).free

    def open_at(self, path: Path, offset: int) -> BinaryIO:
        """Open ``path`` for writing, truncated to ``offset`` bytes, positioned there."""
        fh = open(path, "r+b" if path.exists() else "w+b")  # noqa: SIM115 - returned to caller
        fh.truncate(offset)
        fh.seek(offset)
        return fh

    def write_back(self, fh: BinaryIO) -> None:
        """Start writing ``fh``'s data to disk (from a helper thread, during the transfer)."""
        os.fdatasync(fh.fileno())

    def sync(self, fh: BinaryIO) -> None:
        fh.flush()
        os.fsync(fh.fileno())

    def write_file(self, directory: Path, name: str, data: bytes) -> None:
        ck.write_atomic(directory, name, [data])

    def commit(self, staging: Path, final: Path) -> None:
        """Atomically move the verified ``staging`` directory to ``final``."""
        ck.fsync_dir(staging)
        old = None
        if final.exists():
            old = final.with_name(f".old-{final.name}-{os.getpid()}")
            os.rename(final, old)
        os.rename(staging, final)
        ck.fsync_dir(final.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


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


class _Remote:
    """HTTP(S) access to one agent over one pooled httpx client (keep-alive), carrying the
    run's token; over HTTPS the agent's certificate must chain to the run's CA."""

    def __init__(self, url: str, timeout_s: float,
                 credentials: Credentials | None = None) -> None:
        parts = urlsplit(url if "//" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"agent URL {url!r} must look like https://host:port")
        creds = credentials or Credentials()
        self.creds = creds
        self.scheme, self.hostname = parts.scheme, parts.hostname
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.port = port
        self.url = f"{parts.scheme}://{host}:{port}"
        self.timeout_s = timeout_s
        self.client = httpx.Client(
            base_url=self.url, headers=creds.headers(),
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            verify=creds.verify() if parts.scheme == "https" else True,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> _Remote:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stream(self, method: str, path: str, headers: dict[str, str] | None = None,
               body: bytes | None = None):
        """Send a request; the response body is read later (close the response)."""
        req = self.client.build_request(method, path, headers=headers, content=body)
        return self.client.send(req, stream=True)

    def raw_stream(self, path: str, headers: dict[str, str]) -> _RawStream:
        """A GET whose body is read in exact lengths straight off the socket: the bulk path
        of a transfer (the standard library's buffered reader does in C what an h11 parse
        per socket read costs in Python; measured twice the client CPU at 1 Gbit/s)."""
        return _RawStream(self, path, headers)

    def get_bytes(self, path: str, limit_bytes: int = 64 * 1024 * 1024) -> bytes:
        try:
            resp = self.stream("GET", path)
        except (OSError, httpx.HTTPError) as exc:
            raise TransferError(
                f"cannot reach the agent at {self.url}: {_why(exc)}; is it running?"
            ) from None
        try:
            data = bytearray()
            for piece in resp.iter_raw():
                data += piece
                if len(data) > limit_bytes:
                    raise TransferError(f"{self.url}{path} is larger than {limit_bytes} B")
        except (OSError, httpx.HTTPError) as exc:
            raise TransferError(f"connection to {self.url} broke reading {path}: {_why(exc)}") \
                from None
        finally:
            resp.close()
        if resp.status_code != 200:
            raise TransferError(f"{self.url}{path} answered {resp.status_code}: "
                                f"{_message(bytes(data))}")
        return bytes(data)


class _RawStream:
    """One streamed GET over ``http.client`` (TLS with the run's CA, the run's token)."""

    def __init__(self, remote: _Remote, path: str, headers: dict[str, str]) -> None:
        import http.client
        import ssl

        if remote.scheme == "https":
            verify = remote.creds.verify()
            ctx = verify if isinstance(verify, ssl.SSLContext) else \
                ssl.create_default_context()
            self.conn = http.client.HTTPSConnection(remote.hostname, remote.port,
                                                    timeout=remote.timeout_s, context=ctx)
        else:
            self.conn = http.client.HTTPConnection(remote.hostname, remote.port,
                                                   timeout=remote.timeout_s)
        try:
            self.conn.request("GET", path, headers={**remote.creds.headers(), **headers})
            self.resp = self.conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            raise httpx.TransportError(_why(exc)) from None
        self.status_code = self.resp.status

    def read(self, n: int = -1) -> bytes:
        import http.client

        try:
            return self.resp.read() if n < 0 else self.resp.read(n)
        except (OSError, http.client.HTTPException):
            return b""

    def close(self) -> None:
        self.conn.close()


class _Reader:
    """Exact-length reads from a streamed response body (b"" or short when it breaks)."""

    def __init__(self, resp) -> None:
        # no chunk size: httpx would hold back (and lose on a drop) a partial chunk
        self._it = resp.iter_raw()
        self._buf = b""
        self._pos = 0

    def read(self, n: int) -> bytes:
        have = len(self._buf) - self._pos
        if have >= n:
            out = self._buf[self._pos: self._pos + n]
            self._pos += n
            return out
        parts = [self._buf[self._pos:]]
        self._buf, self._pos = b"", 0
        while have < n:
            try:
                piece = next(self._it)
            except (StopIteration, OSError, httpx.HTTPError):
                return b"".join(parts)
            parts.append(piece)
            have += len(piece)
        data = b"".join(parts)
        self._buf, self._pos = data, n
        return data[:n]


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _message(data: bytes) -> str:
    try:
        return str(json.loads(data).get("error", data[:200]))
    except (ValueError, AttributeError):
        return repr(data[:200])


def list_remote(url: str, job: str, timeout_s: float = 30.0, *,
                credentials: Credentials | None = None) -> list[dict[str, Any]]:
    """The complete checkpoints the agent at ``url`` holds for ``job``, newest first."""
    with _Remote(url, timeout_s, credentials) as remote:
        return _list(remote, job)


def _list(remote: _Remote, job: str) -> list[dict[str, Any]]:
    try:
        out = json.loads(remote.get_bytes(f"/v1/jobs/{quote(job)}/checkpoints"))
    except ValueError:
        raise TransferError(f"{remote.url} sent a checkpoint list that is not JSON") from None
    if not isinstance(out, list):
        raise TransferError(f"{remote.url} sent a checkpoint list that is not a list")
    return out


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
    with _Remote(source, timeout_s, credentials) as remote:
        return _pull(remote, job, Path(dest_dir), checkpoint, storage, max_retries, progress,
                     check_space, chunk_bytes, None if accept is None else set(accept))


def _pull(remote: _Remote, job: str, dest: Path, checkpoint: str, storage: Storage,
          max_retries: int, progress: Progress | None, check_space: bool, chunk_bytes: int,
          accepted: set[str] | None) -> TransferResult:
    if checkpoint != "latest":
        if ck.parse_step_dir(checkpoint) is None:
            raise ConfigError(
                f"checkpoint name {checkpoint!r} must be 'latest' or step-NNNNNNNNN")
        return _pull_one(remote, job, dest, checkpoint, storage, max_retries, progress,
                         check_space, chunk_bytes, accepted, [])
    entries = _list(remote, job)
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
            return _pull_one(remote, job, dest, name, storage, max_retries, progress,
                             check_space, chunk_bytes, accepted, skipped)
        except (CorruptAtSource, ForeignCheckpoint) as exc:
            skipped.append(f"{name}: {exc}")
    raise TransferError(
        f"the agent at {remote.url} has no intact checkpoint of job {job!r} the controller "
        f"recorded; tried {len(skipped)}: " + "; ".join(skipped)
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


def _pull_one(remote: _Remote, job: str, dest: Path, checkpoint: str, storage: Storage,
              max_retries: int, progress: Progress | None, check_space: bool,
              chunk_bytes: int, accepted: set[str] | None,
              skipped: list[str]) -> TransferResult:
    t0 = time.monotonic()
    base = f"/v1/jobs/{quote(job)}/checkpoints/{checkpoint}"
    mbytes = remote.get_bytes(f"{base}/{ck.MANIFEST}")
    digest = hashlib.sha256(mbytes).hexdigest()
    if accepted is not None and digest not in accepted:
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
    if final.is_dir():
        try:
            if ck.verify_checkpoint(final) == manifest:
                result.skipped = True
                result.elapsed_s = time.monotonic() - t0
                return result
        except CheckpointError:
            pass
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TransferError(f"cannot create {dest}: {exc.strerror}") from None
    staging = dest / f".incoming-{checkpoint}"
    try:
        _clean_staging(staging, files)
    except OSError as exc:
        raise TransferError(f"cannot prepare the staging directory {staging}: "
                            f"{exc.strerror}") from None
    try:
        if check_space:
            have = sum((staging / n).stat().st_size for n in files if (staging / n).exists())
            free = storage.free_bytes(dest)
            if free < total - have:
                raise TransferError(
                    f"destination disk full: {dest} has {format_size(free)} free but checkpoint "
                    f"{job}/{checkpoint} needs {format_size(total - have)} more; "
                    "free space and retry"
                )
        done = 0
        for name in sorted(files):
            done = _pull_file(
                remote,
                base,
                staging,
                name,
                files[name],
                chunk_bytes,
                storage,
                max_retries,
                result,
                done,
                total,
                progress,
            )
        storage.write_file(staging, ck.MANIFEST, mbytes)
        _clean_staging(staging, {**files, ck.MANIFEST: None})  # only listed files commit
        try:
            ck.verify_checkpoint(staging, hashes=False)  # hashes were checked while streaming
        except CheckpointError as exc:
            raise TransferError(
                f"checkpoint {job}/{checkpoint} did not verify after transfer: {exc}"
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
    result.elapsed_s = time.monotonic() - t0
    return result


def _verify_prefix(
    remote: _Remote, url: str, path: Path, chunk_bytes: int, size: int, file_hash
) -> int:
    """Length of the leading chunks of a partial file that match the source's chunk hashes.

    Asks the source for the SHA-256s of the chunks the partial copy covers and
    compares them with the local bytes (a flipped byte at rest stops the prefix
    there). Feeds the kept bytes to ``file_hash``; truncation is the caller's.
    """
    if not path.exists():
        return 0
    have = min(path.stat().st_size, size)
    upto = have if have == size else have - have % chunk_bytes
    if upto <= 0:
        return 0
    try:
        wanted = json.loads(remote.get_bytes(f"{url}?chunk={chunk_bytes}&hashes={upto}"))
    except (TransferError, ValueError):
        return 0
    good = 0
    with open(path, "rb") as fh:
        for want in wanted:
            data = fh.read(min(chunk_bytes, upto - good))
            if not data or hashlib.sha256(data).hexdigest() != want:
                break
            file_hash.update(data)
            good += len(data)
    return good


def _read_exact(reader: _Reader, n: int) -> bytes:
    return reader.read(n)


def _pull_file(
    remote: _Remote,
    base: str,
    staging: Path,
    name: str,
    rec: dict[str, Any],
    chunk_bytes: int,
    storage: Storage,
    max_retries: int,
    result: TransferResult,
    done: int,
    total: int,
    progress: Progress | None,
) -> int:
    """Fetch one file into ``staging``; return the running count of verified bytes."""
    size = rec["size_bytes"]
    path = staging / name
    url = f"{base}/{quote(name)}"
    failures = 0
    for attempt in range(2):  # a whole-file hash mismatch earns one clean re-fetch
        file_hash = hashlib.sha256()
        offset = (
            _verify_prefix(remote, url, path, chunk_bytes, size, file_hash) if attempt == 0 else 0
        )
        result.reused_bytes += offset
        start_done = done
        done += offset
        if progress:
            progress(done, total)
        pool = ThreadPoolExecutor(1, thread_name_prefix="greenhop-sha256")
        flusher = ThreadPoolExecutor(1, thread_name_prefix="greenhop-flush")
        flushing = None
        unflushed = 0
        pending: list = []
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
                    result.events.append(f"connect failed: {_why(exc)}")
                    time.sleep(min(1.0, 0.05 * failures))
                    continue
                try:
                    if resp.status_code != 206:
                        try:
                            detail = _message(resp.read())
                        except (OSError, httpx.HTTPError):
                            detail = "(no body)"
                        if resp.status_code in (502, 503):  # busy or broken: try again
                            failures += 1
                            result.retries += 1
                            result.events.append(f"answered {resp.status_code}: {detail}")
                            time.sleep(min(1.0, 0.05 * failures))
                            continue
                        raise TransferError(
                            f"{remote.url}{url} answered {resp.status_code} to a chunked range "
                            f"request: {detail}"
                        )
                    reader = resp
                    while offset < size:
                        want = min(chunk_bytes, size - offset)
                        head = _read_exact(reader, 8)
                        data = _read_exact(reader, want) if len(head) == 8 else b""
                        digest = _read_exact(reader, 32) if len(data) == want else b""
                        result.wire_bytes += len(data)
                        if len(head) == 8 and struct.unpack(">Q", head)[0] != want:
                            raise TransferError(f"{remote.url}{url}: bad frame length at {offset}")
                        if len(digest) != 32:
                            failures += 1
                            result.retries += 1
                            result.events.append(f"connection dropped at {offset + len(data)}")
                            break
                        if hashlib.sha256(data).digest() != digest:
                            result.bad_chunks += 1
                            failures += 1
                            result.events.append(
                                f"chunk at {offset} of {name} failed its SHA-256; fetching it again"
                            )
                            break
                        fh.write(data)
                        unflushed += want
                        if unflushed >= FLUSH_BYTES and (flushing is None or flushing.done()):
                            # write back while receiving, so the final fsync is short
                            flushing = flusher.submit(storage.write_back, fh)
                            unflushed = 0
                        pending.append(pool.submit(file_hash.update, data))
                        if len(pending) > 8:
                            pending.pop(0).result()
                        offset += want
                        result.received_bytes += want
                        done += want
                        if progress:
                            progress(done, total)
                finally:
                    resp.close()
            for f in pending:
                f.result()
            if flushing is not None:
                flushing.result()
            storage.sync(fh)
        finally:
            flusher.shutdown()
            fh.close()
            pool.shutdown()
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
    remote = _Remote(dest_agent, timeout_s, credentials)
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
            f"cannot reach the agent at {remote.url}: {_why(exc)}; is it running?"
        ) from None
    finally:
        remote.close()
    if resp.status_code != 200:
        raise TransferError(f"{remote.url} could not fetch {job}/{checkpoint}: {_message(data)}")
    return json.loads(data)


def agent_health(url: str, timeout_s: float = 2.0, *,
                 credentials: Credentials | None = None) -> dict[str, Any]:
    """The agent's ``/v1/health`` answer; :class:`TransferError` when it does not answer."""
    with _Remote(url, timeout_s, credentials) as remote:
        return json.loads(remote.get_bytes("/v1/health"))


def set_peers(url: str, peers: list[str], *, credentials: Credentials | None = None,
              timeout_s: float = 10.0) -> None:
    """Tell the agent at ``url`` which agents belong to the run (the only ones it pulls
    from)."""
    with _Remote(url, timeout_s, credentials) as remote:
        try:
            resp = remote.client.put("/v1/peers", json={"urls": list(peers)})
        except (OSError, httpx.HTTPError) as exc:
            raise TransferError(f"cannot reach the agent at {remote.url}: {_why(exc)}") \
                from None
        if resp.status_code != 200:
            raise TransferError(f"{remote.url} refused its peers: {resp.status_code} "
                                f"{_message(resp.content)}")


def probe_agent(url: str, timeout_s: float = 1.0) -> str:
    """``"ok"`` when something answers as an agent at ``url`` (a 401 without the token
    counts: the agent is up), else why not. A liveness probe only: it sends no secret and
    trusts no certificate."""
    try:
        with httpx.Client(timeout=timeout_s, verify=False, trust_env=False) as client:
            resp = client.get(normalize_url_path(url, "/v1/health"))
    except (OSError, httpx.HTTPError) as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ok" if resp.status_code in (200, 401) else f"answered {resp.status_code}"


def normalize_url_path(url: str, path: str) -> str:
    parts = urlsplit(url if "//" in url else f"http://{url}")
    return f"{parts.scheme}://{parts.netloc}{path}"
