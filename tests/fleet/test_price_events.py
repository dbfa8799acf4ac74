"""Price events: a demand-response event with a price sets the energy price at its sites.

Micro-scenario (tests/sim/simkit.py, legacy books): sites ``a`` and ``b`` whose renewables
equal their base load (no surplus), throughput 1, zones ``za`` (a) and ``zb`` (b) both at
50 EUR/MWh, 5-minute steps. One 1 GPU-h job starts at ``a`` at 0 and draws 400 W from the
grid for an hour. The event prices ``a`` at 500 EUR/MWh from 30 min for 1 h, announced
15 min ahead (step 3): it covers steps 6-17.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
import simkit

from greenhop.core.errors import ConfigError
from greenhop.fleet.grid import GridFeed, with_price_events
from greenhop.policies import make_policy
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import run_metrics
from greenhop.sim.scenario import load_scenario

EUR_TOL = 1e-6   # a ten-thousandth of a cent
PER_J = 1 / 3.6e9  # [MWh/J]


def scenario(objective: str, *, event: dict | None = None, only_a: bool = False,
             zones: bool = True) -> dict:
    d = simkit.legacy_micro(sites=[simkit.site("a", power="1kW"),
                                   simkit.site("b", power="1kW", tput=1.0)])
    d["grid"] = {"objective": objective}
    if zones:
        d["grid"]["zones"] = [{"name": "za", "sites": ["a"], "price": 50.0},
                              {"name": "zb", "sites": ["b"], "price": 50.0}]
    if event is not None:
        d["grid"]["events"] = [{"id": "dear", "site": "a", "start": "30min",
                                "duration": "1h", "lead": "15min", "price": 500.0, **event}]
    if only_a:
        d["jobs"][0]["allowed_sites"] = ["a"]
    return d


def run(d, policy="energy-greedy"):
    inp = build_inputs(load_scenario(d))
    res = Engine(inp, make_policy(policy), record=True).run()
    return inp, res, run_metrics(inp, res)


def test_a_dear_hour_moves_the_job_under_the_cost_objective_when_it_starts():
    _, res0, m0 = run(scenario("cost"))
    assert res0.migrations == [] and m0["job_energy_cost"] == pytest.approx(0.02, abs=EUR_TOL)
    _, res, m = run(scenario("cost", event={}))
    # energy-greedy weighs the grid power of now: the job leaves when a's price is 500,
    # at the event's first step (1800 s), not at its announcement
    (mig,) = res.migrations
    assert (mig["src"], mig["dst"], mig["start_s"]) == (0, 1, 1800.0)
    # booked: steps 0-5 at a at 50, a's part of step 6 at 500, b's energy at 50
    dt = 300.0
    a_j = res.grid_w[:, 0] * dt
    b_j = res.grid_w[:, 1] * dt
    assert a_j[:6].sum() == pytest.approx(400 * 1800, abs=1e-6)
    assert (a_j[7:] == 0).all()
    expected = (a_j[:6].sum() * 50 + a_j[6] * 500 + b_j.sum() * 50) * PER_J
    assert m["job_energy_cost"] == pytest.approx(expected, abs=EUR_TOL)
    assert m["job_energy_cost"] < 0.11 / 5


def test_a_job_that_cannot_move_pays_the_event_price_to_the_cent():
    _, res, m = run(scenario("cost", event={}, only_a=True))
    assert res.migrations == []
    # 0.2 kWh at 50 EUR/MWh before the event, 0.2 kWh at 500 in it
    assert m["job_energy_cost"] == pytest.approx(0.01 + 0.10, abs=EUR_TOL)


def test_an_event_starting_inside_a_step_prices_that_step_by_its_share():
    # from 1950 s: step 6 is half at 50, half at 500 (275); steps 7-11 at 500
    _, _, m = run(scenario("cost", event={"start": "1950s"}, only_a=True))
    assert m["job_energy_cost"] == pytest.approx(
        (400 * 1800 * 50 + 400 * 300 * 275 + 400 * 1500 * 500) * PER_J, abs=EUR_TOL)


def test_under_the_energy_objective_a_price_event_changes_only_the_booked_cost():
    _, plain, m0 = run(scenario("energy"))
    _, priced, m1 = run(scenario("energy", event={}))
    assert np.array_equal(plain.grid_w, priced.grid_w)
    assert plain.migrations == priced.migrations == []
    assert m0["job_energy_cost"] == pytest.approx(0.02, abs=EUR_TOL)
    assert m1["job_energy_cost"] == pytest.approx(0.11, abs=EUR_TOL)
    assert {k: m1[k] for k in m0 if k != "job_energy_cost"} == \
        {k: v for k, v in m0.items() if k != "job_energy_cost"}
    assert m1["dr_events"] == 0 and m1["dr_moved"] + m1["dr_suspended"] == 0  # no limit


def test_a_policy_sees_the_event_price_from_its_announcement_on_and_not_before():
    inp = build_inputs(load_scenario(scenario("cost", event={})))
    feed = GridFeed(inp.grid, forecast_steps=24, step_s=300.0)
    zone, dear = 50 * PER_J, 500 * PER_J
    before = feed.forecast(2).copy()
    assert (before == zone).all()          # announced at step 3: nothing of it at step 2
    at = feed.forecast(3).copy()
    assert (at[3:15, 0] == dear).all()     # steps 6-17
    assert (at[:3, 0] == zone).all() and (at[15:, 0] == zone).all()
    assert (at[:, 1] == zone).all()        # b is not targeted
    assert feed.forecast(6)[0, 0] == dear  # in the event: the weight of now


def test_without_price_events_the_signals_are_the_same_object():
    inp = build_inputs(load_scenario(scenario("cost")))
    ev = load_scenario(scenario("cost", event={"price": None, "limit": "1.2kW"})).grid_events
    assert with_price_events(inp.grid, ev, {}, ("a", "b"), 0.0, 300.0) is inp.grid


def test_a_price_event_without_grid_zones_is_a_one_line_error():
    with pytest.raises(ConfigError) as info:
        run(scenario("energy", event={}, zones=False))
    text = str(info.value)
    assert "grid.events[0].price" in text and "[[grid.zones]]" in text and "\n" not in text
    # refused when the scenario is read, before its traces are (that took 4-8 s before)
    with pytest.raises(ConfigError, match=r"grid\.events\[0\]\.price: a price event needs"):
        load_scenario(scenario("energy", event={}, zones=False))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start_s=st.integers(0, 7000), duration_s=st.integers(1, 5000),
       lead_s=st.integers(0, 3600), price=st.floats(-100.0, 1000.0))
def test_under_energy_the_cost_changes_by_the_event_price_on_the_energy_it_covers(
        start_s, duration_s, lead_s, price):
    # Same runs with and without the event; the cost differs by each step's jobs' grid
    # energy at a x the event's share of that step x (event price - zone price).
    _, plain, m0 = run(scenario("energy"))
    _, priced, m1 = run(scenario("energy", event={
        "start": f"{start_s}s", "duration": f"{duration_s}s", "lead": f"{lead_s}s",
        "price": price}))
    assert np.array_equal(plain.grid_w, priced.grid_w)
    dt = 300.0
    t0 = np.arange(plain.grid_w.shape[0]) * dt
    share = np.clip(np.minimum(t0 + dt, start_s + duration_s) - np.maximum(t0, start_s),
                    0.0, dt) / dt
    extra = float((plain.grid_w[:, 0] * dt * share * (price - 50.0)).sum()) * PER_J
    # both costs are rounded to the millionth
    assert m1["job_energy_cost"] == pytest.approx(m0["job_energy_cost"] + extra, abs=2e-6)


@pytest.mark.parametrize("objective", ["carbon", "cost"])
def test_an_announced_price_event_shows_no_future_signal(objective):
    """The weights a policy saw over an announced event's span were the true future ones:
    under ``carbon`` the future carbon intensity, under ``cost`` the zone's future price
    and green hours. Signals changed only after step 4 must change nothing seen by then."""
    import copy

    def signals(scale):
        zones = []
        for name, site in (("za", "a"), ("zb", "b")):
            carbon = [300.0 + 10 * k for k in range(24)]
            price = [50.0 + k for k in range(24)]
            for k in range(5, 24):  # published at their own step: unknown before it
                carbon[k] *= scale
                price[k] = price[k] * scale - (200 if scale != 1 else 0)
            zones.append({"name": name, "sites": [site], "carbon": carbon, "price": price})
        return zones

    feeds = []
    for scale in (1.0, 3.0):
        d = scenario(objective, event={"lead": "10min"})
        d["grid"]["zones"] = copy.deepcopy(signals(scale))
        inp = build_inputs(load_scenario(d))
        feeds.append(GridFeed(inp.grid, forecast_steps=24, step_s=300.0))
    for step in range(5):
        assert np.array_equal(feeds[0].forecast(step), feeds[1].forecast(step)), step
    if objective == "cost":  # the event's price is still seen from its announcement on
        assert feeds[0].forecast(4)[3, 0] == pytest.approx(500 * PER_J)


def test_an_event_hour_is_weighed_at_the_event_price_even_in_a_green_hour():
    """Under ``cost`` a 500 /MWh event in a negative-price (green) hour weighed 0, though
    ``job_energy_cost`` charges 500 there: the event's price is what a joule costs."""
    d = scenario("cost", event={})
    for z in d["grid"]["zones"]:
        z["price"] = -10.0  # every hour green by its price
    inp = build_inputs(load_scenario(d))
    w = inp.grid.weights()
    h = inp.grid.history_steps
    assert (w[h + 6:h + 18, 0] == pytest.approx(500 * PER_J))  # the event's steps at a
    assert (w[h:h + 6, 0] == 0).all() and (w[h:, 1] == 0).all()  # the rest stays green
    feed = GridFeed(inp.grid, forecast_steps=24, step_s=300.0)
    seen = feed.forecast(3)  # announced at step 3
    assert seen[3:15, 0] == pytest.approx(500 * PER_J) and (seen[:3, 0] == 0).all()
