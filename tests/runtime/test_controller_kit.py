"""Helpers shared by the live-run tests (no tests here): scenarios, an in-memory controller,
the CLI as a subprocess, process and temp-file checks, reference weights."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from greenhop.runtime.controller import Controller, RunConfig
from greenhop.runtime.executor import TrainerSpec
from greenhop.runtime.power import TraceReplaySource
from greenhop.runtime.store import Store

SCENARIOS = Path(__file__).resolve().parents[2] / "src" / "greenhop" / "data" / "scenarios"
LIVE = SCENARIOS / "live-3site.toml"
CHAOS = SCENARIOS / "live-chaos.toml"
STEPS = 300
EVERY = 25
TRAIN_ARGS = ["--train-steps", str(STEPS), "--checkpoint-every", str(EVERY)]

_INPUTS: dict = {}


def inputs(path: Path = LIVE):
    """(scenario, inputs) of a scenario file, cached."""
    if path not in _INPUTS:
        from greenhop.sim.inputs import build_inputs
        from greenhop.sim.scenario import load_scenario

        sc = load_scenario(path)
        _INPUTS[path] = (sc, build_inputs(sc))
    return _INPUTS[path]


def memory_controller(db: Path, executor, *, path: Path = LIVE, steps: int = STEPS,
                      every: int = EVERY, cls=Controller, policy: str | None = None,
                      workload: str = "mlp") -> Controller:
    """A controller on ``executor`` running ``policy`` (default: the scenario's first)."""
    from greenhop.policies import make_policy
    from greenhop.sim.api import policy_params

    sc, inp = inputs(path)
    name = policy or sc.policies[0]
    params = policy_params(sc, name)
    specs = {j.name: TrainerSpec(workload=workload, steps=steps, every_steps=every, seed=i)
             for i, j in enumerate(inp.jobs)}
    cfg = RunConfig(
        scenario=str(path), scenario_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        policy_name=name, time_scale=1e12,
        specs=specs, link_rate_bps=[1e6] * len(sc.sites), write_Bps=sc.write_Bps,
        read_Bps=sc.read_Bps, startup_s=sc.startup_s,
        decision_interval_s=sc.decision_interval_s, window_threshold_w=sc.window_threshold_w,
        start_unix_s=sc.start.timestamp(), poll_s=0.0, max_wall_s=120.0,
        forecast=sc.forecast, seed=sc.seed)
    ctl = cls(Store.open(db, create=True), inp, lambda: make_policy(name, **params), executor,
              TraceReplaySource(inp.renewable_w, inp.history_steps), cfg)
    ctl.backoff_base_s = 0.001  # simulated failures: no need to wait between attempts
    return ctl


def finished_run(d: Path) -> tuple[Path, Path, Path]:
    """``(scenario copy, run.db, events.jsonl)`` in ``d`` of a finished in-memory run of a
    copy of the live scenario (its real SHA-256 in the run-start event, as ``greenhop run``
    logs it)."""
    import shutil

    from greenhop.runtime.event_log import export_events
    from greenhop.runtime.memory import InMemoryExecutor

    sc = d / "sc.toml"
    shutil.copy(LIVE, sc)
    db = d / "run.db"
    ctl = memory_controller(db, InMemoryExecutor(), path=sc)
    try:
        ctl.prepare()
        assert ctl.run()["status"] == "done"
    finally:
        ctl.store.close()
    st = Store.open(db, read_only=True)
    try:
        export_events(st, d / "events.jsonl")
    finally:
        st.close()
    return sc, db, d / "events.jsonl"


def sim_run(path: Path = LIVE, policy: str | None = None):
    """The simulator's run of ``policy`` (default: the scenario's first) and its moves as
    (step, job, src, dst)."""
    from greenhop.sim import simulate

    sc, inp = inputs(path)
    name = policy or sc.policies[0]
    run = simulate(path, policies=[name]).runs[name]
    jn = [j.name for j in inp.jobs]
    return run, [[round(m["start_s"] / sc.step_s), jn[m["job"]], sc.site_names[m["src"]],
                  sc.site_names[m["dst"]]] for m in run.migrations]


def sim_migrations(path: Path = LIVE, policy: str | None = None) -> list[list]:
    """(step, job, src, dst) of the simulator's run of ``policy`` (see :func:`sim_run`)."""
    return sim_run(path, policy)[1]


def greenhop_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "greenhop", *args]


def start_run(workdir: Path, path: Path, time_scale: float, *extra: str) -> subprocess.Popen:
    """``greenhop run`` as a child process (its own process group, output to a log)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = open(workdir / "controller.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        greenhop_cmd("run", str(path), "--workdir", str(workdir), "--time-scale",
                     str(time_scale), *TRAIN_ARGS, *extra),
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)
    log.close()
    return proc


def run_to_end(workdir: Path, path: Path, time_scale: float, *extra: str,
               timeout_s: float = 300) -> Path:
    """``greenhop run`` to its end; asserts exit 0 (showing the log's tail) and that no
    process of the run is left. Returns the work directory."""
    proc = start_run(workdir, path, time_scale, *extra)
    try:
        code = proc.wait(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all_under(workdir)
    assert code == 0, (workdir / "controller.log").read_text()[-3000:]
    return workdir


def db_jobs(db: Path) -> list[dict]:
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        con.row_factory = sqlite3.Row
        rows = [dict(r) for r in con.execute("SELECT * FROM jobs ORDER BY idx")]
        con.close()
        return rows
    except sqlite3.OperationalError:
        return []


def db_sites(db: Path) -> list[dict]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        con.row_factory = sqlite3.Row
        rows = [dict(r) for r in con.execute("SELECT * FROM sites ORDER BY idx")]
        con.close()
        return rows
    except sqlite3.Error:
        return []


def wait_for(cond, timeout_s: float, what: str, poll_s: float = 0.003):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def processes_under(workdir: Path) -> dict[int, str]:
    """Live processes whose command line mentions ``workdir`` (trainers, agents, runs)."""
    out = {}
    key = str(workdir)
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if key in cmd and state != "Z":
            out[int(p.name)] = cmd
    return out


def trainers_by_job(workdir: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for pid, cmd in processes_under(workdir).items():
        if "greenhop.workload.reference" in cmd:
            job = Path(cmd.split()[4]).name
            out.setdefault(job, []).append(pid)
    return out


def kill_all_under(workdir: Path) -> None:
    for pid in processes_under(workdir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def temp_leftovers(workdir: Path) -> list[str]:
    return [str(p) for p in (workdir / "sites").rglob("*")
            if p.name.startswith((".incoming-", ".tmp-")) or p.name.endswith(".tmp")]


def steps_lost(workdir: Path, job: str) -> int:
    """Largest number of steps a restart of ``job`` went back, from the trainers' logs."""
    logs = sorted((workdir / "logs").glob(f"{job}.*.log"),
                  key=lambda p: int(p.name.split(".")[1]))
    worst, last = 0, None
    for p in logs:
        steps = [int(line.split()[1]) for line in p.read_text().splitlines()
                 if line.startswith("step ")]
        if not steps:
            continue
        if last is not None:
            worst = max(worst, last - (steps[0] - 1))
        last = steps[-1]
    return worst


def reference_weights(base: Path, n_jobs: int) -> list[str]:
    """weights_sha256 of uninterrupted ``STEPS``-step mlp runs with seeds 0..n-1 (cached)."""
    from greenhop.workload import latest_complete, weights_sha256
    from greenhop.workload.reference.run import RunOptions, run_reference

    out = []
    for seed in range(n_jobs):
        d = base / f"ref-{seed}"
        if latest_complete(d) is None or "finished" not in (d / ".done").read_text(
                errors="ignore") if (d / ".done").exists() else True:
            code = run_reference("mlp", d, RunOptions(steps=STEPS, every_steps=EVERY, seed=seed),
                                 log=lambda m: None)
            assert code == 0
            (d / ".done").write_text("finished")
        out.append(weights_sha256(latest_complete(d)))
    return out


def final_weights(workdir: Path, job: str, site: str) -> tuple[int, str]:
    from greenhop.workload import describe, latest_complete, weights_sha256

    p = latest_complete(workdir / "sites" / site / job)
    return describe(p)["step"], weights_sha256(p)


def _same(a, b) -> bool:
    """Deep, bit-exact equality of two states (tensors by dtype, shape and bytes)."""
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
                and a.dtype == b.dtype and a.shape == b.shape
                and a.numpy().tobytes() == b.numpy().tobytes())
    if isinstance(a, dict):
        return isinstance(b, dict) and set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return a == b


def different_components(a: Path, b: Path) -> list[str]:
    """Components (model, optimizer, scheduler, loader, rng, ...) whose state differs
    between the checkpoints ``a`` and ``b``, bit for bit; [] when they are the same."""
    from greenhop.workload import load_checkpoint

    ca, cb = load_checkpoint(a), load_checkpoint(b)
    if ca.step != cb.step or set(ca.components) != set(cb.components):
        return ["step or component set"]
    return [n for n in ca.components if not _same(ca.components[n], cb.components[n])]


def edited_copy(src: Path, dst: Path, *statements: str) -> Path:
    """A copy of the database ``src`` at ``dst`` with the SQL ``statements`` applied."""
    import shutil

    shutil.copy(src, dst)
    con = sqlite3.connect(dst)
    for sql in statements:
        con.execute(sql)
    con.commit()
    con.close()
    return dst


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes: to show a refused command left it as it was."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cli(capsys, *args) -> tuple[int, str, str]:
    """``greenhop ARGS`` in this process: ``(exit code, stdout, stderr on one line)``."""
    import pytest

    from greenhop.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(list(map(str, args)))
    cap = capsys.readouterr()
    return exc.value.code, cap.out, " ".join(cap.err.split())
