"""How fast an elastic job trains on more or fewer GPUs: an Amdahl-style speedup curve.

An elastic job (``min_gpus < max_gpus``) may change its GPU count while it runs. Its
speedup on ``g`` GPUs over one GPU is Amdahl's law with serial share ``s``::

    speedup(g) = g / (1 + s (g - 1))            [-]

so each extra GPU adds less than the one before (the marginal-throughput curve the
CarbonScaler policy walks, docs/policies-builtin.md). A job's work stays what it is for
every job, reference-GPU hours at its nominal ``gpus``; at ``g`` GPUs it progresses at

    rate(g) = gpus x speedup(g) / speedup(gpus) x site throughput   [reference-GPU s / s]

which is exactly ``gpus x throughput`` at its nominal count (the model of a job that
never scales). Power is linear in the count: ``g x per-GPU power``.

The default serial share, :data:`DEFAULT_SERIAL_SHARE` = 0.05, is an assumption, not a
measurement: it gives data-parallel training a parallel efficiency of about 74 % on 8
GPUs (``speedup(8) / 8``), the order of the scaling losses reported for data-parallel
training on one server; give a job its own ``scaling`` where it is known.
"""

from __future__ import annotations

import numpy as np

DEFAULT_SERIAL_SHARE = 0.05
"""Serial share ``s`` of Amdahl's law for an elastic job without its own [-] (an assumption)."""


def speedup(gpus, serial_share) -> np.ndarray:
    """Amdahl speedup of ``gpus`` GPUs over one, ``g / (1 + s (g - 1))`` [-] (broadcasts)."""
    g = np.asarray(gpus, dtype=float)
    return g / (1.0 + np.asarray(serial_share, dtype=float) * (g - 1.0))


def effective_gpus(gpus, nominal_gpus, serial_share) -> np.ndarray:
    """Reference-equivalent GPUs of a job on ``gpus`` GPUs [-]: ``nominal x speedup(gpus) /
    speedup(nominal)``; equal to ``nominal`` at the nominal count (broadcasts)."""
    return (np.asarray(nominal_gpus, dtype=float) * speedup(gpus, serial_share)
            / speedup(nominal_gpus, serial_share))
