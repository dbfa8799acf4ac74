"""Fixtures for the forecasting tests (synthetic, network-free)."""

from __future__ import annotations

import pandas as pd
import pytest
from forecast_synth import pv_like


@pytest.fixture(scope="session")
def pv_series() -> pd.Series:
    return pv_like()
