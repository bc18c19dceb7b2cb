"""The ``nats`` event transport: a bus on a JetStream stream, and durable pull consumers.

``publish`` stores the event (its envelope with stream and seq) in the stream
``<prefix>_bus`` under the subject ``<prefix>.bus.<event type>``, with ``Nats-Msg-Id``
set to the event id (JetStream drops a retried publish of the same event within
``[nats] duplicate_window``), and waits for JetStream's acknowledgement. The bus keeps
events for ``[nats] bus_max_age`` seconds (at most ``bus_max_msgs``).

**Fan-out.** Every process reads the bus through an *ordered consumer* starting at the
events published after it started: JetStream delivers in the stream's order, the same
for every process, and the client resumes from its last message after a reconnect. The
publishing process hands the event to its own subscribers at once and skips it when it
comes back.

**Work-sharing groups.** ``join(group, patterns)`` binds to the durable pull consumer
``g_<group>`` on the bus (created by the group's first member, starting at the events
published from then on; with one pattern it filters on the server, ``agent.**`` being
``<prefix>.bus.agent.>``). Members fetch up to ``[nats] group_batch`` events, hand the
matching ones to the local triggers and acknowledge them once handled. An event not
acknowledged within ``[nats] ack_wait`` seconds (the member died) is redelivered to
another member; while a slow handler runs the member sends "in progress" so that does
not happen early. Events that match none of the group's patterns are acknowledged
unhandled. Every process of a group must register the same triggers for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from llmspell.errors import BackendUnavailable
from llmspell.ids import new_id
from llmspell.plugins.events.api import Event, MalformedEventError, TopicPattern, compile_patterns
from llmspell.plugins.events.backend import EventCodec, TransportInbox

from .._worksharing import RecentIds, settle
from ._client import NatsConnection
from ._jetstream import JetStream, JetStreamError
from .config import NatsConfig
from .naming import token

__all__ = ["NatsTransport", "subject_filter"]

log = logging.getLogger("llmspell.contrib.nats")
_ORIGIN = "Llmspell-Origin"


def subject_filter(prefix: str, patterns: Sequence[str]) -> str:
    """The subject filter of a group: exact for one pattern whose ``**`` (if any) is last."""
    if len(patterns) == 1:
        segments = patterns[0].split(".")
        if "**" not in segments[:-1]:
            return prefix + ".".join(">" if s == "**" else s for s in segments)
    return prefix + ">"


class NatsTransport:
    """An :class:`~llmspell.plugins.events.backend.EventTransport` across processes, on JetStream."""

    def __init__(self, config: NatsConfig, codec: EventCodec | None = None, *, prefix: str | None = None) -> None:
        self.config = config
        self.codec = codec or EventCodec()
        p = prefix or config.prefix
        self.stream = f"{p}_bus"
        self.subject_prefix = f"{p}.bus."
        self.origin = new_id()
        self.conn = NatsConnection(config, "bus")
        self.jetstream = JetStream(self.conn)
        self._inbox: TransportInbox | None = None
        self._fanout: Any = None
        self._groups: dict[str, TopicPattern] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._subs: dict[str, Any] = {}
        self._stopping: set[str] = set()
        self._recent = RecentIds()
        self._closed = False
        self.received = 0
        self.acked = 0

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, inbox: TransportInbox) -> None:
        from nats.js.api import DeliverPolicy, DiscardPolicy

        await self.conn.open()
        await self.jetstream.ensure_stream(
            name=self.stream, subjects=[self.subject_prefix + ">"], max_age=self.config.bus_max_age,
            max_msgs=self.config.bus_max_msgs, discard=DiscardPolicy.OLD,
            duplicate_window=min(self.config.duplicate_window, self.config.bus_max_age),
        )
        self._inbox = inbox
        self._closed = False
        self._fanout = await self.conn.call(lambda: self.conn.js.subscribe(
            self.subject_prefix + ">", stream=self.stream, ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW, cb=self._on_message,
        ))

    async def close(self) -> None:
        self._closed = True
        self._stopping.update(self._tasks)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self._tasks.clear()
        self._groups.clear()
        self._inbox = None
        fanout, self._fanout = self._fanout, None
        if fanout is not None:
            try:
                await fanout.unsubscribe()
            except Exception:  # noqa: BLE001 - the connection closes next anyway
                pass
        await self.conn.close()

    async def health(self) -> list[str]:
        try:
            await self.jetstream.info(self.stream)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return [f"event bus on {self.conn.where}: {type(exc).__name__}: {exc}"]
        return []

    # -- fan-out ---------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        inbox = self._inbox
        if inbox is None:
            raise BackendUnavailable("the nats event transport is not started")
        data = self.codec.encode(event, position=True)
        headers = {_ORIGIN: self.origin, "Nats-Msg-Id": event.id}
        (ack,) = await self.jetstream.publish_many([(self.subject_prefix + event.type, data, headers)])
        if isinstance(ack, JetStreamError):
            raise BackendUnavailable(f"JetStream refused event {event.id} on the bus: {ack.description} "
                                     f"(error {ack.err_code})")
        if not ack.duplicate:  # a duplicate was delivered when it was first published
            self._recent.seen(event.id)
            await inbox.deliver(event)

    def _decode(self, msg: Any) -> Event | None:
        try:
            return self.codec.decode(msg.data)
        except MalformedEventError as exc:
            log.warning("nats event bus: skipped a malformed event: %s", exc)
            return None

    async def _on_message(self, msg: Any) -> None:
        if self._closed or (msg.headers or {}).get(_ORIGIN) == self.origin:
            return
        event = self._decode(msg)
        if event is None or self._recent.seen(event.id):
            return
        inbox = self._inbox
        if inbox is not None:
            self.received += 1
            await inbox.deliver(event)

    # -- work-sharing groups ----------------------------------------------------------

    async def join(self, group: str, patterns: Sequence[str]) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        known = self._groups.get(group)
        merged = (*known.patterns, *patterns) if known else tuple(patterns)
        self._groups[group] = compile_patterns(tuple(dict.fromkeys(merged)))
        if group in self._tasks:
            return
        durable = "g_" + token(group)
        config = ConsumerConfig(
            durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=self.config.ack_wait,
            deliver_policy=DeliverPolicy.NEW, max_deliver=-1, max_ack_pending=max(1000, 32 * self.config.group_batch),
            filter_subject=subject_filter(self.subject_prefix, self._groups[group].patterns),
        )
        sub = await self.conn.call(lambda: self.conn.js.pull_subscribe(
            config.filter_subject, durable=durable, stream=self.stream, config=config), write=True)
        self._subs[group] = sub
        self._stopping.discard(group)
        self._tasks[group] = asyncio.get_running_loop().create_task(
            self._consume(group, sub), name=f"llmspell-nats-group:{group}"
        )

    async def leave(self, group: str) -> None:
        """Stop taking work for ``group`` after the batch in hand is handled and acknowledged."""
        self._groups.pop(group, None)
        task = self._tasks.pop(group, None)
        sub = self._subs.pop(group, None)
        if task is None:
            return
        self._stopping.add(group)
        try:
            await asyncio.wait_for(asyncio.shield(task), self.config.ack_wait)
        except TimeoutError:
            task.cancel()
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception:  # noqa: BLE001 - the connection may be gone
                pass
        if self.conn.nc is not None:
            await self.conn.call(lambda: self.conn.nc.flush(self.config.timeout))  # the acks reach the server

    async def _consume(self, group: str, sub: Any) -> None:
        import nats.errors

        failures = 0
        wait = min(1.0, self.config.timeout / 2)
        while group not in self._stopping and not self._closed:
            try:
                try:
                    msgs = await sub.fetch(self.config.group_batch, timeout=wait)
                except nats.errors.TimeoutError:
                    continue
                await self._handle(group, msgs)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the consumer outlives any one failure
                task = asyncio.current_task()
                if self._closed or (task is not None and task.cancelling()):
                    raise asyncio.CancelledError from exc
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    log.warning("nats work-sharing group %s: %s: %s; retrying", group, type(exc).__name__, exc)
                await asyncio.sleep(min(0.05 * 2**failures, 2.0))

    async def _handle(self, group: str, msgs: list[Any]) -> None:
        pattern = self._groups.get(group)
        events = []
        for msg in msgs:
            event = self._decode(msg)
            if event is not None and pattern is not None and pattern.match(event.type):
                events.append(event)
        inbox = self._inbox
        if inbox is None:
            return
        self.received += len(events)

        async def renew() -> None:
            for msg in msgs:
                await msg.in_progress()

        if await settle(inbox, group, events, keepalive=renew, every=self.config.ack_wait / 3):
            for msg in msgs:
                await msg.ack()
            self.acked += len(events)
        else:
            for msg in msgs:
                await msg.nak()
