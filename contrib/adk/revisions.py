"""Session revisions: the log says which revision a session is at; the record follows it.

Revision ``n`` of an ADK session is made by its ``n``-th ``adk.event`` event. The session
record's metadata repeats the revision and the last update time (what listing needs);
it is written after the event, so after a crash it may lag behind the log. Reading the
revision checks the newest logged event and, when the record lags, replays the state
deltas of the events it missed and moves the record on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from google.adk.errors._stale_session_error import StaleSessionError

from llmspell.plugins.sessions.api import Session
from llmspell.serde import utcnow

from .names import EVENT_TYPE

if TYPE_CHECKING:
    from .sessions import LlmspellSessionService

__all__ = ["STALE_MESSAGE", "Revisions", "StaleSessionError"]

#: What ADK's database session service says to a stale writer, word for word (callers and
#: ADK's own tests match the text); said on every path that refuses one.
STALE_MESSAGE = (
    "The session has been modified in storage since it was loaded. "
    "Please reload the session before appending more events."
)


_UNREAD = object()


def _meta(session: Session) -> dict[str, Any]:
    meta = session.metadata.get("adk")
    return meta if isinstance(meta, dict) else {}


class Revisions:
    def __init__(self, service: LlmspellSessionService) -> None:
        self.service = service

    async def newest(self, sid: str) -> dict[str, Any] | None:
        """The payload of the newest ``adk.event`` of a session, or None."""
        found = await self.service.kernel.events.query(EVENT_TYPE, stream=sid, reverse=True, limit=1)
        return found[0].payload if found else None

    async def current(
        self, record: Session, newest: object = _UNREAD
    ) -> tuple[Session, int, dict[str, Any] | None]:
        """The record (repaired if it lagged), its revision and its newest event's payload
        (``newest``: that payload when the caller has just read it from the log)."""
        stored = int(_meta(record).get("revision", 0))
        if newest is _UNREAD:
            newest = await self.newest(record.id)
        assert newest is None or isinstance(newest, dict)
        logged = 0 if newest is None else int(newest["revision"])
        if logged > stored:
            record = await self._repair(record, stored)
        return record, max(stored, logged), newest

    async def _repair(self, record: Session, stored: int) -> Session:
        service = self.service
        events = await service.kernel.events.query(EVENT_TYPE, stream=record.id)
        missed = [e.payload for e in events if int(e.payload["revision"]) > stored]
        meta = _meta(record)
        app, user = record.app, record.user_id or ""
        last = meta.get("last_update_time", 0.0)
        for payload in missed:
            delta = (payload["event"].get("actions") or {}).get("state_delta") or {}
            await service.apply_delta(app, user, record.id, delta)
            last = payload["event"].get("timestamp", last)
        return await self.advance(record.id, int(missed[-1]["revision"]) if missed else stored, last)

    async def advance(self, sid: str, revision: int, timestamp: float) -> Session:
        """Record ``revision`` and its time in the session record (never backwards); touch it."""
        now = utcnow()

        def apply(session: Session) -> Session:
            meta = dict(_meta(session))
            if int(meta.get("revision", 0)) >= revision:
                return session
            meta.update(revision=revision, last_update_time=timestamp)
            expires = None if session.ttl is None else now + timedelta(seconds=session.ttl)
            return session.replace(
                metadata={**session.metadata, "adk": meta}, last_active_at=now, expires_at=expires
            )

        updated: Session = await self.service.kernel.sessions.update(sid, apply)
        return updated
