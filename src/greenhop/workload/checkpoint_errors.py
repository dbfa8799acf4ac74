"""The errors a checkpoint directory raises: a checkpoint that is incomplete or damaged
(a resume skips it), a directory the job cannot resume from, a directory another session
holds. Raised by :mod:`greenhop.workload.checkpoint` and the readers beside it."""

from __future__ import annotations

from pathlib import Path

from greenhop.core.errors import CheckpointError, ConfigError


class IncompleteCheckpoint(CheckpointError):
    """A checkpoint is not complete: no manifest, a missing file, or a size or SHA-256
    that does not match (torn write, corruption at rest), or it is damaged
    (:class:`DamagedCheckpoint`). Resume falls back past it; unsafe content
    (:class:`~greenhop.workload.safeformat.UnsafeCheckpoint`: a pickle) stops it."""


class DamagedCheckpoint(IncompleteCheckpoint):
    """A checkpoint whose files do not parse as what they are although they may match its
    manifest: a safetensors header that does not fit its file, a structure file without
    ``__shards__``, a manifest that is JSON but not a well-formed one (written wrong, or the
    manifest rewritten after the damage). Skipped as an incomplete one."""


class IncompatibleCheckpoint(ConfigError):
    """A checkpoint directory that the job cannot resume from: its checkpoint was written by
    another model, another model shape or another job, or it is one checkpoint's own folder
    (``JOB/step-N``) given for the job's directory. A user mistake (the wrong checkpoint
    directory), so resume stops and leaves everything as it is."""


class NoIntactCheckpoint(IncompatibleCheckpoint):
    """A checkpoint directory holding checkpoints none of which loads (each incomplete,
    corrupt or damaged): a start from scratch would write over them, so resume stops and
    leaves them as they are for the user to move aside. ``skipped``: their names."""

    def __init__(self, ckpt_dir: str | Path, skipped: list[str]) -> None:
        super().__init__(
            f"{ckpt_dir} holds no intact checkpoint: {len(skipped)} incomplete or corrupt "
            f"({', '.join(skipped)}), left as they are; a run will not start from scratch "
            "over them: move them aside (or remove them) or use another checkpoint directory")


class CheckpointDirInUse(ConfigError):
    """The checkpoint directory is held by another live training session (its lock,
    :data:`~greenhop.workload.checkpoint.LOCK_FILE`, is taken): two sessions writing one
    directory would destroy each other's checkpoints, so the second one is refused before it
    touches anything."""
