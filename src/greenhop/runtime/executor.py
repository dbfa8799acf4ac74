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
import math
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from greenhop.core.errors import CheckpointError, ConfigError, RuntimeFailure, TransferError
from greenhop.core.names import check_name

_PR_SET_PDEATHSIG = 1


def deathsig(sig: int):
    """A ``preexec_fn`` for :class:`subprocess.Popen`: the child gets ``sig`` when its parent
    dies (``PR_SET_PDEATHSIG``, even by ``kill -9``) and runs in its own session. Every child
    of a live run is started with it (agents, trainers, ``greenhop run --serve``'s service),
    so none outlives the controller."""

    def fn() -> None:
        die_with_parent(sig)
        os.setsid()
    return fn


def die_with_parent(sig: int, parent_pid: int | None = None) -> None:
    """Ask the kernel to send this process ``sig`` when its parent dies
    (``PR_SET_PDEATHSIG``, even by ``kill -9``); a no-op where it is not available. Also
    the initializer of the service's worker process, which outlived a killed service.

    ``parent_pid``: the parent this process was started by; when it is already gone (it
    died before this ran, which no signal will then tell), ``sig`` is sent at once."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)


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


class TrainerNotStarted(RuntimeFailure):
    """The job's command could not be started at all (no such program, a ``cwd`` that is
    not there): no retry fixes it, so the job fails."""


LOG_SCAN_BYTES = 1 << 20
"""Most bytes of a trainer's log read per status poll [B]: past it, only the newest are
read (a trainer printing faster than that between polls still shows its last step)."""


def _step_in(lines: list[bytes]) -> int | None:
    """The step of the last ``step N`` line in ``lines``, or None."""
    for line in reversed(lines):
        parts = line.split()
        if len(parts) >= 2 and parts[0] == b"step" and parts[1].isdigit():
            return int(parts[1])
    return None


@dataclass
class TrainerSpec:
    """How to run one job's trainer: a reference workload, or the job's own ``command``
    (with ``env`` added and run in ``cwd``) following the protocol of docs/workload.md."""

    workload: str = "mlp"
    steps: int = 200
    every_steps: int = 25
    seed: int = 0
    step_sleep_s: float = 0.0
    extra: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None

    def environment(self, job: str, site: str, ckpt_dir: Path,
                    resume_step: int | None) -> dict[str, str]:
        """The protocol's environment variables (docs/workload.md)."""
        out = {"GREENHOP_JOB": job, "GREENHOP_SITE": site,
               "GREENHOP_CHECKPOINT_DIR": str(ckpt_dir), "GREENHOP_TOTAL_STEPS": str(self.steps),
               "GREENHOP_CHECKPOINT_EVERY": str(self.every_steps), "GREENHOP_SEED": str(self.seed)}
        if resume_step is not None:
            out["GREENHOP_RESUME_STEP"] = str(int(resume_step))
        if self.command:
            out["GREENHOP_PROGRESS"] = "1"
        return out

    def argv(self, ckpt_dir: Path) -> list[str]:
        if self.command:
            return list(self.command)
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

    def start_trainer(self, job: str, site: str, spec: TrainerSpec, token: int, *,
                      resume_step: int | None = None) -> tuple[int, str]:
        """Launch ``job``'s trainer at ``site``; returns ``(pid, start)``. ``resume_step``:
        the checkpoint step it must resume from (None: the newest it finds, or a fresh
        start); a trainer that cannot load exactly that step fails instead of restarting."""
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

    def start_transfer(self, job: str, src: str, dst: str, token: int, *,
                       accept: list[str] | None = None) -> None:
        """Have ``dst``'s agent pull ``job``'s newest checkpoint from ``src``'s agent.
        ``accept``: the manifest SHA-256s the controller recorded; the destination refuses
        any other checkpoint (None: no check)."""
        raise NotImplementedError

    def transfer_status(self, job: str, token: int) -> tuple[str, dict | str | None]:
        """``("none" | "running" | "done" | "failed", result or error message)``."""
        raise NotImplementedError

    def checkpoint_step(self, job: str, site: str) -> int | None:
        """Step of the newest complete checkpoint of ``job`` at ``site`` (None: none)."""
        raise NotImplementedError

    def intact_step(self, job: str, site: str, trusted: set[str] | None = None
                    ) -> tuple[int | None, list[str]]:
        """``(step, quarantined)``: the newest checkpoint of ``job`` at ``site`` whose every
        SHA-256 checks (None: none), after moving aside the newer ones that do not (each
        returned as ``"<directory name>: <why>"``, so the controller can log them). With
        ``trusted`` (manifest SHA-256s), a checkpoint whose manifest is not among them is
        foreign and moved aside too."""
        return self.checkpoint_step(job, site), []

    def manifests(self, job: str, site: str) -> list[tuple[int, str]]:
        """``(step, manifest SHA-256)`` of the complete checkpoints of ``job`` at ``site``
        (newest first), as the site reports them."""
        return []

    def cleanup(self, jobs: list[str], sites: list[str]) -> list[str]:
        """Remove staging leftovers (``.incoming-*``, ``.tmp-*``); returns what was removed."""
        return []

    def cleanup_staging(self, jobs: list[str], sites: list[str]) -> list[str]:
        """On resume: remove what no pull can resume from (staging entries that are not
        directories, files in a staging directory that no checkpoint lists, ``.tmp-*``)."""
        return []

    def describe_log(self, job: str, token: int) -> str:
        """Where the output of ``job``'s trainer started under ``token`` is."""
        return "the trainer's log"


AGENT_ANSWER_S = 10.0
"""How long one of the run's agents may take to answer a checkpoint listing or a health
check [s] before it counts as not answering (a frozen process): the controller's loop waits
that long at most on it, where it waited 30 s at every look."""
SILENT_S = 60.0
"""After an agent did not answer (or a transfer through it failed), how long its listings
come from the site's directory instead of asking it again [s]; its next use checks its
health first."""
TRANSFER_CHECK_S = 30.0
"""While a transfer runs, how often its two agents are asked whether they answer [s]: a
frozen one (SIGSTOP) held the pull, and with it the move and the run, for up to the
transfer's 600 s timeout; one that does not answer is restarted, which ends the pull, and
the controller retries it (resuming from what was staged)."""


class LocalExecutor(Executor):
    """Everything as local processes under ``workdir``: ``sites/<site>/<job>/step-*`` are the
    checkpoints (each site directory is its agent's root), ``logs/`` holds trainer output."""

    def __init__(self, workdir: str | Path, *, agent_start_timeout_s: float = 30.0,
                 token: str | None = None, tls: bool = False, ca_file: str | None = None,
                 remote_agents: dict[str, str] | None = None) -> None:
        from greenhop.core.errors import ConfigError
        from greenhop.runtime.auth import Credentials, new_token, read_token_file, write_secret

        self.workdir = Path(workdir).resolve()
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        secrets_dir = self.workdir / "secrets"
        secrets_dir.mkdir(mode=0o700, exist_ok=True)
        own = secrets_dir / "token"
        if token is None:
            # the work directory's secret is kept: a second command on it (refused, or a
            # resume) must not change the token a live run's agents are checked against
            try:
                token = read_token_file(own, str(own))
            except ConfigError:  # none yet, or unusable: a new one
                token = new_token()
        self.token = token
        self.token_file = own
        if not own.is_file() or own.read_text(encoding="ascii", errors="replace").strip() \
                != token:
            write_secret(own, token + "\n")
        self.tls = tls
        self.certs: dict = {}
        self.creds = Credentials(self.token, ca_file)
        self.remote = dict(remote_agents or {})
        self.agents: dict[str, tuple[subprocess.Popen | None, str]] = {}
        self.rates: dict[str, float] = {}
        # (job, token) -> (offset read up to, last step found): see _last_step
        self._log_scan: dict[tuple[str, int], tuple[int, int]] = {}
        self.children: dict[int, subprocess.Popen] = {}
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="greenhop-transfer")
        # per job: (token, future, start [s, monotonic], source site, destination site)
        self.transfers: dict[str, tuple[int, Future, float, str, str]] = {}
        self.timeout_s = agent_start_timeout_s
        # per site: when its agent last did not answer, or a transfer through it failed
        self._silent_since: dict[str, float] = {}
        self._transfer_checked: dict[str, float] = {}  # job -> when its ends were last asked
        self.transfer_check_s = TRANSFER_CHECK_S
        self._lock = threading.Lock()

    def site_dir(self, site: str) -> Path:
        return self.workdir / "sites" / site

    def job_dir(self, job: str, site: str) -> Path:
        check_name("job", job)
        check_name("site", site)
        return self.site_dir(site) / job

    def log_path(self, job: str, token: int) -> Path:
        return self.workdir / "logs" / f"{job}.{token}.log"

    # ------------------------------------------------------------ agents
    def _spawn_agent(self, site: str) -> tuple[int, str]:
        root = self.site_dir(site)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ConfigError(f"{root}: is not a folder, but site {site!r} keeps its "
                              "checkpoints there; move it away (the run's work directory "
                              "holds one folder per site under sites/)") from None
        rate = self.rates[site]
        argv = [sys.executable, "-m", "greenhop.runtime.siteproc", str(root), "--rate",
                repr(rate), "--name", site, "--token-file", str(self.token_file)]
        if self.tls:
            cert = self.certs[site]
            argv += ["--tls-cert", cert.cert_file, "--tls-key", cert.key_file,
                     "--tls-ca", str(self.creds.ca_file)]
        with open(self.workdir / "logs" / f"agent-{site}.log", "ab") as log:
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                preexec_fn=deathsig(signal.SIGKILL))
        deadline = time.monotonic() + self.timeout_s
        line = b""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line or proc.poll() is not None:
                break
        url = line.decode().strip()
        if not url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
            proc.kill()
            proc.wait()
            raise RuntimeFailure(f"site agent of {site!r} did not start (got {url!r}); see "
                                 f"{self.workdir / 'logs' / f'agent-{site}.log'}")
        self.agents[site] = (proc, url)
        self.children[proc.pid] = proc
        return proc.pid, url

    def start_agents(self, sites, rates_bps):
        from greenhop.runtime.auth import Credentials, make_run_ca

        unknown = sorted(set(self.remote) - set(sites))
        if unknown:
            raise ConfigError(f"--agent {unknown[0]}=...: no such site in this scenario; sites: "
                              f"{', '.join(sites)}")
        for s, r in zip(sites, rates_bps, strict=True):
            self.rates[s] = float(r)
        if self.tls and any(s not in self.remote for s in sites):
            ca_file, self.certs = make_run_ca(self.workdir / "secrets" / "tls", list(sites))
            self.creds = Credentials(self.token, ca_file)
        out = {}
        for s in sites:
            out[s] = self._connect_remote(s) if s in self.remote else self._spawn_agent(s)
        self._register_peers()
        return out

    def _connect_remote(self, site: str) -> tuple[int, str]:
        """An agent an operator started (``greenhop agent serve``): check that it answers
        with the run's token; its pid is the one it reports (on its own machine)."""
        from greenhop.runtime.agent_client import agent_health

        url = self.remote[site]
        try:
            health = agent_health(url, 10.0, credentials=self.creds)
        except TransferError as exc:
            raise ConfigError(f"--agent {site}={url}: the agent does not answer ({exc}); start "
                              "it with `greenhop agent serve` and pass its URL") from None
        self.agents[site] = (None, url)
        return int(health.get("pid") or 0), url

    def _register_peers(self) -> None:
        """Tell every agent which agents belong to this run (the only ones it pulls from)."""
        from greenhop.runtime.agent_client import set_peers

        urls = [u for _, u in self.agents.values()]
        for site, (proc, url) in self.agents.items():
            if proc is not None and proc.poll() is not None:
                continue
            try:
                set_peers(url, urls, credentials=self.creds)
            except TransferError as exc:
                if proc is None:
                    raise ConfigError(f"--agent {site}={url}: {exc}") from None

    def ensure_agent(self, site):
        proc, url = self.agents[site]
        if proc is None:  # an operator's agent: it must answer; never restarted from here
            from greenhop.runtime.agent_client import agent_health

            health = agent_health(url, 10.0, credentials=self.creds)
            return int(health.get("pid") or 0), url
        if proc.poll() is None and (site not in self._silent_since or self._answers(site)):
            return proc.pid, url
        return self._restart_agent(site)

    def _restart_agent(self, site: str) -> tuple[int, str]:
        """Kill ``site``'s agent (ours) if it still runs and start another: alive but silent
        (frozen: SIGSTOP, a hung event loop), it would fail or hold every transfer through
        it."""
        proc, _ = self.agents[site]
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()  # SIGKILL also ends a stopped process
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()  # the pipe it printed its URL on
        self.children.pop(proc.pid, None)
        self._silent_since.pop(site, None)
        out = self._spawn_agent(site)
        self._register_peers()  # its URL changed: every agent learns the new one
        return out

    def _answers(self, site: str) -> bool:
        """Whether ``site``'s agent answers a health check within :data:`AGENT_ANSWER_S`
        (and it is then no longer taken for silent)."""
        from greenhop.runtime.agent_client import agent_health

        try:
            agent_health(self.agents[site][1], AGENT_ANSWER_S, credentials=self.creds)
        except (TransferError, ValueError):
            return False
        self._silent_since.pop(site, None)
        return True

    def kill_agent(self, site: str) -> int:
        """Kill ``site``'s agent with SIGKILL (chaos tests); returns its pid."""
        proc, _ = self.agents[site]
        assert proc is not None, "an operator's agent is not ours to kill"
        proc.kill()
        proc.wait()
        return proc.pid

    def stop_agents(self):
        spawned = [(p, u) for p, u in self.agents.values() if p is not None]
        for proc, _ in spawned:
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in spawned:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
        self.pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------ trainers
    def start_trainer(self, job, site, spec, token, *, resume_step=None):
        d = self.job_dir(job, site)
        d.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GREENHOP_")}
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        env.update(spec.env)
        env.update(spec.environment(job, site, d, resume_step))
        argv = spec.argv(d)
        try:
            with open(self.log_path(job, token), "ab") as log:
                proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, cwd=spec.cwd,
                                        preexec_fn=deathsig(signal.SIGTERM))
        except OSError as exc:
            raise TrainerNotStarted(f"job {job!r}: cannot start {argv[0]!r}: {exc.strerror}; "
                                    "check the job's command and cwd") from None
        self.children[proc.pid] = proc
        start = None
        for _ in range(100):
            start = proc_start(proc.pid)
            if start is not None or proc.poll() is not None:
                break
            time.sleep(0.005)
        return proc.pid, start or "gone"

    def _last_step(self, job: str, token: int | None) -> int:
        """The last ``step N`` line trainer ``token`` of ``job`` printed (-1: none yet).

        Reads each log on from where the last call stopped (its whole lines; at most
        :data:`LOG_SCAN_BYTES` of them per call), so a trainer that prints a lot between
        its step lines is still followed (a fixed tail of 512 bytes missed its steps)."""
        if token is None:
            return -1
        key = (job, int(token))
        pos, last = self._log_scan.get(key, (0, -1))
        try:
            with open(self.log_path(job, token), "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                if size < pos:  # written anew
                    pos, last = 0, -1
                start = max(pos, size - LOG_SCAN_BYTES)
                fh.seek(start)
                data = fh.read(size - start)
        except OSError:
            return -1
        *whole, partial = data.split(b"\n")
        found = _step_in(whole)
        if found is not None:
            last = found
        self._log_scan[key] = (start + len(data) - len(partial), last)
        # a step line still being written (no newline yet) counts, but is read again
        tail = _step_in([partial])
        return last if tail is None else tail

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
            ours = "greenhop.workload.reference" in args and any(a.startswith(key) for a in args)
            if not ours:  # a job's own command: recognised by the directory it was handed
                try:
                    environ = (p / "environ").read_bytes().split(b"\0")
                except OSError:
                    continue
                ours = any(e.startswith(b"GREENHOP_CHECKPOINT_DIR=" + key.encode())
                           for e in environ)
            if ours:
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
    def start_transfer(self, job, src, dst, token, *, accept=None):
        from greenhop.runtime.transfer import fetch_via

        cur = self.transfers.get(job)
        if cur is not None and cur[0] == token and not cur[1].done():
            return  # the same command again: already running
        _, src_url = self.ensure_agent(src)
        _, dst_url = self.ensure_agent(dst)
        fut = self.pool.submit(fetch_via, dst_url, src_url, job, "latest", 600.0,
                               accept=accept, credentials=self.creds)
        self.transfers[job] = (token, fut, time.monotonic(), src, dst)

    def transfer_status(self, job, token):
        cur = self.transfers.get(job)
        if cur is None or cur[0] != token:
            return "none", None
        fut = cur[1]
        if not fut.done():
            self._check_transfer_ends(job, cur[3:5])
            return "running", None
        self._transfer_checked.pop(job, None)
        exc = fut.exception()
        if exc is not None:
            for site in cur[3:5]:  # either end may be the one that does not answer
                self._silent_since[site] = time.monotonic()
            return "failed", str(exc) if isinstance(exc, TransferError | RuntimeFailure) \
                else f"{type(exc).__name__}: {exc}"
        return "done", fut.result()

    def _check_transfer_ends(self, job: str, sites) -> None:
        """Every :data:`TRANSFER_CHECK_S` of a running transfer, restart either of its agents
        (ours) that does not answer a health check within :data:`AGENT_ANSWER_S`: the pull
        through it then fails at once and is retried, where a frozen agent held it (and
        the run) for as long as it stayed frozen."""
        now = time.monotonic()
        started = self.transfers[job][2]
        if now - self._transfer_checked.get(job, started) < self.transfer_check_s:
            return
        self._transfer_checked[job] = now
        for site in sites:
            proc = self.agents[site][0]
            if proc is not None and proc.poll() is None and not self._answers(site):
                self._restart_agent(site)

    def checkpoint_step(self, job, site):
        from greenhop.workload.checkpoint import latest_complete, read_manifest

        p = latest_complete(self.job_dir(job, site), verify=False)
        if p is None:
            return None
        return int(read_manifest(p)["step"])

    def intact_step(self, job, site, trusted=None):
        import hashlib

        from greenhop.workload.checkpoint import (
            MANIFEST,
            list_checkpoints,
            recorded_job,
            set_aside,
            verify_checkpoint,
        )

        moved = []
        for step, path in list_checkpoints(self.job_dir(job, site)):
            kind = "corrupt"
            try:
                if trusted is not None:
                    digest = hashlib.sha256((path / MANIFEST).read_bytes()).hexdigest()
                    if digest not in trusted:
                        kind = "foreign"
                        raise CheckpointError(f"foreign checkpoint: manifest SHA-256 "
                                              f"{digest[:16]}... was never recorded")
                verify_checkpoint(path)
                other = recorded_job(path)
                if other is not None and other != job:
                    kind = "foreign"
                    raise CheckpointError(f"foreign checkpoint: written by job {other!r}")
                return step, moved
            except (CheckpointError, OSError) as exc:
                # keep the evidence out of the way: never loaded, never served again
                with contextlib.suppress(OSError):
                    set_aside(path, kind)
                    moved.append(f"{path.name}: {exc}")
        return None, moved

    def manifests(self, job, site):
        import hashlib

        from greenhop.runtime.agent_client import list_remote
        from greenhop.workload.checkpoint import MANIFEST, list_checkpoints

        check_name("job", job)
        silent = time.monotonic() - self._silent_since.get(site, -math.inf) < SILENT_S
        if site in self.agents and not silent:  # as the site's agent reports them
            try:
                return [(int(e["step"]), str(e["manifest_sha256"]))
                        for e in list_remote(self.agents[site][1], job, AGENT_ANSWER_S,
                                             credentials=self.creds)]
            except TransferError:
                self._silent_since[site] = time.monotonic()
            except (KeyError, TypeError, ValueError):
                pass
        out = []
        for step, path in list_checkpoints(self.job_dir(job, site)):
            with contextlib.suppress(OSError):
                out.append((step, hashlib.sha256((path / MANIFEST).read_bytes()).hexdigest()))
        return out

    def describe_log(self, job, token):
        return str(self.log_path(job, token))

    def _remove_entries(self, jobs, sites, doomed) -> list[str]:
        """Remove every entry ``p`` of the jobs' directories at the sites for which
        ``doomed(p)`` holds (folders whole, links and files alone); returns their paths."""
        import shutil

        removed = []
        for s in sites:
            for j in jobs:
                d = self.job_dir(j, s)
                if not d.is_dir():
                    continue
                for p in d.iterdir():
                    if doomed(p):
                        if p.is_dir() and not p.is_symlink():
                            shutil.rmtree(p, ignore_errors=True)
                        else:
                            p.unlink(missing_ok=True)
                        removed.append(str(p))
        return removed

    def cleanup_staging(self, jobs, sites):
        return self._remove_entries(jobs, sites, lambda p: p.name.startswith(".tmp-") or (
            p.name.startswith(".incoming-") and (p.is_symlink() or not p.is_dir())))

    def cleanup(self, jobs, sites):
        return self._remove_entries(
            jobs, sites, lambda p: p.name.startswith((".incoming-", ".tmp-")))
