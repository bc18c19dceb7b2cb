"""The event-log conformance suite: what every :class:`~llmspell.plugins.events.backend.EventLog` must do.

A backend's tests subclass :class:`EventLogContract` and override one fixture,
``event_log``, which returns the log, built but not opened::

    from llmspell.contrib.testing.contracts.events import EventLogContract

    class TestRedisEventLog(EventLogContract):
        @pytest.fixture
        def event_log(self, make_kernel):
            kernel = make_kernel({"events": {"backend": "redis"}})
            return kernel.create_backend("event_backend", "redis")

The suite opens it (``open()``; ``health()``, when it has one, must report no problem),
gives it to each test as ``backend`` and closes it after the test. It marks its tests
for pytest-asyncio itself.

Every test writes only to streams named with the ``prefix`` fixture (a fresh UUIDv7 per
test), so the suite can run against a shared server that holds other data. Every test's
docstring states the rule it checks, and a failing assertion names it (``rule: ...``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import pytest_asyncio

from llmspell.errors import ConflictError, SerializationError, ValidationError
from llmspell.ids import new_id
from llmspell.plugins.events.api import MAX_STREAM_LENGTH, Event
from llmspell.plugins.events.backend import Snapshot

from . import opened, raises, selected_backend

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["EventLogContract", "MAX_STREAM_LENGTH"]


def _fields(event: Event) -> dict[str, Any]:
    return attrs.asdict(event, recurse=False)


class EventLogContract:
    """Conformance tests for event-log backends; override the ``event_log`` fixture."""

    pytestmark = [pytest.mark.asyncio]

    kernel_config: Any = None
    """Or set this: a kernel configuration (a mapping, or the text of an ``llmspell.toml``);
    the suite then tests the events backend it selects."""

    @pytest.fixture
    def event_log(self, make_kernel: Callable[..., Kernel]) -> Any:
        """Override: your backend, built but not opened (the suite opens and closes it); or set
        ``kernel_config`` and the suite builds the backend that configuration selects."""
        return selected_backend(make_kernel, self.kernel_config, "events", "event_log")

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
        assert [e.seq for e in first.events] == [1], "rule: a stream's first event gets seq 1"
        batch = await backend.append([self.make(s, n=i) for i in range(5)])
        assert [e.seq for e in batch.events] == [2, 3, 4, 5, 6], "rule: each next event gets the next seq, no gaps"
        assert all(e.stream == s for e in batch.events), "rule: returned events carry their stream"
        assert await backend.last_seq(s) == 6, "rule: last_seq is the highest seq"

    async def test_returned_events_are_the_input_with_a_position(self, backend: Any, prefix: str) -> None:
        """append returns the events as given, field for field, with only seq filled in."""
        event = self.make(prefix + "a", session_id="sess", user_id="u", correlation_id="c", causation_id="k")
        stored = (await backend.append([event])).events[0]
        assert {**_fields(stored), "seq": None} == _fields(event), "rule: append returns the input with only seq set"

    async def test_one_batch_may_span_streams(self, backend: Any, prefix: str) -> None:
        """One batch may hold events of several streams; each stream is numbered on its own."""
        a, b = prefix + "a", prefix + "b"
        result = await backend.append([self.make(a), self.make(b), self.make(a), self.make(b), self.make(b)])
        assert [(e.stream, e.seq) for e in result.events] == [(a, 1), (b, 1), (a, 2), (b, 2), (b, 3)], (
            "rule: one batch may span streams, each numbered on its own"
        )

    async def test_same_event_twice_is_stored_once(self, backend: Any, prefix: str) -> None:
        """An event id already stored is skipped: listed in duplicates, returned with its stored
        seq, never stored twice."""
        s = prefix + "a"
        event = self.make(s)
        first = await backend.append([event])
        again = await backend.append([event])
        assert again.duplicates == {event.id}, "rule: a stored id is listed in duplicates"
        assert again.events[0].seq == first.events[0].seq == 1, "rule: a duplicate is returned with its stored seq"
        assert await backend.last_seq(s) == 1, "rule: a duplicate is not stored again"
        assert len(await backend.read(s)) == 1, "rule: a duplicate is not stored again"

    async def test_duplicates_inside_one_batch_are_stored_once(self, backend: Any, prefix: str) -> None:
        """An event id twice in one batch is stored once; the second copy returns the first's seq."""
        s = prefix + "a"
        one, two = self.make(s, n=1), self.make(s, n=2)
        result = await backend.append([one, two, one, self.make(s, n=3)])
        assert [e.seq for e in result.events] == [1, 2, 1, 3], "rule: a repeat in one batch returns the first's seq"
        assert result.duplicates == {one.id}, "rule: a repeat in one batch is listed in duplicates"
        assert [e.payload["n"] for e in await backend.read(s)] == [1, 2, 3], "rule: a repeat in one batch is stored once"

    async def test_a_duplicate_never_changes_what_is_stored(self, backend: Any, prefix: str) -> None:
        """A duplicate id with other fields (payload, type, stream) changes nothing: the stored
        event is returned."""
        s = prefix + "a"
        event = self.make(s, n=1)
        await backend.append([event])
        forged = attrs.evolve(event, payload={"n": 999}, type="test.other", stream=prefix + "b")
        result = await backend.append([forged])
        assert result.duplicates == {event.id}, "rule: an id is a duplicate whatever its other fields"
        assert result.events[0].payload == {"n": 1} and result.events[0].stream == s, (
            "rule: a duplicate is returned as first stored"
        )
        assert (await backend.read(s))[0].payload == {"n": 1}, "rule: a duplicate changes nothing stored"
        assert await backend.last_seq(prefix + "b") == 0, "rule: a duplicate never creates its stream"

    async def test_incoming_seq_is_ignored(self, backend: Any, prefix: str) -> None:
        """The seq an incoming event carries is ignored; the log assigns it."""
        s = prefix + "a"
        result = await backend.append([attrs.evolve(self.make(s), seq=42)])
        assert result.events[0].seq == 1, "rule: the seq an incoming event carries is ignored"

    async def test_concurrent_appends_stay_gapless(self, backend: Any, prefix: str) -> None:
        """Concurrent appends to one stream stay gapless and lose nothing."""
        s = prefix + "a"

        async def writer(w: int) -> None:
            for i in range(10):
                await backend.append([self.make(s, n=w * 100 + i)])

        await asyncio.gather(*(writer(w) for w in range(20)))
        events = await backend.read(s)
        assert [e.seq for e in events] == list(range(1, 201)), "rule: concurrent appends stay gapless"
        assert len({e.id for e in events}) == 200, "rule: concurrent appends lose nothing"

    async def test_expected_last_seq(self, backend: Any, prefix: str) -> None:
        """expected_last_seq=n appends only when the stream's last seq is n (0: empty), else
        ConflictError; with events of several streams it raises ValidationError."""
        s = prefix + "a"
        await backend.append([self.make(s)], expected_last_seq=0)
        await backend.append([self.make(s), self.make(s)], expected_last_seq=1)
        with raises(ConflictError, "expected_last_seq other than the last seq raises ConflictError"):
            await backend.append([self.make(s)], expected_last_seq=1)
        assert await backend.last_seq(s) == 3, "rule: a refused append stores nothing"
        with raises(ValidationError, "expected_last_seq with events of several streams raises ValidationError"):
            await backend.append([self.make(s), self.make(prefix + "b")], expected_last_seq=3)

    async def test_a_bad_event_fails_the_whole_batch(self, backend: Any, prefix: str) -> None:
        """A batch with one bad event (not JSON, NaN, no stream, a bad type name) raises
        SerializationError or ValidationError and stores nothing."""
        s = prefix + "a"
        with raises(SerializationError, "a payload that is not JSON raises SerializationError"):
            await backend.append([self.make(s), Event("test.bad", {"x": object()}, stream=s)])
        with raises(SerializationError, "a NaN in a payload raises SerializationError"):
            await backend.append([self.make(s), Event("test.bad", {"x": float("nan")}, stream=s)])
        with raises(ValidationError, "an event without a stream raises ValidationError"):
            await backend.append([self.make(s), Event("test.nostream", {})])
        with raises(ValidationError, "a bad type name raises ValidationError"):
            await backend.append([self.make(s), Event("not a type!", {}, stream=s)])
        assert await backend.last_seq(s) == 0, "rule: a batch with a bad event stores nothing"

    # -- reading -----------------------------------------------------------------------

    async def test_read_ranges(self, backend: Any, prefix: str) -> None:
        """read(stream, from_seq, to_seq, limit) returns from_seq <= seq <= to_seq (both inclusive)
        in order, at most limit (0: none); past the end or an empty range gives []; a missing stream
        reads [] with last_seq 0."""
        s = prefix + "a"
        await backend.append([self.make(s, n=i) for i in range(1, 11)])
        assert [e.seq for e in await backend.read(s)] == list(range(1, 11)), "rule: read returns the stream in order"
        assert [e.seq for e in await backend.read(s, 4)] == list(range(4, 11)), "rule: from_seq is inclusive"
        assert [e.seq for e in await backend.read(s, 4, 6)] == [4, 5, 6], "rule: to_seq is inclusive"
        assert [e.seq for e in await backend.read(s, 2, limit=3)] == [2, 3, 4], "rule: read returns at most limit"
        assert [e.payload["n"] for e in await backend.read(s, 9)] == [9, 10], "rule: read returns each seq's event"
        assert await backend.read(s, 11) == [], "rule: a range past the end reads []"
        assert await backend.read(s, 5, 4) == [], "rule: an empty range (from_seq > to_seq) reads []"
        assert await backend.read(s, limit=0) == [], "rule: limit=0 reads []"
        assert [e.seq for e in await backend.read(s, 0, limit=2)] == [1, 2], "rule: from_seq=0 reads from seq 1"
        assert await backend.read(prefix + "missing") == [], "rule: an unknown stream reads []"
        assert await backend.last_seq(prefix + "missing") == 0, "rule: an unknown stream's last_seq is 0"

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
        assert _fields(got) == {**_fields(event), "seq": 1}, "rule: every field round-trips exactly"
        assert got.time.tzinfo is not None and got.time.utcoffset() == timedelta(0), "rule: times come back in UTC"
        assert await backend.get(event.id) == got, "rule: get(id) returns the stored event"
        assert await backend.get(new_id()) is None, "rule: get of an unknown id is None"

    async def test_unknown_type_is_kept_as_a_plain_event(self, backend: Any, prefix: str) -> None:
        """An event of an unregistered type is read back as a plain Event with every field."""
        s = prefix + "a"
        event = self.make(s, type=f"contract-unknown-{new_id()[-12:]}.thing.happened")
        await backend.append([event])
        (got,) = await backend.read(s)
        assert type(got) is Event, "rule: an unregistered type reads back as a plain Event"
        assert _fields(got) == {**_fields(event), "seq": 1}, "rule: ... with every field"

    async def test_query_by_type_pattern(self, backend: Any, prefix: str) -> None:
        """query(types=) matches type patterns: * is one segment, ** any number; a list matches any
        of its patterns."""
        s = prefix + "a"
        names = ["agent.started", "agent.tool.called", "agent", "tool.called", "agentx.started"]
        await backend.append([Event(f"{prefix[:-1]}.{n}", {}, stream=s) for n in names])
        base = prefix[:-1]

        async def types(pattern: Any) -> list[str]:
            return [e.type.removeprefix(base + ".") for e in await backend.query(types=pattern, stream=s)]

        assert await types(f"{base}.agent.*") == ["agent.started"], "rule: * matches one segment"
        assert await types(f"{base}.agent.**") == ["agent.started", "agent.tool.called"], "rule: ** matches one or more"
        assert await types(f"{base}.agent") == ["agent"], "rule: a name without * matches exactly"
        assert await types(f"{base}.*.called") == ["tool.called"], "rule: * matches one segment anywhere"
        assert await types([f"{base}.agent", f"{base}.tool.*"]) == ["agent", "tool.called"], (
            "rule: a list matches any of its patterns"
        )
        assert len(await types("**")) == 5, "rule: ** alone matches every type"

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

        assert await ns(since=at[0], until=at[5] + timedelta(seconds=1)) == [0, 1, 2, 3, 4, 5], (
            "rule: query returns every stream's events in time order"
        )
        assert await ns(since=at[1], until=at[4]) == [1, 2, 3], "rule: query filters by [since, until)"
        assert await ns(since=at[2], until=at[5] + timedelta(seconds=1), stream=b) == [3, 5], (
            "rule: query(stream=) returns that stream only"
        )
        assert await ns(since=at[0], until=at[5] + timedelta(seconds=1), reverse=True) == [5, 4, 3, 2, 1, 0], (
            "rule: reverse=True is newest first"
        )
        got = await backend.query(stream=a, limit=2, reverse=True)
        assert [e.payload["n"] for e in got] == [4, 2], "rule: limit cuts after ordering (the two newest)"
        assert await backend.query(stream=a, limit=0) == [], "rule: limit=0 returns nothing"

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
            with raises(ValidationError, f"read({name}=-1) raises ValidationError naming {name}", match=name):
                await backend.read(s, **kw)

    async def test_bad_query_arguments_raise_validation_error(self, backend: Any, prefix: str) -> None:
        """query with a negative or non-integer limit, or a since or until that is not a
        timezone-aware datetime, raises ValidationError naming the argument (LogQuery.of, in
        llmspell.plugins.events.backend, checks every argument)."""
        await backend.append([self.make(prefix + "a")])
        naive = datetime(2030, 1, 1)
        bad: list[tuple[str, Any]] = [("limit", -1), ("limit", "2"), ("limit", 1.5), ("since", naive),
                                      ("until", naive), ("until", "2030-01-01")]
        for name, value in bad:
            with raises(ValidationError, f"query({name}={value!r}) raises ValidationError naming {name}", match=name):
                await backend.query(**{name: value})

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
        with raises(ValidationError, "a stream name over MAX_STREAM_LENGTH raises ValidationError naming the limit",
                    match=str(MAX_STREAM_LENGTH)):
            await backend.append([self.make(s + "x")])
        assert [i.name for i in await backend.streams(prefix)] == [s], "rule: a stream name over the limit stores nothing"
        assert await backend.delete_stream(s) == 1, "rule: a stream of the longest name can be deleted"

    async def test_streams_are_listed_by_prefix(self, backend: Any, prefix: str) -> None:
        """streams(prefix) lists the streams starting with prefix, in name order, with their last
        seq and last time."""
        await backend.append([self.make(prefix + "b"), self.make(prefix + "a"), self.make(prefix + "b")])
        infos = await backend.streams(prefix)
        assert [(i.name, i.last_seq) for i in infos] == [(prefix + "a", 1), (prefix + "b", 2)], (
            "rule: streams(prefix) lists the streams with the prefix by name, with their last seq"
        )
        assert all(i.last_time is not None for i in infos), "rule: each listed stream has a last_time"

    async def test_delete_stream(self, backend: Any, prefix: str) -> None:
        """delete_stream removes a stream's events (get finds none), returns their count, leaves
        other streams, and the stream starts again at seq 1."""
        a, b = prefix + "a", prefix + "b"
        events = [self.make(a, n=i) for i in range(3)]
        await backend.append([*events, self.make(b)])
        assert await backend.delete_stream(a) == 3, "rule: delete_stream returns how many events it removed"
        assert await backend.read(a) == [], "rule: a deleted stream reads []"
        assert await backend.last_seq(a) == 0, "rule: a deleted stream's last_seq is 0"
        assert await backend.get(events[0].id) is None, "rule: a deleted stream's ids are gone"
        assert [i.name for i in await backend.streams(prefix)] == [b], "rule: a deleted stream is not listed"
        assert await backend.last_seq(b) == 1, "rule: other streams are untouched"
        again = await backend.append([self.make(a)])
        assert again.events[0].seq == 1, "rule: a deleted stream starts again at seq 1"
        assert await backend.delete_stream(prefix + "never") == 0, "rule: deleting an unknown stream returns 0"

    # -- snapshots -----------------------------------------------------------------------

    async def test_snapshots(self, backend: Any, prefix: str) -> None:
        """save_snapshot replaces the snapshot of (stream, name); load_snapshot returns the last one
        or None; delete_stream removes the stream's snapshots."""
        s = prefix + "a"
        assert await backend.load_snapshot(s, "counts") is None, "rule: no snapshot until one is saved"
        when = datetime(2030, 1, 1, tzinfo=UTC)
        await backend.save_snapshot(Snapshot(s, "counts", 1, 10, {"total": 10, "by": {"x": [1, 2]}}, when))
        await backend.save_snapshot(Snapshot(s, "other", 2, 5, [1, 2, 3], when))
        await backend.save_snapshot(Snapshot(s, "counts", 1, 20, {"total": 20, "by": {}}, when))
        got = await backend.load_snapshot(s, "counts")
        assert got == Snapshot(s, "counts", 1, 20, {"total": 20, "by": {}}, when), "rule: saving replaces, equal"
        assert (await backend.load_snapshot(s, "other")).state == [1, 2, 3], "rule: other names are left alone"
        await backend.append([self.make(s)])
        await backend.delete_stream(s)
        assert await backend.load_snapshot(s, "counts") is None, "rule: delete_stream removes the snapshots"
        assert await backend.load_snapshot(s, "other") is None, "rule: delete_stream removes every snapshot"
