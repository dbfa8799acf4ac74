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
    ("1e-300bps", "2.5h", "transfer_s", None),
    ("10Gbps", "1e300h", "feasible", True),
], ids=["vanishing-bandwidth", "endless-window"])
def test_an_extreme_rate_or_window_answers_without_warnings(link, window, key, value):
    result = subprocess.run(
        [sys.executable, "-W", "default", "-m", "greenhop", "feasibility", "-c", "98GB",
         "-b", link, "-w", window, "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stderr == ""
    assert json.loads(result.stdout)[key] == value


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
