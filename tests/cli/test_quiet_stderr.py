"""Off a terminal (a pipe, a log file, CI) the progress bars of `simulate` and `sweep` stay
silent: a run without warnings leaves stderr empty, not one blank line a script must strip."""

from __future__ import annotations

from clikit import run, two_site_scenario

SUNNY_B = '{ kind = "solar", peak = "4kW" }'


def test_simulate_json_leaves_stderr_empty(capsys, tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(two_site_scenario("small", b_longitude=90.0, b_trace=SUNNY_B))
    code, out, err = run(capsys, "simulate", str(path), "--json")
    assert code == 0 and out.startswith("{")
    assert err == ""


def test_sweep_leaves_stderr_empty(capsys, tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(two_site_scenario("small", b_longitude=90.0, b_trace=SUNNY_B))
    code, out, err = run(capsys, "sweep", str(path), "--seeds", "1", "--serial",
                         "--out", str(tmp_path / "sw"))
    assert code == 0, err
    assert "static" in out
    assert err == ""
