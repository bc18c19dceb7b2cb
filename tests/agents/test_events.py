"""What a run records: agent events in the session's stream, lifecycle events, correlation ids."""

from __future__ import annotations

import pytest
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


async def test_a_runs_state_changes_and_its_finished_event_are_one_append(make_kernel):
    """The delta's state.changed events wait for agent.run.finished and go to the log with
    it (one transaction on the diskcache log), in that order, with the run's metadata."""
    from .agent_helpers import Writer

    async with make_kernel() as kernel:
        agent = kernel.agents.create(Writer, name="w", writes={"a": 1, "b": 2})
        sid = await new_session(kernel)
        await kernel.run(agent, "warm up", session=sid)
        log = kernel.events.log
        appended = []
        append = log.append

        async def counting(events, **options):
            appended.append([e.type for e in events])
            return await append(events, **options)

        log.append = counting
        await kernel.run(agent, "go", session=sid, user_id="u1")
        assert appended == [["state.changed", "state.changed", "agent.run.finished"]]
        events = [e async for e in kernel.events.read(sid, from_seq=1)][-3:]
        assert [(e.type, e.payload.get("key")) for e in events] == [
            ("state.changed", "a"), ("state.changed", "b"), ("agent.run.finished", None)]
        finished = events[-1]
        assert finished.source == "agent:w" and finished.user_id == "u1" and finished.correlation_id
        assert finished.payload["state_keys"] == ["a", "b"]


async def test_a_run_that_fails_after_its_delta_was_stored_logs_the_changes(make_kernel):
    """The delta was committed, then saving an artifact failed: the state.changed events
    are logged with agent.run.failed."""
    import attrs

    from llmspell.plugins.agents import BaseAgent
    from llmspell.plugins.agents.api import AgentOutput, ArtifactOutput

    @attrs.define(eq=False, kw_only=True)
    class Broken(BaseAgent):
        type_name = "broken"

        async def execute(self, request, ctx):
            return AgentOutput("x", state_delta={"kept": True}, artifacts=(ArtifactOutput("", b"data"),))

    async with make_kernel() as kernel:
        agent = kernel.agents.create(Broken, name="broken")
        sid = await new_session(kernel)
        with pytest.raises(Exception):  # noqa: B017 - whatever the artifact service refuses
            await kernel.run(agent, "go", session=sid)
        assert await kernel.state.scope("session", sid).get("kept") is True
        types = [e.type async for e in kernel.events.read(sid, from_seq=1)]
        assert types[-2:] == ["state.changed", "agent.run.failed"]
