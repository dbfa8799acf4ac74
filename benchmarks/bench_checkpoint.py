"""Checkpoint save and load throughput vs raw ``dd`` on the same disk, in the same run.

State: a model of float32 tensors plus Adam-style optimizer state (exp_avg,
exp_avg_sq, step), as greenhop.workload saves it: safetensors + JSON, every
file fsynced, SHA-256 and BLAKE3 of every file computed while writing, a
manifest last. Yardsticks, interleaved with greenhop in each repeat:

* ``dd if=/dev/zero of=F bs=8M count=N conv=fsync`` (raw write + fsync);
* ``dd if=F of=/dev/null bs=8M`` (raw read), page cache of F dropped first;
* ``safetensors.torch.save_file`` + fsync (the library alone, no hashing);
* greenhop's load with every file read through the page cache (the path before
  ``O_DIRECT``), to show what the direct reads change.

One uncounted warm-up round comes first (the first round on a fresh state is
slow for every contender alike).

greenhop's load verifies every file's BLAKE3 while reading (files of 4 MiB or more with
``O_DIRECT``) and builds the tensors.
Page caches of the files read are dropped with ``posix_fadvise(DONTNEED)``
before each read, so reads come from the disk.

    python benchmarks/bench_checkpoint.py --size 1.2GB --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from greenhop.core.units import format_size, parse_size
from greenhop.workload import load_checkpoint, save_checkpoint
from greenhop.workload import verified_read as vr


def make_state(total_bytes: float) -> dict:
    """Model + Adam state of about ``total_bytes`` [B] (3 float32 copies of the weights)."""
    per_tensor = 4 * 1024 * 1024  # elements (16 MiB)
    n_params = int(total_bytes / 12)
    n_tensors = max(1, n_params // per_tensor)
    g = torch.Generator().manual_seed(0)
    model = {f"layers.{i}.weight": torch.randn(per_tensor, generator=g) for i in range(n_tensors)}
    state = {
        i: {
            "step": torch.tensor(10.0),
            "exp_avg": torch.randn(per_tensor, generator=g),
            "exp_avg_sq": torch.rand(per_tensor, generator=g),
        }
        for i in range(n_tensors)
    }
    opt = {
        "state": state,
        "param_groups": [
            {
                "lr": 1e-3,
                "betas": (0.9, 0.999),
                "eps": 1e-8,
                "weight_decay": 0.0,
                "params": list(range(n_tensors)),
            }
        ],
    }
    return {"model": model, "optimizer": opt}


def drop_cache(path: Path) -> None:
    for f in [path] if path.is_file() else sorted(path.iterdir()):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1.2GB", help="state size (default 1.2GB)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1, help="uncounted rounds first (default 1)")
    p.add_argument(
        "--dir", default=None, help="directory on the disk to test (default: a temp dir)"
    )
    a = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="greenhop-bench-", dir=a.dir))
    state = make_state(parse_size(a.size))
    flat = {**state["model"]}
    for i, s in state["optimizer"]["state"].items():
        flat.update({f"opt.{i}.{k}": v for k, v in s.items()})
    size = sum(t.numel() * t.element_size() for t in flat.values())
    blocks = -(-size // (8 << 20))
    print(
        f"state {format_size(size)} in {len(flat)} tensors; disk {base}; "
        f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs; "
        f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    rows: dict[str, list[float]] = {
        k: []
        for k in (
            "dd write+fsync",
            "greenhop save",
            "safetensors save+fsync",
            "dd read",
            "greenhop load+verify",
            "greenhop load+verify, page-cache reads",
        )
    }
    try:
        for r in range(a.warmup + a.repeats):
            if r == a.warmup:  # the warm-up rounds are not counted
                rows = {k: [] for k in rows}
            dd = base / "dd.bin"
            t = timed(
                lambda dd=dd: subprocess.run(
                    ["dd", "if=/dev/zero", f"of={dd}", "bs=8M", f"count={blocks}", "conv=fsync"],
                    check=True,
                    capture_output=True,
                )
            )
            rows["dd write+fsync"].append(blocks * (8 << 20) / t)
            ck_bytes = [0]

            def save(r=r, ck_bytes=ck_bytes) -> None:
                path = save_checkpoint(base / "job", r, state)
                ck_bytes[0] = sum(f.stat().st_size for f in path.iterdir())

            t = timed(save)
            rows["greenhop save"].append(ck_bytes[0] / t)

            def st_save() -> None:
                save_file(flat, str(base / "plain.safetensors"))
                fd = os.open(base / "plain.safetensors", os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)

            t = timed(st_save)
            rows["safetensors save+fsync"].append((base / "plain.safetensors").stat().st_size / t)
            (base / "plain.safetensors").unlink()

            drop_cache(dd)
            t = timed(
                lambda dd=dd: subprocess.run(
                    ["dd", f"if={dd}", "of=/dev/null", "bs=8M"], check=True, capture_output=True
                )
            )
            rows["dd read"].append(dd.stat().st_size / t)
            path = base / "job" / f"step-{r:09d}"
            drop_cache(path)
            t = timed(lambda path=path: load_checkpoint(path))
            rows["greenhop load+verify"].append(ck_bytes[0] / t)
            drop_cache(path)
            direct_min, vr._DIRECT_MIN_BYTES = vr._DIRECT_MIN_BYTES, 1 << 62
            try:
                t = timed(lambda path=path: load_checkpoint(path))
            finally:
                vr._DIRECT_MIN_BYTES = direct_min
            rows["greenhop load+verify, page-cache reads"].append(ck_bytes[0] / t)
            shutil.rmtree(path)
            dd.unlink()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    med = {k: statistics.median(v) for k, v in rows.items()}
    print("\n| measure | median | best | runs (GB/s) |\n|---|---|---|---|")
    for k, v in rows.items():
        print(
            f"| {k} | {med[k] / 1e9:.2f} GB/s | {max(v) / 1e9:.2f} GB/s | "
            f"{', '.join(f'{x / 1e9:.2f}' for x in v)} |"
        )
    save_ratio = [g / d for g, d in zip(rows["greenhop save"], rows["dd write+fsync"], strict=True)]
    load_ratio = [g / d for g, d in zip(rows["greenhop load+verify"], rows["dd read"], strict=True)]
    print(
        f"\nsave / dd write+fsync: median {statistics.median(save_ratio):.0%} "
        f"(runs {', '.join(f'{x:.0%}' for x in save_ratio)}); target >= 70%"
    )
    print(
        f"load / dd read:        median {statistics.median(load_ratio):.0%} "
        f"(runs {', '.join(f'{x:.0%}' for x in load_ratio)}); target >= 70%"
    )
    cached = [g / d for g, d in zip(rows["greenhop load+verify, page-cache reads"],
                                    rows["dd read"], strict=True)]
    print(
        f"load with page-cache reads / dd read: median {statistics.median(cached):.0%} "
        f"(runs {', '.join(f'{x:.0%}' for x in cached)})"
    )


if __name__ == "__main__":
    main()
