"""The ``postgres`` event-log backend.

Tables (see :mod:`.migrations`)::

    events(stream, seq, id UNIQUE, type, time, data)   PRIMARY KEY (stream, seq)
    event_streams(stream PRIMARY KEY, last_seq, last_time)
    event_snapshots(stream, name, data)                PRIMARY KEY (stream, name)

An append is one call of the ``append_events`` function in one round trip and one
transaction: it skips ids already stored, bumps each stream's ``last_seq`` with an
``INSERT ... ON CONFLICT DO UPDATE`` (which holds that row's lock until commit, so
concurrent writers of a stream queue behind each other and sequence numbers stay
gapless and unique), checks ``expected_last_seq``, and inserts the rows. Two writers
appending the same new event id at once: the second hits the unique index on ``id``
after the first commits, and its call starts again, finding the event stored.

``data`` is the event's JSON envelope as ``bytea`` (``jsonb`` refuses ``\\u0000`` in
strings, which payloads may hold). Type patterns become SQL (``type = ...`` or a
regular expression anchored on a literal prefix), so queries filter and limit in the
server.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from llmspell import serde
from llmspell.errors import ConflictError
from llmspell.plugins.events.api import Event, StreamInfo, check_stream, compile_patterns
from llmspell.plugins.events.backend import AppendResult, EventCodec, LogQuery, Snapshot, check_range, prepare
from llmspell.plugins.state.backend import prefix_upper_bound

from ._db import Database

__all__ = ["PostgresEventLog", "type_condition"]

_ATTEMPTS = 50


def type_condition(types: str | Sequence[str] | None) -> tuple[str, list[Any]]:
    """An exact SQL condition (and its parameters) for a type-pattern filter; ``""`` for all."""
    if types is None:
        return "", []
    pattern = compile_patterns(types)
    if pattern.matches_all:
        return "", []
    clauses: list[str] = []
    params: list[Any] = []
    exact = [p for p in pattern.patterns if "*" not in p]
    if exact:
        clauses.append("type = ANY(%s::text[])")
        params.append(exact)
    for text, prefix in zip(pattern.patterns, pattern.prefixes, strict=True):
        if "*" not in text:
            continue
        regex = ".".join(
            r"[^.]+" if seg == "*" else r"[^.]+(\.[^.]+)*" if seg == "**" else re.escape(seg)
            for seg in text.split(".")
        )
        upper = prefix_upper_bound(prefix)
        clauses.append("(type >= %s AND type < %s AND type ~ %s)")
        params += [prefix, upper, f"^{regex}$"]
    return "(" + " OR ".join(clauses) + ")", params


class PostgresEventLog:
    """An :class:`~llmspell.plugins.events.backend.EventLog` in PostgreSQL, shared by every process and host."""

    def __init__(self, db: Database, codec: EventCodec | None = None) -> None:
        self.db = db
        self.codec = codec or EventCodec()
        s = db.s
        self._append = f"SELECT o_ord, o_stream, o_seq, o_data FROM {s}.append_events(%s, %s, %s, %s, %s, %s)"
        self._last = f"SELECT last_seq FROM {s}.event_streams WHERE stream = %s"
        # One event, no expected_last_seq (every publish): the function's work as one plain
        # statement, which the server plans once per connection (prepared) and runs faster.
        self._append_one = (
            f"WITH dup AS (SELECT stream, seq, data FROM {s}.events WHERE id = %(id)s), "
            f"c AS (INSERT INTO {s}.event_streams AS es (stream, last_seq, last_time) "
            "SELECT %(stream)s, 1, %(time)s WHERE NOT EXISTS (SELECT 1 FROM dup) "
            "ON CONFLICT (stream) DO UPDATE SET last_seq = es.last_seq + 1, "
            "last_time = greatest(es.last_time, excluded.last_time) RETURNING es.last_seq), "
            f"ins AS (INSERT INTO {s}.events (stream, seq, id, type, time, data) "
            "SELECT %(stream)s, c.last_seq, %(id)s, %(type)s, %(time)s, %(data)s FROM c RETURNING seq) "
            "SELECT 1::bigint, coalesce(dup.stream::text, %(stream)s), coalesce(dup.seq, (SELECT seq FROM ins)), dup.data "
            "FROM (SELECT 1) one LEFT JOIN dup ON true"
        )

    async def open(self) -> None:
        await self.db.acquire()

    async def close(self) -> None:
        await self.db.release()

    async def health(self) -> list[str]:
        return await self.db.health()

    # -- appending -----------------------------------------------------------------------

    async def append(self, events: Sequence[Event], *, expected_last_seq: int | None = None) -> AppendResult:
        import psycopg

        prepared = prepare(self.codec, events, expected_last_seq)
        if not prepared.rows:
            return AppendResult([])
        first: dict[str, int] = {}  # id -> index of its first occurrence in the batch
        unique: list[int] = []
        for i, row in enumerate(prepared.rows):
            if row[1] not in first:
                first[row[1]] = i
                unique.append(i)
        rows = [prepared.rows[i] for i in unique]
        params = (
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
            [prepared.events[i].time for i in unique], [r[4] for r in rows], expected_last_seq,
        )
        sql: str = self._append
        args: Any = params
        if len(rows) == 1 and expected_last_seq is None:
            row = rows[0]
            sql = self._append_one
            args = {"stream": row[0], "id": row[1], "type": row[2], "time": prepared.events[unique[0]].time,
                    "data": row[4]}
        for attempt in range(_ATTEMPTS):
            try:
                async with self.db.connection() as conn:
                    cur = await conn.execute(sql, args, binary=True)
                    result = await cur.fetchall()
                break
            except psycopg.errors.UniqueViolation:  # the same new id appended concurrently: look again
                if attempt == _ATTEMPTS - 1:
                    raise
            except psycopg.Error as exc:
                if getattr(exc, "sqlstate", None) == "LS409":
                    current = int(exc.diag.message_detail or 0)
                    raise ConflictError(
                        f"stream {prepared.stream}", expected=expected_last_seq, current_version=current
                    ) from None
                raise
        placed: dict[int, Event] = {}
        duplicates: set[str] = set()
        for ordinal, stream, seq, stored in result:
            index = unique[ordinal - 1]
            event = prepared.events[index]
            if stored is not None:
                duplicates.add(event.id)
                placed[index] = self.codec.decode(stored, stream, seq)
            else:
                placed[index] = event.with_position(stream, seq)
        out: list[Event] = []
        for i, row in enumerate(prepared.rows):
            j = first[row[1]]
            if j != i:
                duplicates.add(row[1])
            out.append(placed[j])
        return AppendResult(out, frozenset(duplicates))

    # -- reading -------------------------------------------------------------------------

    async def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None, limit: int | None = None) -> list[Event]:
        check_range(stream, from_seq, to_seq, limit)
        sql = f"SELECT seq, data FROM {self.db.s}.events WHERE stream = %s AND seq >= %s"
        params: list[Any] = [stream, from_seq]
        if to_seq is not None:
            sql += " AND seq <= %s"
            params.append(to_seq)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        async with self.db.connection() as conn:
            cur = await conn.execute(sql, params, binary=True)
            rows = await cur.fetchall()
        decode = self.codec.decode
        return [decode(data, stream, seq) for seq, data in rows]

    async def last_seq(self, stream: str) -> int:
        check_stream(stream)
        async with self.db.connection() as conn:
            cur = await conn.execute(self._last, (stream,), binary=True)
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def get(self, event_id: str) -> Event | None:
        async with self.db.connection() as conn:
            cur = await conn.execute(
                f"SELECT stream, seq, data FROM {self.db.s}.events WHERE id = %s", (event_id,), binary=True
            )
            row = await cur.fetchone()
        return None if row is None else self.codec.decode(row[2], row[0], row[1])

    async def query(
        self,
        *,
        types: str | Sequence[str] | None = None,
        stream: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[Event]:
        LogQuery.of(types=types, stream=stream, since=since, until=until, limit=limit, reverse=reverse)  # checked
        condition, params = type_condition(types)
        where = [condition] if condition else []
        if stream is not None:
            where.append("stream = %s")
            params.append(check_stream(stream))
        if since is not None:
            where.append("time >= %s")
            params.append(since)
        if until is not None:
            where.append("time < %s")
            params.append(until)
        order = "DESC" if reverse else "ASC"
        sql = f"SELECT stream, seq, data FROM {self.db.s}.events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY time {order}, stream {order}, seq {order}"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(int(limit))
        async with self.db.connection() as conn:
            cur = await conn.execute(sql, params, binary=True)
            rows = await cur.fetchall()
        decode = self.codec.decode
        return [decode(data, name, seq) for name, seq, data in rows]

    async def streams(self, prefix: str = "") -> list[StreamInfo]:
        sql = f"SELECT stream, last_seq, last_time FROM {self.db.s}.event_streams WHERE stream >= %s"
        params: list[Any] = [prefix]
        upper = prefix_upper_bound(prefix)
        if upper is not None:
            sql += " AND stream < %s"
            params.append(upper)
        sql += " ORDER BY stream"
        async with self.db.connection() as conn:
            cur = await conn.execute(sql, params, binary=True)
            rows = await cur.fetchall()
        return [StreamInfo(name, seq, when) for name, seq, when in rows]

    async def delete_stream(self, stream: str) -> int:
        check_stream(stream)
        s = self.db.s
        async with self.db.connection() as conn, conn.transaction():
            # lock the counter row first: appends to this stream wait until the delete commits
            await conn.execute(f"SELECT 1 FROM {s}.event_streams WHERE stream = %s FOR UPDATE", (stream,))
            cur = await conn.execute(f"DELETE FROM {s}.events WHERE stream = %s", (stream,))
            count = cur.rowcount
            await conn.execute(f"DELETE FROM {s}.event_streams WHERE stream = %s", (stream,))
            await conn.execute(f"DELETE FROM {s}.event_snapshots WHERE stream = %s", (stream,))
        return int(count)

    # -- snapshots -----------------------------------------------------------------------

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        check_stream(snapshot.stream)
        raw = serde.dumps(snapshot)
        async with self.db.connection() as conn:
            await conn.execute(
                f"INSERT INTO {self.db.s}.event_snapshots (stream, name, data) VALUES (%s, %s, %s) "
                "ON CONFLICT (stream, name) DO UPDATE SET data = excluded.data",
                (snapshot.stream, snapshot.name, raw), binary=True,
            )

    async def load_snapshot(self, stream: str, name: str) -> Snapshot | None:
        async with self.db.connection() as conn:
            cur = await conn.execute(
                f"SELECT data FROM {self.db.s}.event_snapshots WHERE stream = %s AND name = %s",
                (stream, name), binary=True,
            )
            row = await cur.fetchone()
        return None if row is None else serde.loads_as(bytes(row[0]), Snapshot)
