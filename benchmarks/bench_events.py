"""Event benchmarks: bus delivery, log append and replay, each beside its raw primitive.

Run ``python benchmarks/bench_events.py`` (``--quick`` for a smoke run). Each figure of
the first table is the best of ``--repeat`` runs, in events per second. Targets (issue
5): in-process delivery >= 200,000 events/s to one subscriber; diskcache replay >=
100,000 events/s; batched append >= 50,000 events/s.

The second table is the latency of one logged write on the diskcache log (median, p99
and mean of every call, and the spread of the medians of ``--rounds`` rounds), beside
bare SQLite doing the same writes in the same run: ``BEGIN IMMEDIATE``, read the
stream's last sequence number, insert the row (into a table with the log's primary key
and id index), update the stream's counter, ``COMMIT``, in WAL mode with
``synchronous=NORMAL`` and SQLite's default checkpoints. The rounds interleave the
subjects in a random order, so that load from elsewhere on the machine falls on all.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson

from llmspell import Kernel
from llmspell.ids import new_id
from llmspell.plugins._diskcache import open_cache
from llmspell.plugins.events.api import Event
from llmspell.plugins.events.backend import EventCodec

Row = tuple[str, float, str, float | None]


async def best(repeat: int, run: Callable[[], Awaitable[float]]) -> float:
    """Best events/s of ``repeat`` runs of ``run`` (which returns events/s)."""
    return max([await run() for _ in range(repeat)])


# -- raw primitives ----------------------------------------------------------------------


async def queue_hop(n: int) -> float:
    """An asyncio.Queue between a producer and a consumer: the floor of any async delivery."""
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=10_000)
    item = object()

    async def consume() -> None:
        for _ in range(n):
            await queue.get()

    start = time.perf_counter()
    consumer = asyncio.ensure_future(consume())
    for _ in range(n):
        await queue.put(item)
    await consumer
    return n / (time.perf_counter() - start)


def build_events(n: int) -> float:
    """Building the events alone: a frozen attrs Event with a UUIDv7 id and a UTC time."""
    start = time.perf_counter()
    for i in range(n):
        Event("bench.tick", {"i": i})
    return n / (time.perf_counter() - start)


def sqlite_insert(directory: Path, n: int, batch: int) -> float:
    """Bare SQLite inserts of ~200-byte rows (one transaction per ``batch`` rows)."""
    con = sqlite3.connect(directory / "raw.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=wal")
    con.execute("PRAGMA synchronous=1")
    con.execute("CREATE TABLE IF NOT EXISTS t (k TEXT, s INTEGER, v BLOB, PRIMARY KEY (k, s)) WITHOUT ROWID")
    con.execute("DELETE FROM t")
    blob = b"x" * 200
    start = time.perf_counter()
    for base in range(0, n, batch):
        con.execute("BEGIN IMMEDIATE")
        con.executemany("INSERT INTO t VALUES ('s', ?, ?)", [(base + i, blob) for i in range(batch)])
        con.execute("COMMIT")
    rate = n / (time.perf_counter() - start)
    con.close()
    return rate


def sqlite_select(directory: Path) -> float:
    """Bare SQLite range read of the rows above, plus orjson parsing of an event envelope."""
    con = sqlite3.connect(directory / "raw.db")
    envelope = orjson.dumps(Event("bench.tick", {"i": 1, "text": "hello"}).as_dict())
    start = time.perf_counter()
    n = 0
    for (_blob,) in con.execute("SELECT v FROM t WHERE k = 's' ORDER BY s"):
        orjson.loads(envelope)
        n += 1
    rate = n / (time.perf_counter() - start)
    con.close()
    return rate


def diskcache_set(directory: Path, n: int) -> float:
    """Bare diskcache ``set`` of 200-byte values (the store settings, JSONDisk)."""
    cache = open_cache(directory / "dc")
    blob = b"x" * 200
    start = time.perf_counter()
    for i in range(n):
        cache.set(f"k{i}", blob)
    rate = n / (time.perf_counter() - start)
    cache.close()
    return rate


# -- the bus -------------------------------------------------------------------------------


async def delivery(kernel: Kernel, n: int, subscribers: int, prebuilt: bool) -> float:
    """Publish ``n`` unlogged events and wait until ``subscribers`` sync handlers saw them all."""
    counts = [0] * subscribers

    def make(k: int) -> Callable[[Event], None]:
        def handler(event: Event) -> None:
            counts[k] += 1

        return handler

    subs = [kernel.events.subscribe("bench.*", make(k)) for k in range(subscribers)]
    events = [Event("bench.tick", {"i": i}) for i in range(n)] if prebuilt else None
    publish = kernel.events.publish
    start = time.perf_counter()
    if events is not None:
        for event in events:
            await publish(event)
    else:
        for i in range(n):
            await publish("bench.tick", {"i": i})
    await kernel.events.flush()
    elapsed = time.perf_counter() - start
    assert counts == [n] * subscribers, counts
    for sub in subs:
        sub.unsubscribe()
    return n / elapsed


# -- the diskcache log ------------------------------------------------------------------------


async def append_batched(log: object, n: int, batch: int, stream: str) -> float:
    events = [Event("bench.tick", {"i": i, "text": "hello"}, stream=stream) for i in range(n)]
    start = time.perf_counter()
    for base in range(0, n, batch):
        await log.append(events[base : base + batch])  # type: ignore[attr-defined]
    return n / (time.perf_counter() - start)


async def append_single(log: object, n: int, stream: str, concurrent: int) -> float:
    async def writer(count: int) -> None:
        for i in range(count):
            await log.append([Event("bench.one", {"i": i}, stream=stream)])  # type: ignore[attr-defined]

    start = time.perf_counter()
    await asyncio.gather(*(writer(n // concurrent) for _ in range(concurrent)))
    return n / (time.perf_counter() - start)


async def publish_logged(kernel: Kernel, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        await kernel.events.publish("bench.logged", {"i": i}, session_id="bench-session")
    return n / (time.perf_counter() - start)


async def replay(kernel: Kernel, stream: str) -> float:
    count = 0

    def handler(event: Event) -> None:
        nonlocal count
        count += 1

    start = time.perf_counter()
    await kernel.events.replay(stream, handler)
    return count / (time.perf_counter() - start)


async def main(quick: bool, repeat: int) -> list[Row]:
    scale = 10 if quick else 1
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hop = await best(repeat, lambda: queue_hop(200_000 // scale))
        build = max(build_events(200_000 // scale) for _ in range(repeat))
        async with Kernel(data_dir=root / "bus", env={}, config={"events": {"backend": "memory"}}) as kernel:
            n = 200_000 // scale
            rows.append(("deliver, 1 subscriber: publish(type, payload)",
                         await best(repeat, lambda: delivery(kernel, n, 1, False)), "asyncio.Queue hop", hop))
            rows.append(("", 0.0, "Event(type, payload) alone", build))
            rows.append(("deliver, 1 subscriber: publish(Event)",
                         await best(repeat, lambda: delivery(kernel, n, 1, True)), "asyncio.Queue hop", hop))
            rows.append(("deliver, 10 subscribers (events published/s)",
                         await best(repeat, lambda: delivery(kernel, n // 5, 10, False)), "asyncio.Queue hop", hop))

        raw_batch = max(sqlite_insert(root, 100_000 // scale, 1000) for _ in range(repeat))
        raw_single = max(sqlite_insert(root, 2_000 // scale, 1) for _ in range(repeat))
        raw_select = max(sqlite_select(root) for _ in range(repeat))
        sqlite_insert(root, 100_000 // scale, 1000)
        raw_select = max(raw_select, *(sqlite_select(root) for _ in range(repeat)))
        dc_set = max(diskcache_set(root / f"dc{r}", 5_000 // scale) for r in range(repeat))

        async with Kernel(data_dir=root / "log", env={}) as kernel:
            log = kernel.events.log
            counter = iter(range(1_000_000))
            batched = await best(repeat, lambda: append_batched(log, 100_000 // scale, 1000, f"b{next(counter)}"))
            rows.append(("diskcache append, batches of 1000", batched, "bare SQLite insert, batches of 1000", raw_batch))
            single = await best(repeat, lambda: append_single(log, 2_000 // scale, f"s{next(counter)}", 1))
            rows.append(("diskcache append, one event per call", single, "bare SQLite insert + commit", raw_single))
            rows.append(("", 0.0, "bare diskcache set", dc_set))
            group = await best(repeat, lambda: append_single(log, 10_000 // scale, f"g{next(counter)}", 100))
            rows.append(("diskcache append, 100 concurrent callers", group, "bare SQLite insert + commit", raw_single))
            logged = await best(repeat, lambda: publish_logged(kernel, 2_000 // scale))
            rows.append(("publish with a session (logged, then delivered)", logged, "bare SQLite insert + commit", raw_single))
            rows.append((f"diskcache replay ({100_000 // scale:,} events, 1 stream)",
                         await best(repeat, lambda: replay(kernel, "b0")), "bare SQLite select + orjson parse", raw_select))
    return rows


# -- latency of one logged write -------------------------------------------------------------

_BARE_LAYOUT = """
CREATE TABLE events (stream TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL,
    time INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (stream, seq)) WITHOUT ROWID;
CREATE UNIQUE INDEX events_id ON events (id);
CREATE TABLE streams (stream TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, last_time INTEGER) WITHOUT ROWID;
"""


class BareLog:
    """Bare SQLite doing the writes of one logged append (the floor under the log)."""

    def __init__(self, path: Path) -> None:
        self.con = sqlite3.connect(path, isolation_level=None)
        self.con.execute("PRAGMA journal_mode = wal")
        self.con.execute("PRAGMA synchronous = 1")
        self.con.executescript(_BARE_LAYOUT)
        self.data = EventCodec().encode(Event("bench.logged", {"i": 12345}, session_id="bench-session"))

    def append(self, stream: str) -> None:
        execute = self.con.execute
        when = time.time_ns() // 1000
        execute("BEGIN IMMEDIATE")
        row = execute("SELECT last_seq FROM streams WHERE stream = ?", (stream,)).fetchone()
        seq = (row[0] if row else 0) + 1
        execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", (stream, seq, new_id(), "bench.logged", when, self.data))
        execute(
            "INSERT INTO streams VALUES (?, ?, ?) ON CONFLICT (stream) DO UPDATE "
            "SET last_seq = excluded.last_seq, last_time = max(coalesce(last_time, 0), excluded.last_time)",
            (stream, seq, when),
        )
        execute("COMMIT")


LatencyRow = tuple[str, float, float, float, float, float]


async def latency(root: Path, rounds: int, n: int) -> list[LatencyRow]:
    """Per-call latency of one logged publish and one append, and of the bare floor."""
    bare = BareLog(root / "bare-latency.db")
    samples: dict[str, list[float]] = {}
    medians: dict[str, list[float]] = {}
    async with Kernel(data_dir=root / "latency", env={}) as kernel:
        log = kernel.events.log
        publish = kernel.events.publish
        perf = time.perf_counter

        async def run_publish() -> list[float]:
            out = []
            for i in range(n):
                start = perf()
                await publish("bench.logged", {"i": i}, session_id="bench-session")
                out.append(perf() - start)
            return out

        async def run_append() -> list[float]:
            out = []
            for i in range(n):
                event = Event("bench.one", {"i": i}, stream="bench-append")
                start = perf()
                await log.append([event])
                out.append(perf() - start)
            return out

        async def run_bare() -> list[float]:
            out = []
            for _ in range(n):
                start = perf()
                bare.append("bench-session")
                out.append(perf() - start)
            return out

        subjects = {
            "publish(type, payload, session_id=...): logged": run_publish,
            "log.append([event]), one event": run_append,
            "bare SQLite, the same writes + commit": run_bare,
        }
        for name in subjects:  # warm up
            await subjects[name]()
        for _ in range(rounds):
            order = list(subjects)
            random.shuffle(order)
            for name in order:
                got = await subjects[name]()
                samples.setdefault(name, []).extend(got)
                medians.setdefault(name, []).append(statistics.median(got))
    bare.con.close()
    rows = []
    for name, values in samples.items():
        values.sort()
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        rows.append((name, statistics.median(values) * 1e6, p99 * 1e6, statistics.fmean(values) * 1e6,
                     min(medians[name]) * 1e6, max(medians[name]) * 1e6))
    return rows


def report_latency(rows: list[LatencyRow], rounds: int, n: int) -> None:
    print()
    print(f"latency of one logged write ({rounds} interleaved rounds of {n:,} calls; microseconds)")
    print("| write | median | p99 | mean | round medians |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, median, p99, mean, low, high in rows:
        print(f"| {name} | {median:.1f} | {p99:.1f} | {mean:.1f} | {low:.1f}-{high:.1f} |")


def report(rows: list[Row]) -> None:
    print(f"python {platform.python_version()} on {platform.machine()}, {sys.platform}")
    print(f"| {'benchmark':<50} | {'events/s':>10} | {'raw primitive':<36} | {'raw/s':>10} |")
    print(f"|{'-' * 52}|{'-' * 12}|{'-' * 38}|{'-' * 12}|")
    for name, rate, raw_name, raw in rows:
        shown = f"{rate:>10,.0f}" if name else " " * 10
        print(f"| {name:<50} | {shown} | {raw_name:<36} | {raw or 0:>10,.0f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the work (smoke run)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is shown")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the latency table")
    parser.add_argument("--latency-only", action="store_true", help="only the latency table")
    args = parser.parse_args()
    if not args.latency_only:
        report(asyncio.run(main(args.quick, args.repeat)))
    calls = 300 if args.quick else 2000
    with tempfile.TemporaryDirectory() as tmp:
        report_latency(asyncio.run(latency(Path(tmp), args.rounds, calls)), args.rounds, calls)
