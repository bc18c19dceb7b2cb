"""State benchmark: the state service on ``memory`` and ``diskcache`` against its floors.

For get, set, compare-and-set and update with a 200-byte JSON value it measures the
per-operation latency (median, p99) and the throughput of

* the state service (``kernel.state.scope(...)``) on the ``memory`` and ``diskcache``
  backends (``diskcache`` being the embedded default, durable across process crashes);
* bare diskcache with llmspell's store settings (``open_cache``: JSONDisk, no eviction),
  doing the same thing by hand (``transact()`` + ``get(tag=True)`` + ``set`` for a CAS),
  with SQLite's default checkpoints (every 1000 pages: it has no checkpoint thread);
* stock diskcache (``diskcache.Cache()`` defaults: pickling, LRU eviction, culling);
* bare SQLite in WAL mode with ``synchronous=NORMAL``: ``INSERT OR REPLACE`` + ``COMMIT``
  and a ``SELECT`` by primary key, the floor under diskcache.

Every (implementation, operation) runs ``--rounds`` times, the rounds in a new random
order each, so that load from elsewhere on the machine falls on all of them; the table
shows the median and p99 of all calls and the lowest and highest median of a round.
It then prints the ratios the targets are about. Run: ``python benchmarks/bench_state.py``
(``--quick`` for a smoke run). Figures are recorded in ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import diskcache
import orjson

from llmspell import Kernel
from llmspell.plugins._diskcache import open_cache

KEYS = 1000
VALUE: dict[str, Any] = {"user": "u1", "theme": "dark", "lang": "en", "tags": ["a", "b", "c"], "n": 12345}
VALUE["pad"] = "x" * (200 - len(orjson.dumps(VALUE)) - 9)
assert len(orjson.dumps(VALUE)) == 200
RAW = orjson.dumps(VALUE)

Row = tuple[str, str, float, float, float, float, float]
"""(implementation, op, median us, p99 us, ops/s, lowest and highest round median us)."""

Op = Callable[[int], Any]
"""One operation on key number ``i``: a function, or a coroutine function (``await``-ed)."""


class Subject:
    """One (implementation, operation) measured round after round."""

    def __init__(self, name: str, op: str, fn: Op, is_async: bool, n: int) -> None:
        self.name, self.op, self.fn, self.is_async, self.n = name, op, fn, is_async, n
        self.samples: list[float] = []
        self.medians: list[float] = []
        self.elapsed = 0.0
        self.done = 0

    async def run(self, warm_up: bool = False) -> None:
        fn, perf, samples = self.fn, time.perf_counter, []
        n = min(self.n, 500) if warm_up else self.n
        start = perf()
        for i in range(self.done, self.done + n):
            t = perf()
            if self.is_async:
                await fn(i)
            else:
                fn(i)
            samples.append(perf() - t)
        self.done += n
        if not warm_up:
            self.elapsed += perf() - start
            self.samples += samples
            self.medians.append(statistics.median(samples))

    def row(self) -> Row:
        samples = sorted(self.samples)
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        return (self.name, self.op, statistics.median(samples) * 1e6, p99 * 1e6, len(samples) / self.elapsed,
                min(self.medians) * 1e6, max(self.medians) * 1e6)


async def service_subjects(stack: contextlib.AsyncExitStack, backend: str, data_dir: Path, n: int) -> list[Subject]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    kernel = await stack.enter_async_context(Kernel({"state": {"backend": backend}}, data_dir=data_dir, env=env))
    scope = kernel.state.scope("user", "bench")
    keys = [f"key{i}" for i in range(KEYS)]
    versions = {}
    for key in keys:
        versions[key] = await scope.set(key, VALUE)
    name = f"service/{backend}"

    async def get(i: int) -> None:
        await scope.get(keys[i % KEYS])

    async def put(i: int) -> None:
        key = keys[i % KEYS]
        versions[key] = await scope.set(key, VALUE)

    async def cas(i: int) -> None:
        key = keys[i % KEYS]
        versions[key] = await scope.set(key, VALUE, expected_version=versions[key])

    async def update(i: int) -> None:
        key = keys[i % KEYS]
        versions[key] = (await scope.update(key, lambda v: {**v, "n": v["n"] + 1})).version

    return [Subject(name, op, fn, True, n) for op, fn in (("get", get), ("set", put), ("cas", cas), ("update", update))]


def diskcache_subjects(stack: contextlib.ExitStack, name: str, cache: diskcache.Cache, n: int) -> list[Subject]:
    stack.callback(cache.close)
    keys = [f"user/bench/key{i}" for i in range(KEYS)]
    for key in keys:
        cache.set(key, RAW, tag=1)

    def cas(i: int) -> None:
        key = keys[i % KEYS]
        with cache.transact():
            _, version = cache.get(key, tag=True)
            cache.set(key, RAW, tag=(version or 0) + 1)

    def update(i: int) -> None:
        key = keys[i % KEYS]
        data, version = cache.get(key, tag=True)
        value = orjson.loads(data)
        value["n"] += 1
        with cache.transact():
            _, current = cache.get(key, tag=True)
            if current == version:
                cache.set(key, orjson.dumps(value), tag=(version or 0) + 1)

    ops: list[tuple[str, Op]] = [
        ("get", lambda i: cache.get(keys[i % KEYS])),
        ("set", lambda i: cache.set(keys[i % KEYS], RAW)),
        ("cas", cas),
        ("update", update),
    ]
    return [Subject(name, op, fn, False, n) for op, fn in ops]


def bare_cache(directory: Path) -> diskcache.Cache:
    """The store settings, but SQLite's own checkpoint policy (no Checkpointer runs here)."""
    return open_cache(directory, sqlite_wal_autocheckpoint=1000)


def sqlite_subjects(stack: contextlib.ExitStack, path: Path, n: int) -> list[Subject]:
    con = sqlite3.connect(str(path), isolation_level=None)
    stack.callback(con.close)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB)")
    keys = [f"user/bench/key{i}" for i in range(KEYS)]
    con.executemany("INSERT INTO kv VALUES (?, ?)", [(k, RAW) for k in keys])

    def insert(i: int) -> None:
        con.execute("BEGIN")
        con.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (keys[i % KEYS], RAW))
        con.execute("COMMIT")

    def select(i: int) -> None:
        con.execute("SELECT value FROM kv WHERE key = ?", (keys[i % KEYS],)).fetchone()

    return [Subject("sqlite", "get", select, False, n), Subject("sqlite", "set", insert, False, n)]


async def measure(root: Path, n: int, rounds: int) -> list[Row]:
    """Every subject ``rounds`` times, in a new random order each round."""
    async with contextlib.AsyncExitStack() as astack:
        with contextlib.ExitStack() as stack:
            subjects = await service_subjects(astack, "memory", root / "memory", n * 4)
            subjects += await service_subjects(astack, "diskcache", root / "service", n)
            subjects += diskcache_subjects(stack, "diskcache (llmspell settings)", bare_cache(root / "bare"), n)
            subjects += diskcache_subjects(stack, "diskcache (stock defaults)", diskcache.Cache(str(root / "stock")), n)
            subjects += sqlite_subjects(stack, root / "bare.sqlite", n)
            for subject in subjects:
                await subject.run(warm_up=True)
            for _ in range(rounds):
                random.shuffle(subjects)
                for subject in subjects:
                    await subject.run()
            subjects.sort(key=lambda s: ORDER.index((s.name, s.op)))
            return [subject.row() for subject in subjects]


ORDER = [
    (name, op)
    for name in ("service/memory", "service/diskcache", "diskcache (llmspell settings)", "diskcache (stock defaults)")
    for op in ("get", "set", "cas", "update")
] + [("sqlite", "get"), ("sqlite", "set")]


def print_table(rows: list[Row]) -> dict[tuple[str, str], Row]:
    print("| implementation | op | median µs | p99 µs | ops/s | round medians µs |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, op, median, p99, rate, low, high in rows:
        print(f"| {name} | {op} | {median:.1f} | {p99:.1f} | {rate:,.0f} | {low:.1f}-{high:.1f} |")
    return {(r[0], r[1]): r for r in rows}


def print_ratios(by: dict[tuple[str, str], Row]) -> None:
    def ratio(a: tuple[str, str], b: tuple[str, str]) -> float:
        return by[a][2] / by[b][2]

    checks = [
        (
            "service/diskcache get / bare diskcache get",
            ratio(("service/diskcache", "get"), ("diskcache (llmspell settings)", "get")),
            1.5,
        ),
        (
            "service/diskcache set / bare diskcache set",
            ratio(("service/diskcache", "set"), ("diskcache (llmspell settings)", "set")),
            1.5,
        ),
        (
            "service/diskcache cas / bare diskcache cas",
            ratio(("service/diskcache", "cas"), ("diskcache (llmspell settings)", "cas")),
            1.5,
        ),
        (
            "service/diskcache update / bare diskcache update",
            ratio(("service/diskcache", "update"), ("diskcache (llmspell settings)", "update")),
            1.5,
        ),
        (
            "service/diskcache set / sqlite INSERT+COMMIT",
            ratio(("service/diskcache", "set"), ("sqlite", "set")),
            3.0,
        ),
        (
            "service/diskcache get / sqlite SELECT",
            ratio(("service/diskcache", "get"), ("sqlite", "get")),
            3.0,
        ),
        (
            "stock diskcache set / sqlite INSERT+COMMIT",
            ratio(("diskcache (stock defaults)", "set"), ("sqlite", "set")),
            None,
        ),
    ]
    print()
    print("| ratio (medians) | value | target | met |")
    print("| --- | ---: | ---: | --- |")
    for label, value, target in checks:
        met = "" if target is None else ("yes" if value <= target else "NO")
        shown = "" if target is None else f"≤ {target}"
        print(f"| {label} | {value:.2f} | {shown} | {met} |")
    memory_get = by[("service/memory", "get")][2]
    print(f"| service/memory get (µs) | {memory_get:.2f} | < 5 | {'yes' if memory_get < 5 else 'NO'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations (a smoke run)")
    parser.add_argument("-n", type=int, default=None, help="operations per measurement and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each in a new random order")
    args = parser.parse_args()
    n = args.n or (200 if args.quick else 2000)
    print(f"# bench_state: {args.rounds} rounds of n={n} per operation, {KEYS} keys, 200-byte JSON values")
    print(
        f"# Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, diskcache {diskcache.__version__}, SQLite {sqlite3.sqlite_version}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        rows = asyncio.run(measure(Path(tmp), n, args.rounds))
    print()
    by = print_table(rows)
    print_ratios(by)


if __name__ == "__main__":
    sys.exit(main())
