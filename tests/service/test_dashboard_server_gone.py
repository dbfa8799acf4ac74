"""The dashboard in headless Chromium when its server goes away: the page says so, and
how old what it shows is, where it kept saying the run was live and "polling meanwhile"
while every poll failed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from servicekit import memory_run, served

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "viz"))
import chromekit

pytestmark = pytest.mark.slow


def _state(drv) -> tuple[str, str, str]:
    return tuple(drv.execute_script(
        "const b = document.getElementById('live-status');"
        "const s = document.getElementById('run-status');"
        "return [b.textContent, b.className, s.className + '|' + s.textContent];"))


def test_a_page_whose_server_stopped_says_so_and_marks_the_status_stale(tmp_path):
    db = tmp_path / "run.db"
    assert memory_run(db)["status"] == "done"
    drv = chromekit.driver(tmp_path)
    try:
        with served(db) as url:
            drv.get(url + "/")
            deadline = time.monotonic() + 30
            while "done" not in _state(drv)[2]:
                assert time.monotonic() < deadline, _state(drv)
                time.sleep(0.2)
            assert "stale" not in _state(drv)[2]
        gone = time.monotonic()  # the server is stopped: the next poll (3 s) fails
        while "server unreachable since" not in _state(drv)[0]:
            assert time.monotonic() - gone < 20, _state(drv)
            time.sleep(0.2)
        badge, cls, status = _state(drv)
        assert "bad" in cls and "showing the run as read at" in badge
        assert status.startswith("stale") and status.endswith("|done")
        time.sleep(4)  # the stream's reconnects do not put "polling meanwhile" back
        assert "server unreachable since" in _state(drv)[0]
    finally:
        drv.quit()
