"""kernel.run: hook points around agent, model and tool calls, callbacks, errors, streaming."""

from __future__ import annotations

import pytest

from llmspell import Cancel, Replace
from llmspell.errors import CancelledByHook, ValidationError
from llmspell.plugins.agents.api import AgentOutput, AgentRequest, Message, ModelResponse, ToolCall


async def test_run_by_name_and_hook_points_in_order(kernel, hook_recorder):
    kernel.agents.create("tool", name="calc", tools=["calculator"])
    out = await kernel.run("calc", "what is 2^10?")
    assert out.content == "calculator returned 1024."
    points = [n.removeprefix("llmspell_") for n in hook_recorder.names()
              if n.startswith(("llmspell_agent_", "llmspell_model_", "llmspell_tool_")) and n.endswith(("_before", "_after"))]
    assert points == ["agent_before", "model_before", "model_after", "tool_before", "tool_after",
                      "model_before", "model_after", "agent_after"]


async def test_before_agent_replace_and_cancel(kernel):
    agent = kernel.agents.create("echo", name="e")
    handle = kernel.hooks.register("agent_before", lambda call: Replace(AgentOutput(content="cached")))
    out = await kernel.run(agent, "x")
    assert out.content == "cached" and out.agent == "e" and agent.runs == 0
    handle.remove()
    kernel.hooks.register("agent_before", lambda call: Cancel("not today"), name="policy")
    with pytest.raises(CancelledByHook, match="hook 'policy' cancelled agent_before: not today"):
        await kernel.run(agent, "x")


async def test_hook_changes_request_and_result(kernel):
    agent = kernel.agents.create("echo", name="e")

    def redact(call):
        call.request = AgentRequest(call.request.text.replace("secret", "[redacted]"))

    def sign(call):
        call.result = call.result.evolve(content=call.result.content + " (checked)")

    kernel.hooks.register("agent_before", redact)
    kernel.hooks.register("agent_after", sign)
    assert (await kernel.run(agent, "my secret")).content == "echo: my [redacted] (checked)"


async def test_agent_callbacks_only_see_their_agent(kernel):
    mine, other = kernel.agents.create("echo", name="mine"), kernel.agents.create("echo", name="other")
    seen = []
    mine.callbacks.on("agent_after", lambda call: seen.append(call.component.name))
    await kernel.run(mine, "a")
    await kernel.run(other, "b")
    assert seen == ["mine"]


async def test_model_hook_replaces_the_provider_answer(kernel, offline):
    agent = kernel.agents.create("chat", name="c")
    kernel.hooks.register("model_before", lambda call: Replace(ModelResponse(Message.assistant("from the cache"))))
    assert (await kernel.run(agent, "hello")).content == "from the cache"
    assert offline.requests == []


async def test_tool_hooks_see_validated_arguments_and_can_cancel(kernel, offline):
    agent = kernel.agents.create("tool", name="t", tools=["calculator"])
    seen = []
    kernel.callbacks.on("tool_before", lambda call: seen.append((call.component.name, dict(call.request))))
    kernel.hooks.register("tool_before", lambda call: Cancel("no maths") if "9" in call.request["expression"] else None)
    assert (await kernel.run(agent, "what is 1+2")).content == "calculator returned 3."
    assert seen == [("calculator", {"expression": "1+2"})]
    with pytest.raises(CancelledByHook, match="no maths"):
        await kernel.run(agent, "what is 9+9")


async def test_bad_tool_arguments_go_back_to_the_model(kernel, offline):
    agent = kernel.agents.create("tool", name="t", tools=["calculator"])
    offline.script(ToolCall("calculator", {"expr": "1+1"}), "sorry")
    out = await kernel.run(agent, "compute")
    assert out.content == "sorry"
    tool_message = offline.requests[1].messages[-1]
    assert tool_message.role == "tool"
    assert tool_message.content.startswith("error: invalid arguments for tool 'calculator': ")
    assert "$.expression: required but missing" in tool_message.content
    assert "$.expr: unknown property (allowed: expression)" in tool_message.content


async def test_validate_input_and_handle_error(kernel):
    agent = kernel.agents.create("echo", name="e", fail_times=1)
    with pytest.raises(ValidationError, match="agent 'e' needs non-empty input"):
        await kernel.run(agent, "")
    with pytest.raises(ConnectionError, match="run 1 failed"):
        await kernel.run(agent, "x")

    class Forgiving(type(agent)):
        async def handle_error(self, error, request, ctx):
            return AgentOutput(content=f"recovered from {type(error).__name__}")

    forgiving = kernel.agents.create(Forgiving, name="f", fail_times=1)
    assert (await kernel.run(forgiving, "x")).content == "recovered from ConnectionError"


async def test_agent_error_point_can_recover(kernel):
    agent = kernel.agents.create("echo", name="e", fail_times=5)
    kernel.hooks.register("agent_error", lambda call: Replace(AgentOutput(content=f"fallback: {call.error}")))
    assert (await kernel.run(agent, "x")).content == "fallback: run 1 failed"


async def test_streaming_yields_events_as_they_happen(kernel):
    agent = kernel.agents.create("tool", name="t", tools=["calculator"])
    events = [e async for e in kernel.agents.stream(agent, "what is 3*3")]
    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-2:] == ["finished", "done"]
    assert "tool_call" in kinds and "tool_result" in kinds
    deltas = "".join(e.data for e in events if e.kind == "delta")
    assert deltas == "calculator returned 9."
    assert events[-1].data.content == deltas
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("delta")


async def test_streaming_surfaces_errors(kernel):
    agent = kernel.agents.create("echo", name="e", fail_times=1)
    seen = []
    with pytest.raises(ConnectionError):
        async for event in kernel.agents.stream(agent, "x"):
            seen.append(event.kind)
    assert seen == ["started", "error"]


async def test_temp_scope_does_not_need_state_without_deltas(kernel):
    out = await kernel.run(kernel.agents.create("echo", name="e"), {"structured": [1, 2]})
    assert out.content == 'echo: {"structured":[1,2]}'


def test_fast_copy_keeps_every_field():
    import attrs

    from llmspell.plugins.agents._commit import _with_agent
    from llmspell.plugins.agents.api import ArtifactOutput

    original = AgentOutput(content="c", data={"d": 1}, state_delta={"k": 1}, artifacts=(ArtifactOutput("a", b"x"),),
                           transfer_to="t", handoff_state={"h": 1}, metadata={"m": 1}, saved=("s",), trail=("a", "b"),
                           status="paused", run_id="r")
    assert _with_agent(original, "n") == attrs.evolve(original, agent="n")
    assert original.of_run("r2", "paused") == attrs.evolve(original, run_id="r2", status="paused")
    assert [f.name for f in attrs.fields(AgentOutput)] == [
        "content", "data", "state_delta", "artifacts", "transfer_to", "handoff_state", "metadata", "agent", "saved",
        "trail", "status", "run_id", "pending"]


async def test_leaving_a_stream_early_cancels_the_run(kernel):
    agent = kernel.agents.create("echo", name="slow", delay=5)
    async for event in kernel.agents.stream(agent, "x"):
        assert event.kind == "started"
        break
    import asyncio

    for _ in range(20):
        if agent.status.value == "ready":
            break
        await asyncio.sleep(0.01)
    assert agent.status.value == "ready"


def test_bad_reply_pattern_is_a_config_error(make_kernel):
    from llmspell.errors import ConfigError

    with pytest.raises(ConfigError, match=r"agents.replies: '\(' is not a regular expression|replies: '\(' is not a regular"):
        make_kernel({"agents": {"replies": {"(": "x"}}})


async def test_after_agent_retry_runs_the_agent_again(make_kernel):
    from llmspell import Retry

    from .agent_helpers import EchoPlugin

    async with make_kernel({"hook_policy": {"backoff": 0}}, plugins=[EchoPlugin()]) as kernel:
        agent = kernel.agents.create("echo", name="e")
        kernel.hooks.register("agent_after", lambda call: Retry("again") if call.attempt == 1 else None)
        out = await kernel.run(agent, "x")
        assert out.data == {"runs": 2} and agent.runs == 2


async def test_state_delta_needs_its_scope_owner(kernel):
    from .agent_helpers import Writer

    writer = kernel.agents.create(Writer, name="w", writes={"session:topic": "x"})
    with pytest.raises(ValidationError, match="agent 'w' wrote 'session:topic', but this run has no session"):
        await kernel.run(writer, "go")
    user_writer = kernel.agents.create(Writer, name="u", writes={"user:theme": "dark"})
    with pytest.raises(ValidationError, match="this run has no user"):
        await kernel.run(user_writer, "go")
    await kernel.run(user_writer, "go", user_id="ada")
    assert await kernel.state.scope("user", "ada").get("theme") == "dark"


async def test_missing_services_are_named(make_kernel):
    from llmspell.errors import ServiceNotAvailable

    from .agent_helpers import Writer

    async with make_kernel(disable=["artifacts"]) as kernel:
        researcher = kernel.agents.create("research", name="r")
        with pytest.raises(ServiceNotAvailable, match="ArtifactService service; agent 'r' produced artifacts"):
            await kernel.run(researcher, "anything")
    async with make_kernel(disable=["state", "sessions"]) as kernel:
        writer = kernel.agents.create(Writer, name="w", writes={"app:x": 1})
        with pytest.raises(ServiceNotAvailable, match="StateService service; agent 'w' returned a state delta"):
            await kernel.run(writer, "go")
