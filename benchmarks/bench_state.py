"""State benchmark: the state service on ``memory`` and ``diskcache`` against its floors.

For get, set, compare-and-set and update with a 200-byte JSON value it measures the
per-operation latency (median, p99) and the throughput of

* the state service (``kernel.state.scope(...)``) on the ``memory`` and ``diskcache``
  backends (``diskcache`` being the embedded default, durable across process crashes);
* bare diskcache with llmspell's store settings (``open_cache``: JSONDisk, no eviction),
  doing the same thing by hand (``transact()`` + ``get(tag=True)`` + ``set`` for a CAS);
* stock diskcache (``diskcache.Cache()`` defaults: pickling, LRU eviction, culling);
* bare SQLite in WAL mode with ``synchronous=NORMAL``: ``INSERT OR REPLACE`` + ``COMMIT``
  and a ``SELECT`` by primary key, the floor under diskcache.

It then prints the ratios the targets are about. Run: ``python benchmarks/bench_state.py``
(``--quick`` for a smoke run). Figures are recorded in ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
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

Row = tuple[str, str, float, float, float]


def _summary(name: str, op: str, samples: list[float], total: float) -> Row:
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return (name, op, statistics.median(samples) * 1e6, p99 * 1e6, len(samples) / total)


def measure_sync(name: str, op: str, fn: Callable[[int], Any], n: int) -> Row:
    for i in range(min(n, 500)):  # warm up
        fn(i)
    samples = []
    perf = time.perf_counter
    start = perf()
    for i in range(n):
        t = perf()
        fn(i)
        samples.append(perf() - t)
    return _summary(name, op, samples, perf() - start)


async def measure_async(name: str, op: str, fn: Callable[[int], Awaitable[Any]], n: int) -> Row:
    for i in range(min(n, 500)):
        await fn(i)
    samples = []
    perf = time.perf_counter
    start = perf()
    for i in range(n):
        t = perf()
        await fn(i)
        samples.append(perf() - t)
    return _summary(name, op, samples, perf() - start)


async def bench_service(backend: str, data_dir: Path, n: int) -> list[Row]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    async with Kernel({"state": {"backend": backend}}, data_dir=data_dir, env=env) as kernel:
        scope = kernel.state.scope("user", "bench")
        keys = [f"key{i}" for i in range(KEYS)]
        versions = {}
        for key in keys:
            versions[key] = await scope.set(key, VALUE)
        name = f"service/{backend}"

        async def put(i: int) -> None:
            key = keys[i % KEYS]
            versions[key] = await scope.set(key, VALUE)

        async def cas(i: int) -> None:
            key = keys[i % KEYS]
            versions[key] = await scope.set(key, VALUE, expected_version=versions[key])

        async def update(i: int) -> None:
            key = keys[i % KEYS]
            versions[key] = (await scope.update(key, lambda v: {**v, "n": v["n"] + 1})).version

        return [
            await measure_async(name, "get", lambda i: scope.get(keys[i % KEYS]), n),
            await measure_async(name, "set", put, n),
            await measure_async(name, "cas", cas, n),
            await measure_async(name, "update", update, n),
        ]


def bench_diskcache(name: str, cache: diskcache.Cache, n: int) -> list[Row]:
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

    rows = [
        measure_sync(name, "get", lambda i: cache.get(keys[i % KEYS]), n),
        measure_sync(name, "set", lambda i: cache.set(keys[i % KEYS], RAW), n),
        measure_sync(name, "cas", cas, n),
        measure_sync(name, "update", update, n),
    ]
    cache.close()
    return rows


def bench_sqlite(path: Path, n: int) -> list[Row]:
    con = sqlite3.connect(str(path), isolation_level=None)
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

    rows = [measure_sync("sqlite", "get", select, n), measure_sync("sqlite", "set", insert, n)]
    con.close()
    return rows


def print_table(rows: list[Row]) -> dict[tuple[str, str], Row]:
    print("| implementation | op | median µs | p99 µs | ops/s |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, op, median, p99, rate in rows:
        print(f"| {name} | {op} | {median:.1f} | {p99:.1f} | {rate:,.0f} |")
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
    parser.add_argument("-n", type=int, default=None, help="operations per measurement")
    args = parser.parse_args()
    n = args.n or (500 if args.quick else 5000)
    print(f"# bench_state: n={n} per operation, {KEYS} keys, 200-byte JSON values")
    print(
        f"# Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, diskcache {diskcache.__version__}, SQLite {sqlite3.sqlite_version}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        root = Path(tmp)
        rows = asyncio.run(bench_service("memory", root / "memory", n * 4))
        rows += asyncio.run(bench_service("diskcache", root / "service", n))
        rows += bench_diskcache("diskcache (llmspell settings)", open_cache(root / "bare"), n)
        rows += bench_diskcache("diskcache (stock defaults)", diskcache.Cache(str(root / "stock")), n)
        rows += bench_sqlite(root / "bare.sqlite", n)
    print()
    by = print_table(rows)
    print_ratios(by)


if __name__ == "__main__":
    sys.exit(main())
