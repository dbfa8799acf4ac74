"""The feasibility-domain model: pure, vectorised functions (see docs/design.md section 3)."""

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
    "Feasibility",
    "checkpoint_bytes",
    "effective_bps",
    "evaluate",
    "mathis_bps",
    "max_checkpoint_bytes",
    "min_bandwidth_bps",
    "min_window_seconds",
    "restore_seconds",
    "save_seconds",
    "transfer_seconds",
]
