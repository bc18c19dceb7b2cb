"""The chat template's stored conversation: appended turn by turn, the earlier layout still read."""

from __future__ import annotations

import pytest

from llmspell.errors import IntegrityError
from llmspell.plugins.agents.api import Message

from .agent_helpers import new_session


def changes(kernel, sid):
    seen = []
    kernel.state.watch("session", sid, "chat/", seen.append)
    return seen


async def test_a_turn_stores_only_the_messages_it_added(make_kernel):
    async with make_kernel() as kernel:
        agent = kernel.agents.create("chat", name="c")
        sid = await new_session(kernel)
        for i in range(5):
            await kernel.run(agent, f"message {i}", session=sid)
        seen = changes(kernel, sid)
        out = await kernel.run(agent, "message 5", session=sid)
        await kernel.events.flush()
        assert out.data["history"] == 12
        # the turn wrote its two messages and a head without messages, nothing of the five before
        assert sorted(c.key for c in seen) == ["chat/c", "chat/c/000005"]
        turn = next(c.value for c in seen if c.key == "chat/c/000005")
        assert [m["role"] for m in turn] == ["user", "assistant"] and turn[0]["content"] == "message 5"
        head = next(c.value for c in seen if c.key == "chat/c")
        assert head["turns"] == 6 and "head" not in head
        history = await agent.conversation(kernel.state, sid)
        assert [m.content for m in history if m.role == "user"] == [f"message {i}" for i in range(6)]


async def test_the_earlier_layout_is_read_and_continued(make_kernel):
    async with make_kernel() as kernel:
        agent = kernel.agents.create("chat", name="old")
        sid = await new_session(kernel)
        scope = kernel.state.scope("session", sid)
        earlier = [{"role": "user", "content": "my name is Ada"}, {"role": "assistant", "content": "Hello Ada."}]
        await scope.set("chat/old", earlier)  # the whole conversation in one list, as stored before
        out = await kernel.run(agent, "what is my name?", session=sid)
        assert out.content == "Your name is Ada."
        history = await agent.conversation(kernel.state, sid)
        assert [m.content for m in history] == ["my name is Ada", "Hello Ada.", "what is my name?", "Your name is Ada."]
        head = await scope.get("chat/old")
        assert head["format"] == 2 and head["turns"] == 1 and len(head["head"]) == 2


async def test_turns_written_by_another_reader_are_seen(make_kernel):
    """Two agents on one history key (as two processes would be): each one's cached
    conversation takes in the other's turns."""
    async with make_kernel() as kernel:
        one = kernel.agents.create("chat", name="one", history_key="chat/shared")
        two = kernel.agents.create("chat", name="two", history_key="chat/shared")
        sid = await new_session(kernel)
        for i in range(3):
            await kernel.run(one, f"one says {i}", session=sid)
            await kernel.run(two, f"two says {i}", session=sid)
        expected = [f"{who} says {i}" for i in range(3) for who in ("one", "two")]
        for agent in (one, two):
            history = await agent.conversation(kernel.state, sid)
            assert [m.content for m in history if m.role == "user"] == expected
        requests = kernel.agents.provider().requests
        assert [m.content for m in requests[-1].messages if m.role == "user"] == expected


async def test_trimming_starts_a_new_log_and_deletes_the_old_turns(make_kernel):
    async with make_kernel() as kernel:
        agent = kernel.agents.create("chat", name="t", max_history_messages=6, keep_recent=2, trim_strategy="drop")
        sid = await new_session(kernel)
        scope = kernel.state.scope("session", sid)
        logs = set()
        for i in range(8):
            await kernel.run(agent, f"message {i}", session=sid)
            head = await scope.get("chat/t")
            logs.add(head["log"])
            turns = await scope.list("chat/t/")
            assert turns == [f"chat/t/{n:06d}" for n in range(head["turns"])]
        assert len(logs) > 1
        history = await agent.conversation(kernel.state, sid)
        assert len(history) <= 6 and history[-2].content == "message 7"


async def test_a_missing_turn_is_an_integrity_error(make_kernel):
    async with make_kernel() as kernel:
        agent = kernel.agents.create("chat", name="m")
        sid = await new_session(kernel)
        for i in range(3):
            await kernel.run(agent, f"message {i}", session=sid)
        scope = kernel.state.scope("session", sid)
        await scope.delete("chat/m/000001")
        fresh = kernel.agents.create("chat", name="m2", history_key="chat/m")  # nothing cached
        with pytest.raises(IntegrityError, match=r"turn 'chat/m/000001' of the conversation 'chat/m' \(3 turns\)"):
            await fresh.conversation(kernel.state, sid)
        await scope.set("chat/m", {"format": 9})
        with pytest.raises(IntegrityError, match="is not a format-2 head"):
            await fresh.conversation(kernel.state, sid)


async def test_without_a_session_the_history_stays_in_the_agents_memory(make_kernel):
    async with make_kernel() as kernel:
        agent = kernel.agents.create("chat", name="solo")
        await kernel.run(agent, "my name is Bo", session=None)
        out = await kernel.run(agent, "what is my name?")
        assert out.content == "Your name is Bo."
        assert [Message(**m).content for m in agent.memory["history"]][-1] == "Your name is Bo."
