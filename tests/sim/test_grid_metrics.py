"""Job carbon and cost on a hand-worked 2-site micro-scenario, to the milligram and the
thousandth of a cent (figures of tests/sim/test_sim_attribution.py's legacy micro).

Site ``a``: 1.2 kW renewable, 1 kW base; ``b``: 1 kW renewable = its base, so every joule
a job draws at ``b`` comes from the grid. Steps of 5 min over 2 h, no history.
"""

from __future__ import annotations

import pytest
import simkit
from simkit import MoveAt
from simkit import legacy_micro as micro

from greenhop.core.errors import ConfigError
from greenhop.sim.engine import Engine
from greenhop.sim.inputs import build_inputs
from greenhop.sim.metrics import run_metrics
from greenhop.sim.scenario import load_scenario

KWH = 3.6e6
#: carbon at a: 100 g/kWh for 30 min, 300 for 30 min, then 500; at b 200 throughout
CARBON_A = [100.0] * 6 + [300.0] * 6 + [500.0] * 12


def scenario(**grid) -> dict:
    d = micro(sites=[simkit.site("a"), simkit.site("b", power="1kW", tput=2.0)])
    d["grid"] = {
        "currency": "EUR",
        "zones": [{"name": "za", "sites": ["a"], "carbon": CARBON_A, "carbon_average": 400,
                   "price": 80},
                  {"name": "zb", "sites": ["b"], "carbon": 200, "price": -5}],
        **grid}
    return d


def metrics(d, policy):
    inp = build_inputs(load_scenario(d))
    return run_metrics(inp, Engine(inp, policy).run())


def test_static_carbon_and_cost_by_hand():
    m = metrics(scenario(), simkit.Never())
    # The job draws 200 W from the grid at a for 1 h: 60 kJ per 5-minute step, 12 steps.
    step_kwh = 200 * 300 / KWH
    assert m["job_nr_kwh"] == pytest.approx(12 * step_kwh, abs=1e-9)
    assert m["job_co2_kg"] == pytest.approx((6 * 100 + 6 * 300) * step_kwh / 1000, abs=1e-6)
    assert m["job_co2_kg"] == pytest.approx(0.04, abs=1e-6)      # 40 g
    assert m["job_co2_avg_kg"] == pytest.approx(0.2 * 400 / 1000, abs=1e-6)
    assert m["job_energy_cost"] == pytest.approx(0.2 / 1000 * 80, abs=1e-6)  # 1.6 cents
    assert m["currency"] == "EUR"
    assert m["job_grid_green_kwh"] == 0.0


def test_one_migration_carbon_and_cost_by_hand():
    m = metrics(scenario(), MoveAt(1, "b"))
    # Step 0: 200 W x 300 s from a's grid. Step 1: a covers the save (25 J) and its half of
    # the WAN energy (400 J) from its 200 W surplus. At b (no surplus) everything comes
    # from the grid: restore idle 62.5 s x 50 W, 400 J WAN, training 1650 s x 400 W.
    a_j = 200 * 300
    b_j = 62.5 * 50 + 400 + 400 * 1650
    assert m["job_nr_kwh"] == pytest.approx((a_j + b_j) / KWH, abs=1e-9)
    co2_g = a_j / KWH * 100 + b_j / KWH * 200
    assert m["job_co2_kg"] == pytest.approx(co2_g / 1000, abs=1e-6)   # 38.529 g
    assert m["job_co2_kg"] == pytest.approx(0.038529, abs=1e-6)
    cost = a_j / 3.6e9 * 80 + b_j / 3.6e9 * -5
    assert m["job_energy_cost"] == pytest.approx(cost, abs=1e-6)       # 0.0412 cents
    # b's price is negative: its grid energy counts as green supply
    assert m["job_grid_green_kwh"] == pytest.approx(b_j / KWH, abs=1e-9)


def test_no_grid_table_no_grid_metrics():
    m = metrics(micro(), simkit.Never())
    assert not {"job_co2_kg", "job_energy_cost", "currency"} & set(m)


@pytest.mark.parametrize("grid, where", [
    ({"objective": "money"}, "grid.objective"),
    ({"zones": [{"name": "z", "sites": ["a", "nowhere"], "carbon": 1}]}, "grid.zones[0].sites[1]"),
    ({"zones": [{"name": "z", "sites": ["a"], "carbon": 1}]}, "grid.zones"),
    ({"zones": [{"name": "z", "sites": ["a", "b"], "carbon": "de-typo"}]},
     "grid.zones[0].carbon"),
    ({"zones": [{"name": "z", "sites": ["a", "b"], "price": "de-lifecycle"}]},
     "grid.zones[0].price"),
    ({"objective": "cost", "zones": [{"name": "z", "sites": ["a", "b"], "carbon": 1}]},
     "grid.zones[0]"),
    ({"objective": "carbon"}, "grid.objective"),
    ({"zones": [{"name": "z", "sites": ["a", "b"], "carbon": 1, "colour": 2}]},
     "grid.zones[0].colour"),
])
def test_bad_grid_tables_name_the_key(grid, where):
    d = micro()
    d["grid"] = grid
    with pytest.raises(ConfigError) as exc:
        load_scenario(d)
    assert str(exc.value).startswith(where), str(exc.value)


def test_the_packaged_grid_scenario_puts_every_site_in_a_zone():
    sc = load_scenario("grid-de-nl")
    assert sc.grid.objective == "energy" and sc.grid.currency == "EUR"
    zoned = [s for z in sc.grid.zones for s in z.sites]
    assert sorted(zoned) == sorted(sc.site_names)
    assert {z.carbon.name for z in sc.grid.zones} == {"de-lifecycle"}
    assert {z.price.name for z in sc.grid.zones} == {"nl-day-ahead"}


def test_report_and_tradeoffs_show_the_grid_metrics():
    import pandas as pd

    from greenhop.sim.api import simulate
    from greenhop.sim.grid_tradeoffs import objective_tradeoffs, tradeoffs_markdown
    from greenhop.sim.report import render_report

    result = simulate(scenario(), policies=["static"])
    page = render_report(result)
    assert "job CO2 kg (marginal)" in page and "job energy cost [EUR]" in page
    # paired by seed: carbon is lower on both seeds by 1 and 3 kg
    cells = pd.DataFrame({"seed": [1, 2, 1, 2], "policy": ["p"] * 4,
                          "grid.objective": ["energy", "energy", "carbon", "carbon"],
                          "job_co2_kg": [10.0, 20.0, 9.0, 17.0]})
    rows = objective_tradeoffs(cells, "p", metrics=(("job_co2_kg", "kg"),))
    assert rows[0]["diff"]["mean"] == pytest.approx(-2.0)
    assert rows[0]["diff"]["share_a_lt_b_pct"] == 100.0
    assert "| carbon | job_co2_kg (kg) | 15 | 13 |" in tradeoffs_markdown(rows, "p")
