"""Files read back verified: each file's bytes read with several blocks in flight (with
``O_DIRECT`` where the file system takes it) while other threads hash them, and checked
against the manifest's size and digest before anything is built from them."""

from __future__ import annotations

import errno
import hashlib
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import blake3
import numpy as np

from greenhop.workload.checkpoint_errors import IncompleteCheckpoint

_DIRECT_ALIGN = 4096
_DIRECT_MIN_BYTES = 4 * 1024 * 1024
"""Files at least this large [B] are read with ``O_DIRECT`` (see :class:`VerifiedReader`)."""
_READ_BLOCK_BYTES = 4 * 1024 * 1024
"""One positional read of a checkpoint file [B] (a multiple of the ``O_DIRECT`` alignment)."""
_READ_DEPTH = 4
"""Reads of one file in flight at once [-]."""


def at_rest_digest(record: dict[str, Any] | None) -> tuple[str, Any, str | None]:
    """``(name, fresh hash object, expected hex digest)`` of the digest a load checks for a
    manifest ``record``: BLAKE3 where the record has it, else SHA-256 (manifests from
    before BLAKE3); the expected digest is None without a record."""
    if record is not None and "blake3" in record:
        return "BLAKE3", blake3.blake3(), record["blake3"]
    return "SHA-256", hashlib.sha256(), None if record is None else record["sha256"]


def read_verified(path: Path, record: dict[str, Any] | None, where: str):
    """A whole file's bytes as a uint8 array, hashed while read and compared with the
    manifest ``record`` (one file through a :class:`VerifiedReader`)."""
    with VerifiedReader() as reader:
        return reader.submit(path, record, where).result()


class VerifiedReader:
    """Reads files one after another, several blocks in flight, while ``lanes`` threads
    hash them.

    A checkpoint load is bounded by the disk and by hashing (BLAKE3 about 2.7 GB/s per
    core on the development VM, SHA-256 for manifests without BLAKE3 about 1.4 GB/s, against
    a disk that reads 2.3 GB/s). The files are read in order, each
    as :data:`_READ_DEPTH` positional reads of :data:`_READ_BLOCK_BYTES` in flight (one
    synchronous stream left that disk idle between requests: 1.8-2.0 GB/s against 2.4-2.6
    with four 4 MiB reads in flight, and several files read at once made it swing by 2x);
    each file is hashed on its own lane (file ``i`` on lane ``i mod lanes``, its blocks
    in order), so every core hashes while the reads run ahead. Files of
    :data:`_DIRECT_MIN_BYTES` or more are read with ``O_DIRECT`` into a page-aligned
    buffer, straight from the disk into the array the tensors use: on the development VM
    a read through the page cache cost about 3 CPU-s/GB against 1 (SHA-256 included;
    benchmarks/README.md, (a)). A file system that refuses ``O_DIRECT`` gets plain reads.
    :meth:`submit` returns a future of the verified array; a size or digest mismatch
    (:func:`at_rest_digest`) is an :class:`IncompleteCheckpoint` there.

    Args:
        lanes: hashing threads (default: one per core, at most 4) [-].
    """

    def __init__(self, lanes: int | None = None) -> None:
        n = lanes if lanes is not None else max(1, min(4, os.cpu_count() or 1))
        self._order = ThreadPoolExecutor(1, thread_name_prefix="greenhop-read")
        self._io = ThreadPoolExecutor(_READ_DEPTH, thread_name_prefix="greenhop-pread")
        self._lanes = [ThreadPoolExecutor(1, thread_name_prefix="greenhop-hash")
                       for _ in range(n)]
        self._files = 0

    def __enter__(self) -> VerifiedReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Wait for the files submitted and stop the threads."""
        self._order.shutdown(wait=True)
        self._io.shutdown(wait=True)
        for lane in self._lanes:
            lane.shutdown(wait=True)

    def submit(self, path: Path, record: dict[str, Any] | None, where: str) -> Future:
        """Queue ``path`` for reading; the future holds its bytes once hashed and checked."""
        lane = self._lanes[self._files % len(self._lanes)]
        self._files += 1
        out: Future = Future()

        def read() -> None:
            try:
                self._read(path, record, where, lane, out)
            except BaseException as exc:  # delivered to the caller through the future
                if not out.done():
                    out.set_exception(exc)

        self._order.submit(read)
        return out

    def _read(self, path: Path, record, where: str, lane: ThreadPoolExecutor, out: Future) -> None:
        size = path.stat().st_size
        if record is not None and size != record["size_bytes"]:
            raise IncompleteCheckpoint(
                f"{where}: size {size} B differs from the manifest's {record['size_bytes']} B"
            )
        algo, h, want = at_rest_digest(record)
        got = (_read_direct(path, size, lane, self._io, h) if size >= _DIRECT_MIN_BYTES
               else None)
        if got is None:
            algo, h, want = at_rest_digest(record)  # a refused O_DIRECT may have fed it blocks
            buf = np.empty(size, dtype=np.uint8)  # no zero-fill: every byte is read into it
            fd = os.open(path, os.O_RDONLY)
            try:
                pos = _read_hashed(fd, buf, size, lane, self._io, h)
            finally:
                os.close(fd)
        else:
            buf, pos = got

        def check() -> None:  # on the lane, after the file's last block is hashed
            if pos != size:
                out.set_exception(IncompleteCheckpoint(
                    f"{where}: file shrank while reading ({pos} of {size} B)"))
            elif want is not None and h.hexdigest() != want:
                out.set_exception(IncompleteCheckpoint(
                    f"{where}: {algo} mismatch (corrupt at rest); the checkpoint is not loaded"))
            else:
                out.set_result(buf)

        lane.submit(check)


def _read_hashed(fd: int, buf, size: int, lane: ThreadPoolExecutor, io: ThreadPoolExecutor,
                 h) -> int:
    """Fill the first ``size`` bytes of ``buf`` from ``fd`` with positional reads of
    :data:`_READ_BLOCK_BYTES`, :data:`_READ_DEPTH` in flight on ``io``; each block, once
    read, is queued in file order on ``lane`` for hashing into ``h``. Return the bytes
    read (less than ``size`` when the file shrank). The last block's view runs to the end of
    ``buf`` (a padded buffer keeps an ``O_DIRECT`` read aligned)."""
    view = memoryview(buf).cast("B")
    starts = iter(range(0, size, _READ_BLOCK_BYTES))
    flight: deque = deque()

    def issue() -> None:
        start = next(starts, None)
        if start is not None:
            block = view[start : start + _READ_BLOCK_BYTES]
            flight.append((start, io.submit(os.preadv, fd, [block], start)))

    for _ in range(_READ_DEPTH):
        issue()
    pos = 0
    try:
        while flight:
            start, read = flight.popleft()
            n = min(read.result(), size - start)  # an O_DIRECT read may pass the end
            lane.submit(h.update, view[start : start + n])
            pos = start + n
            if n < min(_READ_BLOCK_BYTES, size - start):
                break  # the file shrank: stop at its end
            issue()
    finally:
        for _, read in flight:  # no read may still write into the buffer on return
            read.exception()
    return pos


def _read_direct(path: Path, size: int, lane: ThreadPoolExecutor, io: ThreadPoolExecutor, h):
    """``(array, bytes read)`` read with ``O_DIRECT`` (hashed into ``h`` on ``lane``), or
    None where the file system does not take it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except (OSError, AttributeError):  # EINVAL: not on this file system; no O_DIRECT here
        return None
    try:
        padded = size + (-size % _DIRECT_ALIGN)  # whole blocks, the last one partly past EOF
        raw = np.empty(padded + _DIRECT_ALIGN, dtype=np.uint8)
        start = (-raw.ctypes.data) % _DIRECT_ALIGN
        buf = raw[start : start + padded]
        try:
            pos = _read_hashed(fd, buf, size, lane, io, h)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            return None  # the blocks queued so far fed a hash nobody reads
    finally:
        os.close(fd)
    return buf[:size], min(pos, size)
