"""``greenhop sites``, ``greenhop data list|fetch`` and ``greenhop windows``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from clikit import run

STAT_KEYS = {"count", "mean_h", "median_h", "p10_h", "p90_h", "duty_factor"}


pytestmark = pytest.mark.usefixtures("isolated_cache")


def test_sites_json_lists_the_default_fleet(capsys) -> None:
    code, out, _ = run(capsys, "sites", "--json")
    assert code == 0
    data = json.loads(out)
    assert len(data["sites"]) >= 6
    first = data["sites"][0]
    assert {"name", "location", "timezone", "pv_kwp", "wind_kw", "battery_kwh",
            "gpu_slots"} <= set(first)


def test_sites_table(capsys) -> None:
    code, out, _ = run(capsys, "sites")
    assert code == 0 and "greensboro-nc" in out and "kWp" in out


def test_data_list_shows_sources_terms_and_presence(capsys) -> None:
    code, out, _ = run(capsys, "data", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0
    assert rows["tmy3-greensboro"]["present"] is True
    assert rows["solcast2022_global"]["present"] is False
    assert rows["solcast2022_global"]["how"] == "greenhop data fetch solcast2022_global"
    assert all(r["terms"] and r["source"] for r in rows.values())


def test_data_fetch_of_an_unknown_name_is_a_user_error(capsys) -> None:
    code, _, err = run(capsys, "data", "fetch", "nosuch")
    assert code == 2 and "unknown dataset 'nosuch'" in err
    code, _, err = run(capsys, "data", "fetch", "tmy3-greensboro")  # listed, not fetched
    assert code == 2 and "is not fetched: installed with pvlib" in " ".join(err.split())


def test_windows_site_json_prints_the_statistics(capsys) -> None:
    code, out, _ = run(capsys, "windows", "--site", "madrid-es", "--json", "--step", "1h")
    assert code == 0
    data = json.loads(out)
    assert set(data) >= STAT_KEYS
    assert data["name"] == "madrid-es" and data["count"] > 300
    assert 0 < data["duty_factor"] < 1 and data["p10_h"] <= data["median_h"] <= data["p90_h"]


def test_windows_all_sites_and_complementarity(capsys, tmp_path) -> None:
    png = tmp_path / "w.png"
    code, out, _ = run(capsys, "windows", "--site", "all", "--json", "--step", "1h",
                       "--plot", str(png), "--plot-days", "3")
    data = json.loads(out)
    assert code == 0 and len(data["sites"]) >= 6
    assert 0 < data["complementarity"]["any_share"] <= 1
    assert png.stat().st_size > 10_000


def test_windows_on_a_user_trace_with_a_plot(capsys, tmp_path) -> None:
    csv = tmp_path / "surplus.csv"
    rows = [f"2023-06-01T{h:02d}:00Z,{v}" for h, v in enumerate([0, 8, 8, 8, 0, 8, 0, 8, 8])]
    csv.write_text("time,kw\n" + "\n".join(rows) + "\n")
    png = tmp_path / "out.png"
    code, out, _ = run(capsys, "windows", "--trace", str(csv), "--column", "kw", "--unit", "kW",
                       "--threshold", "5kW", "--min-duration", "2h", "--json",
                       "--plot", str(png))
    data = json.loads(out)
    assert code == 0 and data["count"] == 2 and data["mean_h"] == 2.5
    assert png.exists()


def test_windows_of_a_scenario_site_read_its_own_trace(capsys, tmp_path) -> None:
    """A site defined in one's own scenario could not be looked at (--site knew the fleet's
    sites only, --fleet refused a scenario). Here the site's surplus is a constant 3 kW
    above its 1 kW base load, half the time: 2 h windows at a 2 kW threshold."""
    (tmp_path / "s.toml").write_text("""
name = "mine"
start = "2023-06-01T00:00:00Z"
horizon = "1d"
history = "1d"
step = "1h"
policies = ["static"]

[[sites]]
name = "roof"
latitude = 45.0
longitude = 7.0
gpu_slots = 2
base_load = "1kW"
pue = 1.0
trace = { kind = "values", values = [4000, 4000, 0, 0] }

[[jobs]]
name = "j1"
work_gpu_h = 1
checkpoint = "1GB"
""".replace("[4000, 4000, 0, 0]", str([4000, 4000, 0, 0] * 12)))
    code, out, _ = run(capsys, "windows", "--scenario", str(tmp_path / "s.toml"), "--site",
                       "roof", "--threshold", "2kW", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["name"] == "roof" and data["scenario"] == "mine" and data["step_s"] == 3600
    assert (data["count"], data["mean_h"], data["duty_factor"]) == (12, 2.0, 0.5)
    # without --threshold, the scenario's own (its default, 1 kW: the 3 kW surplus counts),
    # as the simulator reads windows, where 5 kW, the fleet sites' default, found none
    code, out, _ = run(capsys, "windows", "--scenario", str(tmp_path / "s.toml"), "--site",
                       "roof", "--json")
    data = json.loads(out)
    assert (data["threshold_w"], data["count"], data["duty_factor"]) == (1000.0, 12, 0.5)
    code, _, err = run(capsys, "windows", "--scenario", str(tmp_path / "s.toml"), "--site",
                       "attic")
    assert code == 2 and "no site of that name in scenario 'mine'; its sites: roof" in err
    code, _, err = run(capsys, "windows", "--scenario", "default", "--site", "madrid-es",
                       "--step", "1h")
    assert code == 2 and "--step goes with a fleet site" in err


def test_windows_trace_gap_modes(capsys, tmp_path) -> None:
    csv = tmp_path / "gappy.csv"
    csv.write_text("time,kw\n2023-06-01T00:00Z,8\n2023-06-01T01:00Z,8\n"
                   "2023-06-01T03:00Z,8\n2023-06-01T04:00Z,8\n")
    base = ("windows", "--trace", str(csv), "--column", "kw", "--unit", "kW", "--json",
            "--min-duration", "0s")
    code, _, err = run(capsys, *base)
    assert code == 2 and "gap of 3600 s" in err and "--gaps break" in err
    code, out, _ = run(capsys, *base, "--gaps", "break")
    assert code == 0 and json.loads(out)["count"] == 2
    code, out, _ = run(capsys, *base, "--gaps", "interpolate")
    assert code == 0 and json.loads(out)["count"] == 1


@pytest.mark.parametrize(("argv", "message"), [
    (("windows",), "give exactly one of --site"),
    (("windows", "--site", "atlantis"), "no site 'atlantis'"),
    (("windows", "--site", "madrid-es", "--threshold", "5 apples"), "--threshold"),
    (("windows", "--site", "madrid-es", "--min-duration", "soon"), "--min-duration"),
    (("windows", "--site", "madrid-es", "--gaps", "skip"), "--gaps must be"),
    (("windows", "--trace", "x.csv"), "needs --column NAME and --unit"),
    (("windows", "--trace", "x.csv", "--column", "c", "--unit", "gCO2/kWh"), "power trace"),
    (("windows", "--trace", "nope.csv", "--column", "c", "--unit", "kW"), "does not exist"),
    (("sites", "--fleet", "nope.toml"), "does not exist"),
    # a plain number is refused: beside --unit kW, "5" read as 5 W without a word
    (("windows", "--site", "madrid-es", "--threshold", "5"), "--threshold: power '5' needs a unit"),
    (("windows", "--site", "madrid-es", "--threshold", "1e20W"),
     "--threshold '1e20W': 1e+20 W is more than 1 TW"),
    (("windows", "--site", "madrid-es", "--min-duration", "30"), "--min-duration: duration"),
    # options of one source given with the other were ignored without a word
    (("windows", "--trace", "x.csv", "--column", "c", "--unit", "kW", "--step", "1h"),
     "--step goes with --site"),
    (("windows", "--trace", "x.csv", "--column", "c", "--unit", "kW", "--year", "2020"),
     "--year goes with --site"),
    (("windows", "--site", "madrid-es", "--unit", "kW"), "--unit goes with --trace"),
])
def test_user_errors_are_one_line_with_exit_code_2(capsys, argv, message) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_help_texts_carry_units() -> None:
    result = subprocess.run([sys.executable, "-m", "greenhop", "windows", "--help"],
                            capture_output=True, text=True, timeout=120,
                            env={"COLUMNS": "200", "PATH": ""})
    assert result.returncode == 0
    assert "5kW" in result.stdout and "1h" in result.stdout and "(kWh)" in result.stdout


@pytest.mark.parametrize(("step", "needle"), [("0", "--step must be positive"),
                                              ("7min", "--step must divide a day")])
def test_windows_step_errors_say_what_is_wrong(capsys, step, needle) -> None:
    code, _, err = run(capsys, "windows", "--site", "madrid-es", "--step", step)
    assert code == 2 and needle in err
