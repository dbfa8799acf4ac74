"""Helpers of the service tests (no tests here): a finished run database made by the real
controller on simulated processes, and the service on a real uvicorn server."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

RUNTIME_TESTS = Path(__file__).resolve().parents[1] / "runtime"
if str(RUNTIME_TESTS) not in sys.path:
    sys.path.insert(0, str(RUNTIME_TESTS))

from test_controller_kit import (  # noqa: E402, F401
    LIVE,
    edited_copy,
    greenhop_cmd,
    memory_controller,
)

from greenhop.runtime.controller import Controller  # noqa: E402
from greenhop.runtime.memory import InMemoryExecutor  # noqa: E402

TOKEN = "s3cret-operator-token-0123456789"


class ScriptedController(Controller):
    """The real controller; an operator's requests are filed at the steps of ``plan``
    (``{step: [(kind, target), ...]}``) just before the controller looks for them."""

    plan: ClassVar[dict] = {}

    def _operator_actions(self, t: int) -> None:
        for kind, target in self.plan.get(t, []):
            self.store.request_operator(kind, target)
        super()._operator_actions(t)


def memory_run(db: Path, plan: dict | None = None, path: Path = LIVE) -> dict:
    """Run a scenario (the live 3-site one) to the end on simulated processes; returns the
    summary."""
    cls = type("Scripted", (ScriptedController,), {"plan": dict(plan or {})})
    ctl = memory_controller(db, InMemoryExecutor(), path=path, cls=cls)
    try:
        ctl.prepare()
        return ctl.run()
    finally:
        ctl.store.close()


def rows(db: Path, query: str, *args) -> list[dict]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(query, args)]
    finally:
        con.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedURL(str):
    """The base URL of a served app, with the app itself as ``.app``."""

    app = None


@contextlib.contextmanager
def served(db: Path, token: str | None = None):
    """The service of ``db`` on a real uvicorn server in a thread; yields its base URL
    (a :class:`ServedURL`)."""
    import uvicorn

    from greenhop.service.app import create_app

    port = free_port()
    app = create_app(db, token=token)
    app.state.reader.scenario_inputs(wait=True)  # every view complete from the first request
    cfg = uvicorn.Config(app, host="127.0.0.1", port=port,
                         log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    server = uvicorn.Server(cfg)
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not th.is_alive():
            raise AssertionError("the service did not start")
        time.sleep(0.02)
    try:
        url = ServedURL(f"http://127.0.0.1:{port}")
        url.app = app
        yield url
    finally:
        server.should_exit = True
        th.join(timeout=10)


def sse_events(lines, until_kinds=("run-done",)):
    """Server-sent events from an iterator of lines: ``{"id", "event", "data"}`` dicts, in
    order, up to and including the first whose kind is in ``until_kinds``."""
    import json

    cur: dict = {}
    for line in lines:
        if line.startswith("id: "):
            cur["id"] = int(line[4:])
        elif line.startswith("event: "):
            cur["event"] = line[7:]
        elif line.startswith("data: "):
            cur["data"] = json.loads(line[6:])
        elif line == "" and "id" in cur:
            yield cur
            if cur["event"] in until_kinds:
                return
            cur = {}
