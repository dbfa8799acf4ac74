"""``python -m greenhop.workload.reference lm|mlp CKPT_DIR STEPS [...]``: a lean entry point
(no CLI imports) that prints ``step N loss`` lines and exits 0 or 75."""

from __future__ import annotations

import argparse
import signal
import sys

from greenhop.core.errors import GreenhopError, UserError
from greenhop.workload.reference.run import WORKLOADS, RunOptions, run_reference
from greenhop.workload.session import REQUEST_SIGNALS, migration_requests


def main(argv: list[str] | None = None) -> int:
    """Run it; SIGTERM / SIGUSR1 are migration requests from the start on."""
    with migration_requests() as requested:
        return _main(argv, requested)


def _main(argv, requested) -> int:
    p = argparse.ArgumentParser(prog="python -m greenhop.workload.reference")
    p.add_argument("workload", choices=WORKLOADS)
    p.add_argument("ckpt_dir")
    p.add_argument("steps", type=int)
    p.add_argument("--every", type=int, default=0)
    p.add_argument("--keep", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--width", type=int)
    p.add_argument("--layers", type=int)
    p.add_argument("--context", type=int)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--step-sleep", type=float, default=0.0)
    p.add_argument("--print-every", type=int, default=1)
    a = p.parse_args(argv)
    opts = RunOptions(
        steps=a.steps,
        every_steps=a.every,
        keep=a.keep,
        seed=a.seed,
        scale=a.scale,
        width=a.width,
        layers=a.layers,
        context=a.context,
        batch_size=a.batch_size,
        step_sleep_s=a.step_sleep,
    )

    def on_step(step: int, loss: float) -> None:
        if a.print_every and step % a.print_every == 0:
            print(f"step {step} loss {loss:.6f}", flush=True)

    try:
        return run_reference(a.workload, a.ckpt_dir, opts, on_step=on_step, requests=requested)
    except GreenhopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UserError) else 1
    except OSError as exc:  # an I/O error outside a checkpoint write: one line all the same
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    code = main()
    for sig in REQUEST_SIGNALS:  # the exit code is settled: a late request must not change it
        signal.signal(sig, signal.SIG_IGN)
    sys.exit(code)
