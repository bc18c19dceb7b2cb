"""LangGraph threads as llmspell sessions: finding, creating, expiring and listing them.

A thread's session id is the thread id itself when that is a valid session id (so
``kernel.sessions.get(thread_id)`` finds it), else a stable hash; the thread id is kept
in the session's metadata (``{"langgraph": {"thread_id": ...}}``). The first checkpoint
written to a thread creates its session (with the saver's app, user and TTL).

Session lifecycle, as the checkpointer sees it:

* **expired** (idle past its TTL): the thread is gone. Reads find nothing and the next
  write deletes the expired session and starts the thread afresh.
* **archived**: readable, but writing raises :class:`~llmspell.errors.ValidationError`.
* **interrupted** (the process holding it died): resumed on first use, which rebuilds
  its state from the event log (``kernel.sessions.resume``).
* **suspended**: resumed by the next write.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs

from llmspell.errors import ConflictError, NotFoundError, ValidationError
from llmspell.plugins.sessions.api import Session, SessionQuery, SessionStatus
from llmspell.serde import utcnow

from .._interop import session_id_for

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["Threads", "APP"]

APP = "langgraph"
S = SessionStatus
_REFRESH = 30.0
_CACHE = 4096


@attrs.frozen
class _Known:
    exists: bool
    expires_at: Any
    ttl: float | None
    status: SessionStatus | None
    fetched: float


class Threads:
    """The sessions behind the threads of one checkpointer."""

    def __init__(self, kernel: Kernel, *, app: str = APP, user_id: str | None = None, ttl: float | None = None) -> None:
        self.kernel = kernel
        self.app = app
        self.user_id = user_id
        self.ttl = ttl
        self._known: OrderedDict[str, _Known] = OrderedDict()

    # -- ids -----------------------------------------------------------------------

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def sid(thread_id: Any) -> str:
        """The session id of a thread."""
        return session_id_for(str(thread_id), prefix="lg")

    def thread_of(self, session: Session) -> str:
        """The thread id a session stands for."""
        meta = session.metadata.get("langgraph")
        if isinstance(meta, dict):
            thread = meta.get("thread_id")
            if isinstance(thread, str) and self.sid(thread) == session.id:
                return thread
        return session.id

    # -- the session of a thread ---------------------------------------------------

    def _remember(self, sid: str, session: Session | None) -> _Known:
        known = _Known(
            exists=session is not None,
            expires_at=None if session is None else session.expires_at,
            ttl=None if session is None else session.ttl,
            status=None if session is None else session.status,
            fetched=time.monotonic(),
        )
        self._known[sid] = known
        self._known.move_to_end(sid)
        while len(self._known) > _CACHE:
            self._known.popitem(last=False)
        return known

    def forget(self, sid: str) -> None:
        self._known.pop(sid, None)

    async def _lookup(self, sid: str) -> _Known:
        known = self._known.get(sid)
        if known is not None and time.monotonic() - known.fetched < _REFRESH and (
            known.expires_at is None or known.expires_at > utcnow()
        ):
            return known
        try:
            session: Session | None = await self.kernel.sessions.get(sid)
        except NotFoundError:
            session = None
        if session is not None and session.status is S.INTERRUPTED:
            session = await self.kernel.sessions.resume(sid)
        return self._remember(sid, session)

    @staticmethod
    def _expired(known: _Known) -> bool:
        if known.status is S.EXPIRED:
            return True
        return known.expires_at is not None and known.expires_at <= utcnow() and known.status in (
            S.ACTIVE, S.SUSPENDED, S.INTERRUPTED,
        )

    async def readable(self, thread_id: Any) -> str | None:
        """The session id of a thread that may hold checkpoints, None if it expired."""
        sid = self.sid(thread_id)
        known = await self._lookup(sid)
        return None if self._expired(known) else sid

    async def writable(self, thread_id: Any, config: Any) -> str:
        """The session id of a thread about to be written, creating its session if needed."""
        sid = self.sid(thread_id)
        known = await self._lookup(sid)
        sessions = self.kernel.sessions
        if known.exists and self._expired(known):
            with contextlib.suppress(NotFoundError):  # another writer is deleting it
                await sessions.delete(sid)
            self.forget(sid)
            known = _Known(False, None, None, None, time.monotonic())
        if not known.exists:
            return await self._create(sid, str(thread_id), config)
        if known.status is S.ARCHIVED:
            raise ValidationError(f"LangGraph thread {thread_id!r} is archived (llmspell session {sid}); it is read-only")
        if known.status is S.SUSPENDED:
            self._remember(sid, await sessions.resume(sid))
        elif known.ttl is not None and known.expires_at is not None:
            left = (known.expires_at - utcnow()).total_seconds()
            if left < known.ttl / 2:
                self._remember(sid, await sessions.touch(sid))
        return sid

    async def _create(self, sid: str, thread_id: str, config: Any) -> str:
        configurable = (config or {}).get("configurable", {})
        user = configurable.get("user_id") or self.user_id
        sessions = self.kernel.sessions
        for _ in range(500):
            try:
                session = await sessions.create(
                    session_id=sid,
                    app=self.app,
                    user_id=str(user) if user is not None else None,
                    title=f"LangGraph thread {thread_id}"[:200],
                    metadata={"langgraph": {"thread_id": thread_id}},
                    ttl=self.ttl,
                )
                break
            except ValidationError:  # created by another writer meanwhile, or still being deleted by one
                found = await sessions.find(sid)
                if found is not None:
                    session = found
                    break
                if await sessions.backend.get(sid) is None:
                    raise
                await asyncio.sleep(0.01)
        else:
            raise ConflictError(f"session:{sid}", expected=None, current_version=None)
        self._remember(sid, session)
        return sid

    def expires_in(self, sid: str) -> timedelta | None:
        known = self._known.get(sid)
        if known is None or known.expires_at is None:
            return None
        return known.expires_at - utcnow()

    # -- listing -------------------------------------------------------------------

    async def sessions(self, **filters: Any) -> AsyncIterator[Session]:
        """Every session of this checkpointer's app (filters: ``user_id``, ``status`` ...)."""
        cursor = None
        while True:
            page = await self.kernel.sessions.list(SessionQuery(app=self.app, limit=1000, cursor=cursor, **filters))
            for session in page.items:
                yield session
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def live(self) -> AsyncIterator[tuple[str, str]]:
        """``(thread id, session id)`` of every thread that has not expired."""
        async for session in self.sessions():
            if not self._expired(self._remember(session.id, session)):
                yield self.thread_of(session), session.id
