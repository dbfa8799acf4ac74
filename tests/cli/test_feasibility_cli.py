"""``greenhop feasibility``: the issue's worked examples, JSON and human output."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from clikit import run

from greenhop.core.platforms import platform

BASE = ["feasibility", "--checkpoint", "98GB", "--bandwidth", "1Gbps", "--window", "2.5h"]


def run_json(capsys, *args: str) -> dict:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_worked_example_is_feasible(capsys) -> None:
    r = run_json(capsys, *BASE, "--ideal")
    assert r["transfer_s"] == pytest.approx(784.0)
    assert r["budget_s"] == pytest.approx(900.0)
    assert r["alpha"] == 0.1
    assert r["feasible"] is True


def test_worked_example_with_a_2h_window_is_not_feasible(capsys) -> None:
    args = [a if a != "2.5h" else "2h" for a in BASE]
    r = run_json(capsys, *args, "--ideal")
    assert r["transfer_s"] == pytest.approx(784.0)
    assert r["feasible"] is False


def test_json_has_every_required_key(capsys) -> None:
    r = run_json(capsys, *BASE)
    for key in ("checkpoint_bytes", "effective_bps", "save_s", "transfer_s", "restore_s",
                "downtime_s", "window_s", "alpha", "feasible", "migration_energy_j",
                "payback_s", "justified", "time_margin_s", "max_checkpoint_bytes",
                "checkpoint_headroom", "min_window_s", "window_slack_s", "min_bandwidth_bps"):
        assert key in r
    assert r["downtime_s"] == pytest.approx(r["save_s"] + r["transfer_s"] + r["restore_s"])


def test_json_is_strict_json_with_null_for_infinity(capsys) -> None:
    code, out, _ = run(capsys, *BASE, "--ideal", "--json")
    assert code == 0
    assert "Infinity" not in out
    r = json.loads(out)
    assert r["write_Bps"] is None and r["read_Bps"] is None


@pytest.mark.parametrize(("streams", "factor"), [("1", 1), ("8", 8)])
def test_mathis_bound_with_streams(capsys, streams: str, factor: int) -> None:
    r = run_json(capsys, "feasibility", "--checkpoint", "98GB", "--bandwidth", "10Gbps",
                 "--window", "2.5h", "--ideal", "--rtt", "50ms", "--loss", "1e-4",
                 "--streams", streams)
    one = 1460 * 8 / 0.05 * math.sqrt(1.5) / math.sqrt(1e-4)
    assert one == pytest.approx(28.6e6, rel=1e-3)
    assert r["effective_bps"] == pytest.approx(factor * one)


def test_ideal_leaves_explicit_options_alone(capsys) -> None:
    r = run_json(capsys, *BASE, "--ideal", "--efficiency", "0.5", "--startup", "30s",
                 "--write-rate", "1GB/s")
    assert r["efficiency"] == 0.5
    assert r["startup_s"] == 30.0
    assert r["write_Bps"] == 1e9
    assert r["read_Bps"] is None  # still infinite from --ideal


def test_defaults_without_ideal_are_the_cited_constants(capsys) -> None:
    r = run_json(capsys, *BASE)
    assert r["efficiency"] == 0.8
    assert r["startup_s"] == 60.0
    assert r["write_Bps"] == 2e9
    assert r["transfer_s"] == pytest.approx(784.0 / 0.8)


def test_params_and_preset_give_the_checkpoint(capsys) -> None:
    r = run_json(capsys, "feasibility", "--params", "7e9", "--preset", "mixed-adam",
                 "--bandwidth", "10Gbps", "--window", "2.5h")
    assert r["checkpoint_bytes"] == 98e9
    assert r["params"] == 7e9 and r["preset"] == "mixed-adam"
    r = run_json(capsys, "feasibility", "--params", "70B", "--preset", "weights-bf16",
                 "--bandwidth", "10Gbps", "--window", "2.5h")
    assert r["checkpoint_bytes"] == 140e9


def test_gpu_sets_job_and_idle_power(capsys) -> None:
    h100 = platform("H100-SXM")
    r = run_json(capsys, *BASE, "--gpu", "h100", "--gpus", "8")
    assert r["job_power_w"] == 8 * h100.train_power_w
    assert r["idle_power_w"] == 8 * h100.idle_power_w
    assert r["gpu"] == "H100-SXM"
    r = run_json(capsys, *BASE, "--gpu", "orin", "--idle-power", "5W")
    assert r["job_power_w"] == platform("orin").train_power_w
    assert r["idle_power_w"] == 5.0


def test_energy_options_change_payback(capsys) -> None:
    r = run_json(capsys, *BASE, "--ideal", "--job-power", "1kW", "--idle-power", "0W",
                 "--network-j-per-bit", "1e-6", "--green-gain", "0.5")
    assert r["migration_energy_j"] == pytest.approx(8 * 98e9 * 1e-6)
    assert r["payback_s"] == pytest.approx(8 * 98e9 * 1e-6 / 500.0)
    assert r["justified"] is True


def test_human_output_lists_every_term_and_the_verdicts(capsys) -> None:
    code, out, err = run(capsys, *BASE, "--ideal")
    assert code == 0 and err == ""
    for text in ("checkpoint S", "98 GB", "effective rate B_eff", "1 Gbit/s", "save",
                 "transfer", "13 min 4 s", "restore", "downtime D", "budget", "15 min",
                 "time margin", "largest checkpoint", "shortest window", "smallest bandwidth",
                 "migration energy E_mig", "payback t_pb", "FEASIBLE", "JUSTIFIED"):
        assert text in out, text
    assert "NOT FEASIBLE" not in out


def test_human_output_says_not_feasible(capsys) -> None:
    code, out, _ = run(capsys, "feasibility", "-c", "980GB", "-b", "1Gbps", "-w", "1h")
    assert code == 0
    assert "NOT FEASIBLE" in out


def test_a_verdict_whose_two_sides_round_alike_shows_them_apart(capsys) -> None:
    """"SYNC NOT FEASIBLE: sync 3 min 7 s > budget 3 min 7 s" read as a contradiction."""
    code, out, _ = run(capsys, "feasibility", "--params", "7e9", "-b", "1Gbps", "-w", "2.5h",
                       "--workers", "3", "--sync-every", "1867")
    line = next(x for x in out.splitlines() if "SYNC NOT FEASIBLE" in x)
    sync, budget = (float(p.split()[0]) for p in line.split("sync ")[1].split(" > budget "))
    assert code == 0 and sync > budget, line
    # apart where they are apart enough: the minutes-and-seconds form stays
    code, out, _ = run(capsys, "feasibility", "-c", "980GB", "-b", "1Gbps", "-w", "1h")
    assert "NOT FEASIBLE: downtime 3 h 1 min > budget 6 min" in out


@pytest.mark.parametrize(
    ("command", "texts"),
    [
        ("feasibility", ("98GB", "1.5GiB", "Decimal prefixes", "1Gbps", "2.5h", "(0, 1]",
                         "[0, 1)", "50ms", "700W", "[J/bit]", "--ideal", "Default: 0.1",
                         "Default: 2 GB/s")),
        ("feasibility-map", ("1GB:1TB", "100Mbps:100Gbps", "1h,2.5h,5h,9.5h", "(0, 1]",
                             ".png, .svg")),
    ],
)
def test_help_explains_units(capsys, monkeypatch, command: str, texts: tuple[str, ...]) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    for text in texts:
        assert text in out, text


def test_installed_entry_point_runs_the_worked_example() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "greenhop", *BASE, "--ideal", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["transfer_s"] == pytest.approx(784.0)


@pytest.mark.parametrize(("command", "has_ideal"),
                         [("feasibility", True), ("feasibility-map", True), ("sync-map", False)])
def test_efficiency_help_names_ideal_only_where_the_command_has_it(
        capsys, monkeypatch, command: str, has_ideal: bool) -> None:
    # --ideal sets the efficiency to 1 where it was not given (link_options), so the help
    # says so on the commands that take --ideal, and not on the one that lacks it.
    monkeypatch.setenv("COLUMNS", "300")
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert ("--ideal" in out) is has_ideal
    assert ("1 with --ideal" in out) is has_ideal


@pytest.mark.parametrize(("size", "shown", "bits"), [
    ("98Gb", "12.2 GB", True), ("8 Gbit", "1 GB", True), ("98GB", "98 GB", False),
    ("1.5GiB", "1.61 GB", False)])
def test_a_checkpoint_size_given_in_bits_is_said_to_be_in_bits(capsys, monkeypatch, size,
                                                               shown, bits) -> None:
    """``-c 98Gb`` is 98 gigabits (12.25 GB), read without a word where GB was likely meant;
    the table's how column now says the size was given in bits."""
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(capsys, "feasibility", "-c", size, "-b", "1Gbps", "-w", "2h")
    row = next(line for line in out.splitlines() if line.startswith("checkpoint S"))
    assert code == 0 and shown in row
    assert ("in bits (write B for bytes)" in row) is bits
