"""Session-record backends: ``memory`` and ``diskcache`` (the embedded default)."""

from __future__ import annotations

import base64
import builtins
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson

from llmspell import serde
from llmspell.errors import ConflictError, IntegrityError, ValidationError
from llmspell.plugins._diskcache import open_cache
from llmspell.sessions import SCHEMA_VERSION, Session, SessionPage, SessionQuery

__all__ = ["MemorySessionBackend", "DiskcacheSessionBackend", "page", "encode_cursor"]

MAX_LIMIT = 1000
_PREFIX = "session:"


def encode_cursor(session: Session) -> str:
    raw = orjson.dumps([session.created_at.isoformat(), session.id])
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created, session_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        return str(created), str(session_id)
    except Exception:  # noqa: BLE001 - any garbage is the same user error
        raise ValidationError(f"invalid session list cursor {cursor!r}") from None


def page(sessions: Iterable[Session], query: SessionQuery) -> SessionPage:
    """Filter, order newest first, and cut one page (for backends without indexes)."""
    if not 1 <= query.limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}, got {query.limit}")
    matching = sorted(
        (s for s in sessions if query.matches(s)),
        key=lambda s: (s.created_at, s.id),
        reverse=True,
    )
    if query.cursor:
        created, session_id = _decode_cursor(query.cursor)
        matching = [s for s in matching if (s.created_at.isoformat(), s.id) < (created, session_id)]
    items = tuple(matching[: query.limit])
    more = len(matching) > query.limit
    return SessionPage(items, encode_cursor(items[-1]) if more and items else None)


def _conflict(session_id: str, expected: int, current: Session | None) -> ConflictError:
    return ConflictError(
        f"session:{session_id}",
        expected=expected,
        current_version=None if current is None else current.version,
        current_value=current,
    )


class MemorySessionBackend:
    """Session records in a dict: for tests and single-process use; nothing persists."""

    def __init__(self) -> None:
        self._records: dict[str, Session] = {}

    async def get(self, session_id: str) -> Session | None:
        return self._records.get(session_id)

    async def put(self, session: Session, *, expected_version: int) -> Session:
        current = self._records.get(session.id)
        if (current.version if current else 0) != expected_version:
            raise _conflict(session.id, expected_version, current)
        stored = attrs.evolve(session, version=expected_version + 1)
        serde.check_json(serde.converter.unstructure(stored))
        self._records[session.id] = stored
        return stored

    async def delete(self, session_id: str) -> bool:
        return self._records.pop(session_id, None) is not None

    async def list(self, query: SessionQuery) -> SessionPage:
        return page(self._records.values(), query)

    async def close(self) -> None:
        self._records.clear()


class DiskcacheSessionBackend:
    """Session records as JSON in a diskcache directory, safe across processes.

    Writes are compare-and-set inside a diskcache transaction (an SQLite ``BEGIN
    IMMEDIATE``, which serializes writers across processes). Listing reads every record
    and filters in memory: fine for the thousands of sessions of one machine; the
    PostgreSQL backend answers the same queries from indexes.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache = open_cache(directory)

    def _decode(self, raw: bytes, where: str) -> Session:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise IntegrityError(f"session record {where} in {self.directory} is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise IntegrityError(f"session record {where} in {self.directory} is not an object")
        serde.check_schema_version("session", int(data.get("schema_version", 1)), SCHEMA_VERSION)
        try:
            return serde.structure(data, Session)
        except Exception as exc:  # noqa: BLE001 - a damaged record, reported with its id
            lines = "; ".join(serde.describe_structure_error(exc, "session"))
            raise IntegrityError(f"session record {where} in {self.directory} is malformed: {lines}") from None

    async def get(self, session_id: str) -> Session | None:
        raw = self._cache.get(_PREFIX + session_id)
        return None if raw is None else self._decode(raw, session_id)

    async def put(self, session: Session, *, expected_version: int) -> Session:
        key = _PREFIX + session.id
        stored = attrs.evolve(session, version=expected_version + 1)
        data = serde.dumps(stored)
        with self._cache.transact():
            raw = self._cache.get(key)
            current = None if raw is None else self._decode(raw, session.id)
            if (current.version if current else 0) != expected_version:
                raise _conflict(session.id, expected_version, current)
            self._cache.set(key, data)
        return stored

    async def delete(self, session_id: str) -> bool:
        return bool(self._cache.delete(_PREFIX + session_id))

    def _scan(self) -> Iterator[tuple[str, bytes]]:
        # diskcache has no prefix scan; read its table directly (values are raw bytes,
        # or a file for large ones, which the non-pickling disk fetches).
        rows = self._cache._sql(
            "SELECT key, mode, filename, value FROM Cache WHERE raw = 1 AND key >= ? AND key < ?",
            (_PREFIX, _PREFIX + "\uffff"),
        ).fetchall()
        for key, mode, filename, value in rows:
            yield key, self._cache._disk.fetch(mode, filename, value, False)

    async def list(self, query: SessionQuery) -> SessionPage:
        return page((self._decode(raw, key) for key, raw in self._scan()), query)

    async def count(self) -> int:
        return sum(1 for _ in self._scan())

    async def close(self) -> None:
        self._cache.close()

    async def health(self) -> builtins.list[str]:
        try:
            self._cache.get("health-probe")
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return [f"diskcache at {self.directory}: {exc}"]
        return []


def make_memory(kernel: Any) -> MemorySessionBackend:
    return MemorySessionBackend()


def make_diskcache(kernel: Any) -> DiskcacheSessionBackend:
    return DiskcacheSessionBackend(kernel.data_dir / "sessions")
