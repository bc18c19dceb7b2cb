"""The service: what is logged, publishing forms, reading, tailing, configuration."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmspell import Kernel, hookimpl
from llmspell.errors import ConfigError, PluginError, SerializationError, ValidationError
from llmspell.plugins.events import DiskcacheEventLog, EventBus
from llmspell.plugins.events.api import (
    AgentEvent,
    Event,
    EventService,
    KernelStarted,
    StateChanged,
    WorkflowStep,
)


async def test_the_events_plugin_provides_kernel_events(kernel: Kernel) -> None:
    assert isinstance(kernel.events, EventBus)
    assert isinstance(kernel.events, EventService)
    assert isinstance(kernel.events.log, DiskcacheEventLog)
    assert (kernel.data_dir / "events" / "cache.db").is_file()


async def test_session_events_are_logged_to_the_session_stream(kernel: Kernel) -> None:
    a = await kernel.events.publish("note.added", {"text": "a"}, session_id="s1")
    b = await kernel.events.publish("note.added", {"text": "b"}, session_id="s1")
    c = await kernel.events.publish("note.added", {"text": "c"}, session_id="s1", stream="elsewhere")
    assert (a.stream, a.seq, b.seq) == ("s1", 1, 2)
    assert (c.stream, c.seq, c.session_id) == ("elsewhere", 1, "s1")
    assert [e.payload["text"] async for e in kernel.events.read("s1")] == ["a", "b"]


async def test_unscoped_system_events_go_to_the_system_stream_and_others_are_not_logged(kernel: Kernel) -> None:
    system = [e async for e in kernel.events.read("system")]
    assert [type(e) for e in system] == [KernelStarted]
    assert system[0].source == "kernel" and "events" in system[0].plugins
    got: list[Event] = []
    kernel.events.subscribe("**", got.append)
    note = await kernel.events.publish("note.added", {"text": "not logged"})
    flow = await kernel.events.publish("workflow.started", {"workflow": "w", "run_id": "r"})
    await kernel.events.flush()
    assert (note.stream, note.seq) == (None, None)
    assert (flow.stream, flow.seq) == ("system", 2)
    assert [e.id for e in got] == [note.id, flow.id]
    assert await kernel.events.query("note.*") == []


async def test_what_is_logged_is_configurable(make_kernel: Any) -> None:
    async with make_kernel({"events": {"system_stream": ""}}) as kernel:
        assert await kernel.events.last_seq("system") == 0
        assert (await kernel.events.publish("kernel.custom", {})).stream is None
    async with make_kernel({"events": {"system_stream": "audit", "log_unscoped": ["**"], "backend": "memory"}}) as kernel:
        note = await kernel.events.publish("note.added", {})
        assert (note.stream, note.seq) == ("audit", 2)  # after kernel.started


async def test_republishing_a_logged_event_stores_and_delivers_it_once(kernel: Kernel) -> None:
    got: list[Event] = []
    kernel.events.subscribe("order.*", got.append)
    event = Event("order.paid", {"id": 7}, session_id="s1")
    first = await kernel.events.publish(event)
    second = await kernel.events.publish(event)
    await kernel.events.flush()
    assert first == second and first.seq == 1
    assert [e.id for e in got] == [event.id]
    assert kernel.events.stats()["duplicates"] == 1
    assert await kernel.events.last_seq("s1") == 1


async def test_publish_many_appends_one_batch_and_delivers_in_order(kernel: Kernel) -> None:
    got: list[str] = []
    kernel.events.subscribe("batch.*", lambda e: got.append(e.payload["n"]))
    pre = Event("batch.item", {"n": "0"}, session_id="s1")
    await kernel.events.publish(pre)
    out = await kernel.events.publish_many([
        ("batch.item", {"n": "1"}),
        Event("batch.item", {"n": "2"}, session_id="s1"),
        pre,
        Event("batch.item", {"n": "3"}, session_id="s2"),
        Event("batch.item", {"n": "4"}, session_id="s1"),
    ])
    await kernel.events.flush()
    assert [(e.stream, e.seq) for e in out] == [(None, None), ("s1", 2), ("s1", 1), ("s2", 1), ("s1", 3)]
    assert got == ["0", "1", "2", "3", "4"]


async def test_cause_links_a_reaction_to_its_event(kernel: Kernel) -> None:
    root = await kernel.events.publish("ticket.opened", {}, session_id="s1", user_id="u1")
    reply = await kernel.events.publish("ticket.triaged", {}, cause=root)
    again = await kernel.events.publish("ticket.assigned", {}, cause=reply)
    assert (reply.causation_id, reply.correlation_id, reply.session_id, reply.user_id) == (root.id, root.id, "s1", "u1")
    assert (again.causation_id, again.correlation_id) == (reply.id, root.id)


async def test_types_and_payloads_are_checked(kernel: Kernel) -> None:
    with pytest.raises(ValidationError, match="invalid event type"):
        await kernel.events.publish("Not A Type", {})
    with pytest.raises(ValidationError, match="needs payload key"):
        await kernel.events.publish("workflow.step", {"workflow": "w"})
    with pytest.raises(SerializationError, match=r"\$\.payload\.when"):
        await kernel.events.publish("x.y", {"when": object()})
    with pytest.raises(ValidationError, match="mapping"):
        await kernel.events.publish("x.y", [1, 2])
    with pytest.raises(ValidationError):
        await kernel.events.publish(Event("x.y", {}), {"payload": "twice"})


async def test_typed_classes_are_used_when_publishing_and_reading(kernel: Kernel) -> None:
    change = {"scope": "user", "owner": "u1", "key": "theme", "old_version": None, "new_version": 1,
              "value": {"dark": True}, "deleted": False}
    published = await kernel.events.publish("state.changed", change, session_id="s1")
    step = await kernel.events.publish(WorkflowStep.create(
        {"workflow": "w", "run_id": "r", "step": "a", "index": 0, "status": "finished"}, session_id="s1"))
    generic = await kernel.events.publish(Event("agent.paused", {"agent": "bob"}, session_id="s1"))
    assert isinstance(published, StateChanged) and published.value == {"dark": True} and published.key == "theme"
    assert isinstance(step, WorkflowStep) and step.index == 0
    assert type(generic) is AgentEvent and generic.agent == "bob"  # the family's class
    stored = [e async for e in kernel.events.read("s1")]
    assert [type(e) for e in stored] == [StateChanged, WorkflowStep, AgentEvent]


class AcmeOrderPaid(Event):
    """Registered by the plugin below only."""


async def test_a_type_the_reader_does_not_know_round_trips_as_a_plain_event(make_kernel: Any) -> None:
    import attrs

    paid_cls = attrs.frozen(type("AcmeOrderPaid", (Event,), {"TYPE": "acme.order.paid"}))

    class AcmePlugin:
        @hookimpl
        def llmspell_register_event_types(self, register: Any) -> None:
            register("acme.order.paid", paid_cls)

    async with make_kernel(plugins=[AcmePlugin()]) as writer:
        written = await writer.events.publish("acme.order.paid", {"order": 1, "extra": [1, {"a": None}]}, session_id="s1")
        assert type(written) is paid_cls
    async with make_kernel() as reader:
        (read,) = [e async for e in reader.events.read("s1")]
        assert type(read) is Event
        assert attrs.asdict(read) == attrs.asdict(written)
        copy = await reader.events.publish(attrs.evolve(read, stream="copy"))  # same id: already logged
        assert copy.stream == "s1"
        moved = await reader.events.publish(attrs.evolve(read, id="0" * 8 + read.id[8:], stream="copy"))
        assert moved.payload == written.payload and moved.type == "acme.order.paid"
    async with make_kernel(plugins=[AcmePlugin()]) as writer_again:
        (back,) = [e async for e in writer_again.events.read("copy")]
        assert type(back) is paid_cls


async def test_read_pages_and_ranges(make_kernel: Any) -> None:
    async with make_kernel({"events": {"read_batch": 7}}) as kernel:
        await kernel.events.publish_many([Event("n.x", {"i": i}, stream="s") for i in range(1, 51)])
        assert [e.seq async for e in kernel.events.read("s")] == list(range(1, 51))
        assert [e.seq async for e in kernel.events.read("s", 10, 24)] == list(range(10, 25))
        assert [e.seq async for e in kernel.events.read("s", 45, limit=100)] == list(range(45, 51))
        assert [e.seq async for e in kernel.events.read("s", 3, limit=9)] == list(range(3, 12))
        assert [e async for e in kernel.events.read("nothing")] == []
        with pytest.raises(ValidationError):
            [e async for e in kernel.events.read("")]


async def test_replay_to_a_function_and_to_a_subscription(kernel: Kernel) -> None:
    await kernel.events.publish_many([Event(f"r.{t}", {"i": i}, stream="s") for i, t in enumerate("abab")])
    seen: list[int] = []

    async def handler(event: Event) -> None:
        seen.append(event.payload["i"])

    assert await kernel.events.replay("s", handler) == 4
    assert await kernel.events.replay("s", lambda e: seen.append(e.payload["i"]), from_seq=2, types="r.b") == 2
    assert seen == [0, 1, 2, 3, 1, 3]
    queued: list[int] = []
    sub = kernel.events.subscribe("nothing.live", lambda e: queued.append(e.seq), maxsize=2)
    assert await kernel.events.replay("s", sub) == 4
    await sub.drain()
    assert queued == [1, 2, 3, 4]


async def test_tail_and_follow(make_kernel: Any) -> None:
    async with make_kernel({"events": {"poll_interval": 0.01, "system_stream": ""}}) as kernel:
        for i in range(5):
            await kernel.events.publish("t.a" if i % 2 else "t.b", {"i": i}, session_id=f"s{i % 2}")
        assert [e.payload["i"] async for e in kernel.events.tail(last=3)] == [2, 3, 4]
        assert [e.payload["i"] async for e in kernel.events.tail("s0", last=10)] == [0, 2, 4]
        assert [e.payload["i"] async for e in kernel.events.tail(types="t.a", last=10)] == [1, 3]
        seen: list[int] = []

        async def follow() -> None:
            async for event in kernel.events.tail(types="t.*", last=1, follow=True):
                seen.append(event.payload["i"])

        task = asyncio.ensure_future(follow())
        await asyncio.sleep(0.05)
        for i in range(5, 9):
            await kernel.events.publish("t.c", {"i": i}, session_id="s9" if i < 7 else "s0")
        await kernel.events.publish("u.x", {"i": -1}, session_id="s9")
        for _ in range(500):
            if len(seen) >= 5:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        assert seen == [4, 5, 6, 7, 8]


async def test_query_and_streams(kernel: Kernel) -> None:
    await kernel.events.publish("q.a", {}, session_id="s1")
    await kernel.events.publish("q.b", {}, session_id="s2")
    assert [e.type for e in await kernel.events.query("q.*")] == ["q.a", "q.b"]
    assert [e.type for e in await kernel.events.query(["q.b"], stream="s2")] == ["q.b"]
    assert [s.name for s in await kernel.events.streams()] == ["s1", "s2", "system"]
    assert await kernel.events.delete_stream("s1") == 1
    assert [s.name for s in await kernel.events.streams("s")] == ["s2", "system"]


async def test_emit_from_the_kernel(kernel: Kernel, make_kernel: Any) -> None:
    event = await kernel.emit("plugin.loaded", {"plugin": "x"}, source="tests")
    assert event is not None and event.stream == "system" and event.source == "tests"
    async with make_kernel(disable=["events"], data_dir=kernel.data_dir / "other") as bare:
        assert await bare.emit("plugin.loaded", {}) is None


def test_bad_configuration_is_reported_with_its_path(make_kernel: Any) -> None:
    with pytest.raises(ConfigError) as info:
        make_kernel({"events": {"backend": "nope", "transport": "carrier-pigeon", "policy": "drop_newest",
                                "queue_size": 0, "log_unscoped": ["a.b*"]}})
    text = str(info.value)
    for fragment in ("events.backend: unknown event backend 'nope' (registered: diskcache, memory",
                     "events.transport", "events.policy", "events.queue_size", "events.log_unscoped"):
        assert fragment in text


def test_a_bad_event_type_registration_names_the_plugin(make_kernel: Any) -> None:
    import attrs

    class Bad:
        @hookimpl
        def llmspell_register_event_types(self, register: Any) -> None:
            fields = {"__annotations__": {"extra": int}, "extra": 0}
            register("bad.type", attrs.frozen(type("WithField", (Event,), fields)))

    with pytest.raises(PluginError, match="adds field"):
        make_kernel(plugins=[Bad()])


async def test_the_backend_can_be_chosen_from_the_environment(make_kernel: Any, llmspell_env: dict[str, str]) -> None:
    from llmspell.plugins.events import MemoryEventLog

    async with make_kernel(env={**llmspell_env, "LLMSPELL_EVENTS_BACKEND": "memory"}) as kernel:
        assert isinstance(kernel.events.log, MemoryEventLog)


async def test_a_plugin_registers_a_family_and_a_type(make_kernel: Any) -> None:
    import attrs

    from llmspell.plugins.events.api import payload_field

    @attrs.frozen
    class ShopEvent(Event):
        """Any shop.* event."""

        order = payload_field[str]("order")

    @attrs.frozen
    class OrderPaid(ShopEvent):
        """An order was paid."""

        TYPE = "shop.order.paid"
        REQUIRED = ("order", "amount")
        VERSION = 2
        amount = payload_field[int]("amount")

    class Shop:
        @hookimpl
        def llmspell_register_event_types(self, register: Any) -> None:
            register("shop.order.paid", OrderPaid)
            register("shop.**", ShopEvent)

    async with make_kernel(plugins=[Shop()]) as kernel:
        paid = await kernel.events.publish("shop.order.paid", {"order": "o1", "amount": 3}, session_id="s")
        refunded = await kernel.events.publish("shop.order.refunded", {"order": "o1"}, session_id="s")
        made = await kernel.events.publish(OrderPaid.create({"order": "o2", "amount": 5}, session_id="s"))
        with pytest.raises(ValidationError, match="amount"):
            await kernel.events.publish("shop.order.paid", {"order": "o3"})
        assert (type(paid), paid.amount, paid.schema_version) == (OrderPaid, 3, 2)
        assert (type(refunded), refunded.order) == (ShopEvent, "o1")
        assert [type(e) async for e in kernel.events.read("s")] == [OrderPaid, ShopEvent, OrderPaid]
        assert made.seq == 3


async def test_publish_many_stores_and_delivers_a_repeated_event_once(kernel: Kernel) -> None:
    got: list[int] = []
    kernel.events.subscribe("rep.*", lambda e: got.append(e.payload["n"]))
    one, two = Event("rep.x", {"n": 1}, session_id="s"), Event("rep.x", {"n": 2}, session_id="s")
    out = await kernel.events.publish_many([one, two, one])
    await kernel.events.flush()
    assert [e.seq for e in out] == [1, 2, 1]
    assert got == [1, 2]
    again = await kernel.events.publish_many([two, Event("rep.x", {"n": 3}, session_id="s")])
    await kernel.events.flush()
    assert [e.seq for e in again] == [2, 3] and got == [1, 2, 3]
