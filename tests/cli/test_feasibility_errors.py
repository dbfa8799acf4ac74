"""Bad input to the feasibility commands: one clear line on stderr, exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from greenhop.cli.main import main

SIZE = ["--checkpoint", "98GB"]
LINK = ["--bandwidth", "1Gbps"]
WINDOW = ["--window", "2.5h"]


def case(*args: str, expect: str):
    return pytest.param(list(args), expect, id=" ".join(args)[-60:])


CASES = [
    # sizes
    case("--checkpoint", "0GB", *LINK, *WINDOW, expect="--checkpoint '0GB' must be positive"),
    case("--checkpoint=-5GB", *LINK, *WINDOW, expect="is negative"),
    case("--checkpoint", "98", *LINK, *WINDOW, expect="cannot parse size '98'"),
    case("--checkpoint", "98 parsecs", *LINK, *WINDOW, expect="unknown size unit 'parsecs'"),
    case("--checkpoint", "lots", *LINK, *WINDOW, expect="expected a number and a unit"),
    case("--params", "0", *LINK, *WINDOW, expect="--params '0' must be positive"),
    case("--params", "seven", *LINK, *WINDOW, expect="cannot parse count 'seven'"),
    # checkpoint given twice or not at all
    case(*SIZE, "--params", "7e9", *LINK, *WINDOW, expect="not both"),
    case(*LINK, *WINDOW, expect="give the checkpoint size"),
    # presets and GPUs
    case("--params", "7e9", "--preset", "adam-9000", *LINK, *WINDOW,
         expect="--preset: unknown checkpoint preset 'adam-9000'; valid presets: weights-bf16"),
    case(*SIZE, "--preset", "nope", *LINK, *WINDOW, expect="--preset: unknown checkpoint preset"),
    case(*SIZE, *LINK, *WINDOW, "--gpu", "V100", expect="--gpu: unknown GPU platform 'V100'"),
    case(*SIZE, *LINK, *WINDOW, "--gpus", "0", expect="--gpus 0 must be a whole number >= 1"),
    # the default power of --gpus GPUs has the ceiling --job-power has
    case(*SIZE, *LINK, *WINDOW, "--gpu", "H100", "--gpus", "1e12",
         expect="the default --job-power (the GPU's 700 W x --gpus) is 7e+14 W, more than 1 TW"),
    case(*SIZE, *LINK, *WINDOW, "--job-power", "1MW", "--gpus", "1e13",
         expect="the default --idle-power"),
    # rates
    case(*SIZE, "--bandwidth", "0Gbps", *WINDOW, expect="--bandwidth '0Gbps' must be positive"),
    case(*SIZE, "--bandwidth=-1Gbps", *WINDOW, expect="is negative"),
    case(*SIZE, "--bandwidth", "10Gb", *WINDOW, expect="unknown rate unit 'Gb'"),
    case(*SIZE, "--bandwidth", "fast", *WINDOW, expect="cannot parse rate 'fast'"),
    case(*SIZE, *LINK, *WINDOW, "--write-rate", "0MB/s", expect="--write-rate '0MB/s' must be"),
    case(*SIZE, *LINK, *WINDOW, "--read-rate", "quick", expect="--read-rate: cannot parse rate"),
    # windows and durations
    case(*SIZE, *LINK, "--window", "0h", expect="--window '0h' must be positive"),
    case(*SIZE, *LINK, "--window=-2h", expect="duration '-2h' must be finite and non-negative"),
    case(*SIZE, *LINK, "--window", "2.5", expect="cannot parse duration '2.5'"),
    case(*SIZE, *LINK, "--window", "2 fortnights", expect="unknown duration unit 'fortnights'"),
    case(*SIZE, *LINK, *WINDOW, "--rtt", "0ms", expect="--rtt '0ms' must be positive"),
    case(*SIZE, *LINK, *WINDOW, "--startup", "soon", expect="--startup: cannot parse duration"),
    # bounded numbers
    case(*SIZE, *LINK, *WINDOW, "--alpha", "0", expect="--alpha 0.0 is outside (0, 1]"),
    case(*SIZE, *LINK, *WINDOW, "--alpha", "1.5", expect="--alpha 1.5 is outside (0, 1]"),
    case(*SIZE, *LINK, *WINDOW, "--alpha=-0.1", expect="is outside (0, 1]"),
    case(*SIZE, *LINK, *WINDOW, "--loss", "1", expect="--loss 1.0 is outside [0, 1)"),
    case(*SIZE, *LINK, *WINDOW, "--loss=-0.01", expect="--loss -0.01 is outside [0, 1)"),
    case(*SIZE, *LINK, *WINDOW, "--efficiency", "1.2", expect="--efficiency 1.2 is outside"),
    case(*SIZE, *LINK, *WINDOW, "--streams", "0", expect="--streams 0 must be a whole number"),
    case(*SIZE, *LINK, *WINDOW, "--green-gain", "0", expect="--green-gain 0.0 is outside"),
    case(*SIZE, *LINK, *WINDOW, "--network-j-per-bit=-1",
         expect="must lie between 0 and 0.001 J/bit"),
    case(*SIZE, *LINK, *WINDOW, "--alpha", "abc", expect="--alpha 'abc' is not a number"),
    case(*SIZE, *LINK, *WINDOW, "--loss", "nan", expect="--loss nan is outside [0, 1)"),
    case(*SIZE, *LINK, *WINDOW, "--streams", "1.5", expect="--streams 1.5 must be a whole"),
    case(*SIZE, *LINK, *WINDOW, "--gpus", "two", expect="--gpus 'two' is not a number"),
    # powers
    case(*SIZE, *LINK, *WINDOW, "--job-power", "0W", expect="--job-power '0W' must be positive"),
    case(*SIZE, *LINK, *WINDOW, "--job-power", "700", expect="cannot parse power '700'"),
    case(*SIZE, *LINK, *WINDOW, "--idle-power", "70J", expect="unknown power unit 'J'"),
]


@pytest.mark.parametrize(("args", "expect"), CASES)
def test_bad_feasibility_input(capsys, args: list[str], expect: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["feasibility", *args])
    out = capsys.readouterr()
    assert info.value.code == 2
    message = out.err.strip()
    assert message.startswith("error:"), message
    assert expect in message
    assert "\n" not in message
    assert "Traceback" not in out.err + out.out


MAP_CASES = [
    case("--out", "map.gif", expect="unknown image type '.gif'"),
    case("--out", "m.png", "--windows", "1h,soon", expect="--windows: cannot parse duration"),
    case("--out", "m.png", "--windows", ",", expect="--windows is empty"),
    case("--out", "m.png", "--windows", "1h,,2h", expect="--windows '1h,,2h': an empty entry"),
    case("--out", "m.png", "--windows", "1h,60min",
         expect="--windows: 60min is the same window as 1h"),
    case("--out", "m.png", "--sizes", "1TB:1GB", expect="MIN must be below MAX"),
    case("--out", "m.png", "--sizes", "1GB", expect="is not a range MIN:MAX"),
    case("--out", "m.png", "--bandwidths", "0Gbps:1Gbps", expect="must be positive"),
    case("--out", "m.png", "--alpha", "2", expect="--alpha 2.0 is outside (0, 1]"),
]


@pytest.mark.parametrize(("args", "expect"), MAP_CASES)
def test_bad_map_input(capsys, tmp_path, monkeypatch, args: list[str], expect: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["feasibility-map", *args])
    out = capsys.readouterr()
    assert info.value.code == 2
    assert expect in out.err
    assert "\n" not in out.err.strip()
    assert not list(tmp_path.iterdir())  # nothing written


def test_missing_required_option_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["feasibility", *SIZE, *LINK])
    assert info.value.code == 2
    assert "--window" in capsys.readouterr().err


def test_installed_entry_point_prints_one_line_and_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "greenhop", "feasibility", "--checkpoint", "98XB", *LINK,
         *WINDOW], capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
