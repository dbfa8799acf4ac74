"""``python -m greenhop.sim.grid_tradeoffs``: a sweep with another grid column, a sweep
without the ``energy`` baseline and a cells.csv that is not a sweep's (hand-made cells,
figures worked by hand)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from greenhop.core.errors import UserError
from greenhop.sim.grid_tradeoffs import main, objective_tradeoffs, tradeoffs_markdown


def sweep_dir(tmp_path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(tmp_path / "cells.csv", index=False)
    return tmp_path


def cell(seed, objective, alpha, co2):
    # a sweep's layout: scenario, seed, its grid columns, policy, metrics
    return {"scenario": "s", "seed": seed, "grid.objective": objective, "alpha": alpha,
            "policy": "p", "job_co2_kg": co2}


def test_a_second_grid_column_gives_one_table_per_value(tmp_path, capsys):
    # alpha 0.5: energy 10, 20 and carbon 9, 17 (diff -1, -3: mean -2);
    # alpha 0.8: energy 10, 20 and carbon 10, 16 (diff 0, -4: mean -2, lower on one seed)
    rows = [cell(1, "energy", 0.5, 10.0), cell(2, "energy", 0.5, 20.0),
            cell(1, "carbon", 0.5, 9.0), cell(2, "carbon", 0.5, 17.0),
            cell(1, "energy", 0.8, 10.0), cell(2, "energy", 0.8, 20.0),
            cell(1, "carbon", 0.8, 10.0), cell(2, "carbon", 0.8, 16.0)]
    assert main([str(sweep_dir(tmp_path, rows))]) == 0
    out = capsys.readouterr().out
    assert "| p, alpha=0.5: objective |" in out and "| p, alpha=0.8: objective |" in out
    half, eight = out.split("| p, alpha=0.8")
    assert "| carbon | job_co2_kg (kg CO2) | 15 | 13 | -2 " in half
    assert "| 100% of 2 |" in half
    assert "| carbon | job_co2_kg (kg CO2) | 15 | 13 | -2 " in eight
    assert "| 50% of 2 |" in eight


def test_a_sweep_without_the_energy_baseline_is_one_line_exit_2(tmp_path, capsys):
    d = sweep_dir(tmp_path, [cell(1, "carbon", 0.5, 9.0), cell(1, "cost", 0.5, 8.0)])
    assert main([str(d)]) == 2
    assert capsys.readouterr().err == (
        f"error: {d / 'cells.csv'}: no cell has grid.objective=energy, the baseline the "
        "others are paired with (objectives: carbon, cost); run the sweep with energy "
        "among them\n")


def test_a_csv_that_is_not_a_sweeps_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "cells.csv").write_text("a,b\n1,2\n")
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / 'cells.csv'}: not a sweep's "
                                       "cells: no column 'policy', 'seed'\n")


def test_several_cells_per_objective_and_seed_are_refused_not_a_traceback(tmp_path, capsys):
    cells = pd.DataFrame({"seed": [1, 1, 1, 1], "policy": ["p"] * 4,
                          "grid.objective": ["energy", "energy", "carbon", "carbon"],
                          "job_co2_kg": [10.0, 12.0, 9.0, 8.0]})
    with pytest.raises(UserError, match="several cells per objective and seed"):
        objective_tradeoffs(cells, "p")
    cells.to_csv(tmp_path / "cells.csv", index=False)
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_no_seed_in_common_is_a_dash_not_a_crash():
    cells = pd.DataFrame({"seed": [1, 2], "policy": ["p"] * 2,
                          "grid.objective": ["energy", "carbon"], "job_co2_kg": [10.0, 9.0]})
    rows = objective_tradeoffs(cells, "p", metrics=(("job_co2_kg", "kg"),))
    assert "| carbon | job_co2_kg (kg) | – | – | – | –% of 0 |" in \
        tradeoffs_markdown(rows, "p")
