"""How the controller touches the world: trainer processes, site agents, transfers.

:class:`Executor` is the seam (the controller only calls these methods);
:class:`LocalExecutor` runs everything as local processes on loopback: one site
agent per site (``python -m greenhop.runtime.siteproc``), one trainer per job
(``python -m greenhop.workload.reference``), checkpoints moved by asking the
destination agent to pull from the source agent (the source's token bucket is
the WAN link's rate). Tests inject fakes that subclass :class:`Executor`.

Every child gets ``PR_SET_PDEATHSIG``: when the controller dies (even by
``kill -9``) trainers receive SIGTERM, which the SDK treats as a migration
request (finish the step, checkpoint, exit 75), and agents receive SIGKILL. So
a dead controller never leaves a trainer running that a restarted one would
duplicate; the restarted controller also waits for (and, past a grace period,
kills) any trainer pid still recorded in the database before it starts another.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from greenhop.core.errors import RuntimeFailure, TransferError

_PR_SET_PDEATHSIG = 1


def _deathsig(sig: int):
    def fn() -> None:
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        os.setsid()
    return fn


def proc_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (``/proc/PID/stat`` field 22), None if gone.

    Together with the pid it identifies a process even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    if fields[0] == b"Z":
        return None
    return fields[19].decode()


def alive(pid: int | None, start: str | None) -> bool:
    """True when ``pid`` is running and is the process that started at ``start``."""
    return bool(pid) and start is not None and proc_start(int(pid)) == start


@dataclass
class TrainerSpec:
    """How to run one job's trainer (the reference workloads)."""

    workload: str = "mlp"
    steps: int = 200
    every_steps: int = 25
    seed: int = 0
    step_sleep_s: float = 0.0
    extra: tuple[str, ...] = ()

    def argv(self, ckpt_dir: Path) -> list[str]:
        return [sys.executable, "-m", "greenhop.workload.reference", self.workload,
                str(ckpt_dir), str(self.steps), "--every", str(self.every_steps), "--keep", "2",
                "--seed", str(self.seed), "--step-sleep", repr(self.step_sleep_s),
                "--print-every", "1", *self.extra]


@dataclass
class TrainerStatus:
    """What the executor sees of a trainer: ``alive``, its exit code (None while alive or
    unknown), the last training step it printed (-1: none yet in this process)."""

    alive: bool
    exit_code: int | None
    step: int


class Executor:
    """The controller's seam to the world (all methods non-blocking)."""

    def start_agents(self, sites: list[str], rates_bps: list[float]) -> dict[str, tuple[int, str]]:
        """Start one agent per site; returns ``{site: (pid, url)}``."""
        raise NotImplementedError

    def ensure_agent(self, site: str) -> tuple[int, str]:
        """Restart ``site``'s agent if it died; returns ``(pid, url)``."""
        raise NotImplementedError

    def stop_agents(self) -> None:
        raise NotImplementedError

    def start_trainer(self, job: str, site: str, spec: TrainerSpec, token: int) -> tuple[int, str]:
        """Launch ``job``'s trainer at ``site``; returns ``(pid, start)``."""
        raise NotImplementedError

    def trainer_status(self, job: str, pid: int | None, start: str | None,
                       token: int | None) -> TrainerStatus:
        raise NotImplementedError

    def is_alive(self, pid: int | None, start: str | None) -> bool:
        """True when the trainer ``(pid, start)`` is still running."""
        return alive(pid, start)

    def stray_trainers(self) -> list[tuple[int, str]]:
        """Trainers of this run still alive that the database may not know of (a controller
        killed between launching one and recording it); ``(pid, start)`` each."""
        return []

    def stop_trainer(self, pid: int, start: str | None) -> None:
        """Ask the trainer to checkpoint and exit (SIGTERM: the SDK's migration request)."""
        raise NotImplementedError

    def kill_trainer(self, pid: int, start: str | None) -> None:
        raise NotImplementedError

    def start_transfer(self, job: str, src: str, dst: str, token: int) -> None:
        raise NotImplementedError

    def transfer_status(self, job: str, token: int) -> tuple[str, dict | str | None]:
        """``("none" | "running" | "done" | "failed", result or error message)``."""
        raise NotImplementedError

    def checkpoint_step(self, job: str, site: str) -> int | None:
        """Step of the newest complete checkpoint of ``job`` at ``site`` (None: none)."""
        raise NotImplementedError

    def cleanup(self, jobs: list[str], sites: list[str]) -> list[str]:
        """Remove staging leftovers (``.incoming-*``, ``.tmp-*``); returns what was removed."""
        return []


class LocalExecutor(Executor):
    """Everything as local processes under ``workdir``: ``sites/<site>/<job>/step-*`` are the
    checkpoints (each site directory is its agent's root), ``logs/`` holds trainer output."""

    def __init__(self, workdir: str | Path, *, agent_start_timeout_s: float = 30.0) -> None:
        self.workdir = Path(workdir).resolve()
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self.agents: dict[str, tuple[subprocess.Popen, str]] = {}
        self.rates: dict[str, float] = {}
        self.children: dict[int, subprocess.Popen] = {}
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="greenhop-transfer")
        self.transfers: dict[str, tuple[int, Future, float]] = {}
        self.timeout_s = agent_start_timeout_s
        self._lock = threading.Lock()

    def site_dir(self, site: str) -> Path:
        return self.workdir / "sites" / site

    def job_dir(self, job: str, site: str) -> Path:
        return self.site_dir(site) / job

    def log_path(self, job: str, token: int) -> Path:
        return self.workdir / "logs" / f"{job}.{token}.log"

    # ------------------------------------------------------------ agents
    def _spawn_agent(self, site: str) -> tuple[int, str]:
        root = self.site_dir(site)
        root.mkdir(parents=True, exist_ok=True)
        rate = self.rates[site]
        with open(self.workdir / "logs" / f"agent-{site}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "greenhop.runtime.siteproc", str(root), "--rate",
                 repr(rate), "--name", site],
                stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                preexec_fn=_deathsig(signal.SIGKILL))
        deadline = time.monotonic() + self.timeout_s
        line = b""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line or proc.poll() is not None:
                break
        url = line.decode().strip()
        if not url.startswith("http://127.0.0.1:"):
            proc.kill()
            proc.wait()
            raise RuntimeFailure(f"site agent of {site!r} did not start (got {url!r}); see "
                                 f"{self.workdir / 'logs' / f'agent-{site}.log'}")
        self.agents[site] = (proc, url)
        self.children[proc.pid] = proc
        return proc.pid, url

    def start_agents(self, sites, rates_bps):
        for s, r in zip(sites, rates_bps, strict=True):
            self.rates[s] = float(r)
        return {s: self._spawn_agent(s) for s in sites}

    def ensure_agent(self, site):
        proc, url = self.agents[site]
        if proc.poll() is None:
            return proc.pid, url
        self.children.pop(proc.pid, None)
        return self._spawn_agent(site)

    def kill_agent(self, site: str) -> int:
        """Kill ``site``'s agent with SIGKILL (chaos tests); returns its pid."""
        proc, _ = self.agents[site]
        proc.kill()
        proc.wait()
        return proc.pid

    def stop_agents(self):
        for proc, _ in self.agents.values():
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self.agents.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
        self.pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------ trainers
    def start_trainer(self, job, site, spec, token):
        d = self.job_dir(job, site)
        d.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        with open(self.log_path(job, token), "ab") as log:
            proc = subprocess.Popen(spec.argv(d), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env,
                                    preexec_fn=_deathsig(signal.SIGTERM))
        self.children[proc.pid] = proc
        start = None
        for _ in range(100):
            start = proc_start(proc.pid)
            if start is not None or proc.poll() is not None:
                break
            time.sleep(0.005)
        return proc.pid, start or "gone"

    def _last_step(self, job: str, token: int | None) -> int:
        if token is None:
            return -1
        p = self.log_path(job, token)
        try:
            with open(p, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 512))
                tail = fh.read().decode(errors="replace")
        except OSError:
            return -1
        for line in reversed(tail.splitlines()):
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "step" and parts[1].isdigit():
                return int(parts[1])
        return -1

    def trainer_status(self, job, pid, start, token):
        step = self._last_step(job, token)
        if not pid:
            return TrainerStatus(False, None, step)
        proc = self.children.get(int(pid))
        if proc is not None:
            code = proc.poll()
            if code is None:
                return TrainerStatus(True, None, step)
            self.children.pop(int(pid), None)
            return TrainerStatus(False, code, step)
        return TrainerStatus(alive(pid, start), None, step)

    def stray_trainers(self):
        key = str(self.workdir / "sites") + os.sep
        out = []
        for p in Path("/proc").iterdir():
            if not p.name.isdigit() or int(p.name) == os.getpid():
                continue
            try:
                argv = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            args = [a.decode(errors="replace") for a in argv]
            if "greenhop.workload.reference" in args and any(a.startswith(key) for a in args):
                start = proc_start(int(p.name))
                if start is not None:
                    out.append((int(p.name), start))
        return out

    def stop_trainer(self, pid, start):
        if alive(pid, start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)

    def kill_trainer(self, pid, start):
        if alive(pid, start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        proc = self.children.pop(int(pid), None)
        if proc is not None:
            proc.wait()

    # ------------------------------------------------------------ transfers
    def start_transfer(self, job, src, dst, token):
        from greenhop.runtime.transfer import fetch_via

        cur = self.transfers.get(job)
        if cur is not None and cur[0] == token and not cur[1].done():
            return  # the same command again: already running
        _, src_url = self.ensure_agent(src)
        _, dst_url = self.ensure_agent(dst)
        fut = self.pool.submit(fetch_via, dst_url, src_url, job, "latest", 600.0)
        self.transfers[job] = (token, fut, time.monotonic())

    def transfer_status(self, job, token):
        cur = self.transfers.get(job)
        if cur is None or cur[0] != token:
            return "none", None
        fut = cur[1]
        if not fut.done():
            return "running", None
        exc = fut.exception()
        if exc is not None:
            return "failed", str(exc) if isinstance(exc, TransferError | RuntimeFailure) \
                else f"{type(exc).__name__}: {exc}"
        return "done", fut.result()

    def checkpoint_step(self, job, site):
        from greenhop.workload.checkpoint import latest_complete, read_manifest

        p = latest_complete(self.job_dir(job, site), verify=False)
        if p is None:
            return None
        return int(read_manifest(p)["step"])

    def cleanup(self, jobs, sites):
        import shutil

        removed = []
        for s in sites:
            for j in jobs:
                d = self.job_dir(j, s)
                if not d.is_dir():
                    continue
                for p in d.iterdir():
                    if p.name.startswith((".incoming-", ".tmp-")):
                        shutil.rmtree(p, ignore_errors=True)
                        removed.append(str(p))
        return removed
