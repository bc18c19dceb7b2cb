"""The llmspell checkpointer's own promises: no silent forks, threads as sessions, JSON only."""

from __future__ import annotations

import asyncio
import operator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import empty_checkpoint  # noqa: E402
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402

from llmspell import Kernel  # noqa: E402
from llmspell.contrib import KernelThread  # noqa: E402
from llmspell.contrib.langgraph import LlmspellSaver, ThreadConflict  # noqa: E402
from llmspell.errors import IntegrityError, LlmspellError, ValidationError  # noqa: E402


class Counter(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def counting_graph(saver: LlmspellSaver, gate: asyncio.Event | None = None) -> Any:
    def step(state: Counter) -> dict[str, Any]:
        return {"log": [f"step{len(state.get('log', []))}"]}

    async def gated(state: Counter) -> dict[str, Any]:
        assert gate is not None
        await gate.wait()
        return step(state)

    builder = StateGraph(Counter)
    builder.add_node("step", step if gate is None else gated)
    builder.add_node("again", lambda s: {"log": ["again"]})
    builder.add_edge(START, "step")
    builder.add_edge("step", "again")
    builder.add_edge("again", END)
    return builder.compile(checkpointer=saver)


def cfg(thread: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ""}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


async def put(saver: LlmspellSaver, thread: str, parent: str | None, source: str = "loop", **values: Any) -> str:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = dict(values)
    checkpoint["channel_versions"] = {k: saver.get_next_version(None, None) for k in values}
    stored = await saver.aput(cfg(thread, parent), checkpoint, {"source": source, "step": 0}, checkpoint["channel_versions"])
    return str(stored["configurable"]["checkpoint_id"])


async def test_two_writers_cannot_fork_a_thread(make_kernel: Any, tmp_path: Path) -> None:
    async with make_kernel() as one, make_kernel() as two:  # two kernels on one data directory
        first, second = LlmspellSaver(one), LlmspellSaver(two)
        root = await put(first, "t", None, x=1)
        assert (await first.aget_tuple(cfg("t"))).checkpoint["id"] == root
        assert (await second.aget_tuple(cfg("t"))).checkpoint["id"] == root
        mine = await put(first, "t", root, x=2)
        with pytest.raises(ThreadConflict, match="moved on by another writer"):
            await put(second, "t", root, x=3)
        ids = [t.checkpoint["id"] async for t in second.alist(cfg("t"))]
        assert ids == [mine, root]  # the refused checkpoint left nothing behind
        assert (await second.aget_tuple(cfg("t"))).checkpoint["channel_values"] == {"x": 2}
        # time travel is a deliberate branch, marked by LangGraph as a fork: allowed
        branch = await put(second, "t", root, source="fork", x=4)
        assert (await first.aget_tuple(cfg("t"))).checkpoint["id"] == branch


async def test_two_runs_cannot_both_start_a_thread(make_kernel: Any) -> None:
    async with make_kernel() as one, make_kernel() as two:
        first, second = LlmspellSaver(one), LlmspellSaver(two)
        assert await first.aget_tuple(cfg("new")) is None
        assert await second.aget_tuple(cfg("new")) is None
        await put(first, "new", None, x=1)
        with pytest.raises(ThreadConflict, match="started from an empty thread"):
            await put(second, "new", None, x=2)


async def test_a_stale_graph_run_fails_instead_of_forking(make_kernel: Any) -> None:
    async with make_kernel() as one, make_kernel() as two:
        gate = asyncio.Event()
        slow = counting_graph(LlmspellSaver(one), gate)
        other = counting_graph(LlmspellSaver(two))
        run = asyncio.ensure_future(slow.ainvoke({"log": ["start"]}, cfg("shared")))
        while (await other.aget_state(cfg("shared"))).next != ("step",):  # noqa: ASYNC110 - polls the store
            await asyncio.sleep(0.01)
        await other.aupdate_state(cfg("shared"), {"log": ["edited meanwhile"]})
        gate.set()
        with pytest.raises(ThreadConflict):
            await run
        state = await other.aget_state(cfg("shared"))
        assert state.values["log"] == ["start", "edited meanwhile"]


async def test_threads_are_sessions_listed_by_user_and_forked(kernel: Kernel) -> None:
    graph = counting_graph(LlmspellSaver(kernel, user_id="ann"))
    await graph.ainvoke({"log": []}, cfg("a1"))
    await graph.ainvoke({"log": []}, {"configurable": {"thread_id": "b1", "user_id": "bob"}})
    saver = graph.checkpointer
    assert await saver.athreads(user_id="ann") == ["a1"]
    assert sorted(await saver.athreads()) == ["a1", "b1"]
    page = await kernel.sessions.list(app="langgraph", user_id="bob")
    assert [s.id for s in page.items] == ["b1"]

    fork = await saver.afork_thread("a1", title="what if")
    assert (await kernel.sessions.get(fork)).parent_id == "a1"
    assert (await graph.aget_state(cfg(fork))).values == (await graph.aget_state(cfg("a1"))).values
    await graph.aupdate_state(cfg(fork), {"log": ["only in the fork"]})
    assert "only in the fork" not in (await graph.aget_state(cfg("a1"))).values["log"]
    assert sorted(await saver.athreads(user_id="ann")) == sorted(["a1", fork])

    await saver.adelete_thread("a1")
    assert await saver.aget_tuple(cfg("a1")) is None
    assert await kernel.state.scope("session", "a1").list() == []
    assert await kernel.events.last_seq("a1") == 0


async def test_every_checkpoint_is_an_event(kernel: Kernel) -> None:
    seen: list[Any] = []
    kernel.events.subscribe("langgraph.*", seen.append)
    graph = counting_graph(LlmspellSaver(kernel))
    await graph.ainvoke({"log": []}, cfg("ev"))
    await kernel.events.flush()
    history = [s async for s in graph.aget_state_history(cfg("ev"))]
    assert [e.payload["checkpoint_id"] for e in seen] == [s.config["configurable"]["checkpoint_id"] for s in reversed(history)]
    assert {e.session_id for e in seen} == {"ev"}
    assert [e.payload["step"] for e in seen] == [-1, 0, 1, 2]


async def test_idle_threads_expire(kernel: Kernel) -> None:
    saver = LlmspellSaver(kernel, ttl=0.3)
    graph = counting_graph(saver)
    await graph.ainvoke({"log": ["first life"]}, cfg("short"))
    assert (await kernel.sessions.get("short")).ttl == 0.3
    await asyncio.sleep(0.4)
    assert await saver.aget_tuple(cfg("short")) is None
    assert [t async for t in saver.alist(cfg("short"))] == []
    assert await saver.athreads() == []
    result = await graph.ainvoke({"log": ["second life"]}, cfg("short"))
    assert result["log"] == ["second life", "step1", "again"]


async def test_values_are_json_and_never_pickled(kernel: Kernel) -> None:
    with pytest.raises(ValidationError, match="never pickles"):
        LlmspellSaver(kernel, serde=JsonPlusSerializer(pickle_fallback=True))
    saver = LlmspellSaver(kernel)
    checkpoint_id = await put(saver, "j", None, plain={"a": [1, 2.5, None]}, pair=(1, "x"), tags={"b", "a"})
    scope = kernel.state.scope("session", "j")
    record = await scope.get(f"langgraph/cp//{checkpoint_id}")
    assert record["blobs"]["plain"][1] == {"j": {"a": [1, 2.5, None]}}
    assert record["blobs"]["pair"][1]["t"] == "msgpack"
    values = (await saver.aget_tuple(cfg("j"))).checkpoint["channel_values"]
    serde = JsonPlusSerializer()  # what LangGraph's own savers give back
    assert values == {k: serde.loads_typed(serde.dumps_typed(v)) for k, v in
                      {"plain": {"a": [1, 2.5, None]}, "pair": (1, "x"), "tags": {"b", "a"}}.items()}
    assert values["tags"] == {"a", "b"}
    record["blobs"]["plain"][1] = {"t": "pickle", "b": ""}
    await scope.set(f"langgraph/cp//{checkpoint_id}", record)
    saver.cache.forget("j")
    with pytest.raises(IntegrityError, match="pickle"):
        await saver.aget_tuple(cfg("j"))


def test_synchronous_graph_on_a_kernel_thread(tmp_path: Path, llmspell_env: dict[str, str]) -> None:
    with KernelThread(data_dir=tmp_path / "data", env=llmspell_env) as kernel:
        graph = counting_graph(LlmspellSaver(kernel))
        assert graph.invoke({"log": []}, cfg("sync"))["log"] == ["step0", "again"]
        assert graph.invoke({"log": []}, cfg("sync"))["log"] == ["step0", "again", "step2", "again"]
        assert len(list(graph.get_state_history(cfg("sync")))) == 8


async def test_synchronous_call_on_the_kernels_loop_is_refused(kernel: Kernel) -> None:
    with pytest.raises(LlmspellError, match="use the async method"):
        LlmspellSaver(kernel).get_tuple(cfg("x"))


async def metadata_queries(saver: Any) -> list[Any]:
    """Metadata written and searched as LangGraph's own savers' tests do (async API)."""
    metadata = {
        "source": "loop", "step": 1, "writes": {"foo": "bar"}, "score": None,
        "access-level": "public", "user": {"access-level": "nested", "123abc": "ok2"}, "123abc": "ok",
    }
    checkpoint = empty_checkpoint()
    await saver.aput({"configurable": {"thread_id": "meta", "checkpoint_ns": ""}, "metadata": {"run_id": "r1"}},
                     checkpoint, metadata, {})
    stored = await saver.aget_tuple(cfg("meta"))
    queries: list[dict[str, Any]] = [
        {"writes": {"foo": "bar"}}, {"step": 1, "writes": {"foo": "bar"}}, {"access-level": "public"},
        {"user.access-level": "nested"}, {"123abc": "ok"}, {"user.123abc": "ok2"}, {"score": None},
        {"user.access-level": "public"}, {"user.missing": "x"}, {"writes": {}},
    ]
    return [stored.metadata, *[len([t async for t in saver.alist(None, filter=q)]) for q in queries]]


async def test_metadata_keeps_writes_and_nested_filters_match_like_langgraphs_savers(
    kernel: Kernel, tmp_path: Path
) -> None:
    aiosqlite = pytest.importorskip("langgraph.checkpoint.sqlite.aio")
    from langgraph.checkpoint.memory import InMemorySaver

    async with aiosqlite.AsyncSqliteSaver.from_conn_string(str(tmp_path / "lg.db")) as sqlite:
        expected = await metadata_queries(sqlite)
    assert expected[0]["writes"] == {"foo": "bar"} and expected[1:] == [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]
    in_memory = await metadata_queries(InMemorySaver())
    assert in_memory[0] == expected[0]
    assert await metadata_queries(LlmspellSaver(kernel)) == expected


async def test_the_saver_is_a_context_manager_as_in_memory_saver_is(kernel: Kernel) -> None:
    saver = LlmspellSaver(kernel)
    async with saver as entered:
        assert entered is saver
    with saver as entered_sync:
        assert entered_sync is saver
    await put(saver, "cm", None, n=1)  # still usable: the kernel owns the connections
    assert (await saver.aget_tuple(cfg("cm"))) is not None


async def test_a_put_logs_its_events_in_one_append(make_kernel: Any) -> None:
    """The checkpoint's state.changed events and its langgraph.checkpoint event reach the
    event log together: one transaction per put on the diskcache log."""
    async with make_kernel() as kernel:
        saver = LlmspellSaver(kernel)
        first = await put(saver, "one-append", None, a=1)
        log = kernel.events.log
        appended: list[list[str]] = []
        append = log.append

        async def counting(events: Any, **options: Any) -> Any:
            appended.append([e.type for e in events])
            return await append(events, **options)

        log.append = counting
        second = await put(saver, "one-append", first, a=2)
        assert appended == [["state.changed", "state.changed", "langgraph.checkpoint"]]
        logged = await kernel.events.query("langgraph.checkpoint", stream="one-append")
        assert [e.payload["checkpoint_id"] for e in logged] == [first, second]
        assert logged[-1].payload["parent_checkpoint_id"] == first
