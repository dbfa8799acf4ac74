"""Partially migratable jobs run live: the trainer stands for the job's moving share and
moves by checkpoint; the share that stays home is booked at its arrival site by the fleet
core, as in the simulator. The controller makes the simulator's decisions and books the
simulator's energy per job."""

from __future__ import annotations

import numpy as np
import pytest
from test_controller_kit import LIVE, inputs, memory_controller, sim_migrations

from greenhop.core.observation import PARTIAL
from greenhop.runtime.memory import InMemoryExecutor


@pytest.fixture(scope="module")
def partial_scenario(tmp_path_factory):
    """live-3site with job-a and job-b partially migratable (half of 2 GPUs moves)."""
    text = LIVE.read_text()
    for job in ("job-a", "job-b"):
        head = f'name = "{job}"\n'
        i = text.index(head)
        j = text.index("gpus = 1\n", i)
        text = (text[:j] + 'gpus = 2\nmobility = "partial"\nmigratable_share = 0.5\n'
                + text[j + len("gpus = 1\n"):])
    path = tmp_path_factory.mktemp("partial") / "live-partial.toml"
    path.write_text(text)
    return path


def test_partial_jobs_run_live_with_the_simulators_decisions_and_books(partial_scenario,
                                                                       tmp_path):
    sc, inp = inputs(partial_scenario)
    partial = np.flatnonzero(inp.job_mobility == PARTIAL)
    assert partial.tolist() == [0, 1]
    assert (inp.job_g_stay[partial] == 1).all() and (inp.job_g_move[partial] == 1).all()
    ex = InMemoryExecutor()
    ctl = memory_controller(tmp_path / "run.db", ex, path=partial_scenario)
    assert ctl.prepare() == "new"
    assert ctl.run()["status"] == "done"
    live = [[m["decided_step"], ctl.jobs[m["job"]], ctl.sites[m["src"]], ctl.sites[m["dst"]]]
            for m in ctl.ledger.migrations]
    sim_moves = sim_migrations(partial_scenario)
    assert live == sim_moves
    moved_partial = {m[1] for m in sim_moves} & {"job-a", "job-b"}
    assert moved_partial, "the scenario should move a partially migratable job"
    from greenhop.sim import simulate

    sim = simulate(partial_scenario).runs[sc.policies[0]]
    assert np.allclose(ctl.ledger.job_energy, sim.job_energy_j, rtol=1e-3)
    assert np.allclose(ctl.ledger.finish_s, sim.job_finish_s, atol=60.0)
    # The moving share trained at its destination; the trainer resumed its checkpoint.
    for j, job in enumerate(ctl.jobs):
        site = sc.site_names[int(ctl.ledger.site[j])]
        assert ex.ckpt[(job, site)] == 300
    # The staying share never left home.
    assert (ctl.ledger.state.home[partial] == inp.job_origin[partial]).all()
    ctl.store.close()
