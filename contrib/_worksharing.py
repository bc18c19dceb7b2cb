"""What the Redis and NATS transports share: ack-after-handling and duplicate filtering.

A work-sharing transport takes a batch of events from its server (a Redis Streams
consumer group, a JetStream durable pull consumer), hands the matching ones to the
event service's group members and acknowledges the batch only once those members have
handled it (:func:`settle`). While a slow handler runs, ``keepalive`` tells the server
the work is still in progress, so it is not handed to another process meanwhile. A
process that dies before acknowledging leaves the events pending, and the server
redelivers them to a live member: at-least-once, with duplicates only for the batch a
dying process had already (partly) handled.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from llmspell.plugins.events.api import Event
from llmspell.plugins.events.backend import TransportInbox

__all__ = ["settle", "RecentIds"]

log = logging.getLogger("llmspell.contrib")


async def settle(
    inbox: TransportInbox,
    group: str,
    events: Sequence[Event],
    *,
    keepalive: Callable[[], Awaitable[Any]] | None = None,
    every: float = 10.0,
) -> bool:
    """Deliver ``events`` to ``group`` and wait until they are handled; True: acknowledge them."""
    for event in events:
        await inbox.deliver_group(group, event)
    drain = getattr(inbox, "drain_group", None)
    if drain is None:  # an inbox that cannot tell: acknowledge once queued
        return True
    task = asyncio.ensure_future(drain(group))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return bool(task.result())
            if keepalive is not None:
                try:
                    await keepalive()
                except Exception as exc:  # noqa: BLE001 - a missed keepalive only risks a redelivery
                    log.warning("work-sharing group %s: could not extend the lease: %s", group, exc)
    finally:
        if not task.done():
            task.cancel()


class RecentIds:
    """The last ``size`` event ids seen, to drop a fan-out event delivered twice."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, event_id: str) -> bool:
        """Whether ``event_id`` was seen before; remembers it either way."""
        if event_id in self._ids:
            return True
        self._ids[event_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return False
