"""What a session guards: one live session per checkpoint directory, no fresh start over
corrupt checkpoints, canonical bytes, stop requests outside the training loop, a moot
control file, and the LM's schedule length."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

import greenhop.workload as wl
from greenhop.core.errors import ConfigError
from greenhop.workload import checkpoint as ck
from greenhop.workload import safeformat as sf
from greenhop.workload.reference.run import RunOptions, run_reference
from greenhop.workload.torch_tensors import is_tensor

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _files(step_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(step_dir.iterdir())}


# --- one live session per checkpoint directory ------------------------------------------------

def test_a_second_session_is_refused_and_leaves_the_first_ones_checkpoint_in_the_making(
        tmp_path) -> None:
    """The second job's start-up clean-up deleted the first job's staging directory, and
    the first died renaming a file into it."""
    staging = tmp_path / ".tmp-step-000000034-4295"  # the first job's save in flight
    first = wl.TrainingSession(tmp_path, model=torch.nn.Linear(2, 1), signals=())
    with first:
        staging.mkdir()
        second = wl.TrainingSession(tmp_path, model=torch.nn.Linear(2, 1), signals=())
        with pytest.raises(ck.CheckpointDirInUse, match=f"{tmp_path} is in use by another "
                           rf"running training session \(process {os.getpid()}\)"):
            second.__enter__()
        with pytest.raises(ck.CheckpointDirInUse):  # without `with`: the same, per call
            second.resume()
        with pytest.raises(ck.CheckpointDirInUse):
            second.save(1)
        assert staging.is_dir() and not list(tmp_path.glob("step-*"))
        assert first.resume() == 0  # the holder itself goes on
        first.save(1)
    # released on leaving: the next session takes the directory and tidies up
    with wl.TrainingSession(tmp_path, model=torch.nn.Linear(2, 1), signals=()) as again:
        assert again.resume() == 1
    assert not staging.exists()


def test_the_lock_goes_with_a_killed_process(tmp_path) -> None:
    """kill -9 (or any exit) releases the directory: a live run restarts its trainer in the
    same directory after the previous one ended, however it ended."""
    script = textwrap.dedent(f"""
        import sys, time
        from greenhop.workload import checkpoint as ck
        ck.lock_dir({str(tmp_path)!r})
        print("locked", flush=True)
        time.sleep(120)
    """)
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                          env=ENV) as proc:
        try:
            assert proc.stdout.readline().strip() == "locked"
            with pytest.raises(ck.CheckpointDirInUse, match=f"process {proc.pid}"):
                ck.lock_dir(tmp_path)
        finally:
            proc.kill()
            proc.wait()
    with wl.TrainingSession(tmp_path, model=torch.nn.Linear(2, 1), signals=()) as session:
        assert session.resume() == 0


# --- every checkpoint corrupt -----------------------------------------------------------------

def test_no_fresh_start_over_checkpoints_that_are_all_corrupt(tmp_path) -> None:
    model = torch.nn.Linear(2, 1)
    for step in (10, 20):
        wl.TrainingSession(tmp_path, model=model).save(step)
        (tmp_path / ck.step_dir_name(step) / "model.safetensors").write_bytes(b"")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    session = wl.TrainingSession(tmp_path, model=torch.nn.Linear(2, 1), log=lambda m: None)
    with pytest.raises(ck.NoIntactCheckpoint) as info, session:
        session.resume()
    assert isinstance(info.value, ConfigError)  # a user's to sort out: exit code 2
    said = str(info.value)
    for part in (str(tmp_path), "no intact checkpoint", "step-000000010", "step-000000020",
                 "move them aside", "another checkpoint directory"):
        assert part in said, (part, said)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_an_empty_directory_or_staging_leftovers_still_start_from_scratch(tmp_path) -> None:
    assert wl.TrainingSession(tmp_path / "new", model=torch.nn.Linear(2, 1)).resume() == 0
    (tmp_path / "left" / ".tmp-step-000000010-99").mkdir(parents=True)
    assert wl.TrainingSession(tmp_path / "left", model=torch.nn.Linear(2, 1)).resume() == 0
    assert not (tmp_path / "left" / ".tmp-step-000000010-99").exists()


# --- canonical bytes ----------------------------------------------------------------------------

def test_flatten_numbers_tensors_whatever_order_a_dict_was_filled_in() -> None:
    a, b, c = torch.zeros(1), torch.ones(2), torch.full((3,), 2.0)
    one = sf.flatten({"state": {0: {"step": a, "exp_avg": b, "exp_avg_sq": c}}}, "t",
                     is_tensor, "x")
    two = sf.flatten({"state": {0: {"exp_avg": b, "exp_avg_sq": c, "step": a}}}, "t",
                     is_tensor, "x")
    assert one[0] == two[0]
    assert {k: v.tolist() for k, v in one[1].items()} == {k: v.tolist() for k, v in
                                                         two[1].items()}


def test_a_resumed_reference_run_writes_the_same_bytes_as_an_uninterrupted_one(tmp_path) -> None:
    """Adam's per-parameter state comes back from load_state_dict as exp_avg, exp_avg_sq,
    step (saved as step, exp_avg, exp_avg_sq): optimizer.json and optimizer.safetensors
    differed though every value was equal."""
    opts = RunOptions(steps=12, every_steps=4, batch_size=8)
    assert run_reference("mlp", tmp_path / "ref", opts, log=lambda m: None) == 0
    job = tmp_path / "job"

    def stop_at_6(step: int, loss: float) -> None:
        if step == 6:
            (job / wl.CONTROL_FILE).touch()

    assert run_reference("mlp", job, opts, on_step=stop_at_6, log=lambda m: None) == 75
    assert run_reference("mlp", job, opts, log=lambda m: None) == 0
    want = _files(tmp_path / "ref" / "step-000000012")
    got = _files(job / "step-000000012")
    assert set(got) == set(want)
    differ = sorted(n for n in want if got[n] != want[n])
    assert differ == ["MANIFEST.json", "meta.json"]  # the creation time, and its digests


# --- a control file left for a finished run -----------------------------------------------------

def test_a_control_file_is_dropped_when_the_run_finishes(tmp_path) -> None:
    opts = RunOptions(steps=3, batch_size=8)
    assert run_reference("mlp", tmp_path, opts, log=lambda m: None) == 0
    (tmp_path / wl.CONTROL_FILE).touch()  # a request after the run finished
    assert run_reference("mlp", tmp_path, opts, log=lambda m: None) == 0
    assert not (tmp_path / wl.CONTROL_FILE).exists()
    # a later run extending it is not stopped after its first step
    assert run_reference("mlp", tmp_path, RunOptions(steps=6, batch_size=8),
                         log=lambda m: None) == 0
    assert wl.latest_complete(tmp_path).name == "step-000000006"


# --- the LM's schedule length --------------------------------------------------------------------

def test_an_lm_resumed_with_other_steps_is_refused(tmp_path) -> None:
    """Its cosine schedule anneals over --steps: resumed with more, it kept the old length
    (annealed to 0 at the old end and climbed back up), silently."""
    tiny = {"width": 16, "layers": 1, "context": 16, "batch_size": 4}
    assert run_reference("lm", tmp_path, RunOptions(steps=2, **tiny), log=lambda m: None) == 0
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(ck.IncompatibleCheckpoint, match=r"anneals over 2 steps \(--steps 2\) "
                       r"and this run's over 4 \(--steps 4\)"):
        run_reference("lm", tmp_path, RunOptions(steps=4, **tiny), log=lambda m: None)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert run_reference("lm", tmp_path, RunOptions(steps=2, **tiny), log=lambda m: None) == 0


# --- stop requests before the training loop and after the final checkpoint ----------------------

def _reference_with(tmp_path, patch: str, steps: int = 5) -> subprocess.CompletedProcess:
    """``python -m greenhop.workload.reference mlp`` in a child whose ``patch`` (code run
    first) sends it a signal at a chosen moment."""
    script = textwrap.dedent(patch) + textwrap.dedent(f"""
        import runpy, sys
        sys.argv = ["greenhop.workload.reference", "mlp", {str(tmp_path)!r}, "{steps}",
                    "--batch-size", "8", "--print-every", "0"]
        runpy.run_module("greenhop.workload.reference", run_name="__main__")
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=ENV, timeout=120)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1])
def test_a_request_while_the_model_is_built_exits_75_with_a_checkpoint(tmp_path, sig) -> None:
    done = _reference_with(tmp_path, f"""
        import os
        from greenhop.workload.reference import run
        build = run.build
        def slow_build(*args):  # the request comes while torch is set up
            os.kill(os.getpid(), {int(sig)})
            return build(*args)
        run.build = slow_build
    """)
    assert done.returncode == wl.EXIT_MIGRATED, done.stderr
    assert wl.latest_complete(tmp_path).name == "step-000000001"


def test_a_request_after_the_final_checkpoint_exits_0(tmp_path) -> None:
    done = _reference_with(tmp_path, """
        import os, signal
        from greenhop.workload import session
        leave = session.TrainingSession.__exit__
        def late(self, *exc):  # the request comes once the session has ended
            leave(self, *exc)
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGUSR1)
        session.TrainingSession.__exit__ = late
    """)
    assert done.returncode == wl.EXIT_FINISHED, done.stderr
    assert wl.load_checkpoint(wl.latest_complete(tmp_path)).finished


@pytest.mark.parametrize(("call", "says"), [
    (lambda s: s.step_done(-2), "step_done(-2): the number of steps done must be in 0 .."),
    (lambda s: s.save(10**12), "save(1000000000000): the number of steps done must be in"),
    (lambda s: s.step_done("4"), "step_done('4'): the number of steps done must be an int; "
                                 "got '4' (str)"),
    (lambda s: s.step_done(2.0), "must be an int; got 2.0 (float)"),
    (lambda s: (s.step_done(4), s.finish(2)), "finish(2) after step 4: the number of steps "
                                              "done never goes back"),
    (lambda s: (s.step_done(4), s.step_done(3)), "step_done(3) after step 4"),
])
def test_a_step_that_no_checkpoint_name_or_resume_can_hold_is_refused(tmp_path, call, says):
    """A negative step made `step--00000002`, a huge one `step-1000000000000` (which resume
    ignored, starting from scratch beside it), and `finish(2)` after step 4 a "finished"
    step-2 holding step 4's state. Each is a ConfigError now, and nothing is written."""
    model = torch.nn.Linear(2, 1)
    with wl.TrainingSession(tmp_path, model=model) as s, pytest.raises(ConfigError) as exc:
        call(s)
    assert says in str(exc.value)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("step-")
                and ck.parse_step_dir(p.name) != 4]


def test_a_numpy_step_is_taken_and_a_negative_resume_step_is_refused(tmp_path):
    import numpy as np

    model = torch.nn.Linear(2, 1)
    with wl.TrainingSession(tmp_path, model=model) as s:
        s.save(np.int64(3))
    assert [ck.parse_step_dir(p.name) for p in tmp_path.iterdir()
            if p.name.startswith("step-")] == [3]
    with pytest.raises(ConfigError, match="resume_step: the number of steps done must be in"):
        wl.TrainingSession(tmp_path, model=model, resume_step=-1)


def test_a_checkpoint_with_a_component_the_session_does_not_register_is_refused(tmp_path):
    """A script that forgot to register its optimizer resumed with a fresh Adam state and
    no word; the opposite (a checkpoint lacking a component) was already refused."""
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(model.parameters())
    with wl.TrainingSession(tmp_path, model=model, optimizer=opt) as s:
        s.save(1)
    with wl.TrainingSession(tmp_path, model=model) as s, \
            pytest.raises(ck.IncompatibleCheckpoint) as exc:
        s.resume()
    assert "holds components ['optimizer'] that this session does not register" in str(
        exc.value)
    with wl.TrainingSession(tmp_path, model=model, capture_rng=False,
                            optimizer=torch.optim.Adam(model.parameters())) as s:
        assert s.resume() == 1  # the RNG states it keeps are the session's own choice
