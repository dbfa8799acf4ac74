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
