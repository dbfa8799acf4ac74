"""The scenario's ``[energy]`` table: the accounting conventions, validated at load.

Every key is a field of :class:`~greenhop.fleet.conventions.EnergyConventions`; a bad key
or value is a one-line ConfigError naming the file and the key (exit 2 from the CLI).
"""

from __future__ import annotations

import dataclasses

import pytest
import simkit
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop.cli.main import main
from greenhop.core.errors import ConfigError
from greenhop.fleet.conventions import DRAW_CHOICES, HELD_CHOICES, EnergyConventions
from greenhop.sim.scenario import load_scenario, packaged_scenarios

#: a one-site scenario file with an ``[energy]`` table (TOML written by hand)
TOML = """name = "t"
horizon = "1h"
history = "0s"
jobs = []

[[sites]]
name = "a"
latitude = 0.0
longitude = 0.0

[sites.trace]
kind = "constant"
power = "1kW"

[energy]
{energy}
"""


def _with_energy(energy) -> dict:
    d = simkit.micro()
    d["energy"] = energy
    return d


def test_no_table_gives_the_documented_defaults():
    sc = load_scenario(simkit.micro())
    assert sc.energy == EnergyConventions()
    assert (sc.energy.source_in_flight, sc.energy.dest_held, sc.energy.suspend_saves,
            sc.energy.network_to_grid) == ("idle", "idle", True, True)
    assert sc.energy.host_share == pytest.approx(0.5)


def test_an_empty_table_is_the_defaults_too():
    assert load_scenario(_with_energy({})).energy == EnergyConventions()


def test_the_legacy_values_give_the_legacy_conventions():
    legacy = {"source_in_flight": "zero", "dest_held": "idle", "host_share": 0.0,
              "suspend_saves": False, "network_to_grid": False}
    assert load_scenario(_with_energy(legacy)).energy == EnergyConventions.legacy()


def test_valid_keys_are_exactly_the_dataclass_fields():
    with pytest.raises(ConfigError) as info:
        load_scenario(_with_energy({"host_shares": 0.1}))
    msg = str(info.value)
    assert "energy.host_shares: unknown key" in msg
    listed = msg.split("valid keys here: ", 1)[1].split(", ")
    assert sorted(listed) == sorted(f.name for f in dataclasses.fields(EnergyConventions))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(DRAW_CHOICES), st.sampled_from(HELD_CHOICES),
       st.floats(0.0, 5.0, allow_nan=False), st.booleans(), st.booleans())
def test_every_valid_table_round_trips(src, dst, share, saves, to_grid):
    table = {"source_in_flight": src, "dest_held": dst, "host_share": share,
             "suspend_saves": saves, "network_to_grid": to_grid}
    assert dataclasses.asdict(load_scenario(_with_energy(table)).energy) == table


BAD = [
    ({"source_in_flight": "busy"}, r"energy\.source_in_flight: must be one of zero, idle, "
                                   r"training, got 'busy'"),
    ({"dest_held": "training"}, r"energy\.dest_held: must be one of zero, idle"),
    ({"host_share": -0.1}, r"energy\.host_share: must be >= 0"),
    ({"host_share": 6}, r"energy\.host_share: must be <= 5"),
    ({"host_share": "half"}, r"energy\.host_share: expected a number"),
    ({"host_share": float("nan")}, r"energy\.host_share: must be a number, got NaN"),
    ({"suspend_saves": "yes"}, r"energy\.suspend_saves: expected true or false"),
    ({"network_to_grid": 1}, r"energy\.network_to_grid: expected true or false"),
    ({"pue": 1.2}, r"energy\.pue: unknown key"),
    ("legacy", r"energy: expected a table of keys"),
]


@pytest.mark.parametrize("energy, pattern", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_values_name_the_key(energy, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_scenario(_with_energy(energy))


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(TOML.format(energy="host_share = 9.0"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: energy.host_share: must be <= 5")


def test_the_cli_reports_a_bad_table_in_one_line_with_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(TOML.format(energy='dest_held = "busy"'), encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(path)])
    err = capsys.readouterr().err
    assert info.value.code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "energy.dest_held" in lines[0] and str(path) in lines[0]
    assert "Traceback" not in err


def test_the_conventions_reject_bad_values_when_built_in_code():
    with pytest.raises(ConfigError, match=r"energy\.source_in_flight"):
        EnergyConventions(source_in_flight="busy")
    with pytest.raises(ConfigError, match=r"energy\.host_share"):
        EnergyConventions(host_share=-1.0)
    with pytest.raises(ConfigError, match=r"energy\.network_to_grid"):
        EnergyConventions(network_to_grid="no")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(packaged_scenarios()))
def test_packaged_scenarios_load_an_energy_convention(name):
    sc = load_scenario(name)
    assert isinstance(sc.energy, EnergyConventions)


def test_the_default_scenario_states_the_default_conventions(capsys):
    """`greenhop scenarios show default` shows the [energy] table, and it says what the
    code's defaults are (the two cannot drift apart)."""
    assert load_scenario("default").energy == EnergyConventions()
    with pytest.raises(SystemExit) as info:
        main(["scenarios", "show", "default"])
    assert (info.value.code or 0) == 0
    shown = capsys.readouterr().out
    assert "\n[energy]" in shown
    for field in dataclasses.fields(EnergyConventions):
        assert f"\n{field.name} = " in shown
