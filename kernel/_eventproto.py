"""The event contract: the log backend, the bus transport and their data types.

Re-exported by :mod:`llmspell.events`; import from there.

**Log backends** (:class:`EventLog`) are chosen by ``[events] backend``. The protocol is
shaped so that Redis Streams (one stream key per stream plus an id set), PostgreSQL
(``PRIMARY KEY (stream, seq)``, ``UNIQUE (id)``) and NATS JetStream (``Nats-Msg-Id``
de-duplication, expected-last-subject-sequence) can implement it: appends are atomic
batches, idempotent on event id, with gapless per-stream sequence numbers; nothing is
updated in place; a whole stream can be deleted.

**Transports** (:class:`EventTransport`) are chosen by ``[events] transport``. A
published event goes *out* through the transport and comes back *in* on every process
through the :class:`TransportInbox` the service gives it at start; the service then
hands it to the local subscribers. ``local`` hands it straight back. A cross-process
transport (Redis pub/sub, PostgreSQL LISTEN/NOTIFY, NATS) sends it to every process of
the deployment, its own included. Work-sharing groups (``join``) deliver each event to
one process of the group only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

import attrs

if TYPE_CHECKING:
    from .events import Event

__all__ = [
    "AppendResult",
    "StreamInfo",
    "Snapshot",
    "ProjectionResult",
    "Handler",
    "EventLog",
    "TransportInbox",
    "EventTransport",
]

S = TypeVar("S")

#: A subscriber: called with each event, in order; may be sync or async.
Handler = Callable[["Event"], Any]


@attrs.frozen
class AppendResult:
    """What an append stored: each event as logged (stream and seq set), in input order.

    An event whose id was already in the log (or earlier in the same batch) is not
    stored again: its entry is the event as first stored, and its id is in
    ``duplicates``.
    """

    events: list[Event]
    duplicates: frozenset[str] = frozenset()


@attrs.frozen
class StreamInfo:
    """One stream of the log."""

    name: str
    last_seq: int
    last_time: datetime | None = None


@attrs.frozen
class Snapshot:
    """A projection's state after folding ``stream`` up to ``seq`` (JSON data in ``state``)."""

    stream: str
    name: str
    version: int
    seq: int
    state: Any
    time: datetime
    schema_version: int = 1


@attrs.frozen
class ProjectionResult(Generic[S]):
    """The state of a projection, the last sequence folded and how it was reached."""

    state: S
    seq: int
    snapshot_seq: int = 0
    """The sequence of the snapshot the fold started from (0: from the beginning)."""
    applied: int = 0
    """Events passed to ``apply`` in this run."""


@runtime_checkable
class EventLog(Protocol):
    """Append-only, per-stream sequenced storage of events (a log backend)."""

    async def open(self) -> None:
        """Connect and create what is missing; called once before any other method."""

    async def close(self) -> None: ...

    async def append(self, events: Sequence[Event], *, expected_last_seq: int | None = None) -> AppendResult:
        """Append ``events`` atomically, each to its ``stream`` (required), in order.

        Each new event gets the next sequence number of its stream (1 for the first),
        with no gaps, also when several processes append at once. An event whose id is
        already stored is skipped (see :class:`AppendResult`); the ``seq`` an event
        carries is ignored. ``expected_last_seq`` (all events in one stream) makes the
        append fail with :class:`~llmspell.errors.ConflictError` unless the stream's
        last sequence is that number (0: the stream is empty). On any error nothing of
        the batch is stored.
        """
        ...

    async def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None, limit: int | None = None) -> list[Event]:
        """Events of ``stream`` with ``from_seq <= seq <= to_seq`` in order, at most ``limit``.

        A stored record that cannot be decoded raises
        :class:`~llmspell.events.MalformedEventError` with its stream and seq.
        """
        ...

    async def last_seq(self, stream: str) -> int:
        """The last sequence number of ``stream``; 0 when it has no events."""
        ...

    async def get(self, event_id: str) -> Event | None:
        """The stored event with this id, or None."""
        ...

    async def query(
        self,
        *,
        types: str | Sequence[str] | None = None,
        stream: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[Event]:
        """Events whose type matches ``types`` (patterns) and time is in ``[since, until)``.

        Ordered by event time, then stream and seq (newest first with ``reverse``).
        """
        ...

    async def streams(self, prefix: str = "") -> list[StreamInfo]:
        """Every stream whose name starts with ``prefix``, by name."""
        ...

    async def delete_stream(self, stream: str) -> int:
        """Remove a whole stream and its snapshots; returns how many events it held.

        A later append to the same name starts again at seq 1.
        """
        ...

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store a projection snapshot, replacing the previous one of its stream and name."""
        ...

    async def load_snapshot(self, stream: str, name: str) -> Snapshot | None: ...


@runtime_checkable
class TransportInbox(Protocol):
    """What a transport delivers into; given to it by the event service at start."""

    async def deliver(self, event: Event) -> None:
        """Hand an event to every local subscriber whose pattern matches."""

    async def deliver_group(self, group: str, event: Event) -> None:
        """Hand an event to this process's member of the work-sharing ``group``.

        It returns once the event is queued. An inbox may also offer ``async
        drain_group(group) -> bool``, which waits until the group's local members have
        handled what was queued (False: a member left, its queue was dropped); a
        transport that has it acknowledges events to its server only then, so work is
        never acknowledged before it is done.
        """


@runtime_checkable
class EventTransport(Protocol):
    """Carries published events to the subscribers of every process."""

    async def start(self, inbox: TransportInbox) -> None:
        """Begin receiving; events are handed to ``inbox`` from now on."""

    async def publish(self, event: Event) -> None:
        """Send an event (already logged, if it has a stream) to every process, this one included."""

    async def join(self, group: str, patterns: Sequence[str]) -> None:
        """Become a member of a work-sharing group that receives events matching ``patterns``.

        Each matching event goes to ``inbox.deliver_group(group, event)`` in exactly one
        member process (``local``: this one).
        """

    async def leave(self, group: str) -> None: ...

    async def close(self) -> None: ...


#: A coroutine function receiving events (what transports and triggers call).
Deliver = Callable[["Event"], Awaitable[None]]
