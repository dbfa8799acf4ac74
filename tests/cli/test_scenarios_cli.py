"""``greenhop scenarios`` (list) and ``greenhop scenarios show NAME``."""

from __future__ import annotations

import clikit
import pytest

from greenhop.cli.scenarios import first_comment_sentence
from greenhop.sim.scenario import packaged_scenarios


@pytest.mark.parametrize("columns", ["80", "200"])
def test_list_has_one_line_per_scenario_and_never_cuts_names(capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    code, out, err = clikit.run(capsys, "scenarios")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["name", "sites", "jobs", "horizon", "description"]
    rows = {line.split()[0]: line for line in lines[1:] if line.split()
            and line.split()[0] in packaged_scenarios()}
    assert set(rows) == set(packaged_scenarios())
    assert all(len(line) <= int(columns) for line in lines[:-1])
    fields = rows["scarce-llm"].split()
    assert fields[1:6] == ["5", "32", "30", "d", "Scarce"]
    assert rows["caiso-curtailment"].split()[1:3] == ["6", "150"]
    assert rows["default"].split()[1:3] == ["7", "150"]
    # the default has no description key: its first comment sentence stands in
    assert "The default greenhop scenario" in rows["default"]
    if columns == "80":
        assert rows["default"].endswith("…")


def test_show_prints_the_toml_verbatim(capsys):
    for name, path in packaged_scenarios().items():
        code, out, _ = clikit.run(capsys, "scenarios", "show", name)
        assert code == 0 and out == path.read_text(encoding="utf-8")


def test_show_unknown_name_is_one_line_exit_2_with_the_valid_names(capsys):
    code, out, err = clikit.run(capsys, "scenarios", "show", "caiso")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "unknown scenario 'caiso'" in err
    for name in packaged_scenarios():
        assert name in err


def test_simulate_with_an_unknown_name_lists_the_packaged_scenarios(capsys, tmp_path):
    code, _, err = clikit.run(capsys, "simulate", "no-such-scenario", "--out", str(tmp_path))
    assert code == 2 and "Traceback" not in err
    assert "caiso-curtailment" in err and "scarce-llm" in err


@pytest.mark.parametrize(("text", "expected"), [
    ("# One. Two.\n# Three\n\nname = 'x'\n", "One."),
    ("\n# A scenario: for tests,\n# over two lines.\n#\n# Later.\n", "A scenario: for tests, "
                                                                    "over two lines."),
    ("name = 'x'\n# late comment\n", ""),
    ("# 0.1-1 TB checkpoints\n", "0.1-1 TB checkpoints"),
])
def test_first_comment_sentence(text, expected):
    assert first_comment_sentence(text) == expected


def _own(tmp_path, text: str):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


OWN = """name = "mine"
start = "2023-06-01T00:00:00Z"
horizon = "1d"
history = "1d"
policies = ["static"]

[[sites]]
name = "a"
latitude = 45.0
longitude = 7.0
gpu_slots = 4
trace = { kind = "constant", power = "5kW" }

[[sites]]
name = "b"
latitude = 46.0
longitude = 8.0
gpu_slots = 2
trace = { kind = "constant", power = "5kW" }

[[links]]
a = "a"
b = "b"
bandwidth = BW

[[jobs]]
name = "j1"
work_gpu_h = 3
checkpoint = "1GB"
origin = "a"
"""


def test_check_reads_a_scenario_without_running_it(capsys, tmp_path):
    """There was no way to validate one's own scenario but to run it (`scenarios show` takes
    packaged names only)."""
    code, out, err = clikit.run(capsys, "scenarios", "check",
                                str(_own(tmp_path, OWN.replace("BW", '"10Gbps"'))))
    assert code == 0 and err == ""
    line = " ".join(out.split())
    assert "mine.toml: valid: scenario 'mine', 2 sites (a, b; 6 GPUs), 1 links, 1 jobs (3 " \
           "GPU-h), 24 h from 2023-06-01 00:00 UTC in steps of 5 min, policies static" in line
    # the warnings simulate would print
    code, out, err = clikit.run(capsys, "scenarios", "check",
                                str(_own(tmp_path, OWN.replace("BW", "10"))))
    assert code == 0 and "links[0]: bandwidth below 100 kbit/s" in " ".join(err.split())
    # a mistake: one line, exit 2
    bad = _own(tmp_path, OWN.replace("BW", '"10Gbps"').replace('origin = "a"', 'origin = "z"'))
    code, out, err = clikit.run(capsys, "scenarios", "check", str(bad))
    assert code == 2 and out == "" and "jobs[0].origin: unknown site" in err
    assert len(err.strip().splitlines()) == 1


def test_a_top_level_key_under_an_early_table_is_said_to_be_there(capsys, tmp_path):
    """A table header before `horizon` put horizon under it: "horizon: required key is
    missing", though the file has it."""
    text = OWN.replace("BW", '"10Gbps"').replace(
        'name = "mine"\nstart', 'name = "mine"\n[migration]\nstartup = "60s"\nstart')
    code, _, err = clikit.run(capsys, "scenarios", "check", str(_own(tmp_path, text)))
    assert code == 2
    assert ("horizon: required key is missing; it is written under [migration] "
            "(migration.horizon): in TOML, keys after a [table] header belong to that table, "
            "so move it above the first one") in " ".join(err.split())
