"""Checkpoint transfer between two site agents on loopback: achieved vs configured rate,
and what hashing costs.

For each link rate (100 Mbit/s, 1 Gbit/s, unlimited) a checkpoint sized to take
a few seconds is pulled from a source agent (its own process, ``greenhop agent
serve --rate ...``, as at a real site) into a destination directory with
``greenhop.runtime.transfer.pull_checkpoint`` (framed 4 MiB chunks, each checked
by the receiver's running SHA-256 of the file against the sender's, the whole file
against the manifest, O_DIRECT writes, fsync, atomic commit).
Reported: achieved rate = 8 x bytes / wall time of the whole pull, over the
configured rate (target >= 95%). The load average is printed with each run:
on a shared machine the CPU left to the two processes bounds the rate.

Cost of hashing, unlimited rate, interleaved in the same run: the same files
fetched from the same agent as plain HTTP responses (no frames, no hashing) and
written, written back and fsynced the same way. cost = 1 - greenhop / plain in
rate (one uncounted round of both first).

Every round runs with TLS off and on (``--tls off,on``): the agent is a Starlette
application on uvicorn with the run's token; with TLS it serves HTTPS from a
certificate of a CA made for the round, and the client trusts that CA only.
Target: >= 95% of the 1 Gbit/s link both ways.

    python benchmarks/bench_transfer.py --repeats 3 [--tls off,on]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from agentproc import AgentProcess
from greenhop.core.units import format_rate, format_size, parse_size
from greenhop.runtime.transfer import pull_checkpoint
from greenhop.workload import save_checkpoint, verify_checkpoint

RATES = [("100 Mbit/s", 100e6, "50MB"), ("1 Gbit/s", 1e9, "500MB"), ("unlimited", math.inf, "1GB")]


def make_checkpoint(root: Path, job: str, size: float) -> Path:
    n = int(size / 4 / 3)  # model + two optimizer moments, float32
    g = torch.Generator().manual_seed(1)
    state = {
        "model": {"w": torch.randn(n, generator=g)},
        "optimizer": {
            "state": {
                0: {
                    "exp_avg": torch.randn(n, generator=g),
                    "exp_avg_sq": torch.rand(n, generator=g),
                }
            },
            "param_groups": [{"lr": 1e-3, "params": [0]}],
        },
    }
    return save_checkpoint(root / job, 1, state)


def plain_fetch(url: str, creds, job: str, name: str, files: list[str], dest: Path) -> None:
    """The yardstick: raw HTTP bodies written to disk with the same background write-back
    and final fsync as greenhop's receiver, but no frames and no hashing."""
    import httpx

    dest.mkdir(parents=True)
    flusher = ThreadPoolExecutor(1)
    with httpx.Client(base_url=url, headers=creds.headers(), timeout=60,
                      verify=creds.verify()) as client:
        for f in files:
            with client.stream("GET", f"/v1/jobs/{job}/checkpoints/{name}/{f}") as resp, \
                    open(dest / f, "wb") as out:
                unflushed, flushing = 0, None
                for block in resp.iter_raw():
                    out.write(block)
                    unflushed += len(block)
                    if unflushed >= 64 << 20 and (flushing is None or flushing.done()):
                        flushing = flusher.submit(os.fdatasync, out.fileno())
                        unflushed = 0
                if flushing is not None:
                    flushing.result()
                out.flush()
                os.fsync(out.fileno())
    flusher.shutdown()


def _load() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine bounds the rates)."""
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dir", default=None, help="where the two site directories go")
    p.add_argument("--rates", default="100M,1G,unlimited", help="subset of 100M,1G,unlimited")
    p.add_argument("--tls", default="off,on", help="off, on or off,on")
    a = p.parse_args()
    modes = [m == "on" for m in a.tls.split(",")]
    base = Path(tempfile.mkdtemp(prefix="greenhop-bench-transfer-", dir=a.dir))
    buf = os.urandom(1 << 28)
    t0 = time.perf_counter()
    hashlib.sha256(buf).digest()
    sha_Bps = len(buf) / (time.perf_counter() - t0)
    print(f"SHA-256 on one core here: {sha_Bps / 1e9:.2f} GB/s; {os.cpu_count()} CPUs; {base}; "
          f"load average {_load()}")
    results: dict[str, list[float]] = {}
    try:
        chosen = {"100M": RATES[0], "1G": RATES[1], "unlimited": RATES[2]}
        todo = [chosen[k] for k in a.rates.split(",")]
        for label, rate, size in todo:
            job = f"job-{label.split()[0]}"
            path = make_checkpoint(base / "src", job, parse_size(size))
            total = sum(r["size_bytes"] for r in verify_checkpoint(path)["files"].values())
            files = sorted(verify_checkpoint(path)["files"])
            print(f"\n{label}: checkpoint {format_size(total)} in {len(files)} files")
            if math.isinf(rate):  # one uncounted round: the first large allocations fault pages in
                agent = AgentProcess(base / "src", rate, idle_timeout="120s")
                with agent as url:
                    pull_checkpoint(url, job, base / "warmup", credentials=agent.credentials)
                    plain_fetch(url, agent.credentials, job, path.name, files, base / "wp")
                shutil.rmtree(base / "warmup")
                shutil.rmtree(base / "wp")
            for r in range(a.repeats):
                for tls in modes:  # interleaved: TLS off and on see the same machine state
                    key = f"{label}, TLS {'on' if tls else 'off'}"
                    agent = AgentProcess(base / "src", rate, idle_timeout="120s", tls=tls)
                    with agent as url:
                        dest = base / "dst" / f"{job}-{r}-{int(tls)}"
                        t = time.perf_counter()
                        res = pull_checkpoint(url, job, dest, credentials=agent.credentials)
                        elapsed = time.perf_counter() - t
                        achieved = 8 * total / elapsed
                        results.setdefault(key, []).append(achieved)
                        line = f"  run {r}, TLS {'on ' if tls else 'off'}: " \
                            f"{format_rate(achieved)} in {elapsed:.2f} s"
                        if not math.isinf(rate):
                            line += f" = {achieved / rate:.1%} of the link"
                        line += f" (load {os.getloadavg()[0]:.1f})"
                        if math.isinf(rate):
                            t = time.perf_counter()
                            plain_fetch(url, agent.credentials, job, path.name, files,
                                        base / "plain" / str(r))
                            plain = 8 * total / (time.perf_counter() - t)
                            results.setdefault(f"plain, TLS {'on' if tls else 'off'}",
                                               []).append(plain)
                            line += f"; plain HTTP, no hashing: {format_rate(plain)}"
                            shutil.rmtree(base / "plain" / str(r))
                        assert res.received_bytes == total
                        print(line, flush=True)
                    shutil.rmtree(dest)
            shutil.rmtree(path)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"\nload average at the end: {_load()}")
    print("\n| link | median achieved | achieved / link (median, best) |\n|---|---|---|")
    for label, rate, _ in todo:
        for tls in modes:
            v = results[f"{label}, TLS {'on' if tls else 'off'}"]
            ratio = ("-" if math.isinf(rate) else
                     f"{statistics.median(v) / rate:.1%}, {max(v) / rate:.1%}")
            print(f"| {label}, TLS {'on' if tls else 'off'} | {format_rate(statistics.median(v))}"
                  f" | {ratio} |")
    for tls in modes:
        on = "on" if tls else "off"
        if f"plain, TLS {on}" not in results:
            continue
        g, pl = results[f"unlimited, TLS {on}"], results[f"plain, TLS {on}"]
        costs = [1 - x / y for x, y in zip(g, pl, strict=True)]
        print(f"| unlimited, plain HTTP without hashing, TLS {on} | "
              f"{format_rate(statistics.median(pl))} | - |")
        print(
            f"\ncost of hashing at unlimited rate, TLS {on} (1 - greenhop / plain): "
            f"median {statistics.median(costs):.0%} (runs "
            f"{', '.join(f'{c:.0%}' for c in costs)}); SHA-256 here {sha_Bps / 1e9:.2f} GB/s "
            "per core; each byte is hashed once at each end (a running SHA-256 of the file)"
        )


if __name__ == "__main__":
    main()
