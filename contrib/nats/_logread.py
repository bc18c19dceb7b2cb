"""Reading the NATS event log: finding events inside batch messages, ranges, queries.

A log message holds the events of one append to one stream: a JSON list of envelopes,
with headers ``Llmspell-Seq`` (the first event's sequence number) and ``Llmspell-Count``.
To read from a sequence number, :meth:`LogReader._locate` finds the message holding it by
binary search over the subject's stream sequences (``next_by_subj`` direct gets); a short
read continues with direct gets, a long one through a short-lived consumer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import orjson

from llmspell.plugins.events.api import Event, MalformedEventError, StreamInfo, check_stream, compile_patterns
from llmspell.plugins.events.backend import EventCodec, LogQuery, check_range, time_us

from ._client import Msg
from .naming import untoken

if TYPE_CHECKING:
    from ._claims import Claims
    from ._client import NatsConnection

__all__ = ["LogReader", "span", "SEQ", "COUNT"]

SEQ = "Llmspell-Seq"
COUNT = "Llmspell-Count"
_SMALL_READ = 8


def span(msg: Msg) -> tuple[int, int]:
    """The first and last sequence numbers of the events in a log message."""
    first = int(msg.headers.get(SEQ, "0"))
    return first, first + int(msg.headers.get(COUNT, "0")) - 1


class LogReader:
    """The reading half of :class:`~llmspell.contrib.nats.eventlog.NatsEventLog`."""

    conn: NatsConnection
    codec: EventCodec
    claims: Claims
    log_stream: str
    _log_subject: str

    def _subject(self, stream: str) -> str:
        raise NotImplementedError

    def _decode(self, msg: Msg, stream: str) -> list[Event]:
        first, _ = span(msg)
        try:
            items = orjson.loads(msg.data)
            if type(items) is not list:
                raise ValueError("not a list")
        except ValueError as exc:
            raise MalformedEventError(stream, first, f"log message {msg.seq} is not a JSON list: {exc}") from None
        return [self.codec.from_data(item, stream, first + k) for k, item in enumerate(items)]

    async def _locate(self, stream: str, seq: int, last: Msg | None = None) -> Msg | None:
        """The message of ``stream`` holding event ``seq`` (binary search on stream sequences)."""
        subject = self._subject(stream)
        last = last or await self.conn.last(self.log_stream, subject)
        if last is None or seq < 1:
            return None
        first_seq, last_seq = span(last)
        if seq > last_seq:
            return None
        if seq >= first_seq:
            return last
        found = await self.conn.next(self.log_stream, subject, 1)
        hi = last.seq  # every message at or after hi starts after seq
        while found is not None:
            start, end = span(found)
            if start <= seq <= end:
                return found
            if start > seq or hi - found.seq <= 1:
                return None
            mid = (found.seq + hi + 1) // 2
            probe = await self.conn.next(self.log_stream, subject, mid)
            if probe is None or probe.seq >= hi or span(probe)[0] > seq:
                hi = mid
            else:
                found = probe
        return None

    async def _event_at(self, stream: str, seq: int) -> Event | None:
        msg = await self._locate(stream, seq)
        if msg is None:
            return None
        start, _ = span(msg)
        events = self._decode(msg, stream)
        return events[seq - start] if 0 <= seq - start < len(events) else None

    async def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None, limit: int | None = None) -> list[Event]:
        check_range(stream, from_seq, to_seq, limit)
        subject = self._subject(stream)
        last = await self.conn.last(self.log_stream, subject)
        if last is None or limit == 0:
            return []
        start = max(from_seq, 1)
        stop = span(last)[1] if to_seq is None else min(to_seq, span(last)[1])
        if limit is not None:
            stop = min(stop, start + limit - 1)
        if start > stop:
            return []
        msg = await self._locate(stream, start, last)
        if msg is None:
            return []
        out: list[Event] = []
        fetched = 1
        while True:
            out.extend(e for e in self._decode(msg, stream) if start <= e.seq <= stop)  # type: ignore[operator]
            tail = msg
            if span(tail)[1] >= stop or tail.seq >= last.seq:
                return out
            if fetched < _SMALL_READ and stop - span(tail)[1] <= _SMALL_READ:  # a short read: direct gets
                nxt = await self.conn.next(self.log_stream, subject, tail.seq + 1)
                if nxt is None:
                    return out
                msg, fetched = nxt, fetched + 1
            else:  # a long read: stream the rest through a consumer
                rest = await self.conn.scan(self.log_stream, subject, start=tail.seq + 1, until=last.seq,
                                            limit=stop - span(tail)[1])
                for m in rest:
                    out.extend(e for e in self._decode(m, stream) if e.seq <= stop)  # type: ignore[operator]
                return out

    async def get(self, event_id: str) -> Event | None:
        claim = await self.claims.read(event_id)
        if claim is None:
            return None
        event = await self._event_at(claim.stream, claim.seq)
        return event if event is not None and event.id == event_id else None

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
        subject = self._subject(check_stream(stream)) if stream is not None else self._log_subject + ">"
        hits = []
        for msg in await self.conn.scan(self.log_stream, subject):
            name = untoken(msg.subject[len(self._log_subject):])
            for event in self._decode(msg, name):
                when = time_us(event.time)
                if (low is not None and when < low) or (high is not None and when >= high):
                    continue
                if match is not None and not match(event.type):
                    continue
                hits.append((when, name, event.seq, event))
        hits.sort(key=lambda h: (h[0], h[1], h[2]), reverse=reverse)
        if limit is not None:
            hits = hits[:limit]
        return [h[3] for h in hits]

    async def streams(self, prefix: str = "") -> list[StreamInfo]:
        info = await self.conn.call(lambda: self.conn.jsm.stream_info(self.log_stream, subjects_filter=self._log_subject + ">"))
        names = sorted(
            name for name in (untoken(s[len(self._log_subject):]) for s in (info.state.subjects or {}))
            if name.startswith(prefix)
        )
        lasts = await asyncio.gather(*(self.conn.last(self.log_stream, self._subject(n)) for n in names))
        out = []
        for name, last in zip(names, lasts, strict=True):
            if last is not None:
                events = self._decode(last, name)
                out.append(StreamInfo(name, span(last)[1], events[-1].time if events else None))
        return out

