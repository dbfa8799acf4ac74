"""pvlib and windpowerlib on the bundled TMY weather: the reproduction and sanity checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenhop.core.errors import TraceError
from greenhop.traces import pv, tmy, wind


def test_pvwatts_1kwdc_at_greensboro_reproduces_pvlib_modelchain() -> None:
    chain = pv.tmy_pv_w_per_kwp("greensboro", 2023)
    modelchain = pv.tmy_pv_modelchain_w_per_kwp("greensboro", 2023)
    annual_kwh = chain.sum() / 1000.0  # hourly mean W x 1 h
    reference_kwh = modelchain.sum() / 1000.0
    assert 1200.0 <= annual_kwh <= 1500.0
    assert annual_kwh == pytest.approx(reference_kwh, rel=1e-4)  # < 0.01 %, as docs/traces.md says


@pytest.mark.parametrize("key", sorted(tmy.TMY_SITES))
def test_tmy_covers_exactly_one_utc_calendar_year(key) -> None:
    for year, hours in ((2023, 8760), (2024, 8784)):
        weather = tmy.read_tmy(key, year)
        assert len(weather) == hours
        assert weather.index[0] == pd.Timestamp(f"{year}-01-01", tz="UTC")
        assert weather.index.freq is not None or (np.diff(weather.index.asi8) > 0).all()
        assert list(weather.columns) == list(tmy.COLUMNS)
        assert weather["ghi_w_m2"].min() >= 0 and weather["wind_speed_m_s"].min() >= 0


def test_the_typical_year_is_shifted_from_local_time_to_utc() -> None:
    weather = tmy.read_tmy("greensboro", 2023)
    local_hour = weather.index.tz_convert("Etc/GMT+5").hour  # local standard time, UTC-5
    by_hour = weather["ghi_w_m2"].groupby(local_hour).mean()
    assert by_hour.loc[[0, 1, 2, 3, 22, 23]].max() == 0.0
    assert 11 <= by_hour.idxmax() <= 13


def test_annual_yields_are_plausible_for_each_station() -> None:
    yields = {k: pv.tmy_pv_w_per_kwp(k, 2023).sum() / 1000 for k in tmy.TMY_SITES}
    assert yields["sand_point"] < yields["greensboro"] < yields["miami"]
    cf = {k: wind.tmy_wind_w_per_kw(k, 2023).mean() / 1000 for k in tmy.TMY_SITES}
    assert 0.05 < cf["greensboro"] < cf["sand_point"] < 0.6


def test_wind_power_follows_the_turbine_curve() -> None:
    out = wind.wind_w_per_kw([0.0, 2.0, 6.0, 12.0, 30.0])
    assert out[0] == 0.0 and out[-1] == 0.0  # below cut-in and beyond the curve
    assert 0 < out[2] < out[3] <= 1000.0
    with pytest.raises(TraceError, match="no power curve"):
        wind.wind_w_per_kw([5.0], turbine_type="NoSuchTurbine/1")


def test_clear_sky_index_pv_is_bounded_by_clear_sky_and_follows_hemispheres() -> None:
    berlin = pv.clearsky_index_pv_w_per_kwp(52.52, 13.40, "greensboro", 2023)
    assert len(berlin) == 8760 and berlin.max() < 1000.0
    monthly = berlin.groupby(berlin.index.month).sum()
    assert monthly.loc[6] > 2 * monthly.loc[12]
    csi = pv.clearsky_index_local("greensboro")
    assert csi.shape == (8760,) and csi.min() >= 0 and csi.max() <= pv.CSI_MAX


def test_unknown_station_and_year_are_rejected() -> None:
    with pytest.raises(TraceError, match="unknown TMY station 'oslo'; choose one of"):
        tmy.read_tmy("oslo")
    with pytest.raises(TraceError, match="1901-2099"):
        tmy.read_tmy("miami", 1850)
