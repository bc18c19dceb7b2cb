"""llmspell beside what a user would use instead, one row per operation, in one run.

Every row times one operation on llmspell (the kernel's own API or an adapter) and on the
peer named beside it, installed from the package index (``pip install ".[bench]"``), in
the same process and temporary directory, and prints the llmspell / peer ratio: below 1
means llmspell is faster. Rows whose peer is a bare primitive (a file read, a SQLite
commit, one thread hop) carry the goal the ratio is held to.

* artifacts: 1 MiB load and save of new content, a 1 KiB save of new content, on the
  embedded default (filesystem blobs, SQLite index) and through the ADK adapter, against
  ADK's ``FileArtifactService`` and a raw file read / durable write; the memory backend
  against ADK's ``InMemoryArtifactService``;
* sessions: ``sessions.list`` of 1,000, ``create`` (+ the first state save), ``get``, on
  the embedded default and through the ADK adapter, against ADK's ``SqliteSessionService``
  and a SQLite commit;
* LangGraph: the synchronous saver (``KernelThread``) and the async one against
  ``SqliteSaver`` / ``AsyncSqliteSaver``: ``put``, ``get_tuple``, a two-node graph turn;
  the bridge's own hop;
* OpenAI Agents SDK: ``LlmspellSession`` against ``SQLiteSession``;
* agent turns: ``kernel.run`` of a no-op agent against a one-node LangGraph graph without
  a checkpointer, and a persisted state-delta turn.

``--profile`` instead profiles the rows furthest from their goal: calls per operation and
the functions where the time goes.

Run: python benchmarks/bench_peers.py [--quick] [--profile]
"""

from __future__ import annotations

import asyncio
import cProfile
import logging
import os
import pstats
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _timing import summarize, table, time_async, time_sync
from bench_agents import Counter, NoOp, config
from bench_interop import (
    adk_event,
    bench_langgraph_aiosqlite,
    bench_langgraph_async,
    bench_langgraph_thread,
    bench_openai,
    bench_thread_hop,
    checkpoint,
    langgraph_sync,
)

from llmspell import Kernel

QUICK = "--quick" in sys.argv
N = 40 if QUICK else 200
MIB = 1024 * 1024
ROWS: list[list[Any]] = []


def row(area: str, op: str, ours: list[float], peer: list[float], peer_name: str, goal: float = 1.0) -> None:
    """One line: medians in µs and ``ours / peer``, met when it is at most ``goal``."""
    o, p = summarize(ours)["median_us"], summarize(peer)["median_us"]
    ratio = o / p
    ROWS.append([area, op, o, peer_name, p, f"{ratio:.2f}x", f"<= {goal:g}x", "yes" if ratio <= goal else "NO"])


def fresh(size: int) -> Callable[[], bytes]:
    """New content of ``size`` bytes per call (a save of new content, never deduplicated)."""
    block = os.urandom(size)
    count = iter(range(10**9))
    return lambda: next(count).to_bytes(8, "little") + block[8:]


# -- primitives: what the embedded stores are held against ------------------------------------


def raw_file(root: Path) -> dict[str, list[float]]:
    """A raw 1 MiB file read, and a durable one written (a new file, fsync, as any store)."""
    root.mkdir()
    payload = fresh(MIB)
    target = root / "read"
    target.write_bytes(payload())
    count = iter(range(10**9))

    def write() -> None:
        with open(root / f"w{next(count)}", "wb") as f:
            f.write(payload())
            f.flush()
            os.fsync(f.fileno())

    return {"read": time_sync(target.read_bytes, rounds=N), "write": time_sync(write, rounds=N)}


def sqlite_commit(path: Path) -> list[float]:
    """One 1 KiB row inserted and committed (WAL, synchronous=NORMAL: SQLite's usual setting)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    value = os.urandom(1024)

    def commit() -> None:
        db.execute("BEGIN")
        db.execute("INSERT INTO t (v) VALUES (?)", (value,))
        db.execute("COMMIT")

    samples = time_sync(commit, rounds=N * 5)
    db.close()
    return samples


# -- artifacts ----------------------------------------------------------------------------------


async def artifacts_kernel(kernel: Kernel) -> dict[str, list[float]]:
    artifacts = kernel.artifacts
    big, small = fresh(MIB), fresh(1024)
    out = {
        "save 1 MiB": await time_async(lambda: artifacts.save("big.bin", big()), rounds=N),
        "save 1 KiB": await time_async(lambda: artifacts.save("small.bin", small()), rounds=N),
    }
    ref = await artifacts.save("load.bin", big())
    out["load 1 MiB"] = await time_async(lambda: artifacts.load(ref), rounds=N)
    return out


async def artifacts_adk(service: Any) -> dict[str, list[float]]:
    from google.genai import types

    big = fresh(MIB)
    where = {"app_name": "bench", "user_id": "u", "session_id": "s"}

    async def save() -> None:
        await service.save_artifact(**where, filename="big.bin", artifact=types.Part.from_bytes(
            data=big(), mime_type="application/octet-stream"))

    out = {"save 1 MiB": await time_async(save, rounds=N)}
    out["load 1 MiB"] = await time_async(lambda: service.load_artifact(**where, filename="big.bin"), rounds=N)
    return out


async def bench_artifacts(root: Path) -> None:
    from google.adk.artifacts.file_artifact_service import FileArtifactService
    from google.adk.artifacts.in_memory_artifact_service import InMemoryArtifactService

    from llmspell.contrib.adk import LlmspellArtifactService

    raw = raw_file(root / "raw")
    commit = sqlite_commit(root / "commit.sqlite")
    peer_file = await artifacts_adk(FileArtifactService(root / "adk-files"))
    peer_memory = await artifacts_adk(InMemoryArtifactService())
    async with Kernel({"sessions": {"sweep_interval": 0}}, data_dir=root / "artifacts", env={}) as kernel:
        ours = await artifacts_kernel(kernel)
        ours_adk = await artifacts_adk(LlmspellArtifactService(kernel))
    memory = {"artifacts": {"backend": "memory", "metadata": "memory"}, "sessions": {"sweep_interval": 0}}
    async with Kernel(memory, data_dir=root / "artifacts-memory", env={}) as kernel:
        ours_memory = await artifacts_kernel(kernel)
    for op in ("load 1 MiB", "save 1 MiB"):
        row("artifacts", op, ours[op], peer_file[op], "ADK FileArtifactService")
        row("artifacts", f"{op} (ADK adapter)", ours_adk[op], peer_file[op], "ADK FileArtifactService")
    row("artifacts", "load 1 MiB", ours["load 1 MiB"], raw["read"], "raw file read", 1 / 0.8)
    row("artifacts", "save 1 MiB", ours["save 1 MiB"], raw["write"], "raw durable write", 1 / 0.6)
    row("artifacts", "save 1 KiB of new content", ours["save 1 KiB"], commit, "a SQLite commit", 5)
    for op in ("save 1 MiB", "load 1 MiB"):
        row("artifacts", f"memory backend, {op}", ours_memory[op], peer_memory[op], "ADK InMemoryArtifactService")


# -- sessions -----------------------------------------------------------------------------------


async def sessions_kernel(kernel: Kernel) -> dict[str, list[float]]:
    sessions = kernel.sessions
    ids = [(await sessions.create(user_id="u", app="list")).id for _ in range(1000)]

    async def create_and_save() -> None:
        session = await sessions.create(user_id="u", app="bench")
        await session.state.set("first", {"turn": 1})

    picks = iter(range(10**9))
    return {
        "list 1,000": await time_async(lambda: sessions.list(app="list", limit=1000), rounds=max(N // 4, 10)),
        "create": await time_async(lambda: sessions.create(user_id="u", app="bench"), rounds=N),
        "create + first state save": await time_async(create_and_save, rounds=N),
        "get": await time_async(lambda: sessions.get(ids[next(picks) % 1000]), rounds=N),
    }


async def sessions_adk(service: Any) -> dict[str, list[float]]:
    count = iter(range(10**9))
    for i in range(1000):
        await service.create_session(app_name="list", user_id=f"u{i % 10}", state={"k": 1})
    await service.create_session(app_name="bench", user_id="main", session_id="empty")

    async def create() -> None:
        await service.create_session(app_name="bench", user_id=f"u{next(count) % 10}", state={"topic": "x"})

    out = {
        "list_sessions (1,000)": await time_async(lambda: service.list_sessions(app_name="list"), rounds=max(N // 4, 10)),
        "create_session": await time_async(create, rounds=N),
        "get_session (0 events)": await time_async(
            lambda: service.get_session(app_name="bench", user_id="main", session_id="empty"), rounds=N),
    }
    session = await service.create_session(app_name="bench", user_id="main", session_id="hot")
    turns = iter(range(10**9))
    out["append_event"] = await time_async(lambda: service.append_event(session, adk_event(next(turns))), rounds=N)
    return out


async def bench_sessions(root: Path) -> None:
    from google.adk.sessions.sqlite_session_service import SqliteSessionService

    from llmspell.contrib.adk import LlmspellSessionService

    commit = sqlite_commit(root / "commit-sessions.sqlite")
    peer = await sessions_adk(SqliteSessionService(str(root / "adk-sessions.sqlite")))
    async with Kernel({"sessions": {"sweep_interval": 0}}, data_dir=root / "sessions", env={}) as kernel:
        ours = await sessions_kernel(kernel)
    async with Kernel({"sessions": {"sweep_interval": 0}}, data_dir=root / "sessions-adk", env={}) as kernel:
        ours_adk = await sessions_adk(LlmspellSessionService(kernel))
    row("sessions", "list 1,000: kernel.sessions.list", ours["list 1,000"], peer["list_sessions (1,000)"],
        "ADK SqliteSessionService")
    for op in peer:
        row("sessions", f"ADK adapter {op}", ours_adk[op], peer[op], "ADK SqliteSessionService")
    row("sessions", "get: kernel.sessions.get", ours["get"], peer["get_session (0 events)"], "ADK SqliteSessionService")
    row("sessions", "create", ours["create"], commit, "a SQLite commit", 10)
    row("sessions", "create + first state save", ours["create + first state save"], commit, "a SQLite commit", 8)


# -- LangGraph ----------------------------------------------------------------------------------


def bench_langgraph(root: Path) -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    from llmspell.contrib.langgraph import LlmspellSaver

    peer = langgraph_sync(SqliteSaver(sqlite3.connect(root / "lg.sqlite", check_same_thread=False)))
    peer_async = asyncio.run(bench_langgraph_aiosqlite(root / "lg-async.sqlite"))
    ours = bench_langgraph_thread(root / "lg-sync")  # the synchronous API on a KernelThread, and its hop
    baseline = bench_thread_hop()

    async def ours_async() -> dict[str, list[float]]:
        async with Kernel({"sessions": {"sweep_interval": 0}}, data_dir=root / "lg-async", env={}) as kernel:
            return await bench_langgraph_async(LlmspellSaver(kernel))

    ours_a = asyncio.run(ours_async())
    for op in ("put", "get_tuple", "graph turn"):
        row("LangGraph", f"sync {op} (KernelThread)", ours[op], peer[op], "SqliteSaver")
        row("LangGraph", f"async {op}", ours_a[op], peer_async[op], "AsyncSqliteSaver")
    row("LangGraph", "KernelThread: one call to the kernel", ours["KernelThread hop"], baseline, "a bare thread hop", 1.5)


# -- OpenAI Agents SDK, agent turns ------------------------------------------------------------


async def bench_openai_sessions(root: Path) -> None:
    from agents import SQLiteSession

    from llmspell.contrib.openai_agents import LlmspellSession

    a, b = SQLiteSession("a", root / "sdk.sqlite"), SQLiteSession("b", root / "sdk.sqlite")
    peer = await bench_openai(a, b)
    a.close()
    b.close()
    async with Kernel({"sessions": {"sweep_interval": 0}}, data_dir=root / "oa", env={}) as kernel:
        ours = await bench_openai(LlmspellSession("a", kernel), LlmspellSession("b", kernel))
    for op in peer:
        row("OpenAI Agents SDK", op, ours[op], peer[op], "SQLiteSession")


async def bench_turns(root: Path) -> None:
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(dict)
    builder.add_node("noop", lambda s: s)
    builder.add_edge(START, "noop")
    builder.add_edge("noop", END)
    lg = builder.compile()
    peer = time_sync(lambda: lg.invoke({"x": 1}), rounds=N * 5)
    async with Kernel(config(True), data_dir=root / "turns-memory", env={}) as kernel:
        noop = kernel.agents.create(NoOp, name="noop")
        ours = await time_async(lambda: kernel.run(noop, "x"), rounds=N * 5)
    async with Kernel(config(False), data_dir=root / "turns", env={}) as kernel:
        counter = kernel.agents.create(Counter, name="counter")
        sid = str((await kernel.sessions.create(user_id="bench", app="bench")).id)
        await kernel.run(counter, "warm up", session=sid)
        persisted = await time_async(lambda: kernel.run(counter, "x", session=sid), rounds=N * 2)
    row("agent turn", "kernel.run, no-op agent, memory", ours, peer, "LangGraph invoke, no checkpointer")
    row("agent turn", "persisted state-delta turn (embedded)", persisted, peer, "LangGraph invoke, no checkpointer")


# -- profiles of the worst rows ------------------------------------------------------------------


def report(label: str, profiler: cProfile.Profile, calls: int) -> None:
    """Calls per operation and the eight functions with the most time of their own."""
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:8]  # type: ignore[attr-defined]
    print(f"\n#### {label}: {stats.total_calls / calls:,.0f} Python calls, {total / calls * 1e6:,.0f} µs "  # type: ignore[attr-defined]
          "per operation (under the profiler)\n")
    print("| function | calls per operation | own time |\n|---|---|---|")
    for (file, line, name), (_, ncalls, own, _, _) in rows:
        where = f"{Path(file).name}:{line}" if line else "built-in"
        print(f"| `{name}` ({where}) | {ncalls / calls:,.1f} | {own / total:.0%} |")


async def profile_async(label: str, fn: Callable[[], Awaitable[Any]], calls: int) -> None:
    await fn()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        await fn()
    profiler.disable()
    report(label, profiler, calls)


async def profiles(root: Path) -> None:
    from llmspell.contrib import KernelThread
    from llmspell.contrib.langgraph import LlmspellSaver

    async with Kernel({"sessions": {"sweep_interval": 0}}, data_dir=root / "profile", env={}) as kernel:
        small, big = fresh(1024), fresh(MIB)
        await profile_async("artifacts: save 1 KiB of new content", lambda: kernel.artifacts.save("s.bin", small()), 200)
        ref = await kernel.artifacts.save("b.bin", big())
        await profile_async("artifacts: load 1 MiB", lambda: kernel.artifacts.load(ref), 100)
        for _ in range(1000):
            await kernel.sessions.create(user_id="u", app="list")
        await profile_async("sessions: list 1,000", lambda: kernel.sessions.list(app="list", limit=1000), 10)

    def sync_get_tuple() -> None:
        with KernelThread({"sessions": {"sweep_interval": 0}}, data_dir=root / "profile-lg", env={}) as kernel:
            saver = LlmspellSaver(kernel)
            cp, new = checkpoint(saver, 0, None)
            saver.put({"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, cp, {"source": "loop", "step": 1}, new)
            latest = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
            profiler = cProfile.Profile()  # the calling thread only: what the bridge costs the caller
            profiler.enable()
            for _ in range(300):
                saver.get_tuple(latest)
            profiler.disable()
            report("LangGraph: sync get_tuple, the calling thread", profiler, 300)

    await asyncio.to_thread(sync_get_tuple)


async def main() -> None:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if "--profile" in sys.argv:
            await profiles(root)
            return
        parts: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("artifacts", lambda: bench_artifacts(root)),
            ("sessions", lambda: bench_sessions(root)),
            ("OpenAI Agents SDK", lambda: bench_openai_sessions(root)),
            ("agent turns", lambda: bench_turns(root)),
        ]
        for name, part in parts:
            began = time.perf_counter()
            await part()
            print(f"{name}: {time.perf_counter() - began:.1f} s", file=sys.stderr)
        began = time.perf_counter()
        await asyncio.to_thread(bench_langgraph, root)
        print(f"LangGraph: {time.perf_counter() - began:.1f} s", file=sys.stderr)
    print(table(
        f"llmspell beside the peers (µs per operation, medians, {time.strftime('%Y-%m-%d')}; ratio below 1: llmspell faster)",
        ["area", "operation", "llmspell", "against", "its median", "llmspell / it", "goal", "met"],
        ROWS,
    ))


if __name__ == "__main__":
    asyncio.run(main())
