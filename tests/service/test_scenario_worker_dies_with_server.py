"""The service reads a run's scenario in a spawned worker process; when the server is killed
during that read (its controller killed with ``kill -9``, which takes the server with it),
the worker must not outlive it: one was found still waiting for work half an hour later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SERVER = textwrap.dedent("""
    import concurrent.futures, multiprocessing, os, signal, sys, time
    from greenhop.runtime.executor import die_with_parent

    def slow():
        time.sleep(120)

    if __name__ == "__main__":
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
                1, mp_context=ctx, initializer=die_with_parent,
                initargs=(signal.SIGKILL, os.getpid())) as pool:
            pool.submit(slow)
            while not pool._processes:
                time.sleep(0.01)
            print(*pool._processes, flush=True)
            time.sleep(120)
""")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_worker_of_a_killed_server_dies_with_it(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              text=True)
    try:
        worker = int(server.stdout.readline().split()[0])
        assert _alive(worker)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), "the worker outlived its server"
    finally:
        server.kill()
        server.wait()
        server.stdout.close()


def test_the_service_reads_its_scenario_in_such_a_worker(tmp_path, monkeypatch):
    """The service's read of a run's scenario goes through a pool whose worker is started
    with that initializer (the pool is recorded; the read itself runs here)."""
    import concurrent.futures

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
    from test_controller_kit import finished_run

    from greenhop.runtime.executor import die_with_parent
    from greenhop.service.data import RunReader

    pools = []

    class Recorded:
        def __init__(self, workers, **kwargs):
            pools.append(kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, fn, *args):
            done = concurrent.futures.Future()
            done.set_result(fn(*args))
            return done

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Recorded)
    _, db, _ = finished_run(tmp_path)
    reader = RunReader(db)
    reader._load()
    assert reader._inputs is not None and reader.scenario_problem() is None
    assert [(p["initializer"], p["initargs"]) for p in pools] == \
        [(die_with_parent, (signal.SIGKILL, os.getpid()))]
