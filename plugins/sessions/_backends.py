"""Session-record backends: ``memory`` and ``diskcache`` (the embedded default)."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmspell.errors import IntegrityError, SchemaVersionError, ValidationError
from llmspell.plugins.sessions.api import VISIBLE, Session, SessionPage, SessionQuery
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


# The listing index of the diskcache session store: an index on one expression of
# diskcache's ``Cache`` table, partial to the session keys: the JSON array
# ``[created_at, id, app, user_id, status]`` read from the record. SQLite keeps it in the
# transaction of every write to a record, whoever writes it (this process, another one, an
# older version of llmspell, a program planting a row), and builds it from the records when
# it is created. The expression reads the record twice (checks it, then takes the five
# fields in one call) and never raises, so a write of anything still succeeds; it costs a
# write much less than a table kept by triggers, or one expression per field.
#
# Ordered as text, the arrays whose ``created_at`` is a string (they start ``["``) are in
# listing order: ``created_at`` then id, as the cursor compares them (neither holds a
# character below ``"``). The other rows sort apart, below (NULL: not inline JSON) or above
# (from ``[#``: ``created_at`` is not a string); every listing reads and reports those as
# skipped, as it does a record on its page that does not decode.
_ARRAY = (
    "(CASE WHEN mode = 1 AND filename IS NULL AND typeof(value) = 'blob' AND json_valid(CAST(value AS TEXT))"
    " THEN json_extract(CAST(value AS TEXT), '$.created_at', '$.id', '$.app', '$.user_id', '$.status') END)"
)
_SESSION_ROW = "substr(key, 1, 8) = 'session:'"
_INDEX = "llmspell_sessions_v1"
"""The ``_v1`` is the layout's version: a new layout is a new name."""
_SCHEMA = (f"CREATE INDEX IF NOT EXISTS {_INDEX} ON Cache ({_ARRAY}) WHERE {_SESSION_ROW}",)
_ROWS = f"SELECT key, tag, mode, filename, value FROM Cache WHERE {_SESSION_ROW} AND raw = 1"
_ARRAY_OF = f"SELECT {_ARRAY} FROM Cache WHERE key = ? AND raw = 1"
_PAGE = _ROWS + f" AND {_ARRAY} >= '[\"' AND {_ARRAY} < '[#'"
_APP = f"json_extract({_ARRAY}, '$[2]')"
_USER = f"json_extract({_ARRAY}, '$[3]')"
_STATUS = f"json_extract({_ARRAY}, '$[4]')"
_BEFORE = f" AND {_ARRAY} < ?"
"""Before a row of the index (its array)."""
_BEFORE_CURSOR = f" AND {_ARRAY} < rtrim(json_array(?, ?), ']')"
"""Before a cursor's ``(created_at, id)``: every array starting with those two is after it."""
_ORDER = f" ORDER BY {_ARRAY} DESC LIMIT ?"
_UNLISTED = (
    f"{_ROWS} AND {_ARRAY} IS NULL UNION ALL {_ROWS} AND {_ARRAY} >= '[#'"
)


class DiskcacheSessionBackend(StateSessionBackend):
    """Session records as JSON in a diskcache directory, safe across processes.

    The records sit on the diskcache state backend (its own directory): a record's
    version is the store's version of its key, and writes are its compare-and-set, one
    SQLite ``BEGIN IMMEDIATE`` transaction each, which serializes writers across
    processes.

    Listing reads an index, not every record: an SQLite index on each record's
    ``created_at``, id, app, user and status (expressions on its JSON), which changes in
    the transaction of the write that changes the record, whoever writes it. A page is
    one indexed query in listing order (newest first) filtered by app, user and status,
    from the cursor on; the other filters are checked on the decoded records
    (:meth:`~llmspell.plugins.sessions.api.SessionQuery.matches`), fetching on until the
    page is full. Records already decoded are not decoded again (see
    :class:`~llmspell.plugins.sessions.backend.StateSessionBackend`). A store written
    before the index existed gets it, built from its records, when it opens.
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
        """Create the index unless the store has it, built from the records already stored
        (one transaction: another process opening the store meanwhile waits, then finds it)."""
        for statement in _SCHEMA:
            execute(statement)

    async def list(self, query: SessionQuery) -> SessionPage:
        if not 1 <= query.limit <= MAX_LIMIT:
            raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}, got {query.limit}")
        after = decode_cursor(query.cursor) if query.cursor else None
        return await self._store.run_read(self._page, query, after)

    def _page(self, execute: Any, query: SessionQuery, cursor: tuple[str, str] | None) -> SessionPage:
        skipped: builtins.list[tuple[str, str]] = []
        for row in execute(_UNLISTED).fetchall():
            self._decode_row(row, skipped)
        where, params = [], []
        if query.app is not None:
            where.append(f"{_APP} = ?")
            params.append(query.app)
        if query.user_id is not None:
            where.append(f"{_USER} = ?")
            params.append(query.user_id)
        # Every visible status (the manager's listing without a status filter) is checked on
        # the decoded records: a record with a status no session has is then reported.
        statuses = set(query.status)
        if statuses and not statuses >= set(VISIBLE):
            where.append(f"{_STATUS} IN ({', '.join('?' * len(statuses))})")
            params += [status.value for status in query.status]
        base = _PAGE + "".join(" AND " + w for w in where)
        decoded = self._decoded
        items: builtins.list[Session] = []
        want = query.limit + 1  # one more than the page: is there a next one?
        after: str | None = None
        while True:
            sql, args = base, list(params)
            if after is not None:
                sql += _BEFORE
                args.append(after)
            elif cursor is not None:
                sql += _BEFORE_CURSOR
                args += cursor
            chunk = max(want - len(items), 50)
            rows = execute(sql + _ORDER, (*args, chunk)).fetchall()
            for row in rows:
                kept = decoded.get(row[0])  # decoded before: the same version and bytes (and inline)
                if kept is not None and kept[0] == row[1] and kept[1] == row[4] and row[2] == 1 and row[3] is None:
                    session: Session | None = kept[2]
                else:
                    session = self._decode_row(row, skipped)
                if session is not None and query.matches(session):
                    items.append(session)
                    if len(items) == want:
                        break
            if len(items) == want or len(rows) < chunk:
                break
            after = execute(_ARRAY_OF, (rows[-1][0],)).fetchall()[0][0]  # where the next chunk starts
        more = len(items) > query.limit
        page_items = tuple(items[: query.limit])
        next_cursor = encode_cursor(page_items[-1]) if more else None
        return SessionPage(page_items, next_cursor, tuple(skipped))

    def _decode_row(self, row: Any, skipped: builtins.list[tuple[str, str]]) -> Session | None:
        key, tag, mode, filename, value = row
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
