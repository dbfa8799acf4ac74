"""One poller of the run's event log shared by every server-sent-events stream.

Fifty dashboards each polling the database four times a second would cost the run
two hundred queries a second; instead :class:`EventFeed` asks once per ``poll_s`` for the
events after the newest it has, keeps the latest ones formatted as SSE messages, and wakes
every stream. A stream that starts (or resumes from ``Last-Event-ID``) further back than
what is kept reads those events from the database first; the database stays the truth.
The poller outlives a database it cannot read for a while (moved away, locked, replaced):
it says so once in the log and tries again every :data:`RETRY_S`.
"""

import asyncio
import bisect
import logging

from greenhop.service.data import RunReader, json_text

log = logging.getLogger(__name__)

RETRY_S = 1.0
"""Pause before the poller reads a database it could not read again [s]."""


def sse_message(event: dict) -> str:
    """One event as a server-sent-events message (``id``, ``event`` = kind, ``data``: the
    event's JSON as ``/api/v1/events`` writes it, so strict: a NaN is null)."""
    return f"id: {event['id']}\nevent: {event['kind']}\ndata: {json_text(event)}\n\n"


class EventFeed:
    """The shared poller (see the module docstring).

    Args:
        reader: the run database's reader.
        poll_s: how often the event log is read [s].
        keep: messages kept in memory (the oldest half is dropped past it).
        ping_s: a comment line after this long without events keeps proxies from closing
            the stream [s].
    """

    def __init__(self, reader: RunReader, poll_s: float = 0.25, keep: int = 20_000,
                 ping_s: float = 15.0) -> None:
        self.reader = reader
        self.poll_s = poll_s
        self.keep = keep
        self.ping_s = ping_s
        self.ids: list[int] = []
        self.msgs: list[str] = []
        self.last_id = 0
        self._cond: asyncio.Condition | None = None
        self._task: asyncio.Task | None = None

    async def _call(self, fn, *args):
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(fn, *args)

    def _start(self) -> None:
        if self._cond is None:  # one for good: streams already waiting keep theirs
            self._cond = asyncio.Condition()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        failing = False
        while True:
            try:
                evs = await self._call(self.reader.events, self.last_id, 2000)
            except Exception as exc:  # the one poller of every stream must not die of it
                if not failing:  # one line per outage, not one per try
                    log.warning("greenhop serve: cannot read the run's events (%s); "
                                "trying again every %g s", exc, RETRY_S)
                    failing = True
                await asyncio.sleep(RETRY_S)
                continue
            if failing:
                log.warning("greenhop serve: the run's events are readable again")
                failing = False
            if evs:
                self.ids.extend(e["id"] for e in evs)
                self.msgs.extend(sse_message(e) for e in evs)
                self.last_id = evs[-1]["id"]
                if len(self.ids) > self.keep:
                    cut = len(self.ids) // 2
                    del self.ids[:cut]
                    del self.msgs[:cut]
                async with self._cond:
                    self._cond.notify_all()
                if len(evs) == 2000:
                    continue
            await asyncio.sleep(self.poll_s)

    async def messages(self, after: int):
        """Every event with id > ``after`` as an SSE message, in order, then new ones as
        they come (a comment line every ``ping_s`` without any)."""
        self._start()
        cur = after
        while True:
            if cur < self.last_id and not (self.ids and self.ids[0] <= cur + 1):
                evs = await self._call(self.reader.events, cur, 1000)  # behind: the database
                if evs:
                    cur = evs[-1]["id"]
                    yield "".join(sse_message(e) for e in evs)  # one write per batch
                    continue
            i = bisect.bisect_right(self.ids, cur)
            if i < len(self.ids):
                cur = self.ids[-1]
                yield "".join(self.msgs[i:])  # one write per batch
                continue
            try:
                async with self._cond:
                    await asyncio.wait_for(self._cond.wait(), self.ping_s)
            except TimeoutError:
                yield ": ping\n\n"
