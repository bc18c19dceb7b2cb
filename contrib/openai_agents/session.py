"""The OpenAI Agents SDK's ``Session`` protocol on llmspell sessions and events.

``Runner.run(agent, text, session=LlmspellSession("conversation-1", kernel))``. The
conversation is the event stream of an llmspell session: each item is an
``openai.item`` event (one ``add_items`` call is one atomic append), and ``pop_item``
appends an ``openai.item.popped`` event naming the item it removed. The log is never
rewritten; ``clear_session`` deletes the llmspell session, with its stream.

Reading folds the stream into the live items. A session object keeps what it folded
and reads only the events appended since (by any process), checking that the stream is
still the one it folded. Two processes popping at once cannot both remove one item: the
removal event's id is derived from the item, so the log stores it once and the loser
moves on to the next item.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import Any

import orjson
from agents.memory.session_settings import SessionSettings, resolve_session_limit

from llmspell.errors import NotFoundError, ValidationError
from llmspell.events import Event
from llmspell.ids import new_id
from llmspell.serde import check_json, utcnow
from llmspell.sessions import SessionStatus

from .._interop import Bridge, session_id_for

__all__ = ["LlmspellSession", "ITEM", "POPPED", "APP"]

ITEM = "openai.item"
POPPED = "openai.item.popped"
APP = "openai-agents"
_NAMESPACE = uuid.UUID("0c5e7a12-3b4d-4e6f-8a9b-1c2d3e4f5a6b")


class LlmspellSession:
    """One conversation of the OpenAI Agents SDK, kept in an llmspell session.

    ``session_id`` is the SDK's id (also the llmspell session id when it is a valid one);
    ``user_id`` owns the llmspell session, ``app`` names it, ``ttl`` expires it after
    that many idle seconds. ``session_settings.limit`` is the default ``get_items`` limit.
    """

    def __init__(
        self,
        session_id: str,
        kernel: Any,
        *,
        user_id: str | None = None,
        app: str = APP,
        ttl: float | None = None,
        session_settings: SessionSettings | None = None,
        loop: Any = None,
    ) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise ValidationError(f"a session id must be a non-empty string, got {session_id!r}")
        self.session_id = session_id
        self.session_settings = session_settings or SessionSettings()
        self.kernel = kernel
        self.user_id = user_id
        self.app = app
        self.ttl = ttl
        self.bridge = Bridge(kernel, loop)
        self.sid = session_id_for(session_id, prefix="oa")
        self._items: OrderedDict[int, tuple[str, bytes]] = OrderedDict()  # seq -> (event id, item JSON)
        self._seq = 0
        self._last_id: str | None = None
        self._created = False

    # -- the stream ---------------------------------------------------------------

    def _reset(self) -> None:
        self._items.clear()
        self._seq = 0
        self._last_id = None

    async def _fold(self) -> None:
        """Bring the folded items up to date with the stream (from any process)."""
        start = self._seq if self._seq else 1
        events = [e async for e in self.kernel.events.read(self.sid, from_seq=start)]
        if self._seq:
            if not events or events[0].id != self._last_id:  # the stream was deleted and started again
                self._reset()
                events = [e async for e in self.kernel.events.read(self.sid)]
            else:
                events = events[1:]
        for event in events:
            if event.type == ITEM:
                self._items[event.seq or 0] = (event.id, orjson.dumps(event.payload["item"]))
            elif event.type == POPPED:
                self._items.pop(event.payload["seq"], None)
        if events:
            self._seq = events[-1].seq or 0
            self._last_id = events[-1].id

    async def _live(self) -> bool:
        """Whether the conversation exists and has not expired (creating nothing)."""
        if self.ttl is None:
            return True
        try:
            session = await self.kernel.sessions.get(self.sid)
        except NotFoundError:
            return True
        if session.status is SessionStatus.EXPIRED:
            return False
        return session.expires_at is None or session.expires_at > utcnow()

    async def _ensure(self) -> None:
        """Create the llmspell session on the first write; start an expired one over; keep it alive."""
        sessions = self.kernel.sessions
        if self._created and self.ttl is None:
            return
        if self.ttl is not None and not await self._live():
            try:
                await sessions.delete(self.sid)
            except NotFoundError:
                pass
            self._reset()
            self._created = False
        if not self._created:
            try:
                await sessions.create(
                    session_id=self.sid, app=self.app, user_id=self.user_id, ttl=self.ttl,
                    title=f"OpenAI Agents session {self.session_id}"[:200],
                    metadata={"openai_agents": {"session_id": self.session_id}},
                )
                self._created = True
                return
            except ValidationError:  # it exists already
                self._created = True
        if self.ttl is not None:
            await sessions.touch(self.sid)

    # -- the Session protocol -----------------------------------------------------

    async def get_items(self, limit: int | None = None) -> list[Any]:
        """The conversation, oldest first; with ``limit``, only its last ``limit`` items."""
        return await self.bridge.run(self._get_items(resolve_session_limit(limit, self.session_settings)))

    async def _get_items(self, limit: int | None) -> list[Any]:
        if not await self._live():
            return []
        await self._fold()
        stored = [raw for _, raw in self._items.values()]
        if limit is not None and limit >= 0:
            stored = stored[len(stored) - limit :] if limit else []
        return [orjson.loads(raw) for raw in stored]

    async def add_items(self, items: list[Any]) -> None:
        """Append items (JSON data, as the SDK makes them) in one atomic write."""
        if not items:
            return
        for i, item in enumerate(items):
            check_json(item, f"$[{i}]")
        await self.bridge.run(self._add_items(items))

    async def _add_items(self, items: list[Any]) -> None:
        await self._ensure()
        await self.kernel.events.publish_many([
            Event(ITEM, {"item": item}, session_id=self.sid, user_id=self.user_id, stream=self.sid, source="openai-agents")
            for item in items
        ])

    async def pop_item(self) -> Any | None:
        """Remove and return the newest item; None when the conversation is empty."""
        return await self.bridge.run(self._pop_item())

    async def _pop_item(self) -> Any | None:
        while True:
            await self._fold()
            if not self._items:
                return None
            seq, (item_id, raw) = next(reversed(self._items.items()))
            token = new_id()
            stored = await self.kernel.events.publish(Event(
                POPPED, {"seq": seq, "by": token}, id=str(uuid.uuid5(_NAMESPACE, f"popped/{item_id}")),
                session_id=self.sid, user_id=self.user_id, stream=self.sid, source="openai-agents",
            ))
            if stored.payload.get("by") == token:
                self._items.pop(seq, None)
                return orjson.loads(raw)
            # another process removed that item first: look again

    async def clear_session(self) -> None:
        """Delete the conversation: its llmspell session, events and state."""
        await self.bridge.run(self._clear())

    async def _clear(self) -> None:
        try:
            await self.kernel.sessions.delete(self.sid)
        except NotFoundError:
            await self.kernel.events.delete_stream(self.sid)
        self._reset()
        self._created = False

    # -- what the SDK lacks -------------------------------------------------------

    @classmethod
    async def list_sessions(cls, kernel: Any, *, user_id: str | None = None, app: str = APP) -> list[str]:
        """The session ids of the conversations of ``app`` (of one user), newest first."""

        async def collect() -> list[str]:
            found: list[str] = []
            cursor = None
            while True:
                filters: dict[str, Any] = {"app": app, "limit": 1000, "cursor": cursor}
                if user_id is not None:
                    filters["user_id"] = user_id
                page = await kernel.sessions.list(**filters)
                for record in page.items:
                    meta = record.metadata.get("openai_agents")
                    if isinstance(meta, dict) and session_id_for(str(meta.get("session_id")), prefix="oa") == record.id:
                        found.append(str(meta["session_id"]))
                if page.next_cursor is None:
                    return found
                cursor = page.next_cursor

        return await Bridge(kernel).run(collect())

    def __repr__(self) -> str:
        return f"<LlmspellSession {self.session_id!r} (llmspell session {self.sid})>"
