"""A scenario written for a live run (its jobs' own `command`, `env`, `cwd`, `steps`, the
operator's `[agents]`) simulates and replays as it is: those keys are a live run's alone
(`greenhop simulate` refused them as unknown keys, so the file run live could not be
compared with its simulation)."""

from __future__ import annotations

import json
from pathlib import Path

from clikit import run

LIVE = Path(__file__).resolve().parents[2] / "src/greenhop/data/scenarios/live-3site.toml"
OWN = """command = ["python", "train.py"]
env = { LR = "0.1" }
cwd = "."
steps = 120
"""


def _with_live_keys(tmp_path: Path) -> Path:
    text = LIVE.read_text()
    first = text.index("[[jobs]]")
    end = text.index("\n", text.index("name =", first)) + 1  # after the first job's name
    path = tmp_path / "own.toml"
    path.write_text(text[:end] + OWN + text[end:] + '\n[agents]\nmadrid-es = '
                    '"https://10.0.0.5:8765"\n')
    return path


def test_a_live_scenario_simulates_as_the_same_file_without_its_live_keys(tmp_path, capsys):
    own = _with_live_keys(tmp_path)
    code, _, err = run(capsys, "simulate", str(own), "-p", "static", "--out",
                       str(tmp_path / "a"), "--no-report")
    assert code == 0, err
    code, _, err = run(capsys, "simulate", str(LIVE), "-p", "static", "--out",
                       str(tmp_path / "b"), "--no-report")
    assert code == 0, err
    a, b = (json.loads((tmp_path / d / "metrics.json").read_text())["policies"]
            for d in ("a", "b"))
    assert a == b


def test_the_document_given_is_left_as_it_is():
    from greenhop.sim.scenario import without_live_keys

    doc = {"agents": {"a": "x"}, "jobs": [{"name": "j", "command": ["c"], "steps": 3}]}
    out = without_live_keys(doc)
    assert out == {"jobs": [{"name": "j"}]}
    assert doc["jobs"][0]["steps"] == 3 and "agents" in doc
