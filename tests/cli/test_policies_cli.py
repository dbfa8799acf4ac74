"""``greenhop policies``: every registered policy with its summary, source and verbs; fits the
terminal width without cutting names; ``--json``."""

from __future__ import annotations

import json

import clikit
import pytest

from greenhop.cli.policies import render_table
from greenhop.policies import POLICIES


@pytest.mark.parametrize("columns", ["80", "120"])
def test_lists_every_policy_within_the_width_and_never_cuts_names(capsys, monkeypatch,
                                                                  columns):
    monkeypatch.setenv("COLUMNS", columns)
    code, out, err = clikit.run(capsys, "policies")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["name", "does"]
    assert all(len(line) <= int(columns) for line in lines)
    starts = {line.split()[0] for line in lines[1:] if line and not line.startswith(" ")}
    assert set(POLICIES.names()) <= starts
    text = " ".join(out.split())
    assert "Let's Wait Awhile" in text and "c-NEMESIS" in text
    row = next(line for line in lines if line.startswith("wait-awhile "))
    assert row.split()[1] == "suspends"
    row = next(line for line in lines if line.startswith("static "))
    assert "never acts" in row


def test_json_has_every_policy_with_its_capabilities(capsys):
    code, out, _ = clikit.run(capsys, "policies", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == set(POLICIES.names())
    assert rows["network-aware"]["migrates"] is True
    assert rows["network-aware"]["suspends"] is False
    assert rows["curtail-threshold"]["does"] == "suspends"
    assert all(r["summary"] and r["source"] for r in rows.values())


def test_a_narrow_table_puts_the_text_under_each_name():
    rows = [{"name": "a-very-long-policy-name-indeed", "does": "migrates, suspends",
             "summary": "word " * 30, "source": "somewhere"}]
    lines = render_table(rows, 40)
    assert all(len(line) <= 40 for line in lines)
    assert lines[1].startswith("a-very-long-policy-name-indeed")
    assert all(line.startswith("  ") for line in lines[2:])
