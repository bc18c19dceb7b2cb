"""Conformance suite for session backends.

Every test's docstring states the rule it checks, and a failing assertion names it
(``rule: ...``). Subclass :class:`SessionBackendContract` in your backend's tests and override the
``session_backend`` fixture to return a fresh, empty backend, built but not opened
(isolate it with its own key prefix, schema or namespace so the suite can run in
parallel against one server)::

    class TestMyBackend(SessionBackendContract):
        @pytest.fixture
        def session_backend(self):
            return MyBackend(url, prefix=f"test-{uuid.uuid4()}")

The suite opens it (``open()``; ``health()``, when it has one, must report no problem),
gives it to each test as ``backend`` and closes it after the test. It marks its tests
for pytest-asyncio itself. Backends do not check session ids (the session service does,
see :mod:`llmspell.plugins.sessions.api`); they store any string id, and one of
``MAX_SESSION_ID`` characters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import pytest_asyncio

from llmspell.errors import ConflictError, ValidationError
from llmspell.plugins.sessions.api import (
    MAX_SESSION_ID,
    Lease,
    Session,
    SessionQuery,
    SessionStatus,
    check_session_id,
)

from . import opened, raises, selected_backend

if TYPE_CHECKING:
    from llmspell import Kernel

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

    pytestmark = [pytest.mark.asyncio]

    kernel_config: Any = None
    """Or set this: a kernel configuration (a mapping, or the text of an ``llmspell.toml``);
    the suite then tests the sessions backend it selects."""

    @pytest.fixture
    def session_backend(self, make_kernel: Callable[..., Kernel]) -> Any:
        """Override: your backend, built but not opened (the suite opens and closes it); or set
        ``kernel_config`` and the suite builds the backend that configuration selects."""
        return selected_backend(make_kernel, self.kernel_config, "sessions", "session_backend")

    @pytest_asyncio.fixture
    async def backend(self, session_backend: Any) -> AsyncIterator[Any]:
        """The backend under test, opened (and healthy) for the test, closed after it."""
        async with opened(session_backend, "session_backend") as b:
            yield b

    async def test_create_then_get(self, backend: Any) -> None:
        """put(expected_version=0) creates the record at version 1, and get returns it field for
        field (metadata, tags, lease, times); a missing id reads as None."""
        lease = Lease("owner", "host", 42, 1.5, T0 + timedelta(seconds=30))
        session = make_session(1, title="t", metadata={"k": [1, {"x": None}]}, tags=("a", "b"), ttl=60.0,
                               expires_at=T0 + timedelta(hours=1), lease=lease, cleaned=("expired",))
        stored = await backend.put(session, expected_version=0)
        assert stored.version == 1, "rule: put(expected_version=0) creates the record at version 1"
        assert await backend.get("s0001") == stored, "rule: get returns the stored record, every field"
        assert await backend.get("missing") is None, "rule: get of a missing id is None"

    async def test_create_twice_conflicts(self, backend: Any) -> None:
        """put(expected_version=0) on an existing id raises ConflictError carrying the current
        version and record."""
        await backend.put(make_session(1), expected_version=0)
        with raises(ConflictError, "creating an existing id raises ConflictError") as info:
            await backend.put(make_session(1, title="other"), expected_version=0)
        assert info.value.current_version == 1, "rule: the ConflictError carries the current version"
        assert info.value.current_value.title == "", "rule: the ConflictError carries the current record"

    async def test_compare_and_set(self, backend: Any) -> None:
        """put(expected_version=n) replaces only when the stored version is n and returns version n
        + 1; otherwise ConflictError with the current version, and nothing is written (also for a
        missing id)."""
        v1 = await backend.put(make_session(1), expected_version=0)
        v2 = await backend.put(attrs.evolve(v1, title="two"), expected_version=1)
        assert v2.version == 2, "rule: put(expected_version=n) stores version n + 1"
        with raises(ConflictError, "a stale expected version raises ConflictError") as info:
            await backend.put(attrs.evolve(v1, title="stale"), expected_version=1)
        assert info.value.current_version == 2, "rule: the ConflictError carries the current version"
        assert (await backend.get("s0001")).title == "two", "rule: a refused put writes nothing"
        with raises(ConflictError, "a positive expected version for a missing id raises ConflictError"):
            await backend.put(make_session(2), expected_version=5)
        assert await backend.get("s0002") is None, "rule: a refused put creates nothing"

    async def test_delete(self, backend: Any) -> None:
        """delete returns True once and False after; a deleted id can be created again at version 1."""
        await backend.put(make_session(1), expected_version=0)
        assert await backend.delete("s0001") is True, "rule: delete of a stored id returns True"
        assert await backend.get("s0001") is None, "rule: a deleted id reads as None"
        assert await backend.delete("s0001") is False, "rule: delete of a missing id returns False"
        again = await backend.put(make_session(1), expected_version=0)
        assert again.version == 1, "rule: a re-created id starts at version 1"

    async def test_list_newest_first_with_pages(self, backend: Any) -> None:
        """list returns newest first (created_at, then id), at most limit per page, and next_cursor
        walks every record once; the last page has next_cursor None."""
        for n in range(1, 26):
            await backend.put(make_session(n), expected_version=0)
        seen: list[str] = []
        cursor = None
        while True:
            page = await backend.list(SessionQuery(limit=10, cursor=cursor))
            seen.extend(s.id for s in page.items)
            assert len(page.items) <= 10, "rule: a page holds at most limit records"
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == [f"s{n:04}" for n in range(25, 0, -1)], "rule: the pages list every record once, newest first"

    async def test_list_filters(self, backend: Any) -> None:
        """list filters by user_id, app, status (any of), tags (all of) and parent_id, and combines
        filters with AND."""
        await backend.put(make_session(1, user_id="u1", app="a", tags=("x", "y")), expected_version=0)
        await backend.put(make_session(2, user_id="u2", app="a", tags=("x",)), expected_version=0)
        await backend.put(
            make_session(3, user_id="u1", app="b", status=SessionStatus.SUSPENDED, parent_id="s0001",
                         expires_at=T0 + timedelta(minutes=10)),
            expected_version=0,
        )

        async def ids(**filters: Any) -> list[str]:
            return [s.id for s in (await backend.list(SessionQuery(**filters))).items]

        assert await ids(user_id="u1") == ["s0003", "s0001"], "rule: user_id filters"
        assert await ids(app="a") == ["s0002", "s0001"], "rule: app filters"
        assert await ids(status=(SessionStatus.SUSPENDED,)) == ["s0003"], "rule: status filters"
        assert await ids(status=(SessionStatus.ACTIVE, SessionStatus.SUSPENDED), user_id="u1") == ["s0003", "s0001"], (
            "rule: status matches any of its values, and filters combine with AND"
        )
        assert await ids(tags=("x",)) == ["s0002", "s0001"], "rule: tags filters"
        assert await ids(tags=("x", "y")) == ["s0001"], "rule: tags requires every tag"
        assert await ids(parent_id="s0001") == ["s0003"], "rule: parent_id filters"
        assert await ids(user_id="nobody") == [], "rule: no match lists nothing"

    async def test_time_filters_bounds(self, backend: Any) -> None:
        """Time filters are half-open like every time filter in llmspell: lower bounds
        (created_after, active_after) are inclusive (>=), upper bounds (created_before,
        active_before, expires_before) exclusive (<); expires_before never matches a session
        without expires_at."""
        for n in (1, 2, 3):
            await backend.put(make_session(n, expires_at=T0 + timedelta(minutes=10 * n)), expected_version=0)
        await backend.put(make_session(4), expected_version=0)  # never expires

        async def ids(**filters: Any) -> list[str]:
            return [s.id for s in (await backend.list(SessionQuery(**filters))).items]

        at2 = T0 + timedelta(minutes=2)
        assert await ids(created_after=at2) == ["s0004", "s0003", "s0002"], "rule: created_after is inclusive"
        assert await ids(created_before=at2) == ["s0001"], "rule: created_before is exclusive"
        assert await ids(active_after=at2) == ["s0004", "s0003", "s0002"], "rule: active_after is inclusive"
        assert await ids(active_before=at2) == ["s0001"], "rule: active_before is exclusive"
        assert await ids(created_after=at2, created_before=at2) == [], "rule: [after, before) at one instant is empty"
        assert await ids(expires_before=T0 + timedelta(minutes=20)) == ["s0001"], "rule: expires_before is exclusive"
        assert await ids(expires_before=T0 + timedelta(minutes=20, microseconds=1)) == ["s0002", "s0001"], (
            "rule: expires_before includes what expires earlier"
        )
        assert await ids(expires_before=T0 + timedelta(minutes=10)) == [], "rule: expires_before is exclusive"
        assert await ids(expires_before=T0 + timedelta(days=1)) == ["s0003", "s0002", "s0001"], (
            "rule: expires_before never matches a session without expires_at"
        )

    async def test_session_id_of_the_maximum_length(self, backend: Any) -> None:
        """A session id of exactly MAX_SESSION_ID (128) characters is stored, read, listed and
        deleted; the session service refuses one more with ValidationError naming the limit (the
        id alphabet is ASCII, so the longest id is 128 bytes too)."""
        sid = ("a.b_c@d+e=f-0" * MAX_SESSION_ID)[:MAX_SESSION_ID]
        stored = await backend.put(make_session(1, id=sid), expected_version=0)
        assert await backend.get(sid) == stored, "rule: an id of MAX_SESSION_ID characters reads back"
        assert [s.id for s in (await backend.list(SessionQuery())).items] == [sid], "rule: ... and is listed whole"
        assert await backend.delete(sid), "rule: ... and can be deleted"
        with raises(ValidationError, "an id over MAX_SESSION_ID is refused naming the limit", match=str(MAX_SESSION_ID)):
            check_session_id(sid + "x")
        with raises(ValidationError, "an id outside the alphabet is refused", match=str(MAX_SESSION_ID)):
            check_session_id("\u20ac" * 2)  # not in the alphabet

    async def test_bad_limit_and_cursor(self, backend: Any) -> None:
        """A limit outside 1 to MAX_LIMIT (1000) raises ValidationError naming the limit; a cursor
        that no list returned raises ValidationError naming the cursor (page() does both)."""
        for limit in (0, -1, 1001):
            with raises(ValidationError, f"limit={limit} raises ValidationError naming limit", match="limit"):
                await backend.list(SessionQuery(limit=limit))
        with raises(ValidationError, "a foreign cursor raises ValidationError naming cursor", match="cursor"):
            await backend.list(SessionQuery(cursor="not a cursor"))

    async def test_ids_with_unusual_characters(self, backend: Any) -> None:
        """A backend stores any string id (non-ASCII, colons, spaces): ids are checked by the
        service, not the backend."""
        for sid in ("a:b", "ünï-cödé", "x" * 128, "with space"):
            stored = await backend.put(make_session(1, id=sid), expected_version=0)
            assert await backend.get(sid) == stored, f"rule: a backend stores any string id ({sid!r})"

    async def test_every_shape_of_valid_session_id(self, backend: Any) -> None:
        """Every shape of valid session id (dots, @, +, =, a leading -, UUIDs) is stored, listed in
        order, read and deleted."""
        ids = ["a.b", "user@example.com", "A_b+c=d", "-x", "x" * 128, "01939c2e-8f4a-7b6e-9d3c-2a1b0c9d8e7f"]
        for n, sid in enumerate(ids, 1):
            await backend.put(make_session(n, id=sid), expected_version=0)
        listed = [s.id for s in (await backend.list(SessionQuery(limit=100))).items]
        assert listed == ids[::-1], "rule: every valid id shape is listed, in order"
        for sid in ids:
            current = await backend.get(sid)
            assert current is not None and await backend.delete(sid), f"rule: {sid!r} reads back and deletes"

    async def test_pending_states_are_stored_and_filtered_like_any_other(self, backend: Any) -> None:
        """Forks, imports and deletes in progress: a backend stores and filters their states."""
        pending = (SessionStatus.FORKING, SessionStatus.IMPORTING, SessionStatus.DELETING)
        for n, status in enumerate((SessionStatus.ACTIVE, *pending), 1):
            await backend.put(make_session(n, status=status), expected_version=0)

        async def ids(**filters: Any) -> list[str]:
            return [s.id for s in (await backend.list(SessionQuery(**filters))).items]

        assert await ids(status=pending) == ["s0004", "s0003", "s0002"], "rule: pending states filter like others"
        assert await ids(status=(SessionStatus.ACTIVE,)) == ["s0001"], "rule: pending states filter like others"
        assert await ids() == ["s0004", "s0003", "s0002", "s0001"], "rule: without a status filter every status is listed"
        stored = await backend.get("s0002")
        assert stored.status is SessionStatus.FORKING, "rule: a pending state is stored"
        done = await backend.put(attrs.evolve(stored, status=SessionStatus.ACTIVE), expected_version=1)
        assert (await backend.get("s0002")) == done, "rule: a pending state can be replaced"
        assert await ids(status=pending) == ["s0004", "s0003"], "rule: ... and is filtered by its new state"
