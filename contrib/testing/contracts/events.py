"""The event-log conformance suite: what every :class:`~llmspell.plugins.events.backend.EventLog` must do.

A backend's tests subclass :class:`EventLogContract` and override one fixture,
``event_log``, which returns the log, built but not opened::

    from llmspell.contrib.testing.contracts.events import EventLogContract

    class TestRedisEventLog(EventLogContract):
        @pytest.fixture
        def event_log(self, make_kernel):
            kernel = make_kernel({"events": {"backend": "redis"}})
            return kernel.create_backend("event backend", "redis")

The suite opens it (``open()``; ``health()``, when it has one, must report no problem),
gives it to each test as ``backend`` and closes it after the test. It marks its tests
for pytest-asyncio itself.

Every test writes only to streams named with the ``prefix`` fixture (a fresh UUIDv7 per
test), so the suite can run against a shared server that holds other data.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
import pytest_asyncio

from llmspell.errors import ConflictError, SerializationError, ValidationError
from llmspell.ids import new_id
from llmspell.plugins.events.api import MAX_STREAM_LENGTH, Event
from llmspell.plugins.events.backend import Snapshot

from . import opened

__all__ = ["EventLogContract", "MAX_STREAM_LENGTH"]


def _fields(event: Event) -> dict[str, Any]:
    return attrs.asdict(event, recurse=False)


class EventLogContract:
    """Conformance tests for event-log backends; override the ``event_log`` fixture."""

    pytestmark = [pytest.mark.asyncio]

    @pytest.fixture
    def event_log(self) -> Any:
        """Override: your event log, built but not opened (the suite opens and closes it)."""
        raise NotImplementedError("override the event_log fixture to return your EventLog, not opened")

    @pytest_asyncio.fixture
    async def backend(self, event_log: Any) -> AsyncIterator[Any]:
        """The log under test, opened (and healthy) for the test, closed after it."""
        async with opened(event_log, "event_log") as log:
            yield log

    @pytest.fixture
    def prefix(self) -> str:
        return f"contract-{new_id()}-"

    @staticmethod
    def make(stream: str, type: str = "test.happened", n: int = 0, **fields: Any) -> Event:
        return Event(type, {"n": n}, stream=stream, **fields)

    # -- appending ---------------------------------------------------------------------

    async def test_append_assigns_gapless_sequence_from_one(self, backend: Any, prefix: str) -> None:
        """Each stream's events get seq 1, 2, 3 ... in append order, with no gaps; last_seq is the
        highest."""
        s = prefix + "a"
        first = await backend.append([self.make(s)])
        assert [e.seq for e in first.events] == [1]
        batch = await backend.append([self.make(s, n=i) for i in range(5)])
        assert [e.seq for e in batch.events] == [2, 3, 4, 5, 6]
        assert all(e.stream == s for e in batch.events)
        assert await backend.last_seq(s) == 6

    async def test_returned_events_are_the_input_with_a_position(self, backend: Any, prefix: str) -> None:
        """append returns the events as given, field for field, with only seq filled in."""
        event = self.make(prefix + "a", session_id="sess", user_id="u", correlation_id="c", causation_id="k")
        stored = (await backend.append([event])).events[0]
        assert {**_fields(stored), "seq": None} == _fields(event)

    async def test_one_batch_may_span_streams(self, backend: Any, prefix: str) -> None:
        """One batch may hold events of several streams; each stream is numbered on its own."""
        a, b = prefix + "a", prefix + "b"
        result = await backend.append([self.make(a), self.make(b), self.make(a), self.make(b), self.make(b)])
        assert [(e.stream, e.seq) for e in result.events] == [(a, 1), (b, 1), (a, 2), (b, 2), (b, 3)]

    async def test_same_event_twice_is_stored_once(self, backend: Any, prefix: str) -> None:
        """An event id already stored is skipped: listed in duplicates, returned with its stored
        seq, never stored twice."""
        s = prefix + "a"
        event = self.make(s)
        first = await backend.append([event])
        again = await backend.append([event])
        assert again.duplicates == {event.id}
        assert again.events[0].seq == first.events[0].seq == 1
        assert await backend.last_seq(s) == 1
        assert len(await backend.read(s)) == 1

    async def test_duplicates_inside_one_batch_are_stored_once(self, backend: Any, prefix: str) -> None:
        """An event id twice in one batch is stored once; the second copy returns the first's seq."""
        s = prefix + "a"
        one, two = self.make(s, n=1), self.make(s, n=2)
        result = await backend.append([one, two, one, self.make(s, n=3)])
        assert [e.seq for e in result.events] == [1, 2, 1, 3]
        assert result.duplicates == {one.id}
        assert [e.payload["n"] for e in await backend.read(s)] == [1, 2, 3]

    async def test_a_duplicate_never_changes_what_is_stored(self, backend: Any, prefix: str) -> None:
        """A duplicate id with other fields (payload, type, stream) changes nothing: the stored
        event is returned."""
        s = prefix + "a"
        event = self.make(s, n=1)
        await backend.append([event])
        forged = attrs.evolve(event, payload={"n": 999}, type="test.other", stream=prefix + "b")
        result = await backend.append([forged])
        assert result.duplicates == {event.id}
        assert result.events[0].payload == {"n": 1} and result.events[0].stream == s
        assert (await backend.read(s))[0].payload == {"n": 1}
        assert await backend.last_seq(prefix + "b") == 0

    async def test_incoming_seq_is_ignored(self, backend: Any, prefix: str) -> None:
        """The seq an incoming event carries is ignored; the log assigns it."""
        s = prefix + "a"
        result = await backend.append([attrs.evolve(self.make(s), seq=42)])
        assert result.events[0].seq == 1

    async def test_concurrent_appends_stay_gapless(self, backend: Any, prefix: str) -> None:
        """Concurrent appends to one stream stay gapless and lose nothing."""
        s = prefix + "a"

        async def writer(w: int) -> None:
            for i in range(10):
                await backend.append([self.make(s, n=w * 100 + i)])

        await asyncio.gather(*(writer(w) for w in range(20)))
        events = await backend.read(s)
        assert [e.seq for e in events] == list(range(1, 201))
        assert len({e.id for e in events}) == 200

    async def test_expected_last_seq(self, backend: Any, prefix: str) -> None:
        """expected_last_seq=n appends only when the stream's last seq is n (0: empty), else
        ConflictError; with events of several streams it raises ValidationError."""
        s = prefix + "a"
        await backend.append([self.make(s)], expected_last_seq=0)
        await backend.append([self.make(s), self.make(s)], expected_last_seq=1)
        with pytest.raises(ConflictError):
            await backend.append([self.make(s)], expected_last_seq=1)
        assert await backend.last_seq(s) == 3
        with pytest.raises(ValidationError):
            await backend.append([self.make(s), self.make(prefix + "b")], expected_last_seq=3)

    async def test_a_bad_event_fails_the_whole_batch(self, backend: Any, prefix: str) -> None:
        """A batch with one bad event (not JSON, NaN, no stream, a bad type name) raises
        SerializationError or ValidationError and stores nothing."""
        s = prefix + "a"
        with pytest.raises(SerializationError):
            await backend.append([self.make(s), Event("test.bad", {"x": object()}, stream=s)])
        with pytest.raises(SerializationError):
            await backend.append([self.make(s), Event("test.bad", {"x": float("nan")}, stream=s)])
        with pytest.raises(ValidationError):
            await backend.append([self.make(s), Event("test.nostream", {})])
        with pytest.raises(ValidationError):
            await backend.append([self.make(s), Event("not a type!", {}, stream=s)])
        assert await backend.last_seq(s) == 0

    # -- reading -----------------------------------------------------------------------

    async def test_read_ranges(self, backend: Any, prefix: str) -> None:
        """read(stream, from_seq, to_seq, limit) returns from_seq <= seq <= to_seq (both inclusive)
        in order, at most limit; past the end or an empty range gives []; a missing stream reads []
        with last_seq 0."""
        s = prefix + "a"
        await backend.append([self.make(s, n=i) for i in range(1, 11)])
        assert [e.seq for e in await backend.read(s)] == list(range(1, 11))
        assert [e.seq for e in await backend.read(s, 4)] == list(range(4, 11))
        assert [e.seq for e in await backend.read(s, 4, 6)] == [4, 5, 6]
        assert [e.seq for e in await backend.read(s, 2, limit=3)] == [2, 3, 4]
        assert [e.payload["n"] for e in await backend.read(s, 9)] == [9, 10]
        assert await backend.read(s, 11) == []
        assert await backend.read(s, 5, 4) == []
        assert await backend.read(prefix + "missing") == []
        assert await backend.last_seq(prefix + "missing") == 0

    async def test_every_field_round_trips(self, backend: Any, prefix: str) -> None:
        """Every field round-trips exactly (microsecond UTC time, NUL and non-ASCII text, 62-bit
        ints); get(id) finds the event, an unknown id gives None."""
        s = prefix + "a"
        when = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)
        payload = {"text": "héllo ✓ \u0000", "nested": {"list": [1, 2.5, True, None, "x"]}, "big": 2**62, "neg": -7}
        event = Event("test.round-trip", payload, time=when, source="contract", session_id="s1", user_id="u1",
                      correlation_id="c1", causation_id="k1", stream=s, schema_version=3)
        await backend.append([event])
        (got,) = await backend.read(s)
        assert _fields(got) == {**_fields(event), "seq": 1}
        assert got.time.tzinfo is not None and got.time.utcoffset() == timedelta(0)
        assert await backend.get(event.id) == got
        assert await backend.get(new_id()) is None

    async def test_unknown_type_is_kept_as_a_plain_event(self, backend: Any, prefix: str) -> None:
        """An event of an unregistered type is read back as a plain Event with every field."""
        s = prefix + "a"
        event = self.make(s, type=f"contract-unknown-{new_id()[-12:]}.thing.happened")
        await backend.append([event])
        (got,) = await backend.read(s)
        assert type(got) is Event
        assert _fields(got) == {**_fields(event), "seq": 1}

    async def test_query_by_type_pattern(self, backend: Any, prefix: str) -> None:
        """query(types=) matches type patterns: * is one segment, ** any number; a list matches any
        of its patterns."""
        s = prefix + "a"
        names = ["agent.started", "agent.tool.called", "agent", "tool.called", "agentx.started"]
        await backend.append([Event(f"{prefix[:-1]}.{n}", {}, stream=s) for n in names])
        base = prefix[:-1]

        async def types(pattern: Any) -> list[str]:
            return [e.type.removeprefix(base + ".") for e in await backend.query(types=pattern, stream=s)]

        assert await types(f"{base}.agent.*") == ["agent.started"]
        assert await types(f"{base}.agent.**") == ["agent.started", "agent.tool.called"]
        assert await types(f"{base}.agent") == ["agent"]
        assert await types(f"{base}.*.called") == ["tool.called"]
        assert await types([f"{base}.agent", f"{base}.tool.*"]) == ["agent", "tool.called"]
        assert len(await types("**")) == 5

    async def test_query_by_time_range_in_time_order(self, backend: Any, prefix: str) -> None:
        """query returns events of every stream in time order (reverse=True: newest first), at most
        limit, filtered by since and until."""
        a, b = prefix + "a", prefix + "b"
        t0 = datetime(2030, 1, 1, tzinfo=UTC)
        at = [t0 + timedelta(seconds=i) for i in range(6)]
        await backend.append([self.make(a, n=0, time=at[0]), self.make(b, n=1, time=at[1]), self.make(a, n=2, time=at[2])])
        await backend.append([self.make(b, n=3, time=at[3]), self.make(a, n=4, time=at[4]), self.make(b, n=5, time=at[5])])
        mine = [a, b]

        async def ns(**kw: Any) -> list[int]:
            return [e.payload["n"] for e in await backend.query(**kw) if e.stream in mine]

        assert await ns(since=at[0], until=at[5] + timedelta(seconds=1)) == [0, 1, 2, 3, 4, 5]
        assert await ns(since=at[1], until=at[4]) == [1, 2, 3]
        assert await ns(since=at[2], until=at[5] + timedelta(seconds=1), stream=b) == [3, 5]
        assert await ns(since=at[0], until=at[5] + timedelta(seconds=1), reverse=True) == [5, 4, 3, 2, 1, 0]
        got = await backend.query(stream=a, limit=2, reverse=True)
        assert [e.payload["n"] for e in got] == [4, 2]

    async def test_query_time_bounds(self, backend: Any, prefix: str) -> None:
        """query's since is inclusive (time >= since) and until is exclusive (time < until), the
        same half-open rule as the session and artifact time filters."""
        s = prefix + "a"
        t0 = datetime(2031, 1, 1, tzinfo=UTC)
        at = [t0 + timedelta(seconds=i) for i in range(3)]
        await backend.append([self.make(s, n=i, time=at[i]) for i in range(3)])

        async def ns(**kw: Any) -> list[int]:
            return [e.payload["n"] for e in await backend.query(stream=s, **kw)]

        assert await ns(since=at[1]) == [1, 2], "rule: since is inclusive"
        assert await ns(until=at[1]) == [0], "rule: until is exclusive"
        assert await ns(since=at[1], until=at[1]) == [], "rule: since == until is an empty range"
        assert await ns(since=at[1], until=at[2]) == [1], "rule: [since, until) is half-open"

    async def test_bad_read_arguments_raise_validation_error(self, backend: Any, prefix: str) -> None:
        """read with a negative from_seq, to_seq or limit raises ValidationError naming the argument."""
        s = prefix + "a"
        await backend.append([self.make(s)])
        for name, kw in (("from_seq", {"from_seq": -1}), ("to_seq", {"to_seq": -1}), ("limit", {"limit": -1})):
            with pytest.raises(ValidationError, match=name):
                await backend.read(s, **kw)

    async def test_stream_name_of_the_maximum_length_in_multibyte_characters(self, backend: Any, prefix: str) -> None:
        """A stream name of exactly MAX_STREAM_LENGTH (512) characters, made of 3-byte and 4-byte
        UTF-8 characters, is accepted (appended, read, listed, deleted); one character more raises
        ValidationError naming the limit, and nothing is stored."""
        s = prefix + ("\u20ac\U0001f600" * MAX_STREAM_LENGTH)[: MAX_STREAM_LENGTH - len(prefix)]
        assert len(s) == MAX_STREAM_LENGTH
        stored = await backend.append([self.make(s, n=1)])
        assert stored.events[0].seq == 1, "rule: a stream name of MAX_STREAM_LENGTH characters is accepted"
        assert [e.payload["n"] for e in await backend.read(s)] == [1], "rule: ... and reads back"
        assert [i.name for i in await backend.streams(prefix)] == [s], "rule: ... and is listed whole"
        with pytest.raises(ValidationError, match=str(MAX_STREAM_LENGTH)):
            await backend.append([self.make(s + "x")])
        assert [i.name for i in await backend.streams(prefix)] == [s], "rule: a stream name over the limit stores nothing"
        assert await backend.delete_stream(s) == 1, "rule: a stream of the longest name can be deleted"

    async def test_streams_are_listed_by_prefix(self, backend: Any, prefix: str) -> None:
        """streams(prefix) lists the streams starting with prefix, in name order, with their last
        seq and last time."""
        await backend.append([self.make(prefix + "b"), self.make(prefix + "a"), self.make(prefix + "b")])
        infos = await backend.streams(prefix)
        assert [(i.name, i.last_seq) for i in infos] == [(prefix + "a", 1), (prefix + "b", 2)]
        assert all(i.last_time is not None for i in infos)

    async def test_delete_stream(self, backend: Any, prefix: str) -> None:
        """delete_stream removes a stream's events (get finds none), returns their count, leaves
        other streams, and the stream starts again at seq 1."""
        a, b = prefix + "a", prefix + "b"
        events = [self.make(a, n=i) for i in range(3)]
        await backend.append([*events, self.make(b)])
        assert await backend.delete_stream(a) == 3
        assert await backend.read(a) == []
        assert await backend.last_seq(a) == 0
        assert await backend.get(events[0].id) is None
        assert [i.name for i in await backend.streams(prefix)] == [b]
        assert await backend.last_seq(b) == 1
        again = await backend.append([self.make(a)])
        assert again.events[0].seq == 1
        assert await backend.delete_stream(prefix + "never") == 0

    # -- snapshots -----------------------------------------------------------------------

    async def test_snapshots(self, backend: Any, prefix: str) -> None:
        """save_snapshot replaces the snapshot of (stream, name); load_snapshot returns the last one
        or None; delete_stream removes the stream's snapshots."""
        s = prefix + "a"
        assert await backend.load_snapshot(s, "counts") is None
        when = datetime(2030, 1, 1, tzinfo=UTC)
        await backend.save_snapshot(Snapshot(s, "counts", 1, 10, {"total": 10, "by": {"x": [1, 2]}}, when))
        await backend.save_snapshot(Snapshot(s, "other", 2, 5, [1, 2, 3], when))
        await backend.save_snapshot(Snapshot(s, "counts", 1, 20, {"total": 20, "by": {}}, when))
        got = await backend.load_snapshot(s, "counts")
        assert got == Snapshot(s, "counts", 1, 20, {"total": 20, "by": {}}, when)
        assert (await backend.load_snapshot(s, "other")).state == [1, 2, 3]
        await backend.append([self.make(s)])
        await backend.delete_stream(s)
        assert await backend.load_snapshot(s, "counts") is None
        assert await backend.load_snapshot(s, "other") is None
