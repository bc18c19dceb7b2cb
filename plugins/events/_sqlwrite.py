"""The write path of the ``diskcache`` log: appends batched per loop turn (group commit).

Every ``append`` of one event-loop turn joins one group; at the end of the turn the
group is written in **one** transaction, each batch in it still all-or-nothing with its
own result or error (a conflict is detected before a batch writes anything):

* *inline*, on the loop's thread, when the group is small and SQLite's write lock is
  free right now. The inline connection has no busy timeout, so it never waits for
  another writer: a transaction costs about 0.1 ms, a hop to a thread more than that.
* otherwise on the log's SQL thread, which waits for the lock (other processes) as
  long as it takes; groups that form meanwhile queue behind it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from llmspell.errors import ConflictError
from llmspell.events import AppendResult, Event, EventCodec

from ._logutil import Prepared, check_expected

__all__ = ["GroupWriter", "write_group"]

_CHUNK = 500
Outcome = AppendResult | BaseException


def write_group(con: Any, codec: EventCodec, group: list[Prepared]) -> list[Outcome]:
    """Write the batches of ``group`` inside the caller's transaction."""
    last: dict[str, int] = {}
    out: list[Outcome] = []
    for prepared in group:
        try:
            out.append(_write_one(con, codec, prepared, last))
        except ConflictError as exc:
            out.append(exc)
    return out


def _write_one(con: Any, codec: EventCodec, prepared: Prepared, last: dict[str, int]) -> AppendResult:
    rows = prepared.rows
    ids = [row[1] for row in rows]
    stored: dict[str, tuple[str, int, bytes]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for event_id, stream, seq, data in con.execute(
            f"SELECT id, stream, seq, data FROM llmspell_events WHERE id IN ({marks})", chunk
        ):
            stored[event_id] = (stream, seq, data)

    def last_of(stream: str) -> int:
        if stream not in last:
            row = con.execute("SELECT last_seq FROM llmspell_event_streams WHERE stream = ?", (stream,)).fetchone()
            last[stream] = row[0] if row else 0
        return last[stream]

    if prepared.stream is not None:
        check_expected(prepared, last_of(prepared.stream))
    inserts = []
    out: list[Event] = []
    duplicates = set()
    touched: dict[str, int] = {}
    for event, (stream, event_id, type_name, when, raw) in zip(prepared.events, rows, strict=True):
        hit = stored.get(event_id)
        if hit is not None:
            duplicates.add(event_id)
            out.append(codec.decode(hit[2], hit[0], hit[1]))
            continue
        seq = last_of(stream) + 1
        last[stream] = seq
        stored[event_id] = (stream, seq, raw)
        touched[stream] = max(touched.get(stream, 0), when)
        inserts.append((stream, seq, event_id, type_name, when, raw))
        out.append(event.with_position(stream, seq))
    if inserts:
        con.executemany("INSERT INTO llmspell_events VALUES (?, ?, ?, ?, ?, ?)", inserts)
        con.executemany(
            "INSERT INTO llmspell_event_streams VALUES (?, ?, ?) ON CONFLICT (stream) DO UPDATE "
            "SET last_seq = excluded.last_seq, last_time = max(coalesce(last_time, 0), excluded.last_time)",
            [(stream, last[stream], when) for stream, when in touched.items()],
        )
    return AppendResult(out, frozenset(duplicates))


class GroupWriter:
    """Collects appends per loop turn and writes each group inline or on the SQL thread."""

    def __init__(
        self,
        codec: EventCodec,
        threaded: Callable[[list[Prepared]], Awaitable[list[Outcome]]],
        inline: sqlite3.Connection | None,
        inline_rows: int = 256,
    ) -> None:
        self.codec = codec
        self.inline = inline
        self.inline_rows = inline_rows
        self._threaded = threaded
        self._pending: list[tuple[Prepared, asyncio.Future[AppendResult]]] = []
        self._queued: list[tuple[Prepared, asyncio.Future[AppendResult]]] = []
        self._scheduled = False
        self._flushing: asyncio.Task[None] | None = None

    async def append(self, prepared: Prepared) -> AppendResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AppendResult] = loop.create_future()
        self._pending.append((prepared, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._dispatch)
        return await future

    def _dispatch(self) -> None:
        self._scheduled = False
        group, self._pending = self._pending, []
        if not group:
            return
        if self._flushing is None and self.inline is not None and sum(len(p.rows) for p, _ in group) <= self.inline_rows:
            outcomes = self._write_inline([p for p, _ in group])
            if outcomes is not None:
                _settle(group, outcomes)
                return
        self._queued.extend(group)
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    def _write_inline(self, group: list[Prepared]) -> list[Outcome] | None:
        con = self.inline
        assert con is not None
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return None  # another writer holds the lock: the SQL thread waits for it instead
        try:
            outcomes = write_group(con, self.codec, group)
            con.execute("COMMIT")
        except Exception as exc:
            con.execute("ROLLBACK")
            return [exc] * len(group)
        return outcomes

    async def _flush(self) -> None:
        try:
            while self._queued:
                group, self._queued = self._queued, []
                try:
                    outcomes = await self._threaded([p for p, _ in group])
                except Exception as exc:  # the whole transaction failed
                    outcomes = [exc] * len(group)
                _settle(group, outcomes)
        finally:
            self._flushing = None

    async def drain(self) -> None:
        """Write everything pending (before closing)."""
        if self._pending:
            self._dispatch()
        while self._flushing is not None:
            await asyncio.shield(self._flushing)


def _settle(group: list[tuple[Prepared, asyncio.Future[AppendResult]]], outcomes: list[Outcome]) -> None:
    for (_, future), outcome in zip(group, outcomes, strict=True):
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
