"""Reading the NATS event log: finding events inside batch messages, ranges, queries.

A log message holds the events of one append to one stream: a JSON list of envelopes,
with headers ``Llmspell-Seq`` (the first event's sequence number) and ``Llmspell-Count``.
To read from a sequence number, :meth:`LogReader.locate` finds the message holding it by
binary search over the subject's stream sequences (``next_by_subj`` direct gets); a short
read continues with direct gets, a long one through a short-lived consumer.

:class:`~llmspell.contrib.nats.eventlog.NatsEventLog` owns a :class:`LogReader` and
delegates its reading methods to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import orjson

from llmspell.plugins.events.api import Event, MalformedEventError, StreamInfo, check_stream, compile_patterns
from llmspell.plugins.events.backend import EventCodec, LogQuery, check_range, time_us

from ._claims import Claims
from ._jetstream import JetStream, Msg
from .naming import token, untoken

__all__ = ["LogReader", "span", "SEQ", "COUNT"]

SEQ = "Llmspell-Seq"
COUNT = "Llmspell-Count"
_SMALL_READ = 8


def span(msg: Msg) -> tuple[int, int]:
    """The first and last sequence numbers of the events in a log message."""
    first = int(msg.headers.get(SEQ, "0"))
    return first, first + int(msg.headers.get(COUNT, "0")) - 1


class LogReader:
    """Reads one event log: the messages of ``log_stream`` under ``log_subject`` (one subject
    per event stream) and, to find an event by id, its claims."""

    def __init__(self, jetstream: JetStream, claims: Claims, codec: EventCodec, log_stream: str,
                 log_subject: str) -> None:
        self.jetstream = jetstream
        self.claims = claims
        self.codec = codec
        self.log_stream = log_stream
        self.log_subject = log_subject

    def subject(self, stream: str) -> str:
        """The subject of an event stream's messages."""
        return self.log_subject + token(stream)

    def decode(self, msg: Msg, stream: str) -> list[Event]:
        """The events of a log message of ``stream``."""
        first, _ = span(msg)
        try:
            items = orjson.loads(msg.data)
            if type(items) is not list:
                raise ValueError("not a list")
        except ValueError as exc:
            raise MalformedEventError(stream, first, f"log message {msg.seq} is not a JSON list: {exc}") from None
        return [self.codec.from_data(item, stream, first + k) for k, item in enumerate(items)]

    async def locate(self, stream: str, seq: int, last: Msg | None = None) -> Msg | None:
        """The message of ``stream`` holding event ``seq`` (binary search on stream sequences)."""
        subject = self.subject(stream)
        last = last or await self.jetstream.last(self.log_stream, subject)
        if last is None or seq < 1:
            return None
        first_seq, last_seq = span(last)
        if seq > last_seq:
            return None
        if seq >= first_seq:
            return last
        found = await self.jetstream.next(self.log_stream, subject, 1)
        hi = last.seq  # every message at or after hi starts after seq
        while found is not None:
            start, end = span(found)
            if start <= seq <= end:
                return found
            if start > seq or hi - found.seq <= 1:
                return None
            mid = (found.seq + hi + 1) // 2
            probe = await self.jetstream.next(self.log_stream, subject, mid)
            if probe is None or probe.seq >= hi or span(probe)[0] > seq:
                hi = mid
            else:
                found = probe
        return None

    async def event_at(self, stream: str, seq: int) -> Event | None:
        """The event ``seq`` of ``stream``, or None."""
        msg = await self.locate(stream, seq)
        if msg is None:
            return None
        start, _ = span(msg)
        events = self.decode(msg, stream)
        return events[seq - start] if 0 <= seq - start < len(events) else None

    async def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None, limit: int | None = None) -> list[Event]:
        check_range(stream, from_seq, to_seq, limit)
        subject = self.subject(stream)
        last = await self.jetstream.last(self.log_stream, subject)
        if last is None or limit == 0:
            return []
        start = max(from_seq, 1)
        stop = span(last)[1] if to_seq is None else min(to_seq, span(last)[1])
        if limit is not None:
            stop = min(stop, start + limit - 1)
        if start > stop:
            return []
        msg = await self.locate(stream, start, last)
        if msg is None:
            return []
        out: list[Event] = []
        fetched = 1
        while True:
            out.extend(e for e in self.decode(msg, stream) if start <= e.seq <= stop)  # type: ignore[operator]
            tail = msg
            if span(tail)[1] >= stop or tail.seq >= last.seq:
                return out
            if fetched < _SMALL_READ and stop - span(tail)[1] <= _SMALL_READ:  # a short read: direct gets
                nxt = await self.jetstream.next(self.log_stream, subject, tail.seq + 1)
                if nxt is None:
                    return out
                msg, fetched = nxt, fetched + 1
            else:  # a long read: stream the rest through a consumer
                rest = await self.jetstream.scan(self.log_stream, subject, start=tail.seq + 1, until=last.seq,
                                            limit=stop - span(tail)[1])
                for m in rest:
                    out.extend(e for e in self.decode(m, stream) if e.seq <= stop)  # type: ignore[operator]
                return out

    async def get(self, event_id: str) -> Event | None:
        claim = await self.claims.read(event_id)
        if claim is None:
            return None
        event = await self.event_at(claim.stream, claim.seq)
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
        subject = self.subject(check_stream(stream)) if stream is not None else self.log_subject + ">"
        hits = []
        for msg in await self.jetstream.scan(self.log_stream, subject):
            name = untoken(msg.subject[len(self.log_subject):])
            for event in self.decode(msg, name):
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
        info = await self.jetstream.info(self.log_stream, subjects_filter=self.log_subject + ">")
        names = sorted(
            name for name in (untoken(s[len(self.log_subject):]) for s in (info.state.subjects or {}))
            if name.startswith(prefix)
        )
        lasts = await asyncio.gather(*(self.jetstream.last(self.log_stream, self.subject(n)) for n in names))
        out = []
        for name, last in zip(names, lasts, strict=True):
            if last is not None:
                events = self.decode(last, name)
                out.append(StreamInfo(name, span(last)[1], events[-1].time if events else None))
        return out

