"""The event contract: the event service and its subscriptions.

Re-exported by :mod:`llmspell.events`; import from there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from ._eventproto import Handler, ProjectionResult, StreamInfo

if TYPE_CHECKING:
    from .events import Event, Projection

__all__ = ["Subscription", "EventService"]

S = TypeVar("S")


@runtime_checkable
class Subscription(Protocol):
    """A handler attached to the bus with its own bounded queue and counters."""

    id: str
    name: str
    pattern: Any
    policy: str
    maxsize: int
    delivered: int
    dropped: int
    errors: int

    @property
    def pending(self) -> int: ...

    @property
    def active(self) -> bool: ...

    def unsubscribe(self) -> None:
        """Stop: the handler is not called again; queued events are discarded."""

    async def drain(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - the documented API takes a timeout
        """Wait until every queued event has been handled."""


@runtime_checkable
class EventService(Protocol):
    """Publish, subscribe, read, replay and project events (``kernel.events``).

    The default implementation is ``llmspell.plugins.events.EventBus``; see
    ``docs/events.md`` for the behaviour every implementation must keep.
    """

    async def publish(
        self,
        event: Event | str,
        payload: Any = None,
        *,
        source: str = "",
        session_id: str | None = None,
        user_id: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        stream: str | None = None,
        cause: Event | None = None,
    ) -> Event:
        """Publish an event (or build one from a type and a payload); returns it as logged.

        The stream is ``stream``, else the event's, else its session id, else (for the
        types of ``[events] log_unscoped``) the system stream; with a stream the event is
        appended to the log before it is delivered. ``cause`` fills the causation and
        correlation ids and the session and user from the event this one reacts to.
        """
        ...

    async def publish_many(self, events: Sequence[Event | tuple[str, Mapping[str, Any]]]) -> list[Event]:
        """Publish several events; those with a stream are appended in one atomic batch."""
        ...

    def subscribe(
        self,
        pattern: str | Sequence[str],
        handler: Handler,
        *,
        policy: str | None = None,
        maxsize: int | None = None,
        name: str | None = None,
        stream: str | None = None,
        group: str | None = None,
    ) -> Subscription:
        """Attach ``handler`` (sync or async) to events matching ``pattern``; see :class:`Subscription`."""
        ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    async def wait_for(
        self,
        pattern: str | Sequence[str],
        predicate: Callable[[Event], bool] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the documented API takes a timeout
        *,
        stream: str | None = None,
    ) -> Event:
        """The next matching event delivered from now on; ``DeadlineExceeded`` after ``timeout``."""
        ...

    def read(
        self, stream: str, from_seq: int = 1, to_seq: int | None = None, *,
        limit: int | None = None, malformed: str = "raise",
    ) -> AsyncIterator[Event]:
        """The logged events of ``stream`` in order (``malformed="skip"`` skips unreadable records)."""
        ...

    def tail(
        self, stream: str | None = None, *, types: str | Sequence[str] | None = None, last: int = 10,
        follow: bool = False, poll_interval: float | None = None,
    ) -> AsyncIterator[Event]:
        """The last ``last`` logged events, then (``follow``) new ones from any process."""
        ...

    async def query(
        self, types: str | Sequence[str] | None = None, *, stream: str | None = None,
        since: datetime | None = None, until: datetime | None = None, limit: int | None = None,
        reverse: bool = False,
    ) -> list[Event]:
        """Logged events by type pattern and time range ``[since, until)``, by time."""
        ...

    async def get(self, event_id: str) -> Event | None: ...

    async def replay(
        self, stream: str, handler: Handler | Subscription, *, from_seq: int = 1, to_seq: int | None = None,
        types: str | Sequence[str] | None = None, malformed: str = "raise",
    ) -> int:
        """Give the stored events of ``stream`` to a handler or a subscription, in order."""
        ...

    async def project(
        self, stream: str, projection: Projection[S], *, to_seq: int | None = None,
        snapshot: bool = True, snapshot_every: int | None = None,
    ) -> ProjectionResult[S]:
        """Fold ``stream`` into ``projection``'s state, from its latest snapshot."""
        ...

    async def last_seq(self, stream: str) -> int: ...

    async def streams(self, prefix: str = "") -> list[StreamInfo]: ...

    async def delete_stream(self, stream: str) -> int:
        """Delete a whole stream (a deleted session's history) and its snapshots."""
        ...

    async def flush(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - the documented API takes a timeout
        """Wait until every subscriber has handled every event queued so far."""
        ...

    def stats(self) -> Mapping[str, Any]: ...
