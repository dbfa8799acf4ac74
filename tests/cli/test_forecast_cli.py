"""``greenhop forecast models`` and ``greenhop forecast backtest`` (no network)."""

from __future__ import annotations

import json

import pytest
from clikit import run

FAST = ("--issue-every", "2h", "--warmup", "10d")


pytestmark = pytest.mark.usefixtures("isolated_cache")


def test_models_lists_the_forecasters(capsys) -> None:
    code, out, _ = run(capsys, "forecast", "models")
    assert code == 0
    assert out.split() == ["clear-sky-persistence", "gbm", "persistence", "replay",
                           "seasonal-naive"]


def test_backtest_json_on_a_fleet_site(capsys, tmp_path) -> None:
    png = tmp_path / "bt.png"
    code, out, _ = run(capsys, "forecast", "backtest", "--site", "madrid-es", "--model",
                       "seasonal-naive", "--json", "--plot", str(png), *FAST)
    assert code == 0
    data = json.loads(out)
    assert data["site"] == "madrid-es" and data["model"] == "seasonal-naive"
    row = data["per_horizon"][0]
    assert {"horizon_h", "mae", "rmse", "skill", "pinball", "coverage"} <= set(row)
    assert [r["horizon_h"] for r in data["per_horizon"]] == [1.0, 2.0, 3.0, 4.0]
    assert {"mae_h", "coverage", "bias_h"} <= set(data["windows"])
    assert png.stat().st_size > 10_000


def test_backtest_table(capsys) -> None:
    code, out, _ = run(capsys, "forecast", "backtest", "--site", "madrid-es", "--model",
                       "persistence", "--no-windows", "--horizons", "1h,3h", *FAST)
    assert code == 0 and "skill" in out and "+0.000" in out and "windows" not in out


@pytest.mark.parametrize(("argv", "message"), [
    (("--site", "madrid-es", "--model", "prophet"), "unknown forecaster 'prophet'"),
    (("--site", "atlantis", "--model", "persistence"), "unknown site 'atlantis'"),
    (("--site", "Berlin", "--model", "persistence"), "greenhop data fetch solcast2022_global"),
    (("--site", "madrid-es", "--model", "replay"), "has no issued forecasts"),
    (("--site", "madrid-es", "--horizons", "soon"), "--horizons"),
    (("--site", "madrid-es", "--horizons", "1h,,2h"), "--horizons '1h,,2h': an empty entry"),
    (("--site", "madrid-es", "--threshold", "2TW"), "--threshold '2TW': 2e+12 W is more than 1 TW"),
    (("--site", "madrid-es", "--model", "persistence", "--warmup", "60d"), "exceed the series"),
])
def test_bad_inputs_are_one_line_user_errors(capsys, argv, message) -> None:
    code, _, err = run(capsys, "forecast", "backtest", *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_daily_issues_are_warned_about(capsys) -> None:
    """Issued every 1 d, every issue falls at one time of day (on the Solcast series of
    madrid-es, midnight, where surplus is 0: persistence made no error and the table
    printed a skill of ``+nan``)."""
    code, _, err = run(capsys, "forecast", "backtest", "--site", "madrid-es", "--model",
                       "persistence", "--no-windows", "--issue-every", "1d")
    assert code == 0
    assert "--issue-every 1d: every issue falls at the same time of day" in " ".join(err.split())
    code, _, err = run(capsys, "forecast", "backtest", "--site", "madrid-es", "--model",
                       "persistence", "--no-windows", *FAST)
    assert code == 0 and "same time of day" not in err


def test_a_calibration_too_thin_for_its_blocks_of_the_day_is_warned_about(capsys) -> None:
    """Issued hourly over a 7-day calibration window, a 3-hour block of the day has 21
    pairs, under the 30 it needs: every hour shared one pooled shift (a 12 kW p90 at
    night on a 100 kWp roof) and 'cov act' equalled 'cover', unsaid."""
    code, _, err = run(capsys, "forecast", "backtest", "--site", "madrid-es", "--model",
                       "persistence", "--no-windows", "--issue-every", "1h", "--warmup", "10d")
    assert code == 0
    assert ("--issue-every 1h with --calibration-window 7d: a 3-hour block of the day gets "
            "about 21 pairs per horizon, fewer than the 30") in " ".join(err.split())
    code, _, err = run(capsys, "forecast", "backtest", "--site", "madrid-es", "--model",
                       "persistence", "--no-windows", "--issue-every", "1h",
                       "--calibration-window", "14d", "--warmup", "15d")
    assert code == 0 and "pairs per horizon" not in err
    # a threshold that is no power is refused where windows are not scored, too
    code, _, err = run(capsys, "forecast", "backtest", "--site", "madrid-es", "--model",
                       "persistence", "--no-windows", "--threshold", "abc", *FAST)
    assert code == 2 and "--threshold: cannot parse power 'abc'" in err


def test_backtest_on_your_own_trace_file(capsys, tmp_path) -> None:
    """Only packaged sites and Solcast cities could be backtested from the command line,
    where `windows --trace` takes one's own file."""
    import numpy as np
    import pandas as pd

    idx = pd.date_range("2023-06-01", periods=24 * 16, freq="1h", tz="UTC")
    hour = idx.hour.to_numpy()
    pv = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None) * 80.0  # kW, 06-18 h
    pd.DataFrame({"time": idx.strftime("%Y-%m-%dT%H:%M:%SZ"), "pv_kw": pv}).to_csv(
        tmp_path / "roof.csv", index=False)
    code, out, _ = run(capsys, "forecast", "backtest", "--trace", str(tmp_path / "roof.csv"),
                       "--column", "pv_kw", "--unit", "kW", "--model", "persistence",
                       "--issue-every", "1h", "--warmup", "7d", "--threshold", "20kW",
                       "--json")
    assert code == 0
    data = json.loads(out)
    assert data["site"] == "roof.csv:pv_kw" and data["unit"] == "W"
    assert all(r["skill"] == 0.0 for r in data["per_horizon"])  # persistence against itself
    assert data["windows"]["mae_h"] >= 0
    # without --threshold: any power makes a window, not 0 W, where every zero of the
    # nights was one and every model scored a window MAE of 0 h
    code, out, _ = run(capsys, "forecast", "backtest", "--trace", str(tmp_path / "roof.csv"),
                       "--column", "pv_kw", "--unit", "kW", "--model", "persistence",
                       "--issue-every", "1h", "--warmup", "7d", "--json")
    data = json.loads(out)
    assert code == 0 and data["windows"]["threshold"] == 1.0
    assert data["windows"]["mae_h"] > 0
    for argv, message in (
            (("--site", "madrid-es", "--trace", "roof.csv"), "give exactly one of --site"),
            (("--trace", "roof.csv"), "--trace needs --column NAME and --unit UNIT"),
            (("--site", "madrid-es", "--unit", "kW"), "--unit goes with --trace FILE")):
        code, _, err = run(capsys, "forecast", "backtest", *argv)
        assert code == 2 and message in err, err


def test_an_undefined_score_is_printed_as_a_dash_not_nan() -> None:
    from greenhop.cli.forecast import _cell

    assert _cell(float("nan"), "+.3f") == "–" and _cell(float("inf"), ".1%") == "–"
    assert _cell(0.25, "+.3f") == "+0.250" and _cell(0.5, ".1%") == "50.0%"
