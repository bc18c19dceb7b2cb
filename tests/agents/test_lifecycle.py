"""Lifecycle: the state machine, illegal transitions, a failing initialize, resource limits."""

from __future__ import annotations

import asyncio

import pytest

from llmspell.errors import DeadlineExceeded, InvalidTransition, LimitExceeded
from llmspell.plugins.agents import AgentInitError
from llmspell.plugins.agents.api import AgentStatus, ToolCall

from .agent_helpers import Echo


async def test_first_run_initializes_then_ready(kernel):
    agent = kernel.agents.create("echo", name="e")
    assert agent.status is AgentStatus.CREATED
    out = await kernel.run(agent, "hi")
    assert out.content == "echo: hi" and out.agent == "e"
    assert agent.status is AgentStatus.READY


async def test_illegal_transitions_name_current_state_and_allowed_targets(kernel):
    agent = kernel.agents.create("echo", name="e")
    with pytest.raises(InvalidTransition) as info:
        await kernel.agents.pause(agent)
    assert info.value.current == "created" and info.value.target == "paused"
    assert info.value.allowed == ["initializing", "stopped"]
    assert "agent 'e' cannot go from 'created' to 'paused'; allowed from 'created': initializing, stopped" in str(info.value)
    await kernel.agents.initialize(agent)
    await kernel.agents.pause(agent)
    with pytest.raises(InvalidTransition, match="from 'paused' to 'running'"):
        await kernel.run(agent, "refused while paused")
    with pytest.raises(InvalidTransition, match="from 'paused' to 'initializing'"):
        await kernel.agents.initialize(agent)
    await kernel.agents.resume(agent)
    assert (await kernel.run(agent, "back")).content == "echo: back"
    await kernel.agents.stop(agent)
    assert agent.status is AgentStatus.STOPPED
    with pytest.raises(InvalidTransition, match="from 'stopped' to 'paused'"):
        await kernel.agents.pause(agent)


async def test_failing_on_initialize_marks_the_agent_failed(kernel):
    class Broken(Echo):
        async def on_initialize(self, ctx):
            raise OSError("model weights missing")

    agent = kernel.agents.create(Broken, name="broken")
    with pytest.raises(AgentInitError, match="agent 'broken' failed to initialize: OSError: model weights missing"):
        await kernel.run(agent, "hi")
    assert agent.status is AgentStatus.FAILED
    with pytest.raises(InvalidTransition, match="from 'failed' to 'paused'"):
        await kernel.agents.pause(agent)


async def test_failing_initialize_hook_names_the_hook_and_recovery_works(kernel):
    agent = kernel.agents.create("echo", name="e")
    calls = []

    def restore(call):
        calls.append(call.args["agent"].name)
        if len(calls) == 1:
            raise RuntimeError("state store down")

    kernel.hooks.register("agent_initialize", restore, name="restore-state")
    with pytest.raises(AgentInitError, match="hook 'restore-state' raised RuntimeError: state store down"):
        await kernel.agents.initialize(agent)
    assert agent.status is AgentStatus.FAILED
    await kernel.agents.initialize(agent)  # failed -> initializing -> ready
    assert agent.status is AgentStatus.READY and calls == ["e", "e"]


async def test_max_concurrent_runs(kernel):
    agent = kernel.agents.create("echo", name="slow", delay=0.2, max_concurrent_runs=1)
    first = asyncio.create_task(kernel.run(agent, "one"))
    await asyncio.sleep(0.05)
    assert agent.status is AgentStatus.RUNNING
    with pytest.raises(LimitExceeded, match="agent 'slow' already has 1 runs in progress.*max_concurrent_runs = 1"):
        await kernel.run(agent, "two")
    assert (await first).content == "echo: one"
    assert agent.status is AgentStatus.READY


async def test_two_runs_within_the_limit_run_concurrently(kernel):
    agent = kernel.agents.create("echo", name="pair", delay=0.1, max_concurrent_runs=2)
    outs = await asyncio.gather(kernel.run(agent, "a"), kernel.run(agent, "b"))
    assert [o.content for o in outs] == ["echo: a", "echo: b"]
    assert agent.status is AgentStatus.READY


async def test_deadline_per_run(kernel):
    agent = kernel.agents.create("echo", name="late", delay=5, deadline=0.05)
    with pytest.raises(DeadlineExceeded, match=r"agent 'late' ran past its deadline \(0.05 s per run\)"):
        await kernel.run(agent, "hurry")
    assert agent.status is AgentStatus.READY  # a timed-out run does not break the agent


async def test_max_tool_calls(kernel, offline):
    agent = kernel.agents.create("tool", name="looper", tools=["calculator"], max_tool_calls=2, max_steps=10)
    offline.script(*[ToolCall("calculator", {"expression": "1+1"}) for _ in range(5)])
    with pytest.raises(LimitExceeded, match="agent 'looper' reached its limit of 2 tool calls in one run"):
        await kernel.run(agent, "loop forever")


async def test_stop_waits_for_running_runs(kernel):
    agent = kernel.agents.create("echo", name="busy", delay=0.2)
    run = asyncio.create_task(kernel.run(agent, "finish me"))
    await asyncio.sleep(0.05)
    await kernel.agents.stop(agent)
    assert run.done() and (await run).content == "echo: finish me"
    assert agent.status is AgentStatus.STOPPED


async def test_kernel_stop_shuts_agents_down(make_kernel):
    seen = []
    kernel = make_kernel()
    async with kernel:
        agent = kernel.agents.create("chat", name="talker")
        kernel.hooks.register("agent_shutdown", lambda call: seen.append(call.args["agent"].name))
        await kernel.run(agent, "hello")
    assert agent.status is AgentStatus.STOPPED
    assert seen == ["talker"]


async def test_per_agent_lifecycle_callbacks(kernel):
    agent = kernel.agents.create("echo", name="own")
    other = kernel.agents.create("echo", name="other")
    seen = []
    for point in ("agent_initialize", "agent_shutdown"):
        agent.callbacks.on(point, lambda call, p=point: seen.append((p, call.args["agent"].name, call.ctx is not None)))
    for a in (agent, other):
        await kernel.run(a, "x")
        await kernel.agents.stop(a)
    assert seen == [("agent_initialize", "own", True), ("agent_shutdown", "own", True)]


async def test_lifecycle_hooks_see_the_agent(kernel):
    names = []
    kernel.hooks.register("agent_created", lambda call: names.append(("created", call.args["agent"].name)))
    kernel.hooks.register("agent_initialize", lambda call: names.append(("initialize", call.args["agent"].name)))
    agent = kernel.agents.create("echo", name="watched")
    await kernel.run(agent, "x")
    await asyncio.sleep(0)
    assert names == [("created", "watched"), ("initialize", "watched")]


async def test_invocation_timeout_is_a_deadline_too(kernel):
    agent = kernel.agents.create("echo", name="slowpoke", delay=5)
    with pytest.raises(DeadlineExceeded, match=r"agent 'slowpoke' ran past the invocation's deadline \(0.0\d* s were left"):
        await kernel.run(agent, "hurry", timeout=0.05)
