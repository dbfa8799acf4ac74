"""A checkpoint directory of another model, and a manifest that is not JSON: what the SDK
does with them (the CLI side is in tests/cli/test_workload_bad_input.py)."""

from __future__ import annotations

import pickle

import pytest

torch = pytest.importorskip("torch")

import greenhop.workload as wl  # noqa: E402
from greenhop.core.errors import CheckpointError, ConfigError  # noqa: E402
from greenhop.workload import checkpoint as ck  # noqa: E402


def test_a_checkpoint_of_another_model_config_is_refused_before_loading(tmp_path) -> None:
    written = torch.nn.Linear(2, 1)
    wl.TrainingSession(tmp_path, model=written, model_config={"model": "a", "width": 2}).save(3)
    assert wl.load_checkpoint(tmp_path / "step-000000003").meta["model_config"] == {
        "model": "a", "width": 2}
    other = torch.nn.Linear(2, 1)
    kept = other.weight.detach().clone()
    session = wl.TrainingSession(tmp_path, model=other, model_config={"model": "a", "width": 4})
    with pytest.raises(ck.IncompatibleCheckpoint) as err:
        session.resume()
    assert isinstance(err.value, ConfigError)
    assert "model a (width 2); it cannot resume as a (width 4)" in str(err.value)
    assert torch.equal(other.weight, kept)  # nothing was loaded into it
    same = wl.TrainingSession(tmp_path, model=torch.nn.Linear(2, 1),
                              model_config={"model": "a", "width": 2})
    assert same.resume() == 3


def test_a_checkpoint_of_another_job_is_refused_and_never_taken_as_its_end(
        tmp_path, monkeypatch) -> None:
    """A finished checkpoint of another job (same model) copied into a job's directory was
    taken as the job's end by a live run: the job's name is now in meta.json and checked."""
    from greenhop.runtime.executor import LocalExecutor

    ex = LocalExecutor(tmp_path / "work")
    planted = ex.job_dir("mine", "site-a")
    monkeypatch.setenv("GREENHOP_JOB", "theirs")
    wl.TrainingSession(planted, model=torch.nn.Linear(2, 1)).save(9, finished=True)
    assert wl.load_checkpoint(planted / "step-000000009").meta["job"] == "theirs"
    monkeypatch.setenv("GREENHOP_JOB", "mine")
    with pytest.raises(ck.IncompatibleCheckpoint, match="of job 'theirs', not of 'mine'"):
        wl.TrainingSession(planted, model=torch.nn.Linear(2, 1)).resume()
    step, moved = ex.intact_step("mine", "site-a")
    assert step is None and moved and "written by job 'theirs'" in moved[0]
    assert not (planted / "step-000000009").exists()  # moved aside, kept as evidence
    assert any(p.name.startswith("foreign-step-000000009") for p in planted.iterdir())
    # its own checkpoints, and ones that name no job (a session outside a live run), count
    own = wl.TrainingSession(planted, model=torch.nn.Linear(2, 1))
    own.save(4)
    monkeypatch.delenv("GREENHOP_JOB")
    wl.TrainingSession(planted, model=torch.nn.Linear(2, 1)).save(5)
    assert ex.intact_step("mine", "site-a") == (5, [])
    assert wl.TrainingSession(planted, model=torch.nn.Linear(2, 1)).resume() == 5


def test_a_state_that_does_not_fit_becomes_one_short_line(tmp_path) -> None:
    wl.TrainingSession(tmp_path, model=torch.nn.Linear(64, 64)).save(1)
    session = wl.TrainingSession(tmp_path, model=torch.nn.Linear(8, 8))
    with pytest.raises(ck.IncompatibleCheckpoint, match="does not fit this job's model") as err:
        session.resume()
    text = str(err.value)
    assert "\n" not in text and "size mismatch for weight" in text and "1 more" in text


def test_a_manifest_that_is_not_json_is_incomplete_but_a_pickled_one_is_unsafe(tmp_path) -> None:
    messages: list[str] = []
    first = wl.TrainingSession(tmp_path, model=torch.nn.Linear(2, 1), log=messages.append)
    first.save(1)
    newest = first.save(2)
    (newest / wl.MANIFEST).write_text('{"format": "greenhop-checkpoint", "ver')  # torn
    with pytest.raises(ck.IncompleteCheckpoint, match="not valid JSON"):
        ck.read_manifest(newest)
    again = wl.TrainingSession(tmp_path, model=torch.nn.Linear(2, 1), log=messages.append)
    assert again.resume() == 1
    assert any(m.startswith("skipping step-000000002") for m in messages)
    assert (newest / wl.MANIFEST).is_file()  # left where it was
    (newest / wl.MANIFEST).write_bytes(pickle.dumps({"x": 1}, protocol=4))
    with pytest.raises(CheckpointError, match="pickle payload") as err:
        wl.TrainingSession(tmp_path, model=torch.nn.Linear(2, 1)).resume()
    assert not isinstance(err.value, ck.IncompleteCheckpoint)


def test_a_checkpoint_under_another_steps_name_is_not_that_step(tmp_path) -> None:
    """step-30 copied as step-10 was loaded as step 10 (resumed at 30, skipping 10-30), also
    when the resume was told to load step 10 exactly; a live run then failed every restart
    blaming the job protocol."""
    import shutil

    src = tmp_path / "a"
    wl.TrainingSession(src, model=torch.nn.Linear(2, 1)).save(10)
    wl.TrainingSession(src, model=torch.nn.Linear(2, 1)).save(30)
    x = tmp_path / "x"
    x.mkdir()
    shutil.copytree(src / "step-000000030", x / "step-000000010")
    with pytest.raises(ck.IncompleteCheckpoint, match="its manifest is of step 30, not step 10"):
        ck.verify_checkpoint(x / "step-000000010")
    exact = wl.TrainingSession(x, model=torch.nn.Linear(2, 1), resume_step=10)
    with pytest.raises(CheckpointError, match=r"cannot resume from .*step-000000010"):
        exact.resume()
    # without an exact step: each passed over as corrupt; none genuine is left, and a fresh
    # start would write over them: refused, naming each
    shutil.copytree(src / "step-000000010", x / "step-000000005")
    (x / "step-000000005" / wl.MANIFEST).unlink()
    shutil.copytree(src / "step-000000010", x / "step-000000001")
    newest = wl.TrainingSession(x, model=torch.nn.Linear(2, 1))
    with pytest.raises(ck.IncompleteCheckpoint):
        ck.verify_checkpoint(x / "step-000000001")
    with pytest.raises(ck.NoIntactCheckpoint, match=r"no intact checkpoint: 3 .*step-000000005"):
        newest.resume()
    assert newest.corrupt_steps == {10, 5, 1}
