"""Feasibility commands at the edges of their inputs: an extreme but valid rate or window
answers with nothing on stderr (not numpy's overflow warnings); the map names every rate
that shapes its curves."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from clikit import run


@pytest.mark.parametrize(("link", "window", "key", "value"), [
    ("1bps", "2.5h", "feasible", False),
    ("1Pbps", "3650d", "feasible", True),
    ("10Gbps", "1ms", "feasible", False),
], ids=["slowest-bandwidth", "fastest-link-longest-window", "shortest-window"])
def test_an_extreme_rate_or_window_answers_without_warnings(link, window, key, value):
    result = subprocess.run(
        [sys.executable, "-W", "default", "-m", "greenhop", "feasibility", "-c", "98GB",
         "-b", link, "-w", window, "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stderr == ""
    assert json.loads(result.stdout)[key] == value


@pytest.mark.parametrize(("args", "expect"), [
    (["-c", "98GB", "-b", "1e-300bps", "-w", "2h"], "--bandwidth '1e-300bps' is below 1 bit/s"),
    (["-c", "98GB", "-b", "2Pbps", "-w", "2h"], "--bandwidth '2Pbps' is above 1 Pbit/s"),
    (["-c", "98GB", "-b", "1Gbps", "-w", "1e300h"], "--window '1e300h' is above 3650d (10 years)"),
    (["-c", "98GB", "-b", "1Gbps", "-w", "1e-300h"], "--window '1e-300h' is below 1 ms"),
    (["-c", "98GB", "-b", "1Gbps", "-w", "2h", "--rtt", "1e300s"], "--rtt '1e300s' is above"),
    (["--params", "1e-300", "-b", "1Gbps", "-w", "2h"], "--params '1e-300' is below 1"),
    (["--params", "1e16", "-b", "1Gbps", "-w", "2h"], "--params '1e16' is above 1e15"),
    (["-c", "1e30B", "-b", "1Gbps", "-w", "2h"], "--checkpoint '1e30B' is above 1 EB"),
    (["-c", "98GB", "-b", "1Gbps", "-w", "2h", "--network-j-per-bit", "1e300"],
     "--network-j-per-bit 1e+300 must lie between 0 and 0.001 J/bit"),
    (["-c", "98GB", "-b", "1Gbps", "-w", "2h", "--job-power", "1e20W"],
     "--job-power '1e20W': 1e+20 W is more than 1 TW"),
])
def test_an_option_past_any_real_value_is_refused_naming_it_and_its_range(capsys, args, expect):
    """Each printed inf, never or -inf (or a numpy warning) before: the arithmetic overflowed
    rather than failing, and the table read as if the answer were real."""
    code, _, err = run(capsys, "feasibility", *args)
    assert code == 2
    assert expect in err
    assert "inf" not in err.replace("info", "")


def test_the_map_title_names_the_read_rate(capsys, tmp_path):
    out = tmp_path / "map.svg"
    code, _, err = run(capsys, "feasibility-map", "--out", str(out), "--read-rate", "100MB/s")
    assert code == 0, err
    assert "disk write 2 GB/s, read 100 MB/s" in out.read_text()


def test_the_interactive_map_says_the_same_rates_as_the_static_map():
    from greenhop import viz
    from greenhop.model.plot import map_title

    model = {"read_Bps": 1e8, "write_Bps": 2e9, "loss": 1e-4}
    fig = viz.feasibility_map_figure({}, alpha=0.1, **model)
    sub = fig["layout"]["title"]["text"]
    rates = map_title(0.1, model).splitlines()[1]
    assert "read 100 MB/s" in rates and "loss 0.0001" in rates
    assert rates in sub
