"""Coordination through events: triggers (plain, grouped, agents) and workflow events."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from llmspell import Kernel
from llmspell.errors import DuplicateNameError, NotFoundError
from llmspell.plugins.events import LocalTransport
from llmspell.plugins.events.api import Event


async def test_triggers_run_handlers_for_matching_events(kernel: Kernel) -> None:
    shipped: list[int] = []

    async def ship(event: Event) -> None:
        shipped.append(event.payload["order"])
        await kernel.events.publish("order.shipped", {"order": event.payload["order"]}, cause=event)

    trigger = kernel.events.triggers.add("order.paid", ship, name="ship",
                                         predicate=lambda e: e.payload["order"] != 13)

    @kernel.events.triggers.on("order.shipped", name="notify")
    def notify(event: Event) -> None:
        raise RuntimeError("mail server down")

    paid = [await kernel.events.publish("order.paid", {"order": n}, session_id="s1") for n in (11, 12, 13)]
    await kernel.events.flush()
    assert shipped == [11, 12]
    assert trigger.fired == 3 and trigger.errors == 0
    assert kernel.events.triggers.get("notify").errors == 2  # isolated, counted
    shipped_events = await kernel.events.query("order.shipped")
    assert [e.causation_id for e in shipped_events] == [paid[0].id, paid[1].id]
    assert [t.name for t in kernel.events.triggers] == ["ship", "notify"] and "ship" in kernel.events.triggers
    with pytest.raises(DuplicateNameError):
        kernel.events.triggers.add("x.y", print, name="ship")
    kernel.events.triggers.remove("ship")
    await kernel.events.publish("order.paid", {"order": 14})
    await kernel.events.flush()
    assert shipped == [11, 12] and len(kernel.events.triggers) == 1
    with pytest.raises(NotFoundError):
        kernel.events.triggers.remove("ship")


async def test_grouped_triggers_go_through_the_transport_and_share_the_work(kernel: Kernel) -> None:
    transport = kernel.events.transport
    assert isinstance(transport, LocalTransport)
    joined: list[tuple[str, tuple[str, ...]]] = []
    original = transport.join

    async def spy(group: str, patterns: Any) -> None:
        joined.append((group, tuple(patterns)))
        await original(group, patterns)

    transport.join = spy  # type: ignore[method-assign]
    done: dict[str, list[int]] = {"a": [], "b": []}
    kernel.events.triggers.add("job.*", lambda e: done["a"].append(e.payload["n"]), name="a", group="workers")
    kernel.events.triggers.add("job.*", lambda e: done["b"].append(e.payload["n"]), name="b", group="workers")
    await kernel.events.triggers.join_all()
    assert ("workers", ("job.*",)) in joined
    for n in range(10):
        await kernel.events.publish("job.created", {"n": n})
    await kernel.events.flush()
    assert sorted(done["a"] + done["b"]) == list(range(10))  # each job once
    assert done["a"] and done["b"]  # taking turns
    kernel.events.triggers.remove("a")
    kernel.events.triggers.remove("b")
    await kernel.events.triggers.join_all()
    await kernel.events.publish("job.created", {"n": 99})
    await kernel.events.flush()
    assert 99 not in done["a"] + done["b"]


@attrs.frozen
class Output:
    text: str


async def test_agent_triggers_run_the_agent_and_reply(kernel: Kernel) -> None:
    from llmspell.plugins.agents import OfflineProvider
    from llmspell.plugins.sessions.api import SessionService

    sessions = kernel.services.find(SessionService)
    sid = str((await sessions.create(app="tests")).id) if sessions is not None else "s1"
    seen: list[tuple[str, str | None]] = []
    triage = kernel.agents.builder("chat", "triage").provider(OfflineProvider(replies={"(.+)": "triaged: {0}"})).build()
    triage.callbacks.on("agent_before", lambda call: seen.append((call.request.text, call.ctx.session_id)))
    kernel.events.triggers.agent("ticket.opened", "triage", input=lambda e: e.payload["title"],
                                 options=lambda e: {"session": e.session_id}, reply="ticket.triaged")
    opened = await kernel.events.publish("ticket.opened", {"title": "printer on fire"}, session_id=sid)
    reply = await kernel.events.wait_for("ticket.triaged", timeout=10)
    assert seen == [("printer on fire", sid)]
    assert reply.payload["output"]["content"] == "triaged: printer on fire"
    assert reply.payload["agent"] == "triage"
    assert (reply.causation_id, reply.correlation_id, reply.session_id) == (opened.id, opened.id, sid)


async def test_workflow_events(kernel: Kernel) -> None:
    async with kernel.events.workflow("ingest", session_id="s1", input={"url": "u"}) as wf:
        await wf.step("fetched", {"bytes": 3})
        async with wf.stage("parse"):
            pass
    with pytest.raises(ZeroDivisionError):
        async with kernel.events.workflow("broken", session_id="s1") as bad:
            async with bad.stage("divide"):
                1 / 0  # noqa: B018
    output = await kernel.events.workflow("pipeline", session_id="s1").run(
        [("double", lambda x: x * 2), ("add", lambda x: x + 1)], 20)
    assert output == 41
    events = [e async for e in kernel.events.read("s1")]
    summary = [(e.payload["workflow"], e.type.split(".")[1], e.payload.get("step"), e.payload.get("status"))
               for e in events]
    assert summary == [
        ("ingest", "started", None, None), ("ingest", "step", "fetched", "finished"),
        ("ingest", "step", "parse", "started"), ("ingest", "step", "parse", "finished"),
        ("ingest", "finished", None, None),
        ("broken", "started", None, None), ("broken", "step", "divide", "started"),
        ("broken", "step", "divide", "failed"), ("broken", "failed", None, None),
        ("pipeline", "started", None, None), ("pipeline", "step", "double", "started"),
        ("pipeline", "step", "double", "finished"), ("pipeline", "step", "add", "started"),
        ("pipeline", "step", "add", "finished"), ("pipeline", "finished", None, None),
    ]
    ingest = [e for e in events if e.payload["workflow"] == "ingest"]
    assert {e.correlation_id for e in ingest} == {wf.run_id}
    assert [e.causation_id for e in ingest[1:]] == [e.id for e in ingest[:-1]]
    assert ingest[-1].payload["steps"] == 2 and ingest[0].payload["input"] == {"url": "u"}
    assert events[8].payload["error"] == "ZeroDivisionError: division by zero"
    assert events[-1].payload["output"] == 41
    unscoped = await kernel.events.workflow("system-wide").run([("noop", lambda x: x)])
    assert unscoped is None
    assert len(await kernel.events.query("workflow.*", stream="system")) == 4
