"""A tiny character-level language model, made migratable with the greenhop SDK.

This is the path an ML engineer takes from a training script to a live run: the
script uses only the documented API of ``greenhop.workload`` (docs/workload.md),
and ``greenhop run`` starts it as a scenario job's own ``command``:

    [[jobs]]
    name = "tiny-lm"
    command = ["python", "examples/train_tiny_lm.py", "--lr", "3e-3"]
    steps = 200
    ...

Run alone it trains in ``./tiny-lm-ckpt`` (or ``--ckpt DIR``); under ``greenhop run``
the controller sets ``GREENHOP_CHECKPOINT_DIR``, ``GREENHOP_TOTAL_STEPS``,
``GREENHOP_CHECKPOINT_EVERY``, ``GREENHOP_SEED`` and ``GREENHOP_RESUME_STEP``, and
stops it with SIGTERM when the job should move: the session checkpoints after the
step in flight and the script exits with 75; started again at another site it
resumes bit-identically.
"""

from __future__ import annotations

import argparse
import os
import random
import sys

import numpy as np
import torch

from greenhop.core.errors import CheckpointError, ConfigError
from greenhop.workload import (
    EXIT_FAILED,
    EXIT_FINISHED,
    EXIT_USAGE,
    MigrationExit,
    ResumableSampler,
    TrainingSession,
)

TEXT = (
    "Surplus sunshine in the afternoon, surplus wind at night: the job follows the green "
    "power from site to site, checkpointing before each move and resuming exactly where it "
    "stopped. "
) * 8


class TinyLM(torch.nn.Module):
    """Embedding, one GRU layer, a linear head: small, deterministic on CPU."""

    def __init__(self, vocab: int = 256, width: int = 64) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, width)
        self.rnn = torch.nn.GRU(width, width, batch_first=True)
        self.head = torch.nn.Linear(width, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.embed(x))
        return self.head(h)


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", default=env.get("GREENHOP_CHECKPOINT_DIR", "tiny-lm-ckpt"))
    p.add_argument("--steps", type=int, default=int(env.get("GREENHOP_TOTAL_STEPS", "200")))
    p.add_argument("--every", type=int, default=int(env.get("GREENHOP_CHECKPOINT_EVERY", "25")))
    p.add_argument("--seed", type=int, default=int(env.get("GREENHOP_SEED", "0")))
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--context", type=int, default=32)
    p.add_argument("--batch", type=int, default=8)
    a = p.parse_args(argv)

    torch.set_num_threads(1)                       # exactness: fixed threads, fixed seeds,
    torch.use_deterministic_algorithms(True)       # deterministic kernels
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)

    data = torch.tensor(list(TEXT.encode()), dtype=torch.long)
    n_windows = len(data) - a.context - 1
    model = TinyLM()
    optimizer = torch.optim.AdamW(model.parameters(), lr=a.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, a.steps))
    sampler = ResumableSampler(n_windows, a.batch, seed=a.seed)
    offsets = torch.arange(a.context)

    # model_config: a checkpoint of another model or shape is refused, not loaded into this
    # one; total_steps: so is one past this run's end (a shorter --steps would train
    # nothing and mark the old state finished; its cosine schedule is of --steps)
    session = TrainingSession(a.ckpt, model=model, optimizer=optimizer, scheduler=scheduler,
                              loader=sampler, every_steps=a.every, keep=2,
                              model_config={"model": "tiny-lm", "width": 64,
                                            "context": a.context, "steps": a.steps},
                              total_steps=a.steps)
    with session:
        try:
            for step in range(session.resume(), a.steps):
                starts = torch.from_numpy(sampler.next_batch())
                idx = starts[:, None] + offsets[None, :]
                logits = model(data[idx])
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256),
                                                         data[idx + 1].reshape(-1))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                session.step_done(step + 1)        # checkpoints; exits 75 when asked to move
                if (step + 1) % a.every == 0 or step + 1 == a.steps:
                    print(f"step {step + 1}/{a.steps} loss {loss.item():.4f}", flush=True)
            session.finish(a.steps)                # final state = newest checkpoint
        except MigrationExit as exc:
            return int(exc.code)
        except ConfigError as exc:  # a checkpoint of another run or model: one line
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except CheckpointError as exc:  # e.g. the step asked for is not intact
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
    return EXIT_FINISHED


if __name__ == "__main__":
    sys.exit(main())
