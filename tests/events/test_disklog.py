"""The diskcache log's own machinery: time order without a full time index, group commit,
the schema migration and the WAL checkpoints (the contract suite covers the rest)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmspell.errors import ConflictError, SchemaVersionError
from llmspell.plugins._diskcache import WAL_PAGES
from llmspell.plugins.events._disklog import SCHEMA_VERSION, DiskcacheEventLog
from llmspell.plugins.events._memory import MemoryEventLog
from llmspell.plugins.events._timeorder import SKEW_US, by_id
from llmspell.plugins.events.api import Event
from llmspell.plugins.events.backend import EventCodec, time_us

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture
async def log(tmp_path: Path) -> Any:
    log = DiskcacheEventLog(tmp_path / "log")
    await log.open()
    yield log
    await log.close()


def uuid7_at(ms: int, rng: random.Random) -> str:
    """A UUIDv7 text whose time is ``ms`` (random otherwise)."""
    return "%08x-%04x-7%03x-%04x-%012x" % (  # noqa: UP031
        ms >> 16, ms & 0xFFFF, rng.getrandbits(12), 0x8000 | rng.getrandbits(14), rng.getrandbits(48)
    )


def at_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def mixed_events(rng: random.Random, streams: list[str], n: int) -> list[Event]:
    """Events with every relation between id and time the log can meet."""
    base_ms = 1_900_000_000_000
    events = []
    for i in range(n):
        stream = rng.choice(streams)
        kind = rng.randrange(8)
        ms = base_ms + rng.randrange(200)
        if kind == 0:  # as published: a fresh id and the current time
            events.append(Event("t.now", {"i": i}, stream=stream))
            continue
        start = ms * 1000
        offsets = [0, 999, -SKEW_US, -SKEW_US - 1, 999 + SKEW_US, 1000 + SKEW_US, rng.randrange(-50_000, 50_000)]
        when = start + rng.choice(offsets)
        if kind == 1:  # a time far from the id's (a caller's time, an import)
            when = start + rng.choice([-1, 1]) * rng.randrange(10**6, 10**9)
        event_id = uuid7_at(ms, rng)
        if kind == 2:
            event_id = event_id.upper()  # not lowercase: never goes by id
        elif kind == 3:
            event_id = f"import-{i:05d}"
        elif kind == 4 and events:  # the same time as an earlier event: ties
            when = time_us(rng.choice(events).time)
        events.append(Event(f"t.k{kind}", {"i": i}, id=event_id, time=at_us(when), stream=stream))
    return events


def test_by_id_holds_only_within_the_window() -> None:
    rng = random.Random(1)
    ms = 1_700_000_000_123
    event_id = uuid7_at(ms, rng)
    start = ms * 1000
    assert by_id(event_id, start) == 1
    assert by_id(event_id, start - SKEW_US) == 1
    assert by_id(event_id, start + 999 + SKEW_US) == 1
    assert by_id(event_id, start - SKEW_US - 1) is None
    assert by_id(event_id, start + 1000 + SKEW_US) is None
    assert by_id(event_id.upper(), start) is None
    assert by_id("not-an-id", start) is None
    assert by_id(" " + event_id[1:], start) is None
    fresh = Event("t.x", {})
    assert by_id(fresh.id, time_us(fresh.time)) == 1


async def test_queries_agree_with_the_memory_log(log: DiskcacheEventLog) -> None:
    rng = random.Random(7)
    streams = ["a", "b", "c"]
    events = mixed_events(rng, streams, 600)
    memory = MemoryEventLog(EventCodec())
    await memory.open()
    for start in range(0, len(events), 50):  # batches and single appends
        batch = events[start : start + 50]
        if start % 100:
            await log.append(batch)
            await memory.append(batch)
        else:
            for event in batch:
                await log.append([event])
                await memory.append([event])
    times = sorted(time_us(e.time) for e in events)
    cases: list[dict[str, Any]] = [{}, {"reverse": True}, {"limit": 7}, {"limit": 7, "reverse": True}]
    for _ in range(40):
        low, high = sorted(rng.sample(times, 2))
        case: dict[str, Any] = {"since": at_us(low + rng.randrange(-3, 3)), "until": at_us(high)}
        if rng.random() < 0.3:
            case["stream"] = rng.choice(streams)
        if rng.random() < 0.3:
            case["types"] = rng.choice(["t.k1", "t.*", ["t.k4", "t.now"]])
        if rng.random() < 0.5:
            case["limit"] = rng.randrange(1, 40)
        case["reverse"] = rng.random() < 0.5
        cases.append(case)
    cases.append({"since": at_us(times[0] - 10**12), "until": at_us(times[-1] + 10**12)})
    cases.append({"limit": 0})
    cases.append({"since": datetime(1, 1, 1, tzinfo=UTC), "until": datetime(9999, 1, 1, tzinfo=UTC)})
    for case in cases:
        expected = [(e.stream, e.seq) for e in await memory.query(**case)]
        got = [(e.stream, e.seq) for e in await log.query(**case)]
        assert got == expected, case
    kinds = {by_id(e.id, time_us(e.time)) for e in events}
    assert kinds == {1, None}  # both paths were exercised


async def test_time_queries_use_the_id_index_and_the_partial_time_index(log: DiskcacheEventLog) -> None:
    await log.append([Event("t.x", {}, stream="s")])

    def plans() -> list[str]:
        con = log._cache._con
        out = []
        for sql in (
            "SELECT id FROM llmspell_events INDEXED BY llmspell_events_id WHERE by_id = 1 AND id >= ? AND id < ?"
            " ORDER BY id DESC",
            "SELECT time FROM llmspell_events INDEXED BY llmspell_events_time_x WHERE by_id IS NULL AND time >= ?"
            " ORDER BY time, stream, seq",
        ):
            out += [row[-1] for row in con.execute("EXPLAIN QUERY PLAN " + sql, (1,) * sql.count("?"))]
        return out

    found = await log._run(plans)
    assert not any("TEMP B-TREE" in step for step in found), found
    assert await log.query(since=datetime.now(UTC) - timedelta(minutes=1), limit=1)


# -- group commit ---------------------------------------------------------------------


async def test_each_batch_of_a_group_gets_its_own_outcome(log: DiskcacheEventLog) -> None:
    first = Event("t.x", {"n": 0}, stream="s")
    await log.append([first])
    results = await asyncio.gather(
        log.append([Event("t.x", {"n": 1}, stream="s")]),
        log.append([first]),  # a duplicate
        log.append([Event("t.x", {"n": 2}, stream="s")], expected_last_seq=0),  # a conflict
        log.append([Event("t.x", {"n": 3}, stream="s"), first, Event("t.x", {"n": 4}, stream="t")]),
        return_exceptions=True,
    )
    assert [e.seq for e in results[0].events] == [2]
    assert results[1].duplicates == {first.id} and results[1].events[0].seq == 1
    assert isinstance(results[2], ConflictError)
    assert [(e.stream, e.seq) for e in results[3].events] == [("s", 3), ("s", 1), ("t", 1)]
    assert [e.payload["n"] for e in await log.read("s")] == [0, 1, 3]


async def test_a_duplicate_in_another_stream_is_found_without_a_lookup(log: DiskcacheEventLog) -> None:
    event = Event("t.x", {}, stream="a")
    await log.append([event])
    moved = Event("t.x", {}, id=event.id, time=event.time, stream="b")
    result = await log.append([moved])
    assert result.duplicates == {event.id}
    assert (result.events[0].stream, result.events[0].seq) == ("a", 1)
    assert await log.last_seq("b") == 0


async def test_appends_one_at_a_time_still_let_other_tasks_run(log: DiskcacheEventLog) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    for i in range(64):  # no other await in this loop
        await log.append([Event("t.x", {"i": i}, stream="s")])
    task.cancel()
    assert ticks >= 64 // log._writer.solo_burst  # type: ignore[union-attr]
    assert await log.last_seq("s") == 64


async def test_concurrent_appenders_still_share_transactions(log: DiskcacheEventLog) -> None:
    commits = 0
    writer: Any = log._writer
    counted = writer._committed

    def count(pages: int) -> None:
        nonlocal commits
        commits += 1
        counted(pages)

    writer._committed = count

    async def appender(w: int) -> None:
        for i in range(20):
            await log.append([Event("t.x", {"w": w, "i": i}, stream="s")])

    await asyncio.gather(*(appender(w) for w in range(50)))
    assert [e.seq for e in await log.read("s")] == list(range(1, 1001))
    assert commits < 100, commits  # 1000 appends in groups, not one transaction each


# -- schema ----------------------------------------------------------------------------

V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS llmspell_events (
    stream TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL,
    time INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (stream, seq)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS llmspell_events_id ON llmspell_events (id);
CREATE INDEX IF NOT EXISTS llmspell_events_time ON llmspell_events (time);
CREATE TABLE IF NOT EXISTS llmspell_event_streams (
    stream TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, last_time INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS llmspell_event_snapshots (
    stream TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (stream, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS llmspell_event_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO llmspell_event_meta VALUES ('schema_version', 1);
"""


def write_v1_log(directory: Path, events: list[Event]) -> None:
    """A log as schema version 1 wrote it: its tables in diskcache's database, rows and counters."""
    from llmspell.plugins._diskcache import open_cache

    cache = open_cache(directory)
    con = cache._con
    codec = EventCodec()
    with cache.transact():
        for statement in V1_SCHEMA.split(";"):
            if statement.strip():
                con.execute(statement)
        last: dict[str, int] = {}
        for event in events:
            assert event.stream is not None
            seq = last[event.stream] = last.get(event.stream, 0) + 1
            when = time_us(event.time)
            con.execute("INSERT INTO llmspell_events VALUES (?, ?, ?, ?, ?, ?)",
                        (event.stream, seq, event.id, event.type, when, codec.encode(event)))
            con.execute(
                "INSERT INTO llmspell_event_streams VALUES (?, ?, ?) ON CONFLICT (stream) DO UPDATE "
                "SET last_seq = excluded.last_seq, last_time = max(coalesce(last_time, 0), excluded.last_time)",
                (event.stream, seq, when),
            )
    cache.close()


def indexes(directory: Path) -> set[str]:
    con = sqlite3.connect(directory / "cache.db")
    try:
        return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'llmspell_events'"
                                              " AND type = 'index'")}
    finally:
        con.close()


async def test_a_version_1_log_is_migrated_and_keeps_working(tmp_path: Path) -> None:
    directory = tmp_path / "old"
    rng = random.Random(3)
    old = mixed_events(rng, ["a", "b"], 120)
    write_v1_log(directory, old)
    assert "llmspell_events_time" in indexes(directory)

    logs = [DiskcacheEventLog(directory), DiskcacheEventLog(directory)]
    await asyncio.gather(*(log.open() for log in logs))  # two openers migrate it once
    log, other = logs
    try:
        assert indexes(directory) >= {"llmspell_events_id", "llmspell_events_time_x"}
        assert "llmspell_events_time" not in indexes(directory)
        version = await log._run(
            lambda: log._cache._con.execute("SELECT value FROM llmspell_event_meta").fetchone()[0]
        )
        assert version == SCHEMA_VERSION == 2
        memory = MemoryEventLog(EventCodec())
        await memory.open()
        await memory.append(old)
        for stream in ("a", "b"):
            assert [e.id for e in await log.read(stream)] == [e.id for e in await memory.read(stream)]
        assert [(i.name, i.last_seq) for i in await log.streams()] == [
            (i.name, i.last_seq) for i in await memory.streams()
        ]
        new = mixed_events(rng, ["a", "b"], 60)
        await other.append(new[:30])
        await memory.append(new[:30])
        for event in new[30:]:
            await log.append([event])
            await memory.append([event])
        everything = {"since": datetime(1, 1, 1, tzinfo=UTC), "until": datetime(9999, 1, 1, tzinfo=UTC)}
        for case in ({}, {"reverse": True, "limit": 25}, everything, {"types": "t.k1", "stream": "a"}):
            got = [e.id for e in await log.query(**case)]
            assert got == [e.id for e in await memory.query(**case)], case
        again = await log.append([old[0]])
        assert again.duplicates == {old[0].id}
        got = await log.get(old[5].id)
        assert got is not None and got == await memory.get(old[5].id)
        assert await log.last_seq("a") == await memory.last_seq("a")  # (re-used import ids were duplicates)
    finally:
        await asyncio.gather(*(log.close() for log in logs))


async def test_a_log_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    log = DiskcacheEventLog(tmp_path / "log")
    await log.open()
    await log._run(lambda: log._cache._con.execute("UPDATE llmspell_event_meta SET value = 99"))
    await log.close()
    with pytest.raises(SchemaVersionError):
        await DiskcacheEventLog(tmp_path / "log").open()


# -- the write-ahead log ---------------------------------------------------------------


async def test_checkpoints_run_off_the_loop_and_the_wal_stays_bounded(log: DiskcacheEventLog) -> None:
    for i in range(3000):
        await log.append([Event("t.x", {"i": i, "pad": "x" * 200}, stream=f"s{i % 7}")])
    await asyncio.sleep(0.05)
    assert log._checkpointer is not None and log._checkpointer.checkpoints > 0
    wal = log.directory / "cache.db-wal"
    assert wal.stat().st_size <= (WAL_PAGES + 500) * (4096 + 24)
    await log.append([Event("t.x", {}, stream="s0")])
    assert await log.last_seq("s0") == 3000 // 7 + 2
