"""The write path of the ``diskcache`` log: appends batched per loop turn (group commit).

Every ``append`` of one event-loop turn joins one group; at the end of the turn the
group is written in **one** transaction, each batch in it still all-or-nothing with its
own result or error (a conflict is detected before a batch writes anything):

* *inline*, on the loop's thread, when the group is small and SQLite's write lock is
  free right now. The inline connection has no busy timeout, so it never waits for
  another writer: a transaction costs about 0.05 ms, a hop to a thread more than that.
* otherwise on the log's SQL thread, which waits for the lock (other processes) as
  long as it takes; groups that form meanwhile queue behind it.

While appends come one at a time (a session's events, an agent's turn) a group would
only ever hold one of them, so :meth:`GroupWriter.write_now` writes it inline at once,
without the group's two turns of the loop (see there for how group commit resumes as
soon as appends overlap). A one-event batch is inserted with ``ON CONFLICT (id) DO
NOTHING``, which finds a duplicate without a look-up first; larger batches look their
ids up in one query.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from llmspell.errors import ConflictError
from llmspell.plugins._diskcache import finish_checkpoint
from llmspell.plugins.events.api import Event
from llmspell.plugins.events.backend import AppendResult, EventCodec

from ._timeorder import by_id
from .backend import Prepared

__all__ = ["GroupWriter", "write_group", "pages_written"]

_CHUNK = 500
Outcome = AppendResult | BaseException

_LAST = "SELECT last_seq FROM llmspell_event_streams WHERE stream = ?"
_BY_ID = "SELECT stream, seq, data FROM llmspell_events WHERE id = ?"
_INSERT = "INSERT INTO llmspell_events (stream, seq, id, type, time, data, by_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
_INSERT_NEW = _INSERT + " ON CONFLICT (id) DO NOTHING"
_BUMP = (
    "INSERT INTO llmspell_event_streams VALUES (?, ?, ?) ON CONFLICT (stream) DO UPDATE "
    "SET last_seq = excluded.last_seq, last_time = max(coalesce(last_time, 0), excluded.last_time)"
)


def pages_written(rows: int) -> int:
    """About how many WAL pages a commit of ``rows`` events writes (for the checkpointer).

    A leaf of the table, of the id index, of the stream counters and sometimes of the
    time index, plus the rows themselves: about 350 bytes each with their index entries.
    """
    return 4 + rows // 10


#: Batches up to this many events insert row by row, each skipped when its id is stored
#: (no look-up of the ids first: one statement fewer); larger ones look their ids up at once.
_SMALL = 8


def write_group(con: Any, codec: EventCodec, group: list[Prepared]) -> list[Outcome]:
    """Write the batches of ``group`` inside the caller's transaction.

    Each batch is checked (``expected_last_seq``, duplicates) before it writes anything,
    so a batch that fails writes nothing and the others of the group are unaffected.
    """
    last: dict[str, int] = {}
    out: list[Outcome] = []
    for prepared in group:
        try:
            if len(prepared.rows) == 1:
                out.append(_write_single(con, codec, prepared, last))
            elif len(prepared.rows) <= _SMALL:
                out.append(_write_small(con, codec, prepared, last))
            else:
                out.append(_write_batch(con, codec, prepared, last))
        except ConflictError as exc:
            out.append(exc)
    return out


def _last_seq(con: Any, stream: str, last: dict[str, int]) -> int:
    seq = last.get(stream)
    if seq is None:
        row = con.execute(_LAST, (stream,)).fetchone()
        seq = last[stream] = row[0] if row else 0
    return seq


def _write_single(con: Any, codec: EventCodec, prepared: Prepared, last: dict[str, int]) -> AppendResult:
    """One event: insert it unless its id is stored (no look-up first), then bump the stream."""
    stream, event_id, type_name, when, raw = prepared.rows[0]
    current = _last_seq(con, stream, last)
    if prepared.expected_last_seq is not None:
        prepared.check_last_seq(current)
    seq = current + 1
    if con.execute(_INSERT_NEW, (stream, seq, event_id, type_name, when, raw, by_id(event_id, when))).rowcount != 1:
        # Already logged (by anyone, in any stream): nothing was written.
        found, at, data = con.execute(_BY_ID, (event_id,)).fetchone()
        return AppendResult([codec.decode(data, found, at)], frozenset((event_id,)))
    last[stream] = seq
    con.execute(_BUMP, (stream, seq, when))
    return AppendResult([prepared.events[0].with_position(stream, seq)])


def _write_small(con: Any, codec: EventCodec, prepared: Prepared, last: dict[str, int]) -> AppendResult:
    """A few events: as :func:`_write_single`, one after the other, then bump each stream once."""
    if prepared.stream is not None:
        prepared.check_last_seq(_last_seq(con, prepared.stream, last))
    out: list[Event] = []
    duplicates = set()
    touched: dict[str, int] = {}
    for event, (stream, event_id, type_name, when, raw) in zip(prepared.events, prepared.rows, strict=True):
        seq = _last_seq(con, stream, last) + 1
        if con.execute(_INSERT_NEW, (stream, seq, event_id, type_name, when, raw, by_id(event_id, when))).rowcount != 1:
            found, at, data = con.execute(_BY_ID, (event_id,)).fetchone()  # stored before, or earlier in this batch
            duplicates.add(event_id)
            out.append(codec.decode(data, found, at))
            continue
        last[stream] = seq
        touched[stream] = max(touched.get(stream, 0), when)
        out.append(event.with_position(stream, seq))
    if touched:
        con.executemany(_BUMP, [(stream, last[stream], when) for stream, when in touched.items()])
    return AppendResult(out, frozenset(duplicates))


def _write_batch(con: Any, codec: EventCodec, prepared: Prepared, last: dict[str, int]) -> AppendResult:
    """Several events: look their ids up in one query, then insert the new ones at once."""
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
    if prepared.stream is not None:
        prepared.check_last_seq(_last_seq(con, prepared.stream, last))
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
        seq = _last_seq(con, stream, last) + 1
        last[stream] = seq
        stored[event_id] = (stream, seq, raw)
        touched[stream] = max(touched.get(stream, 0), when)
        inserts.append((stream, seq, event_id, type_name, when, raw, by_id(event_id, when)))
        out.append(event.with_position(stream, seq))
    if inserts:
        con.executemany(_INSERT, inserts)
        con.executemany(_BUMP, [(stream, last[stream], when) for stream, when in touched.items()])
    return AppendResult(out, frozenset(duplicates))


class GroupWriter:
    """Collects appends per loop turn and writes each group inline or on the SQL thread.

    While appends come one at a time, :meth:`write_now` writes them without the group's
    trip through the loop. ``committed(pages)`` is called after each inline commit with
    an estimate of the pages it wrote; when it returns True the writer checkpoints (the
    log's :class:`~llmspell.plugins._diskcache.Checkpointer`).
    """

    def __init__(
        self,
        codec: EventCodec,
        threaded: Callable[[list[Prepared]], Awaitable[list[Outcome]]],
        inline: sqlite3.Connection | None,
        inline_rows: int = 256,
        committed: Callable[[int], bool] | None = None,
        solo_burst: int = 16,
    ) -> None:
        self.codec = codec
        self.inline = inline
        self.inline_rows = inline_rows
        self.solo_burst = solo_burst
        """Every ``solo_burst``-th append takes the group path even when alone (see write_now)."""
        self._solo = True
        self._burst = 0
        self._threaded = threaded
        self._committed = committed
        self._pending: list[tuple[Prepared, asyncio.Future[AppendResult]]] = []
        self._pending_rows = 0
        self._queued: list[tuple[Prepared, asyncio.Future[AppendResult]]] = []
        self._scheduled = False
        self._flushing: asyncio.Task[None] | None = None

    def write_now(self, prepared: Prepared) -> AppendResult | None:
        """Write ``prepared`` at once, inline, when that costs group commit nothing.

        The group path costs two turns of the loop (about 30 us in context, a third of a
        small append). It is skipped while appends come one at a time: the last group had
        a single batch, nothing is pending or being written, the batch is small and the
        lock is free. Every ``solo_burst``-th append still takes the group path, which
        yields to the loop: other tasks run (a publisher in a loop cannot hold the loop
        longer than about a millisecond), and appends they make join that group, which
        ends the solo mode until a group has one batch again. Returns None when it did not
        write; raises what the write raised.
        """
        if not self._solo or self._pending or self._flushing is not None or self.inline is None:
            return None
        rows = len(prepared.rows)
        if rows > self.inline_rows:
            return None
        if self._burst >= self.solo_burst - 1:
            return None
        outcomes = self._write_inline([prepared], rows)
        if outcomes is None:  # another writer holds the lock
            return None
        self._burst += 1
        outcome = outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def append(self, prepared: Prepared) -> AppendResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AppendResult] = loop.create_future()
        self._pending.append((prepared, future))
        self._pending_rows += len(prepared.rows)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._dispatch)
        return await future

    def _dispatch(self) -> None:
        self._scheduled = False
        group, self._pending = self._pending, []
        rows, self._pending_rows = self._pending_rows, 0
        if not group:
            return
        self._solo = len(group) == 1
        self._burst = 0
        if self._flushing is None and self.inline is not None and rows <= self.inline_rows:
            batches = [group[0][0]] if len(group) == 1 else [p for p, _ in group]
            outcomes = self._write_inline(batches, rows)
            if outcomes is not None:
                _settle(group, outcomes)
                return
        self._queued.extend(group)
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    def _write_inline(self, group: list[Prepared], rows: int) -> list[Outcome] | None:
        con = self.inline
        assert con is not None
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            return None  # another writer holds the lock: the SQL thread waits for it (or reports the error)
        try:
            outcomes = write_group(con, self.codec, group)
            con.execute("COMMIT")
        except Exception as exc:
            if con.in_transaction:
                con.execute("ROLLBACK")
            return [exc] * len(group)
        if self._committed is not None and self._committed(pages_written(rows)):
            finish_checkpoint(con)
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
