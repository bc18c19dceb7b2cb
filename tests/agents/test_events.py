"""What a run records: agent events in the session's stream, lifecycle events, correlation ids."""

from __future__ import annotations

import pytest_asyncio

from .agent_helpers import EchoPlugin, Relay, new_session


@pytest_asyncio.fixture
async def kernel(make_kernel):
    async with make_kernel({"agents": {"events": "verbose"}}, plugins=[EchoPlugin()]) as k:
        yield k


async def test_run_events_land_in_the_session_stream(kernel):
    kernel.agents.create(Relay, name="a", next="b", add={"k": "v"})
    kernel.agents.create(Relay, name="b")
    sid = await new_session(kernel)
    out = await kernel.run("a", "go", session=sid)
    assert out.trail == ("a", "b")
    events = [e async for e in kernel.events.read(sid, from_seq=1)]
    agent_events = [(e.type, e.payload.get("agent") or e.payload.get("from")) for e in events if e.type.startswith("agent.")]
    assert agent_events == [
        ("agent.run.started", "a"), ("agent.run.finished", "a"), ("agent.handoff", "a"),
        ("agent.run.started", "b"), ("agent.run.finished", "b"),
    ]
    correlations = {e.correlation_id for e in events if e.type.startswith("agent.")}
    assert len(correlations) == 1 and None not in correlations
    handoff = next(e for e in events if e.type == "agent.handoff")
    assert handoff.payload["to"] == "b" and handoff.payload["state_keys"] == ["k"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_lifecycle_transitions_are_published(kernel):
    seen = []
    kernel.events.subscribe("agent.*", lambda event: seen.append((event.type, event.payload.get("to"))))
    agent = kernel.agents.create("echo", name="e")
    await kernel.run(agent, "x")
    await kernel.agents.pause(agent)
    await kernel.agents.resume(agent)
    await kernel.agents.stop(agent)
    await kernel.events.flush()
    assert seen == [
        ("agent.created", None), ("agent.initializing", "initializing"), ("agent.ready", "ready"),
        ("agent.paused", "paused"), ("agent.ready", "ready"), ("agent.stopping", "stopping"), ("agent.stopped", "stopped"),
    ]


async def test_failed_run_is_recorded(kernel):
    agent = kernel.agents.create("echo", name="e", fail_times=1)
    sid = await new_session(kernel)
    try:
        await kernel.run(agent, "x", session=sid)
    except ConnectionError:
        pass
    types = [e.type async for e in kernel.events.read(sid, from_seq=1) if e.type.startswith("agent.")]
    assert types == ["agent.run.started", "agent.run.failed"]


async def test_standard_events_are_one_per_run(make_kernel):
    async with make_kernel(plugins=[EchoPlugin()]) as kernel:
        kernel.agents.create(Relay, name="a", next="b")
        kernel.agents.create(Relay, name="b")
        sid = await new_session(kernel)
        await kernel.run("a", "go", session=sid)
        events = [e async for e in kernel.events.read(sid, from_seq=1) if e.type.startswith("agent.")]
        assert [e.type for e in events] == ["agent.run.finished", "agent.handoff", "agent.run.finished"]
        assert events[0].payload["input"] == "go" and events[0].payload["elapsed_ms"] >= 0


async def test_no_events(make_kernel):
    async with make_kernel({"agents": {"events": "none"}}, plugins=[EchoPlugin()]) as kernel:
        seen = []
        kernel.events.subscribe("agent.**", seen.append)
        await kernel.run(kernel.agents.create("echo", name="e"), "x")
        await kernel.events.flush()
        assert seen == []
