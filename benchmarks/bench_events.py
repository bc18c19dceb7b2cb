"""Event benchmarks: bus delivery, log append and replay, each beside its raw primitive.

Run ``python benchmarks/bench_events.py`` (``--quick`` for a smoke run). Each figure is
the best of ``--repeat`` runs, in events per second. Targets (issue 5): in-process
delivery >= 200,000 events/s to one subscriber; diskcache replay >= 100,000 events/s;
batched append >= 50,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson

from llmspell import Kernel
from llmspell.events import Event
from llmspell.plugins._diskcache import open_cache

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
    args = parser.parse_args()
    report(asyncio.run(main(args.quick, args.repeat)))
