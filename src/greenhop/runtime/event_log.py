"""The event log as a file: :func:`export_events` writes a run's events as JSON lines,
:func:`read_events` reads the events of a run database or of such a file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from greenhop.core.errors import ConfigError
from greenhop.runtime.store import Store

RUN_ENDS = ("run-done", "run-stopped", "run-failed")
"""The kinds of event that end a run's log."""


def export_events(store: Store, out: str | Path) -> Path:
    """Write the event log as JSON lines (one event per line, in order) to ``out``."""
    p = Path(out)
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for ev in store.events():
            fh.write(json.dumps(ev, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)
    return p


def _refuse_metrics(p: Path, text: str) -> None:
    """Raise a ConfigError when ``text``, given as an event log, is one JSON document with a
    table of policies: a metrics.json (``greenhop run`` writes it beside the log)."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return
    if isinstance(doc, dict) and isinstance(doc.get("policies"), dict):
        raise ConfigError(f"{p}: not an event log (this looks like a metrics.json); pass "
                          "run.db or events.jsonl")


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """The events of a run database (``.db``, read-only) or an exported log (``.jsonl``),
    each with ``where`` added: ``FILE:LINE``, or ``DB: event SEQ (KIND)``, for messages
    about it."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such event log; pass a run database or its events.jsonl")
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory; pass a run database (run.db) or its "
                          "events.jsonl")
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read this event log ({exc.strerror})") from None
    if head.startswith(b"SQLite format 3"):
        st = Store.open(p, read_only=True)
        try:
            return [{**ev, "where": f"{p}: event {ev['seq']} ({ev['kind']})"}
                    for ev in st.events()]
        finally:
            st.close()
    out = []
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a run database or a JSON-lines event log") from None
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError as exc:
            if out and n == len(lines) and not text.endswith("\n"):
                break  # a log cut off (or still being written) inside its last event
            if not out:
                _refuse_metrics(p, text)
            raise ConfigError(f"{p}:{n}: not a JSON event ({exc.msg}); the log is damaged") \
                from None
        if not (isinstance(ev, dict) and isinstance(ev.get("kind"), str)
                and isinstance(ev.get("step"), int) and isinstance(ev.get("body"), dict)):
            if not out:
                _refuse_metrics(p, text)
            raise ConfigError(f"{p}:{n}: not a greenhop event (needs kind, step and body); "
                              "pass a run database or the events.jsonl it exported")
        out.append({**ev, "where": f"{p}:{n}"})
    return out


def ends_with_run_end(path: str | Path) -> bool:
    """Whether the event log at ``path`` exists, reads, and its last event ends the run
    (:data:`RUN_ENDS`)."""
    try:
        events = read_events(path)
    except ConfigError:
        return False
    return bool(events) and events[-1]["kind"] in RUN_ENDS
