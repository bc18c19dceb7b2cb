"""The peers' own embedded stores beside the llmspell-backed adapters, in one run.

* LangGraph: ``SqliteSaver`` (a SQLite file) vs ``LlmspellSaver`` on the embedded default
  (diskcache): ``put``, ``get_tuple`` (latest), ``list`` (10 of 100), and one turn of a
  compiled two-node graph (``invoke`` on SqliteSaver, which is synchronous; ``ainvoke`` on
  llmspell, whose API is async). For reference, LangGraph's own async SQLite store
  (``AsyncSqliteSaver``) runs the same async operations. The synchronous API of
  ``LlmspellSaver`` (``put``, ``get_tuple``, ``graph.invoke``) runs on a kernel in a
  :class:`~llmspell.contrib.KernelThread`, beside SqliteSaver's; the ``KernelThread hop``
  row is the bridge alone (a coroutine that returns at once, called from the program's
  thread), beside ``asyncio.run_coroutine_threadsafe(...).result()``;
* Google ADK: ``DatabaseSessionService`` on SQLite (aiosqlite) and ``SqliteSessionService``
  vs ``LlmspellSessionService``: ``create_session``, ``get_session`` (0 and 20 events),
  ``append_event`` (with a state delta), ``list_sessions`` of 1,000 sessions;
* OpenAI Agents SDK: ``SQLiteSession`` (a SQLite file) vs ``LlmspellSession``:
  ``add_items`` (two items), ``get_items`` of a 50-item conversation.

Every store writes to files in a temporary directory; one process, no contention.
Run: python benchmarks/bench_interop.py [--quick]
"""

from __future__ import annotations

import asyncio
import logging
import operator
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

sys.path.insert(0, str(Path(__file__).parent))

from _timing import summarize, table, time_async, time_sync

from llmspell import Kernel

QUICK = "--quick" in sys.argv
N = 40 if QUICK else 300
ROWS: list[list[Any]] = []


def record(framework: str, op: str, peer: list[float], ours: list[float], peer_name: str) -> None:
    p, o = summarize(peer), summarize(ours)
    ratio = o["median_us"] / p["median_us"]
    ROWS.append([framework, op, peer_name, p["median_us"], o["median_us"], o["p99_us"], f"{ratio:.2f}x",
                 "yes" if ratio < 1 else "no"])


# -- LangGraph ------------------------------------------------------------------------------


class Turn(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    count: int


def graph(saver: Any) -> Any:
    from langchain_core.runnables import RunnableLambda
    from langgraph.graph import END, START, StateGraph

    def think(s: Turn) -> dict[str, Any]:
        return {"log": [f"thought {len(s.get('log', []))}"]}

    def answer(s: Turn) -> dict[str, Any]:
        return {"count": s.get("count", 0) + 1, "log": ["answered"]}

    async def athink(s: Turn) -> dict[str, Any]:
        return think(s)

    async def aanswer(s: Turn) -> dict[str, Any]:
        return answer(s)

    # the same nodes for invoke (run inline) and ainvoke (awaited, not sent to a thread)
    builder = StateGraph(Turn)
    builder.add_node("think", RunnableLambda(think, afunc=athink))
    builder.add_node("answer", RunnableLambda(answer, afunc=aanswer))
    builder.add_edge(START, "think")
    builder.add_edge("think", "answer")
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=saver)


def checkpoint(saver: Any, i: int, previous: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    from langgraph.checkpoint.base import empty_checkpoint

    cp = empty_checkpoint()
    cp["channel_values"] = {"messages": [f"message {j} " * 8 for j in range(10)], "step": i}
    versions = dict(previous or {})
    versions["messages"] = saver.get_next_version(versions.get("messages"), None)
    versions.setdefault("step", saver.get_next_version(None, None))
    cp["channel_versions"] = versions
    return cp, {"messages": versions["messages"]} if previous else versions


def langgraph_sync(saver: Any) -> dict[str, list[float]]:
    """The synchronous saver API: ``put``, ``get_tuple`` (latest), one ``graph.invoke`` turn."""
    config: dict[str, Any] = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    versions: dict[str, Any] | None = None

    def put() -> None:
        nonlocal config, versions
        cp, new = checkpoint(saver, 0, versions)
        versions = cp["channel_versions"]
        config = saver.put(config, cp, {"source": "loop", "step": 1}, new)

    out = {"put": time_sync(put, rounds=N)}
    latest = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    out["get_tuple"] = time_sync(lambda: saver.get_tuple(latest), rounds=N)
    g, turn = graph(saver), {"configurable": {"thread_id": "g"}}
    out["graph turn"] = time_sync(lambda: g.invoke({"log": ["hi"]}, turn), rounds=max(N // 4, 10))
    return out


def bench_langgraph_sqlite(path: Path) -> dict[str, list[float]]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    saver = SqliteSaver(sqlite3.connect(path, check_same_thread=False))
    out = langgraph_sync(saver)
    for i in range(100):
        cp, new = checkpoint(saver, i, None)
        saver.put({"configurable": {"thread_id": "l", "checkpoint_ns": ""}}, cp, {"source": "loop", "step": i}, new)
    out["list 10 of 100"] = time_sync(
        lambda: list(saver.list({"configurable": {"thread_id": "l"}}, limit=10)), rounds=max(N // 4, 10)
    )
    return out


async def bench_langgraph_async(saver: Any) -> dict[str, list[float]]:
    """The async API of a saver: LangGraph's AsyncSqliteSaver, or llmspell's."""
    out: dict[str, list[float]] = {}
    config: dict[str, Any] = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    versions: dict[str, Any] | None = None

    async def put() -> None:
        nonlocal config, versions
        cp, new = checkpoint(saver, 0, versions)
        versions = cp["channel_versions"]
        config = await saver.aput(config, cp, {"source": "loop", "step": 1}, new)

    out["put"] = await time_async(put, rounds=N)
    latest = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    out["get_tuple"] = await time_async(lambda: saver.aget_tuple(latest), rounds=N)
    for i in range(100):
        cp, new = checkpoint(saver, i, None)
        await saver.aput({"configurable": {"thread_id": "l", "checkpoint_ns": ""}}, cp, {"source": "loop", "step": i}, new)

    async def listing() -> None:
        _ = [t async for t in saver.alist({"configurable": {"thread_id": "l"}}, limit=10)]

    out["list 10 of 100"] = await time_async(listing, rounds=max(N // 4, 10))
    g = graph(saver)
    turn = {"configurable": {"thread_id": "g"}}
    out["graph turn"] = await time_async(lambda: g.ainvoke({"log": ["hi"]}, turn), rounds=max(N // 4, 10))
    return out


def bench_langgraph_thread(path: Path) -> dict[str, list[float]]:
    """The synchronous API of LlmspellSaver, its kernel in a KernelThread."""
    from llmspell.contrib import KernelThread
    from llmspell.contrib._interop import Bridge
    from llmspell.contrib.langgraph import LlmspellSaver

    out: dict[str, list[float]] = {}

    async def nothing() -> None:
        return None

    with KernelThread({"sessions": {"sweep_interval": 0}}, data_dir=path, env={}) as kernel:
        bridge = Bridge(kernel)
        out["KernelThread hop"] = time_sync(lambda: bridge.call(nothing()), rounds=N * 25)
        out.update(langgraph_sync(LlmspellSaver(kernel)))
    return out


def bench_thread_hop() -> list[float]:
    """``run_coroutine_threadsafe(...).result()`` to a loop in another thread, alone."""
    import threading

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def nothing() -> None:
        return None

    try:
        return time_sync(lambda: asyncio.run_coroutine_threadsafe(nothing(), loop).result(), rounds=N * 25)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def bench_langgraph_aiosqlite(path: Path) -> dict[str, list[float]]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        return await bench_langgraph_async(saver)


# -- Google ADK -----------------------------------------------------------------------------


def adk_event(i: int) -> Any:
    from google.adk.events import Event, EventActions
    from google.genai import types

    return Event(
        invocation_id=f"inv-{i}", author="user",
        content=types.Content(role="user", parts=[types.Part(text=f"message number {i} " * 4)]),
        actions=EventActions(state_delta={"turn": i, "user:seen": i}),
    )


async def bench_adk(service: Any) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    count = iter(range(10**9))

    async def create() -> None:
        await service.create_session(app_name="bench", user_id=f"u{next(count) % 10}", state={"topic": "x", "n": 1})

    out["create_session"] = await time_async(create, rounds=N)
    await service.create_session(app_name="bench", user_id="main", session_id="new", state={"topic": "x"})
    out["get_session (0 events)"] = await time_async(
        lambda: service.get_session(app_name="bench", user_id="main", session_id="new"), rounds=N
    )
    session = await service.create_session(app_name="bench", user_id="main", session_id="hot")
    for i in range(20):
        await service.append_event(session, adk_event(i))
    out["get_session (20 events)"] = await time_async(
        lambda: service.get_session(app_name="bench", user_id="main", session_id="hot"), rounds=N
    )
    session = await service.get_session(app_name="bench", user_id="main", session_id="hot")
    i = iter(range(20, 10**9))
    out["append_event"] = await time_async(lambda: service.append_event(session, adk_event(next(i))), rounds=N)
    while len((await service.list_sessions(app_name="list")).sessions) < 1000:
        for _ in range(100):
            await service.create_session(app_name="list", user_id=f"u{next(count) % 10}", state={"k": 1})
    out["list_sessions (1,000)"] = await time_async(lambda: service.list_sessions(app_name="list"), rounds=5)
    return out


# -- OpenAI Agents SDK ----------------------------------------------------------------------


def items(i: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i} " * 6}]


async def bench_openai(session: Any, history: Any) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    i = iter(range(10**9))
    out["add_items (2)"] = await time_async(lambda: session.add_items(items(next(i))), rounds=N)
    for j in range(25):
        await history.add_items(items(j))
    out["get_items (50)"] = await time_async(lambda: history.get_items(), rounds=N)
    out["get_items (last 10 of 50)"] = await time_async(lambda: history.get_items(limit=10), rounds=N)
    return out


# -- the run --------------------------------------------------------------------------------


async def main() -> None:
    logging.disable(logging.WARNING)
    from agents import SQLiteSession
    from google.adk.sessions import DatabaseSessionService
    from google.adk.sessions.sqlite_session_service import SqliteSessionService

    from llmspell.contrib.adk import LlmspellSessionService
    from llmspell.contrib.openai_agents import LlmspellSession

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        peer_lg = bench_langgraph_sqlite(root / "langgraph.sqlite")
        ours_lg_sync = bench_langgraph_thread(root / "llmspell-thread")
        peer_hop = bench_thread_hop()
        peer_lg_async = await bench_langgraph_aiosqlite(root / "langgraph-async.sqlite")
        peer_adk_service = DatabaseSessionService(f"sqlite+aiosqlite:///{root / 'adk.sqlite'}")
        peer_adk = await bench_adk(peer_adk_service)
        await peer_adk_service.close()
        peer_adk_sqlite_service = SqliteSessionService(str(root / "adk-sqlite.db"))
        peer_adk_sqlite = await bench_adk(peer_adk_sqlite_service)
        await peer_adk_sqlite_service.close()
        sdk_a, sdk_b = SQLiteSession("a", root / "sdk.sqlite"), SQLiteSession("b", root / "sdk.sqlite")
        peer_oa = await bench_openai(sdk_a, sdk_b)
        sdk_a.close()
        sdk_b.close()
        config = {"sessions": {"sweep_interval": 0}}
        async with Kernel(config, data_dir=root / "llmspell", env={}) as kernel:
            from llmspell.contrib.langgraph import LlmspellSaver

            ours_lg = await bench_langgraph_async(LlmspellSaver(kernel))
            ours_adk = await bench_adk(LlmspellSessionService(kernel))
            ours_oa = await bench_openai(LlmspellSession("a", kernel), LlmspellSession("b", kernel))
    for op in peer_lg:
        record("LangGraph", op, peer_lg[op], ours_lg[op], "SqliteSaver")
    record("LangGraph (sync API)", "KernelThread hop", peer_hop, ours_lg_sync["KernelThread hop"],
           "run_coroutine_threadsafe")
    for op in ("put", "get_tuple", "graph turn"):
        record("LangGraph (sync API)", op, peer_lg[op], ours_lg_sync[op], "SqliteSaver")
    for op in peer_lg_async:
        record("LangGraph (async API)", op, peer_lg_async[op], ours_lg[op], "AsyncSqliteSaver")
    for op in peer_adk:
        record("Google ADK", op, peer_adk[op], ours_adk[op], "DatabaseSessionService (SQLite)")
    for op in peer_adk_sqlite:
        record("Google ADK", op, peer_adk_sqlite[op], ours_adk[op], "SqliteSessionService")
    for op in peer_oa:
        record("OpenAI Agents SDK", op, peer_oa[op], ours_oa[op], "SQLiteSession")
    print(table(
        f"Interop: the peers' stores vs the llmspell adapters (µs per operation, {time.strftime('%Y-%m-%d')})",
        ["framework", "operation", "peer store", "peer median", "llmspell median", "llmspell p99", "llmspell / peer",
         "llmspell faster"],
        ROWS,
    ))


if __name__ == "__main__":
    asyncio.run(main())
