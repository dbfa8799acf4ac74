"""The SDK a PyTorch training loop uses to become migratable (imports only greenhop.core).

* :class:`TrainingSession` - resume, checkpoint every N steps or on request
  (SIGTERM, SIGUSR1, control file), exit with :data:`EXIT_MIGRATED`.
* :func:`save_checkpoint`, :func:`load_checkpoint`, :func:`verify_checkpoint`,
  :func:`latest_complete` - the checkpoint format (safetensors + JSON + manifest).
* :class:`ResumableSampler` - a data-loader position that survives migration.

torch is an extra (``pip install 'greenhop[torch]'``), imported only when
tensors are saved or loaded.
"""

from greenhop.workload.checkpoint import (
    DEFAULT_SHARD_BYTES,
    MANIFEST,
    LoadedCheckpoint,
    describe,
    latest_complete,
    list_checkpoints,
    load_checkpoint,
    prune,
    save_checkpoint,
    verify_checkpoint,
    weights_sha256,
)
from greenhop.workload.sampler import ResumableSampler
from greenhop.workload.session import (
    CONTROL_FILE,
    ENV_CHECKPOINT_DIR,
    ENV_PROGRESS,
    ENV_RESUME_STEP,
    EXIT_FAILED,
    EXIT_FINISHED,
    EXIT_MIGRATED,
    EXIT_USAGE,
    MigrationExit,
    TrainingSession,
)

__all__ = [
    "CONTROL_FILE",
    "DEFAULT_SHARD_BYTES",
    "ENV_CHECKPOINT_DIR",
    "ENV_PROGRESS",
    "ENV_RESUME_STEP",
    "EXIT_FAILED",
    "EXIT_FINISHED",
    "EXIT_MIGRATED",
    "EXIT_USAGE",
    "MANIFEST",
    "LoadedCheckpoint",
    "MigrationExit",
    "ResumableSampler",
    "TrainingSession",
    "describe",
    "latest_complete",
    "list_checkpoints",
    "load_checkpoint",
    "prune",
    "save_checkpoint",
    "verify_checkpoint",
    "weights_sha256",
]
