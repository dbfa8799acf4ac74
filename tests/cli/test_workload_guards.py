"""``greenhop workload run|inspect``: a directory held by another job, I/O errors, an LM
resumed with other ``--steps``, checkpoints that are all corrupt, a malformed manifest, and
stop requests outside the training loop: one line and the documented exit code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from clikit import one_line_error, run

pytest.importorskip("torch")

from greenhop.workload import checkpoint as ck

TINY_LM = ["--width", "16", "--layers", "1", "--context", "16", "--batch-size", "4"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _workload(capsys, *args: str) -> tuple[int, str, str]:
    return run(capsys, "workload", "run", *args, "--quiet")


def _contents(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ck.LOCK_FILE}


def test_a_directory_held_by_another_job_is_refused_in_one_line(capsys, tmp_path) -> None:
    job = tmp_path / "shared"
    assert _workload(capsys, "mlp", "--ckpt-dir", str(job), "--steps", "2")[0] == 0
    before = _contents(job)
    (job / ".tmp-step-000000003-4295").mkdir()  # the other job's checkpoint in the making
    fd = ck.lock_dir(job)  # the other job, alive
    try:
        code, _, err = _workload(capsys, "mlp", "--ckpt-dir", str(job), "--steps", "4")
    finally:
        ck.unlock_dir(fd)
    one_line_error(code, err, f"--ckpt-dir {job}", "in use by another running training "
                   "session", "use another checkpoint directory")
    assert _contents(job) == before and (job / ".tmp-step-000000003-4295").is_dir()
    # once it has exited, the directory is free again
    assert _workload(capsys, "mlp", "--ckpt-dir", str(job), "--steps", "4")[0] == 0


def test_an_io_error_while_training_is_one_line_and_exit_1(capsys, tmp_path,
                                                          monkeypatch) -> None:
    from greenhop.workload.reference import run as reference

    def broken(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory",
                                str(tmp_path / ".tmp-step-000000034-4295" / ".model.json.tmp"))

    monkeypatch.setattr(reference, "run_reference", broken)
    code, _, err = _workload(capsys, "mlp", "--ckpt-dir", str(tmp_path), "--steps", "2")
    assert code == 1 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "I/O error" in lines[0] and str(tmp_path) in lines[0], err


def test_an_lm_resumed_with_other_steps_is_one_line_and_exit_2(capsys, tmp_path) -> None:
    job = tmp_path / "lm"
    assert _workload(capsys, "lm", "--ckpt-dir", str(job), "--steps", "2", *TINY_LM)[0] == 0
    before = _contents(job)
    code, _, err = _workload(capsys, "lm", "--ckpt-dir", str(job), "--steps", "4", *TINY_LM)
    one_line_error(code, err, "--ckpt-dir", "--steps 2", "--steps 4")
    assert _contents(job) == before


def test_a_run_shorter_than_its_newest_checkpoint_is_refused_and_left_alone(
        capsys, tmp_path) -> None:
    """An mlp resumed at step 4 with --steps 2 trained nothing and exited 0 as if finished;
    it is refused now (exit 2, one line), its files unchanged; --steps 4 is the same run,
    finished (exit 0)."""
    job = tmp_path / "mlp"
    assert _workload(capsys, "mlp", "--ckpt-dir", str(job), "--steps", "4")[0] == 0
    before = _contents(job)
    code, _, err = _workload(capsys, "mlp", "--ckpt-dir", str(job), "--steps", "2")
    one_line_error(code, err, f"--ckpt-dir {job}", "at step 4, past this run's 2 steps",
                   "give 4 steps or more")
    assert _contents(job) == before
    assert _workload(capsys, "mlp", "--ckpt-dir", str(job), "--steps", "4")[0] == 0
    assert _contents(job) == before


def test_all_checkpoints_corrupt_is_exit_2_and_nothing_is_overwritten(capsys, tmp_path) -> None:
    job = tmp_path / "job"
    assert _workload(capsys, "mlp", "--ckpt-dir", str(job), "--steps", "4", "--every",
                     "2")[0] == 0
    for step in (2, 4):
        (job / ck.step_dir_name(step) / "model.safetensors").write_bytes(b"")
    before = _contents(job)
    code, _, err = _workload(capsys, "mlp", "--ckpt-dir", str(job), "--steps", "4", "--every",
                             "2")
    assert code == 2 and "Traceback" not in err  # damaged checkpoints: a user's to move
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    for part in (str(job), "no intact checkpoint", "step-000000004, step-000000002",
                 "move them aside"):
        assert part in errors[0], (part, errors[0])
    assert _contents(job) == before


def test_a_job_whose_newest_manifest_is_malformed_falls_back_in_run_and_inspect(
        capsys, tmp_path) -> None:
    """A manifest that is JSON but not a well-formed one is damage like a failed hash: run
    and inspect both skip it, naming it, for the checkpoint before (it stopped both, with
    exit 1)."""
    job = tmp_path / "job"
    assert _workload(capsys, "mlp", "--ckpt-dir", str(job), "--steps", "2", "--every",
                     "1")[0] == 0
    manifest = job / "step-000000002" / ck.MANIFEST
    data = json.loads(manifest.read_text())
    data["files"]["meta.json"]["size_bytes"] = "many"  # JSON, but not a manifest
    manifest.write_text(json.dumps(data))
    code, out, err = run(capsys, "workload", "inspect", str(job), "--json")
    assert code == 0 and "Traceback" not in err
    assert json.loads(out)["step"] == 1
    warnings = [line for line in err.splitlines() if line.strip()]
    assert len(warnings) == 1 and "skipping step-000000002" in warnings[0], err
    assert "malformed entry" in warnings[0]
    code, _, run_err = _workload(capsys, "mlp", "--ckpt-dir", str(job), "--steps", "3",
                                 "--every", "1")
    assert code == 0, run_err
    assert "skipping step-000000002" in run_err
    # the damaged step is kept aside, not written over, when the run saves step 2 again
    assert len(list(job.glob("corrupt-step-000000002-*"))) == 1


def test_a_control_file_present_on_a_finished_run_is_dropped(capsys, tmp_path) -> None:
    job = tmp_path / "job"
    assert _workload(capsys, "mlp", "--ckpt-dir", str(job), "--steps", "3")[0] == 0
    (job / "MIGRATE").touch()
    assert _workload(capsys, "mlp", "--ckpt-dir", str(job), "--steps", "3")[0] == 0
    assert not (job / "MIGRATE").exists()


def _cli_with(tmp_path, patch: str) -> subprocess.CompletedProcess:
    """``greenhop workload run mlp`` in a child whose ``patch`` (code run first) sends it a
    signal at a chosen moment."""
    script = textwrap.dedent(patch) + textwrap.dedent(f"""
        from greenhop.cli.main import main
        main(["workload", "run", "mlp", "--ckpt-dir", {str(tmp_path)!r}, "--steps", "4",
              "--batch-size", "8", "-q"])
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=ENV, timeout=120)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1])
def test_a_request_at_start_up_exits_75(tmp_path, sig) -> None:
    done = _cli_with(tmp_path, f"""
        import os
        from greenhop.workload.reference import run
        build = run.build
        def slow_build(*args):  # the request comes while torch is set up
            os.kill(os.getpid(), {int(sig)})
            return build(*args)
        run.build = slow_build
    """)
    assert done.returncode == 75, done.stderr
    assert "exit code 75" in done.stderr
    assert ck.latest_complete(tmp_path).name == "step-000000001"


def test_a_request_after_the_final_checkpoint_exits_0(tmp_path) -> None:
    done = _cli_with(tmp_path, """
        import atexit, os, signal, time
        from greenhop.workload import session
        leave = session.TrainingSession.__exit__
        def late(self, *exc):  # the request comes once the session has ended
            leave(self, *exc)
            os.kill(os.getpid(), signal.SIGTERM)
        session.TrainingSession.__exit__ = late
        def at_exit():  # and another while the interpreter exits
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.2)
        atexit.register(at_exit)
    """)
    assert done.returncode == 0, done.stderr
    assert ck.load_checkpoint(ck.latest_complete(tmp_path)).finished
