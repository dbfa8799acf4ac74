"""The live job state machine (drawn in docs/runtime.md).

A job's *phase* in the database is one of :data:`PHASES`; only the transitions
in :data:`TRANSITIONS` are legal. :func:`check_transition` is called for every
write, so an illegal move (a bug, or a stale command) never reaches the database.

::

    pending -> queued -> starting -> running -> finishing -> done
                                      |  ^  \\
                          (Migrate)   v  |   \\ (Suspend)
                                   saving     suspending -> suspended
                                      |                      | (Resume)
                                      v                      v
                                 transferring -> restoring --+--> running
    running/starting/restoring --(Ctrl-C)--> stopping -> stopped -> restoring
"""

from __future__ import annotations

from greenhop.core.errors import RuntimeFailure

PHASES = (
    "pending", "queued", "starting", "running", "saving", "transferring", "restoring",
    "suspending", "suspended", "stopping", "stopped", "finishing", "done",
)

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"queued"}),
    "queued": frozenset({"starting"}),
    "starting": frozenset({"running", "stopping", "finishing", "starting"}),
    "running": frozenset({"saving", "suspending", "stopping", "finishing", "starting"}),
    "saving": frozenset({"transferring", "restoring"}),
    "transferring": frozenset({"restoring", "transferring"}),
    "restoring": frozenset({"running", "stopping", "finishing", "restoring"}),
    "suspending": frozenset({"suspended"}),
    "suspended": frozenset({"restoring", "stopped"}),
    "stopping": frozenset({"stopped"}),
    "stopped": frozenset({"restoring"}),
    "finishing": frozenset({"done", "restoring"}),
    "done": frozenset(),
}
"""Legal next phases of each phase (``starting -> starting``: a trainer that died is
started again under a new fencing token)."""

TRAINING = frozenset({"starting", "running", "restoring", "finishing"})
"""Phases in which the job should have a live trainer."""
MOVING = frozenset({"saving", "transferring", "restoring"})
"""Phases of a migration (or a resume) in flight."""
SETTLED = frozenset({"pending", "queued", "running", "suspended", "stopped", "done"})
"""Phases in which nothing is in flight: the simulated clock may advance."""


class StateError(RuntimeFailure):
    """An illegal job state transition was attempted."""


def check_transition(job: str, old: str, new: str) -> None:
    """Raise :class:`StateError` unless ``old -> new`` is legal."""
    if old == new and old not in ("starting", "transferring", "restoring"):
        return
    if new not in TRANSITIONS.get(old, frozenset()):
        raise StateError(
            f"job {job!r}: illegal transition {old} -> {new}; legal from {old}: "
            f"{', '.join(sorted(TRANSITIONS.get(old, ()))) or 'none'} (docs/runtime.md)")
