"""Run a reference workload as a migratable job (``greenhop workload run lm|mlp``).

Returns :data:`~greenhop.workload.EXIT_FINISHED` (0) when all steps are done and
:data:`~greenhop.workload.EXIT_MIGRATED` (75) after checkpointing on request.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from greenhop.core.errors import ConfigError, require
from greenhop.workload.sampler import ResumableSampler
from greenhop.workload.session import EXIT_FINISHED, MigrationExit, TrainingSession

WORKLOADS = ("lm", "mlp")


@dataclass(frozen=True)
class RunOptions:
    """Options of a reference run.

    ``scale`` multiplies the LM's width (checkpoint size grows about with its
    square); ``width``/``layers``/``context`` override the LM's shape;
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
        model = models.TinyMLP()
        g = torch.Generator().manual_seed(opts.seed + 1)
        x = torch.randn(512, 16, generator=g)
        y = (x[:, :4].sum(dim=1, keepdim=True) ** 2 / 4 + torch.sin(x[:, 4:5])).contiguous()
        sampler = ResumableSampler(512, opts.batch_size, seed=opts.seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=25, gamma=0.9)

        def step_fn() -> float:
            idx = torch.from_numpy(sampler.next_batch())
            noise = torch.from_numpy(np.random.standard_normal((len(idx), 16)).astype(np.float32))
            weight = 1.0 + 0.05 * random.random()
            loss = weight * F.mse_loss(model(x[idx] + 0.01 * noise), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            return loss.item()

    elif workload == "lm":
        from greenhop.workload.reference.corpus import corpus_bytes

        cfg = models.LMConfig().scaled(opts.scale)
        cfg = models.LMConfig(
            cfg.vocab,
            opts.width or cfg.width,
            opts.layers or cfg.layers,
            cfg.heads,
            opts.context or cfg.context,
            cfg.dropout,
        )
        if cfg.width % cfg.heads:
            raise ConfigError(f"width {cfg.width} must be a multiple of {cfg.heads} heads")
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
    log: Callable[[str], None] | None = None,
) -> int:
    """Train ``workload`` for ``opts.steps`` steps in ``ckpt_dir``; return the exit code."""
    if opts.steps < 0:
        raise ConfigError(f"steps must be >= 0; got {opts.steps}")
    torch = require("torch", "torch")
    saved = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        return _run(torch, workload, ckpt_dir, opts, on_step, log)
    finally:  # leave the process as it was (this also runs inside tests and other programs)
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])


def _run(torch, workload, ckpt_dir, opts, on_step, log) -> int:
    _setup(torch, opts.threads, opts.seed)
    model, optimizer, scheduler, sampler, step_fn = build(workload, opts)
    model.train()
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
    )
    with session:
        try:
            for step in range(session.resume(), opts.steps):
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
