"""Restarts, interruptions and up-front refusals of the live DiLoCo driver and worker
(docs/distributed.md, "Live DiLoCo"): a worker stopped from outside resumes from exactly
the boundary it stopped at (a corrupt checkpoint there is a loud failure, never a silent
fall back to an older one), an interrupted driver says so, and settings that cannot run
are refused before anything starts. The live runs here are one tiny worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from diloco_kit import diloco_cli as _cli

from greenhop.core.errors import ConfigError, RuntimeFailure
from greenhop.runtime import diloco as rd
from greenhop.workload import checkpoint as ck
from greenhop.workload import diloco as dl
from greenhop.workload.session import ENV_CHECKPOINT_DIR, ENV_RESUME_STEP, EXIT_USAGE

torch = pytest.importorskip("torch")

ONE = {"workers": 1, "inner_steps": 2, "outer_steps": 3, "width": 16, "layers": 1,
       "context": 16, "batch_size": 4, "timeout_s": 30}
"""One worker, three outer steps of two local steps: seconds, most of it the start."""




def _sigterm_after(step):
    def hook(t, pids):
        if t == step:  # it checkpoints at this boundary and exits 75
            os.kill(pids[0], signal.SIGTERM)
    return hook


# -- 1. restart from exactly the boundary it stopped at -------------------------------------


def test_a_stopped_worker_restarts_at_its_boundary_and_bytes_count_once(tmp_path):
    cfg = dl.DilocoConfig(**ONE)
    res = rd.run_diloco(cfg, tmp_path, ["a", "unused"], log=lambda m: None,
                        on_outer_step=_sigterm_after(2))
    assert res.restarts == [(0, 2 * cfg.inner_steps)]
    assert res.outer_steps == 3 and sorted(res.outer_losses) == [1, 2, 3]
    assert res.sync_bytes == 3 * res.sync_bytes_per_worker
    log = (tmp_path / "logs" / "w0.log").read_text()
    assert f"resumed from {tmp_path / 'a' / 'diloco-w0' / ck.step_dir_name(4)}" in log
    # a listed site the plan does not use gets no agent and no directory
    assert not (tmp_path / "unused").exists()


def test_a_corrupt_checkpoint_at_the_stop_fails_loudly_instead_of_an_older_one(
        tmp_path, monkeypatch):
    """The worker stops after outer step 2; its step-4 checkpoint is damaged before the
    restart. The driver used to resume the older step-2 checkpoint silently, train outer
    step 2 again and count its bytes twice."""
    cfg = dl.DilocoConfig(**ONE)
    wait = rd._Worker.wait
    damaged = []

    def wait_then_damage(self, timeout_s):
        code = wait(self, timeout_s)
        if code == 75 and not damaged:
            f = tmp_path / "a" / "diloco-w0" / ck.step_dir_name(4) / "model.safetensors"
            data = bytearray(f.read_bytes())
            data[-10] ^= 0xFF
            f.write_bytes(bytes(data))
            damaged.append(f)
        return code

    monkeypatch.setattr(rd._Worker, "wait", wait_then_damage)
    with pytest.raises(RuntimeFailure) as info:
        rd.run_diloco(cfg, tmp_path, ["a"], log=lambda m: None,
                      on_outer_step=_sigterm_after(2))
    msg = str(info.value)
    assert damaged and "DiLoCo worker 0 at a stopped on its own after outer step 2" in msg
    assert str(damaged[0].parent) in msg and "BLAKE3" in msg
    assert "older" in msg and len(msg.splitlines()) == 1


def test_a_stop_request_while_the_worker_starts_stops_it_after_its_next_outer_step(
        tmp_path, monkeypatch):
    """SIGTERM before the worker's training session exists (it is still importing torch)
    is kept and honoured like a later one: a checkpoint at the next boundary, exit 75."""
    monkeypatch.delenv(ENV_RESUME_STEP, raising=False)
    early = threading.Event()
    early.set()  # what migration_requests records of a SIGTERM before the session
    cfg = dl.DilocoConfig(**ONE)
    lines = []
    code = dl.run_worker(cfg, 0, lambda t, flat: [flat], lambda t: False, str(tmp_path),
                         out=lines.append, log=lambda m: None, stop_requested=early)
    assert code == 75 and [line.split()[1] for line in lines] == ["1"]
    assert ck.latest_complete(tmp_path).name == ck.step_dir_name(cfg.inner_steps)


# -- 2. interruptions -------------------------------------------------------------------------


def test_sigterm_to_the_driver_stops_the_workers_and_says_what_is_kept(tmp_path):
    cfg = dl.DilocoConfig(**ONE)
    seen = {}

    def term_driver(t, pids):
        seen.update(pids)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(rd.DilocoInterrupted) as info:
        rd.run_diloco(cfg, tmp_path, ["a"], log=lambda m: None, on_outer_step=term_driver)
    assert info.value.code == 143
    msg = str(info.value)
    assert msg.startswith("interrupted by SIGTERM after outer step 1 of 3")
    assert "checkpoints stay in" in msg and "not resumed" in msg
    assert signal.getsignal(signal.SIGTERM) == before
    for pid in seen.values():  # the worker is gone (reaped)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_ended_by_sigint_is_an_interruption_even_when_the_driver_saw_none(tmp_path):
    """Ctrl-C reaches the whole process group, but a driver started in a script's
    background ignores SIGINT (the shell sets it so): its worker, ended by SIGINT, is read
    as the interruption (exit 130, what is kept), not as a failed worker (exit 1)."""
    cfg = dl.DilocoConfig(**ONE)
    seen = {}

    def interrupt_worker(t, pids):
        seen.update(pids)
        for pid in pids.values():
            os.kill(pid, signal.SIGINT)

    with pytest.raises(rd.DilocoInterrupted) as info:
        rd.run_diloco(cfg, tmp_path, ["a"], log=lambda m: None,
                      on_outer_step=interrupt_worker)
    assert info.value.code == 130
    msg = str(info.value)
    assert msg.startswith("interrupted by SIGINT after outer step 1 of 3"), msg
    assert "checkpoints stay in" in msg
    for pid in seen.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_the_cli_reports_an_interruption_on_stderr_with_the_shell_status(
        tmp_path, capsys, monkeypatch):
    def interrupted(*a, **k):
        raise rd.DilocoInterrupted(signal.SIGINT, "interrupted by SIGINT after outer step 2")

    monkeypatch.setattr(rd, "run_diloco", interrupted)
    code, out, err = _cli([str(tmp_path), "--sites", "a", "--config", json.dumps(ONE)], capsys)
    assert code == 130 and out == ""
    assert err.strip() == "greenhop diloco: interrupted by SIGINT after outer step 2"


def test_a_worker_ends_quietly_on_ctrl_c(tmp_path):
    """Ctrl-C reaches the driver's whole process group: a worker dies at once without a
    KeyboardInterrupt traceback in its log (here it waits in the first exchange)."""
    store = torch.distributed.TCPStore("127.0.0.1", 0, is_master=True,
                                       wait_for_workers=False)
    env = {**os.environ, dl.ENV_CONFIG: json.dumps({**ONE, "workers": 2}),
           dl.ENV_RANK: "0", dl.ENV_STORE: f"127.0.0.1:{store.port}",
           ENV_CHECKPOINT_DIR: str(tmp_path / "w0"), "GLOO_SOCKET_IFNAME": "lo"}
    env.pop(ENV_RESUME_STEP, None)
    proc = subprocess.Popen([sys.executable, "-c", dl.WORKER_BOOT], env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while store.num_keys() < 1 and time.monotonic() < deadline:  # in the rendezvous
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGINT
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err


def test_a_worker_stopped_right_at_its_start_keeps_the_request(tmp_path):
    """SIGTERM as soon as the worker process runs (before its imports): it trains its
    first outer step, checkpoints and exits 75 (one worker, so it needs no other)."""
    store = torch.distributed.TCPStore("127.0.0.1", 0, is_master=True,
                                       wait_for_workers=False)
    store.set("ctl/1", json.dumps({"stop": []}))
    env = {**os.environ, dl.ENV_CONFIG: json.dumps(ONE), dl.ENV_RANK: "0",
           dl.ENV_STORE: f"127.0.0.1:{store.port}", ENV_CHECKPOINT_DIR: str(tmp_path / "w0"),
           "GLOO_SOCKET_IFNAME": "lo"}
    env.pop(ENV_RESUME_STEP, None)
    boot = dl.WORKER_BOOT.replace("from greenhop", "print('up', flush=True)\nfrom greenhop")
    proc = subprocess.Popen([sys.executable, "-c", boot], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"up\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 75, err
    assert out.decode().split()[:2] == ["outer", "1"]
    assert ck.latest_complete(tmp_path / "w0").name == ck.step_dir_name(ONE["inner_steps"])


# -- 3. refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "needle"),
    [({"timeout_s": 0.001}, "DiLoCo timeout_s must be at least 1 s"),
     ({"threads": 100000}, "DiLoCo threads must be at most 256"),
     ({"layers": 100000}, "DiLoCo layers must be at most 64"),
     ({"width": 100000000, "heads": 1}, "DiLoCo width must be at most 4096"),
     ({"width": 4096, "layers": 8, "heads": 1}, "parameters; at most 100,000,000")],
)
def test_settings_that_cannot_run_are_refused_up_front(tmp_path, capsys, bad, needle):
    with pytest.raises(ConfigError, match=needle):
        dl.DilocoConfig(**{**ONE, **bad})
    code, out, err = _cli([str(tmp_path), "--sites", "a",
                           "--config", json.dumps({**ONE, **bad})], capsys)
    assert code == 2 and out == "" and needle in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()


def test_the_largest_settings_are_accepted():
    dl.DilocoConfig(**{**ONE, "threads": 256, "layers": 64, "timeout_s": 1})
    assert dl.model_params(32, 2, 32) == dl._lm_config(dl.DilocoConfig()).n_params()


def test_a_store_that_cannot_start_is_one_line_naming_timeout_s(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise torch.distributed.DistNetworkError("The client socket has timed out after 1ms\n"
                                                 "Exception raised from ... (frames)")

    monkeypatch.setattr(torch.distributed, "TCPStore", refuse)
    with pytest.raises(RuntimeFailure) as info:
        rd.run_diloco(dl.DilocoConfig(**ONE), tmp_path, ["a"], log=lambda m: None)
    msg = str(info.value)
    assert "rendezvous store" in msg and "timeout_s = 30 s" in msg
    assert msg.endswith("timed out after 1ms") and "\n" not in msg


@pytest.mark.parametrize("text", ["²:0:b", "1:²:b", "٣:0:b", "-1:0:b"])
def test_a_move_with_non_ascii_digits_is_refused_naming_move(tmp_path, capsys, text):
    with pytest.raises(ConfigError, match="expected OUTER_STEP:WORKER:SITE"):
        rd.WorkerMove.parse(text)
    code, _, err = _cli([str(tmp_path), "--sites", "a,b", "--move", text,
                           "--config", json.dumps({**ONE, "workers": 2})], capsys)
    assert code == 2 and f"--move {text!r}: expected OUTER_STEP:WORKER:SITE" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("rank", ["²", "٣", "-1", ""])
def test_a_worker_refuses_a_rank_that_is_not_ascii_digits(monkeypatch, capsys, rank):
    monkeypatch.setattr(signal, "signal", lambda sig, handler: None)  # leave pytest's alone
    monkeypatch.setenv(dl.ENV_CONFIG, json.dumps(ONE))
    monkeypatch.setenv(dl.ENV_RANK, rank)
    assert dl.main() == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"{dl.ENV_RANK}={rank!r}: must be the worker's index" in err
    assert "Traceback" not in err
