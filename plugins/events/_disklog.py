"""The ``diskcache`` event-log backend: SQLite tables inside a diskcache directory.

The log lives in the diskcache database (``cache.db``, WAL mode, opened through
:func:`~llmspell.plugins._diskcache.open_cache`, so nothing is ever pickled) in tables of
its own (see :mod:`._diskschema`, which also migrates older logs)::

    llmspell_events(stream, seq, id UNIQUE, type, time, data, by_id)  PRIMARY KEY (stream, seq)
    llmspell_event_streams(stream PRIMARY KEY, last_seq, last_time)
    llmspell_event_snapshots(stream, name, data)  PRIMARY KEY (stream, name)

Every append runs in a ``BEGIN IMMEDIATE`` transaction: SQLite's write lock serialises
the processes sharing the directory, so sequence numbers are gapless and unique across
them, and a process killed mid-append leaves the previous state (WAL rollback). Reads,
snapshots and large or contended appends run on the log's own SQL thread (diskcache
keeps one connection per thread); appends are grouped per event-loop turn and a small
group is written on the loop's thread when the lock is free (see :mod:`._sqlwrite`).
Queries by time read the id index and a partial time index (see :mod:`._timeorder`);
WAL checkpoints run on a thread of their own
(:class:`~llmspell.plugins._diskcache.Checkpointer`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from llmspell import serde
from llmspell.plugins._diskcache import WAL_PAGES, Checkpointer, finish_checkpoint, open_cache
from llmspell.plugins.events.api import Event, StreamInfo, check_stream
from llmspell.plugins.events.backend import AppendResult, EventCodec, Snapshot

from ._diskschema import SCHEMA_VERSION, ensure_schema
from ._sqlwrite import GroupWriter, pages_written, write_group
from ._timeorder import time_ordered
from .backend import LogQuery, Prepared, check_range, from_us, prepare, time_us, type_filter

__all__ = ["DiskcacheEventLog", "SCHEMA_VERSION"]

T = TypeVar("T")


class DiskcacheEventLog:
    """An :class:`~llmspell.plugins.events.backend.EventLog` in a diskcache directory; safe across processes."""

    def __init__(self, directory: str | Path, codec: EventCodec | None = None, *, inline: bool = True) -> None:
        self.directory = Path(directory)
        self.codec = codec or EventCodec()
        self.inline = inline
        """Write small groups on the loop's thread when the lock is free (see ``_sqlwrite``)."""
        self._cache: Any = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._writer: GroupWriter | None = None
        self._checkpointer: Checkpointer | None = None

    # -- the SQL thread -----------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError(f"event log at {self.directory} is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def open(self) -> None:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="llmspell-events")
            await self._run(self._open)
            self._checkpointer = Checkpointer(self.directory / "cache.db")
            inline = None
            if self.inline:
                inline = sqlite3.connect(self.directory / "cache.db", timeout=0, isolation_level=None)
                inline.execute("PRAGMA synchronous = 1")
                inline.execute(f"PRAGMA wal_autocheckpoint = {WAL_PAGES}")

            async def threaded(group: list[Prepared]) -> list[AppendResult | BaseException]:
                return await self._run(self._write_threaded, group)

            self._writer = GroupWriter(self.codec, threaded, inline, committed=self._checkpointer.wrote)

    def _open(self) -> None:
        self._cache = open_cache(self.directory)
        con = self._cache._con
        with self._cache.transact(retry=True):  # creates, or migrates, once across processes
            ensure_schema(con)

    async def close(self) -> None:
        if self._executor is None:
            return
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.drain()
            if writer.inline is not None:
                writer.inline.close()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.close)
            self._checkpointer = None
        await self._run(self._cache.close)
        self._executor.shutdown(wait=True)
        self._executor = None

    async def health(self) -> list[str]:
        try:
            await self._run(lambda: self._cache._con.execute("SELECT count(*) FROM llmspell_event_streams").fetchone())
        except Exception as exc:
            return [f"event log at {self.directory}: {type(exc).__name__}: {exc}"]
        return []

    # -- appending (see _sqlwrite) -------------------------------------------------------

    async def append(self, events: Sequence[Event], *, expected_last_seq: int | None = None) -> AppendResult:
        prepared = prepare(self.codec, events, expected_last_seq)
        if not prepared.rows:
            return AppendResult([])
        writer = self._writer
        if writer is None:
            raise RuntimeError(f"event log at {self.directory} is not open")
        done = writer.write_now(prepared)
        return done if done is not None else await writer.append(prepared)

    def _write_threaded(self, group: list[Prepared]) -> list[AppendResult | BaseException]:
        con = self._cache._con
        with self._cache.transact(retry=True):  # BEGIN IMMEDIATE, waiting for other writers
            outcomes = write_group(con, self.codec, group)
        if self._checkpointer is not None and self._checkpointer.wrote(pages_written(sum(len(p.rows) for p in group))):
            finish_checkpoint(con)
        return outcomes

    # -- reading ---------------------------------------------------------------------

    async def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None, limit: int | None = None) -> list[Event]:
        check_range(stream, from_seq, to_seq, limit)
        return await self._run(self._read, stream, from_seq, to_seq, limit)

    def _read(self, stream: str, from_seq: int, to_seq: int | None, limit: int | None) -> list[Event]:
        sql = "SELECT seq, data FROM llmspell_events WHERE stream = ? AND seq >= ?"
        params: list[Any] = [stream, from_seq]
        if to_seq is not None:
            sql += " AND seq <= ?"
            params.append(to_seq)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        decode = self.codec.decode
        return [decode(data, stream, seq) for seq, data in self._cache._con.execute(sql, params)]

    async def last_seq(self, stream: str) -> int:
        check_stream(stream)
        return await self._run(self._last_seq, stream)

    def _last_seq(self, stream: str) -> int:
        row = self._cache._con.execute("SELECT last_seq FROM llmspell_event_streams WHERE stream = ?", (stream,)).fetchone()
        return int(row[0]) if row else 0

    async def get(self, event_id: str) -> Event | None:
        def fetch() -> Event | None:
            row = self._cache._con.execute(
                "SELECT stream, seq, data FROM llmspell_events WHERE id = ?", (event_id,)
            ).fetchone()
            return None if row is None else self.codec.decode(row[2], row[0], row[1])

        return await self._run(fetch)

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
        condition, params, match = type_filter(types)
        where = [condition] if condition else []
        if stream is not None:
            check_stream(stream)
        low = None if since is None else time_us(since)
        high = None if until is None else time_us(until)
        decode = self.codec.decode

        wanted = None if limit is None or limit < 0 else int(limit)  # (SQL's LIMIT -1: no limit)

        def fetch() -> list[Event]:
            cursors: list[Any] = []
            try:
                out: list[Event] = []
                for _, name, seq, type_name, data in self._ordered(stream, where, params, low, high, reverse, cursors):
                    if wanted is not None and len(out) >= wanted:
                        break
                    if match is None or match(type_name):
                        out.append(decode(data, name, seq))
                return out
            finally:
                for cursor in cursors:
                    cursor.close()

        return await self._run(fetch)

    def _ordered(
        self, stream: str | None, where: list[str], params: list[Any], low: int | None, high: int | None,
        reverse: bool, cursors: list[Any],
    ) -> Iterator[tuple[int, str, int, str, bytes]]:
        """(time, stream, seq, type, data) of the matching events in time order, read lazily."""
        con = self._cache._con
        if stream is None:
            return time_ordered(con, where, params, low, high, reverse, cursors)
        # One stream: its primary-key range, filtered and sorted (the plan SQLite chose for
        # this query when there was a full time index, too).
        where = [*where, "stream = ?"]
        params = [*params, stream]
        if low is not None:
            where.append("time >= ?")
            params.append(low)
        if high is not None:
            where.append("time < ?")
            params.append(high)
        order = "DESC" if reverse else "ASC"
        cursor = con.execute(
            f"SELECT time, stream, seq, type, data FROM llmspell_events WHERE {' AND '.join(where)}"
            f" ORDER BY time {order}, seq {order}",
            params,
        )
        cursors.append(cursor)
        return iter(cursor)

    async def streams(self, prefix: str = "") -> list[StreamInfo]:
        def fetch() -> list[StreamInfo]:
            rows = self._cache._con.execute(
                "SELECT stream, last_seq, last_time FROM llmspell_event_streams "
                "WHERE substr(stream, 1, ?) = ? ORDER BY stream",
                (len(prefix), prefix),
            )
            return [StreamInfo(name, seq, None if t is None else from_us(t)) for name, seq, t in rows]

        return await self._run(fetch)

    async def delete_stream(self, stream: str) -> int:
        check_stream(stream)

        def delete() -> int:
            con = self._cache._con
            with self._cache.transact(retry=True):
                count = con.execute("DELETE FROM llmspell_events WHERE stream = ?", (stream,)).rowcount
                con.execute("DELETE FROM llmspell_event_streams WHERE stream = ?", (stream,))
                con.execute("DELETE FROM llmspell_event_snapshots WHERE stream = ?", (stream,))
            return int(count)

        return await self._run(delete)

    # -- snapshots -------------------------------------------------------------------

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        check_stream(snapshot.stream)
        raw = serde.dumps(snapshot)

        def save() -> None:
            self._cache._con.execute(
                "INSERT OR REPLACE INTO llmspell_event_snapshots VALUES (?, ?, ?)",
                (snapshot.stream, snapshot.name, raw),
            )

        await self._run(save)

    async def load_snapshot(self, stream: str, name: str) -> Snapshot | None:
        def load() -> bytes | None:
            row = self._cache._con.execute(
                "SELECT data FROM llmspell_event_snapshots WHERE stream = ? AND name = ?", (stream, name)
            ).fetchone()
            return None if row is None else bytes(row[0])

        raw = await self._run(load)
        return None if raw is None else serde.loads_as(raw, Snapshot)
