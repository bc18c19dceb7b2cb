"""Each template end to end on the offline provider, persisting across two kernel processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmspell.plugins.agents.api import ToolCall

from .agent_helpers import new_session

SCRIPT = Path(__file__).with_name("template_proc.py")


@pytest.fixture
def proc(tmp_path, llmspell_env):
    data = tmp_path / "data"

    def run(step, **args):
        env = {**llmspell_env, "PYTHONPATH": str(SCRIPT.parent)}
        done = subprocess.run([sys.executable, str(SCRIPT), str(data), step, json.dumps(args)], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


def test_chat_remembers_the_first_process_in_the_second(proc):
    first = proc("chat", say="Hi, my name is Ada.")
    assert first["content"] == "Nice to meet you, Ada."
    second = proc("chat", say="What is my name?", session=first["session"])
    assert second["content"] == "Your name is Ada." and second["history"] == 4


def test_chat_without_a_session_remembers_through_agent_state(proc):
    assert proc("chat-no-session", say="my name is Bob")["content"] == "Nice to meet you, Bob."
    assert proc("chat-no-session", say="what is my name?")["content"] == "Your name is Bob."


def test_research_report_saved_and_read_in_another_process(proc):
    first = proc("research")
    assert first["plan"][0] == "What is llmspell plugins?"
    (ref,) = first["saved"]
    later = proc("load", session=first["session"], ref=ref)
    assert later["text"].startswith("# Research: llmspell plugins")
    assert "source: " in later["text"] and "microkernel" in later["text"]
    assert later["topic"] == "llmspell plugins"


def test_code_checked_in_a_subprocess_and_saved(proc, tmp_path):
    first = proc("code", checks=["{python} -m ruff check --no-cache --isolated {path}"])
    assert first["data"]["passed"] is True and first["content"].startswith("solution.py: checks passed")
    code_ref, log_ref = first["saved"]
    code = proc("load", session=first["session"], ref=code_ref)["text"]
    log = proc("load", session=first["session"], ref=log_ref)["text"]
    assert "1 passed, 0 failed" in log and "ruff check" in log
    module = tmp_path / "solution.py"
    module.write_text(code)
    namespace: dict = {}
    exec(compile(module.read_text(), str(module), "exec"), namespace)
    function = next(v for k, v in namespace.items() if callable(v) and not k.startswith(("test_", "_")))
    assert function("  hello   world ") == "Hello World"


def test_tool_agent_state_survives_processes(proc):
    first = proc("tool", say="remember my color is blue")
    assert first["content"].startswith("state_set returned")
    second = proc("tool", say="recall color", session=first["session"])
    assert second["content"] == "state_get returned blue."


async def test_code_agent_fixes_failing_code_from_the_check_log(make_kernel):
    async with make_kernel() as kernel:
        provider = kernel.agents.provider()
        provider.script(
            "```python\ndef double(x):\n    return x * 3\n\n\ndef test_double():\n    assert double(2) == 4\n```",
            "```python\ndef double(x):\n    return x * 2\n\n\ndef test_double():\n    assert double(2) == 4\n```",
        )
        agent = kernel.agents.create("code", name="coder", max_attempts=2)
        sid = await new_session(kernel)
        out = await kernel.run(agent, "double a number", session=sid)
        assert out.data["attempts"] == [{"attempt": 1, "passed": False}, {"attempt": 2, "passed": True}]
        feedback = provider.requests[1].messages[-1].content
        assert "FAIL test_double: AssertionError" in feedback and "0 passed, 1 failed" in feedback
        assert (await kernel.artifacts.load(out.saved[0])).decode().count("x * 2") == 1


async def test_chat_trims_with_the_summarising_strategy(make_kernel):
    async with make_kernel() as kernel:
        agent = kernel.agents.create("chat", name="c", max_history_messages=6, keep_recent=2)
        sid = await new_session(kernel)
        for i in range(5):
            await kernel.run(agent, f"my name is Person{i}. Message number {i}.", session=sid)
        history = await agent.conversation(kernel.state, sid)
        assert len(history) <= 6
        assert history[0].role == "system" and history[0].content.startswith("Summary of the earlier conversation")
        out = await kernel.run(agent, "what is my name?", session=sid)
        assert out.content == "Your name is Person4."


async def test_chat_drop_strategy_and_custom_strategy(make_kernel):
    async with make_kernel() as kernel:
        dropper = kernel.agents.create("chat", name="d", max_history_messages=4, keep_recent=2, trim_strategy="drop")
        custom = kernel.agents.create("chat", name="k", max_history_messages=4, keep_recent=2,
                                      trim_strategy="tests.agents.agent_helpers:count_dropped")
        sid = await new_session(kernel)
        for i in range(4):
            await kernel.run(dropper, f"message {i}", session=sid)
            await kernel.run(custom, f"message {i}", session=sid)
        dropped = await dropper.conversation(kernel.state, sid)
        assert [m.role for m in dropped][:1] == ["user"] and len(dropped) <= 4
        kept = await custom.conversation(kernel.state, sid)
        assert kept[0].content.startswith("(dropped ")


async def test_tool_template_with_scripted_calls(make_kernel):
    async with make_kernel() as kernel:
        kernel.agents.provider().script([ToolCall("calculator", {"expression": "2+2"}),
                                         ToolCall("text_stats", {"text": "a b"})], "all done")
        agent = kernel.agents.create("tool", name="t", tools=["calculator", "text_stats"])
        out = await kernel.run(agent, "do two things")
        assert out.content == "all done" and out.data["steps"] == 2


async def test_structured_output_is_validated_and_corrected(make_kernel):
    async with make_kernel() as kernel:
        schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                  "required": ["city", "days"], "additionalProperties": False}
        agent = kernel.agents.create("tool", name="planner", output_schema=schema)
        provider = kernel.agents.provider()
        provider.script("Paris for three days", '```json\n{"city": "Paris", "days": "3"}\n```', '{"city": "Paris", "days": 3}')
        out = await kernel.run(agent, "plan a trip")
        assert out.data == {"city": "Paris", "days": 3} and out.metadata["steps"] == 3
        feedback = [m.content for m in provider.requests[-1].messages if m.role == "user"][1:]
        assert feedback[0].startswith("Your answer must be JSON matching the output schema: not valid JSON")
        assert feedback[1].endswith('$.days: "3" is not of type "integer"')
        from llmspell.errors import ConfigError

        with pytest.raises(ConfigError, match="output_schema cannot be compiled"):
            kernel.agents.create("tool", name="bad", output_schema={"$ref": "#/x"})


async def test_tool_calls_of_one_answer_run_concurrently(make_kernel):
    import asyncio

    from llmspell.plugins.tools import tool

    order: list[str] = []

    @tool
    async def nap(seconds: float) -> str:
        order.append("start")
        await asyncio.sleep(seconds)
        order.append("end")
        return f"slept {seconds}"

    async with make_kernel() as kernel:
        agent = kernel.agents.builder("tool", "napper").tools(nap).build()
        kernel.agents.provider().script([ToolCall("nap", {"seconds": 0.5}), ToolCall("nap", {"seconds": 0.5})], "rested")
        out = await kernel.run(agent, "nap twice")
        assert out.content == "rested"
        assert order == ["start", "start", "end", "end"]  # one after the other: start, end, start, end
        results = [m.content for m in kernel.agents.provider().requests[-1].messages if m.role == "tool"]
        assert results == ["slept 0.5", "slept 0.5"]


async def test_concurrent_turns_in_one_session_keep_every_message(make_kernel):
    import asyncio

    async with make_kernel() as kernel:
        agent = kernel.agents.create("chat", name="busy")
        sid = await new_session(kernel)
        outs = await asyncio.gather(*(kernel.run(agent, f"message {i}", session=sid) for i in range(4)))
        assert len(outs) == 4
        history = await agent.conversation(kernel.state, sid)
        users = sorted(m.content for m in history if m.role == "user")
        assert users == [f"message {i}" for i in range(4)] and len(history) == 8
