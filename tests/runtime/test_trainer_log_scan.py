"""The controller follows a trainer's `step N` lines however much it prints between them
(a fixed 512-byte tail of the log missed them: the job looked stuck, and after 15 minutes
a healthy trainer was killed as hung)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop.runtime.executor import LocalExecutor


def _executor(tmp_path):
    ex = LocalExecutor(tmp_path / "work")
    ex.log_path("job-a", 1).parent.mkdir(parents=True, exist_ok=True)
    return ex


def test_a_trainer_printing_600_bytes_after_each_step_is_followed(tmp_path):
    ex = _executor(tmp_path)
    log = ex.log_path("job-a", 1)
    noise = "x" * 600
    with open(log, "w") as fh:
        for step in range(1, 51):
            fh.write(f"step {step}\n{noise}\n")
            fh.flush()
            if step % 7 == 0:
                assert ex._last_step("job-a", 1) == step
    assert ex._last_step("job-a", 1) == 50
    assert ex._last_step("job-a", 1) == 50  # nothing new: the same step
    assert ex._last_step("job-a", 2) == -1  # another trainer's log (none yet)


@settings(max_examples=30, deadline=None)
@given(chunks=st.lists(st.tuples(st.integers(0, 3000), st.booleans()), min_size=1,
                       max_size=30))
def test_the_last_step_line_written_is_the_one_seen(tmp_path_factory, chunks):
    """Whatever the noise between step lines and however the polls fall, the step seen
    is the last step line the log holds."""
    ex = _executor(tmp_path_factory.mktemp("scan"))
    log = ex.log_path("job-a", 1)
    last, step = -1, 0
    with open(log, "w") as fh:
        for noise, poll in chunks:
            step += 1
            fh.write(f"step {step}\n" + ("y" * noise + "\n" if noise else ""))
            fh.flush()
            last = step
            if poll:
                assert ex._last_step("job-a", 1) == last
    assert ex._last_step("job-a", 1) == last
