"""Output paths checked before any work starts.

Every command that writes a file or a directory calls :func:`output_file` or
:func:`output_dir` on its option first, so a path that cannot be written (an
existing file where a directory is wanted, a missing parent folder, a read-only
place such as ``/proc``, an image type that cannot be drawn) is refused with
one line naming the option, instead of a traceback after minutes of work whose
results are then lost.

Writability is probed by creating and removing a temporary file: permission
bits say nothing useful for root or for pseudo file systems.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from greenhop.core.errors import ConfigError
from greenhop.core.files import is_pipe_or_device

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
"""Image types every ``--plot``/``--out`` image option accepts (matplotlib draws each)."""


def _probe(folder: Path, option: str, path: Path) -> None:
    """Create and remove a temporary file in ``folder``; a failure names ``option``."""
    try:
        fd, name = tempfile.mkstemp(prefix=".greenhop-probe-", dir=folder)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{option} {path}: cannot write in {folder} ({reason})") from None
    os.close(fd)
    os.unlink(name)


def regular_file(path: str | Path, option: str) -> Path:
    """Refuse ``path`` given as ``option`` when it exists but is neither a regular file nor
    a directory: opening a FIFO blocks until someone writes to it, a device never ends.
    A missing path or a directory is left to the caller, which says what it wanted."""
    path = Path(path)
    if is_pipe_or_device(path):
        raise ConfigError(f"{option} {path}: not a regular file (a pipe or a device); "
                          "give the path of a file")
    return path


def _existing_ancestor(path: Path) -> Path:
    """The nearest folder above ``path`` (or ``path`` itself) that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()  # pragma: no cover - a relative path always has "." above it


def output_file(path: str | Path, option: str, *, suffixes: tuple[str, ...] = IMAGE_SUFFIXES,
                create_parents: bool = False) -> Path:
    """Check that the file ``path`` given as ``option`` can be written; return it as a Path.

    ``suffixes`` are the accepted extensions (lower case, with the dot). An existing file
    is overwritten later; an existing directory is refused. Without ``create_parents`` the
    parent folder must exist. Raises :class:`ConfigError` naming ``option``.
    """
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        what = "image type" if set(suffixes) <= set(IMAGE_SUFFIXES) else "file type"
        got = f"unknown {what} {path.suffix!r}" if path.suffix else f"no {what} in the name"
        either = " or ".join(filter(None, (", ".join(suffixes[:-1]), suffixes[-1])))
        raise ConfigError(f"{option} {path}: {got}; end the name with {either}")
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory; give a file name")
    regular_file(path, option)
    parent = path.parent
    if not create_parents:
        if not parent.exists():
            raise ConfigError(f"{option} {path}: no such directory {parent}; create it first")
        if not parent.is_dir():
            raise ConfigError(f"{option} {path}: {parent} is not a directory")
        _probe(parent, option, path)
        return path
    ancestor = _existing_ancestor(parent)
    if not ancestor.is_dir():
        raise ConfigError(f"{option} {path}: {ancestor} is a file, not a directory")
    _probe(ancestor, option, path)
    return path


def output_dir(path: str | Path, option: str) -> Path:
    """Check that the directory ``path`` given as ``option`` exists or can be created, and
    that files can be written in it; return it as a Path. Nothing is created.

    Raises :class:`ConfigError` naming ``option`` for an existing file, a file on the way
    to it, or a place that cannot be written.
    """
    if not str(path).strip():  # Path("") is "."; an empty option is a slip, not "here"
        raise ConfigError(f"{option}: empty path; give a directory (it is created when "
                          "missing)")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: is a file, not a directory; give a directory "
                          "(it is created when missing)")
    ancestor = _existing_ancestor(path)
    if not ancestor.is_dir():
        raise ConfigError(f"{option} {path}: {ancestor} is a file, not a directory")
    _probe(ancestor, option, path)
    if ancestor == path:  # an earlier run's folders there (a sweep's cells/) are written too
        for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
            _probe(sub, option, path)
    return path
