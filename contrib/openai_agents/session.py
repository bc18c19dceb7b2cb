"""The OpenAI Agents SDK's ``Session`` protocol on llmspell sessions and events.

``Runner.run(agent, text, session=LlmspellSession("conversation-1", kernel))``. The
conversation is the event stream of an llmspell session: each item is an
``openai.item`` event (one ``add_items`` call is one atomic append), and ``pop_item``
appends an ``openai.item.popped`` event naming the item it removed. The log is never
rewritten; ``clear_session`` deletes the llmspell session, with its stream.

Reading folds the stream into the live items. A session object keeps what it folded
and reads only the events appended since (by any process), checking that the stream is
still the one it folded.

Compaction (``OpenAIResponsesCompactionSession``) replaces items: an
``openai.items.replaced`` event removes named items (or all of them) and adds the
compacted ones in their place, in one append. A removal that must not race (``pop_item``,
the suffix replacement of a compaction snapshot) names the last change it was computed
on; folding applies it only if no other change came in between, so every reader agrees
on the outcome and the writer learns it by folding. Two processes popping at once cannot
both remove one item: the removal event's id is derived from the item and the change it
follows, so the log stores it once and the loser looks again.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from agents.memory.session import _CompactionSnapshot
from agents.memory.session_settings import SessionSettings, coerce_session_settings, resolve_session_limit

from llmspell.errors import LlmspellError, NotFoundError, ValidationError
from llmspell.ids import new_id
from llmspell.plugins.events.api import Event
from llmspell.plugins.sessions.api import SessionStatus
from llmspell.serde import check_json, utcnow

from .._interop import Bridge, session_id_for

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["LlmspellSession", "InvalidSessionSettings", "SessionClosed", "ITEM", "POPPED", "REPLACED", "APP"]

ITEM = "openai.item"
POPPED = "openai.item.popped"
REPLACED = "openai.items.replaced"
APP = "openai-agents"
_NAMESPACE = uuid.UUID("0c5e7a12-3b4d-4e6f-8a9b-1c2d3e4f5a6b")
_OUTCOMES = 256  # removal outcomes remembered per session object

T = TypeVar("T")

#: An item's place in the log: (event seq, index in that event).
Key = tuple[int, int]


class SessionClosed(LlmspellError, RuntimeError):
    """The session object was closed (``close()``); a ``RuntimeError``, as the SDK's stores raise."""


class InvalidSessionSettings(ValidationError, TypeError):
    """``session_settings`` is neither a ``SessionSettings`` nor a dict of its fields.

    A ``TypeError`` too, as the SDK's own stores raise for the same input.
    """


def _settings(value: Any) -> SessionSettings:
    if value is None:
        return SessionSettings()
    try:
        return coerce_session_settings(value)
    except TypeError as exc:
        raise InvalidSessionSettings(f"session_settings: {exc}") from None


class LlmspellSession:
    """One conversation of the OpenAI Agents SDK, kept in an llmspell session.

    ``session_id`` is the SDK's id (also the llmspell session id when it is a valid one);
    ``user_id`` owns the llmspell session, ``app`` names it, ``ttl`` expires it after
    that many idle seconds. ``session_settings`` (a ``SessionSettings`` or a dict of its
    fields) holds the default ``get_items`` limit.
    """

    def __init__(
        self,
        session_id: str,
        kernel: Kernel,
        *,
        user_id: str | None = None,
        app: str = APP,
        ttl: float | None = None,
        session_settings: SessionSettings | dict[str, Any] | None = None,
        loop: Any = None,
    ) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise ValidationError(f"a session id must be a non-empty string, got {session_id!r}")
        self.session_id = session_id
        self.session_settings = _settings(session_settings)
        self.kernel = kernel
        self.user_id = user_id
        self.app = app
        self.ttl = ttl
        self.bridge = Bridge(kernel, loop)
        self.sid = session_id_for(session_id, prefix="oa")
        self._items: OrderedDict[Key, tuple[str, bytes]] = OrderedDict()  # key -> (item id, item JSON)
        self._seq = 0
        self._last_id: str | None = None
        self._changed = 0  # the seq of the last event that changed the items
        self._outcomes: OrderedDict[str, bool] = OrderedDict()  # removal event id -> applied
        self._created = False
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosed(f"{type(self).__name__} is closed (session {self.session_id!r}): make a new one")

    # -- the stream ---------------------------------------------------------------

    def _reset(self) -> None:
        self._items.clear()
        self._seq = 0
        self._last_id = None
        self._changed = 0

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
                self._items[(event.seq or 0, 0)] = (event.id, orjson.dumps(event.payload["item"]))
                self._changed = event.seq or 0
            elif event.type in (POPPED, REPLACED):
                self._outcome(event.id, self._apply(event))
        if events:
            self._seq = events[-1].seq or 0
            self._last_id = events[-1].id

    def _apply(self, event: Event) -> bool:
        """Apply a removal or replacement event; whether it applied."""
        payload = event.payload
        after = payload.get("after")
        if after is not None and after != self._changed:
            return False  # computed on items that changed since: void
        if event.type == POPPED:
            key = (payload["seq"], payload.get("index", 0))
            if self._items.pop(key, None) is None:
                return False
        else:
            if payload.get("all"):
                self._items.clear()
            for seq, index in payload.get("remove", []):
                self._items.pop((seq, index), None)
            for index, item in enumerate(payload["items"]):
                self._items[(event.seq or 0, index)] = (f"{event.id}/{index}", orjson.dumps(item))
        self._changed = event.seq or 0
        return True

    def _outcome(self, event_id: str, applied: bool) -> None:
        self._outcomes[event_id] = applied
        while len(self._outcomes) > _OUTCOMES:
            self._outcomes.popitem(last=False)

    async def _applied(self, event_id: str) -> bool:
        """Whether a removal event this object appended took effect (folding it in)."""
        await self._fold()
        return self._outcomes.get(event_id, False)

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
        """The conversation, oldest first; with ``limit``, only its last ``limit`` items.

        As in the SDK's ``SQLiteSession``: ``limit=None`` falls back to
        ``session_settings.limit``, ``0`` returns nothing, a negative limit everything.
        """
        self._check_open()
        return await self.bridge.run(self._get_items(resolve_session_limit(limit, self.session_settings)))

    async def _get_items(self, limit: int | None) -> list[Any]:
        if not await self._live():
            return []
        await self._fold()
        return [orjson.loads(raw) for _, raw in _last(list(self._items.values()), limit)]

    async def add_items(self, items: list[Any]) -> None:
        """Append items (JSON data, as the SDK makes them) in one atomic write."""
        self._check_open()
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
        self._check_open()
        return await self.bridge.run(self._pop_item())

    async def _pop_item(self) -> Any | None:
        while True:
            await self._fold()
            if not self._items:
                return None
            (seq, index), (item_id, raw) = next(reversed(self._items.items()))
            token, after = new_id(), self._changed
            stored = await self.kernel.events.publish(Event(
                POPPED, {"seq": seq, "index": index, "after": after, "by": token},
                id=str(uuid.uuid5(_NAMESPACE, f"popped/{item_id}/{after}")),
                session_id=self.sid, user_id=self.user_id, stream=self.sid, source="openai-agents",
            ))
            if stored.payload.get("by") == token and await self._applied(stored.id):
                return orjson.loads(raw)
            # another writer changed the conversation first: look again

    async def clear_session(self) -> None:
        """Delete the conversation: its llmspell session, events and state."""
        self._check_open()
        await self.bridge.run(self._clear())

    async def _clear(self) -> None:
        try:
            await self.kernel.sessions.delete(self.sid)
        except NotFoundError:
            await self.kernel.events.delete_stream(self.sid)
        self._reset()
        self._created = False

    def close(self) -> None:
        """Close this session object (the conversation stays); using it afterwards raises
        :class:`SessionClosed`. The kernel owns the connections, so nothing else is released."""
        self._closed = True

    # -- the SDK's native compaction hooks ----------------------------------------

    async def _read_compaction_items(self, limit: int | None, *, wrapper: Any = None) -> tuple[list[Any], bool]:
        """The last ``limit`` items (all with None), and whether they are the whole conversation."""
        self._check_open()
        return await self.bridge.run(self._read_items(limit))

    async def _read_items(self, limit: int | None) -> tuple[list[Any], bool]:
        if not await self._live():
            return [], True
        await self._fold()
        stored = list(self._items.values())
        window = _last(stored, limit)
        return [orjson.loads(raw) for _, raw in window], len(window) == len(stored)

    async def _atomic_replace_items(self, items: list[Any]) -> bool:
        """Replace the whole conversation with ``items`` in one append."""
        self._check_open()
        for i, item in enumerate(items):
            check_json(item, f"$[{i}]")
        await self.bridge.run(self._replace({"all": True, "items": list(items)}))
        return True

    async def _replace(self, change: dict[str, Any]) -> bool:
        await self._ensure()
        stored = await self.kernel.events.publish(Event(
            REPLACED, change, session_id=self.sid, user_id=self.user_id, stream=self.sid, source="openai-agents",
        ))
        return await self._applied(stored.id)

    async def _get_compaction_snapshot(
        self, limit: int, *, prune_prefix: Callable[[Any], bool] | None = None,
    ) -> _CompactionSnapshot:
        """The last ``limit`` items and a compare-and-set replacement of a suffix of them.

        ``replace_suffix(start, output)`` replaces the snapshot's items from ``start`` on
        with ``output`` if they are still the newest items (else it returns False and
        changes nothing), first dropping the run of oldest items ``prune_prefix`` accepts.
        """
        self._check_open()
        return await self.bridge.run(self._snapshot(limit, prune_prefix))

    async def _snapshot(self, limit: int, prune_prefix: Callable[[Any], bool] | None) -> _CompactionSnapshot:
        if await self._live():
            await self._fold()
            taken = list(self._items.items())[-limit:] if limit > 0 else []
            complete = len(taken) == len(self._items)
        else:
            taken, complete = [], True
        keys = [key for key, _ in taken]
        snapshot = [orjson.loads(raw) for _, (_, raw) in taken]

        async def replace_suffix(start: int, output: list[Any]) -> bool:
            expected = keys[start:]
            self._check_open()
            if not expected:
                return False
            for i, item in enumerate(output):
                check_json(item, f"$[{i}]")
            return await self.bridge.run(self._replace_suffix(expected, list(output), prune_prefix))

        return _CompactionSnapshot(snapshot, complete, replace_suffix)

    async def _replace_suffix(
        self, expected: list[Key], output: list[Any], prune_prefix: Callable[[Any], bool] | None,
    ) -> bool:
        if not await self._live():
            return False
        await self._fold()
        current = list(self._items)
        if current[-len(expected) :] != expected:
            return False
        remove = list(expected)
        if prune_prefix is not None:
            for key in current[: len(current) - len(expected)]:
                if not prune_prefix(orjson.loads(self._items[key][1])):
                    break
                remove.append(key)
        return await self._replace({"after": self._changed, "remove": [list(k) for k in remove], "items": output})

    # -- what the SDK lacks -------------------------------------------------------

    @classmethod
    async def list_sessions(cls, kernel: Kernel, *, user_id: str | None = None, app: str = APP) -> list[str]:
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


def _last(stored: list[T], limit: int | None) -> list[T]:
    """The last ``limit`` of ``stored`` with ``SQLiteSession``'s rules: None or negative: all; 0: none."""
    if limit is None or limit < 0:
        return stored
    return stored[-limit:] if limit else []
