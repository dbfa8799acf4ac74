"""A site's renewable power from the user's own trace file (``trace = { kind = "file" }``):
read as ``greenhop windows --trace`` reads it, shifted by ``offset``, resampled keeping its
energy, scaled; a bad file, key or span is one error naming the key, before any run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from greenhop.core.errors import ConfigError
from greenhop.sim.inputs import build_inputs
from greenhop.sim.scenario import load_scenario

START = pd.Timestamp("2022-06-10T00:00:00Z")


def _write_trace(folder, name="pv.csv", hours=24 * 12, first="2022-06-05", unit_factor=1.0):
    """An hourly trace whose value is the hour's index (kW), so a step's value tells which
    row it came from."""
    idx = pd.date_range(first, periods=hours, freq="1h", tz="UTC")
    pd.DataFrame({"time": idx.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "pv_kw": np.arange(hours) * unit_factor}).to_csv(folder / name, index=False)
    return idx


def _scenario(folder, trace: str, *, horizon="2d", history="1d", step="15min"):
    (folder / "s.toml").write_text(f"""
name = "own-trace"
start = "{START:%Y-%m-%dT%H:%M:%SZ}"
horizon = "{horizon}"
history = "{history}"
step = "{step}"
policies = ["static"]

[[sites]]
name = "roof"
latitude = 52.5
longitude = 13.4
gpu_slots = 4
trace = {trace}

[[jobs]]
name = "j1"
arrival = "0h"
origin = "roof"
gpus = 1
work_gpu_h = 4
checkpoint = "5GB"
""")
    return folder / "s.toml"


def test_the_file_gives_the_sites_renewable_power_at_each_step(tmp_path):
    idx = _write_trace(tmp_path)
    path = _scenario(tmp_path, '{ kind = "file", path = "pv.csv", column = "pv_kw", '
                               'unit = "kW", offset = "3h", scale = 0.5 }')
    inp = build_inputs(load_scenario(path))
    ren = inp.renewable_w[:, 0]
    steps = pd.date_range(START - pd.Timedelta(days=1), periods=len(ren), freq="15min")
    # the file's row of hour t + 3 h, in W, halved; each hour held over its four steps
    rows = ((steps + pd.Timedelta("3h")).floor("1h") - idx[0]) // pd.Timedelta("1h")
    assert np.allclose(ren, 0.5 * 1e3 * rows.to_numpy())
    assert len(ren) == (1 + 2) * 96


def test_a_negative_offset_lets_an_earlier_years_file_serve_the_scenario(tmp_path):
    """`offset = "-365d"` was refused ("must be finite and non-negative"), so this year's
    scenario could not run on last year's measurements, as the docs say an offset does."""
    earlier = START - pd.Timedelta(days=365) - pd.Timedelta(days=1)  # the history's start
    idx = _write_trace(tmp_path, first=f"{earlier:%Y-%m-%d}")
    path = _scenario(tmp_path, '{ kind = "file", path = "pv.csv", column = "pv_kw", '
                               'unit = "kW", offset = "-365d" }')
    ren = build_inputs(load_scenario(path)).renewable_w[:, 0]
    steps = pd.date_range(START - pd.Timedelta(days=1), periods=len(ren), freq="15min")
    rows = ((steps - pd.Timedelta(days=365)).floor("1h") - idx[0]) // pd.Timedelta("1h")
    assert np.allclose(ren, 1e3 * rows.to_numpy())
    # a plain number of seconds below zero is the same offset (it was refused, >= 0)
    plain = _scenario(tmp_path, '{ kind = "file", path = "pv.csv", column = "pv_kw", '
                                f'unit = "kW", offset = {-365 * 86400} }}')
    assert load_scenario(plain).sites[0].trace.offset_s == -365 * 86400.0
    with pytest.raises(ConfigError, match=r"sites\[0\]\.trace\.offset: .*'-3x'"):
        load_scenario(_scenario(tmp_path, '{ kind = "file", path = "pv.csv", '
                                          'column = "pv_kw", offset = "-3x" }'))


def test_a_relative_path_is_read_from_the_scenarios_folder_not_the_working_one(
        tmp_path, monkeypatch):
    sub = tmp_path / "here"
    sub.mkdir()
    _write_trace(sub)
    path = _scenario(sub, '{ kind = "file", path = "pv.csv", column = "pv_kw", unit = "kW" }')
    monkeypatch.chdir(tmp_path)
    assert load_scenario(path).sites[0].trace.path == str(sub / "pv.csv")


@pytest.mark.parametrize(("trace", "needles"), [
    ('{ kind = "file", path = "nope.csv", column = "pv_kw" }',
     ["sites[0].trace.path", "nope.csv", "cannot read the trace file"]),
    ('{ kind = "file", path = "pv.csv", column = "pv" }',
     ["sites[0].trace.path", "no column 'pv'", "'time', 'pv_kw'"]),
    ('{ kind = "file", path = "pv.csv", column = "pv_kw", unit = "gCO2/kWh" }',
     ["sites[0].trace.unit", "W, kW, MW"]),
    ('{ kind = "file", path = "pv.csv", column = "pv_kw", unit = "kW", offset = "8d" }',
     ["sites[0].trace", "site 'roof'", "covers 2022-06-05 00:00 to 2022-06-17 00:00 UTC",
      "move start"]),
    ('{ kind = "file", path = "pv.csv", column = "pv_kw", scale = 0 }',
     ["sites[0].trace.scale"]),
    ('{ kind = "file", column = "pv_kw" }', ["sites[0].trace.path", "required"]),
    # read as W, a column of kW was 1000 times too small and nothing said so
    ('{ kind = "file", path = "pv.csv", column = "pv_kw" }',
     ["sites[0].trace.unit: required: the unit of column 'pv_kw' (W, kW, MW"]),
])
def test_a_bad_file_key_or_span_is_one_error_naming_the_key(tmp_path, trace, needles):
    _write_trace(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_scenario(_scenario(tmp_path, trace))
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, (needle, msg)
    assert "\n" not in msg


def test_a_malformed_file_names_its_row(tmp_path):
    _write_trace(tmp_path)
    text = (tmp_path / "pv.csv").read_text().splitlines()
    text[5] = text[5].split(",")[0] + ",-4"
    (tmp_path / "pv.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(ConfigError) as info:
        load_scenario(_scenario(tmp_path, '{ kind = "file", path = "pv.csv", column = "pv_kw" }'))
    assert "negative value -4" in str(info.value) and "line 6" in str(info.value)


def test_pv_and_wind_keys_beside_a_file_trace_are_refused(tmp_path):
    _write_trace(tmp_path)
    path = _scenario(tmp_path, '{ kind = "file", path = "pv.csv", column = "pv_kw", '
                               'unit = "kW" }')
    path.write_text(path.read_text().replace("gpu_slots = 4", "gpu_slots = 4\npv_kwp = 10"))
    with pytest.raises(ConfigError, match="pv_kwp would be ignored"):
        load_scenario(path)


@settings(max_examples=15, deadline=None)
@given(scale=hst.floats(0.01, 100.0), step_min=hst.sampled_from([5, 15, 30, 60, 120]))
def test_resampling_keeps_the_files_energy(tmp_path_factory, scale, step_min):
    """Over the run, the site's renewable energy is scale x the file's energy over the same
    span, whatever the step (finer or coarser than the file's hour)."""
    folder = tmp_path_factory.mktemp("energy")
    idx = _write_trace(folder)
    path = _scenario(folder, f'{{ kind = "file", path = "pv.csv", column = "pv_kw", '
                             f'unit = "kW", scale = {scale!r} }}', step=f"{step_min}min")
    ren = build_inputs(load_scenario(path)).renewable_w[:, 0]
    joules = float(ren.sum() * step_min * 60)
    first = ((START - pd.Timedelta(days=1)) - idx[0]) // pd.Timedelta("1h")
    hours = np.arange(first, first + 72)  # history 1 d + horizon 2 d
    assert joules == pytest.approx(scale * 1e3 * hours.sum() * 3600, rel=1e-9)


def test_a_trace_files_error_in_a_scenario_names_its_keys_not_the_command_lines():
    """In a scenario, "name the value column with --column" and "(--gaps break)" named
    options of `greenhop windows` the scenario has no use for."""
    from greenhop.sim.scenario_sites import _as_keys

    assert _as_keys("column 'time' is the time column; name the value column with --column "
                    "and the time column with --time-column") == (
        "column 'time' is the time column; name the value column with column and the time "
        "column with time_column")
    assert _as_keys("add the missing rows, or pass gaps='break' (--gaps break) to end "
                    "windows at gaps or gaps='interpolate' (--gaps interpolate) to fill") == (
        "add the missing rows, or pass gaps='break' to end windows at gaps or "
        "gaps='interpolate' to fill")
