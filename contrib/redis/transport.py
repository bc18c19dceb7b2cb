"""The ``redis`` event transport: a bus on one Redis Stream, and consumer groups on it.

**Why a stream and not pub/sub.** ``publish`` appends the event (its envelope with
stream and seq) to one Redis Stream, ``{prefix:bus}:bus``, capped near ``[redis]
bus_maxlen`` entries. Every process reads it with ``XREAD BLOCK`` from the last entry it
has seen. Compared with ``PUBLISH``/``SUBSCRIBE`` this costs the same one round trip per
event, but:

* a reader that loses its connection (a network blip, a Redis restart with persistence)
  resumes from its last entry instead of silently missing what was sent meanwhile;
* all publishers' events are in one total order, the stream's, so every process sees
  the same interleaving;
* the same stream feeds the consumer groups, so work sharing needs no second write.

The publishing process hands the event to its own subscribers directly, at once (so
``publish`` followed by ``flush`` behaves as with the ``local`` transport) and skips it
when it comes back from Redis. Other processes receive it from the stream in order.

**Work-sharing groups** (``triggers.add(..., group="name")``): ``join`` creates the
Redis consumer group ``name`` on the bus stream (starting at the events published from
then on) and runs a consumer named after this process. It takes up to ``[redis]
group_batch`` entries with ``XREADGROUP``, hands the matching events to the local
members, waits until they are handled, then ``XACK`` them. Entries another consumer
left unacknowledged for ``[redis] claim_idle`` seconds (it died, or hangs) are taken over
with ``XAUTOCLAIM``; while a slow handler runs, the consumer renews its claim. Events of
the bus that match none of the group's patterns are acknowledged unhandled. Every
process of a group must register the same triggers for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from llmspell.errors import BackendUnavailable
from llmspell.ids import new_id
from llmspell.plugins.events.api import Event, MalformedEventError, TopicPattern, compile_patterns
from llmspell.plugins.events.backend import EventCodec, TransportInbox

from .._worksharing import RecentIds, settle
from ._client import RedisConnection, keyspace
from .config import RedisConfig

__all__ = ["RedisTransport"]

log = logging.getLogger("llmspell.contrib.redis")


class RedisTransport:
    """An :class:`~llmspell.plugins.events.backend.EventTransport` across processes, on a Redis Stream."""

    def __init__(self, config: RedisConfig, codec: EventCodec | None = None, *, space: str | None = None) -> None:
        self.config = config
        self.codec = codec or EventCodec()
        self.space = space or keyspace(config, "bus")
        self.bus = (self.space + "bus").encode()
        self.origin = new_id()
        """This process's token: its own events are not delivered twice."""
        self.conn = RedisConnection(config, "bus")
        self.reader = RedisConnection(config, "bus-reader")
        self._inbox: TransportInbox | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._groups: dict[str, TopicPattern] = {}
        self._stopping: set[str] = set()
        self._recent = RecentIds()
        self._block_ms = int(1000 * min(config.block, config.timeout / 2))
        self._closed = False
        self.received = 0
        self.acked = 0

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, inbox: TransportInbox) -> None:
        await self.conn.open()
        await self.reader.open()
        last = await self.conn.call(lambda c: c.xrevrange(self.bus, "+", "-", count=1))
        self._inbox = inbox
        start = last[0][0] if last else b"0-0"
        self._tasks[""] = asyncio.get_running_loop().create_task(self._read(start), name="llmspell-redis-bus")

    async def close(self) -> None:
        self._closed = True
        self._stopping.update(self._tasks)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            # A read cancelled inside redis-py may not end at once; closing the pools ends it.
            await asyncio.wait(tasks, timeout=2)
        self._tasks.clear()
        self._groups.clear()
        self._inbox = None
        await self.reader.close()
        await self.conn.close()

    async def health(self) -> list[str]:
        return await self.conn.health()

    # -- fan-out ---------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        inbox = self._inbox
        if inbox is None:
            raise BackendUnavailable("the redis event transport is not started")
        fields = {b"o": self.origin.encode(), b"e": self.codec.encode(event, position=True)}
        await self.conn.call(
            lambda c: c.xadd(self.bus, fields, maxlen=self.config.bus_maxlen, approximate=True), write=True
        )
        await inbox.deliver(event)

    async def _read(self, last: bytes) -> None:
        origin = self.origin.encode()
        failures = 0
        while not self._closed:
            try:
                reply = await self.reader.run("xread", {self.bus: last}, count=500, block=self._block_ms)
                failures = 0
                for _, entries in reply or ():
                    for entry_id, fields in entries:
                        last = entry_id
                        if fields.get(b"o") == origin:
                            continue
                        event = self._decode(fields)
                        if event is None or self._recent.seen(event.id):
                            continue
                        self.received += 1
                        inbox = self._inbox
                        if inbox is not None:
                            await inbox.deliver(event)
            except Exception as exc:  # noqa: BLE001 - the reader outlives any one failure
                if self._closed or _cancelling():
                    raise asyncio.CancelledError from exc
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    log.warning("redis event bus: %s: %s; retrying", type(exc).__name__, exc)
                await asyncio.sleep(min(0.05 * 2**failures, 2.0))

    def _decode(self, fields: dict[bytes, Any]) -> Event | None:
        try:
            return self.codec.decode(fields.get(b"e", b""))
        except MalformedEventError as exc:
            log.warning("redis event bus: skipped a malformed event: %s", exc)
            return None

    # -- work-sharing groups ----------------------------------------------------------

    async def join(self, group: str, patterns: Sequence[str]) -> None:
        known = self._groups.get(group)
        merged = (*known.patterns, *patterns) if known else tuple(patterns)
        self._groups[group] = compile_patterns(tuple(dict.fromkeys(merged)))
        if group in self._tasks:
            return
        from redis.exceptions import ResponseError

        async def create(client: Any) -> None:
            try:
                await client.xgroup_create(self.bus, group, id="$", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

        await self.conn.call(create, write=True)
        self._stopping.discard(group)
        self._tasks[group] = asyncio.get_running_loop().create_task(
            self._consume(group), name=f"llmspell-redis-group:{group}"
        )

    async def leave(self, group: str) -> None:
        """Stop taking work for ``group`` after the batch in hand is handled and acknowledged."""
        self._groups.pop(group, None)
        task = self._tasks.pop(group, None)
        if task is None:
            return
        self._stopping.add(group)
        try:
            await asyncio.wait_for(asyncio.shield(task), self.config.claim_idle)
        except TimeoutError:
            task.cancel()
        pending = await self.conn.call(
            lambda c: c.xpending_range(self.bus, group, "-", "+", 1, consumername=self.origin)
        )
        if not pending:
            await self.conn.call(lambda c: c.xgroup_delconsumer(self.bus, group, self.origin), write=True)

    async def _consume(self, group: str) -> None:
        failures = 0
        next_claim = 0.0
        while group not in self._stopping and not self._closed:
            try:
                entries: list[Any] = []
                if time.monotonic() >= next_claim:
                    entries = await self._claim(group)
                    next_claim = time.monotonic() + self.config.claim_idle / 2
                if not entries:
                    reply = await self.reader.call(lambda c: c.xreadgroup(
                        group, self.origin, {self.bus: ">"}, count=self.config.group_batch, block=self._block_ms
                    ))
                    entries = [e for _, found in reply or () for e in found]
                if entries:
                    await self._handle(group, entries)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the consumer outlives any one failure
                if self._closed or _cancelling():
                    raise asyncio.CancelledError from exc
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    log.warning("redis work-sharing group %s: %s: %s; retrying", group, type(exc).__name__, exc)
                await asyncio.sleep(min(0.05 * 2**failures, 2.0))

    async def _claim(self, group: str) -> list[Any]:
        idle_ms = int(self.config.claim_idle * 1000)
        reply = await self.reader.call(lambda c: c.xautoclaim(
            self.bus, group, self.origin, idle_ms, start_id="0-0", count=self.config.group_batch
        ))
        return [entry for entry in reply[1] if entry and entry[1] is not None]

    async def _handle(self, group: str, entries: list[Any]) -> None:
        pattern = self._groups.get(group)
        ids = [entry_id for entry_id, _ in entries]
        events = []
        for _, fields in entries:
            event = self._decode(fields)
            if event is not None and pattern is not None and pattern.match(event.type):
                events.append(event)
        inbox = self._inbox
        if inbox is None:
            return
        self.received += len(events)

        async def renew() -> None:
            await self.conn.call(lambda c: c.xclaim(self.bus, group, self.origin, 0, ids, justid=True), write=True)

        if await settle(inbox, group, events, keepalive=renew, every=self.config.claim_idle / 3):
            await self.conn.call(lambda c: c.xack(self.bus, group, *ids), write=True)
            self.acked += len(events)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
