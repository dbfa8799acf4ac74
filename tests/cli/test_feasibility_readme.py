"""The README's feasibility example is real output: rerun it and compare."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from greenhop.cli.main import main

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> tuple[list[str], str]:
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("$ greenhop feasibility "))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
    return shlex.split(lines[start])[2:], "\n".join(lines[start + 1:end])


def test_readme_feasibility_example_matches_the_cli(capsys) -> None:
    args, expected = _example()
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code in (0, None)
    out = "\n".join(line.rstrip() for line in capsys.readouterr().out.splitlines())
    assert out.strip() == expected.strip()
