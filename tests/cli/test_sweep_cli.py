"""``greenhop sweep``: the summary on screen, cells equal to ``greenhop simulate``, and bad
input answered with one line and exit code 2, leaving no output directory behind."""

from __future__ import annotations

import json
import socket
import sys

import clikit
import pytest

SCENARIO = clikit.two_site_scenario("cli-sweep", b_longitude=0.0,
                                     b_trace='{ kind = "constant", power = "2.5kW" }')


@pytest.fixture
def scenario(tmp_path, isolated_cache):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def test_sweep_prints_means_with_intervals_and_paired_differences(capsys, scenario, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1-3",
                                      "--serial", "--out", str(out), "--set", "alpha=0.05,0.2")
    assert code == 0
    assert stdout.count("greenhop sweep — cli-sweep, 3 seeds") == 2  # one table per point
    assert "job grid kWh" in stdout  # as simulate names it
    # three seeds: the intervals are about the seeds' range, and the user is told
    assert "note: 3 seeds give wide 95% intervals" in " ".join(stderr.split())
    assert "alpha=0.05" in stdout and "alpha=0.2" in stdout
    assert "energy-greedy − static" in stdout and "±" in stdout
    # the second point against the first, once, after the second point's tables
    assert stdout.count("alpha=0.2 − alpha=0.05 (paired per seed") == 1
    assert stdout.index("alpha=0.2 − alpha=0.05") > stdout.rindex("greenhop sweep — cli-sweep")
    assert "alpha=0.05 − alpha=0.2" not in stdout
    assert "12 cells (12 run now, 0 already there)" in stdout
    # last, the settings no other beats on both energy and slowdown, named by grid point
    assert stdout.index("on the energy-slowdown frontier") > stdout.index("alpha=0.2 − alpha")
    assert "static @ same at every grid point" in stdout  # alpha does not touch static
    for name in ("cells.parquet", "cells.csv", "summary.json", "report.html"):
        assert (out / name).is_file()
    # the same command again: every cell is reused
    code, stdout, _ = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1-3", "--serial",
                                 "--out", str(out), "--set", "alpha=0.05,0.2")
    assert code == 0 and "12 cells (0 run now, 12 already there)" in stdout


def test_a_grid_of_inf_is_stored_and_resumed(capsys, scenario, tmp_path):
    # ``inf`` is a TOML literal a parameter may take (max_slowdown: no budget); JSON has no
    # such number, so the manifest and summary.json hold it as the text "inf"
    out = tmp_path / "out"
    args = ("sweep", str(scenario), "--seeds", "1", "--serial", "-p", "horizon-planner",
            "--out", str(out), "--set", "policy_params.horizon-planner.max_slowdown=3,inf")
    code, stdout, _ = clikit.run(capsys, *args)
    assert code == 0 and "max_slowdown=inf − " in stdout
    summary = json.loads((out / "summary.json").read_text(), parse_constant=pytest.fail)
    assert summary["grid"] == [{"key": "policy_params.horizon-planner.max_slowdown",
                                "values": [3, "inf"]}]
    manifest = json.loads((out / "manifest.json").read_text(), parse_constant=pytest.fail)
    assert manifest["definition"]["grid"][0][1] == [3, "inf"]
    code, stdout, _ = clikit.run(capsys, *args)
    assert code == 0 and "2 cells (0 run now, 2 already there)" in stdout


def test_a_policy_parameter_no_policy_of_the_sweep_reads_is_a_warning(capsys, scenario,
                                                                       tmp_path):
    """--set policy_params.horizon-planner.lam=... with -p static ran twice the cells for a
    parameter nothing read, without a word; the policies that do read it get no warning."""
    grid = ("--set", "policy_params.horizon-planner.lam=0.3,0.5")
    code, _, err = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1", "--serial",
                              "-p", "static", "--out", str(tmp_path / "a"), *grid)
    assert code == 0
    assert ("warning: --set policy_params.horizon-planner.lam: no policy of this sweep reads "
            "it (policies: static), so its 2 values run the same cells") in err
    code, _, err = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1", "--serial",
                              "-p", "static,horizon-planner", "--out", str(tmp_path / "b"),
                              *grid)
    assert code == 0 and "no policy of this sweep reads" not in err


def test_a_cell_is_byte_identical_to_greenhop_simulate(capsys, scenario, tmp_path):
    code, _, _ = clikit.run(capsys, "sweep", str(scenario), "--seeds", "4,7", "--serial",
                            "--policies", "energy-greedy", "--out", str(tmp_path / "sw"))
    assert code == 0
    code, metrics, _ = clikit.run(capsys, "simulate", str(scenario), "--seed", "7",
                                  "--policies", "energy-greedy", "--json", "--out",
                                  str(tmp_path / "sim"))
    assert code == 0
    cell = (tmp_path / "sw" / "cells" / "p000-s00007-energy-greedy.json").read_text()
    assert cell == metrics
    assert json.loads(cell)["scenario"]["seed"] == 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("args", "message"), [
    (["--seeds", "1-3", "--set", "alpah=0.1"], "--set alpah=0.1: alpah: unknown key"),
    (["--seeds", "1-3", "--set", "migration.startup=30s,1parsec"],
     "--set migration.startup=1parsec: migration.startup"),
    (["--seeds", "1-x"], "--seeds: cannot read '1-x'"),
    (["--seeds", "5-2"], "--seeds: range '5-2' runs backwards"),
    (["--seeds", "1", "--policies", "static,nope"], "unknown policy 'nope'"),
    (["--seeds", "1", "--workers", "0"], "--workers: must be >= 1"),
    (["--seeds", "1", "--serial", "--address", "127.0.0.1:1"], "--serial runs in this process"),
    (["--seeds", "1", "--address", "nonsense"], "--address 'nonsense': write HOST:PORT"),
])
def test_bad_input_exits_2_with_one_line_and_no_output(capsys, scenario, tmp_path, args,
                                                        message):
    out = tmp_path / "out"
    code, _, stderr = clikit.run(capsys, "sweep", str(scenario), "--out", str(out), *args)
    assert code == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert not out.exists()


def test_unknown_scenario_exits_2(capsys, tmp_path, isolated_cache):
    code, _, stderr = clikit.run(capsys, "sweep", "no-such-scenario", "--seeds", "1",
                                 "--out", str(tmp_path / "out"))
    assert code == 2
    assert "'no-such-scenario' does not exist as a file and is not a packaged scenario" in stderr
    assert not (tmp_path / "out").exists()


def test_unreachable_address_exits_2_quickly(capsys, scenario, tmp_path):
    port = _free_port()
    code, _, stderr = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1", "--address",
                                 f"127.0.0.1:{port}", "--out", str(tmp_path / "out"))
    assert code == 2
    assert f"--address 127.0.0.1:{port}: no Ray cluster answers there" in stderr
    assert not (tmp_path / "out").exists()


def test_another_sweep_in_the_same_directory_is_refused(capsys, scenario, tmp_path):
    out = str(tmp_path / "out")
    assert clikit.run(capsys, "sweep", str(scenario), "--seeds", "1-2", "--serial",
                      "--out", out)[0] == 0
    code, _, stderr = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1-3", "--serial",
                                 "--out", out)
    assert code == 2 and "holds a different sweep (it differs in seeds)" in stderr
    assert "--force" in stderr
    code, stdout, _ = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1-3", "--serial",
                                 "--out", out, "--force")
    assert code == 0 and "6 cells (6 run now, 0 already there)" in stdout


def test_missing_ray_names_the_extra(capsys, scenario, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    code, _, stderr = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1",
                                 "--out", str(tmp_path / "out"))
    assert code == 1
    assert "pip install 'greenhop[sweep]'" in stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("empty", ["", " "])
def test_an_empty_output_folder_is_refused_not_read_as_the_current_one(empty):
    # Path("") is "."; every command that writes a folder checks it with output_dir
    from greenhop.cli.paths import output_dir
    from greenhop.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^--out: empty path"):
        output_dir(empty, "--out")


def test_one_seed_is_one_seed_and_no_note(capsys, scenario, tmp_path):
    code, stdout, stderr = clikit.run(capsys, "sweep", str(scenario), "--seeds", "2",
                                      "--serial", "-p", "static", "--out", str(tmp_path / "o"))
    assert code == 0 and "cli-sweep, 1 seed (2)" in stdout and "note:" not in stderr


def test_ctrl_c_says_what_is_kept_and_how_to_go_on(capsys, scenario, tmp_path, monkeypatch):
    """A Ctrl-C in a sweep ended it with exit 130 and not a word on either stream."""
    import greenhop.sim.sweep

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(greenhop.sim.sweep, "run_sweep", interrupted)
    out = tmp_path / "o"
    code, stdout, stderr = clikit.run(capsys, "sweep", str(scenario), "--seeds", "1-2",
                                      "--serial", "--out", str(out))
    assert code == 130 and stdout == ""
    assert (f"interrupted: the cells finished so far are kept in {out}; run the same command "
            "to go on from them") in " ".join(stderr.split())
