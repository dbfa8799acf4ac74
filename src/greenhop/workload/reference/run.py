"""Run a reference workload as a migratable job (``greenhop workload run lm|mlp``).

Returns :data:`~greenhop.workload.EXIT_FINISHED` (0) when all steps are done and
:data:`~greenhop.workload.EXIT_MIGRATED` (75) after checkpointing on request.
"""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from greenhop.core.errors import ConfigError, require
from greenhop.workload.checkpoint_errors import IncompatibleCheckpoint
from greenhop.workload.sampler import ResumableSampler
from greenhop.workload.session import (
    EXIT_FINISHED,
    MigrationExit,
    TrainingSession,
    migration_requests,
)

if TYPE_CHECKING:
    from greenhop.workload.reference.models import LMConfig

WORKLOADS = ("lm", "mlp")

MAX_SEED = 2**32 - 1
"""Largest ``--seed`` (numpy's global generator takes 32 bits)."""
MAX_WIDTH = 4096
"""Largest LM width [-] (``--width``, or the default 256 times ``--scale``)."""
MAX_LAYERS = 64
"""Most LM layers [-] (``--layers``)."""
MAX_CONTEXT = 1024
"""Longest LM context [tokens] (``--context``)."""
MAX_LM_PARAMS = 1_000_000_000
"""Most LM parameters [-]: about 16 GB of weights, gradients and AdamW state in float32."""
MAX_BATCH_SIZE = 512
"""Largest ``--batch-size`` [-] (the mlp's whole data set)."""
MAX_THREADS = 1024
"""Most torch threads [-] (``--threads``)."""
MAX_STEP_SLEEP_S = 3600
"""Longest ``--step-sleep`` [s]."""
MLP_SHAPE = {"n_in": 16, "hidden": 64}
"""The mlp's inputs and hidden width [-]."""


def _within(option: str, value: float | None, low: float, high: float, unit: str = "") -> None:
    """Refuse ``value`` of ``option`` outside ``low``..``high`` [``unit``]; None (the
    option not given) passes."""
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{option}: must be from {low}{unit} to {high}{unit}, got "
                          f"{value}{unit}")


@dataclass(frozen=True)
class RunOptions:
    """Options of a reference run, checked when made (a :class:`ConfigError` names the
    option as both entry points spell it, e.g. ``--seed``).

    ``scale`` multiplies the LM's width (checkpoint size grows about with its
    square); ``width``/``layers``/``context`` override the LM's shape (None: not given);
    ``step_sleep_s`` slows each step down [s] (to interrupt it by hand);
    ``threads`` is torch's intra-op thread count (keep it fixed for exactness).
    """

    steps: int
    every_steps: int = 0
    keep: int = 3
    seed: int = 0
    batch_size: int = 16
    lr: float = 3e-3
    scale: float = 1.0
    width: int | None = None
    layers: int | None = None
    context: int | None = None
    threads: int = 1
    step_sleep_s: float = 0.0
    control_file: str | None = None

    def __post_init__(self) -> None:
        for option, value, low, high in (
            ("--steps", self.steps, 0, math.inf),
            ("--every", self.every_steps, 0, math.inf),
            ("--keep", self.keep, 1, math.inf),
            ("--seed", self.seed, 0, MAX_SEED),
            ("--batch-size", self.batch_size, 1, MAX_BATCH_SIZE),
            ("--width", self.width, 1, MAX_WIDTH),
            ("--layers", self.layers, 1, MAX_LAYERS),
            ("--context", self.context, 1, MAX_CONTEXT),
            ("--threads", self.threads, 1, MAX_THREADS),
        ):
            _within(option, value, low, high)
        _within("--step-sleep", self.step_sleep_s, 0, MAX_STEP_SLEEP_S, " s")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"--scale: must be a number above 0, got {self.scale}")


def lm_config(opts: RunOptions) -> LMConfig:
    """The LM's :class:`~greenhop.workload.reference.models.LMConfig` for ``opts``: the
    default shape, ``--scale`` applied to its width, then ``--width``, ``--layers`` and
    ``--context`` where given; a :class:`ConfigError` names the option that makes it
    impossible or too big (:data:`MAX_WIDTH`, :data:`MAX_LM_PARAMS`)."""
    from greenhop.workload.reference.models import LMConfig

    base = LMConfig()
    if opts.width is None and base.width * opts.scale > MAX_WIDTH:
        raise ConfigError(f"--scale: at most {MAX_WIDTH / base.width:g} (width {MAX_WIDTH}), "
                          f"got {opts.scale:g}")
    scaled = base.scaled(opts.scale)
    cfg = dataclasses.replace(
        scaled,
        width=scaled.width if opts.width is None else opts.width,
        layers=scaled.layers if opts.layers is None else opts.layers,
        context=scaled.context if opts.context is None else opts.context,
    )
    if cfg.width % cfg.heads:
        raise ConfigError(f"--width: {cfg.width} must be a multiple of the {cfg.heads} heads")
    if cfg.n_params() > MAX_LM_PARAMS:
        raise ConfigError(
            f"--width {cfg.width} --layers {cfg.layers} --context {cfg.context}: "
            f"{cfg.n_params() / 1e6:.0f} M parameters; at most {MAX_LM_PARAMS / 1e6:.0f} M"
        )
    return cfg


def model_config(workload: str, opts: RunOptions) -> dict:
    """The name and shape of ``workload``'s model under ``opts``, as recorded in each
    checkpoint (``meta.json`` ``model_config``); a resume with another one is refused."""
    if workload == "lm":
        return {"model": "lm", **dataclasses.asdict(lm_config(opts))}
    if workload == "mlp":
        return {"model": "mlp", **MLP_SHAPE}
    raise ConfigError(f"unknown workload {workload!r}; choose one of {', '.join(WORKLOADS)}")


class ScheduleOver:
    """A learning-rate scheduler whose length is part of the run's configuration (the LM's
    cosine schedule anneals over ``--steps``): it saves and loads as the scheduler does,
    but refuses, as :class:`~greenhop.workload.checkpoint.IncompatibleCheckpoint`, a saved
    state that anneals over another number of steps (``T_max``) instead of silently taking
    the checkpoint's schedule, which would end the run on another learning-rate curve
    than an uninterrupted run of ``--steps`` steps."""

    def __init__(self, scheduler: Any, steps: int) -> None:
        self.scheduler = scheduler
        self.steps = steps

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        theirs = state.get("T_max") if isinstance(state, dict) else None
        if theirs is not None and theirs != self.scheduler.T_max:
            raise IncompatibleCheckpoint(
                f"its learning-rate schedule anneals over {theirs} steps (--steps {theirs}) "
                f"and this run's over {self.scheduler.T_max} (--steps {self.steps}); resume "
                f"with --steps {theirs}, or use another checkpoint directory for a run of "
                f"{self.steps} steps")
        self.scheduler.load_state_dict(state)


def _setup(torch, threads: int, seed: int) -> None:
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build(workload: str, opts: RunOptions):
    """(model, optimizer, scheduler, sampler, step_fn) for ``workload``; step_fn() -> loss."""
    torch = require("torch", "torch")
    from greenhop.workload.reference import models

    if workload == "mlp":
        n_in = MLP_SHAPE["n_in"]
        model = models.TinyMLP(**MLP_SHAPE)
        g = torch.Generator().manual_seed(opts.seed + 1)
        x = torch.randn(512, n_in, generator=g)
        y = (x[:, :4].sum(dim=1, keepdim=True) ** 2 / 4 + torch.sin(x[:, 4:5])).contiguous()
        sampler = ResumableSampler(512, opts.batch_size, seed=opts.seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=25, gamma=0.9)

        def step_fn() -> float:
            idx = torch.from_numpy(sampler.next_batch())
            noise = torch.from_numpy(
                np.random.standard_normal((len(idx), n_in)).astype(np.float32))
            weight = 1.0 + 0.05 * random.random()
            loss = weight * F.mse_loss(model(x[idx] + 0.01 * noise), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            return loss.item()

    elif workload == "lm":
        from greenhop.workload.reference.corpus import corpus_bytes

        cfg = lm_config(opts)
        model = models.TinyLM(cfg)
        data = torch.tensor(list(corpus_bytes()), dtype=torch.long)
        n_items = len(data) - cfg.context - 1
        sampler = ResumableSampler(n_items, opts.batch_size, seed=opts.seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=0.01)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, opts.steps))
        offsets = torch.arange(cfg.context)

        def step_fn() -> float:
            starts = torch.from_numpy(sampler.next_batch())
            idx = starts[:, None] + offsets[None, :]
            logits = model(data[idx])
            loss = F.cross_entropy(logits.reshape(-1, cfg.vocab), data[idx + 1].reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            return loss.item()

    else:
        raise ConfigError(f"unknown workload {workload!r}; choose one of {', '.join(WORKLOADS)}")
    F = torch.nn.functional
    return model, optimizer, scheduler, sampler, step_fn


def run_reference(
    workload: str,
    ckpt_dir: str | Path,
    opts: RunOptions,
    *,
    on_step: Callable[[int, float], None] | None = None,
    on_resume: Callable[[int], None] | None = None,
    log: Callable[[str], None] | None = None,
    requests: threading.Event | None = None,
) -> int:
    """Train ``workload`` for ``opts.steps`` steps in ``ckpt_dir``; return the exit code.

    ``on_step(step, loss)`` is called after each step (only: its ``step N`` lines are
    how a live controller sees progress), ``on_resume(step)`` once with the step resumed
    from. A directory whose newest checkpoint is past
    ``opts.steps`` is refused (:class:`IncompatibleCheckpoint`, the session's
    ``total_steps``), left as it is.

    A migration request by signal (SIGTERM, SIGUSR1) is recorded from the first line on,
    before torch is imported and the model built (``requests``: an event the caller has
    been recording requests in since earlier still; see
    :func:`~greenhop.workload.session.migration_requests`): one that came before the
    training loop stops the run after its first step, with a checkpoint (exit code 75), and
    one after the final checkpoint changes nothing (exit code 0).
    """
    with migration_requests(requests) as requested:
        torch = require("torch", "torch")
        saved = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
        try:
            return _run(torch, workload, ckpt_dir, opts, on_step, log, requested, on_resume)
        finally:  # leave the process as it was (this also runs inside tests and other programs)
            torch.set_num_threads(saved[0])
            torch.use_deterministic_algorithms(saved[1])


def _run(torch, workload, ckpt_dir, opts, on_step, log, requested: threading.Event,
         on_resume=None) -> int:
    config = model_config(workload, opts)  # checks the shape before anything is allocated
    _setup(torch, opts.threads, opts.seed)
    model, optimizer, scheduler, sampler, step_fn = build(workload, opts)
    model.train()
    if workload == "lm":  # its schedule's length is --steps: a resume must keep it
        scheduler = ScheduleOver(scheduler, opts.steps)
    session = TrainingSession(
        ckpt_dir,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        loader=sampler,
        every_steps=opts.every_steps,
        keep=opts.keep,
        control_file=opts.control_file,
        log=log,
        model_config=config,
        total_steps=opts.steps,
    )
    with session:  # from here on the session's handlers take the requests
        if requested.is_set():
            session.request_stop()
        try:
            start = session.resume()
            if start and on_resume is not None:  # progress shown from where it resumed
                on_resume(start)
            for step in range(start, opts.steps):
                loss = step_fn()
                if opts.step_sleep_s:
                    time.sleep(opts.step_sleep_s)
                if on_step is not None:
                    on_step(step + 1, loss)
                session.step_done(step + 1)
            session.finish(max(opts.steps, session.step))
        except MigrationExit as exc:
            return int(exc.code)
    return EXIT_FINISHED
