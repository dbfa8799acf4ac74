"""Files written atomically and hashed while written: a temporary name, the data hashed
(SHA-256 and BLAKE3) by a helper thread as it goes to the disk, fsync, rename, fsync of the
directory. What a checkpoint's files and a received transfer are written with; the
:class:`FileRecord` it returns is the file's line in the manifest."""

from __future__ import annotations

import contextlib
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

BLOCK_BYTES = 8 * 1024 * 1024
"""One write, and one block handed to the hashing thread [B]."""
_WRITE_BACK_BYTES = 64 * 1024 * 1024
"""Bytes written before the write-back of a file is started [B] (the final fsync then has
little left to do)."""


def fsync_dir(path: Path) -> None:
    """fsync a directory so renames and new entries in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class FileRecord:
    """What the manifest says about one file: size [B], SHA-256 and BLAKE3 (hex)."""

    name: str
    size_bytes: int
    sha256: str
    blake3: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size_bytes": self.size_bytes, "sha256": self.sha256}
        if self.blake3 is not None:
            out["blake3"] = self.blake3
        return out


class AtomicFileWriter:
    """Write one file atomically while a helper thread computes its SHA-256 and BLAKE3.

    Data goes to ``.name.tmp``; :meth:`close` starts its fsync; :meth:`commit` waits
    for the hash and renames the file into place. The caller's buffers are
    hashed without copying, so they must stay unchanged until :meth:`commit`.
    Several writers may be open at once: their hashes then run in parallel
    (hashlib releases the GIL), which is how a multi-file checkpoint is
    written at disk speed although one SHA-256 stream is slower than the disk.
    """

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self.tmp = directory / f".{name}.tmp"
        self.size_bytes = 0
        self._sha256 = hashlib.sha256()
        self._blake3 = blake3.blake3()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="greenhop-hash")
        self._pending: list = []
        self._flusher: ThreadPoolExecutor | None = None
        self._flushing = None
        self._closing = None
        self._unflushed = 0
        self._fd: int | None = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def write(self, data) -> None:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), BLOCK_BYTES):
            block = view[start : start + BLOCK_BYTES]
            self._pending.append(self._pool.submit(self._hash, block))
            written = 0
            while written < len(block):
                written += os.write(self._fd, block[written:])
            self.size_bytes += len(block)
            self._unflushed += len(block)
            if self._unflushed >= _WRITE_BACK_BYTES and (
                self._flushing is None or self._flushing.done()
            ):  # start the write-back now, so the final fsync has little left to do
                if self._flusher is None:
                    self._flusher = ThreadPoolExecutor(1, thread_name_prefix="greenhop-flush")
                self._flushing = self._flusher.submit(os.fdatasync, self._fd)
                self._unflushed = 0

    def _hash(self, block) -> None:
        self._sha256.update(block)
        self._blake3.update(block)

    def close(self) -> None:
        """Start the final fsync and close of the temporary file in a helper thread.

        Returns at once, so the caller writes the next file while this one
        reaches the disk; :meth:`commit` waits for it.
        """
        if self._fd is not None:
            fd, self._fd = self._fd, None
            if self._flusher is None:
                self._flusher = ThreadPoolExecutor(1, thread_name_prefix="greenhop-flush")
            self._closing = self._flusher.submit(self._sync_close, fd)

    @staticmethod
    def _sync_close(fd: int) -> None:
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def commit(self) -> FileRecord:
        """Wait for the fsync and the digests, rename the file into place; return its record."""
        self.close()
        try:
            self._closing.result()
        finally:
            self._flusher.shutdown()
        for f in self._pending:
            f.result()
        self._pool.shutdown()
        os.replace(self.tmp, self.directory / self.name)
        return FileRecord(self.name, self.size_bytes, self._sha256.hexdigest(),
                          self._blake3.hexdigest())

    def abort(self) -> None:
        """Drop the temporary file after a failure."""
        with contextlib.suppress(OSError):
            self.close()
            self._closing.result()
        if self._flusher is not None:
            self._flusher.shutdown()
        self._pool.shutdown(cancel_futures=True)
        self.tmp.unlink(missing_ok=True)


def write_atomic(directory: Path, name: str, pieces, *, sync_dir: bool = True) -> FileRecord:
    """Write ``pieces`` (bytes-like buffers, in order) to ``directory/name`` atomically.

    Temp file ``.name.tmp``, hash while writing, fsync, rename, fsync the
    directory. Returns the :class:`FileRecord` for the manifest.
    """
    writer = AtomicFileWriter(directory, name)
    try:
        for piece in pieces:
            writer.write(piece)
        record = writer.commit()
    except BaseException:
        writer.abort()
        raise
    if sync_dir:
        fsync_dir(directory)
    return record
