"""Tools: schema validation, the safe calculator, function tools, agents as tools, tools as agents."""

from __future__ import annotations

import pytest
import pytest_asyncio

from llmspell.errors import ValidationError
from llmspell.plugins.tools import evaluate, tool


@pytest_asyncio.fixture
async def kernel(make_kernel):
    async with make_kernel() as k:
        yield k


@pytest.mark.parametrize(
    ("expression", "value"),
    [("1+2*3", 7), ("2**10", 1024), ("2^10", 1024), ("(1+2)*3", 9), ("7/2", 3.5), ("7//2", 3), ("-3+1", -2),
     ("sqrt(16)", 4), ("max(1, 5, 3)", 5), ("round(pi, 2)", 3.14), ("10 % 4", 2)],
)
def test_calculator_values(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    ("expression", "problem"),
    [("__import__('os').system('id')", "not allowed"), ("open('/etc/passwd')", "not allowed"),
     ("x + 1", "not allowed"), ("(1).__class__", "not allowed"), ("9**9**9", "exponent"),
     ("10**200", "out of range"), ("1/0", "division by zero"), ("1 +", "not an arithmetic expression"),
     ("sqrt(-1)", "sqrt"), ("1" * 600, "longer than"), ("[1,2]", "not allowed"), ("lambda: 1", "not allowed")],
)
def test_calculator_refuses(expression, problem):
    with pytest.raises(ValidationError, match=problem):
        evaluate(expression)


async def test_function_tool_schema_from_signature_and_as_agent(kernel):
    @tool(description="Repeat a word.")
    async def repeat(word: str, times: int = 2, ctx=None) -> str:
        assert ctx is not None and ctx.invocation_id
        return " ".join([word] * times)

    assert repeat.parameters == {"type": "object", "properties": {"word": {"type": "string"},
                                                                  "times": {"type": "integer"}},
                                 "required": ["word"], "additionalProperties": False}
    out = await kernel.run(repeat, {"word": "hi", "times": 3})  # a tool is an agent
    assert out.content == "hi hi hi" and out.data == "hi hi hi" and out.agent == "repeat"
    with pytest.raises(ValidationError, match=r"invalid arguments for tool 'repeat': \$.times: \"3\" is not of type \"integer\""):
        await kernel.run(repeat, {"word": "hi", "times": "3"})
    with pytest.raises(ValidationError, match="takes an object of arguments"):
        await kernel.run(repeat, "hi")


async def test_tools_run_through_tool_hooks_when_run_as_agents(kernel):
    seen = []
    kernel.callbacks.on("tool_after", lambda call: seen.append(call.result))
    calc = kernel.agents.tool("calculator")
    assert (await kernel.run(calc, {"expression": "6*7"})).data == 42
    assert seen == [42]


async def test_agent_as_a_tool_of_another_agent(kernel):
    kernel.agents.create("chat", name="poet", system="You write poems.")
    from llmspell.plugins.agents import OfflineProvider
    from llmspell.plugins.agents.api import ToolCall

    provider = OfflineProvider().script(ToolCall("poet", {"input": "my name is Basho"}), "done")
    boss = kernel.agents.builder("tool", "boss").provider(provider).tools("poet", "text_stats").build()
    assert boss.tools["poet"].parameters["required"] == ["input"]
    out = await kernel.run(boss, "get me a poem")
    assert out.content == "done"
    tool_result = provider.requests[-1].messages[-1]
    assert tool_result.role == "tool" and tool_result.content == "Nice to meet you, Basho."
    assert kernel.agents.get("poet").status.value == "ready"  # the inner agent ran through the service


async def test_clock_and_text_stats(kernel):
    stats = kernel.agents.tool("text_stats")
    assert (await kernel.run(stats, {"text": "a b\nc"})).data == {"characters": 5, "words": 3, "lines": 2}
    clock = kernel.agents.tool("clock")
    assert (await kernel.run(clock, {})).content.endswith("+00:00")


async def test_artifact_and_state_tools_in_a_session(kernel):
    from llmspell.plugins.agents.api import ToolCall

    session = await kernel.sessions.create(user_id="ada", app="tests")
    provider = kernel.agents.provider()
    provider.script(
        [ToolCall("artifact_write", {"name": "notes.md", "content": "# Notes\nbuy milk"}),
         ToolCall("state_set", {"key": "mood", "value": {"level": 3}})],
        [ToolCall("artifact_read", {"name": "notes.md"}), ToolCall("state_get", {"key": "mood"})],
        "done",
    )
    agent = kernel.agents.create("tool", name="clerk", tools=["artifact_write", "artifact_read", "state_set", "state_get"])
    out = await kernel.run(agent, "keep notes", session=session)
    assert out.content == "done"
    results = [m.content for m in provider.requests[-1].messages if m.role == "tool"]
    assert results[0].startswith("artifact:session/") and results[0].endswith("/notes.md@1")
    assert results[1] == '{"key":"mood","version":1}'
    assert results[2:] == ["# Notes\nbuy milk", '{"level":3}']
    assert await kernel.state.scope("session", session.id).get("mood") == {"level": 3}
    assert await kernel.artifacts.load("notes.md", ctx=await kernel.context(session_id=session.id, user_id="ada")) \
        == b"# Notes\nbuy milk"


async def test_state_tool_without_a_session_or_user(kernel):
    from llmspell.plugins.agents.api import ToolCall

    kernel.agents.provider().script(ToolCall("state_get", {"key": "k", "scope": "session"}), "ok")
    agent = kernel.agents.create("tool", name="t", tools=["state_get"])
    await kernel.run(agent, "read")
    error = next(m.content for m in kernel.agents.provider().requests[-1].messages if m.role == "tool")
    assert error == "error: this run has no session, so the session scope cannot be used"
