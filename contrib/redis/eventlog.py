"""The ``redis`` event-log backend: one Redis Stream per event stream.

Layout (``P`` is ``{prefix:events}:``)::

    P x:<stream>      Redis Stream; entry id "<seq>-0"; one field, e: the JSON envelope
                      (one field keeps reads cheap: redis-py parses each field)
    P ids             hash  event id -> "<seq>\\n<token>\\n<stream>"  (idempotence, get by id)
    P time            zset  event id -> time                  (queries by time)
    P streams         zset  stream names at score 0           (listing by prefix)
    P snap:<stream>   hash  projection name -> snapshot JSON

An append is one Lua script (:data:`._logscripts.APPEND`): for each event it looks the id up, and
either reports the stored copy (a duplicate; unless the copy carries this append's own
token: an append retried after a lost reply) or takes the stream's next sequence number
(its length plus one: entries are never removed one by one) and adds the entry, the id
and the time index. The script runs atomically, so sequence numbers are gapless and
unique however many processes append, and a batch lands whole or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from llmspell import serde
from llmspell.plugins.events.api import Event, StreamInfo, check_stream, compile_patterns
from llmspell.plugins.events.backend import (
    AppendResult,
    EventCodec,
    LogQuery,
    Snapshot,
    check_range,
    prepare,
    time_us,
)

from ._client import RedisConnection, keyspace
from ._logscripts import APPEND, BY_TIME, DELETE, LOOKUP, STREAMS
from .config import RedisConfig
from .state import drop_space

__all__ = ["RedisEventLog"]

_QUERY_CHUNK = 500


class RedisEventLog:
    """An :class:`~llmspell.plugins.events.backend.EventLog` on Redis Streams, shared by any number of processes."""

    def __init__(self, config: RedisConfig, codec: EventCodec | None = None, *, space: str | None = None) -> None:
        self.config = config
        self.codec = codec or EventCodec()
        self.space = space or keyspace(config, "events")
        self.conn = RedisConnection(config, "events")
        self._ids = self._k("ids")
        self._time = self._k("time")
        self._streams = self._k("streams")
        self._scripts: dict[str, Any] = {}

    def _k(self, suffix: str) -> bytes:
        return (self.space + suffix).encode()

    def _stream_key(self, stream: str) -> bytes:
        return self._k("x:" + stream)

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        client = await self.conn.open()
        for name, source in (("append", APPEND), ("lookup", LOOKUP), ("by_time", BY_TIME), ("streams", STREAMS),
                             ("delete", DELETE)):
            self._scripts[name] = client.register_script(source)

    async def close(self) -> None:
        await self.conn.close()

    async def health(self) -> list[str]:
        return await self.conn.health()

    async def drop(self) -> int:
        """Delete the whole log of this key space (tests and administration)."""
        return await drop_space(self.conn, self.space)

    async def _run(self, name: str, keys: list[bytes], args: list[Any], *, write: bool = False) -> Any:
        script = self._scripts[name]
        return await self.conn.call(lambda c: script(keys=keys, args=args, client=c), write=write)

    # -- appending -------------------------------------------------------------------

    async def append(self, events: Sequence[Event], *, expected_last_seq: int | None = None) -> AppendResult:
        prepared = prepare(self.codec, events, expected_last_seq)
        if not prepared.rows:
            return AppendResult([])
        names: dict[str, int] = {}
        for row in prepared.rows:
            names.setdefault(row[0], len(names) + 1)
        token = os.urandom(4).hex()
        keys = [self._ids, self._time, self._streams]
        keys += [self._stream_key(name) for name in names]
        expected = "" if expected_last_seq is None else str(expected_last_seq)
        args: list[Any] = [len(prepared.rows), expected, self.space.encode(), len(names), token]
        args += [name.encode() for name in names]
        for stream, event_id, type_name, when, raw in prepared.rows:
            args += [names[stream], event_id.encode(), type_name.encode(), when, raw]
        reply = await self._run("append", keys, args, write=True)
        if reply[0] == 0:
            prepared.check_last_seq(int(reply[1]))
        out: list[Event] = []
        duplicates: set[str] = set()
        for event, (stream, event_id, *_), entry in zip(prepared.events, prepared.rows, reply[1:], strict=True):
            if isinstance(entry, list):
                duplicates.add(event_id)
                seq, where, raw = int(entry[0]), entry[1].decode(), entry[2]
                out.append(self.codec.decode(raw, where, seq))
            else:
                out.append(event.with_position(stream, int(entry)))
        return AppendResult(out, frozenset(duplicates))

    # -- reading ---------------------------------------------------------------------

    def _decode_entries(self, stream: str, entries: list[Any]) -> list[Event]:
        decode = self.codec.decode
        out = []
        for entry_id, fields in entries:
            seq = int(entry_id.split(b"-", 1)[0])
            out.append(decode(fields.get(b"e", b""), stream, seq))
        return out

    async def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None, limit: int | None = None) -> list[Event]:
        check_range(stream, from_seq, to_seq, limit)
        if limit == 0 or (to_seq is not None and to_seq < from_seq):
            return []
        key = self._stream_key(stream)
        low = f"{max(from_seq, 1)}-0"
        high = "+" if to_seq is None else f"{to_seq}-0"
        entries = await self.conn.call(lambda c: c.xrange(key, low, high, count=limit))
        return self._decode_entries(stream, entries)

    async def last_seq(self, stream: str) -> int:
        check_stream(stream)
        key = self._stream_key(stream)
        return int(await self.conn.call(lambda c: c.xlen(key)))

    async def get(self, event_id: str) -> Event | None:
        (found,) = await self._run("lookup", [self._ids], [self.space.encode(), event_id.encode()])
        if not found:
            return None
        return self.codec.decode(found[2], found[1].decode(), int(found[0]))

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
        match = None if types is None else compile_patterns(types).match
        low = None if since is None else time_us(since)
        high = None if until is None else time_us(until)
        if stream is not None:
            rows = await self._query_stream(check_stream(stream), match, low, high)
        else:
            rows = await self._query_time(match, low, high, limit, reverse)
        rows.sort(key=lambda r: (r[0], r[1], r[2]), reverse=reverse)
        if limit is not None:
            rows = rows[:limit]
        return [row[3] for row in rows]

    async def _query_stream(self, stream: str, match: Any, low: int | None, high: int | None) -> list[Any]:
        key = self._stream_key(stream)
        rows: list[Any] = []
        start: bytes | str = "-"
        while True:
            entries = await self.conn.run("xrange", key, start, "+", count=1000)
            for event in self._decode_entries(stream, entries):
                when = time_us(event.time)
                if (low is not None and when < low) or (high is not None and when >= high):
                    continue
                if match is None or match(event.type):
                    rows.append((when, stream, event.seq, event))
            if len(entries) < 1000:
                return rows
            start = b"(" + entries[-1][0]

    async def _query_time(self, match: Any, low: int | None, high: int | None, limit: int | None,
                          reverse: bool) -> list[Any]:
        lower = "-inf" if low is None else str(low)
        upper = "+inf" if high is None else f"({high}"
        rows: list[Any] = []
        offset = 0
        while True:
            args = [self.space.encode(), self._ids, lower, upper, offset, _QUERY_CHUNK, "1" if reverse else ""]
            reply = await self._run("by_time", [self._time], args)
            read, found = int(reply[0]), reply[1:]
            for when, seq, name, raw in found:
                event = self.codec.decode(raw, name.decode(), int(seq))
                if match is None or match(event.type):
                    rows.append((int(float(when)), event.stream, event.seq, event))
            if read < _QUERY_CHUNK:
                return rows
            offset += read
            if limit is not None and len(rows) >= limit and found:
                # Every later member is at least as late (as early with reverse) as the last one
                # read; the first ``limit`` rows are settled once that time is past theirs.
                edge = int(float(found[-1][0]))
                rows.sort(key=lambda r: (r[0], r[1], r[2]), reverse=reverse)
                cut = rows[limit - 1][0]
                if (edge > cut) if not reverse else (edge < cut):
                    return rows

    async def streams(self, prefix: str = "") -> list[StreamInfo]:
        raw = prefix.encode()
        low, high = (b"[" + raw, b"(" + raw + b"\xff") if raw else (b"-", b"+")
        flat = await self._run("streams", [self._streams], [self.space.encode(), low, high])
        out = []
        for i in range(0, len(flat), 3):
            when = flat[i + 2]
            last = None if not when else datetime.fromisoformat(when.decode()).astimezone(UTC)
            out.append(StreamInfo(flat[i].decode(), int(flat[i + 1]), last))
        return out

    async def delete_stream(self, stream: str) -> int:
        check_stream(stream)
        keys = [self._stream_key(stream), self._ids, self._time, self._streams, self._k("snap:" + stream)]
        return int(await self._run("delete", keys, [stream.encode()], write=True))

    # -- snapshots -------------------------------------------------------------------

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        check_stream(snapshot.stream)
        key, raw = self._k("snap:" + snapshot.stream), serde.dumps(snapshot)
        await self.conn.call(lambda c: c.hset(key, snapshot.name.encode(), raw), write=True)

    async def load_snapshot(self, stream: str, name: str) -> Snapshot | None:
        key = self._k("snap:" + stream)
        raw = await self.conn.call(lambda c: c.hget(key, name.encode()))
        return None if raw is None else serde.loads_as(raw, Snapshot)
