"""Where the session must do what the SDK's ``SQLiteSession`` does: limits, settings, compaction."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import pytest

pytest.importorskip("agents")

from agents import Agent, RunConfig, Runner, SessionSettings, SQLiteSession, set_tracing_disabled  # noqa: E402
from agents.memory import OpenAIResponsesCompactionSession  # noqa: E402
from agents.testing import ScriptedModel  # noqa: E402
from openai.types.responses import ResponseOutputMessage, ResponseOutputText  # noqa: E402

from llmspell import Kernel  # noqa: E402
from llmspell.contrib.openai_agents import InvalidSessionSettings, LlmspellSession, SessionClosed  # noqa: E402
from llmspell.errors import ValidationError  # noqa: E402


def items(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"message {i}"} for i in range(start, start + n)]


def reply(text: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id="1", type="message", role="assistant", status="completed",
        content=[ResponseOutputText(text=text, type="output_text", annotations=[], logprobs=[])],
    )


async def limits(session: Any) -> list[list[Any]]:
    await session.add_items(items(6))
    return [await session.get_items(limit=n) for n in (7, 10, 6, 5, 1, 0, -1, -7, None)]


async def test_a_limit_beyond_the_conversation_returns_all_of_it(kernel: Kernel, tmp_path: Path) -> None:
    reference = SQLiteSession("s", tmp_path / "sdk.db")
    try:
        expected = await limits(reference)
    finally:
        reference.close()
    got = await limits(LlmspellSession("s", kernel))
    assert [len(g) for g in got] == [6, 6, 6, 5, 1, 0, 6, 6, 6]
    assert got == expected


async def test_settings_given_as_a_dict_are_settings(kernel: Kernel) -> None:
    set_tracing_disabled(True)
    session = LlmspellSession("d", kernel, session_settings={"limit": 3})
    assert isinstance(session.session_settings, SessionSettings) and session.session_settings.limit == 3
    await session.add_items(items(5))
    assert await session.get_items() == items(3, start=2)
    model = ScriptedModel(steps=[[reply("ok")]])
    await Runner.run(Agent(name="a", model=model), "next", session=session,
                     run_config=RunConfig(session_settings={"limit": 1}))
    assert [i.get("content") for i in model.calls[-1].input] == ["message 4", "next"]


def test_unknown_settings_are_refused_as_the_sdk_refuses_them(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Unknown session settings: limitt"):
        SQLiteSession("x", tmp_path / "sdk.db", session_settings={"limitt": 1})
    kernel: Any = SimpleNamespace(stash={})
    with pytest.raises(InvalidSessionSettings, match="Unknown session settings: limitt") as caught:
        LlmspellSession("x", kernel, session_settings={"limitt": 1})
    assert isinstance(caught.value, ValidationError) and isinstance(caught.value, TypeError)
    with pytest.raises(InvalidSessionSettings, match="must be a SessionSettings instance or a dict"):
        LlmspellSession("x", kernel, session_settings=3)  # type: ignore[arg-type]


async def compact_suffix(store: Any) -> tuple[Any, list[Any]]:
    """An automatic compaction after a turn that saw only part of the history (as in the SDK's tests)."""
    set_tracing_disabled(True)
    await store.add_items(items(4))
    client = MagicMock()
    client.responses.compact = AsyncMock(return_value=SimpleNamespace(
        output=[{"type": "compaction", "id": "cmp", "encrypted_content": "summary"}]))
    session = OpenAIResponsesCompactionSession("c", store, client=client, compaction_mode="input",
                                               should_trigger_compaction=lambda _: True)
    model = ScriptedModel(steps=[[reply("done")]])
    await Runner.run(Agent(name="w", model=model), "continue", session=session,
                     run_config=RunConfig(session_settings={"limit": 1}))
    return client.responses.compact, await store.get_items(limit=100)


async def test_compaction_replaces_a_suffix_as_on_the_sdks_sqlite_session(kernel: Kernel, tmp_path: Path) -> None:
    reference = SQLiteSession("c", tmp_path / "sdk.db")
    try:
        sdk_compact, expected = await compact_suffix(reference)
    finally:
        reference.close()
    sdk_compact.assert_awaited_once()
    compact, got = await compact_suffix(LlmspellSession("c", kernel))
    compact.assert_awaited_once()
    assert compact.call_args.kwargs == sdk_compact.call_args.kwargs
    assert got == expected and got[-1]["type"] == "compaction" and got[:3] == items(3)


async def test_a_suffix_replacement_loses_to_a_newer_write(make_kernel: Any) -> None:
    async with make_kernel() as one, make_kernel() as two:
        left, right = LlmspellSession("r", one), LlmspellSession("r", two)
        await left.add_items(items(4))
        snapshot = await left._get_compaction_snapshot(2)
        assert snapshot.items == items(2, start=2) and not snapshot.complete
        await right.add_items(items(1, start=4))  # another process appends in between
        assert await snapshot.replace_suffix(0, [{"type": "compaction"}]) is False
        assert await right.get_items() == items(5)
        fresh = await right._get_compaction_snapshot(10)
        assert fresh.complete and await fresh.replace_suffix(3, [{"type": "compaction"}]) is True
        assert await left.get_items() == [*items(3), {"type": "compaction"}]
        assert await fresh.replace_suffix(3, [{"type": "again"}]) is False  # its suffix is gone


async def test_whole_history_replacement_is_one_append(kernel: Kernel) -> None:
    session = LlmspellSession("w", kernel)
    await session.add_items(items(3))
    assert await session._atomic_replace_items([{"type": "compaction"}]) is True
    assert await session.get_items() == [{"type": "compaction"}]
    assert await session._read_compaction_items(None) == ([{"type": "compaction"}], True)
    await session.add_items(items(2))
    assert await session._read_compaction_items(2) == (items(2), False)
    assert await session.pop_item() == items(1, start=1)[0]
    assert await LlmspellSession("w", kernel).get_items() == [{"type": "compaction"}, *items(1)]


async def test_a_closed_session_refuses_every_call_as_the_sdks_stores_do(kernel: Kernel) -> None:
    session = LlmspellSession("closed", kernel)
    await session.add_items(items(2))
    session.close()
    for call in (session.add_items([]), session.add_items(items(1)), session.get_items(), session.pop_item(),
                 session.clear_session()):
        with pytest.raises(SessionClosed, match="LlmspellSession is closed") as caught:
            await call
        assert isinstance(caught.value, RuntimeError)
    assert await LlmspellSession("closed", kernel).get_items() == items(2)  # the conversation stays
