"""Artifact save/load throughput beside the raw throughput of the same disk.

    python benchmarks/bench_artifacts.py [--dir DIR] [--quick] [--ops | --no-ops]

The first table is per operation (medians of alternating rounds, so a shared machine
slows every column alike): a 1 MiB load and save of new content beside a raw file read
(open, read, close) and a raw write (open, write, fsync, close); a 1 KiB save of new
content beside one SQLite commit (WAL, ``synchronous=NORMAL``, one 1 KiB row); the
``memory`` backend's 1 MiB save and load; and Google ADK's ``FileArtifactService`` and
``InMemoryArtifactService`` beside ``LlmspellArtifactService`` on the embedded default
and on the memory backend (when the ``adk`` extra is installed). ``--ops`` prints only
that table.

The second table is throughput:
sizes 1 KiB, 1 MiB and 256 MiB; codec chains plain, zstd (compressed) and aesgcm
(encrypted); every save has distinct content (no de-duplication shortcut). The raw
figures write the same amount with 1 MiB writes and one fsync, and read it back with
1 MiB reads. Large sizes alternate raw and artifact runs and report the best of each
(other work on a shared machine only ever slows a run down). "cold" reads first drop the file's pages from the page cache
(``posix_fadvise(DONTNEED)``), so they measure the disk; "warm" reads come from the page
cache. Loads always verify the sha-256 (and authentication tags when encrypted).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from llmspell import Kernel

MIB = 1 << 20
KEY = "42" * 32
CODECS = {"plain": [], "zstd": ["zstd"], "aesgcm": ["aesgcm"]}


def _text(n: int) -> bytes:
    words = [b"agent", b"state", b"session", b"event", b"artifact", b"hook", b"llm", b"spell", b"kernel", b"plugin"]
    out = bytearray()
    i = 0
    while len(out) < n:
        out += b"%d %s %s;\n" % (i, words[i % 10], words[(i * 7) % 10])
        i += 1
    return bytes(out[:n])


BASE = _text(MIB)


def content(size: int, seed: int) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(max(size // MIB, 1)):
            head = b"%d/%d|" % (seed, i)
            yield head + BASE[len(head) : min(size, MIB)]

    return chunks()


def drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def raw_disk(directory: Path, size: int) -> dict[str, float]:
    path = directory / "raw.bin"
    block = os.urandom(MIB)
    start = time.perf_counter()
    with open(path, "wb") as fh:
        for _ in range(size // MIB):
            fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
    write = size / (time.perf_counter() - start)
    out = {"write": write}
    for mode in ("cold", "warm", "cold+sha256"):
        if mode.startswith("cold"):
            drop_cache(path)
        digest = hashlib.sha256()
        start = time.perf_counter()
        with open(path, "rb") as fh:
            while chunk := fh.read(MIB):
                if mode == "cold+sha256":
                    digest.update(chunk)
        out[mode] = size / (time.perf_counter() - start)
    path.unlink()
    return out


async def bench(kernel: Kernel, size: int, rounds: int, seed0: int) -> dict[str, float]:
    arts = kernel.artifacts
    refs = []
    start = time.perf_counter()
    for r in range(rounds):
        data: Any = content(size, seed0 + r)
        if size < MIB:
            data = b"".join([c async for c in data])
        refs.append(await arts.save(f"bench/{size}/{r}", data))
    save_time = time.perf_counter() - start
    save = size * rounds / save_time
    loads: dict[str, float] = {}
    for mode in ("cold", "warm") if size >= 64 * MIB else ("warm",):
        if mode == "cold":
            store = kernel.data_dir / "artifacts" / "store" / "blobs"
            for ref in refs:
                key = (await arts.stat(ref)).blob
                drop_cache(store / key[:2] / key[2:4] / key)
        start = time.perf_counter()
        for ref in refs:
            async with await arts.open(ref) as reader:
                async for _ in reader:
                    pass
        elapsed = time.perf_counter() - start
        loads[mode] = size * rounds / elapsed
        loads[f"{mode} ops"] = rounds / elapsed
    ratio = sum([(await arts.stat(r)).stored_size for r in refs]) / (size * rounds)
    for r in range(rounds):
        await arts.delete(f"bench/{size}/{r}")
    await arts.gc(grace=0)
    return {"save": save, "save ops": rounds / save_time, **loads, "stored": ratio}


OPS_ROUNDS = 41


def payloads(size: int, rounds: int, seed: int) -> list[bytes]:
    """``rounds`` distinct contents of ``size`` bytes (built before any timing)."""
    block = BASE[:size] if size <= MIB else BASE * (size // MIB)
    return [b"%d/%d|" % (seed, i) + block[len(b"%d/%d|" % (seed, i)) :] for i in range(rounds)]


def raw_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def raw_read(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


class Ops:
    """Per-operation samples, timed one call at a time."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, op: str, seconds: float) -> None:
        self.samples.setdefault(op, []).append(seconds)

    def timed(self, op: str, fn: Any, *args: Any) -> Any:
        start = time.perf_counter()
        out = fn(*args)
        self.add(op, time.perf_counter() - start)
        return out

    async def atimed(self, op: str, coro: Any) -> Any:
        start = time.perf_counter()
        out = await coro
        self.add(op, time.perf_counter() - start)
        return out

    def median_us(self, op: str) -> float:
        return statistics.median(self.samples[op]) * 1e6


async def adk_services(base: Path, kernels: dict[str, Kernel]) -> dict[str, Any]:
    try:
        from google.adk.artifacts import FileArtifactService, InMemoryArtifactService

        from llmspell.contrib.adk import LlmspellArtifactService
    except ImportError:
        return {}
    return {
        "ADK FileArtifactService": FileArtifactService(base / "adk-files"),
        "ADK InMemoryArtifactService": InMemoryArtifactService(),
        "ADK adapter (default)": LlmspellArtifactService(kernels["default"]),
        "ADK adapter (memory)": LlmspellArtifactService(kernels["memory"]),
    }


async def ops_table(base: Path, rounds: int) -> None:
    ops = Ops()
    big = payloads(MIB, rounds, 1)
    small = payloads(1024, rounds, 2)
    settings = {"artifacts": {"gc_grace_seconds": 0}}
    memory = {"artifacts": {"backend": "memory", "metadata": "memory"}}
    db = sqlite3.connect(base / "commit.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)")
    raw = base / "raw.bin"

    def commit(i: int) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES(?, ?)", (i, small[i]))
        db.execute("COMMIT")

    async with Kernel(settings, data_dir=base / "default", env={}) as fs, Kernel(memory, data_dir=base / "memory", env={}) as mem:
        adk = await adk_services(base, {"default": fs, "memory": mem})
        # each service saves its own contents: the adapters share stores with the rows above,
        # and a repeated content would be a de-duplicated save
        contents = {label: payloads(MIB, rounds, 10 + n) for n, label in enumerate(adk)}
        if adk:
            from google.genai import types

        for i in range(rounds):
            ops.timed("raw write 1 MiB (fsync)", raw_write, raw, big[i])
            ref = await ops.atimed("save 1 MiB", fs.artifacts.save(f"big/{i}", big[i]))
            ops.timed("raw read 1 MiB", raw_read, raw)
            await ops.atimed("load 1 MiB", fs.artifacts.load(ref))
            ops.timed("SQLite commit", commit, i)
            await ops.atimed("save 1 KiB", fs.artifacts.save(f"small/{i}", small[i]))
            mref = await ops.atimed("memory save 1 MiB", mem.artifacts.save(f"big/{i}", big[i]))
            await ops.atimed("memory load 1 MiB", mem.artifacts.load(mref))
            for label, service in adk.items():
                part = types.Part.from_bytes(data=contents[label][i], mime_type="application/octet-stream")
                where = {"app_name": "bench", "user_id": "u1", "session_id": "s1", "filename": f"f{i}.bin"}
                await ops.atimed(f"{label} save 1 MiB", service.save_artifact(artifact=part, **where))
                await ops.atimed(f"{label} load 1 MiB", service.load_artifact(**where))
    db.close()
    m = ops.median_us
    rows = [
        ("load 1 MiB", m("load 1 MiB"), "raw read", m("raw read 1 MiB"), m("raw read 1 MiB") / m("load 1 MiB")),
        ("save 1 MiB, new content", m("save 1 MiB"), "raw write + fsync", m("raw write 1 MiB (fsync)"),
         m("raw write 1 MiB (fsync)") / m("save 1 MiB")),
        ("save 1 KiB, new content", m("save 1 KiB"), "SQLite commit", m("SQLite commit"), m("SQLite commit") / m("save 1 KiB")),
    ]
    for kind in ("load", "save"):
        for peer, ours in (("FileArtifactService", "adapter (default)"), ("InMemoryArtifactService", "adapter (memory)")):
            if f"ADK {peer} {kind} 1 MiB" in ops.samples:
                theirs = m(f"ADK {peer} {kind} 1 MiB")
                rows.append((f"ADK {ours} {kind} 1 MiB", m(f"ADK {ours} {kind} 1 MiB"), f"ADK {peer}", theirs,
                             theirs / m(f"ADK {ours} {kind} 1 MiB")))
        rows.append((f"memory backend {kind} 1 MiB", m(f"memory {kind} 1 MiB"), "", float("nan"), float("nan")))
    print(f"Per operation, median of {rounds} alternating rounds (us); ratio = reference time / llmspell time "
          "(1.0 = as fast as the reference, higher is faster)\n")
    print("| operation | llmspell us | reference | reference us | ratio |")
    print("| --- | ---: | --- | ---: | ---: |")
    for op, ours_us, ref_name, ref_us, ratio in rows:
        ref_cell = f"{ref_us:,.0f}" if ref_us == ref_us else "-"
        ratio_cell = f"{ratio:.2f}" if ratio == ratio else "-"
        print(f"| {op} | {ours_us:,.0f} | {ref_name or '-'} | {ref_cell} | {ratio_cell} |")
    print()


def mbs(value: float) -> str:
    return f"{value / 1e6:8.0f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=None, help="Directory on the disk to measure (default: a temp dir here).")
    parser.add_argument("--quick", action="store_true", help="64 MiB instead of 256 MiB, fewer rounds.")
    parser.add_argument("--ops", action="store_true", help="Only the per-operation table.")
    parser.add_argument("--no-ops", action="store_true", help="Only the throughput table.")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix=".bench-artifacts-", dir=args.dir or "."))
    if not args.no_ops:
        try:
            await ops_table(base, 21 if args.quick else OPS_ROUNDS)
        finally:
            if args.ops:
                shutil.rmtree(base, ignore_errors=True)
        if args.ops:
            return
    big = (64 if args.quick else 256) * MIB
    sizes = [(1024, 200 if args.quick else 1000), (MIB, 20 if args.quick else 100), (big, 2 if args.quick else 4)]
    try:
        print("| size | codecs | save MB/s | saves/s | load MB/s cold | load MB/s warm | loads/s warm | stored/size "
              "| raw write MB/s | raw read MB/s cold | raw read+sha-256 MB/s cold | save / raw write | load / raw read | load / raw read+sha-256 |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        seed = 0
        for name, chain in CODECS.items():
            settings = {"artifacts": {"codecs": chain, "key": KEY, "gc_grace_seconds": 0}}
            async with Kernel(settings, data_dir=base / name, env={}) as kernel:
                for size, rounds in sizes:
                    seed += rounds
                    if size < 64 * MIB:
                        raw, r = None, await bench(kernel, size, rounds, seed)
                    else:
                        # the machine is shared: alternate raw and artifact runs, keep the best of each
                        pairs = [(raw_disk(base, size), await bench(kernel, size, 1, seed + i)) for i in range(rounds)]
                        raw = {k: max(p[0][k] for p in pairs) for k in pairs[0][0]}
                        r = {k: max(p[1][k] for p in pairs) for k in pairs[0][1]}
                    label = f"{size // MIB} MiB" if size >= MIB else f"{size // 1024} KiB"
                    cold = mbs(r["cold"]) if "cold" in r else "       -"
                    if raw is None:
                        rest = "- | - | - | - | - | -"
                    else:
                        rest = (f"{mbs(raw['write'])} | {mbs(raw['cold'])} | {mbs(raw['cold+sha256'])} | "
                                f"{r['save'] / raw['write']:.0%} | {r['cold'] / raw['cold']:.0%} | {r['cold'] / raw['cold+sha256']:.0%}")
                    print(f"| {label} | {name} | {mbs(r['save'])} | {r['save ops']:7.0f} | {cold} | {mbs(r['warm'])} "
                          f"| {r['warm ops']:7.0f} | {r['stored']:.2f} | {rest} |")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
