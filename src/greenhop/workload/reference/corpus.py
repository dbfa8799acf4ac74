"""The text the reference language model trains on, with no download.

The corpus is the documentation shipped inside Python's own standard library:
the docstrings of a fixed list of modules and their public members, read with
:func:`inspect.getdoc` (Python Software Foundation License). It is the same
text for a given Python version, a few tens of kB.
"""

from __future__ import annotations

import importlib
import inspect

MODULES = (
    "textwrap",
    "json",
    "random",
    "statistics",
    "collections",
    "heapq",
    "bisect",
    "functools",
    "itertools",
    "string",
    "difflib",
    "fractions",
    "decimal",
    "calendar",
    "shlex",
    "pathlib",
    "argparse",
    "csv",
    "queue",
    "contextlib",
    "dataclasses",
    "enum",
)


def corpus_text(max_bytes: int = 96_000) -> str:
    """Concatenated stdlib docstrings, truncated to ``max_bytes`` bytes of UTF-8 [B]."""
    parts: list[str] = []
    size = 0
    for name in MODULES:
        mod = importlib.import_module(name)
        docs = [inspect.getdoc(mod) or ""]
        for attr in sorted(getattr(mod, "__all__", None) or dir(mod)):
            if attr.startswith("_"):
                continue
            obj = getattr(mod, attr, None)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                doc = inspect.getdoc(obj)
                if doc:
                    docs.append(f"{attr}: {doc}")
        for doc in docs:
            parts.append(doc + "\n\n")
            size += len(doc.encode("utf-8")) + 2
            if size >= max_bytes:
                return "".join(parts).encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
    return "".join(parts)


def corpus_bytes(max_bytes: int = 96_000) -> bytes:
    """The corpus as UTF-8 bytes (the model's tokens are bytes, vocabulary 256)."""
    return corpus_text(max_bytes).encode("utf-8")
