"""The feasibility-domain model: pure, vectorised functions (see docs/design.md section 3)."""

from greenhop.model.distributed import (
    DistributedCost,
    evaluate_distributed,
    min_sync_every,
    ring_bytes_per_worker,
    sync_seconds,
)
from greenhop.model.feasibility import (
    Feasibility,
    effective_bps,
    evaluate,
    mathis_bps,
    max_checkpoint_bytes,
    min_bandwidth_bps,
    min_window_seconds,
    restore_seconds,
    save_seconds,
    transfer_seconds,
)
from greenhop.model.presets import PRESETS, checkpoint_bytes

__all__ = [
    "PRESETS",
    "DistributedCost",
    "Feasibility",
    "checkpoint_bytes",
    "effective_bps",
    "evaluate",
    "evaluate_distributed",
    "mathis_bps",
    "max_checkpoint_bytes",
    "min_bandwidth_bps",
    "min_sync_every",
    "min_window_seconds",
    "restore_seconds",
    "ring_bytes_per_worker",
    "save_seconds",
    "sync_seconds",
    "transfer_seconds",
]
