"""ADK's ``BaseSessionService`` on llmspell sessions, state and events.

``Runner(..., session_service=LlmspellSessionService(kernel))``. Behaviour follows ADK's
``InMemorySessionService`` (and its ``DatabaseSessionService`` where only a persistent
store can say anything, such as stale writers); see :mod:`.names` for where things live.

**An append is committed by its event.** Each ADK event of a session is an
``adk.event`` event on the llmspell session's stream, with an llmspell event id derived
from the session and the revision it creates. Two writers that both start from revision
``n`` publish events with the same id; the log stores one of them, and the other gets
ADK's ``StaleSessionError`` (a caller holding a session that another writer has moved
on is refused the same way, before anything is written). After the event, its state
delta is written to llmspell state and the session record (revision, last update time,
TTL) is updated; a crash between those steps is repaired from the log the next time the
session is read or written.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event as AdkEvent
from google.adk.platform import time as platform_time
from google.adk.platform import uuid as platform_uuid
from google.adk.sessions import _session_util
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
    ListSessionsResponse,
)
from google.adk.sessions.session import Session as AdkSession
from google.adk.sessions.state import State

from llmspell.errors import NotFoundError, ValidationError
from llmspell.plugins.events.api import Event
from llmspell.plugins.sessions.api import Session, SessionQuery, SessionStatus
from llmspell.plugins.state.api import KeyWrite

from .._interop import Bridge
from .names import EVENT_TYPE, session_id, user_key, user_key_prefix
from .revisions import STALE_MESSAGE, Revisions, StaleSessionError

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["LlmspellSessionService", "EVENT_TYPE"]

_NAMESPACE = uuid.UUID("6f1b2a5e-8f3c-4d7a-9c1e-2b4d6a8f0c13")


def _adk(session: Session) -> dict[str, Any] | None:
    meta = session.metadata.get("adk")
    return meta if isinstance(meta, dict) else None


def _live(record: Session) -> bool:
    """Whether ``record`` is an ADK session that has not expired."""
    return _adk(record) is not None and record.status is not SessionStatus.EXPIRED and not (
        record.expires_at is not None and record.expires_at <= datetime.now(UTC) and record.is_open
    )


class LlmspellSessionService(BaseSessionService):
    """ADK sessions as llmspell sessions; ``ttl`` expires sessions idle that many seconds."""

    def __init__(self, kernel: Kernel, *, ttl: float | None = None, loop: Any = None) -> None:
        self.kernel = kernel
        self.ttl = ttl
        self.bridge = Bridge(kernel, loop)
        self.revisions = Revisions(self)

    # -- helpers --------------------------------------------------------------------

    async def _record(self, app_name: str, user_id: str, adk_id: str) -> Session | None:
        record = await self.kernel.sessions.find(session_id(app_name, user_id, adk_id))
        return record if record is not None and _live(record) else None

    async def merged_state(self, app_name: str, user_id: str, sid: str) -> dict[str, Any]:
        """Session state with the app's (``app:``) and the user's (``user:``) merged in."""
        state = self.kernel.state
        merged = {item.key: item.value async for item in state.scope("session", sid).scan()}
        merged.update(await self._prefixed(app_name, user_id))
        return merged

    async def _prefixed(self, app_name: str, user_id: str | None) -> dict[str, Any]:
        state = self.kernel.state
        out = {State.APP_PREFIX + item.key: item.value async for item in state.scope("app", app_name).scan()}
        if user_id is not None:
            prefix = user_key_prefix(app_name)
            async for item in state.scope("user", user_id).scan(prefix):
                out[State.USER_PREFIX + item.key[len(prefix) :]] = item.value
        return out

    async def apply_delta(self, app_name: str, user_id: str, sid: str, delta: dict[str, Any]) -> None:
        """Write a state delta: ``app:`` and ``user:`` keys to their scopes, the rest to the session."""
        if not delta:
            return
        parts = _session_util.extract_json_safe_state_delta(delta)
        state = self.kernel.state
        writes = []  # one all-or-nothing write over the three scopes
        if parts["app"]:
            scope = state.scope("app", app_name)
            writes += [KeyWrite(scope, key, value) for key, value in parts["app"].items()]
        if parts["user"]:
            scope = state.scope("user", user_id)
            writes += [KeyWrite(scope, user_key(app_name, key), value) for key, value in parts["user"].items()]
        if parts["session"]:
            scope = state.scope("session", sid)
            writes += [KeyWrite(scope, key, value) for key, value in parts["session"].items()]
        if writes:
            await state.write_many(writes)

    def event_id(self, record: Session, revision: int) -> str:
        """The llmspell id of the event that makes ``revision`` of a session."""
        return str(uuid.uuid5(_NAMESPACE, f"{record.id}/{record.created_at.isoformat()}/{revision}"))

    # -- BaseSessionService -----------------------------------------------------------

    async def create_session(
        self, *, app_name: str, user_id: str, state: dict[str, Any] | None = None, session_id: str | None = None,
    ) -> AdkSession:
        return await self.bridge.run(self._create(app_name, user_id, state, session_id))

    async def _create(
        self, app_name: str, user_id: str, state: dict[str, Any] | None, adk_id: str | None
    ) -> AdkSession:
        adk_id = (adk_id.strip() if adk_id else None) or platform_uuid.new_uuid()
        sid = session_id(app_name, user_id, adk_id)
        now = platform_time.get_time()
        found = await self.kernel.sessions.find(sid)
        if found is not None and _live(found):
            raise AlreadyExistsError(f"Session with id {adk_id} already exists.")
        if found is not None:  # an expired session of that id is gone: its id may be used again
            try:
                await self.kernel.sessions.delete(sid)
            except NotFoundError:
                pass
        try:
            await self.kernel.sessions.create(
                session_id=sid, app=app_name, user_id=user_id, title=f"ADK session {adk_id}"[:200], ttl=self.ttl,
                metadata={"adk": {"session_id": adk_id, "revision": 0, "last_update_time": now}},
            )
        except ValidationError:
            raise AlreadyExistsError(f"Session with id {adk_id} already exists.") from None
        await self.apply_delta(app_name, user_id, sid, dict(state or {}))
        session = AdkSession(
            app_name=app_name, user_id=user_id, id=adk_id,
            state=await self.merged_state(app_name, user_id, sid), last_update_time=now,
        )
        session._storage_update_marker = "0"
        return session

    async def get_session(
        self, *, app_name: str, user_id: str, session_id: str, config: GetSessionConfig | None = None,
    ) -> AdkSession | None:
        return await self.bridge.run(self._get(app_name, user_id, session_id, config))

    async def _get(self, app_name: str, user_id: str, adk_id: str, config: GetSessionConfig | None) -> AdkSession | None:
        adk_id = adk_id.strip() if adk_id else adk_id
        recent = None if config is None else config.num_recent_events
        # One read of the log gives both the events and the newest one (the revision),
        # and it runs on the log's thread while the record and the state are read here.
        reading = asyncio.ensure_future(self.kernel.events.query(
            EVENT_TYPE, stream=session_id(app_name, user_id, adk_id), reverse=recent is not None,
            limit=1 if recent == 0 else recent,
        ))
        try:
            record = await self._record(app_name, user_id, adk_id)
            state = None if record is None else await self.merged_state(app_name, user_id, record.id)
        finally:
            logged = await reading
        if record is None or state is None:
            return None
        newest = None if not logged else logged[0 if recent is not None else -1].payload
        revision_before = int((_adk(record) or {}).get("revision", 0))
        record, revision, _ = await self.revisions.current(record, newest)
        if revision > revision_before:  # the record lagged the log: repaired, state included
            state = await self.merged_state(app_name, user_id, record.id)
        if recent == 0:
            logged = []
        elif recent is not None:
            logged.reverse()
        events = [AdkEvent.model_validate(e.payload["event"]) for e in logged]
        if config is not None and config.after_timestamp is not None:
            i = len(events) - 1
            while i >= 0 and events[i].timestamp >= config.after_timestamp:
                i -= 1
            events = events[i + 1 :]
        meta = _adk(record) or {}
        session = AdkSession(
            app_name=app_name, user_id=user_id, id=adk_id, events=events, state=state,
            last_update_time=meta.get("last_update_time", record.updated_at.timestamp()),
        )
        session._storage_update_marker = str(revision)
        return session

    async def list_sessions(self, *, app_name: str, user_id: str | None = None) -> ListSessionsResponse:
        return await self.bridge.run(self._list(app_name, user_id))

    async def _list(self, app_name: str, user_id: str | None) -> ListSessionsResponse:
        listed: list[tuple[Session, dict[str, Any]]] = []
        cursor = None
        now = datetime.now(UTC)
        while True:
            page = await self.kernel.sessions.list(
                SessionQuery(app=app_name, user_id=user_id, limit=1000, cursor=cursor)
            )
            for record in page.items:
                meta = _adk(record)
                if meta is None or record.user_id is None or record.status is SessionStatus.EXPIRED:
                    continue
                if record.expires_at is not None and record.expires_at <= now and record.is_open:
                    continue
                listed.append((record, meta))
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        # The state of every listed session in one read, and the app's and each user's once.
        states = await self.kernel.state.scan_owners("session", [record.id for record, _ in listed])
        prefixed: dict[str, dict[str, Any]] = {}
        found: list[AdkSession] = []
        for record, meta in listed:
            user = record.user_id
            assert user is not None
            if user not in prefixed:
                prefixed[user] = await self._prefixed(app_name, user)
            state = {item.key: item.value for item in states[record.id]}
            state.update(prefixed[user])
            found.append(AdkSession(
                app_name=app_name, user_id=user, id=meta["session_id"], state=state,
                last_update_time=meta.get("last_update_time", 0.0),
            ))
        found.sort(key=lambda s: (s.last_update_time, s.user_id, s.id))
        return ListSessionsResponse(sessions=found)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        await self.bridge.run(self._delete(app_name, user_id, session_id))

    async def _delete(self, app_name: str, user_id: str, adk_id: str) -> None:
        try:
            await self.kernel.sessions.delete(session_id(app_name, user_id, adk_id.strip()))
        except NotFoundError:
            return

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            prefix = user_key_prefix(app_name)
            return {
                item.key[len(prefix) :]: item.value
                async for item in self.kernel.state.scope("user", user_id).scan(prefix)
            }

        return await self.bridge.run(read())

    async def append_event(self, session: AdkSession, event: AdkEvent) -> AdkEvent:
        if event.partial:
            return event
        if not await self.bridge.run(self._append(session, event)):
            return event  # delivered again: stored once, the session left as it was
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        return self._commit_event_to_session(session, event)

    async def _append(self, session: AdkSession, event: AdkEvent) -> bool:
        """Store ``event`` (its delta without ``temp:`` keys); False if it was stored already."""
        record = await self._record(session.app_name, session.user_id, session.id)
        if record is None:
            raise SessionNotFoundError(f"Session {session.id} not found.")
        record, revision, newest = await self.revisions.current(record)
        dumped = event.model_dump(exclude_none=True, mode="json")
        delta = {k: v for k, v in (event.actions.state_delta or {}).items() if not k.startswith(State.TEMP_PREFIX)}
        if "actions" in dumped and "state_delta" in dumped["actions"]:
            dumped["actions"]["state_delta"] = {k: v for k, v in dumped["actions"]["state_delta"].items() if k in delta}
        payload = {"revision": revision + 1, "event": dumped}
        marker = session._storage_update_marker
        if newest is not None and newest["event"] == dumped and marker in (None, str(revision)):
            session._storage_update_marker = str(revision)
            return False
        if marker is not None and marker != str(revision):
            raise StaleSessionError(STALE_MESSAGE)
        logged = await self.kernel.events.publish(Event(
            EVENT_TYPE, payload, id=self.event_id(record, revision + 1),
            time=datetime.fromtimestamp(event.timestamp, UTC), source="adk",
            session_id=record.id, user_id=session.user_id, stream=record.id,
        ))
        if logged.payload != payload:
            raise StaleSessionError(STALE_MESSAGE)
        await self.apply_delta(session.app_name, session.user_id, record.id, delta)
        await self.revisions.advance(record.id, revision + 1, event.timestamp)
        session._storage_update_marker = str(revision + 1)
        session.last_update_time = event.timestamp
        return True
