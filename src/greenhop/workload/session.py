"""The training-loop side of migration: resume, checkpoint on request, exit.

Example (see docs/workload.md)::

    with TrainingSession("ckpt", model=model, optimizer=opt, scheduler=sched,
                         loader=sampler, every_steps=100) as session:
        for step in range(session.resume(), total_steps):
            train_one_step(...)
            session.step_done(step + 1)   # checkpoints; exits with 75 if asked to move
        session.finish(total_steps)       # final state = newest complete checkpoint

A migration request is SIGTERM or SIGUSR1, or the control file
(``<ckpt_dir>/MIGRATE`` by default) appearing. The signal handler only sets
a flag: the step in flight finishes, then :meth:`TrainingSession.step_done`
saves a checkpoint and raises :class:`MigrationExit` (a ``SystemExit`` with
:data:`EXIT_MIGRATED`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from greenhop.core.errors import CheckpointError, ConfigError
from greenhop.workload import checkpoint as ck
from greenhop.workload.rng import rng_state, set_rng_state

EXIT_FINISHED = 0
"""Exit code: the run reached its last step; its final state is the newest checkpoint."""
EXIT_FAILED = 1
"""Exit code: a runtime failure (corrupt checkpoint, I/O error)."""
EXIT_USAGE = 2
"""Exit code: bad arguments or configuration."""
EXIT_MIGRATED = 75
"""Exit code (``EX_TEMPFAIL``): stopped on request after writing a complete checkpoint;
start it again (here or at another site) to continue."""

CONTROL_FILE = "MIGRATE"
"""Default control file name inside the checkpoint directory."""

ENV_CHECKPOINT_DIR = "GREENHOP_CHECKPOINT_DIR"
"""Environment variable: the job's checkpoint directory at its current site (set by
``greenhop run``; the default of ``ckpt_dir``)."""
ENV_RESUME_STEP = "GREENHOP_RESUME_STEP"
"""Environment variable: the checkpoint step the process must resume from (set by
``greenhop run`` after it verified that checkpoint). :meth:`TrainingSession.resume`
loads exactly that step or raises :class:`CheckpointError`; it never silently starts
from an older step or from scratch."""


ENV_JOB = "GREENHOP_JOB"
"""Environment variable: the job's name in a live run (set by ``greenhop run``); recorded in
each checkpoint's ``meta.json``, and :meth:`TrainingSession.resume` refuses a checkpoint
that recorded another job (a finished checkpoint of another job copied in would otherwise
end this one)."""

ENV_PROGRESS = "GREENHOP_PROGRESS"
"""Environment variable: when ``1``, :meth:`TrainingSession.step_done` prints a line
``step N`` to stdout after each step (how ``greenhop run`` sees a job's progress)."""


MODEL_CONFIG = "model_config"
"""Key of ``meta.json`` holding the :class:`TrainingSession`'s ``model_config``."""
_ELSEWHERE = "use another checkpoint directory"


def _shape(config: Any, other: Any) -> str:
    """``config`` (a recorded ``model_config``) in words, e.g. ``lm (width 256)``: only
    the entries that differ from ``other`` when both name the same model."""
    if not isinstance(config, dict):
        return repr(config)
    same = isinstance(other, dict) and other.get("model") == config.get("model")
    shown = [f"{k} {v}" for k, v in config.items()
             if k != "model" and not (same and other.get(k) == v)]
    name = str(config.get("model", "?"))
    return f"{name} ({', '.join(shown)})" if shown else name


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "dtype") and hasattr(x, "is_floating_point") and hasattr(x, "shape")


def _dtype_mismatch(obj: Any, loaded: Any) -> str | None:
    """Where ``loaded`` (a component's state from a checkpoint) holds a tensor of another
    dtype than ``obj`` (the job's component) has there, in words; None when none does.

    Compares with ``obj.state_dict()`` tensor by tensor at the same key; an optimizer's
    state, empty before its first step, is compared with its parameters instead (every
    state tensor of a floating-point parameter but ``step`` has the parameter's dtype)."""
    if not hasattr(obj, "state_dict"):
        return None

    def walk(mine: Any, theirs: Any, where: str) -> str | None:
        if _is_tensor(mine) and _is_tensor(theirs):
            if mine.dtype != theirs.dtype:
                return f"{where or 'the tensor'} is {theirs.dtype}, not {mine.dtype}"
            return None
        if isinstance(mine, dict) and isinstance(theirs, dict):
            for k in mine:
                if k in theirs and (bad := walk(mine[k], theirs[k],
                                                f"{where}.{k}" if where else str(k))):
                    return bad
        elif isinstance(mine, list | tuple) and isinstance(theirs, list | tuple):
            for i, (a, b) in enumerate(zip(mine, theirs, strict=False)):
                if (bad := walk(a, b, f"{where}[{i}]")):
                    return bad
        return None

    if (bad := walk(obj.state_dict(), loaded, "")):
        return bad
    groups = getattr(obj, "param_groups", None)
    if not (isinstance(groups, list) and isinstance(loaded, dict)
            and isinstance(loaded.get("state"), dict)
            and isinstance(loaded.get("param_groups"), list)):
        return None
    for group, saved in zip(groups, loaded["param_groups"], strict=False):
        ids = saved.get("params", []) if isinstance(saved, dict) else []
        for param, pid in zip(group.get("params", []), ids, strict=False):
            entry = loaded["state"].get(pid)
            if not (isinstance(entry, dict) and param.is_floating_point()):
                continue
            for key, value in entry.items():
                if key != "step" and _is_tensor(value) and value.dtype != param.dtype:
                    return (f"state.{pid}.{key} is {value.dtype}, not its parameter's "
                            f"{param.dtype}")
    return None


def _first_problem(exc: Exception, limit: int = 160) -> str:
    """The first problem torch's ``load_state_dict`` error lists, cut to ``limit``
    characters, and how many more there are (the full text names every tensor)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):  # "Error(s) in loading state_dict for X:"
        lines = lines[1:]
    first = lines[0].rstrip(". ") if lines else type(exc).__name__
    first = first if len(first) <= limit else first[: limit - 3] + "..."
    return first + (f"; and {len(lines) - 1} more" if len(lines) > 1 else "")


def checked_step(step: Any, where: str) -> int:
    """``step`` (a count of steps done) as an int in 0 .. :data:`~greenhop.workload.
    checkpoint.MAX_STEP`, or a :class:`ConfigError` naming ``where`` (``step_done(step)``):
    a negative or larger one made a directory no resume reads (``step--00000002``,
    ``step-1000000000000``), and it started from scratch beside it."""
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise ConfigError(f"{where}: the number of steps done must be an int; got "
                          f"{step!r} ({type(step).__name__})")
    n = int(step.__index__())
    if not 0 <= n <= ck.MAX_STEP:
        raise ConfigError(f"{where}: the number of steps done must be in 0 .. {ck.MAX_STEP:,}; "
                          f"got {n}")
    return n


def env_resume_step() -> int | None:
    """The step in :data:`ENV_RESUME_STEP`, or None when it is unset or empty."""
    raw = os.environ.get(ENV_RESUME_STEP, "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit():
        raise ConfigError(f"{ENV_RESUME_STEP}={raw!r}: must be a step number")
    return int(raw)


REQUEST_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
"""The signals that request a migration (:class:`TrainingSession`'s default)."""


@contextlib.contextmanager
def migration_requests(
    requested: threading.Event | None = None, signals: tuple[int, ...] = REQUEST_SIGNALS,
) -> Iterator[threading.Event]:
    """Record each of ``signals`` as a migration request in an event (``requested``, or a new
    one; yielded) for the block, then put back the handlers that were there before.

    For a program's start-up, before its :class:`TrainingSession` exists (importing torch
    and building a model take seconds), and its end, after the session is left: without
    it a SIGTERM then kills the process (exit code 143) where the job protocol expects 75,
    or 0 once the run has finished. Pass the event on and call
    :meth:`TrainingSession.request_stop` once the session is entered when it is set. Off
    the main thread nothing is installed (signals reach the main thread only).
    """
    event = requested if requested is not None else threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in signals:
            previous[sig] = signal.signal(sig, lambda signum, frame: event.set())
    try:
        yield event
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class MigrationExit(SystemExit):
    """Raised by :meth:`TrainingSession.step_done` after checkpointing on request."""

    def __init__(self, step: int, path: Path) -> None:
        super().__init__(EXIT_MIGRATED)
        self.step = step
        self.path = path


class TrainingSession:
    """Make a training loop migratable.

    Args:
        ckpt_dir: directory holding this job's checkpoints (``step-NNNNNNNNN``).
        model, optimizer, scheduler, loader: objects with ``state_dict()`` and
            ``load_state_dict()``; any may be None.
        extra: more named components with the same two methods.
        every_steps: also checkpoint every this many steps (0 = only on request
            and at the end).
        keep: how many complete checkpoints to retain (>= 1).
        control_file: path whose appearance requests a migration (default
            ``<ckpt_dir>/MIGRATE``); it is removed once honoured.
        signals: signals that request a migration.
        capture_rng: save and restore python, numpy and torch RNG states.
        shard_bytes: largest safetensors file [B]; bigger components are split.
        log: callable taking one message line (default: stderr).
        resume_step: the step :meth:`resume` must load (default: the environment's
            :data:`ENV_RESUME_STEP`, set by ``greenhop run``; None = the newest intact).
        model_config: the model's name and shape as a JSON object, e.g. ``{"model": "lm",
            "width": 256}``; recorded in each checkpoint's ``meta.json``, and :meth:`resume`
            refuses a checkpoint that recorded another one (None: nothing recorded).
        total_steps: the run's length [steps]; :meth:`resume` refuses a checkpoint past
            it (a shorter run would train nothing and call itself finished; None: any).
    """

    def __init__(
        self,
        ckpt_dir: str | Path | None = None,
        *,
        model: Any = None,
        optimizer: Any = None,
        scheduler: Any = None,
        loader: Any = None,
        extra: dict[str, Any] | None = None,
        every_steps: int = 0,
        keep: int = 3,
        control_file: str | Path | None = None,
        signals: tuple[int, ...] = REQUEST_SIGNALS,
        capture_rng: bool = True,
        shard_bytes: int = ck.DEFAULT_SHARD_BYTES,
        log: Callable[[str], None] | None = None,
        resume_step: int | None = None,
        model_config: dict[str, Any] | None = None,
        total_steps: int | None = None,
    ) -> None:
        if ckpt_dir is None:
            ckpt_dir = os.environ.get(ENV_CHECKPOINT_DIR) or None
            if ckpt_dir is None:
                raise ConfigError(f"no checkpoint directory: pass ckpt_dir or set "
                                  f"{ENV_CHECKPOINT_DIR}")
        if every_steps < 0:
            raise ConfigError(f"every_steps must be >= 0; got {every_steps}")
        if keep < 1:
            raise ConfigError(f"keep must be >= 1; got {keep}")
        self.ckpt_dir = Path(ckpt_dir)
        ck.check_job_dir(self.ckpt_dir)  # not JOB/step-N: that would train inside it
        self.components: dict[str, Any] = {}
        for name, obj in (
            ("model", model),
            ("optimizer", optimizer),
            ("scheduler", scheduler),
            ("loader", loader),
            *(extra or {}).items(),
        ):
            if obj is None:
                continue
            if name == "rng" or not (
                hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")
            ):
                raise ConfigError(f"component {name!r} needs state_dict() and load_state_dict()")
            self.components[name] = obj
        self.every_steps = every_steps
        self.keep = keep
        self.corrupt_steps: set[int] = set()  # skipped as corrupt when resuming: not counted
        # by retention, and set aside rather than written over when the run saves that step
        self.control_file = Path(control_file) if control_file else self.ckpt_dir / CONTROL_FILE
        self.signals = tuple(signals)
        self.capture_rng = capture_rng
        self.shard_bytes = shard_bytes
        self.log = log or (lambda msg: print(f"greenhop: {msg}", file=sys.stderr, flush=True))
        self.resume_step = (checked_step(resume_step, "resume_step") if resume_step is not None
                            else env_resume_step())
        self.model_config = model_config
        self.total_steps = total_steps
        self.job = os.environ.get(ENV_JOB) or None
        self.progress = os.environ.get(ENV_PROGRESS, "") == "1"
        self.step = 0
        self.last_saved: tuple[int, bool] | None = None
        self._stop = threading.Event()
        self._previous: dict[int, Any] = {}
        self._lock_fd: int | None = None

    # -- signals -------------------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        self._stop.set()

    def install(self) -> None:
        """Install the signal handlers (main thread only; elsewhere only the control file works)."""
        if threading.current_thread() is not threading.main_thread():
            self.log("not on the main thread: migration requests by signal are disabled")
            return
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def uninstall(self) -> None:
        """Restore the signal handlers that were there before :meth:`install`."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def __enter__(self) -> TrainingSession:
        self._lock_fd = ck.lock_dir(self.ckpt_dir)  # CheckpointDirInUse: another session's
        self.install()
        return self

    def __exit__(self, *exc) -> None:
        self.uninstall()
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            ck.unlock_dir(fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the checkpoint directory's lock for the block: the session's own lock inside
        ``with session``, else one taken for the block alone (a session used without ``with``
        locks the directory only while it resumes or saves)."""
        if self._lock_fd is not None:
            yield
            return
        fd = ck.lock_dir(self.ckpt_dir)
        try:
            yield
        finally:
            ck.unlock_dir(fd)

    def request_stop(self) -> None:
        """Ask the loop to checkpoint and exit after the current step (as a signal would)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        """True once a signal arrived or the control file exists."""
        if not self._stop.is_set() and self.control_file.exists():
            self._stop.set()
        return self._stop.is_set()

    # -- state ---------------------------------------------------------------------------------

    def resume(self) -> int:
        """Load the newest complete checkpoint (falling back past incomplete, corrupt or
        damaged ones to older complete ones, logging each and leaving it in place); return
        its step, or 0 when there is none.

        Raises :class:`CheckpointError` for a checkpoint with unsafe content (a pickle
        payload) rather than skipping it;
        :class:`~greenhop.workload.checkpoint.NoIntactCheckpoint` (a ``ConfigError``) when
        the directory holds checkpoints but none of them loads (a start from scratch would
        overwrite them); :class:`~greenhop.workload.checkpoint.IncompatibleCheckpoint` for one
        written by another model or model shape (before loading anything into the components);
        :class:`~greenhop.workload.checkpoint.CheckpointDirInUse` while another live session
        holds the directory. Runs under the directory's lock (:func:`~greenhop.workload.
        checkpoint.lock_dir`), so its clean-up (:func:`~greenhop.workload.checkpoint.recover`)
        never removes another session's checkpoint in the making.
        """
        with self._locked():
            return self._resume()

    def _resume(self) -> int:
        ck.recover(self.ckpt_dir)
        loaded = None
        skipped: list[str] = []
        want = self.resume_step
        for step, path in ck.list_checkpoints(self.ckpt_dir):
            if want is not None and step != want:
                continue
            try:  # verifies every file's digest while reading: each byte is read and hashed once
                loaded = ck.load_checkpoint(path)
                break
            except ck.IncompleteCheckpoint as exc:
                if want is not None:  # told which step to load: a loud failure, no fallback
                    raise CheckpointError(
                        f"cannot resume from {path} ({ENV_RESUME_STEP}={want}): {exc}"
                    ) from None
                self.log(f"skipping {path.name}: {exc}")
                self.corrupt_steps.add(step)
                skipped.append(path.name)
        if loaded is None:
            if want is not None and want > 0:
                raise CheckpointError(
                    f"no checkpoint of step {want} in {self.ckpt_dir} ({ENV_RESUME_STEP}); "
                    "refusing to start from scratch"
                )
            if skipped:  # starting from scratch would write over them: the user decides
                raise ck.NoIntactCheckpoint(self.ckpt_dir, skipped)
            self.step = 0
            return 0
        self._check_fits(loaded)
        for name, obj in self.components.items():
            # torch's load_state_dict casts a tensor of another dtype without a word (an
            # F32 weight recorded as I32 resumes as garbage): refuse it before loading
            bad = _dtype_mismatch(obj, loaded.components[name])
            if bad is not None:
                raise ck.IncompatibleCheckpoint(
                    f"{self.ckpt_dir}: the {name} in {path.name} does not fit this job's "
                    f"{name} ({bad}); it was written by another model or is damaged; "
                    f"{_ELSEWHERE}")
        for name, obj in self.components.items():
            try:
                obj.load_state_dict(loaded.components[name])
            except ck.IncompatibleCheckpoint as exc:  # e.g. other data settings
                raise ck.IncompatibleCheckpoint(f"{self.ckpt_dir}: {path.name}: {exc}") from None
            except CheckpointError:
                raise
            except (RuntimeError, ValueError, KeyError) as exc:  # torch: shapes or keys differ
                raise ck.IncompatibleCheckpoint(
                    f"{self.ckpt_dir}: the {name} in {path.name} does not fit this job's "
                    f"{name} ({_first_problem(exc)}); it was written by another model or "
                    f"model shape; {_ELSEWHERE}"
                ) from None
        if self.capture_rng:
            if "rng" not in loaded.components:
                raise CheckpointError(f"{path} has no RNG state; resume with capture_rng=False")
            set_rng_state(loaded.components["rng"])
        self.step = loaded.step
        self.last_saved = (loaded.step, loaded.finished)
        self.log(f"resumed from {path} (step {loaded.step})")
        return loaded.step

    def _check_fits(self, loaded: ck.LoadedCheckpoint) -> None:
        """Raise :class:`~greenhop.workload.checkpoint.IncompatibleCheckpoint` when
        ``loaded`` lacks a component, holds one this session does not register (it would
        be dropped: an optimizer left out resumes with fresh state, not exactly), or
        recorded another ``model_config``."""
        where = f"{self.ckpt_dir}: {loaded.path.name}"
        missing = [n for n in self.components if n not in loaded.components]
        if missing:
            raise ck.IncompatibleCheckpoint(
                f"{where} lacks components {missing}; it was written by another job; "
                f"{_ELSEWHERE}")
        unknown = [n for n in loaded.components if n not in self.components and n != "rng"]
        if unknown:
            raise ck.IncompatibleCheckpoint(
                f"{where} holds components {unknown} that this session does not register; "
                "pass them to TrainingSession (model=, optimizer=, scheduler=, loader= or "
                f"extra=) to resume exactly, or {_ELSEWHERE}")
        job = loaded.meta.get(ck.META_JOB)
        if self.job is not None and job is not None and job != self.job:
            raise ck.IncompatibleCheckpoint(
                f"{where} is a checkpoint of job {job!r}, not of {self.job!r} "
                f"({ENV_JOB}); {_ELSEWHERE}")
        if self.total_steps is not None and loaded.step > self.total_steps:
            raise ck.IncompatibleCheckpoint(
                f"{where} is at step {loaded.step}, past this run's {self.total_steps} "
                f"steps (--steps {self.total_steps}); give {loaded.step} steps or more to "
                "go on from it, or another directory for a shorter run")
        theirs, mine = loaded.meta.get(MODEL_CONFIG), self.model_config
        if mine is not None and theirs is not None and theirs != mine:
            raise ck.IncompatibleCheckpoint(
                f"{where} is a checkpoint of model {_shape(theirs, mine)}; it cannot "
                f"resume as {_shape(mine, theirs)}; {_ELSEWHERE}")

    def _forward(self, step: Any, method: str) -> int:
        """``step`` checked (:func:`checked_step`) and not before the last one done or
        resumed from: a checkpoint named by a step holds the state after that many."""
        n = checked_step(step, f"{method}({step!r})")
        if n < self.step:
            raise ConfigError(f"{method}({n}) after step {self.step}: the number of steps "
                              "done never goes back; pass the count of steps trained so far")
        return n

    def save(self, step: int, *, finished: bool = False) -> Path:
        """Write a complete checkpoint now and apply retention; return its directory.

        A checkpoint of that step that :meth:`resume` skipped as corrupt is set aside first
        (:func:`~greenhop.workload.checkpoint.set_aside`: ``corrupt-step-N-<ns>``), never
        written over."""
        step = self._forward(step, "save")
        state = {name: obj.state_dict() for name, obj in self.components.items()}
        if self.capture_rng:
            state["rng"] = rng_state()
        extra = {**({MODEL_CONFIG: self.model_config} if self.model_config is not None else {}),
                 **({ck.META_JOB: self.job} if self.job is not None else {})} or None
        with self._locked():
            damaged = self.ckpt_dir / ck.step_dir_name(step)
            if step in self.corrupt_steps and damaged.is_dir():
                aside = ck.set_aside(damaged)
                self.log(f"{damaged.name} was skipped as corrupt: kept as {aside.name}")
            self.corrupt_steps.discard(step)
            path = ck.save_checkpoint(
                self.ckpt_dir, step, state, finished=finished, shard_bytes=self.shard_bytes,
                extra_meta=extra,
            )
            ck.prune(self.ckpt_dir, self.keep, upto_step=step, not_counted=self.corrupt_steps)
        self.last_saved = (step, finished)
        return path

    def step_done(self, step: int) -> None:
        """Call after each finished training step with the number of steps done.

        Checkpoints every ``every_steps``; on a migration request checkpoints
        (unless it just did) and raises :class:`MigrationExit`. ``step`` never goes back
        (a :class:`ConfigError`).
        """
        self.step = self._forward(step, "step_done")
        if self.progress:
            print(f"step {step}", flush=True)
        if self.every_steps and step % self.every_steps == 0:
            self.save(step)
        if self.stop_requested:
            path = self.ckpt_dir / ck.step_dir_name(step)
            if self.last_saved is None or self.last_saved[0] != step:
                path = self.save(step)
            self.control_file.unlink(missing_ok=True)
            self.log(
                f"migration requested: checkpoint {path.name} written, exiting with {EXIT_MIGRATED}"
            )
            raise MigrationExit(step, path)

    def finish(self, step: int) -> Path:
        """Mark the run finished: its final state becomes the newest complete checkpoint.

        A control file still present is moot once the run is finished: it is removed, so
        that it does not stop a later run that extends this one after its first step.
        ``step`` is at least the last step done (a :class:`ConfigError`: a run marked
        finished at step 2 held the state of step 4).
        """
        self.step = step = self._forward(step, "finish")
        path = self.ckpt_dir / ck.step_dir_name(step)
        if self.last_saved != (step, True):
            path = self.save(step, finished=True)
        self.control_file.unlink(missing_ok=True)
        return path
