"""Conformance suite for session backends.

Subclass :class:`SessionBackendContract` in your backend's tests and override the
``session_backend`` fixture to yield a fresh, empty backend (isolate it with its own key
prefix, schema or namespace so the suite can run in parallel against one server)::

    class TestMyBackend(SessionBackendContract):
        @pytest_asyncio.fixture
        async def session_backend(self):
            backend = MyBackend(url, prefix=f"test-{uuid.uuid4()}")
            yield backend
            await backend.close()
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from llmspell.errors import ConflictError, ValidationError
from llmspell.plugins.sessions.api import Lease, Session, SessionQuery, SessionStatus

__all__ = ["SessionBackendContract", "make_session"]

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_session(n: int, **changes: Any) -> Session:
    """A session record ``s{n:04}`` created ``n`` minutes after a fixed time."""
    at = T0 + timedelta(minutes=n)
    base = Session(
        id=f"s{n:04}",
        app="app",
        user_id="u1",
        status=SessionStatus.ACTIVE,
        created_at=at,
        updated_at=at,
        last_active_at=at,
    )
    return attrs.evolve(base, **changes)


class SessionBackendContract:
    """Behaviour every session backend must show."""

    @pytest.fixture
    def session_backend(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError("override the session_backend fixture")

    async def test_create_then_get(self, session_backend: Any) -> None:
        lease = Lease("owner", "host", 42, 1.5, T0 + timedelta(seconds=30))
        session = make_session(1, title="t", metadata={"k": [1, {"x": None}]}, tags=("a", "b"), ttl=60.0,
                               expires_at=T0 + timedelta(hours=1), lease=lease, cleaned=("expired",))
        stored = await session_backend.put(session, expected_version=0)
        assert stored.version == 1
        assert await session_backend.get("s0001") == stored
        assert await session_backend.get("missing") is None

    async def test_create_twice_conflicts(self, session_backend: Any) -> None:
        await session_backend.put(make_session(1), expected_version=0)
        with pytest.raises(ConflictError) as info:
            await session_backend.put(make_session(1, title="other"), expected_version=0)
        assert info.value.current_version == 1
        assert info.value.current_value.title == ""

    async def test_compare_and_set(self, session_backend: Any) -> None:
        v1 = await session_backend.put(make_session(1), expected_version=0)
        v2 = await session_backend.put(attrs.evolve(v1, title="two"), expected_version=1)
        assert v2.version == 2
        with pytest.raises(ConflictError) as info:
            await session_backend.put(attrs.evolve(v1, title="stale"), expected_version=1)
        assert info.value.current_version == 2
        assert (await session_backend.get("s0001")).title == "two"
        with pytest.raises(ConflictError):
            await session_backend.put(make_session(2), expected_version=5)
        assert await session_backend.get("s0002") is None

    async def test_delete(self, session_backend: Any) -> None:
        await session_backend.put(make_session(1), expected_version=0)
        assert await session_backend.delete("s0001") is True
        assert await session_backend.get("s0001") is None
        assert await session_backend.delete("s0001") is False
        again = await session_backend.put(make_session(1), expected_version=0)
        assert again.version == 1

    async def test_list_newest_first_with_pages(self, session_backend: Any) -> None:
        for n in range(1, 26):
            await session_backend.put(make_session(n), expected_version=0)
        seen: list[str] = []
        cursor = None
        while True:
            page = await session_backend.list(SessionQuery(limit=10, cursor=cursor))
            seen.extend(s.id for s in page.items)
            assert len(page.items) <= 10
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == [f"s{n:04}" for n in range(25, 0, -1)]

    async def test_list_filters(self, session_backend: Any) -> None:
        await session_backend.put(make_session(1, user_id="u1", app="a", tags=("x", "y")), expected_version=0)
        await session_backend.put(make_session(2, user_id="u2", app="a", tags=("x",)), expected_version=0)
        await session_backend.put(
            make_session(3, user_id="u1", app="b", status=SessionStatus.SUSPENDED, parent_id="s0001",
                         expires_at=T0 + timedelta(minutes=10)),
            expected_version=0,
        )

        async def ids(**filters: Any) -> list[str]:
            return [s.id for s in (await session_backend.list(SessionQuery(**filters))).items]

        assert await ids(user_id="u1") == ["s0003", "s0001"]
        assert await ids(app="a") == ["s0002", "s0001"]
        assert await ids(status=(SessionStatus.SUSPENDED,)) == ["s0003"]
        assert await ids(status=(SessionStatus.ACTIVE, SessionStatus.SUSPENDED), user_id="u1") == ["s0003", "s0001"]
        assert await ids(tags=("x",)) == ["s0002", "s0001"]
        assert await ids(tags=("x", "y")) == ["s0001"]
        assert await ids(parent_id="s0001") == ["s0003"]
        assert await ids(created_after=T0 + timedelta(minutes=2)) == ["s0003", "s0002"]
        assert await ids(created_before=T0 + timedelta(minutes=2)) == ["s0001"]
        assert await ids(active_after=T0 + timedelta(minutes=3)) == ["s0003"]
        assert await ids(active_before=T0 + timedelta(minutes=2)) == ["s0001"]
        assert await ids(expires_before=T0 + timedelta(minutes=10)) == ["s0003"]
        assert await ids(expires_before=T0 + timedelta(minutes=9)) == []
        assert await ids(user_id="nobody") == []

    async def test_bad_limit_and_cursor(self, session_backend: Any) -> None:
        with pytest.raises(ValidationError, match="limit"):
            await session_backend.list(SessionQuery(limit=0))
        with pytest.raises(ValidationError, match="cursor"):
            await session_backend.list(SessionQuery(cursor="not a cursor"))

    async def test_ids_with_unusual_characters(self, session_backend: Any) -> None:
        for sid in ("a:b", "ünï-cödé", "x" * 128, "with space"):
            stored = await session_backend.put(make_session(1, id=sid), expected_version=0)
            assert await session_backend.get(sid) == stored

    async def test_every_shape_of_valid_session_id(self, session_backend: Any) -> None:
        ids = ["a.b", "user@example.com", "A_b+c=d", "-x", "x" * 128, "01939c2e-8f4a-7b6e-9d3c-2a1b0c9d8e7f"]
        for n, sid in enumerate(ids, 1):
            await session_backend.put(make_session(n, id=sid), expected_version=0)
        listed = [s.id for s in (await session_backend.list(SessionQuery(limit=100))).items]
        assert listed == ids[::-1]
        for sid in ids:
            current = await session_backend.get(sid)
            assert current is not None and await session_backend.delete(sid)

    async def test_pending_states_are_stored_and_filtered_like_any_other(self, session_backend: Any) -> None:
        """Forks, imports and deletes in progress: a backend stores and filters their states."""
        pending = (SessionStatus.FORKING, SessionStatus.IMPORTING, SessionStatus.DELETING)
        for n, status in enumerate((SessionStatus.ACTIVE, *pending), 1):
            await session_backend.put(make_session(n, status=status), expected_version=0)

        async def ids(**filters: Any) -> list[str]:
            return [s.id for s in (await session_backend.list(SessionQuery(**filters))).items]

        assert await ids(status=pending) == ["s0004", "s0003", "s0002"]
        assert await ids(status=(SessionStatus.ACTIVE,)) == ["s0001"]
        assert await ids() == ["s0004", "s0003", "s0002", "s0001"]
        stored = await session_backend.get("s0002")
        assert stored.status is SessionStatus.FORKING
        done = await session_backend.put(attrs.evolve(stored, status=SessionStatus.ACTIVE), expected_version=1)
        assert (await session_backend.get("s0002")) == done
        assert await ids(status=pending) == ["s0004", "s0003"]
