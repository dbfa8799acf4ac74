"""Ratios that are only shown when their denominator is large enough to mean something.

A share of a gap (``100 x part / gap``) explodes when the gap is close to zero: a gap of
2 % of the quantities it is the difference of turns a small difference into -1,209.7 %.
Such a ratio is reported as ``n/a (gap < x kWh)`` instead, and marked as a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_SHARE = 0.05
"""A denominator below this share of the scale of the quantities it compares is tiny."""

MIN_ABS = 1.0
"""... or below this absolute floor (in the denominator's unit)."""


@dataclass(frozen=True)
class Guarded:
    """A ratio as shown: ``text``, whether it is withheld (``warn``) and why."""

    value: float | None
    text: str
    warn: bool
    why: str = ""


def floor_for(scale: float | None, *, share: float = MIN_SHARE, absolute: float = MIN_ABS
              ) -> float:
    """The smallest denominator worth dividing by, for quantities of size ``scale``."""
    scale = 0.0 if scale is None or not math.isfinite(scale) else abs(float(scale))
    return max(absolute, share * scale)


def guarded_pct(value: float | None, denominator: float | None, *, floor: float,
                unit: str = "kWh", what: str = "gap", digits: int = 1) -> Guarded:
    """``value`` [%] as text, or ``n/a (<what> < floor unit)`` when ``|denominator| < floor``.

    ``None`` values (the metric is undefined) read as an en dash without a warning.
    """
    if denominator is not None and math.isfinite(denominator) and abs(denominator) < floor:
        why = (f"{what} {denominator:,.{digits}f} {unit} is below {floor:,.{digits}f} {unit}: "
               "the ratio is dominated by noise")
        return Guarded(None, f"n/a ({what} < {floor:,.{digits}f} {unit})", True, why)
    if value is None or not math.isfinite(value):
        return Guarded(None, "–", False)
    return Guarded(float(value), f"{value:,.{digits}f}", False)
