"""The event-log conformance suite: what every :class:`~llmspell.plugins.events.backend.EventLog` must do.

A backend's tests subclass :class:`EventLogContract` and override one fixture,
``event_log``, which yields an opened log (and closes it afterwards)::

    from llmspell.contrib.testing.contracts.events import EventLogContract

    class TestRedisEventLog(EventLogContract):
        @pytest.fixture
        async def event_log(self, make_kernel):
            kernel = make_kernel({"events": {"backend": "redis"}})
            log = kernel.create_backend("event backend", "redis")
            await log.open()
            yield log
            await log.close()

Every test writes only to streams named with the ``prefix`` fixture (a fresh UUIDv7 per
test), so the suite can run against a shared server that holds other data.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from llmspell.errors import ConflictError, SerializationError, ValidationError
from llmspell.ids import new_id
from llmspell.plugins.events.api import Event
from llmspell.plugins.events.backend import Snapshot

__all__ = ["EventLogContract"]


def _fields(event: Event) -> dict[str, Any]:
    return attrs.asdict(event, recurse=False)


class EventLogContract:
    """Conformance tests for event-log backends; override the ``event_log`` fixture."""

    @pytest.fixture
    async def event_log(self) -> Any:
        pytest.fail("override the event_log fixture to yield an opened EventLog")

    @pytest.fixture
    def prefix(self) -> str:
        return f"contract-{new_id()}-"

    @staticmethod
    def make(stream: str, type: str = "test.happened", n: int = 0, **fields: Any) -> Event:
        return Event(type, {"n": n}, stream=stream, **fields)

    # -- appending ---------------------------------------------------------------------

    async def test_append_assigns_gapless_sequence_from_one(self, event_log: Any, prefix: str) -> None:
        s = prefix + "a"
        first = await event_log.append([self.make(s)])
        assert [e.seq for e in first.events] == [1]
        batch = await event_log.append([self.make(s, n=i) for i in range(5)])
        assert [e.seq for e in batch.events] == [2, 3, 4, 5, 6]
        assert all(e.stream == s for e in batch.events)
        assert await event_log.last_seq(s) == 6

    async def test_returned_events_are_the_input_with_a_position(self, event_log: Any, prefix: str) -> None:
        event = self.make(prefix + "a", session_id="sess", user_id="u", correlation_id="c", causation_id="k")
        stored = (await event_log.append([event])).events[0]
        assert {**_fields(stored), "seq": None} == _fields(event)

    async def test_one_batch_may_span_streams(self, event_log: Any, prefix: str) -> None:
        a, b = prefix + "a", prefix + "b"
        result = await event_log.append([self.make(a), self.make(b), self.make(a), self.make(b), self.make(b)])
        assert [(e.stream, e.seq) for e in result.events] == [(a, 1), (b, 1), (a, 2), (b, 2), (b, 3)]

    async def test_same_event_twice_is_stored_once(self, event_log: Any, prefix: str) -> None:
        s = prefix + "a"
        event = self.make(s)
        first = await event_log.append([event])
        again = await event_log.append([event])
        assert again.duplicates == {event.id}
        assert again.events[0].seq == first.events[0].seq == 1
        assert await event_log.last_seq(s) == 1
        assert len(await event_log.read(s)) == 1

    async def test_duplicates_inside_one_batch_are_stored_once(self, event_log: Any, prefix: str) -> None:
        s = prefix + "a"
        one, two = self.make(s, n=1), self.make(s, n=2)
        result = await event_log.append([one, two, one, self.make(s, n=3)])
        assert [e.seq for e in result.events] == [1, 2, 1, 3]
        assert result.duplicates == {one.id}
        assert [e.payload["n"] for e in await event_log.read(s)] == [1, 2, 3]

    async def test_a_duplicate_never_changes_what_is_stored(self, event_log: Any, prefix: str) -> None:
        s = prefix + "a"
        event = self.make(s, n=1)
        await event_log.append([event])
        forged = attrs.evolve(event, payload={"n": 999}, type="test.other", stream=prefix + "b")
        result = await event_log.append([forged])
        assert result.duplicates == {event.id}
        assert result.events[0].payload == {"n": 1} and result.events[0].stream == s
        assert (await event_log.read(s))[0].payload == {"n": 1}
        assert await event_log.last_seq(prefix + "b") == 0

    async def test_incoming_seq_is_ignored(self, event_log: Any, prefix: str) -> None:
        s = prefix + "a"
        result = await event_log.append([attrs.evolve(self.make(s), seq=42)])
        assert result.events[0].seq == 1

    async def test_concurrent_appends_stay_gapless(self, event_log: Any, prefix: str) -> None:
        s = prefix + "a"

        async def writer(w: int) -> None:
            for i in range(10):
                await event_log.append([self.make(s, n=w * 100 + i)])

        await asyncio.gather(*(writer(w) for w in range(20)))
        events = await event_log.read(s)
        assert [e.seq for e in events] == list(range(1, 201))
        assert len({e.id for e in events}) == 200

    async def test_expected_last_seq(self, event_log: Any, prefix: str) -> None:
        s = prefix + "a"
        await event_log.append([self.make(s)], expected_last_seq=0)
        await event_log.append([self.make(s), self.make(s)], expected_last_seq=1)
        with pytest.raises(ConflictError):
            await event_log.append([self.make(s)], expected_last_seq=1)
        assert await event_log.last_seq(s) == 3
        with pytest.raises(ValidationError):
            await event_log.append([self.make(s), self.make(prefix + "b")], expected_last_seq=3)

    async def test_a_bad_event_fails_the_whole_batch(self, event_log: Any, prefix: str) -> None:
        s = prefix + "a"
        with pytest.raises(SerializationError):
            await event_log.append([self.make(s), Event("test.bad", {"x": object()}, stream=s)])
        with pytest.raises(SerializationError):
            await event_log.append([self.make(s), Event("test.bad", {"x": float("nan")}, stream=s)])
        with pytest.raises(ValidationError):
            await event_log.append([self.make(s), Event("test.nostream", {})])
        with pytest.raises(ValidationError):
            await event_log.append([self.make(s), Event("not a type!", {}, stream=s)])
        assert await event_log.last_seq(s) == 0

    # -- reading -----------------------------------------------------------------------

    async def test_read_ranges(self, event_log: Any, prefix: str) -> None:
        s = prefix + "a"
        await event_log.append([self.make(s, n=i) for i in range(1, 11)])
        assert [e.seq for e in await event_log.read(s)] == list(range(1, 11))
        assert [e.seq for e in await event_log.read(s, 4)] == list(range(4, 11))
        assert [e.seq for e in await event_log.read(s, 4, 6)] == [4, 5, 6]
        assert [e.seq for e in await event_log.read(s, 2, limit=3)] == [2, 3, 4]
        assert [e.payload["n"] for e in await event_log.read(s, 9)] == [9, 10]
        assert await event_log.read(s, 11) == []
        assert await event_log.read(s, 5, 4) == []
        assert await event_log.read(prefix + "missing") == []
        assert await event_log.last_seq(prefix + "missing") == 0

    async def test_every_field_round_trips(self, event_log: Any, prefix: str) -> None:
        s = prefix + "a"
        when = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)
        payload = {"text": "héllo ✓ \u0000", "nested": {"list": [1, 2.5, True, None, "x"]}, "big": 2**62, "neg": -7}
        event = Event("test.round-trip", payload, time=when, source="contract", session_id="s1", user_id="u1",
                      correlation_id="c1", causation_id="k1", stream=s, schema_version=3)
        await event_log.append([event])
        (got,) = await event_log.read(s)
        assert _fields(got) == {**_fields(event), "seq": 1}
        assert got.time.tzinfo is not None and got.time.utcoffset() == timedelta(0)
        assert await event_log.get(event.id) == got
        assert await event_log.get(new_id()) is None

    async def test_unknown_type_is_kept_as_a_plain_event(self, event_log: Any, prefix: str) -> None:
        s = prefix + "a"
        event = self.make(s, type=f"contract-unknown-{new_id()[-12:]}.thing.happened")
        await event_log.append([event])
        (got,) = await event_log.read(s)
        assert type(got) is Event
        assert _fields(got) == {**_fields(event), "seq": 1}

    async def test_query_by_type_pattern(self, event_log: Any, prefix: str) -> None:
        s = prefix + "a"
        names = ["agent.started", "agent.tool.called", "agent", "tool.called", "agentx.started"]
        await event_log.append([Event(f"{prefix[:-1]}.{n}", {}, stream=s) for n in names])
        base = prefix[:-1]

        async def types(pattern: Any) -> list[str]:
            return [e.type.removeprefix(base + ".") for e in await event_log.query(types=pattern, stream=s)]

        assert await types(f"{base}.agent.*") == ["agent.started"]
        assert await types(f"{base}.agent.**") == ["agent.started", "agent.tool.called"]
        assert await types(f"{base}.agent") == ["agent"]
        assert await types(f"{base}.*.called") == ["tool.called"]
        assert await types([f"{base}.agent", f"{base}.tool.*"]) == ["agent", "tool.called"]
        assert len(await types("**")) == 5

    async def test_query_by_time_range_in_time_order(self, event_log: Any, prefix: str) -> None:
        a, b = prefix + "a", prefix + "b"
        t0 = datetime(2030, 1, 1, tzinfo=UTC)
        at = [t0 + timedelta(seconds=i) for i in range(6)]
        await event_log.append([self.make(a, n=0, time=at[0]), self.make(b, n=1, time=at[1]), self.make(a, n=2, time=at[2])])
        await event_log.append([self.make(b, n=3, time=at[3]), self.make(a, n=4, time=at[4]), self.make(b, n=5, time=at[5])])
        mine = [a, b]

        async def ns(**kw: Any) -> list[int]:
            return [e.payload["n"] for e in await event_log.query(**kw) if e.stream in mine]

        assert await ns(since=at[0], until=at[5] + timedelta(seconds=1)) == [0, 1, 2, 3, 4, 5]
        assert await ns(since=at[1], until=at[4]) == [1, 2, 3]
        assert await ns(since=at[2], until=at[5] + timedelta(seconds=1), stream=b) == [3, 5]
        assert await ns(since=at[0], until=at[5] + timedelta(seconds=1), reverse=True) == [5, 4, 3, 2, 1, 0]
        got = await event_log.query(stream=a, limit=2, reverse=True)
        assert [e.payload["n"] for e in got] == [4, 2]

    async def test_streams_are_listed_by_prefix(self, event_log: Any, prefix: str) -> None:
        await event_log.append([self.make(prefix + "b"), self.make(prefix + "a"), self.make(prefix + "b")])
        infos = await event_log.streams(prefix)
        assert [(i.name, i.last_seq) for i in infos] == [(prefix + "a", 1), (prefix + "b", 2)]
        assert all(i.last_time is not None for i in infos)

    async def test_delete_stream(self, event_log: Any, prefix: str) -> None:
        a, b = prefix + "a", prefix + "b"
        events = [self.make(a, n=i) for i in range(3)]
        await event_log.append([*events, self.make(b)])
        assert await event_log.delete_stream(a) == 3
        assert await event_log.read(a) == []
        assert await event_log.last_seq(a) == 0
        assert await event_log.get(events[0].id) is None
        assert [i.name for i in await event_log.streams(prefix)] == [b]
        assert await event_log.last_seq(b) == 1
        again = await event_log.append([self.make(a)])
        assert again.events[0].seq == 1
        assert await event_log.delete_stream(prefix + "never") == 0

    # -- snapshots -----------------------------------------------------------------------

    async def test_snapshots(self, event_log: Any, prefix: str) -> None:
        s = prefix + "a"
        assert await event_log.load_snapshot(s, "counts") is None
        when = datetime(2030, 1, 1, tzinfo=UTC)
        await event_log.save_snapshot(Snapshot(s, "counts", 1, 10, {"total": 10, "by": {"x": [1, 2]}}, when))
        await event_log.save_snapshot(Snapshot(s, "other", 2, 5, [1, 2, 3], when))
        await event_log.save_snapshot(Snapshot(s, "counts", 1, 20, {"total": 20, "by": {}}, when))
        got = await event_log.load_snapshot(s, "counts")
        assert got == Snapshot(s, "counts", 1, 20, {"total": 20, "by": {}}, when)
        assert (await event_log.load_snapshot(s, "other")).state == [1, 2, 3]
        await event_log.append([self.make(s)])
        await event_log.delete_stream(s)
        assert await event_log.load_snapshot(s, "counts") is None
        assert await event_log.load_snapshot(s, "other") is None
