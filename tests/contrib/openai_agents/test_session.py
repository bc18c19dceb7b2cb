"""The OpenAI Agents SDK on the llmspell session: across processes, and item by item."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agents import Runner, SQLiteSession, set_tracing_disabled  # noqa: E402

from llmspell import Kernel  # noqa: E402
from llmspell.contrib.openai_agents import LlmspellSession  # noqa: E402
from llmspell.errors import SerializationError  # noqa: E402

from .fake_model import agent  # noqa: E402

WORKER = Path(__file__).parent / "_chat_worker.py"


def turn(data: Path, session: str, text: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(WORKER), str(data), session, text],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
async def test_a_conversation_continues_in_a_second_process(tmp_path: Path, llmspell_env: dict[str, str]) -> None:
    data = tmp_path / "data"
    first = turn(data, "chat-1", "Hi, my name is Ann", llmspell_env)
    assert first["reply"] == "Hello Ann! (1 messages so far)" and first["items"] == 2
    second = turn(data, "chat-1", "What is my name?", llmspell_env)
    assert second["pid"] != first["pid"]
    assert second["reply"] == "Your name is Ann. (3 messages so far)" and second["items"] == 4
    async with Kernel(data_dir=data, env=llmspell_env) as kernel:
        assert await LlmspellSession.list_sessions(kernel, user_id="ann") == ["chat-1"]
        assert len(await kernel.events.query("openai.item", stream="chat-1")) == 4


def items(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"message {i}"} for i in range(start, start + n)]


async def exercise(session: Any) -> list[Any]:
    """The same calls on any Session; what they return."""
    out: list[Any] = [await session.get_items(), await session.pop_item()]
    await session.add_items(items(3))
    await session.add_items(items(2, start=3))
    await session.add_items([])
    out += [await session.get_items(), await session.get_items(limit=2), await session.get_items(limit=0)]
    out += [await session.pop_item(), await session.pop_item(), await session.get_items()]
    await session.clear_session()
    out += [await session.get_items(), await session.pop_item()]
    await session.add_items(items(1, start=9))
    out.append(await session.get_items())
    return out


async def test_items_behave_like_the_sdks_sqlite_session(kernel: Kernel, tmp_path: Path) -> None:
    reference = SQLiteSession("s", tmp_path / "sdk.db")
    try:
        expected = await exercise(reference)
    finally:
        reference.close()
    assert await exercise(LlmspellSession("s", kernel)) == expected


async def test_two_sessions_on_one_conversation_see_each_other(make_kernel: Any) -> None:
    async with make_kernel() as one, make_kernel() as two:
        left, right = LlmspellSession("shared", one), LlmspellSession("shared", two)
        await left.add_items(items(4))
        assert len(await right.get_items()) == 4
        popped = await asyncio.gather(left.pop_item(), right.pop_item())
        assert sorted(p["content"] for p in popped) == ["message 2", "message 3"]
        assert await left.get_items() == await right.get_items() == items(2)
        await right.clear_session()
        await left.add_items(items(1, start=7))
        assert await right.get_items() == await left.get_items() == items(1, start=7)


async def test_runner_keeps_the_conversation_and_lists_by_user(kernel: Kernel) -> None:
    set_tracing_disabled(True)
    session = LlmspellSession("c1", kernel, user_id="bob")
    await Runner.run(agent(), "my name is Bob", session=session)
    result = await Runner.run(agent(), "what is my name?", session=session)
    assert result.final_output == "Your name is Bob. (3 messages so far)"
    await LlmspellSession("c2", kernel, user_id="eve").add_items(items(1))
    assert await LlmspellSession.list_sessions(kernel, user_id="bob") == ["c1"]
    assert sorted(await LlmspellSession.list_sessions(kernel)) == ["c1", "c2"]
    assert (await kernel.sessions.get("c1")).user_id == "bob"


async def test_idle_conversations_expire(kernel: Kernel) -> None:
    session = LlmspellSession("short", kernel, ttl=0.3)
    await session.add_items(items(2))
    await asyncio.sleep(0.4)
    assert await session.get_items() == []
    await session.add_items(items(1, start=5))
    assert await LlmspellSession("short", kernel, ttl=0.3).get_items() == items(1, start=5)


async def test_items_must_be_json(kernel: Kernel) -> None:
    with pytest.raises(SerializationError):
        await LlmspellSession("j", kernel).add_items([{"content": object()}])
