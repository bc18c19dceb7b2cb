"""The ``postgres`` session backend: one row per session, queried through indexes.

Table ``<schema>.sessions``: the whole record as JSON bytes (``record``), plus the
columns that :class:`~llmspell.plugins.sessions.api.SessionQuery` filters on (``user_id``, ``app``,
``status``, ``parent_id``, ``tags`` as a ``text[]`` with a GIN index, ``created_at``,
``last_active_at``, ``expires_at``) and ``version`` for compare-and-set. Every filter
is answered in SQL; pages are keyset pages over ``(created_at, id)`` descending, the
order of the contract, so a page costs the same wherever it starts.
"""

from __future__ import annotations

import base64
import builtins
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from llmspell import serde
from llmspell.errors import ConflictError, ValidationError
from llmspell.plugins.sessions.api import Session, SessionPage, SessionQuery
from llmspell.plugins.sessions.backend import decode_listed, decode_record

from ._db import Database

__all__ = ["PostgresSessionBackend"]

MAX_LIMIT = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor_at(created_at: datetime, session_id: str) -> str:
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(orjson.dumps([micros, session_id])).decode("ascii")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        micros, session_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        if type(micros) is not int or type(session_id) is not str:
            raise TypeError
        return _EPOCH + timedelta(microseconds=micros), session_id
    except Exception:  # noqa: BLE001 - any garbage is the same user error
        raise ValidationError(f"invalid session list cursor {cursor!r}") from None


class PostgresSessionBackend:
    """Session records in PostgreSQL, shared by every process and host."""

    def __init__(self, db: Database) -> None:
        self.db = db
        s = db.s
        self._get = f"SELECT record, version FROM {s}.sessions WHERE id = %s"
        columns = "id, app, user_id, status, parent_id, tags, created_at, last_active_at, expires_at, version, record"
        marks = "%(id)s, %(app)s, %(user_id)s, %(status)s, %(parent_id)s, %(tags)s, %(created_at)s, " \
                "%(last_active_at)s, %(expires_at)s, %(version)s, %(record)s"
        self._create = f"INSERT INTO {s}.sessions ({columns}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING RETURNING 1"
        self._replace = (
            f"UPDATE {s}.sessions SET app = %(app)s, user_id = %(user_id)s, status = %(status)s, "
            "parent_id = %(parent_id)s, tags = %(tags)s, created_at = %(created_at)s, "
            "last_active_at = %(last_active_at)s, expires_at = %(expires_at)s, version = %(version)s, "
            "record = %(record)s WHERE id = %(id)s AND version = %(expected)s RETURNING 1"
        )
        self._delete = f"DELETE FROM {s}.sessions WHERE id = %s RETURNING 1"

    async def open(self) -> None:
        await self.db.acquire()

    async def close(self) -> None:
        await self.db.release()

    async def health(self) -> builtins.list[str]:
        return await self.db.health()

    def _decode(self, raw: bytes, session_id: str, version: int) -> Session:
        return decode_record(raw, version, f"{session_id!r} in {self.db.where}")

    async def get(self, session_id: str) -> Session | None:
        async with self.db.connection() as conn:
            cur = await conn.execute(self._get, (session_id,), binary=True)
            row = await cur.fetchone()
        return None if row is None else self._decode(row[0], session_id, row[1])

    async def put(self, session: Session, *, expected_version: int) -> Session:
        stored = session.replace(version=expected_version + 1)
        params = {
            "id": stored.id, "app": stored.app, "user_id": stored.user_id, "status": stored.status.value,
            "parent_id": stored.parent_id, "tags": list(stored.tags), "created_at": stored.created_at,
            "last_active_at": stored.last_active_at, "expires_at": stored.expires_at,
            "version": stored.version, "record": serde.dumps(stored), "expected": expected_version,
        }
        sql = self._create if expected_version == 0 else self._replace
        async with self.db.connection() as conn:
            cur = await conn.execute(sql, params, binary=True)
            done = await cur.fetchone()
            if done is None:
                cur = await conn.execute(self._get, (session.id,), binary=True)
                row = await cur.fetchone()
        if done is None:
            current = None if row is None else self._decode(row[0], session.id, row[1])
            raise ConflictError(
                f"session:{session.id}", expected=expected_version,
                current_version=None if current is None else current.version, current_value=current,
            )
        return stored

    async def delete(self, session_id: str) -> bool:
        async with self.db.connection() as conn:
            cur = await conn.execute(self._delete, (session_id,))
            return await cur.fetchone() is not None

    async def list(self, query: SessionQuery) -> SessionPage:
        if not 1 <= query.limit <= MAX_LIMIT:
            raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}, got {query.limit}")
        where: builtins.list[str] = []
        params: builtins.list[Any] = []

        def add(condition: str, *values: Any) -> None:
            where.append(condition)
            params.extend(values)

        if query.cursor:
            created, after_id = _decode_cursor(query.cursor)
            add("(created_at, id) < (%s, %s)", created, after_id)
        if query.user_id is not None:
            add("user_id = %s", query.user_id)
        if query.app is not None:
            add("app = %s", query.app)
        if query.status:
            add("status = ANY(%s::text[])", [s.value for s in query.status])
        if query.tags:
            add("tags @> %s::text[]", list(query.tags))
        if query.parent_id is not None:
            add("parent_id = %s", query.parent_id)
        for column, op, value in (
            ("created_at", ">=", query.created_after), ("created_at", "<", query.created_before),
            ("last_active_at", ">=", query.active_after), ("last_active_at", "<", query.active_before),
            ("expires_at", "<", query.expires_before),
        ):
            if value is not None:
                add(f"{column} {op} %s", value)
        sql = f"SELECT id, record, version, created_at FROM {self.db.s}.sessions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT %s"
        params.append(query.limit + 1)
        async with self.db.connection() as conn:
            cur = await conn.execute(sql, params, binary=True)
            rows = await cur.fetchall()
        skipped: builtins.list[tuple[str, str]] = []
        store = self.db.where
        decoded = (decode_listed(raw, version, f"{sid!r} in {store}", sid, skipped) for sid, raw, version, _ in rows[: query.limit])
        items = tuple(session for session in decoded if session is not None)
        more = len(rows) > query.limit
        last = rows[query.limit - 1] if more else None  # a skipped record still moves the cursor on
        return SessionPage(items, _cursor_at(last[3], last[0]) if last is not None else None, tuple(skipped))
