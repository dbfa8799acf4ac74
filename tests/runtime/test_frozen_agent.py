"""A site agent that is alive but does not answer (SIGSTOP: a frozen process) is noticed
and replaced, on real agent processes: a checkpoint listing gives up on it after
``AGENT_ANSWER_S`` and reads the site's directory instead, it is not asked again for a
while, and the next use of the agent (a transfer's start) finds it silent, kills it and
starts another. Before, every look at the site blocked the controller's loop for 30 s
and the frozen agent failed every transfer through it until the job failed."""

from __future__ import annotations

import os
import signal

import pytest

from greenhop.runtime import agent_client
from greenhop.runtime import executor as ex_mod
from greenhop.runtime.agent_client import agent_health
from greenhop.runtime.executor import LocalExecutor


@pytest.fixture
def agents(tmp_path, monkeypatch):
    monkeypatch.setattr(ex_mod, "AGENT_ANSWER_S", 1.0)
    ex = LocalExecutor(tmp_path)
    ex.start_agents(["a", "b"], [1e9, 1e9])
    yield ex
    for proc, _ in ex.agents.values():
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
    ex.stop_agents()


def test_a_frozen_agent_is_listed_from_disk_then_replaced_on_its_next_use(agents,
                                                                         monkeypatch):
    ex = agents
    frozen = ex.agents["a"][0]
    os.kill(frozen.pid, signal.SIGSTOP)
    asked = []
    assert ex.manifests("job-a", "a") == []  # no answer: the site's directory (empty)
    assert "a" in ex._silent_since
    monkeypatch.setattr(agent_client, "list_remote", lambda *a, **k: asked.append(a) or [])
    assert ex.manifests("job-a", "a") == [] and asked == []  # not asked again for a while
    assert ex.manifests("job-a", "b") == [] and len(asked) == 1  # the other one is
    pid, new_url = ex.ensure_agent("a")
    assert pid != frozen.pid and frozen.poll() is not None  # killed, and another started
    assert agent_health(new_url, 10.0, credentials=ex.creds)["pid"] == pid
    assert "a" not in ex._silent_since
    b_pid = ex.agents["b"][0].pid
    ex._silent_since["b"] = 0.0  # a failed transfer marks both ends: a live one is kept
    assert ex.ensure_agent("b")[0] == b_pid and ex.agents["b"][0].poll() is None


def test_an_agent_frozen_during_a_transfer_is_restarted_and_the_pull_retried(tmp_path,
                                                                            monkeypatch):
    """A destination agent frozen (SIGSTOP) while it pulled a checkpoint held the transfer,
    the move and the run for as long as it stayed frozen (up to the pull's 600 s timeout):
    its health is now asked while the transfer runs, and a silent one is restarted, which
    ends the pull; the retry lands the checkpoint."""
    import time

    torch = pytest.importorskip("torch")
    from greenhop.workload import save_checkpoint

    monkeypatch.setattr(ex_mod, "AGENT_ANSWER_S", 1.0)
    ex = LocalExecutor(tmp_path)
    ex.transfer_check_s = 0.5
    ex.start_agents(["a", "b"], [2e6, 2e6])  # 2 Mbit/s: the 1.6 MB pull takes about 6 s
    try:
        g = torch.Generator().manual_seed(3)
        save_checkpoint(ex.job_dir("job-a", "a"), 42,
                        {"model": {"w": torch.randn(400_000, generator=g)}})
        frozen = ex.agents["b"][0]
        ex.start_transfer("job-a", "a", "b", 1)
        time.sleep(1.0)
        assert ex.transfer_status("job-a", 1)[0] == "running"
        os.kill(frozen.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        while ex.transfer_status("job-a", 1)[0] == "running" and time.monotonic() - t0 < 60:
            time.sleep(0.1)
        state, why = ex.transfer_status("job-a", 1)
        assert state == "failed" and time.monotonic() - t0 < 20, (state, why)
        assert frozen.poll() is not None and ex.agents["b"][0].pid != frozen.pid
        ex.start_transfer("job-a", "a", "b", 2)  # the controller's retry
        while ex.transfer_status("job-a", 2)[0] == "running" and time.monotonic() - t0 < 60:
            time.sleep(0.1)
        assert ex.transfer_status("job-a", 2)[0] == "done"
        assert ex.checkpoint_step("job-a", "b") == 42
    finally:
        for proc, _ in ex.agents.values():
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
        ex.stop_agents()
