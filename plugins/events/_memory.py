"""The ``memory`` event-log backend: one process, nothing survives it.

It stores each event's encoded envelope exactly like the persistent backends do, so an
event read back from memory has been through the same codec (a tuple in a payload
comes back as a list, an unknown type as a plain ``Event``), and it follows the same
contract: atomic batches, gapless per-stream sequences, idempotence on event id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from llmspell import serde
from llmspell.plugins.events.api import Event, StreamInfo, check_stream
from llmspell.plugins.events.backend import AppendResult, EventCodec, LogQuery, Snapshot

from .backend import check_range, from_us, prepare, read_range, time_us

__all__ = ["MemoryEventLog"]


class MemoryEventLog:
    """An :class:`~llmspell.plugins.events.backend.EventLog` in a dict of lists."""

    def __init__(self, codec: EventCodec | None = None) -> None:
        self.codec = codec or EventCodec()
        self._streams: dict[str, list[tuple[str, str, int, bytes]]] = {}
        self._ids: dict[str, tuple[str, int]] = {}
        self._snapshots: dict[tuple[str, str], bytes] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def health(self) -> list[str]:
        return []

    async def append(self, events: Sequence[Event], *, expected_last_seq: int | None = None) -> AppendResult:
        placed = prepare(self.codec, events, expected_last_seq).place(self._last, self._find)
        for event, stream, seq, raw in placed.new:  # no await since the batch was placed: it lands at once
            self._streams.setdefault(stream, []).append((event.id, event.type, time_us(event.time), raw))
            self._ids[event.id] = (stream, seq)
        return placed.result

    def _last(self, stream: str) -> int:
        return len(self._streams.get(stream, ()))

    def _find(self, event_id: str) -> Event | None:
        where = self._ids.get(event_id)
        return None if where is None else self._stored(*where)

    def _stored(self, stream: str, seq: int) -> Event:
        return self.codec.decode(self._streams[stream][seq - 1][3], stream, seq)

    async def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None, limit: int | None = None) -> list[Event]:
        check_range(stream, from_seq, to_seq, limit)
        rows = self._streams.get(stream, [])
        decode = self.codec.decode
        return [decode(rows[seq - 1][3], stream, seq) for seq in read_range(len(rows), from_seq, to_seq, limit)]

    async def last_seq(self, stream: str) -> int:
        check_stream(stream)
        return len(self._streams.get(stream, ()))

    async def get(self, event_id: str) -> Event | None:
        return self._find(event_id)

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
        query = LogQuery.of(types=types, stream=stream, since=since, until=until, limit=limit, reverse=reverse)
        names = [query.stream] if query.stream is not None else list(self._streams)
        hits = [
            (when, name, seq, raw)
            for name in names
            for seq, (_, type_name, when, raw) in enumerate(self._streams.get(name, ()), start=1)
            if query.matches(name, type_name, when)
        ]
        hits.sort(reverse=query.reverse)
        return [self.codec.decode(raw, name, seq) for _, name, seq, raw in hits[: query.limit]]

    async def streams(self, prefix: str = "") -> list[StreamInfo]:
        return [
            StreamInfo(name, len(rows), from_us(rows[-1][2]) if rows else None)
            for name, rows in sorted(self._streams.items())
            if name.startswith(prefix) and rows
        ]

    async def delete_stream(self, stream: str) -> int:
        check_stream(stream)
        rows = self._streams.pop(stream, [])
        for event_id, *_ in rows:
            self._ids.pop(event_id, None)
        for key in [k for k in self._snapshots if k[0] == stream]:
            del self._snapshots[key]
        return len(rows)

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        check_stream(snapshot.stream)
        self._snapshots[(snapshot.stream, snapshot.name)] = serde.dumps(snapshot)

    async def load_snapshot(self, stream: str, name: str) -> Snapshot | None:
        raw = self._snapshots.get((stream, name))
        return None if raw is None else serde.loads_as(raw, Snapshot)
