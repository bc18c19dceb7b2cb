"""The ``postgres`` event transport: LISTEN/NOTIFY carries published events to every process.

``publish`` sends the event's envelope with its position as the payload of
``pg_notify(channel, ...)``; each process keeps one dedicated connection that
``LISTEN``\\s on the channel and hands every notification, in order, to its inbox: its
own events included, so local and remote subscribers see one order. PostgreSQL
delivers notifications in commit order, so events one process publishes one after the
other arrive everywhere in that order.

A notification payload is limited to 8000 bytes: a larger envelope is written to the
``event_spill`` table in the same statement and the notification carries its key; the
receivers read it from there (spilled rows are removed after ``SPILL_TTL``).

Work-sharing groups (``join``): every member process receives every notification; for
an event matching the group, the members race to insert ``(group, event id)`` into
``event_group_claims`` and only the winner hands it to ``deliver_group``. Each event is
handled by one live member; an event whose winner dies before handling it is not
redelivered (use a consumer-group transport for that, or read the log).

Like every pub/sub transport, a process that is disconnected misses what is published
meanwhile; the listener reconnects by itself (``[postgres] reconnect_delay``). The log is
the record: code that must see every event reads it (``tail(follow=True)``, ``replay``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from llmspell.errors import BackendUnavailable
from llmspell.ids import new_id
from llmspell.plugins.events.api import Event, TopicPattern, compile_patterns
from llmspell.plugins.events.backend import EventCodec, TransportInbox

from ._db import Database

__all__ = ["NotifyTransport", "MAX_PAYLOAD", "SPILL_TTL"]

log = logging.getLogger("llmspell.contrib.postgres")

#: Largest payload sent inline (PostgreSQL's limit is 8000 bytes).
MAX_PAYLOAD = 7900
#: Seconds a spilled envelope is kept for receivers to read.
SPILL_TTL = 3600


class NotifyTransport:
    """An :class:`~llmspell.plugins.events.backend.EventTransport` over PostgreSQL LISTEN/NOTIFY."""

    def __init__(self, db: Database, codec: EventCodec | None = None, *, channel: str = "llmspell_events",
                 reconnect_delay: float = 0.5) -> None:
        self.db = db
        self.codec = codec or EventCodec()
        self.channel = f"{channel}_{db.schema}"[:63]
        self.reconnect_delay = reconnect_delay
        self.received = 0
        self.reconnects = 0
        self._inbox: TransportInbox | None = None
        self._groups: dict[str, TopicPattern] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._conn: Any = None
        self._acquired = False
        s = db.s
        self._notify = "SELECT pg_notify(%s, %s)"
        self._spill = (
            f"WITH gone AS (DELETE FROM {s}.event_spill WHERE created < now() - interval '{SPILL_TTL} seconds'), "
            f"put AS (INSERT INTO {s}.event_spill (id, data) VALUES (%s, %s)) SELECT pg_notify(%s, %s)"
        )
        self._fetch = f"SELECT data FROM {s}.event_spill WHERE id = %s"
        self._claim = (
            f"INSERT INTO {s}.event_group_claims (grp, event_id) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1"
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, inbox: TransportInbox) -> None:
        await self.db.acquire()
        self._acquired = True
        self._inbox = inbox
        self._task = asyncio.get_running_loop().create_task(self._listen(), name=f"llmspell-listen-{self.channel}")
        timeout = self.db.config.connect_timeout
        waiter = asyncio.ensure_future(self._ready.wait())
        done, _ = await asyncio.wait({waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            await self.close()
            raise BackendUnavailable(
                f"cannot LISTEN on PostgreSQL at {self.db.where} within {timeout}s ([postgres] connect_timeout)"
            )

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._inbox = None
        self._groups.clear()
        if self._acquired:
            self._acquired = False
            await self.db.release()

    # -- sending -------------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        if self._inbox is None:
            raise RuntimeError("the postgres event transport is not started")
        text = self.codec.encode(event, position=True).decode()
        async with self.db.connection() as conn:
            if len(text.encode()) <= MAX_PAYLOAD:
                await conn.execute(self._notify, (self.channel, "i" + text))
            else:
                key = new_id()
                await conn.execute(self._spill, (key, text.encode(), self.channel, "r" + key))

    async def join(self, group: str, patterns: Sequence[str]) -> None:
        known = self._groups.get(group)
        merged = (*known.patterns, *patterns) if known else tuple(patterns)
        self._groups[group] = compile_patterns(tuple(dict.fromkeys(merged)))

    async def leave(self, group: str) -> None:
        self._groups.pop(group, None)

    # -- receiving -----------------------------------------------------------------------

    async def _listen(self) -> None:
        import psycopg

        delay = self.reconnect_delay
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.db.config.dsn, autocommit=True,
                    connect_timeout=max(1, round(self.db.config.connect_timeout)),
                )
            except (psycopg.OperationalError, OSError) as exc:
                log.warning("postgres transport: cannot connect to %s (%s); retrying in %.1fs",
                            self.db.where, str(exc).strip().splitlines()[0] if str(exc).strip() else exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            try:
                await conn.execute(f'LISTEN "{self.channel}"')
                if self._ready.is_set():
                    self.reconnects += 1
                    log.warning("postgres transport: listening again on %s (events published meanwhile were missed)",
                                self.db.where)
                self._ready.set()
                delay = self.reconnect_delay
                async for notify in conn.notifies():
                    await self._receive(notify.payload)
            except (psycopg.OperationalError, OSError) as exc:
                log.warning("postgres transport: lost the listening connection to %s (%s); reconnecting",
                            self.db.where, exc)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
            await asyncio.sleep(delay)

    async def _receive(self, payload: str) -> None:
        inbox = self._inbox
        if inbox is None or not payload:
            return
        try:
            if payload[0] == "r":
                data = await self._spilled(payload[1:])
                if data is None:
                    log.warning("postgres transport: spilled event %s is gone; skipped", payload[1:])
                    return
            else:
                data = payload[1:].encode()
            event = self.codec.decode(data)
        except Exception:  # a malformed or unreadable notification must not stop the listener
            log.exception("postgres transport: cannot read a notification; skipped")
            return
        self.received += 1
        try:
            await inbox.deliver(event)
            for group, pattern in list(self._groups.items()):
                if pattern.match(event.type) and await self._won(group, event.id):
                    await inbox.deliver_group(group, event)
        except Exception:  # delivery problems are the subscribers'; the listener goes on
            log.exception("postgres transport: delivering event %s failed", event.id)

    async def _spilled(self, key: str) -> bytes | None:
        async with self.db.connection() as conn:
            cur = await conn.execute(self._fetch, (key,), binary=True)
            row = await cur.fetchone()
        return None if row is None else bytes(row[0])

    async def _won(self, group: str, event_id: str) -> bool:
        try:
            async with self.db.connection() as conn:
                cur = await conn.execute(self._claim, (group, event_id))
                return await cur.fetchone() is not None
        except BackendUnavailable as exc:
            log.warning("postgres transport: cannot claim event %s for group %s: %s", event_id, group, exc)
            return False
