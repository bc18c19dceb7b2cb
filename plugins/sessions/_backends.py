"""Session-record backends: ``memory`` and ``diskcache`` (the embedded default)."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmspell.errors import IntegrityError, SchemaVersionError, ValidationError
from llmspell.plugins.sessions.api import Session, SessionPage, SessionQuery, SessionStatus
from llmspell.plugins.sessions.backend import (
    MAX_LIMIT,
    StateSessionBackend,
    conflict,
    decode_cursor,
    encode_cursor,
    page,
)

if TYPE_CHECKING:
    from llmspell import Kernel
    from llmspell.plugins.state.backend import Record

__all__ = ["MemorySessionBackend", "DiskcacheSessionBackend", "make_memory", "make_diskcache"]

_PREFIX = "session:"


class MemorySessionBackend:
    """Session records in a dict: for tests and single-process use; nothing persists."""

    def __init__(self) -> None:
        self._records: dict[str, Session] = {}

    async def open(self) -> None:
        return None

    async def get(self, session_id: str) -> Session | None:
        return self._records.get(session_id)

    async def put(self, session: Session, *, expected_version: int) -> Session:
        current = self._records.get(session.id)
        if (current.version if current else 0) != expected_version:
            raise conflict(session.id, expected_version, current)
        stored = session.replace(version=expected_version + 1)
        self._records[session.id] = stored
        return stored

    async def delete(self, session_id: str) -> bool:
        return self._records.pop(session_id, None) is not None

    async def list(self, query: SessionQuery) -> SessionPage:
        return page(self._records.values(), query)

    async def close(self) -> None:
        self._records.clear()


# The listing index of the diskcache session store: one row per record key, kept by
# triggers on diskcache's ``Cache`` table, so every write to a record (by this process,
# another one, an older version of llmspell or a program planting a row) updates it in the
# same SQLite transaction. ``created`` is NULL for a row that is not an llmspell record
# (not inline JSON, no ``created_at`` or ``id`` string): such rows are read and reported as
# skipped by every listing, and so is one whose app, user or status could not be a
# session's: filtered on them, it would otherwise never be seen. ``_v1`` is the layout's
# version.
_INDEX = "llmspell_session_index_v1"
_INDEXABLE = (
    "WHEN new.raw = 1 AND typeof(new.key) = 'text' AND substr(new.key, 1, 8) = 'session:'"
)
# The record is parsed twice (checked, then its five fields read in one call, as a JSON
# array that is cheap to take apart): a trigger that parsed it once per field made a
# write 30 us slower. A write that changes none of them (a touch, a new title) leaves
# the index row as it is, so its commit writes no index page.
_ROW = f"""INSERT INTO {_INDEX} (key, created, id, app, user_id, status)
    SELECT new.key, CASE WHEN json_type(f.a, '$[0]') = 'text' AND json_type(f.a, '$[1]') = 'text'
                          AND json_type(f.a, '$[2]') = 'text' AND json_type(f.a, '$[3]') IN ('text', 'null')
                          AND f.a ->> 4 IN ({", ".join(f"'{s.value}'" for s in SessionStatus)})
                     THEN f.a ->> 0 END,
           f.a ->> 1, f.a ->> 2, f.a ->> 3, f.a ->> 4
    FROM (SELECT CASE WHEN new.mode = 1 AND new.filename IS NULL AND typeof(new.value) = 'blob'
                       AND json_valid(CAST(new.value AS TEXT))
                  THEN json_extract(CAST(new.value AS TEXT), '$.created_at', '$.id', '$.app',
                                    '$.user_id', '$.status') END AS a) AS f WHERE true
    ON CONFLICT (key) DO UPDATE SET created = excluded.created, id = excluded.id, app = excluded.app,
        user_id = excluded.user_id, status = excluded.status
    WHERE created IS NOT excluded.created OR id IS NOT excluded.id OR app IS NOT excluded.app
        OR user_id IS NOT excluded.user_id OR status IS NOT excluded.status;"""
_SCHEMA = (
    f"CREATE TABLE {_INDEX} (key TEXT PRIMARY KEY, created TEXT, id TEXT, app TEXT, user_id TEXT,"
    " status TEXT) WITHOUT ROWID",
    f"CREATE INDEX {_INDEX}_order ON {_INDEX} (created, id)",
    f"CREATE INDEX {_INDEX}_bad ON {_INDEX} (key) WHERE created IS NULL",
    f"CREATE TRIGGER {_INDEX}_insert AFTER INSERT ON Cache {_INDEXABLE} BEGIN {_ROW} END",
    f"CREATE TRIGGER {_INDEX}_update AFTER UPDATE ON Cache {_INDEXABLE} BEGIN {_ROW} END",
    f"CREATE TRIGGER {_INDEX}_delete AFTER DELETE ON Cache WHEN typeof(old.key) = 'text'"
    " AND substr(old.key, 1, 8) = 'session:'"
    f" BEGIN DELETE FROM {_INDEX} WHERE key = old.key; END",
)
# Fills the index of a store written before it existed: a no-op update of each record
# row runs the update trigger on it.
_FILL = (
    "UPDATE Cache SET key = key WHERE raw = 1 AND typeof(key) = 'text'"
    " AND substr(key, 1, 8) = 'session:'"
)
_PAGE = (
    f"SELECT c.key, c.tag, c.mode, c.filename, c.value, i.created, i.id FROM {_INDEX} i"
    " JOIN Cache c ON c.key = i.key AND c.raw = 1 WHERE i.created IS NOT NULL"
)
_UNINDEXED = (
    f"SELECT c.key, c.tag, c.mode, c.filename, c.value FROM {_INDEX} i"
    " JOIN Cache c ON c.key = i.key AND c.raw = 1 WHERE i.created IS NULL ORDER BY i.key"
)


class DiskcacheSessionBackend(StateSessionBackend):
    """Session records as JSON in a diskcache directory, safe across processes.

    The records sit on the diskcache state backend (its own directory): a record's
    version is the store's version of its key, and writes are its compare-and-set, one
    SQLite ``BEGIN IMMEDIATE`` transaction each, which serializes writers across
    processes.

    Listing reads an index, not every record: a table of each record's ``created_at``,
    id, app, user and status, kept by SQLite triggers on the record table, so it changes
    in the transaction of the write that changes the record, whoever writes it. A page
    is one indexed query in listing order (newest first) filtered by app, user and
    status, from the cursor on; the other filters are checked on the decoded records
    (:meth:`~llmspell.plugins.sessions.api.SessionQuery.matches`), fetching on until the
    page is full. Records already decoded are not decoded again (see
    :class:`~llmspell.plugins.sessions.backend.StateSessionBackend`). A store written
    before the index existed gets it, filled from its records, when it opens.
    """

    def __init__(self, directory: Path) -> None:
        from llmspell.plugins._diskcache import DiskcacheStateBackend

        self.directory = directory
        self._store = DiskcacheStateBackend(directory)
        super().__init__(self._store, str(directory), _PREFIX)

    async def open(self) -> None:
        await super().open()
        await self._store.run_write(self._ensure_index)

    def _ensure_index(self, execute: Any) -> None:
        """Create and fill the index unless the store has it (one transaction: another
        process opening the store meanwhile waits, then finds it)."""
        found = execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_INDEX,)).fetchall()
        if found:
            return
        for statement in _SCHEMA:
            execute(statement)
        execute(_FILL)

    async def records(
        self, after: str | None
    ) -> tuple[builtins.list[Record], builtins.list[tuple[str, str]]]:
        """Rows not written by llmspell are reported as ``(key, reason)``, not read."""
        return await self._store.scan_skipping(_PREFIX, after=after, limit=1000)

    async def list(self, query: SessionQuery) -> SessionPage:
        if not 1 <= query.limit <= MAX_LIMIT:
            raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}, got {query.limit}")
        after = decode_cursor(query.cursor) if query.cursor else None
        return await self._store.run_read(self._page, query, after)

    def _page(self, execute: Any, query: SessionQuery, after: tuple[str, str] | None) -> SessionPage:
        skipped: builtins.list[tuple[str, str]] = []
        for row in execute(_UNINDEXED).fetchall():
            self._decode_row(row, skipped)
        where, params = [], []
        if query.app is not None:
            where.append("i.app = ?")
            params.append(query.app)
        if query.user_id is not None:
            where.append("i.user_id = ?")
            params.append(query.user_id)
        if query.status:
            where.append(f"i.status IN ({', '.join('?' * len(query.status))})")
            params += [status.value for status in query.status]
        base = _PAGE + "".join(" AND " + w for w in where)
        # Filters the index does not hold are checked on the decoded records.
        rest = bool(query.tags or query.parent_id is not None or query.created_after or query.created_before
                    or query.active_after or query.active_before or query.expires_before)
        decoded = self._decoded
        items: builtins.list[Session] = []
        want = query.limit + 1  # one more than the page: is there a next one?
        while True:
            sql, args = base, list(params)
            if after is not None:
                sql += " AND (i.created < ? OR (i.created = ? AND i.id < ?))"
                args += [after[0], after[0], after[1]]
            chunk = max(want - len(items), 50)
            rows = execute(sql + " ORDER BY i.created DESC, i.id DESC LIMIT ?", (*args, chunk)).fetchall()
            for row in rows:
                kept = decoded.get(row[0])  # decoded before: the same version and bytes (and inline)
                if kept is not None and kept[0] == row[1] and kept[1] == row[4] and row[2] == 1 and row[3] is None:
                    session: Session | None = kept[2]
                else:
                    session = self._decode_row(row, skipped)
                if session is not None and (not rest or query.matches(session)):
                    items.append(session)
                    if len(items) == want:
                        break
            if len(items) == want or len(rows) < chunk:
                break
            after = (rows[-1][5], rows[-1][6])
        more = len(items) > query.limit
        page_items = tuple(items[: query.limit])
        cursor = encode_cursor(page_items[-1]) if more else None
        return SessionPage(page_items, cursor, tuple(skipped))

    def _decode_row(self, row: Any, skipped: builtins.list[tuple[str, str]]) -> Session | None:
        key, tag, mode, filename, value = row[:5]
        session_id = key.removeprefix(_PREFIX)
        try:
            record = self._store.record(key, tag, mode, filename, value)
        except IntegrityError as exc:
            skipped.append((session_id, str(exc)))
            return None
        try:
            return self._decode(record)
        except (IntegrityError, SchemaVersionError) as exc:
            skipped.append((session_id, str(exc)))
            return None

    async def health(self) -> builtins.list[str]:
        try:
            await self._store.get(_PREFIX + "health-probe")
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return [f"session store at {self.directory}: {exc}"]
        return []


def make_memory(kernel: Kernel) -> MemorySessionBackend:
    return MemorySessionBackend()


def make_diskcache(kernel: Kernel) -> DiskcacheSessionBackend:
    return DiskcacheSessionBackend(kernel.data_dir / "sessions")
