"""Redis and NATS backends beside the raw client doing the same round trip, in one run.

Run ``python benchmarks/bench_redis_nats.py`` (``--quick`` for a smoke run) with Redis on
127.0.0.1:6379 and NATS with JetStream on 127.0.0.1:4222 (``--redis``/``--nats`` to
change). Every row times the llmspell operation and the raw one *alternately*, one call
each in turn, so both see the same load on the machine; the ratio is llmspell's median
over the raw median. Everything is written under a fresh prefix and removed at the end.

* state ``get``/``set``/``cas``/``update`` through ``kernel.state`` (the service, its
  envelope, policies and hooks included) beside redis-py ``GET``/``SET`` (a CAS is one
  ``EVALSHA`` round trip; ``update`` is a read and a CAS, beside ``GET`` + ``SET``) and
  beside nats-py key-value ``get``/``put``/``update(last=rev)``; a Redis ``set`` also beside
  the raw client sending the compare-and-set script itself (``EVALSHA``);
* event ``append`` of one event through the log backend beside one ``XADD`` / one
  JetStream publish with its ack; batched appends (1,000 events a call) as events per
  second beside 1,000 pipelined ``XADD`` commands / JetStream publishes; reads of 1,000 events
  (those appended one at a time: one entry or message each) beside ``XRANGE`` / a
  consumer fetching 1,000 messages;
* session records ``put``/``get`` through the Redis session backend beside ``HSET``/``HGET``,
  and ``kernel.sessions.create``/``get`` (which also publish events and take a lease).

Target (issue 10): llmspell's overhead at most 1.3x the raw round trip; batched append on
NATS at least 20,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _timing import paired, percentile, table  # noqa: E402

from llmspell import Kernel, serde  # noqa: E402
from llmspell.contrib.redis._logscripts import APPEND  # noqa: E402
from llmspell.contrib.redis._scripts import CAS  # noqa: E402
from llmspell.contrib.redis.sessions import _PUT as SESSION_PUT  # noqa: E402
from llmspell.ids import new_id  # noqa: E402
from llmspell.plugins.events.api import Event  # noqa: E402

VALUE = {"name": "benchmark", "tags": ["a", "b", "c"], "text": "x" * 140}
RAW_VALUE = b'{"schema_version":1,"value":' + b'{"text":"' + b"x" * 170 + b'"}}'

Op = Callable[[], Awaitable[Any]]


def row(name: str, ours: list[float], theirs: list[float]) -> list[Any]:
    mine, base = statistics.median(ours), statistics.median(theirs)
    return [name, base * 1e6, percentile(theirs, 99) * 1e6, mine * 1e6, percentile(ours, 99) * 1e6,
            f"{mine / base:.2f}x"]


async def rate(fn: Callable[[int], Awaitable[Any]], count: int, repeat: int) -> float:
    """Best events/s of ``repeat`` calls of ``fn(i)``, each handling ``count`` events."""
    best = 0.0
    for i in range(repeat):
        start = time.perf_counter()
        await fn(i)
        best = max(best, count / (time.perf_counter() - start))
    return best


# -- Redis ---------------------------------------------------------------------------


async def bench_redis(url: str, n: int, batch: int, repeat: int) -> tuple[list[list[Any]], list[list[Any]]]:
    import redis.asyncio as aredis

    prefix = f"bench{uuid.uuid4().hex[:8]}"
    config = {"state": {"backend": "redis"}, "sessions": {"backend": "redis"},
              "events": {"backend": "redis", "transport": "local"}, "redis": {"url": url, "prefix": prefix}}
    raw = aredis.Redis.from_url(url)
    latency: list[list[Any]] = []
    throughput: list[list[Any]] = []
    data_dir = Path(tempfile.mkdtemp(prefix="llmspell-bench-"))
    try:
        async with Kernel(config, data_dir=data_dir) as kernel:
            scope = kernel.state.scope("app", "bench")
            await scope.set("k", VALUE)
            await raw.set(f"{prefix}:raw", RAW_VALUE)
            latency.append(row("state get / GET", *await paired(lambda: scope.get("k"), lambda: raw.get(f"{prefix}:raw"), n)))
            latency.append(row("state set / SET", *await paired(lambda: scope.set("k", VALUE),
                                                                lambda: raw.set(f"{prefix}:raw", RAW_VALUE), n)))
            version = [await scope.set("c", VALUE)]

            async def cas() -> None:
                version[0] = await scope.set("c", VALUE, expected_version=version[0])

            latency.append(row("state cas / SET", *await paired(cas, lambda: raw.set(f"{prefix}:raw", RAW_VALUE), n)))
            script = raw.register_script(CAS)
            tokens = iter(range(10**9))

            async def raw_script() -> None:  # the compare-and-set script alone, as the backend sends it
                await script(keys=[f"{prefix}:sr", f"{prefix}:si"], args=[b"m", RAW_VALUE, "", str(next(tokens))])

            latency.append(row("state set / EVALSHA of its script", *await paired(lambda: scope.set("k", VALUE),
                                                                                   raw_script, n)))

            async def raw_update() -> None:
                await raw.get(f"{prefix}:raw")
                await raw.set(f"{prefix}:raw", RAW_VALUE)

            latency.append(row("state update / GET+SET", *await paired(
                lambda: scope.update("u", lambda v: {**VALUE, "n": (v or {}).get("n", 0) + 1}), raw_update, n)))

            log = kernel.events.log
            stream = f"{prefix}-single"
            envelope = kernel.events.codec.encode(Event("bench.tick", {"i": 0}, stream=stream))

            async def append_one() -> None:
                await log.append([Event("bench.tick", {"i": 0}, stream=stream)])

            latency.append(row("event append (1) / XADD", *await paired(
                append_one, lambda: raw.xadd(f"{prefix}:rawx", {b"e": envelope}), n)))
            append_script = raw.register_script(APPEND)
            space = f"{prefix}:rawlog:".encode()
            log_keys = [space + b"ids", space + b"time", space + b"streams", space + b"s:one"]

            async def raw_append() -> None:  # the append script alone, with the arguments the backend sends
                args = [1, "", space, 1, uuid.uuid4().hex[:8], b"one", 1, new_id().encode(), b"bench.tick",
                        time.time(), envelope]
                await append_script(keys=log_keys, args=args)

            latency.append(row("event append (1) / EVALSHA of its script", *await paired(append_one, raw_append, n)))

            async def append_batch(i: int) -> None:
                await log.append([Event("bench.tick", {"i": j}, stream=f"{prefix}-b{i}") for j in range(batch)])

            async def raw_batch(i: int) -> None:
                pipe = raw.pipeline(transaction=True)
                for _ in range(batch):
                    pipe.xadd(f"{prefix}:rawb{i}", {b"e": envelope})
                await pipe.execute()

            ours_batch = await rate(append_batch, batch, repeat)
            raw_batch_rate = await rate(raw_batch, batch, repeat)
            throughput.append(["redis", f"append, {batch} a call", raw_batch_rate, ours_batch,
                               f"{raw_batch_rate / ours_batch:.2f}x"])
            reads = min(batch, n)  # the single appends above wrote n + 50 events
            ours_read = await rate(lambda i: log.read(stream, 1, reads), reads, repeat)
            raw_read = await rate(lambda i: raw.xrange(f"{prefix}:rawx", count=reads), reads, repeat)
            throughput.append(["redis", f"read {reads}", raw_read, ours_read, f"{raw_read / ours_read:.2f}x"])

            backend = kernel.sessions.backend  # type: ignore[attr-defined]
            template = await kernel.sessions.create(user_id="bench", app="bench")
            record = await backend.get(template.id)
            counter = [0]

            async def put_session() -> None:
                counter[0] += 1
                await backend.put(record.replace(id=f"{prefix}-{counter[0]}", version=0), expected_version=0)

            raw_record = b"x" * 400
            latency.append(row("session put / HSET", *await paired(
                put_session, lambda: raw.hset(f"{prefix}:h{counter[0]}", mapping={"v": 1, "d": raw_record}), n)))
            put_script = raw.register_script(SESSION_PUT)
            stored = serde.dumps(record.replace(version=1))
            sessions_space = f"{prefix}:rawsess:"

            async def raw_put() -> None:  # the put script alone, with the arguments the backend sends
                sid = uuid.uuid4().hex
                keys = [f"{sessions_space}s:{sid}".encode(), f"{sessions_space}created".encode()]
                args = [sid.encode(), stored, 0, uuid.uuid4().hex[:24], time.time() * 1000, b"=bench", b"bench",
                        sessions_space.encode()]
                await put_script(keys=keys, args=args)

            latency.append(row("session put / EVALSHA of its script", *await paired(put_session, raw_put, n)))
            latency.append(row("session get / HGET", *await paired(
                lambda: backend.get(template.id), lambda: raw.hmget(f"{prefix}:h1", "v", "d"), n)))
            latency.append(row("sessions.create / HSET", *await paired(
                lambda: kernel.sessions.create(user_id="bench", app="bench"),
                lambda: raw.hset(f"{prefix}:h0", mapping={"v": 1, "d": raw_record}), max(n // 4, 50))))
            latency.append(row("sessions.get / HGET", *await paired(
                lambda: kernel.sessions.get(template.id), lambda: raw.hmget(f"{prefix}:h1", "v", "d"), n)))
    finally:
        keys = [k async for k in raw.scan_iter(match=f"*{prefix}*", count=1000)]
        for start in range(0, len(keys), 500):
            await raw.unlink(*keys[start:start + 500])
        await raw.aclose()
    return latency, throughput


# -- NATS ----------------------------------------------------------------------------


async def bench_nats(url: str, n: int, batch: int, repeat: int) -> tuple[list[list[Any]], list[list[Any]]]:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, KeyValueConfig

    prefix = f"bench{uuid.uuid4().hex[:8]}"
    config = {"state": {"backend": "nats"}, "sessions": {"backend": "memory"},
              "events": {"backend": "nats", "transport": "local"}, "nats": {"servers": url, "prefix": prefix}}
    nc = await nats.connect(url)
    js = nc.jetstream()
    latency: list[list[Any]] = []
    throughput: list[list[Any]] = []
    raw_stream = f"{prefix}_raw"
    try:
        await js.add_stream(name=raw_stream, subjects=[f"{prefix}.raw.>"])
        kv = await js.create_key_value(KeyValueConfig(bucket=f"{prefix}_rawkv", history=1, direct=True))
        async with Kernel(config, data_dir=Path(tempfile.mkdtemp(prefix="llmspell-bench-"))) as kernel:
            scope = kernel.state.scope("app", "bench")
            await scope.set("k", VALUE)
            await kv.put("k", RAW_VALUE)
            latency.append(row("state get / KV get", *await paired(lambda: scope.get("k"), lambda: kv.get("k"), n)))
            latency.append(row("state set / KV put", *await paired(lambda: scope.set("k", VALUE),
                                                                   lambda: kv.put("k", RAW_VALUE), n)))
            version = [await scope.set("c", VALUE)]
            revision = [await kv.put("c", RAW_VALUE)]

            async def cas() -> None:
                version[0] = await scope.set("c", VALUE, expected_version=version[0])

            async def raw_cas() -> None:
                revision[0] = await kv.update("c", RAW_VALUE, last=revision[0])

            latency.append(row("state cas / KV update(last=rev)", *await paired(cas, raw_cas, n)))

            async def raw_update() -> None:
                entry = await kv.get("u0")
                await kv.update("u0", RAW_VALUE, last=entry.revision)

            await kv.put("u0", RAW_VALUE)
            latency.append(row("state update / KV get+update", *await paired(
                lambda: scope.update("u", lambda v: {**VALUE, "n": (v or {}).get("n", 0) + 1}), raw_update, n)))

            log = kernel.events.log
            stream = f"{prefix}-single"
            envelope = kernel.events.codec.encode(Event("bench.tick", {"i": 0}, stream=stream))

            async def append_one() -> None:
                await log.append([Event("bench.tick", {"i": 0}, stream=stream)])

            latency.append(row("event append (1) / publish+ack", *await paired(
                append_one, lambda: js.publish(f"{prefix}.raw.one", envelope), n)))

            async def append_batch(i: int) -> None:
                await log.append([Event("bench.tick", {"i": j}, stream=f"{prefix}-b{i}") for j in range(batch)])

            async def raw_batch(i: int) -> None:
                futures = [await js.publish_async(f"{prefix}.raw.b{i}", envelope) for _ in range(batch)]
                await asyncio.gather(*futures)

            ours_batch = await rate(append_batch, batch, repeat)
            raw_batch_rate = await rate(raw_batch, batch, repeat)
            throughput.append(["nats", f"append, {batch} a call", raw_batch_rate, ours_batch,
                               f"{raw_batch_rate / ours_batch:.2f}x"])

            async def raw_read(i: int) -> None:
                sub = await js.pull_subscribe(f"{prefix}.raw.one", stream=raw_stream,
                                              config=ConsumerConfig(ack_policy=AckPolicy.NONE, mem_storage=True))
                got = 0
                while got < reads:
                    got += len(await sub.fetch(reads - got, timeout=5))
                await sub.unsubscribe()

            reads = min(batch, n)  # the single appends above wrote n + 50 events
            ours_read = await rate(lambda i: log.read(stream, 1, reads), reads, repeat)
            raw_read_rate = await rate(raw_read, reads, repeat)
            throughput.append(["nats", f"read {reads}", raw_read_rate, ours_read, f"{raw_read_rate / ours_read:.2f}x"])
    finally:
        for name in (raw_stream, f"KV_{prefix}_rawkv", f"{prefix}_log", f"{prefix}_ids", f"{prefix}_snap",
                     f"KV_{prefix}_state"):
            try:
                await js.delete_stream(name)
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass
        await nc.close()
    return latency, throughput


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--quick", action="store_true", help="a smoke run with few operations")
    args = parser.parse_args()
    n, batch, repeat = (100, 200, 1) if args.quick else (1000, 1000, 5)
    print(f"Python {platform.python_version()}, {platform.machine()}; {n} calls per row, batches of {batch}\n")
    redis_latency, redis_rates = await bench_redis(args.redis, n, batch, repeat)
    nats_latency, nats_rates = await bench_nats(args.nats, n, batch, repeat)
    columns = ["operation (llmspell / raw)", "raw median µs", "raw p99 µs", "llmspell median µs", "llmspell p99 µs",
               "ratio"]
    print(table("Redis: latency", columns, redis_latency))
    print(table("NATS JetStream: latency", columns, nats_latency))
    print(table("Throughput (events/s, best of runs)",
                ["backend", "operation", "raw", "llmspell", "raw / llmspell"], redis_rates + nats_rates))


if __name__ == "__main__":
    asyncio.run(main())
