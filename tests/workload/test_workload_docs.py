"""The example training loop in docs/workload.md runs, stops on request and resumes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import greenhop.workload as wl

DOC = Path(__file__).resolve().parents[2] / "docs" / "workload.md"


def _example() -> str:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)[0]


def test_doc_example_runs_and_resumes(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = _example().replace("total_steps = 1000", "total_steps = 300")
    exec(compile(code, str(DOC), "exec"), {"__name__": "doc_example"})
    done = wl.load_checkpoint(wl.latest_complete(tmp_path / "ckpt" / "job-1"))
    assert done.step == 300 and done.finished
    # a migration request mid-run: the example exits with 75 after checkpointing
    (tmp_path / "ckpt" / "job-1" / "MIGRATE").touch()
    code = code.replace("total_steps = 300", "total_steps = 400")
    with pytest.raises(SystemExit) as exc:
        exec(compile(code, str(DOC), "exec"), {"__name__": "doc_example"})
    assert exc.value.code == wl.EXIT_MIGRATED
    assert wl.load_checkpoint(wl.latest_complete(tmp_path / "ckpt" / "job-1")).step == 301
