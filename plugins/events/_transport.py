"""The ``local`` transport: published events come straight back in, in this process only.

A cross-process transport implements the same :class:`~llmspell.plugins.events.backend.EventTransport`
protocol; how one would map it:

* ``publish`` sends the envelope with its position (``codec.encode(event,
  position=True)``) on a channel every process listens to (Redis ``PUBLISH``, PostgreSQL
  ``NOTIFY`` with the event id when the payload is too large, a NATS subject); each
  process's reader decodes it with ``EventCodec.for_kernel(kernel)`` and calls
  ``inbox.deliver(event)``: its own events included, so local and remote subscribers
  see one order per publisher. The event was logged by its publisher before it was
  sent; receivers do not log it again.
* ``join(group, patterns)`` creates or joins a durable work-sharing consumer (a Redis
  Streams consumer group, a NATS queue group, ``SELECT ... FOR UPDATE SKIP LOCKED`` on
  PostgreSQL); each event the server assigns to this process goes to
  ``inbox.deliver_group(group, event)``, which resolves once the group's local trigger
  queued it (ack then).
* Pub/sub transports may lose events while a process is down; the log is the record.
  Code that must see every event reads the log (``tail(follow=True)``, ``replay``).
"""

from __future__ import annotations

from collections.abc import Sequence

from llmspell.plugins.events.api import Event, TopicPattern, compile_patterns
from llmspell.plugins.events.backend import TransportInbox

__all__ = ["LocalTransport"]


class LocalTransport:
    """Delivers in this process: ``publish`` hands the event to the inbox directly."""

    def __init__(self) -> None:
        self._inbox: TransportInbox | None = None
        self._groups: dict[str, TopicPattern] = {}

    async def start(self, inbox: TransportInbox) -> None:
        self._inbox = inbox

    async def publish(self, event: Event) -> None:
        inbox = self._inbox
        if inbox is None:
            raise RuntimeError("the local event transport is not started")
        await inbox.deliver(event)
        if self._groups:
            for group, pattern in list(self._groups.items()):
                if pattern.match(event.type):
                    await inbox.deliver_group(group, event)

    def wants(self, type_name: str) -> bool:
        """Whether a work-sharing group in this process takes events of this type."""
        return any(pattern.match(type_name) for pattern in self._groups.values())

    async def join(self, group: str, patterns: Sequence[str]) -> None:
        known = self._groups.get(group)
        merged = (*known.patterns, *patterns) if known else tuple(patterns)
        self._groups[group] = compile_patterns(tuple(dict.fromkeys(merged)))

    async def leave(self, group: str) -> None:
        self._groups.pop(group, None)

    async def close(self) -> None:
        self._inbox = None
        self._groups.clear()
