"""Scenario values a probe of the scenario keys found past what the simulator can hold:
each was a traceback or a run that never ended, and is now one line naming the key."""

from __future__ import annotations

import pytest
from clikit import one_line_error, run, two_site_scenario

SUNNY_B = '{ kind = "solar", peak = "4kW" }'

CASES = {
    # an elastic job's max_gpus past a C long was an OverflowError in the fleet state
    "max_gpus": (SUNNY_B, '[[jobs]]\nname = "j"\nwork_gpu_h = 4\ncheckpoint = "2GB"\n'
                 'origin = "a"\nmax_gpus = 9223372036854775808\n',
                 "max_gpus must be a whole number from 1 to 1,000,000"),
    # a caiso trace shifted by 1e300 h overflowed pandas' Timedelta
    "caiso offset": ('{ kind = "caiso", share = 1e-4, offset = "1e300h" }', "",
                     "sites[1].trace.offset: at most 10 years"),
    # an infinite generator weight made the job draw's probabilities NaN
    "gpu weights": (SUNNY_B, "", "generator.gpu_weights: expected 1 finite"),
    # a range whose draws round to 0 GPU-h was blamed on a generated job, not the key
    "generator work": (SUNNY_B, "", "generator.work_gpu_h: expected [min, max] GPU-hours "
                       "with 1e-06 <= min"),
    # a year's worth of forecast steps per step: a 30 GiB array, or numpy's dimension limit
    "grid forecast horizon": (SUNNY_B, '[grid]\nforecast_horizon = "1e9h"\n',
                              "grid.forecast_horizon: at most 366 days"),
    # a negative intensity gave negative carbon; a price may be negative, an intensity not
    "zone carbon": (SUNNY_B, '[grid]\nobjective = "carbon"\n[[grid.zones]]\nname = "Z"\n'
                    'sites = ["a", "b"]\ncarbon = [10.0, -500.0]\n',
                    "grid.zones[0].carbon[1]: a carbon intensity is from 0 to 100,000"),
    # the planner's blocks were built up to a horizon of 1e300 s, forever
    "planner horizon": (SUNNY_B, '[policy_params.horizon-planner]\nhorizon_s = 1e300\n',
                        "horizon-planner: horizon_s must be <="),
    # 1e15 outer steps of a spread job: a barrier and an exchange booked each, forever
    "outer steps": (SUNNY_B, '[[jobs]]\nname = "span"\nwork_gpu_h = 12\nworkers = 2\n'
                    'sync_every = 100\nouter_steps = 1000000000000000\nmodel_params = 1e8\n',
                    "jobs[0].outer_steps: must be <= 1e+06"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_scenario_value_past_what_the_simulator_holds_is_one_line(capsys, tmp_path,
                                                                     case) -> None:
    b_trace, extra, message = CASES[case]
    text = two_site_scenario("probe", b_longitude=90.0, b_trace=b_trace)
    if case == "gpu weights":
        text = text.replace("work_gpu_h = [1, 8]", "work_gpu_h = [1, 8]\ngpus = [1]\n"
                                                   "gpu_weights = [inf]")
    if case == "generator work":
        text = text.replace("work_gpu_h = [1, 8]", "work_gpu_h = [1e-7, 1e-7]")
    if extra.startswith("[[jobs]]"):  # jobs go before the generator's tables
        text = text.replace("[generator]", extra + "\n[generator]")
    else:
        text += "\n" + extra
    path = tmp_path / "probe.toml"
    path.write_text(text)
    code, _, err = run(capsys, "simulate", str(path), "--out", str(tmp_path / "out"))
    one_line_error(code, err, "probe.toml", message)
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_a_price_file_row_dated_past_the_clock_names_its_row(capsys, tmp_path) -> None:
    """A row dated 9999 in a day-ahead price file overflowed the nanosecond clock."""
    from greenhop.core.errors import TraceError
    from greenhop.traces.grid_signals import NL_HEADER, read_nl_day_ahead

    path = tmp_path / "prices.csv"
    rows = [",".join(NL_HEADER), "Netherlands,9999-12-31 23:00:00,,5"]
    rows += [f"Netherlands,2023-06-01 {h:02d}:00:00,,{50 + h}" for h in range(24)]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(TraceError, match=r"row 1 \(line 2\).*'9999-12-31 23:00:00' is outside "
                                         r"the years 1678 to 2261"):
        read_nl_day_ahead(path)


@pytest.mark.parametrize(("price", "offset", "message"), [
    ('{ file = "prices.csv" }', "0d", "grid.zones[0].price.file: "),
    ('"nl-day-ahead"', "4000d", "grid.zones[0].carbon: grid signal 'de-lifecycle' covers"),
])
def test_a_bad_price_file_or_signal_span_names_the_scenario_file(capsys, tmp_path, price,
                                                                 offset, message) -> None:
    """A price file's error (read with the scenario) and a signal's span (found when the
    run's inputs are built) named the key and the CSV, not the scenario file."""
    from pathlib import Path

    import greenhop

    packaged = Path(greenhop.__file__).parent / "data/scenarios/grid-de-nl.toml"
    text = packaged.read_text().replace('price = "nl-day-ahead"\noffset = "0d"',
                                        f'price = {price}\noffset = "{offset}"', 1)
    (tmp_path / "prices.csv").write_text("time,price\n2023-06-01T00:00:00Z,10\n")
    path = tmp_path / "mine.toml"
    path.write_text(text)
    code, _, err = run(capsys, "simulate", str(path), "--out", str(tmp_path / "out"))
    one_line_error(code, err, f"{path}: {message}")
    assert "prices.csv: line 1" in err or "price" not in message
    assert not (tmp_path / "out").exists()


def test_a_start_the_weather_years_do_not_cover_names_the_file_and_the_keys(capsys,
                                                                            tmp_path) -> None:
    """Fleet sites' typical-year weather is mapped onto 1901-2099: a run reaching into 1899
    was blamed on `horizon` alone, without the file."""
    from pathlib import Path

    import greenhop

    packaged = Path(greenhop.__file__).parent / "data" / "scenarios" / "live-3site.toml"
    text = packaged.read_text().replace('start = "2023-06-01T00:00:00Z"',
                                        'start = "1900-01-01T00:00:00Z"')
    path = tmp_path / "early.toml"
    path.write_text(text)
    code, _, err = run(capsys, "simulate", str(path), "--out", str(tmp_path / "out"))
    one_line_error(code, err, "early.toml: start / history / horizon", "greensboro-nc",
                   "1901-2099")


@pytest.mark.parametrize(("key", "value", "message"), [
    ("carbon_intensity", "1.7e308", "sites[0].carbon_intensity: must be <= 100000"),
    ("throughput", "1.7e308", "sites[0].throughput: must be <= 1000"),
])
def test_a_site_figure_past_any_real_one_is_refused(capsys, tmp_path, key, value,
                                                    message) -> None:
    """A finite intensity whose products overflowed gave `null` carbon in metrics.json; a
    throughput of 1.7e308 gave slowdowns of 1 with completion times of 0."""
    text = two_site_scenario("probe", b_longitude=90.0, b_trace=SUNNY_B)
    text = text.replace('gpu_power = "400W"', f'gpu_power = "400W"\n{key} = {value}', 1)
    path = tmp_path / "probe.toml"
    path.write_text(text)
    code, _, err = run(capsys, "simulate", str(path), "--out", str(tmp_path / "out"))
    one_line_error(code, err, "probe.toml", message)
