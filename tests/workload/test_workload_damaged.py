"""Checkpoints whose files match their (rewritten) manifest but do not parse, and one
checkpoint's own folder given for its job's directory: what ``greenhop workload run`` and
``greenhop workload inspect`` do with them, on real runs of the reference mlp."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import blake3
import pytest

pytest.importorskip("torch")

import greenhop.workload as wl
from greenhop.workload import checkpoint as ck

TEXT = b"this is not a safetensors file, 42 bytes!!"
DAMAGE = {  # file of step-000000020 -> what is written over it
    "model.safetensors": TEXT,
    "model.json": b'{"__flat__": []}',  # no '__shards__'
}


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    """``greenhop ARGS`` in this process: (exit code, stdout, stderr)."""
    from greenhop.cli.main import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code or 0, out.out, out.err


def _run(capsys, job, *args: str) -> tuple[int, str, str]:
    return _cli(capsys, "workload", "run", "mlp", "--ckpt-dir", str(job), *args, "--quiet")


def _contents(folder) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (but the lock file), by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ck.LOCK_FILE}


def _damage(step, name: str, data: bytes) -> None:
    """Write ``data`` over ``step/name`` and its size and digests into the manifest, so
    that the damage passes every hash check."""
    (step / name).write_bytes(data)
    manifest = json.loads((step / wl.MANIFEST).read_text())
    manifest["files"][name] = {"size_bytes": len(data),
                               "sha256": hashlib.sha256(data).hexdigest(),
                               "blake3": blake3.blake3(data).hexdigest()}
    (step / wl.MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A job directory after ``--steps 20 --every 5``: step-000000010, -15 and -20."""
    from greenhop.cli.main import main

    job = tmp_path_factory.mktemp("trained") / "job"
    with pytest.raises(SystemExit) as info:
        main(["workload", "run", "mlp", "--ckpt-dir", str(job), "--steps", "20", "--every",
              "5", "--quiet"])
    assert not info.value.code
    assert [p.name for p in sorted(job.glob("step-*"))] == [
        "step-000000010", "step-000000015", "step-000000020"]
    return job


@pytest.fixture
def job(trained, tmp_path):
    """A copy of ``trained`` for one test to damage."""
    return shutil.copytree(trained, tmp_path / "job")


def test_a_checkpoints_own_folder_as_ckpt_dir_is_refused_naming_the_job(capsys, job) -> None:
    """`--ckpt-dir JOB/step-000000020` trained from step 0 and wrote step-000000030 inside the
    checkpoint; it is refused in one line naming the job directory, as inspect takes that
    folder for one checkpoint."""
    step = job / "step-000000020"
    before = _contents(job)
    code, _, err = _run(capsys, step, "--steps", "30")
    assert code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for part in (f"error: --ckpt-dir {step} is one checkpoint of the job directory {job}",
                 f"pass the job directory {job}"):
        assert part in lines[0], (part, lines[0])
    assert _contents(job) == before and not (step / ck.LOCK_FILE).exists()
    # as a process (the progress bar is drawn there): the error alone, no bar before it
    proc = subprocess.run([sys.executable, "-m", "greenhop", "workload", "run", "mlp",
                           "--ckpt-dir", str(step), "--steps", "30"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "training" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().startswith("error: --ckpt-dir"), proc.stderr
    code, out, err = _cli(capsys, "workload", "inspect", str(step), "--json")
    assert code == 0 and json.loads(out)["step"] == 20, err
    with pytest.raises(ck.IncompatibleCheckpoint, match="one checkpoint of the job directory"):
        wl.TrainingSession(step, model=None)


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_a_checkpoint_that_does_not_parse_is_skipped_as_a_corrupt_one(capsys, job,
                                                                      name) -> None:
    """Its files match the manifest but do not parse: run and inspect skip it with a warning
    (they failed with exit code 1), the run resumes from step 15 exactly, and the damaged
    checkpoint is kept, set aside, when the run saves step 20 again."""
    newest = job / "step-000000020"
    weights = wl.weights_sha256(newest)  # of the uninterrupted run
    _damage(newest, name, DAMAGE[name])
    with pytest.raises(ck.DamagedCheckpoint, match=name.replace(".", r"\.")):
        wl.verify_checkpoint(newest)
    damaged = _contents(newest)

    code, out, err = _cli(capsys, "workload", "inspect", str(job), "--json")
    assert code == 0 and json.loads(out)["step"] == 15, err
    (warning,) = [line for line in err.splitlines() if line.strip()]
    assert warning.startswith("warning: skipping step-000000020: ") and name in warning
    code, _, err = _cli(capsys, "workload", "inspect", str(newest))
    assert code == 2 and "Traceback" not in err and str(newest / name) in err, err

    code, _, err = _run(capsys, job, "--steps", "25", "--every", "5")
    assert code == 0, err
    assert "skipping step-000000020" in err and "(step 15)" in err, err
    (aside,) = job.glob("corrupt-step-000000020-*")
    assert _contents(aside) == damaged  # nothing stored is lost
    assert wl.weights_sha256(job / "step-000000020") == weights  # resumed exactly from 15
    assert wl.load_checkpoint(job / "step-000000025").finished


def test_checkpoints_none_of_which_parses_are_exit_2_and_kept(capsys, job) -> None:
    for step in job.glob("step-*"):
        _damage(step, "model.safetensors", TEXT)
    before = _contents(job)
    for command in (["run", "mlp", "--ckpt-dir", str(job), "--steps", "25", "--quiet"],
                    ["inspect", str(job)]):
        code, out, err = _cli(capsys, "workload", *command)
        assert code == 2 and out == "" and "Traceback" not in err, err
        (error,) = [line for line in err.splitlines() if line.startswith("error:")]
        for part in (f"{job} holds no intact checkpoint", "3 incomplete or corrupt",
                     "step-000000020, step-000000015, step-000000010", "move them aside"):
            assert part in error, (part, error)
    assert _contents(job) == before


def test_a_job_directory_only_named_like_a_checkpoint_is_not_refused(tmp_path) -> None:
    """A job called ``step-1`` (its directory ``step-000000001``, say) holds no checkpoint's
    manifest or meta.json: it is a job's directory, so a session may train there."""
    folder = tmp_path / "step-000000001"
    ck.check_job_dir(folder)  # not there yet
    folder.mkdir()
    (folder / "step-000000005").mkdir()
    ck.check_job_dir(folder)  # it holds checkpoints of its own: a job's directory
    (folder / ck.META).write_text("{}")
    with pytest.raises(ck.IncompatibleCheckpoint, match="one checkpoint of the job directory"):
        ck.check_job_dir(folder)


def test_a_foreign_safetensors_file_with_a_fitting_manifest_fails_verification(capsys, job):
    """Another model's safetensors file (valid, of other tensor names) put in with the
    manifest rehashed: verify and inspect passed it and a transfer committed it; only the
    load refused it ("tensor names do not match the shards"). Verification now sees it,
    so inspect skips it as resume does."""
    import torch
    from safetensors.torch import save

    newest = job / "step-000000020"
    _damage(newest, "model.safetensors",
            save({"transformer.h.0.weight": torch.ones(4, 4, dtype=torch.bfloat16)}))
    with pytest.raises(ck.DamagedCheckpoint, match="tensor names do not match the shards"):
        wl.verify_checkpoint(newest)
    code, out, err = _cli(capsys, "workload", "inspect", str(job), "--json")
    assert code == 0 and json.loads(out)["step"] == 15, err
    assert "skipping step-000000020" in err and "tensor names do not match" in err
