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
