"""Time order in the ``diskcache`` log without indexing every event's time.

An event's id is (almost always) a UUIDv7 made by :func:`llmspell.ids.new_id`: its first
48 bits are its creation time in milliseconds, and its text sorts in that order. Its
``time`` comes from the same clock a few microseconds later. So the unique index on ids,
which every append maintains anyway for idempotence, already orders such events by time
to within a small window, and a second index on ``time`` costs each append one more
B-tree page to write (about a tenth of a small append) for nothing.

The log stores ``by_id = 1`` on an event whose time lies within :data:`SKEW_US` of its
id's time, and NULL on every other one: a time given by the caller, an imported event
whose id came from elsewhere, an id that is not lowercase UUID text, a clock that stepped
back. Only the NULL ones are in the (partial) time index. This is decided from the
event's own id and time when it is appended, so it holds for every way an event gets its
time; events logged before schema version 2 all have NULL.

A time-ordered query reads the ``by_id`` events in id order, restores exact time order
with a heap over the window (an event read at id time ``t`` has a time of at least
``t - SKEW_US``, so everything buffered before that is final), and merges them with the
others, which the partial index returns in time order.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["SKEW_US", "by_id", "time_ordered"]

SKEW_US = 10_000
"""How far (microseconds) an event's time may be from its id's millisecond to go by id."""

_ID_TIME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}")
_MAX_MS = (1 << 48) - 1

Row = tuple[int, str, int, str, bytes]
"""(time, stream, seq, type, data) of one stored event."""


def by_id(event_id: str, when_us: int) -> int | None:
    """1 when the id's time orders the event (see the module doc), else None."""
    if _ID_TIME.match(event_id) is None:
        return None
    start = int(event_id[:8] + event_id[9:13], 16) * 1000
    return 1 if start - SKEW_US <= when_us < start + 1000 + SKEW_US else None


def _id_bound(ms: int) -> str:
    """The text every id of millisecond ``ms`` or later sorts at or after."""
    return "%08x-%04x" % (ms >> 16, ms & 0xFFFF)  # noqa: UP031 - fixed-width hex


class _Desc(tuple[Any, ...]):
    """A row that sorts in reverse (heapq keeps the smallest first)."""

    __slots__ = ()

    def __lt__(self, other: Any) -> bool:
        return tuple.__gt__(self, other)


def _windowed(rows: Iterable[tuple[Any, ...]], reverse: bool) -> Iterator[Row]:
    """(id, time, stream, seq, type, data) rows in id order -> exact (time, stream, seq) order."""
    heap: list[Any] = []
    push, pop = heapq.heappush, heapq.heappop
    for event_id, when, stream, seq, type_name, data in rows:
        start = int(event_id[:8] + event_id[9:13], 16) * 1000
        if reverse:  # what comes later has a time below start + 1000 + SKEW_US
            ceiling = start + 999 + SKEW_US
            while heap and heap[0][0] > ceiling:
                yield pop(heap)
            push(heap, _Desc((when, stream, seq, type_name, data)))
        else:  # what comes later has a time of at least start - SKEW_US
            floor = start - SKEW_US
            while heap and heap[0][0] < floor:
                yield pop(heap)
            push(heap, (when, stream, seq, type_name, data))
    while heap:
        yield pop(heap)


def _key(row: Row) -> tuple[int, str, int]:
    return row[0], row[1], row[2]


def time_ordered(
    con: Any, where: list[str], params: list[Any], since: int | None, until: int | None, reverse: bool,
    cursors: list[Any],
) -> Iterator[Row]:
    """Events matching ``where`` with ``since <= time < until`` in (time, stream, seq) order.

    Runs two queries on ``con`` and appends their cursors to ``cursors`` (the caller
    closes them when it has read enough). Rows are read lazily.
    """
    order = "DESC" if reverse else "ASC"
    by_id_where, by_id_params = ["by_id = 1", *where], list(params)
    timed_where, timed_params = ["by_id IS NULL", *where], list(params)
    if since is not None:
        low = (since - SKEW_US) // 1000 - 1
        if low > 0:
            by_id_where.append("id >= ?")
            by_id_params.append(_id_bound(min(low, _MAX_MS)))
        for clauses, values in ((by_id_where, by_id_params), (timed_where, timed_params)):
            clauses.append("time >= ?")
            values.append(since)
    if until is not None:
        high = (until + SKEW_US) // 1000 + 1
        if high <= _MAX_MS:
            by_id_where.append("id < ?")
            by_id_params.append(_id_bound(max(high, 0)))
        for clauses, values in ((by_id_where, by_id_params), (timed_where, timed_params)):
            clauses.append("time < ?")
            values.append(until)
    by_id_rows = con.execute(
        "SELECT id, time, stream, seq, type, data FROM llmspell_events INDEXED BY llmspell_events_id"
        f" WHERE {' AND '.join(by_id_where)} ORDER BY id {order}",
        by_id_params,
    )
    cursors.append(by_id_rows)
    timed_rows = con.execute(
        "SELECT time, stream, seq, type, data FROM llmspell_events INDEXED BY llmspell_events_time_x"
        f" WHERE {' AND '.join(timed_where)} ORDER BY time {order}, stream {order}, seq {order}",
        timed_params,
    )
    cursors.append(timed_rows)
    return heapq.merge(_windowed(by_id_rows, reverse), timed_rows, key=_key, reverse=reverse)
