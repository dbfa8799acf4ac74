"""Synthetic, network-free series for the forecasting tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenhop.forecast.models import clearsky_ghi_w_m2

LAT, LON = 52.52, 13.40


def pv_like(days: int = 12, step: str = "15min", seed: int = 0) -> pd.Series:
    """Clear-sky GHI times a persistent random clear-sky index (AR(1), hourly-ish memory) [W]."""
    step_s = pd.Timedelta(step).total_seconds()
    idx = pd.date_range("2022-06-01", periods=int(days * 86400 / step_s), freq=step, tz="UTC")
    cs = clearsky_ghi_w_m2(idx, LAT, LON, step_s)
    rng = np.random.default_rng(seed)
    k = np.empty(idx.size)
    k[0] = 0.7
    for i in range(1, idx.size):
        k[i] = 0.7 + 0.9 * (k[i - 1] - 0.7) + rng.normal(0, 0.08)
    return pd.Series(cs * np.clip(k, 0.05, 1.1), index=idx, name="pv_w")
