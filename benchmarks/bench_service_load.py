"""The service under load: does serving a live run slow its controller?

The real controller runs ``live-3site.toml`` on the in-memory executor (simulated trainers
and transfers, real SQLite database with WAL + synchronous=FULL), paced at
``--step-wall`` wall seconds per step, while ``greenhop serve`` (uvicorn, its own process)
serves the same database. Two modes, alternated round by round:

* **clients**: 50 concurrent clients (one more process, asyncio + httpx), each polling
  ``/api/v1/run``, ``/sites``, ``/jobs``, ``/migrations`` and ``/events?after=`` once per
  ``--poll`` seconds, as a dashboard does, and each holding one server-sent-events stream;
* **none**: the same service, idle.

Measured: the wall time of every reconcile pass of the controller (one pass over every
job: read the rows, poll the trainers, write what changed). Reported: median and p90 per
mode, and the ratio clients / none (target: at most 1.10).

    .venv/bin/python benchmarks/bench_service_load.py [--rounds 3] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LIVE = ROOT / "src" / "greenhop" / "data" / "scenarios" / "live-3site.toml"
ENDPOINTS = ("/api/v1/run", "/api/v1/sites", "/api/v1/jobs", "/api/v1/migrations")


# ---------------------------------------------------------------- the clients (child)
async def _client(url: str, poll_s: float, stop: dict, counts: dict) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        after = 0

        async def stream():
            try:
                async with c.stream("GET", "/api/v1/events/stream",
                                    timeout=httpx.Timeout(60, read=None)) as r:
                    counts["connected"] += 1
                    async for line in r.aiter_lines():
                        if line.startswith("id: "):
                            counts["sse"] += 1
                        if time.monotonic() > stop["at"]:
                            break
            except httpx.HTTPError:
                counts["errors"] += 1

        task = asyncio.create_task(stream())
        while time.monotonic() < stop["at"]:
            t0 = time.monotonic()
            try:
                for ep in ENDPOINTS:
                    (await c.get(ep)).raise_for_status()
                    counts["requests"] += 1
                page = (await c.get("/api/v1/events", params={"after": after})).json()
                counts["requests"] += 1
                if page:
                    after = page[-1]["id"]
            except httpx.HTTPError:
                counts["errors"] += 1
            await asyncio.sleep(max(0.0, poll_s - (time.monotonic() - t0)))
        task.cancel()


async def _clients(url: str, n: int, poll_s: float, duration_s: float) -> dict:
    counts = {"requests": 0, "sse": 0, "errors": 0, "connected": 0}
    stop = {"at": time.monotonic() + duration_s}

    async def until_told():
        # the parent writes a line (or closes stdin) when its run is over
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        stop["at"] = time.monotonic()

    asyncio.get_running_loop().create_task(until_told())

    async def ready():
        # tell the parent once every stream is open (or after 60 s): the run starts then
        t0 = time.monotonic()
        while counts["connected"] < n and time.monotonic() - t0 < 60:
            await asyncio.sleep(0.1)
        print("ready", flush=True)
        counts["requests_at_start"] = counts["requests"]
        counts["t_start"] = time.monotonic()

    await asyncio.gather(ready(), *(_client(url, poll_s, stop, counts) for _ in range(n)),
                         return_exceptions=True)
    counts["requests_per_s"] = round((counts["requests"] - counts.pop("requests_at_start"))
                                     / max(1e-9, time.monotonic() - counts.pop("t_start")), 1)
    return counts


def clients_main(url: str, n: int, poll_s: float, duration_s: float) -> None:
    # The clients stand for browsers on other machines; on this one they run at the
    # service's niceness (10, as `greenhop run --serve` starts it), below the controller.
    os.nice(10)
    counts = asyncio.run(_clients(url, n, poll_s, duration_s))
    print(json.dumps(counts), flush=True)


# ---------------------------------------------------------------- the controller (parent)
def one_run(work: Path, mode: str, args) -> dict:
    sys.path.insert(0, str(ROOT / "tests" / "runtime"))
    from test_controller_kit import memory_controller

    from greenhop.runtime.controller import Controller
    from greenhop.runtime.memory import InMemoryExecutor
    from greenhop.service.server import start_child, stop_child

    class Timed(Controller):
        samples: list[float]
        starts: list[float]

        def reconcile(self) -> bool:
            t0 = time.perf_counter()
            out = super().reconcile()
            self.samples.append(time.perf_counter() - t0)
            self.starts.append(t0)
            return out

    db = work / f"{mode}.db"
    ctl = memory_controller(db, InMemoryExecutor(), path=LIVE, cls=Timed)
    ctl.samples = []
    ctl.starts = []
    ctl.cfg.time_scale = ctl.ledger.dt / args.step_wall
    ctl.cfg.poll_s = args.poll_ctl
    ctl.cfg.max_wall_s = 600.0
    port = args.port
    server = start_child(db, "127.0.0.1", port, log=work / f"serve-{mode}.log")
    clients = None
    try:
        expect_s = ctl.inp.n_steps * args.step_wall
        if mode == "clients":
            clients = subprocess.Popen(
                [sys.executable, __file__, "--child", f"http://127.0.0.1:{port}",
                 str(args.clients), str(args.poll), str(expect_s + 75.0)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert clients.stdout.readline().strip() == "ready"
        ctl.prepare()
        t0 = time.monotonic()
        summary = ctl.run()
        wall = time.monotonic() - t0
    finally:
        ctl.store.close()
        counts = None
        if clients is not None:
            out, _ = clients.communicate("stop\n", timeout=120)
            counts = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
        stop_child(server)
    s = np.asarray(ctl.samples)
    gap = np.diff(np.asarray(ctl.starts))
    gap = gap[gap < 10 * args.poll_ctl + 0.1]  # within a step (not the wait between steps)
    return {"mode": mode, "status": summary["status"], "passes": int(s.size),
            "median_s": float(np.median(s)), "p90_s": float(np.percentile(s, 90)),
            "period_median_s": float(np.median(gap)),
            "period_p90_s": float(np.percentile(gap, 90)), "wall_s": wall,
            "clients": counts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--poll", type=float, default=2.0, help="client polling period [s]")
    ap.add_argument("--step-wall", type=float, default=0.5, help="wall s per step")
    ap.add_argument("--poll-ctl", type=float, default=0.01, help="controller poll [s]")
    ap.add_argument("--port", type=int, default=18931)
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        url, n, poll, dur = args.child
        clients_main(url, int(n), float(poll), float(dur))
        return
    res: dict[str, list[dict]] = {"none": [], "clients": []}
    with tempfile.TemporaryDirectory(prefix="greenhop-bench-service-") as tmp:
        for r in range(args.rounds):
            for mode in (("none", "clients") if r % 2 == 0 else ("clients", "none")):
                work = Path(tmp) / f"r{r}"
                work.mkdir(exist_ok=True)
                out = one_run(work, mode, args)
                res[mode].append(out)
                print(f"round {r} {mode:8s} passes {out['passes']:5d} median "
                      f"{out['median_s'] * 1e3:7.3f} ms  p90 {out['p90_s'] * 1e3:7.3f} ms  "
                      f"period median {out['period_median_s'] * 1e3:6.2f} ms p90 "
                      f"{out['period_p90_s'] * 1e3:6.2f} ms  wall {out['wall_s']:.1f} s  "
                      f"clients {out['clients']}", flush=True)
    print(f"\ngreenhop service load: {args.clients} clients polling every {args.poll:g} s + "
          f"one SSE stream each, {args.rounds} interleaved rounds")
    print("reconcile pass [ms]; loop period = pass + the controller's poll sleep [ms]; "
          "medians over rounds")
    print(f"{'mode':10s} {'pass median':>12s} {'pass p90':>10s} {'period median':>14s} "
          f"{'period p90':>11s} {'client req/s':>13s}")
    keys = ("median_s", "p90_s", "period_median_s", "period_p90_s", "wall_s")
    agg = {}
    for mode in ("none", "clients"):
        agg[mode] = [float(np.median([o[k] for o in res[mode]])) for k in keys]
        rps = [o["clients"]["requests_per_s"] for o in res[mode] if o["clients"]]
        print(f"{mode:10s} {agg[mode][0] * 1e3:12.3f} {agg[mode][1] * 1e3:10.3f} "
              f"{agg[mode][2] * 1e3:14.2f} {agg[mode][3] * 1e3:11.2f} "
              f"{float(np.median(rps)) if rps else 0.0:13.1f}")
    r = [c / n for c, n in zip(agg["clients"], agg["none"], strict=True)]
    print(f"ratio clients / none: pass median {r[0]:.3f}, pass p90 {r[1]:.3f}; loop period "
          f"median {r[2]:.3f}, p90 {r[3]:.3f}; run wall time {r[4]:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
