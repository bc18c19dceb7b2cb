"""The ``memory`` event-log backend: one process, nothing survives it.

It stores each event's encoded envelope exactly like the persistent backends do, so an
event read back from memory has been through the same codec (a tuple in a payload
comes back as a list, an unknown type as a plain ``Event``), and it follows the same
contract: atomic batches, gapless per-stream sequences, idempotence on event id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from llmspell import serde
from llmspell.plugins.events.api import Event, StreamInfo, check_stream, compile_patterns
from llmspell.plugins.events.backend import AppendResult, EventCodec, Snapshot

from .backend import check_expected, check_range, from_us, prepare, time_us

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
        prepared = prepare(self.codec, events, expected_last_seq)
        if prepared.stream is not None:
            check_expected(prepared, len(self._streams.get(prepared.stream, ())))
        out: list[Event] = []
        duplicates: set[str] = set()
        added: dict[str, list[tuple[str, str, int, bytes]]] = {}
        new_ids: dict[str, tuple[str, int]] = {}
        for event, (stream, event_id, type_name, when, raw) in zip(prepared.events, prepared.rows, strict=True):
            where = self._ids.get(event_id) or new_ids.get(event_id)
            if where is not None:
                duplicates.add(event_id)
                out.append(self._stored(*where, pending=added))
                continue
            rows = added.setdefault(stream, [])
            seq = len(self._streams.get(stream, ())) + len(rows) + 1
            rows.append((event_id, type_name, when, raw))
            new_ids[event_id] = (stream, seq)
            out.append(event.with_position(stream, seq))
        for stream, rows in added.items():  # no await above: the batch lands at once
            self._streams.setdefault(stream, []).extend(rows)
        self._ids.update(new_ids)
        return AppendResult(out, frozenset(duplicates))

    def _stored(self, stream: str, seq: int, pending: dict[str, list[Any]] | None = None) -> Event:
        rows = self._streams.get(stream, [])
        if seq > len(rows) and pending:
            row = pending[stream][seq - len(rows) - 1]
        else:
            row = rows[seq - 1]
        return self.codec.decode(row[3], stream, seq)

    async def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None, limit: int | None = None) -> list[Event]:
        check_range(stream, from_seq, to_seq, limit)
        rows = self._streams.get(stream, [])
        start = max(from_seq, 1)
        stop = len(rows) if to_seq is None else min(to_seq, len(rows))
        if limit is not None:
            stop = min(stop, start + limit - 1)
        decode = self.codec.decode
        return [decode(rows[seq - 1][3], stream, seq) for seq in range(start, stop + 1)]

    async def last_seq(self, stream: str) -> int:
        check_stream(stream)
        return len(self._streams.get(stream, ()))

    async def get(self, event_id: str) -> Event | None:
        where = self._ids.get(event_id)
        return None if where is None else self._stored(*where)

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
        match = None if types is None else compile_patterns(types).match
        low = None if since is None else time_us(since)
        high = None if until is None else time_us(until)
        names = [stream] if stream is not None else list(self._streams)
        hits = []
        for name in names:
            for seq, (_, type_name, when, raw) in enumerate(self._streams.get(name, ()), start=1):
                if (low is not None and when < low) or (high is not None and when >= high):
                    continue
                if match is not None and not match(type_name):
                    continue
                hits.append((when, name, seq, raw))
        hits.sort(reverse=reverse)
        if limit is not None:
            hits = hits[:limit]
        return [self.codec.decode(raw, name, seq) for _, name, seq, raw in hits]

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
