"""Energy conservation of the dispatch: renewables -> battery -> grid (property tests)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from greenhop.traces.dispatch import dispatch_series, dispatch_step

power = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
powers = arrays(np.float64, st.integers(1, 60), elements=power)
battery = st.fixed_dictionaries({
    "capacity_j": st.floats(1e3, 1e9),
    "max_power_w": st.floats(1.0, 1e6),
    "round_trip_efficiency": st.floats(0.5, 1.0),
    "min_soc": st.floats(0.0, 0.5),
    "initial_soc": st.floats(0.5, 1.0),
    "grid_import_limit_w": st.one_of(st.just(np.inf), st.floats(0.0, 1e6)),
})
DT = 300.0


def _check_balance(flows: dict, renewable, demand) -> None:
    scale = 1e-9 * (1.0 + np.max(np.abs(renewable)) + np.max(np.abs(demand)))
    used = flows["direct_w"] + flows["charge_w"] + flows["curtailed_w"]
    np.testing.assert_allclose(used, renewable, rtol=0, atol=scale * 10)
    met = flows["direct_w"] + flows["discharge_w"] + flows["grid_w"] + flows["unmet_w"]
    np.testing.assert_allclose(met, demand, rtol=0, atol=scale * 10)
    for key in ("direct_w", "charge_w", "discharge_w", "grid_w", "curtailed_w", "unmet_w"):
        assert np.all(flows[key] >= -scale), key


@settings(max_examples=150, deadline=None)
@given(data=st.data(), bat=battery)
def test_series_conserves_energy_and_keeps_the_battery_in_bounds(data, bat) -> None:
    renewable = data.draw(powers)
    demand = data.draw(arrays(np.float64, renewable.shape, elements=power))
    flows = dispatch_series(renewable, demand, DT, **bat)
    _check_balance(flows, renewable, demand)
    cap = bat["capacity_j"]
    soc = flows["soc_j"]
    assert np.all(soc >= bat["min_soc"] * cap - 1e-6)
    assert np.all(soc <= cap + 1e-6)
    assert np.all(flows["charge_w"] <= bat["max_power_w"] + 1e-9)
    assert np.all(flows["discharge_w"] <= bat["max_power_w"] + 1e-9)
    assert np.all(flows["grid_w"] <= bat["grid_import_limit_w"] + 1e-9)
    # Battery bookkeeping: stored energy changes by charge x sqrt(eta) - discharge / sqrt(eta).
    eta = np.sqrt(bat["round_trip_efficiency"])
    delta = np.diff(soc)
    expected = (flows["charge_w"] * eta - flows["discharge_w"] / eta)[:-1] * DT
    np.testing.assert_allclose(delta, expected, rtol=1e-9, atol=1e-3 + 1e-9 * cap)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), bat=battery)
def test_series_matches_step_by_step_dispatch(data, bat) -> None:
    renewable = data.draw(powers)
    demand = data.draw(arrays(np.float64, renewable.shape, elements=power))
    flows = dispatch_series(renewable, demand, DT, **bat)
    soc = bat["initial_soc"] * bat["capacity_j"]
    step_kw = {k: v for k, v in bat.items() if k != "initial_soc"}
    for i in range(len(renewable)):
        assert flows["soc_j"][i] == pytest.approx(soc, rel=1e-9, abs=1e-6)
        out = dispatch_step(renewable[i], demand[i], soc, DT, **step_kw)
        for key in ("direct_w", "charge_w", "discharge_w", "grid_w", "curtailed_w", "unmet_w"):
            assert float(getattr(out, key)) == pytest.approx(flows[key][i], rel=1e-9, abs=1e-6)
        soc = float(out.soc_j)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_step_is_vectorised_over_sites_and_conserves(data) -> None:
    n = data.draw(st.integers(1, 20))
    vec = arrays(np.float64, n, elements=power)
    renewable, demand = data.draw(vec), data.draw(vec)
    cap = data.draw(arrays(np.float64, n, elements=st.floats(0.0, 1e8)))
    soc = cap * data.draw(arrays(np.float64, n, elements=st.floats(0.0, 1.0)))
    out = dispatch_step(renewable, demand, soc, DT, capacity_j=cap, max_power_w=5e4,
                        round_trip_efficiency=0.9)
    flows = {k: getattr(out, k) for k in ("direct_w", "charge_w", "discharge_w", "grid_w",
                                          "curtailed_w", "unmet_w")}
    _check_balance(flows, renewable, demand)
    assert np.all(out.soc_j <= cap + 1e-6) and np.all(out.soc_j >= -1e-6)


def test_without_battery_surplus_is_curtailed_and_deficit_comes_from_the_grid() -> None:
    flows = dispatch_series(np.array([10.0, 0.0, 5.0]), np.array([4.0, 3.0, 5.0]), DT,
                            grid_import_limit_w=2.0)
    assert flows["curtailed_w"].tolist() == [6.0, 0.0, 0.0]
    assert flows["grid_w"].tolist() == [0.0, 2.0, 0.0]
    assert flows["unmet_w"].tolist() == [0.0, 1.0, 0.0]
    assert flows["soc_j"].tolist() == [0.0, 0.0, 0.0]


def test_battery_shifts_midday_surplus_to_the_night() -> None:
    # 1 kW surplus for one hour charges 3.6 MJ x sqrt(0.81) = 3.24 MJ; the night draws it.
    renewable = np.array([2000.0, 0.0])
    demand = np.array([1000.0, 1000.0])
    flows = dispatch_series(renewable, demand, 3600.0, capacity_j=1e8, max_power_w=1e4,
                            round_trip_efficiency=0.81, initial_soc=0.0)
    assert flows["charge_w"][0] == pytest.approx(1000.0)
    assert flows["soc_j"][1] == pytest.approx(3.24e6)
    assert flows["discharge_w"][1] == pytest.approx(1000.0 * 0.81)
    assert flows["grid_w"][1] == pytest.approx(1000.0 * (1 - 0.81))
