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
    suspended --(Migrate)--> saving (no trainer: its checkpoint is taken as saved)
    restoring --(pulled copy corrupt)--> transferring
    starting/restoring/transferring/finishing --(retries exhausted)--> failed
"""

from __future__ import annotations

from greenhop.core.errors import RuntimeFailure

PHASES = (
    "pending", "queued", "starting", "running", "saving", "transferring", "restoring",
    "suspending", "suspended", "stopping", "stopped", "finishing", "done", "failed",
)

AT_SITE = frozenset({"starting", "running", "saving", "suspending", "stopping", "finishing",
                     "restoring"})
"""Phases in which a job's trainer may run at its row's site (started, training,
checkpointing or restoring there): not waiting, in flight, suspended, stopped or over."""

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"queued"}),
    "queued": frozenset({"starting"}),
    "starting": frozenset({"running", "stopping", "finishing", "starting", "transferring",
                           "failed"}),
    "running": frozenset({"saving", "suspending", "stopping", "finishing", "starting",
                          "failed"}),
    "saving": frozenset({"transferring", "restoring", "failed"}),
    "transferring": frozenset({"restoring", "transferring", "failed"}),
    "restoring": frozenset({"running", "stopping", "finishing", "restoring", "transferring",
                            "failed"}),
    "suspending": frozenset({"suspended", "failed"}),
    "suspended": frozenset({"restoring", "saving", "stopped"}),
    "stopping": frozenset({"stopped", "failed"}),
    "stopped": frozenset({"restoring"}),
    "finishing": frozenset({"done", "restoring", "stopping", "transferring", "failed"}),
    "done": frozenset(),
    "failed": frozenset({"starting", "transferring", "restoring"}),
}
"""Legal next phases of each phase (``starting -> starting``: a trainer that died is
started again under a new fencing token; ``restoring -> transferring``: the pulled copy
did not verify at the destination, pull it again; ``failed``: retries exhausted, the run
stopped with the error recorded; a restarted run tries that job again)."""

TRAINING = frozenset({"starting", "running", "restoring", "finishing"})
"""Phases in which the job should have a live trainer."""
MOVING = frozenset({"saving", "transferring", "restoring"})
"""Phases of a migration (or a resume) in flight."""
SETTLED = frozenset({"pending", "queued", "running", "suspended", "stopped", "done",
                     "failed"})
"""Phases in which nothing is in flight: the simulated clock may advance."""
DECIDABLE = frozenset({"pending", "queued", "running", "suspended", "done"})
"""Phases a decision may find a job in: every action starts from one of them (place from
``queued``, migrate and suspend from ``running``, resume and migrate from ``suspended``)."""


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
