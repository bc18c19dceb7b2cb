"""The bus: patterns, ordering, backpressure, isolation, unsubscribe, wait_for, the hook point."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from llmspell import Cancel, HookCall, Kernel, Replace
from llmspell.errors import CancelledByHook, DeadlineExceeded, ValidationError
from llmspell.plugins.events.api import Event


async def test_patterns_select_types(kernel: Kernel) -> None:
    seen: dict[str, list[str]] = {"one": [], "any": [], "exact": [], "mid": []}
    kernel.events.subscribe("agent.*", lambda e: seen["one"].append(e.type))
    kernel.events.subscribe("agent.**", lambda e: seen["any"].append(e.type))
    kernel.events.subscribe("agent.started", lambda e: seen["exact"].append(e.type))
    kernel.events.subscribe("*.called", lambda e: seen["mid"].append(e.type))
    for t in ("agent.started", "agent.tool.called", "agent", "tool.called", "agents.started"):
        await kernel.events.publish(t, {})
    await kernel.events.flush()
    assert seen == {
        "one": ["agent.started"],
        "any": ["agent.started", "agent.tool.called"],
        "exact": ["agent.started"],
        "mid": ["tool.called"],
    }


async def test_each_subscriber_gets_events_in_order(kernel: Kernel) -> None:
    got_sync: list[int] = []
    got_async: list[int] = []

    async def slow(event: Event) -> None:
        if event.payload["i"] % 50 == 0:
            await asyncio.sleep(0)
        got_async.append(event.payload["i"])

    class Callable:
        def __call__(self, event: Event) -> None:
            got_sync.append(event.payload["i"])

    kernel.events.subscribe("n.*", Callable(), maxsize=7)
    kernel.events.subscribe("n.*", slow, maxsize=3)
    for i in range(2000):
        await kernel.events.publish("n.x", {"i": i})
    await kernel.events.flush()
    assert got_sync == list(range(2000))
    assert got_async == list(range(2000))


async def test_slow_subscriber_with_drop_oldest_does_not_hold_up_the_publisher(kernel: Kernel) -> None:
    gate = asyncio.Event()
    handled: list[int] = []

    async def stuck(event: Event) -> None:
        await gate.wait()
        handled.append(event.payload["i"])

    sub = kernel.events.subscribe("load.*", stuck, policy="drop_oldest", maxsize=10)
    for i in range(1000):  # the handler has not finished one event during all of this
        await kernel.events.publish("load.tick", {"i": i})
    assert handled == []
    assert sub.pending == 10
    gate.set()
    await kernel.events.flush()
    assert handled[-10:] == list(range(990, 1000))
    assert sub.dropped == 1000 - len(handled)
    assert sub.dropped >= 989
    assert sub.delivered == len(handled)


async def test_slow_subscriber_with_block_holds_the_publisher_and_loses_nothing(kernel: Kernel) -> None:
    gate = asyncio.Event()
    handled: list[int] = []

    async def stuck(event: Event) -> None:
        await gate.wait()
        handled.append(event.payload["i"])

    sub = kernel.events.subscribe("load.*", stuck, policy="block", maxsize=10)

    async def publisher() -> None:
        for i in range(1000):
            await kernel.events.publish("load.tick", {"i": i})

    task = asyncio.ensure_future(publisher())
    for _ in range(50):
        await asyncio.sleep(0)
    assert not task.done()  # waiting for room in the subscriber's queue
    assert sub.pending == 10
    gate.set()
    await task
    await kernel.events.flush()
    assert handled == list(range(1000))
    assert sub.dropped == 0


async def test_a_raising_subscriber_does_not_stop_delivery_to_others(kernel: Kernel, caplog: Any) -> None:
    good: list[int] = []

    def bad(event: Event) -> None:
        if event.payload["i"] % 2:
            raise RuntimeError(f"boom {event.payload['i']}")

    async def bad_async(event: Event) -> None:
        raise ValueError("always")

    failing = kernel.events.subscribe("t.*", bad, name="bad")
    failing_async = kernel.events.subscribe("t.*", bad_async, name="bad-async")
    kernel.events.subscribe("t.*", lambda e: good.append(e.payload["i"]))
    with caplog.at_level(logging.WARNING, logger="llmspell.plugins.events.api"):
        for i in range(10):
            await kernel.events.publish("t.x", {"i": i})  # never raises
        await kernel.events.flush()
    assert good == list(range(10))
    assert (failing.errors, failing.delivered) == (5, 5)
    assert failing.last_error == "RuntimeError: boom 9"
    assert (failing_async.errors, failing_async.delivered) == (10, 0)
    assert kernel.events.stats()["handler_errors"] == 15
    assert any("subscriber bad raised" in r.getMessage() for r in caplog.records)


async def test_unsubscribe_stops_delivery_and_discards_the_queue(kernel: Kernel) -> None:
    got: list[int] = []
    gate = asyncio.Event()

    async def handler(event: Event) -> None:
        await gate.wait()
        got.append(event.payload["i"])

    sub = kernel.events.subscribe("u.*", handler)
    for i in range(5):
        await kernel.events.publish("u.x", {"i": i})
    await asyncio.sleep(0)
    sub.unsubscribe()
    assert not sub.active and sub.pending == 0
    gate.set()
    await kernel.events.publish("u.x", {"i": 99})
    await kernel.events.flush()
    assert got == []
    assert sub not in kernel.events.subscriptions()
    sub.unsubscribe()  # twice is harmless


async def test_stream_filter(kernel: Kernel) -> None:
    got: list[str | None] = []
    kernel.events.subscribe("**", lambda e: got.append(e.session_id), stream="s1")
    await kernel.events.publish("x.y", {}, session_id="s1")
    await kernel.events.publish("x.y", {}, session_id="s2")
    await kernel.events.publish("x.y", {})
    await kernel.events.flush()
    assert got == ["s1"]


async def test_handler_publishing_into_its_own_full_queue_does_not_deadlock(kernel: Kernel) -> None:
    got: list[int] = []

    async def echo(event: Event) -> None:
        got.append(event.payload["n"])
        if event.payload["n"] < 20:
            await kernel.events.publish("echo.x", {"n": event.payload["n"] + 1})
            await kernel.events.publish("echo.y", {"n": 100})

    sub = kernel.events.subscribe("echo.*", echo, maxsize=1)
    await kernel.events.publish("echo.x", {"n": 0})
    await kernel.events.flush(timeout=10)
    assert [n for n in got if n < 100] == list(range(21))
    assert sub.dropped == 0


async def test_wait_for(kernel: Kernel) -> None:
    waiter = asyncio.ensure_future(kernel.events.wait_for("job.*", lambda e: e.payload["id"] == 2, timeout=10))
    await asyncio.sleep(0)
    for i in range(4):
        await kernel.events.publish("job.done", {"id": i})
    event = await waiter
    assert event.payload == {"id": 2}
    with pytest.raises(DeadlineExceeded):
        await kernel.events.wait_for("never.happens", timeout=0.01)
    with pytest.raises(TimeoutError):
        await kernel.events.wait_for("never.happens", timeout=0.01)

    def broken(event: Event) -> bool:
        raise KeyError("nope")

    waiter = asyncio.ensure_future(kernel.events.wait_for("job.*", broken, timeout=10))
    await asyncio.sleep(0)
    await kernel.events.publish("job.done", {"id": 9})
    with pytest.raises(KeyError):
        await waiter
    assert kernel.events.router.waiters == []


async def test_bad_subscriptions_are_refused(kernel: Kernel) -> None:
    with pytest.raises(ValidationError, match="policy"):
        kernel.events.subscribe("a.b", print, policy="drop_newest")
    with pytest.raises(ValidationError, match="maxsize"):
        kernel.events.subscribe("a.b", print, maxsize=0)
    with pytest.raises(ValidationError, match="pattern"):
        kernel.events.subscribe("a.b*", print)
    with pytest.raises(ValidationError, match="callable"):
        kernel.events.subscribe("a.b", "print")  # type: ignore[arg-type]


async def test_event_publish_hook_point(kernel: Kernel, monkeypatch: Any) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("the dispatcher must not run while nothing is attached")

    monkeypatch.setattr(kernel.dispatcher, "run", refuse)
    await kernel.events.publish("quiet.event", {})  # free when no hook is attached
    monkeypatch.undo()

    def guard(call: HookCall) -> Any:
        event = call.args["event"]
        if event.type == "secret.leaked":
            return Cancel("no secrets")
        if event.type == "greeting.said":
            return Replace(Event("greeting.said", {"text": event.payload["text"].upper()}, session_id="s9"))
        return None

    got: list[Event] = []
    kernel.events.subscribe("**", got.append)
    handle = kernel.hooks.register("event_before_publish", guard)
    with pytest.raises(CancelledByHook, match="no secrets"):
        await kernel.events.publish("secret.leaked", {"key": "x"})
    replaced = await kernel.events.publish("greeting.said", {"text": "hi"})
    await kernel.events.flush()
    assert replaced.payload == {"text": "HI"} and replaced.stream == "s9" and replaced.seq == 1
    assert [e.type for e in got] == ["greeting.said"]
    handle.remove()
    assert not kernel.hook.event_before_publish.active()


async def test_a_plugin_hook_at_event_publish(make_kernel: Any) -> None:
    from llmspell import hookimpl

    class Redactor:
        @hookimpl
        def llmspell_event_before_publish(self, event: Event, call: HookCall) -> Any:
            if "password" in event.payload:
                return Replace(Event(event.type, {**event.payload, "password": "***"}, session_id=event.session_id))
            if event.type == "forbidden.thing":
                return Cancel("not here")
            return None

    async with make_kernel(plugins=[Redactor()]) as kernel:
        stored = await kernel.events.publish("user.login", {"user": "u", "password": "hunter2"}, session_id="s")
        assert stored.payload == {"user": "u", "password": "***"}
        assert [e.payload["password"] async for e in kernel.events.read("s")] == ["***"]
        with pytest.raises(CancelledByHook):
            await kernel.events.publish("forbidden.thing", {})
        assert await kernel.emit("forbidden.thing", {}) is None  # emit never raises


async def test_a_handler_raising_cancelled_error_does_not_stop_its_worker(kernel: Kernel) -> None:
    got: list[int] = []

    async def handler(event: Event) -> None:
        if event.payload["i"] == 1:
            raise asyncio.CancelledError()
        got.append(event.payload["i"])

    sub = kernel.events.subscribe("c.*", handler)
    for i in range(3):
        await kernel.events.publish("c.x", {"i": i})
    await kernel.events.flush()
    assert got == [0, 2] and sub.errors == 1
