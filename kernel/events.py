"""Events: the event type and the contract of the event service, log and transport.

The event service (``kernel.events``) is provided by a plugin (the default one is
``llmspell.plugins.events``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from .ids import new_id
from .serde import utcnow

__all__ = ["Event", "EventService", "EventLog", "EventTransport"]


@attrs.frozen
class Event:
    """One thing that happened, with standard metadata."""

    type: str
    payload: dict[str, Any] = attrs.Factory(dict)
    id: str = attrs.field(factory=new_id)
    time: datetime = attrs.field(factory=utcnow)
    source: str = ""
    session_id: str | None = None
    user_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    stream: str | None = None
    seq: int | None = None
    schema_version: int = 1


@runtime_checkable
class EventLog(Protocol):
    """Append-only, per-stream sequenced storage of events."""

    async def close(self) -> None: ...


@runtime_checkable
class EventTransport(Protocol):
    """Carries published events between processes."""

    async def close(self) -> None: ...


@runtime_checkable
class EventService(Protocol):
    """Publish, subscribe, read and replay events."""

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
    ) -> Event:
        """Publish an event (or build one from a type and a payload); returns it as logged."""
        ...
