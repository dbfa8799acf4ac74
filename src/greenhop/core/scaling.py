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


def split_throughput(site_throughput, stay_throughput, split) -> np.ndarray:
    """Relative throughput [-] of a job training at a site of ``site_throughput`` [-]: a job
    split over two sites (``split``: a partially migratable job whose staying GPUs are at
    another site, of ``stay_throughput``) runs at the slower of the two, its data-parallel
    steps waiting for the slower half (the simulator's, the live books', the bounds' and the
    policies' one rule; broadcasts)."""
    return np.where(split, np.minimum(site_throughput, stay_throughput), site_throughput)


def speedup(gpus, serial_share) -> np.ndarray:
    """Amdahl speedup of ``gpus`` GPUs over one, ``g / (1 + s (g - 1))`` [-] (broadcasts)."""
    g = np.asarray(gpus, dtype=float)
    return g / (1.0 + np.asarray(serial_share, dtype=float) * (g - 1.0))


def effective_gpus(gpus, nominal_gpus, serial_share) -> np.ndarray:
    """Reference-equivalent GPUs of a job on ``gpus`` GPUs [-]: ``nominal x speedup(gpus) /
    speedup(nominal)``; equal to ``nominal`` at the nominal count (broadcasts)."""
    return (np.asarray(nominal_gpus, dtype=float) * speedup(gpus, serial_share)
            / speedup(nominal_gpus, serial_share))


def work_extremes(jobs) -> tuple[np.ndarray, np.ndarray]:
    """What any GPU count in each job's range can reach, relative to its nominal count.

    Returns ``(gpus_per_work, rate)``, both ``[J]`` [-]: the fewest GPUs per unit of work
    (``g / effective_gpus(g)`` over the range, smallest at ``min_gpus`` because each extra
    GPU adds less) over nominal's, at most 1, and the fastest work rate (at ``max_gpus``)
    over nominal's, at least 1. Both are 1 for a job that never scales. The offline bounds
    price work with these so that an elastic run stays a feasible point of their LP: on
    fewer GPUs a job uses less energy per unit of work, on more it works faster.
    """
    per_work, rate = np.ones(len(jobs)), np.ones(len(jobs))
    for k, job in enumerate(jobs):
        if not job.elastic:
            continue
        lo, hi = job.gpu_range
        s = DEFAULT_SERIAL_SHARE if job.serial_share is None else job.serial_share
        per_work[k] = lo / float(effective_gpus(lo, job.gpus, s))
        rate[k] = float(effective_gpus(hi, job.gpus, s)) / job.gpus
    return per_work, rate
