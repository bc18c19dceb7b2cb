"""Handoffs: A -> B -> C through the transformation pipeline, version checks, migrations, depth."""

from __future__ import annotations

import pytest

from llmspell import Cancel
from llmspell.errors import CancelledByHook, LimitExceeded, SchemaVersionError, UnknownNameError
from llmspell.plugins.agents import drop, keep, rename, summarise

from .agent_helpers import EchoPlugin, Relay


def chain(kernel, c_schema=1):
    a = kernel.agents.create(Relay, name="a", next="b", add={"customer": "Ada", "password": "hunter2"})
    b = kernel.agents.create(Relay, name="b", next="c", add={"notes": "x" * 500})
    c = kernel.agents.create(Relay, name="c", state_schema=c_schema)
    return a, b, c


async def test_chain_with_transforming_hooks(kernel):
    a, b, c = chain(kernel)
    seen = []
    kernel.hooks.register("agent_handoff", drop(["password"]), priority=30)
    kernel.hooks.register("agent_handoff", rename({"customer": "client"}), priority=20)
    kernel.hooks.register("agent_handoff", summarise(max_chars=20), priority=10)
    kernel.callbacks.on("agent_handoff", lambda call: seen.append((call.request.source, call.request.target, call.request.depth)))
    out = await kernel.run(a, "start")
    assert out.trail == ("a", "b", "c") and out.agent == "c"
    assert b.received == [{"client": "Ada"}]
    assert c.received == [{"client": "Ada", "notes": "x" * 19 + "…"}]
    assert seen == [("a", "b", 1), ("b", "c", 2)]


async def test_keep_and_per_agent_callbacks(kernel):
    a, _b, c = chain(kernel)
    a.callbacks.on("agent_handoff", lambda call: None)
    kernel.hooks.register("agent_handoff", keep(["customer"]))
    await kernel.run(a, "start")
    assert c.received == [{"customer": "Ada"}]


async def test_incompatible_version_is_a_clear_error(kernel):
    a, _b, c = chain(kernel, c_schema=2)
    with pytest.raises(SchemaVersionError) as info:
        await kernel.run(a, "start")
    message = str(info.value)
    assert "agent 'c' accepts handoff state schema version 2, but 'b' passed version 1" in message
    assert "register a migration for namespace 'agents.handoff' from version 1" in message
    assert c.received == []


async def test_registered_migration_upgrades_the_state(kernel):
    a, _b, c = chain(kernel, c_schema=2)
    kernel.agents.handoffs.add_migration(1, lambda state: {**state, "migrated": True})
    out = await kernel.run(a, "start")
    assert out.trail == ("a", "b", "c")
    assert c.received[0]["migrated"] is True


async def test_cancelled_handoff(kernel):
    a, _, _ = chain(kernel)
    kernel.hooks.register("agent_handoff", lambda call: Cancel("c is closed") if call.request.target == "c" else None,
                          name="gate")
    with pytest.raises(CancelledByHook, match="hook 'gate' cancelled agent_handoff: c is closed"):
        await kernel.run(a, "start")


async def test_depth_is_bounded(make_kernel):
    async with make_kernel({"agents": {"max_handoff_depth": 3}}, plugins=[EchoPlugin()]) as kernel:
        kernel.agents.create(Relay, name="ping", next="pong")
        kernel.agents.create(Relay, name="pong", next="ping")
        with pytest.raises(LimitExceeded, match=r"ping -> pong -> ping -> pong -> ping is longer than .*max_handoff_depth = 3"):
            await kernel.run("ping", "go")


async def test_unknown_target(kernel):
    kernel.agents.create(Relay, name="lost", next="nobody")
    with pytest.raises(UnknownNameError, match="unknown agent 'nobody'"):
        await kernel.run("lost", "go")


async def test_model_chosen_handoff_through_transfer_tools(kernel):
    kernel.agents.create("chat", name="billing", system="You handle invoices.")
    triage = kernel.agents.create("tool", name="triage", agents=["billing"])
    out = await kernel.run(triage, "please transfer me to billing, my invoice is wrong")
    assert out.trail == ("triage", "billing")
    assert out.agent == "billing"
    billing_request = kernel.agents.provider().requests[-1]
    assert [m.role for m in billing_request.messages][:3] == ["system", "user", "assistant"]
    assert billing_request.messages[2].content == "Transferring to billing."
