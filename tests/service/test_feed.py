"""The shared event feed: streams that start behind what it keeps read the database, and
every stream gets every event once, in order."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from servicekit import memory_run, rows

from greenhop.service.data import RunReader
from greenhop.service.feed import EventFeed


@pytest.fixture(scope="module")
def run_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("feed") / "run.db"
    assert memory_run(db)["status"] == "done"
    return db


async def _collect(feed: EventFeed, after: int, n: int) -> list[int]:
    ids: list[int] = []
    agen = feed.messages(after)
    while len(ids) < n:
        chunk = await asyncio.wait_for(agen.__anext__(), 10)
        ids += [int(m) for m in re.findall(r"^id: (\d+)$", chunk, flags=re.M)]
    await agen.aclose()
    return ids


@pytest.mark.parametrize("keep", [10, 20_000])
def test_every_stream_gets_every_event_once_in_order(run_db, keep):
    want = [r["seq"] for r in rows(run_db, "SELECT seq FROM events ORDER BY seq")]

    async def main():
        feed = EventFeed(RunReader(run_db), poll_s=0.01, keep=keep)
        first = await _collect(feed, 0, len(want))
        # once the feed has moved on, a stream from the start (behind what it keeps, with
        # keep=10) and one from the middle read the rest from the database
        late = await _collect(feed, 0, len(want))
        mid = await _collect(feed, want[len(want) // 2], len(want) - len(want) // 2 - 1)
        feed._task.cancel()
        return first, late, mid

    first, late, mid = asyncio.run(main())
    assert first == want and late == want
    assert mid == want[len(want) // 2 + 1:]


def test_a_message_is_the_events_json(run_db):
    from greenhop.service.feed import sse_message

    ev = RunReader(run_db).events(0, 1)[0]
    msg = sse_message(ev)
    head, data = msg.split("data: ")
    assert head == f"id: {ev['id']}\nevent: run-start\n" and msg.endswith("\n\n")
    assert json.loads(data) == ev


def _strict(token: str):
    raise AssertionError(f"{token} is not JSON")


def test_a_nan_in_an_event_is_null_in_the_stream_as_in_the_events_api(run_db, tmp_path):
    """The stream wrote ``NaN`` (no JSON: EventSource clients' JSON.parse throws) where
    /api/v1/events writes null for the same event."""
    import httpx
    from servicekit import edited_copy, served

    seq = rows(run_db, "SELECT MAX(seq) AS s FROM events WHERE kind = 'booked'")[0]["s"]
    db = edited_copy(run_db, tmp_path / "run.db",
                     "UPDATE events SET body = '{\"renewable_w\": [NaN, 1.5, Infinity]}' "
                     f"WHERE seq = {seq}")
    with served(db) as url, httpx.Client(base_url=url, timeout=20) as c:
        api = c.get("/api/v1/events", params={"after": seq - 1, "limit": 1}).text
        with c.stream("GET", "/api/v1/events/stream", params={"after": seq - 1}) as r:
            data = next(line[6:] for line in r.iter_lines() if line.startswith("data: "))
    ev = json.loads(data, parse_constant=_strict)
    assert ev["id"] == seq and ev["data"]["renewable_w"] == [None, 1.5, None]
    assert json.loads(api, parse_constant=_strict) == [ev]
    assert data == api[1:-1]  # one encoder: the same bytes


def test_a_booked_step_of_unknown_renewable_power_stores_null_not_nan():
    """record_step wrote NaN (invalid JSON in the database) when the step's power was no
    longer the latest."""
    import contextlib
    from types import SimpleNamespace

    import numpy as np

    from greenhop.core.errors import RuntimeFailure
    from greenhop.runtime.operate import record_step

    def gone(t):
        raise RuntimeFailure("not the latest step")

    stored = []
    books = SimpleNamespace(grid_w=np.ones((2, 3)), demand_w=np.ones((2, 3)),
                            job_load_w=np.zeros((2, 3)))
    led = SimpleNamespace(core=SimpleNamespace(books=books,
                                               power=SimpleNamespace(renewable_at=gone)),
                          dt=900.0, forecasts=None)
    store = SimpleNamespace(tx=contextlib.nullcontext,
                            event=lambda t, kind, body: stored.append((t, kind, body)))
    record_step(SimpleNamespace(ledger=led, store=store), 1)
    (t, kind, body), = stored
    assert (t, kind) == (1, "booked") and body["renewable_w"] == [None, None, None]
    json.dumps(body, allow_nan=False)  # strict JSON


def test_the_dashboard_listens_for_every_kind_of_event_a_run_logs():
    """The page refreshes on each event of the stream, but an EventSource hears only the
    `event:` names it listens for: its list lacked the grid events, suspends, resumes and
    the checkpoint and agent events, which then waited for the next poll."""
    import re
    from pathlib import Path

    from greenhop.runtime.store import EVENT_KINDS
    from greenhop.service import app

    js = (Path(app.__file__).parent / "static" / "dashboard.js").read_text()
    listed = re.search(r"var KINDS = \[(.*?)\];", js, re.S).group(1)
    assert re.findall(r'"([a-z-]+)"', listed) == list(EVENT_KINDS)


def test_a_kind_of_event_outside_the_list_is_refused(tmp_path):
    from greenhop.runtime.store import Store

    st = Store.open(tmp_path / "run.db", create=True)
    try:
        with pytest.raises(ValueError, match="'migrated' is not in EVENT_KINDS"), st.tx():
            st.event(0, "migrated", {})
    finally:
        st.close()
