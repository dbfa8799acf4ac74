"""Where a pull's received bytes go on disk: :class:`Storage` (the receiver's file system,
the seam tests subclass to inject a full disk) and :class:`ReceiveFile` (a file being
received, written with ``O_DIRECT`` where the file system and the alignment allow)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import BinaryIO

from greenhop.workload import checkpoint as ck
from greenhop.workload.atomic_files import fsync_dir, write_atomic

DIRECT_ALIGN_BYTES = 4096
"""Alignment of offsets, lengths and buffers of ``O_DIRECT`` writes [B]."""


class Storage:
    """Where the receiver writes (the real local file system). Subclass to inject faults."""

    def free_bytes(self, path: Path) -> int:
        """Free space on the file system holding ``path`` [B]."""
        return shutil.disk_usage(path).free

    def open_at(self, path: Path, offset: int) -> BinaryIO:
        """Open ``path`` for writing, truncated to ``offset`` bytes, positioned there
        (a :class:`ReceiveFile`)."""
        return ReceiveFile(path, offset)  # type: ignore[return-value]

    def write_back(self, fh: BinaryIO) -> None:
        """Start writing ``fh``'s data to disk (from a helper thread, during the transfer)."""
        os.fdatasync(fh.fileno())

    def sync(self, fh: BinaryIO) -> None:
        fh.flush()
        os.fsync(fh.fileno())

    def write_file(self, directory: Path, name: str, data: bytes) -> None:
        write_atomic(directory, name, [data])

    def commit(self, staging: Path, final: Path) -> None:
        """Atomically move the verified ``staging`` directory to ``final``.

        What ``final`` held is replaced only when it is this very checkpoint (the same
        manifest: a pull done again); anything else there (another checkpoint under this
        name, a file) is kept as ``foreign-<name>-<ns>`` beside it, never deleted."""
        fsync_dir(staging)
        old = None
        if final.exists() or final.is_symlink():
            if _same_manifest(final, staging):
                old = final.with_name(f".old-{final.name}-{os.getpid()}")
                os.rename(final, old)
            else:
                ck.set_aside(final, "foreign")
        os.rename(staging, final)
        fsync_dir(final.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _same_manifest(a: Path, b: Path) -> bool:
    """Whether directories ``a`` and ``b`` hold byte-identical manifests (the same
    checkpoint)."""
    try:
        return (a.is_dir() and not a.is_symlink()
                and (a / ck.MANIFEST).read_bytes() == (b / ck.MANIFEST).read_bytes())
    except OSError:
        return False


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while len(view):
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


class ReceiveFile:
    """A file being received, written sequentially from ``offset``.

    Writes whose position and length are multiples of :data:`DIRECT_ALIGN_BYTES`
    (and whose buffer is page-aligned, as the receiver's are) go through a second
    descriptor opened with ``O_DIRECT``: straight from the buffer to the disk,
    without filling the page cache. On the development VM a buffered write of new
    pages plus its write-back costs about 2 CPU-s/GB and ``O_DIRECT`` about 0.1
    (benchmarks/README.md, (b)), which decides the transfer rate on a busy
    machine. A file system that refuses ``O_DIRECT`` (``EINVAL``), and the
    unaligned tail of a file, get plain buffered writes. Durability is the
    caller's :meth:`Storage.sync` (``fsync``) either way.
    """

    def __init__(self, path: Path, offset: int) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        self._direct: int | None = None
        try:
            os.ftruncate(self._fd, offset)
            if hasattr(os, "O_DIRECT"):
                try:
                    self._direct = os.open(path, os.O_WRONLY | os.O_DIRECT)
                except OSError:
                    self._direct = None
        except BaseException:
            os.close(self._fd)
            raise
        self._pos = offset

    def fileno(self) -> int:
        return self._fd

    def write(self, data) -> int:
        """Write ``data`` at the current position; return its length [B]."""
        view = memoryview(data).cast("B")
        n = len(view)
        cut = 0
        if self._direct is not None and self._pos % DIRECT_ALIGN_BYTES == 0:
            cut = n - n % DIRECT_ALIGN_BYTES
        if cut:
            try:
                _pwrite_all(self._direct, view[:cut], self._pos)
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # ENOSPC and friends are the caller's
                    raise
                self._close_direct()  # not for this file system or buffer: buffered from now
                cut = 0
        if cut < n:
            _pwrite_all(self._fd, view[cut:], self._pos + cut)
        self._pos += n
        return n

    def flush(self) -> None:
        """Nothing is buffered in user space."""

    def _close_direct(self) -> None:
        if self._direct is not None:
            fd, self._direct = self._direct, None
            os.close(fd)

    def close(self) -> None:
        self._close_direct()
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)
