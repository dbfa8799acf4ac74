"""A grid objective steers a live run as it steers the simulator: the live controller's
Observation carries the objective's weights of grid energy (the fleet core attaches them,
for both mechanisms), so under the cost objective a live run keeps a job on a site whose
grid power is free (a negative price) and makes the simulator's moves, which differ from
the energy objective's."""

from __future__ import annotations

import numpy as np
import pytest
from test_controller_kit import LIVE, inputs, memory_controller, sim_migrations

from greenhop.runtime.ledger import Ledger
from greenhop.runtime.memory import InMemoryExecutor

ZONES = """
[grid]
objective = "{objective}"

[[grid.zones]]
name = "es"
sites = ["madrid-es"]
price = -10

[[grid.zones]]
name = "jp"
sites = ["tokyo-jp"]
price = 50

[[grid.zones]]
name = "us"
sites = ["greensboro-nc"]
price = 50
"""


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    """The live 3-site scenario with grid prices, under the energy and the cost objective."""
    folder = tmp_path_factory.mktemp("grid")
    out = {}
    for objective in ("energy", "cost"):
        path = folder / f"live-{objective}.toml"
        path.write_text(LIVE.read_text() + ZONES.format(objective=objective))
        out[objective] = path
    return out


def test_live_observation_carries_the_cost_weights(scenarios):
    _sc, inp = inputs(scenarios["cost"])
    led = Ledger(inp)
    led.record_power(0, inp.renewable_w[inp.history_steps])
    obs = led.observation(0)
    assert obs.grid_objective == "cost"
    # EUR per joule: a negative price weighs 0 (free grid power counts as green)
    assert np.allclose(obs.grid_weight_per_j, [0.0, 50 / 3.6e9, 50 / 3.6e9], rtol=1e-12)
    with pytest.raises(ValueError):
        obs.grid_weight_per_j[1] = 0.0  # read-only, as every Observation array


def test_live_run_under_the_cost_objective_makes_the_simulators_moves(scenarios, tmp_path):
    energy, cost = sim_migrations(scenarios["energy"]), sim_migrations(scenarios["cost"])
    assert cost != energy  # the objective changes what the policy does here
    def moves_off_madrid(moves):
        return sum(m[2] == "madrid-es" for m in moves)

    assert moves_off_madrid(cost) < moves_off_madrid(energy)  # it keeps jobs on free power
    ctl = memory_controller(tmp_path / "run.db", InMemoryExecutor(), path=scenarios["cost"])
    ctl.prepare()
    assert ctl.run()["status"] == "done"
    got = [[m["decided_step"], ctl.jobs[m["job"]], ctl.sites[m["src"]], ctl.sites[m["dst"]]]
           for m in ctl.ledger.migrations]
    assert got == cost
    ctl.store.close()
