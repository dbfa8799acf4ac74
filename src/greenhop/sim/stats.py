"""Statistics over seeds: means with percentile-bootstrap confidence intervals, paired
differences between policies. (The share of the gap to an offline bound a policy closes is
:func:`greenhop.sim.metrics.gap_closed`.)

Pure numpy and reproducible: every bootstrap draws from a fresh
``numpy.random.default_rng(BOOTSTRAP_SEED)``, so the same values always give the same
interval, whatever was computed before.

Definitions (``x_1 .. x_n`` one value per seed):

* mean: ``sum(x) / n``;
* 95% confidence interval: the 2.5th and 97.5th percentiles (linear interpolation) of
  the means of ``B`` resamples of ``n`` values drawn with replacement (percentile
  bootstrap); ``None`` when ``n < 2``;
* paired difference of A and B: ``d_i = A_i - B_i`` on the seeds where both have a
  value, its mean and bootstrap interval, and the share of seeds where ``A_i < B_i`` [%];
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: resamples per bootstrap interval
N_RESAMPLES = 2000
#: seed of every bootstrap (summaries are reproducible)
BOOTSTRAP_SEED = 20_240_601
#: confidence level of the intervals
LEVEL = 0.95


def _values(values: Sequence[float | None]) -> np.ndarray:
    """The finite values as a float array (``None`` and NaN dropped)."""
    arr = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    return arr[np.isfinite(arr)]


def bootstrap_ci(values: Sequence[float], *, n_resamples: int = N_RESAMPLES,
                 level: float = LEVEL, seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """Percentile-bootstrap interval of the mean of ``values``; ``None`` for fewer than 2.

    Constant values give a zero-width interval at that value.
    """
    x = _values(values)
    n = x.size
    if n < 2:
        return None
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if np.all(x == x[0]):  # every resample is the sample itself: no spread
        m = float(x[0])  # (the mean, without a sum that could overflow)
        return m, m
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    with np.errstate(over="ignore", invalid="ignore"):  # values near 1e308: no interval
        means = x[idx].mean(axis=1)
        tail = (1.0 - level) / 2.0
        lo, hi = np.quantile(means, [tail, 1.0 - tail])
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return float(lo), float(hi)


def describe(values: Sequence[float | None], **kw) -> dict:
    """``{"n", "mean", "ci_lo", "ci_hi", "half_width"}`` of the finite ``values``.

    ``half_width`` is half the interval's width (``mean ± half_width`` for display);
    interval fields are ``None`` when there are fewer than two values, ``mean`` too when
    there are none.
    """
    x = _values(values)
    ci = bootstrap_ci(x, **kw)
    with np.errstate(over="ignore", invalid="ignore"):  # a sum past 1e308: no mean
        mean = float(x.mean()) if x.size else None
    return {
        "n": int(x.size),
        "mean": mean if mean is not None and np.isfinite(mean) else None,
        "ci_lo": None if ci is None else ci[0],
        "ci_hi": None if ci is None else ci[1],
        "half_width": None if ci is None else (ci[1] - ci[0]) / 2.0,
    }


def paired_difference(a: Sequence[float | None], b: Sequence[float | None], **kw) -> dict:
    """Per-seed ``a - b`` (seeds aligned by position; a seed missing either is left out).

    Returns :func:`describe` of the differences plus ``share_a_lt_b_pct``, the share of
    those seeds where ``a < b`` [%] (``None`` when no seed has both).
    """
    if len(a) != len(b):
        raise ValueError(f"paired values need one per seed on both sides, got {len(a)} and "
                         f"{len(b)}")
    av, bv = (np.array([np.nan if v is None else float(v) for v in s], dtype=float)
              for s in (a, b))
    both = np.isfinite(av) & np.isfinite(bv)
    d = av[both] - bv[both]
    out = describe(d, **kw)
    out["share_a_lt_b_pct"] = (float(100.0 * np.mean(av[both] < bv[both]))
                               if both.any() else None)
    return out
