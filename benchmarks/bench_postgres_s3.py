"""PostgreSQL and S3 backends beside their raw clients, in one run.

PostgreSQL (the server at ``LLMSPELL_BENCH_POSTGRES_DSN``, default the local test server;
a fresh schema, dropped afterwards): per operation the median and p99 of

* the state service (``kernel.state``) and the ``postgres`` state backend alone:
  get, set, compare-and-set, update;
* the raw psycopg round trip doing the same thing on a dedicated connection: a
  ``SELECT`` by key, an ``UPDATE`` (``... AND version = n`` for compare-and-set), and
  ``SELECT`` + ``UPDATE`` for update;
* event append (one event per call, and batches of 1,000), read (1,000 per call),
  beside a raw single-row ``INSERT`` and a raw ``INSERT`` of 1,000 rows;
* session create and get (the manager, the backend), beside a raw ``INSERT``/``SELECT``.

The ratio table times each pair again *alternately* (one llmspell call, one raw call, and so
on), so that both see the same load on the machine.

S3 (moto's standalone server on loopback, started here): artifact save and load
throughput through ``kernel.artifacts`` (blobs ``s3``, metadata ``postgres``) for 1 MiB and
64 MiB, beside the raw aiobotocore ``put_object``/``get_object`` of the same bytes.

Run: python benchmarks/bench_postgres_s3.py   (needs ``pip install -e ".[dev]"``)
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from _timing import paired, summarize, table, time_async

from llmspell import Kernel
from llmspell.plugins.events.api import Event

DSN = os.environ.get("LLMSPELL_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
N = int(os.environ.get("LLMSPELL_BENCH_N", "2000"))
VALUE = {"text": "x" * 160, "n": 1}  # about 200 bytes of JSON


#: llmspell's operation, the raw round trip doing the same, the target of their ratio.
RATIOS = (
    ("service/get", "raw psycopg/get (SELECT)", 1.2),
    ("backend/get", "raw psycopg/get (SELECT)", 1.2),
    ("service/set", "raw psycopg/set (UPDATE)", 1.2),
    ("backend/set", "raw psycopg/set (UPDATE)", 1.2),
    ("service/cas", "raw psycopg/cas (UPDATE ... AND version = n)", 1.2),
    ("service/update", "raw psycopg/update (SELECT + UPDATE)", 1.2),
    ("backend/event append (1 event)", "raw psycopg/event counter bump + INSERT (1 statement)", 1.2),
    ("backend/session create (put)", "raw psycopg/session INSERT", 1.2),
    ("backend/session get", "raw psycopg/session SELECT", 1.2),
    ("service/session get", "raw psycopg/session SELECT", 1.2),
)


def cells(samples: list[float]) -> list[float]:
    s = summarize(samples)
    return [s["median_us"], s["p99_us"], s["ops_per_s"]]


async def bench_postgres(schema: str, data_dir: str) -> tuple[str, dict[str, float]]:
    import orjson
    import psycopg

    config = {
        "postgres": {"dsn": DSN, "schema": schema, "min_size": 2, "max_size": 4},
        "state": {"backend": "postgres"}, "sessions": {"backend": "postgres", "sweep_interval": 0},
        "events": {"backend": "postgres"},
    }
    rows: list[list[Any]] = []
    medians: dict[str, float] = {}
    ops: dict[str, Any] = {}

    def add(label: str, op: str, samples: list[float], fn: Any = None) -> None:
        c = cells(samples)
        medians[f"{label}/{op}"] = c[0]
        rows.append([label, op, *c])
        ops[f"{label}/{op}"] = fn

    async with Kernel(config, data_dir=data_dir, env={"LLMSPELL_CONFIG": str(Path(data_dir) / "e.toml")}) as kernel:
        scope = kernel.state.scope("app", "bench")
        backend = kernel.state.backend
        raw = await psycopg.AsyncConnection.connect(DSN, autocommit=True)
        s = f'"{schema}"'
        keys = [f"k{i:04d}" for i in range(200)]
        for key in keys:
            await scope.set(key, VALUE)
        full = [f"app/bench/{k}" for k in keys]
        data = orjson.dumps({"schema_version": 1, "value": VALUE})
        await raw.execute(f"CREATE TABLE {s}.raw_state (key text COLLATE \"C\" PRIMARY KEY, version bigint, data bytea)")
        async with raw.cursor() as cur:
            await cur.executemany(f"INSERT INTO {s}.raw_state VALUES (%s, 1, %s)", [(k, data) for k in keys])
        pick = iter(range(10**9))

        def key() -> str:
            return keys[next(pick) % len(keys)]

        def fkey() -> str:
            return full[next(pick) % len(full)]

        # -- state: get ------------------------------------------------------------------
        async def raw_get() -> None:
            cur = await raw.execute(f"SELECT data, version FROM {s}.raw_state WHERE key = %s", (key(),), binary=True)
            await cur.fetchone()

        add("raw psycopg", "get (SELECT)", await time_async(raw_get, rounds=N), raw_get)
        add("backend", "get", await time_async(lambda: backend.get(fkey()), rounds=N), lambda: backend.get(fkey()))
        add("service", "get", await time_async(lambda: scope.get(key()), rounds=N), lambda: scope.get(key()))

        # -- state: set / cas / update ---------------------------------------------------
        async def raw_set() -> None:
            await raw.execute(f"UPDATE {s}.raw_state SET data = %s, version = version + 1 WHERE key = %s",
                              (data, key()), binary=True)

        add("raw psycopg", "set (UPDATE)", await time_async(raw_set, rounds=N), raw_set)
        add("backend", "set", await time_async(lambda: backend.compare_and_set(fkey(), data), rounds=N),
            lambda: backend.compare_and_set(fkey(), data))
        add("service", "set", await time_async(lambda: scope.set(key(), VALUE), rounds=N), lambda: scope.set(key(), VALUE))

        # compare-and-set on keys of their own (the update rows below change the others)
        cas_keys = [f"c{i:04d}" for i in range(200)]
        versions = {k: await scope.set(k, VALUE) for k in cas_keys}
        async with raw.cursor() as cur:
            await cur.executemany(f"INSERT INTO {s}.raw_state VALUES (%s, 1, %s)", [(k, data) for k in cas_keys])
        raw_versions = dict.fromkeys(cas_keys, 1)
        pick_cas = iter(range(10**9))

        async def raw_cas() -> None:
            k = cas_keys[next(pick_cas) % len(cas_keys)]
            cur = await raw.execute(
                f"UPDATE {s}.raw_state SET data = %s, version = version + 1 WHERE key = %s AND version = %s "
                "RETURNING version", (data, k, raw_versions[k]), binary=True)
            raw_versions[k] = (await cur.fetchone())[0]  # type: ignore[index]

        async def svc_cas() -> None:
            k = cas_keys[next(pick_cas) % len(cas_keys)]
            versions[k] = await scope.set(k, VALUE, expected_version=versions[k])

        add("raw psycopg", "cas (UPDATE ... AND version = n)", await time_async(raw_cas, rounds=N), raw_cas)
        add("service", "cas", await time_async(svc_cas, rounds=N), svc_cas)

        async def raw_update() -> None:
            k = key()
            cur = await raw.execute(f"SELECT data, version FROM {s}.raw_state WHERE key = %s", (k,), binary=True)
            _, version = await cur.fetchone()  # type: ignore[misc]
            await raw.execute(f"UPDATE {s}.raw_state SET data = %s, version = version + 1 WHERE key = %s "
                              "AND version = %s", (data, k, version), binary=True)

        add("raw psycopg", "update (SELECT + UPDATE)", await time_async(raw_update, rounds=N), raw_update)
        def update() -> Any:
            return scope.update(key(), lambda v: {**v, "n": v["n"] + 1})

        add("service", "update", await time_async(update, rounds=N), update)

        # -- events --------------------------------------------------------------------------
        log = kernel.events.log
        envelope = kernel.events.codec.encode(Event("bench.event", {"text": "x" * 100}))
        await raw.execute(f"CREATE TABLE {s}.raw_events (stream text, seq bigint, id text UNIQUE, data bytea, "
                          "PRIMARY KEY (stream, seq))")
        seq = iter(range(1, 10**9))

        async def raw_insert() -> None:
            await raw.execute(f"INSERT INTO {s}.raw_events VALUES ('r', %s, %s, %s)",
                              (next(seq), uuid.uuid4().hex, envelope), binary=True)

        add("raw psycopg", "event INSERT (1 row)", await time_async(raw_insert, rounds=N))
        await raw.execute(f"CREATE TABLE {s}.raw_streams (stream text PRIMARY KEY, last_seq bigint)")

        async def raw_gapless() -> None:  # the same work in one statement: bump the counter, insert
            await raw.execute(
                f"WITH c AS (INSERT INTO {s}.raw_streams AS r VALUES ('g', 1) ON CONFLICT (stream) DO UPDATE "
                "SET last_seq = r.last_seq + 1 RETURNING last_seq) "
                f"INSERT INTO {s}.raw_events SELECT 'g', c.last_seq, %s, %s FROM c", (uuid.uuid4().hex, envelope),
                binary=True)

        add("raw psycopg", "event counter bump + INSERT (1 statement)", await time_async(raw_gapless, rounds=N),
            raw_gapless)
        def append_one() -> Any:
            return log.append([Event("bench.event", {"text": "x" * 100}, stream="single")])

        add("backend", "event append (1 event)", await time_async(append_one, rounds=N), append_one)
        add("service", "event publish (logged)",
            await time_async(lambda: kernel.events.publish("bench.event", {"text": "x" * 100}, stream="published"),
                             rounds=N))

        batch = 1000

        async def raw_batch() -> None:
            async with raw.cursor(binary=True) as cur:
                start = next(seq)
                for _ in range(batch):
                    next(seq)
                await cur.execute(
                    f"INSERT INTO {s}.raw_events SELECT 'r', s, i, d FROM unnest(%s::bigint[], %s::text[], %s::bytea[]) "
                    "AS t(s, i, d)",
                    (list(range(start, start + batch)), [uuid.uuid4().hex for _ in range(batch)], [envelope] * batch))

        batches = iter([[Event("bench.event", {"text": "x" * 100}, stream="batched") for _ in range(batch)]
                        for _ in range(30)])

        async def batched() -> None:
            await log.append(next(batches))

        raw_rounds = await time_async(raw_batch, rounds=30)
        ours = await time_async(batched, rounds=30)
        add("raw psycopg", f"INSERT {batch} rows (unnest)", raw_rounds)
        add("backend", f"event append ({batch} per call)", ours)
        read = await time_async(lambda: log.read("batched", 1, limit=batch), rounds=30)
        add("backend", f"event read ({batch} per call)", read)
        medians["append_events_per_s"] = batch / (sorted(ours)[len(ours) // 2])
        medians["read_events_per_s"] = batch / (sorted(read)[len(read) // 2])

        # -- sessions --------------------------------------------------------------------------
        await raw.execute(f"CREATE TABLE {s}.raw_sessions (id text PRIMARY KEY, version bigint, record bytea)")
        record = b'{"x":' + b'"y"' * 100 + b"}"
        ids: list[str] = []

        async def raw_create() -> None:
            sid = uuid.uuid4().hex
            ids.append(sid)
            await raw.execute(f"INSERT INTO {s}.raw_sessions VALUES (%s, 1, %s)", (sid, record), binary=True)

        add("raw psycopg", "session INSERT", await time_async(raw_create, rounds=N), raw_create)
        pick_id = iter(range(10**9))

        async def raw_sget() -> None:
            cur = await raw.execute(f"SELECT record, version FROM {s}.raw_sessions WHERE id = %s",
                                    (ids[next(pick_id) % len(ids)],), binary=True)
            await cur.fetchone()

        add("raw psycopg", "session SELECT", await time_async(raw_sget, rounds=N), raw_sget)
        created: list[str] = []

        async def create() -> None:
            created.append((await kernel.sessions.create(user_id="u1", app="bench")).id)

        add("service", "session create", await time_async(create, rounds=N))
        sample = await kernel.sessions.get(created[0])

        async def put() -> None:
            await kernel.sessions.backend.put(sample.replace(id=uuid.uuid4().hex), expected_version=0)

        add("backend", "session create (put)", await time_async(put, rounds=N), put)
        sbackend = kernel.sessions.backend
        def bget() -> Any:
            return sbackend.get(created[next(pick_id) % len(created)])

        def sget() -> Any:
            return kernel.sessions.get(created[next(pick_id) % len(created)])

        add("backend", "session get", await time_async(bget, rounds=N), bget)
        add("service", "session get", await time_async(sget, rounds=N), sget)
        # the ratios: each pair timed again, alternately (one call of each in turn), so that both
        # see the same load on the machine
        for ours, raw_op, _ in RATIOS:
            mine, theirs = await paired(ops[ours], ops[raw_op], N)
            medians[f"{ours} / {raw_op}"] = summarize(mine)["median_us"] / summarize(theirs)["median_us"]
        await raw.close()
    text = table("PostgreSQL (microseconds)", ["implementation", "op", "median µs", "p99 µs", "ops/s"], rows)
    return text, medians


async def bench_s3(schema: str, data_dir: str) -> str:
    import hashlib

    from tests.contrib.s3.s3server import BUCKET, MotoServer, s3_config

    server = MotoServer()
    try:
        config = {
            "artifacts": {"backend": "s3", "metadata": "postgres"},
            "postgres": {"dsn": DSN, "schema": schema},
            **s3_config(server, prefix="bench/"),
        }
        rows: list[list[Any]] = []
        async with Kernel(config, data_dir=data_dir, env={"LLMSPELL_CONFIG": str(Path(data_dir) / "e.toml")}) as kernel:
            client = kernel.artifacts.store._client
            for size, rounds in ((1 << 20, 20), (64 << 20, 3)):
                data = os.urandom(size)
                n = iter(range(10**9))

                refs: list[Any] = []

                async def raw_put(n: Any = n, data: bytes = data) -> None:
                    await client.put_object(Bucket=BUCKET, Key=f"raw/{next(n)}", Body=data)

                async def raw_get() -> None:
                    response = await client.get_object(Bucket=BUCKET, Key="raw/0")
                    async with response["Body"] as body:
                        while await body.read(1 << 20):
                            pass

                async def save(n: Any = n, data: bytes = data, refs: list[Any] = refs) -> None:  # no de-duplication
                    unique = next(n).to_bytes(8, "big") + data[8:]
                    refs.append(await kernel.artifacts.save("bench.bin", unique))

                async def load(refs: list[Any] = refs) -> None:
                    got = hashlib.sha256()
                    async with await kernel.artifacts.open(refs[0]) as reader:
                        async for chunk in reader:
                            got.update(chunk)

                mib = size / (1 << 20)
                for label, fn in (("raw put_object", raw_put), ("artifacts.save", save),
                                  ("raw get_object", raw_get), ("artifacts.open (streamed)", load)):
                    samples = await time_async(fn, rounds=rounds)
                    median = sorted(samples)[len(samples) // 2]
                    rows.append([f"{mib:.0f} MiB", label, median * 1000, mib / median])
        return table("S3 on a local moto server", ["size", "op", "median ms", "MiB/s"], rows)
    finally:
        server.stop()


async def main() -> None:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "e.toml").write_text("")
        try:
            started = time.monotonic()
            text, medians = await bench_postgres(schema, tmp)
            print(text)
            ratios = []
            for ours, raw, target in RATIOS:
                ratio = medians[f"{ours} / {raw}"]
                ratios.append([f"{ours} / {raw}", ratio, f"≤ {target}", "yes" if ratio <= target else "no"])
            events = medians["append_events_per_s"]
            ratios.append(["batched event append, events/s", events, "≥ 20,000", "yes" if events >= 20000 else "no"])
            ratios.append(["event read, events/s", medians["read_events_per_s"], "", ""])
            print(table("Ratios (medians)", ["ratio", "value", "target", "met"], ratios))
            print(await bench_s3(schema, tmp))
            print(f"(total {time.monotonic() - started:.0f}s)")
        finally:
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    asyncio.run(main())
