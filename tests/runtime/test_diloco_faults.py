"""Faults of the live DiLoCo driver (``greenhop diloco``): a worker killed in the last outer
step, a ROOT that already holds a run, non-finite settings and a diverging run, settings
the corpus cannot feed. The live runs here are tiny (one or two workers, a few steps)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from diloco_kit import diloco_cli as _cli

from greenhop.core.errors import ConfigError, RuntimeFailure
from greenhop.runtime import diloco as rd
from greenhop.workload import diloco as dl
from greenhop.workload.session import ENV_RESUME_STEP

torch = pytest.importorskip("torch")

TINY = {"workers": 2, "inner_steps": 2, "outer_steps": 2, "width": 16, "layers": 1,
        "context": 16, "batch_size": 4, "timeout_s": 20}
"""A run of a few seconds of work (most of a live run is the workers' start)."""




class _NoArrivals:
    """A rendezvous store where no worker ever arrives."""

    def add(self, key, amount):
        return 0


@pytest.fixture
def procs(tmp_path):
    """Start stand-in worker processes; every one is killed at the end."""
    started = []

    def start(rank, site, script):
        w = rd._Worker(rank, site, ["sh", "-c", script], dict(os.environ),
                       tmp_path / f"w{rank}.log", lambda rank, line: None)
        started.append(w)
        return w

    yield start
    for w in started:
        w.kill()


def _no_restart(rank):
    raise AssertionError(f"worker {rank} restarted")


# -- 1. a worker killed by a signal ----------------------------------------------------------


def test_a_worker_killed_mid_run_is_named_with_its_signal(procs):
    workers = {0: procs(0, "a", "exec sleep 60"), 1: procs(1, "b", "echo started >&2; kill -9 $$")}
    cfg = dl.DilocoConfig(**{**TINY, "outer_steps": 5})
    with pytest.raises(RuntimeFailure) as info:
        rd._wait_arrivals(_NoArrivals(), 3, cfg, workers, _no_restart)
    msg = str(info.value)
    assert "DiLoCo worker 1 at b was killed by SIGKILL" in msg and "outer step 3" in msg
    assert not msg.rstrip().endswith(":") and "started" not in msg  # no stale, no empty text
    assert "w1.log" in msg


def test_the_final_wait_fails_at_once_naming_the_dead_worker(procs):
    workers = {0: procs(0, "a", "exec sleep 60"), 1: procs(1, "b", "kill -9 $$")}
    cfg = dl.DilocoConfig(**{**TINY, "timeout_s": 30})
    t0 = time.monotonic()
    with pytest.raises(RuntimeFailure,
                       match=r"worker 1 at b was killed by SIGKILL during outer step 2"):
        rd._wait_finished(cfg, workers, _no_restart)
    assert time.monotonic() - t0 < 10


def test_the_final_wait_names_a_worker_that_exits_1_with_its_last_line(procs):
    workers = {0: procs(0, "a", "exec sleep 60"),
               1: procs(1, "b", "echo 'boom: no space' >&2; exit 1")}
    with pytest.raises(RuntimeFailure, match=r"worker 1 at b exited 1 during outer step 2 "
                                             r"\(the last\): boom: no space$"):
        rd._wait_finished(dl.DilocoConfig(**TINY), workers, _no_restart)


def test_worker_killed_in_the_last_outer_step_fails_the_run_at_once(tmp_path):
    """The live case: worker 1 is killed after outer step T-1, so it is missing from the
    last step; the driver used to wait ``timeout_s`` on worker 0 and blame it."""
    cfg = dl.DilocoConfig(**TINY)

    def kill_worker_1(t, pids):
        if t == cfg.outer_steps - 1:
            os.kill(pids[1], signal.SIGKILL)

    t0 = time.monotonic()
    with pytest.raises(RuntimeFailure) as info:
        rd.run_diloco(cfg, tmp_path, ["a", "b"], log=lambda m: None, on_outer_step=kill_worker_1)
    assert time.monotonic() - t0 < cfg.timeout_s
    assert "DiLoCo worker 1 at b was killed by SIGKILL during outer step 2" in str(info.value)


# -- 2. a ROOT that already holds a run ------------------------------------------------------


@pytest.mark.parametrize("held", ["c/diloco-w2/step-000000020", "logs/w0.log"])
def test_a_root_holding_a_diloco_run_is_refused_and_left_alone(tmp_path, capsys, held):
    path = tmp_path / held
    if path.suffix == ".log":
        path.parent.mkdir(parents=True)
        path.write_text("greenhop: resumed from ...\n")
    else:
        path.mkdir(parents=True)
        (path / "MANIFEST.json").write_text("{}")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, out, err = _cli([str(tmp_path), "--sites", "a,b,c",
                           "--config", json.dumps({**TINY, "workers": 3})], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    named = path if path.suffix == ".log" else path.parent  # the worker's directory
    assert "already holds a DiLoCo run" in err and f"({named})" in err
    assert "new ROOT or remove" in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_root_that_does_not_exist_yet_is_fine():
    rd.check_root("/nonexistent/greenhop-root")


def test_check_root_ignores_other_jobs_and_non_run_files(tmp_path):
    (tmp_path / "a" / "other-w0").mkdir(parents=True)
    (tmp_path / "a" / "diloco-wx").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    rd.check_root(tmp_path)
    with pytest.raises(ConfigError, match="already holds a DiLoCo run"):
        rd.check_root(tmp_path, "other")


# -- 3. non-finite settings, a diverging run -------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [("inner_lr", float("inf")), ("outer_lr", float("inf")), ("inner_lr", float("nan")),
     ("weight_decay", float("inf")), ("timeout_s", float("inf")), ("outer_lr", 10**400)],
)
def test_non_finite_settings_are_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"DiLoCo {key} must be a finite number"):
        dl.DilocoConfig(**{key: value})


@pytest.mark.parametrize("text", ['{"outer_lr": 1e400}', '{"inner_lr": Infinity}'])
def test_cli_refuses_non_finite_rates(tmp_path, capsys, text):
    bad = json.loads(text)
    code, _, err = _cli([str(tmp_path), "--config", json.dumps({**TINY, **bad})], capsys)
    assert code == 2 and f"DiLoCo {next(iter(bad))} must be a finite number" in err
    assert not (tmp_path / "logs").exists()


def test_a_diverging_worker_fails_naming_the_outer_step(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_RESUME_STEP, raising=False)
    cfg = dl.DilocoConfig(**{**TINY, "workers": 1, "inner_lr": 1e30})
    lines = []
    with pytest.raises(RuntimeFailure, match=r"diverged at outer step 1 \(loss nan"):
        dl.run_worker(cfg, 0, lambda t, flat: [flat], lambda t: False, str(tmp_path),
                      out=lines.append, log=lambda m: None)
    assert lines == ["outer 1 loss nan sync_bytes " + lines[0].split()[-1]]


def test_a_diverging_run_exits_1_naming_the_outer_step(tmp_path, capsys):
    cfg = {**TINY, "workers": 1, "outer_steps": 3, "inner_lr": 1e30}
    code, out, err = _cli([str(tmp_path), "--sites", "a", "--config", json.dumps(cfg)], capsys)
    assert code == 1, (out, err)
    assert "diverged at outer step 1" in err and len(err.strip().splitlines()) == 1
    assert "loss nan" in err


# -- 4. settings the corpus cannot feed ------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "needle"),
    [({"seed": -1}, "DiLoCo seed must be an integer in 0.."),
     ({"seed": 2**64}, "DiLoCo seed must be an integer in 0.."),
     ({"seed": 1.5}, "DiLoCo seed must be an integer in 0.."),
     ({"context": 100000}, "DiLoCo context 100000 leaves no sequence"),
     ({"batch_size": 100000}, "DiLoCo batch_size 100000 exceeds the"),
     ({"workers": 64, "context": dl.corpus_size() - 40, "batch_size": 1},
      "DiLoCo workers 64 leave a worker without data"),
     # each worker is a process of this machine: a typo of 300 started hundreds
     ({"workers": 300}, "DiLoCo workers must be at most 64; got 300")],
)
def test_settings_the_workers_cannot_run_are_refused_up_front(bad, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        dl.DilocoConfig(**{**TINY, **bad})


def test_the_largest_batch_the_smallest_shard_feeds_is_accepted():
    n_items = dl.corpus_size() - TINY["context"] - 1
    largest = n_items // 3
    assert len(dl.shard_items(n_items, 3, 2, 0)) == largest  # the last shard is the smallest
    dl.DilocoConfig(**{**TINY, "workers": 3, "batch_size": largest})
    with pytest.raises(ConfigError, match=f"use at most {largest}"):
        dl.DilocoConfig(**{**TINY, "workers": 3, "batch_size": largest + 1})


@pytest.mark.parametrize("bad", [{"seed": -1}, {"context": 100000}, {"batch_size": 100000}])
def test_cli_refuses_them_with_exit_2_naming_the_setting(tmp_path, capsys, bad):
    code, _, err = _cli([str(tmp_path), "--config", json.dumps({**TINY, **bad})], capsys)
    assert code == 2 and f"DiLoCo {next(iter(bad))}" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()


def test_losses_are_printed_as_each_outer_step_ends_and_kept_in_the_worker_logs(tmp_path,
                                                                                capsys):
    """The losses were printed only once the run finished, and kept nowhere: a run cut
    short showed nothing of the steps it trained."""
    seen = []

    def on_loss(t, loss):
        seen.append((t, loss, (tmp_path / "logs" / "w0.log").read_text()))

    cfg = dl.DilocoConfig(**{**TINY, "outer_steps": 3})
    result = rd.run_diloco(cfg, tmp_path, ["a", "b"], on_loss=on_loss, log=lambda m: None)
    assert [t for t, _, _ in seen] == [1, 2, 3]
    assert [loss for _, loss, _ in seen] == [result.outer_losses[t] for t in (1, 2, 3)]
    # when step 1 was reported it was already in worker 0's log, before the run went on
    assert "outer 1 loss" in seen[0][2] and "outer 2 loss" not in seen[0][2]
    for rank in (0, 1):
        logged = [line for line in (tmp_path / "logs" / f"w{rank}.log").read_text()
                  .splitlines() if line.startswith("outer ")]
        assert [int(line.split()[1]) for line in logged] == [1, 2, 3]
    code, out, _ = _cli([str(tmp_path / "cli"), "--sites", "a,b", "--config",
                         json.dumps(TINY)], capsys)
    assert code == 0 and out.splitlines()[0].startswith("outer 1 loss ")


def test_a_timeout_names_the_workers_that_did_not_report_the_step(procs):
    """"did not all reach outer step 3" did not say which worker was missing, though the
    driver knows which ones reported."""
    workers = {0: procs(0, "a", "exec sleep 60"), 1: procs(1, "b", "exec sleep 60")}
    cfg = dl.DilocoConfig(**{**TINY, "timeout_s": 1})
    with pytest.raises(RuntimeFailure) as exc:
        rd._wait_arrivals(_NoArrivals(), 3, cfg, workers, _no_restart,
                          late=lambda: [1])
    assert (f"did not all reach outer step 3 within 1 s: worker 1 at b (pid "
            f"{workers[1].proc.pid}) did not report it") in str(exc.value)
