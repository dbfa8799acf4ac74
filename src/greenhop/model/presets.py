"""Checkpoint size from parameter count and a precision / optimizer preset.

``checkpoint_bytes = params x bytes_per_param + extra_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greenhop.core.errors import ConfigError


@dataclass(frozen=True)
class CheckpointPreset:
    """Bytes per parameter of what a checkpoint holds, with its source."""

    name: str
    bytes_per_param: float
    description: str


PRESETS: dict[str, CheckpointPreset] = {
    p.name: p
    for p in (
        CheckpointPreset("weights-bf16", 2.0, "weights only in bf16/fp16 (2 B/param)"),
        CheckpointPreset("weights-fp32", 4.0, "weights only in fp32 (4 B/param)"),
        CheckpointPreset(
            "fp32-adam", 12.0, "fp32 weights + Adam first and second moments (4 + 4 + 4 B/param)"
        ),
        CheckpointPreset(
            "mixed-adam",
            14.0,
            "mixed precision: bf16 weights + fp32 master weights + Adam m, v "
            "(2 + 4 + 4 + 4 B/param)",
        ),
        CheckpointPreset(
            "zero-states",
            16.0,
            "ZeRO's accounting of model states incl. fp16 gradients (Rajbhandari et al. 2020, "
            "16 B/param); gradients are not checkpointed, so this is an upper bound",
        ),
        CheckpointPreset(
            "bloom-observed",
            13.0,
            "observed: BLOOM-176B's full checkpoint was 2.3 TB, about 13 B/param "
            "(BigScience BLOOM model card)",
        ),
    )
}


DEFAULT_PRESET = "mixed-adam"
"""The preset a checkpoint size is computed with when none is named: mixed precision with
Adam, as most large models are trained."""


def preset(name: str) -> CheckpointPreset:
    """The preset called ``name``; an unknown name lists the valid ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown checkpoint preset '{name}'; valid presets: {', '.join(PRESETS)}"
        ) from None


def checkpoint_bytes(params, preset_name: str = DEFAULT_PRESET, extra_bytes=0.0):
    """Checkpoint size [B] of a model with ``params`` parameters [-].

    Broadcasts over numpy arrays. ``extra_bytes`` [B] adds fixed state (data-loader
    position, RNG states, metadata).
    """
    bpp = preset(preset_name).bytes_per_param
    params_arr = np.asarray(params, dtype=float)
    if np.any(~np.isfinite(params_arr)) or np.any(params_arr <= 0):
        raise ConfigError(f"parameter count must be positive and finite, got {params!r}")
    extra = np.asarray(extra_bytes, dtype=float)
    if np.any(extra < 0):
        raise ConfigError(f"extra checkpoint bytes must be >= 0, got {extra_bytes!r}")
    result = params_arr * bpp + extra
    return float(result) if result.ndim == 0 else result


@dataclass(frozen=True)
class ReferenceModel:
    """A model whose checkpoint marks the feasibility map, with where its size comes from."""

    name: str
    checkpoint_bytes: float
    source: str


REFERENCE_MODELS: tuple[ReferenceModel, ...] = (
    ReferenceModel(
        "ResNet-50",
        1e9,
        "about 1 GB, the smallest checkpoint class of Tomei et al. (2025); its 25.6 M "
        "parameters alone give 0.36 GB with mixed-adam, the rest is framework and loader state",
    ),
    ReferenceModel("7B", 7e9 * PRESETS["mixed-adam"].bytes_per_param,
                   "7e9 parameters x 14 B/param (mixed-adam) = 98 GB"),
    ReferenceModel("70B", 70e9 * PRESETS["mixed-adam"].bytes_per_param,
                   "70e9 parameters x 14 B/param (mixed-adam) = 980 GB"),
)
"""Reference cases of the paper: ResNet-50, and 7B / 70B LLMs with optimizer state."""
