"""Capture and restore the random number generators a training loop uses.

Python's :mod:`random` and numpy's global generator are stored as JSON-able
structures; torch's CPU generator (and CUDA's, when present) as uint8 tensors.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from greenhop.core.errors import CheckpointError, require


def rng_state() -> dict[str, Any]:
    """The current RNG states: ``python``, ``numpy`` and ``torch`` (+ ``torch_cuda``)."""
    torch = require("torch", "torch")
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": [int(v) for v in np_state["state"]["key"]],
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():  # pragma: no cover - CPU-only test machines
        state["torch_cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states captured by :func:`rng_state`; raise CheckpointError if malformed."""
    torch = require("torch", "torch")
    try:
        py = state["python"]
        random.setstate((py[0], tuple(py[1]), py[2]))
        n = state["numpy"]
        np.random.set_state(
            {
                "bit_generator": n["bit_generator"],
                "state": {"key": np.asarray(n["key"], dtype=np.uint32), "pos": n["pos"]},
                "has_gauss": n["has_gauss"],
                "gauss": n["gauss"],
            }
        )
        torch.set_rng_state(state["torch"])
        if "torch_cuda" in state and torch.cuda.is_available():  # pragma: no cover
            torch.cuda.set_rng_state_all(state["torch_cuda"])
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise CheckpointError(f"the checkpoint's RNG state is malformed ({exc!r})") from None
