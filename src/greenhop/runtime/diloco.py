"""Drive a live DiLoCo run across sites and move single workers between them.

:func:`run_diloco` starts one authenticated site agent per site (loopback, the
run's bearer token), hosts the rendezvous store (torch.distributed's ``TCPStore``
on 127.0.0.1) and starts the N workers of :mod:`greenhop.workload.diloco` as
separate processes, each in its site's directory (``<root>/<site>/<job>-w<rank>``).

After every outer step ``t`` each worker announces itself (``arrived/<t>``) and
waits for the driver's decision ``ctl/<t>``: ``{"stop": [ranks]}``. When the
schedule moves worker ``k`` after step ``t``:

1. the driver names ``k`` in ``ctl/t``; worker ``k`` checkpoints its own state at
   that boundary (the SDK's checkpoint with its SHA-256 manifest) and exits 75;
   the other workers go on with their next ``H`` local steps and then wait in the
   rendezvous of step ``t+1``;
2. the destination site's agent pulls exactly that checkpoint from the source
   site's agent (verified chunk by chunk and against the manifest; only the
   manifest the driver read at the source is accepted);
3. the driver starts worker ``k`` at the destination with
   ``GREENHOP_RESUME_STEP = t*H``; it verifies every hash while loading, then
   joins the sync of step ``t+1``.

Given the same seed and move schedule two runs are bit-identical, and because a
worker resumes exactly, a run with moves ends in the same state as one without.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenhop.core.errors import CheckpointError, ConfigError, RuntimeFailure, require
from greenhop.core.names import check_name
from greenhop.runtime.agent import SiteAgent
from greenhop.runtime.agent_client import set_peers
from greenhop.runtime.auth import Credentials, new_token
from greenhop.runtime.transfer import fetch_via
from greenhop.workload import checkpoint as ck
from greenhop.workload.diloco import (
    ENV_CONFIG,
    ENV_RANK,
    ENV_STORE,
    WORKER_BOOT,
    DilocoConfig,
)
from greenhop.workload.session import (
    ENV_CHECKPOINT_DIR,
    ENV_RESUME_STEP,
    EXIT_FINISHED,
    EXIT_MIGRATED,
)

_POLL_S = 0.01


def _is_index(text: str) -> bool:
    """True for a non-negative decimal integer in ASCII digits (``str.isdigit`` also
    accepts digits like ``²`` that ``int`` refuses)."""
    return text.isascii() and text.isdigit()


class DilocoInterrupted(KeyboardInterrupt):
    """The driver was interrupted (SIGINT, i.e. Ctrl-C, or SIGTERM): its workers were
    stopped; ``code`` is the exit status a shell expects (128 + the signal)."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum
        self.code = 128 + signum


@dataclass(frozen=True)
class WorkerMove:
    """Move worker ``worker`` to ``site`` right after outer step ``outer_step``."""

    outer_step: int
    worker: int
    site: str

    @classmethod
    def parse(cls, text: str) -> WorkerMove:
        """``T:RANK:SITE`` (after outer step T, worker RANK goes to SITE)."""
        parts = text.split(":")
        if len(parts) != 3 or not all(_is_index(p) for p in parts[:2]):
            raise ConfigError(f"--move {text!r}: expected OUTER_STEP:WORKER:SITE, e.g. 4:1:b")
        return cls(int(parts[0]), int(parts[1]), parts[2])


@dataclass
class MoveRecord:
    """What one worker move cost: checkpoint bytes [B] and wall times [s]."""

    outer_step: int
    worker: int
    source: str
    destination: str
    step: int
    checkpoint_bytes: int
    stop_s: float
    transfer_s: float


@dataclass
class DilocoResult:
    """A finished run, as counted from the workers' reports: where each worker ended
    (``placement``; ``start_placement``: where it began), its final checkpoint, the moves
    made, the workers restarted in place after stopping on their own (rank, step), the
    mean inner loss of every outer step (worker 0's), the outer steps completed, the
    pseudo-gradient bytes of one worker's exchange and of the whole run (every worker's
    flat float32 pseudo-gradient once per outer step) [B]."""

    placement: list[str]
    start_placement: list[str] = field(default_factory=list)
    final_checkpoints: list[Path] = field(default_factory=list)
    moves: list[MoveRecord] = field(default_factory=list)
    outer_losses: dict[int, float] = field(default_factory=dict)
    restarts: list[tuple[int, int]] = field(default_factory=list)
    outer_steps: int = 0
    sync_bytes_per_worker: int = 0
    sync_bytes: int = 0
    wall_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "start_placement": self.start_placement,
            "placement": self.placement,
            "final_checkpoints": [str(p) for p in self.final_checkpoints],
            "moves": [vars(m) for m in self.moves],
            "outer_steps": self.outer_steps,
            "outer_losses": {str(k): v for k, v in sorted(self.outer_losses.items())},
            "sync_bytes_per_worker": self.sync_bytes_per_worker,
            "sync_bytes": self.sync_bytes,
            "worker_moves": len(self.moves),
            "restarts": [{"worker": r, "step": s} for r, s in self.restarts],
            "wall_s": self.wall_s,
        }


PLAN_ARGUMENTS = {"sites": "sites", "placement": "placement", "moves": "moves"}
"""How :func:`check_plan` names its inputs: the Python arguments; the command line passes
its options instead."""


def check_plan(cfg: DilocoConfig, sites: list[str], placement: list[str],
               moves: list[WorkerMove], names: dict[str, str] = PLAN_ARGUMENTS) -> None:
    """Refuse a plan that cannot run, naming what is wrong and the input that says it
    (``names``: ``sites``, ``placement`` and ``moves`` -> how the caller calls them)."""
    n_sites, n_place, n_move = names["sites"], names["placement"], names["moves"]
    if not sites:
        raise ConfigError(f"{n_sites}: a DiLoCo run needs at least one site")
    for s in sites:
        check_name("site", s, n_sites)
    if len(set(sites)) != len(sites):
        twice = next(s for i, s in enumerate(sites) if s in sites[:i])
        raise ConfigError(f"{n_sites}: site {twice!r} is named twice ({', '.join(sites)}); "
                          "give each site once")
    if len(placement) != cfg.workers:
        raise ConfigError(f"{n_place}: names {len(placement)} sites for {cfg.workers} "
                          "workers; give one site per worker")
    where = list(placement)
    for s in placement:
        if s not in sites:
            raise ConfigError(f"{n_place}: names site {s!r}, not one of the sites "
                              f"({', '.join(sites)})")
    seen = set()
    for m in sorted(moves, key=lambda m: m.outer_step):
        what = f"{n_move} {m.outer_step}:{m.worker}:{m.site}"
        if not 1 <= m.outer_step < cfg.outer_steps:
            raise ConfigError(f"{what}: the outer step must be in 1..{cfg.outer_steps - 1}")
        if not 0 <= m.worker < cfg.workers:
            raise ConfigError(f"{what}: workers are 0..{cfg.workers - 1}")
        if m.site not in sites:
            raise ConfigError(f"{what}: {m.site!r} is not one of the sites "
                              f"({', '.join(sites)})")
        if m.site == where[m.worker]:
            raise ConfigError(f"{what}: worker {m.worker} is already at {m.site!r} then")
        if (m.outer_step, m.worker) in seen:
            raise ConfigError(f"{what}: worker {m.worker} moves twice after outer step "
                              f"{m.outer_step}")
        seen.add((m.outer_step, m.worker))
        where[m.worker] = m.site


def check_root(root: str | Path, job: str = "diloco") -> None:
    """Refuse a ``root`` that already holds a DiLoCo run's files (worker checkpoint
    directories ``<site>/<job>-w<rank>`` or worker logs ``logs/w<rank>.log``): its workers
    would resume the old checkpoints while the driver starts at outer step 1, and nothing
    resumes a whole run. Nothing there is changed."""
    root = Path(root)
    if not root.is_dir():
        return
    found = [d for d in root.glob(f"*/{job}-w*")
             if d.is_dir() and _is_index(d.name[len(job) + 2:])]
    found += [f for f in root.glob("logs/w*.log") if _is_index(f.name[1:-4])]
    if found:
        shown = ", ".join(str(f) for f in sorted(found)[:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        raise ConfigError(f"{root} already holds a DiLoCo run ({shown}{more}); pass a new "
                          f"ROOT or remove that one (a finished or failed run is not resumed)")


def _ended(code: int) -> str:
    """How a process ended: ``exited 1`` or ``was killed by SIGKILL``."""
    if code >= 0:
        return f"exited {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


def _is_progress(line: str) -> bool:
    """Whether ``line`` is a worker's ``outer T loss L sync_bytes B`` report."""
    parts = line.split()
    return len(parts) == 6 and parts[0] == "outer" and parts[2] == "loss"


class _Worker:
    """One worker process and the lines it printed."""

    def __init__(self, rank: int, site: str, argv: list[str], env: dict[str, str],
                 log_path: Path, on_line: Callable[[int, str], None]) -> None:
        self.rank, self.site = rank, site
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                     stderr=self._log, stdin=subprocess.DEVNULL)
        self._reader = threading.Thread(target=self._read, args=(on_line,), daemon=True)
        self._reader.start()

    def _read(self, on_line: Callable[[int, str], None]) -> None:
        for raw in self.proc.stdout:
            # the worker's log keeps its progress too: a run cut short still shows how
            # far each worker got (the log also takes its stderr; appends do not interleave
            # within a line)
            self._log.write(raw if raw.endswith(b"\n") else raw + b"\n")
            self._log.flush()
            on_line(self.rank, raw.decode("utf-8", "replace").strip())

    def wait(self, timeout_s: float) -> int:
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeFailure(f"DiLoCo worker {self.rank} at {self.site} did not exit within "
                                 f"{timeout_s:g} s; killed") from None
        self._close()
        return code

    def _close(self) -> None:
        self._reader.join(5)
        self.proc.stdout.close()
        self._log.close()

    def stderr_tail(self) -> str:
        """The last line the worker wrote to stderr (its log less the progress lines)."""
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        lines = [line for line in lines if not _is_progress(line)]
        return lines[-1] if lines else ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close()

    def failure(self, code: int, when: str) -> RuntimeFailure:
        """The error for this worker having ended with ``code`` ``when`` (e.g. "during
        outer step 3"): its last stderr line when it exited on its own, else its log."""
        tail = self.stderr_tail() if code >= 0 else ""
        detail = f": {tail}" if tail else f"; its log is {self.log_path}"
        return RuntimeFailure(f"DiLoCo worker {self.rank} at {self.site} {_ended(code)} "
                              f"{when}{detail}")


def job_name(job: str, rank: int) -> str:
    """The agents' job name of worker ``rank`` (its own checkpoint directory)."""
    return f"{job}-w{rank}"


def run_diloco(
    cfg: DilocoConfig,
    root: str | Path,
    sites: list[str],
    *,
    placement: list[str] | None = None,
    moves: list[WorkerMove] | None = None,
    job: str = "diloco",
    log: Callable[[str], None] | None = None,
    on_outer_step: Callable[[int, dict[int, int]], None] | None = None,
    on_loss: Callable[[int, float], None] | None = None,
) -> DilocoResult:
    """Run ``cfg`` with its workers at ``placement`` (default: round robin over ``sites``)
    under ``root/<site>``, moving single workers per ``moves``; return the result.

    A worker that stops on its own with exit 75 (SIGTERM or SIGUSR1 from outside: it
    checkpoints at its next outer-step boundary) is restarted at its site from exactly
    the checkpoint of the last outer step it reported, verified first (a corrupt or
    missing one fails the run naming the worker and the checkpoint; it never falls back
    to an older one). ``on_outer_step(t, {rank: pid})`` is called once every worker
    finished outer step ``t``, before the driver's decision (an observer, e.g. for fault
    tests). ``on_loss(t, loss)`` gets worker 0's loss of each outer step as it reports it
    (progress: the command line prints it). Only the sites the plan uses (``placement``
    and the moves' destinations) get an agent and a directory.

    SIGINT (Ctrl-C) or, on the main thread, SIGTERM stops the workers and raises
    :class:`DilocoInterrupted` (a ``KeyboardInterrupt``) saying what is kept.

    Raises :class:`ConfigError` for a plan that cannot run or a ``root`` that already
    holds a DiLoCo run (:func:`check_root`), and :class:`RuntimeFailure` at once when a
    worker fails (named with how it ended; its last stderr line is quoted) or the
    training diverges (a non-finite loss; the outer step is named).
    """
    torch = require("torch", "torch")
    check_name("job", job)
    placement = list(placement or [sites[i % len(sites)] for i in range(cfg.workers)])
    moves = sorted(moves or [], key=lambda m: (m.outer_step, m.worker))
    check_plan(cfg, sites, placement, moves)
    check_root(root, job)
    log = log or (lambda msg: print(f"greenhop diloco: {msg}", file=sys.stderr, flush=True))
    root = Path(root)
    token = new_token()
    creds = Credentials(token)
    agents: dict[str, SiteAgent] = {}
    workers: dict[int, _Worker] = {}
    result = DilocoResult(placement, list(placement))  # placement follows the moves
    lock = threading.Lock()
    diverged: list[tuple[int, int, float]] = []  # (outer step, rank, loss), first one
    done_outer = dict.fromkeys(range(cfg.workers), 0)  # rank -> last outer step it reported
    counted: set[tuple[int, int]] = set()  # (rank, outer step) whose bytes are counted
    t0 = time.monotonic()

    def on_line(rank: int, line: str) -> None:
        parts = line.split()
        if _is_progress(line):
            with lock:
                t, loss = int(parts[1]), float(parts[3])
                first = rank == 0 and t not in result.outer_losses
                if not math.isfinite(loss):
                    diverged[:] = sorted([*diverged, (t, rank, loss)])[:1]
                if rank == 0:
                    result.outer_losses[t] = loss
                    result.outer_steps = len(result.outer_losses)
                done_outer[rank] = max(done_outer[rank], t)
                result.sync_bytes_per_worker = int(parts[5])
                if (rank, t) not in counted:  # each worker's outer step counts once
                    counted.add((rank, t))
                    result.sync_bytes += int(parts[5])
            if first and on_loss is not None:
                on_loss(t, loss)

    def check_loss() -> None:
        with lock:
            if diverged:
                t, rank, loss = diverged[0]
                raise RuntimeFailure(
                    f"the DiLoCo training diverged at outer step {t}: worker {rank} "
                    f"(at {workers[rank].site}) reported loss {loss!r}; lower inner_lr or "
                    f"outer_lr")

    def on_sigterm(signum, frame) -> None:
        raise DilocoInterrupted(signum, "interrupted")

    on_main = threading.current_thread() is threading.main_thread()
    previous_term = signal.signal(signal.SIGTERM, on_sigterm) if on_main else None
    used = {*placement, *(m.site for m in moves)}
    store = None
    try:
        for site in sites:
            if site in used:  # a listed site the plan never uses gets no agent
                agents[site] = SiteAgent(root / site, name=site, token=token,
                                         idle_timeout_s=None).start()
        urls = [a.url for a in agents.values()]
        for a in agents.values():
            set_peers(a.url, urls, credentials=creds)
        try:
            store = torch.distributed.TCPStore(
                "127.0.0.1", 0, is_master=True, wait_for_workers=False,
                timeout=datetime.timedelta(seconds=cfg.timeout_s))
        except (RuntimeError, OSError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RuntimeFailure(f"could not start the DiLoCo rendezvous store on 127.0.0.1 "
                                 f"within timeout_s = {cfg.timeout_s:g} s: {first}") from None
        logs = root / "logs"
        logs.mkdir(parents=True, exist_ok=True)

        def start(rank: int, site: str, resume_step: int | None) -> None:
            env = dict(os.environ)
            env.pop(ENV_RESUME_STEP, None)
            env.update({
                ENV_CONFIG: cfg.to_json(),
                ENV_RANK: str(rank),
                ENV_STORE: f"127.0.0.1:{store.port}",
                ENV_CHECKPOINT_DIR: str(root / site / job_name(job, rank)),
                "GLOO_SOCKET_IFNAME": env.get("GLOO_SOCKET_IFNAME", "lo"),
            })
            if resume_step is not None:
                env[ENV_RESUME_STEP] = str(resume_step)
            workers[rank] = _Worker(rank, site, [sys.executable, "-c", WORKER_BOOT],
                                    env, logs / f"w{rank}.log", on_line)

        def restart(rank: int) -> None:
            """Start worker ``rank`` again at its site from exactly the boundary it stopped
            at (the last outer step it reported), verified first: never an older one."""
            site = workers[rank].site
            with lock:
                t = done_outer[rank]
            step = t * cfg.inner_steps
            if step:
                path = root / site / job_name(job, rank) / ck.step_dir_name(step)
                try:
                    ck.verify_checkpoint(path)
                except (CheckpointError, OSError) as exc:
                    raise RuntimeFailure(
                        f"DiLoCo worker {rank} at {site} stopped on its own after outer step "
                        f"{t} (exit {EXIT_MIGRATED}), but its checkpoint {path} cannot be "
                        f"resumed: {exc}; the run does not go back to an older one") from None
            log(f"worker {rank} stopped on its own after outer step {t} (step {step}): "
                f"restarting it at {site}")
            result.restarts.append((rank, step))
            start(rank, site, step)

        for rank, site in enumerate(placement):
            start(rank, site, None)
        for t in range(1, cfg.outer_steps):  # the last step ends the run: no decision
            _wait_arrivals(store, t, cfg, workers, restart, check_loss,
                           late=lambda t=t: _late(done_outer, lock, t))
            if on_outer_step is not None:
                on_outer_step(t, {r: w.proc.pid for r, w in workers.items()})
            now = [m for m in moves if m.outer_step == t]
            store.set(f"ctl/{t}", json.dumps({"stop": [m.worker for m in now]}))
            for m in now:
                rec = _move(m, cfg, root, job, agents, workers, creds, log)
                with lock:
                    done_outer[m.worker] = m.outer_step
                start(m.worker, m.site, rec.step)
                result.moves.append(rec)
                placement[m.worker] = m.site
        _wait_finished(cfg, workers, restart, check_loss)
        check_loss()
        result.final_checkpoints = [
            root / site / job_name(job, r) / ck.step_dir_name(cfg.total_inner_steps)
            for r, site in enumerate(placement)]
        result.wall_s = time.monotonic() - t0
        return result
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, DilocoInterrupted) else signal.SIGINT
        with lock:
            done = min(done_outer.values())
        raise DilocoInterrupted(signum, (
            f"interrupted by {signal.Signals(signum).name} after outer step {done} of "
            f"{cfg.outer_steps}: the workers were stopped; their checkpoints stay in "
            f"{root}/<site>/{job}-w<rank> and their logs in {root / 'logs'}, but a run is "
            "not resumed (start again in a new ROOT)")) from None
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the cleanup runs to its end
        for w in workers.values():
            w.kill()
        for a in agents.values():
            a.stop()
        store = None  # the rendezvous server closes with its last reference
        if on_main:  # None: a handler not installed from Python; the default stands in
            signal.signal(signal.SIGTERM,
                          signal.SIG_DFL if previous_term is None else previous_term)


def _check_exits(workers: dict[int, _Worker], restart: Callable[[int], None],
                 check: Callable[[], None], when: str) -> set[int]:
    """Restart every worker that stopped on its own (exit 75); fail on any exit but 0 and
    75, naming the worker (one killed by a signal first: the others may have failed
    because it vanished from the exchange). Returns the ranks that finished (exit 0)."""
    finished, failed = set(), []
    for rank, w in list(workers.items()):
        code = w.proc.poll()
        if code == EXIT_MIGRATED:
            w.wait(5)
            restart(rank)
        elif code == EXIT_FINISHED:
            finished.add(rank)
        elif code is not None:
            failed.append((code >= 0, rank, code))
    if failed:
        for _, rank, _ in failed:
            workers[rank].wait(5)  # its output is read to the end
        if any(code == -signal.SIGINT for _, _, code in failed):
            # Ctrl-C reached the process group; the driver may not have seen it (started
            # in the background of a script, it ignores SIGINT): an interruption all the same
            raise DilocoInterrupted(signal.SIGINT, "a worker was interrupted")
        check()  # a divergence it reported explains the exit best
        _, rank, code = min(failed)
        raise workers[rank].failure(code, when)
    return finished


def _late(done_outer: dict[int, int], lock: threading.Lock, t: int) -> list[int]:
    """The workers that have not reported outer step ``t``."""
    with lock:
        return sorted(r for r, done in done_outer.items() if done < t)


def _wait_arrivals(store, t: int, cfg: DilocoConfig, workers: dict[int, _Worker],
                   restart: Callable[[int], None],
                   check: Callable[[], None] = lambda: None,
                   late: Callable[[], list[int]] = lambda: []) -> None:
    """Block until every worker finished outer step ``t`` (bounded by ``cfg.timeout_s``);
    restart a worker that stopped on its own (exit 75), fail at once on any other exit
    (exit 0 included: it cannot have finished the run) and on a divergence ``check``
    raises for. At the timeout the error names the workers ``late`` gives (those that
    have not reported ``t``) and their sites."""
    deadline = time.monotonic() + cfg.timeout_s
    while store.add(f"arrived/{t}", 0) < cfg.workers:
        check()
        finished = _check_exits(workers, restart, check, f"during outer step {t}")
        if finished:
            rank = min(finished)
            raise workers[rank].failure(EXIT_FINISHED, f"during outer step {t}")
        if time.monotonic() > deadline:
            missing = ", ".join(f"worker {r} at {workers[r].site} (pid {workers[r].proc.pid})"
                                for r in late() if r in workers)
            raise RuntimeFailure(f"the DiLoCo workers did not all reach outer step {t} within "
                                 f"{cfg.timeout_s:g} s" + (f": {missing} did not report it "
                                                           "(hung or frozen?)" if missing
                                                           else ""))
        time.sleep(_POLL_S)
    check()


def _wait_finished(cfg: DilocoConfig, workers: dict[int, _Worker],
                   restart: Callable[[int], None],
                   check: Callable[[], None] = lambda: None) -> None:
    """Block until every worker finished the run (exit 0) after the last outer step,
    bounded by ``cfg.timeout_s``; restart a worker that stopped on its own, fail at once
    when any worker ends otherwise or ``check`` raises."""
    t = cfg.outer_steps
    deadline = time.monotonic() + cfg.timeout_s
    while True:
        check()
        finished = _check_exits(workers, restart, check, f"during outer step {t} (the last)")
        if len(finished) == len(workers):
            for w in workers.values():
                w.wait(5)
            return
        if time.monotonic() > deadline:
            late = sorted(set(workers) - finished)
            raise RuntimeFailure(f"DiLoCo worker(s) {', '.join(map(str, late))} did not finish "
                                 f"the last outer step ({t}) within {cfg.timeout_s:g} s; killed")
        time.sleep(_POLL_S)


def _move(m: WorkerMove, cfg: DilocoConfig, root: Path, job: str, agents: dict[str, SiteAgent],
          workers: dict[int, _Worker], creds: Credentials, log) -> MoveRecord:
    """Stop worker ``m.worker`` at its checkpoint and have the destination pull it."""
    w = workers[m.worker]
    t = time.monotonic()
    code = w.wait(cfg.timeout_s)
    if code != EXIT_MIGRATED:
        raise w.failure(code, f"when asked to move (expected exit {EXIT_MIGRATED})")
    stopped = time.monotonic()
    step = m.outer_step * cfg.inner_steps
    name = ck.step_dir_name(step)
    src = root / w.site / job_name(job, m.worker) / name
    manifest = ck.read_manifest(src)
    digest = hashlib.sha256((src / ck.MANIFEST).read_bytes()).hexdigest()
    fetch_via(agents[m.site].url, agents[w.site].url, job_name(job, m.worker), name,
              cfg.timeout_s, accept=[digest], credentials=creds)
    moved = time.monotonic()
    size = sum(r["size_bytes"] for r in manifest["files"].values())
    log(f"worker {m.worker}: {w.site} -> {m.site} after outer step {m.outer_step} "
        f"({size} B checkpoint, transfer {moved - stopped:.2f} s)")
    return MoveRecord(m.outer_step, m.worker, w.site, m.site, step, size,
                      stopped - t, moved - stopped)
