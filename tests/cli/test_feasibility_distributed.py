"""``greenhop feasibility --workers N --sync-every H``: the terms of a job spread over sites."""

from __future__ import annotations

import json

import pytest
from clikit import run

BASE = ["feasibility", "--params", "7e9", "--bandwidth", "1Gbps", "--window", "2.5h"]


def test_json_adds_the_sync_and_worker_move_terms(capsys):
    code, out, _ = run(capsys, *BASE, "--workers", "3", "--sync-every", "500",
                       "--rtt", "50ms", "--loss", "1e-4", "--json")
    assert code == 0
    r = json.loads(out)
    # 2 (3-1)/3 x 7e9 x 2 B; 8 streams x Mathis(1460 B, 50 ms, 1e-4) = 228.88 Mbit/s.
    assert r["sync_bytes"] == pytest.approx(18.666666666666668e9)
    assert r["sync_s"] == pytest.approx(652.55, abs=0.01)
    assert r["sync_energy_j"] == pytest.approx(376_320.0 + 3 * 70.0 * r["sync_s"])
    assert r["sync_feasible"] is False
    # one worker's state, 7e9 x 16 B, over the same path: 112e9 / 2e9 x 2 + 60 s + transfer
    assert r["worker_state_bytes"] == 112e9
    assert r["worker_move_s"] == pytest.approx(56 + 56 + 60 + 8 * 112e9 / 228.88e6, rel=1e-4)
    assert r["workers"] == 3 and r["sync_every"] == 500
    # the single-job terms are still there
    assert r["checkpoint_bytes"] == 98e9 and "downtime_s" in r


def test_options_change_the_terms(capsys):
    args = [*BASE, "--workers", "2", "--sync-every", "1000", "--json"]
    _, out, _ = run(capsys, *args, "--sync-precision", "fp32", "--step-time", "2s",
                    "--sync-share", "0.5", "--worker-state", "10GB")
    r = json.loads(out)
    assert r["sync_bytes"] == 28e9                       # 2 (1/2) 7e9 x 4 B
    assert r["sync_s"] == pytest.approx(8 * 28e9 / 0.8e9 + 0.02)
    assert r["sync_budget_s"] == pytest.approx(0.5 * 1000 * 2.0)
    assert r["sync_feasible"] is True
    assert r["worker_move_s"] == pytest.approx(5 + 100 + 5 + 60)


def test_table_names_the_verdicts(capsys):
    code, out, _ = run(capsys, *BASE, "--workers", "4", "--sync-every", "5000")
    assert code == 0
    assert "sync bytes per worker" in out and "21 GB" in out
    assert "SYNC FEASIBLE" in out and "WORKER MOVE NOT FEASIBLE" in out


def test_checkpoint_gives_the_params_through_the_preset(capsys):
    _, out, _ = run(capsys, "feasibility", "--checkpoint", "98GB", "--bandwidth", "1Gbps",
                    "--window", "2.5h", "--workers", "2", "--sync-every", "10", "--json")
    assert json.loads(out)["spread_params"] == pytest.approx(7e9)   # 98 GB / 14 B
    _, out, _ = run(capsys, "feasibility", "--checkpoint", "98GB", "--bandwidth", "1Gbps",
                    "--window", "2.5h", "--workers", "2", "--sync-every", "10", "--json",
                    "--preset", "weights-bf16")
    assert json.loads(out)["spread_params"] == pytest.approx(49e9)  # 98 GB / 2 B
    # for one job the preset reads nothing of a size given in bytes: it was ignored, exit 0
    code, _, err = run(capsys, "feasibility", "--checkpoint", "98GB", "--bandwidth", "1Gbps",
                       "--window", "2.5h", "--preset", "weights-bf16")
    assert code == 2 and "with --checkpoint alone it changes nothing" in err


@pytest.mark.parametrize(("extra", "expect"), [
    (["--workers", "0", "--sync-every", "500"], "--workers 0 must be a whole number >= 1"),
    (["--workers", "3", "--sync-every", "0"], "--sync-every 0 must be a whole number >= 1"),
    (["--workers", "2.5", "--sync-every", "5"], "--workers 2.5 must be a whole number"),
    (["--workers", "3"], "needs --sync-every H too"),
    (["--sync-every", "500"], "needs --workers N too"),
    (["--step-time", "1s"], "--step-time describes a job spread over sites"),
    (["--workers", "3", "--sync-every", "5", "--sync-share", "0"], "--sync-share 0.0 is outside"),
    (["--workers", "3", "--sync-every", "5", "--sync-precision", "int3"], "is not one of"),
    (["--workers", "3", "--sync-every", "5", "--worker-state", "0GB"], "must be positive"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, extra, expect):
    code, _, err = run(capsys, *BASE, *extra)
    assert code == 2
    assert expect in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_sync_map_prints_the_boundary_table_and_draws_it(capsys, tmp_path):
    out = tmp_path / "fig" / "sync.png"
    code, text, _ = run(capsys, "sync-map", "--models", "7B", "--bandwidths", "1Gbps:10Gbps",
                        "--out", str(out))
    assert code == 0
    # 7e9 params, 3 workers: 18.667 GB per worker; at 0.8 Gbit/s 186.71 s -> H >= 1,868.
    assert "| 7 B params | 1,868 | 188 |" in text
    # one worker is not "1 workers"; a million parameters are not "0.001 B"
    code, text, _ = run(capsys, "sync-map", "--models", "1M", "--workers", "1",
                        "--bandwidths", "1Gbps:10Gbps")
    assert code == 0 and ", 1 worker:" in text and "| 1 M params |" in text
    code, text, _ = run(capsys, "sync-map", "--models", "1", "--bandwidths", "1Gbps:10Gbps")
    assert code == 0 and "| 1 param |" in text  # not "1 params"
    assert out.is_file() and out.stat().st_size > 10_000
    code, _, err = run(capsys, "sync-map", "--models", "seven")
    assert code == 2 and "--models" in err
    # one row per model size: 7B and 7e9 are one size (feasibility-map's --windows alike)
    code, _, err = run(capsys, "sync-map", "--models", "7B,,13B")
    assert code == 2 and "--models '7B,,13B': an empty entry" in err
    code, _, err = run(capsys, "sync-map", "--models", "7B,7e9")
    assert code == 2 and "--models: 7e9 is the same model size as 7B" in err
    code, text, _ = run(capsys, "sync-map", "--models", "7B", "--sync-precision", "fp16",
                        "--bandwidths", "1Gbps:10Gbps")
    assert code == 0 and "| 7 B params | 1,868 | 188 |" in text  # 2 B/value, as bf16


@pytest.mark.parametrize(("models", "why"), [
    ("1e300", "'1e300' is above 1e15"), ("0.5", "'0.5' is below 1"),
    ("7B,1e16", "'1e16' is above 1e15")])
def test_sync_map_model_sizes_are_held_to_the_range_of_params(capsys, models, why):
    """--models took 1e300 and 0.5 parameters and printed rows of them, where feasibility's
    --params refuses a count outside 1 to 1e15."""
    code, text, err = run(capsys, "sync-map", "--models", models)
    assert code == 2 and text == ""
    assert err.strip() == f"error: --models {why}; it must lie between 1 and 1e15, e.g. --models 7B"


def test_sync_map_writes_huge_intervals_in_powers_of_ten(capsys):
    # 1 ms per step and a share of 1e-10: H = 186.71 s / (1e-10 x 1e-3 s) = 1.87e15 steps
    # at 1 Gbit/s, which with separators would be a 22-character cell; 10 Gbit/s gives
    # 1.87e14.
    code, text, _ = run(capsys, "sync-map", "--models", "7B", "--bandwidths", "1Gbps:10Gbps",
                        "--step-time", "1ms", "--sync-share", "1e-10")
    assert code == 0
    assert "| 7 B params | 1.87e+15 | 1.87e+14 |" in text
