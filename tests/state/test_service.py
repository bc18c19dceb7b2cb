"""Service behaviour beyond the contract suite: hook results, broad watches, agent edge cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from llmspell import Kernel, Replace, hookimpl
from llmspell.errors import ValidationError
from llmspell.plugins.state.api import StateChange


async def test_replace_from_before_write_hook(kernel: Kernel) -> None:
    kernel.hooks.register("state_before_write", lambda call: Replace({"replaced": call.request.value}))
    s = kernel.state.scope("user", "u1")
    await s.set("k", 1)
    assert await s.get("k") == {"replaced": 1}
    result = await s.update("n", lambda n: 5)
    assert result.value == {"replaced": 5} and await s.get("n") == {"replaced": 5}


async def test_service_wide_watch(kernel: Kernel) -> None:
    seen: list[StateChange] = []
    watch = kernel.state.watch(None, None, "", seen.append)
    await kernel.state.scope("user", "u1").set("a", 1)
    await kernel.state.scope("session", "s1").set("b", 2)
    await kernel.state.scope("temp", "i1").set("c", 3)  # temp writes are never watched
    await kernel.events.flush()  # watches follow the event bus: delivery is asynchronous
    watch.close()
    await kernel.state.scope("user", "u1").set("a", 4)
    assert [(c.scope, c.key, c.value) for c in seen] == [
        ("user", "a", 1),
        ("session", "b", 2),
    ]


class _Plain:
    """An agent without snapshot_state/restore_state."""

    def __init__(self, name: str | None) -> None:
        self.name = name


class _Notes:
    @hookimpl
    def llmspell_agent_state_snapshot(self, agent: Any) -> dict[str, Any]:
        return {"notes": ["remember me"]}


async def test_agent_state_from_hooks_only_and_nameless_agents(make_kernel: Callable[..., Kernel]) -> None:
    async with make_kernel(plugins=[_Notes()]) as kernel:
        ctx = await kernel.context()
        await kernel.hook.agent_after(ctx=ctx, component=_Plain("plain"))
        assert await kernel.state.scope("agent", "plain").get("snapshot") == {"notes": ["remember me"]}
        await kernel.hook.agent_shutdown(agent=_Plain(None), ctx=ctx)
        await kernel.hook.agent_initialize(agent=_Plain(None), ctx=ctx)
        assert await kernel.state.scope("agent", "plain").list() == ["snapshot"]
        await kernel.hook.agent_after(ctx=None, component=_Plain("no-ctx"))
        assert await kernel.state.scope("agent", "no-ctx").list() == []


async def test_persist_agents_can_be_switched_off(make_kernel: Callable[..., Kernel]) -> None:
    async with make_kernel({"state": {"persist_agents": False}}, plugins=[_Notes()]) as kernel:
        ctx = await kernel.context()
        await kernel.hook.agent_shutdown(agent=_Plain("a"), ctx=ctx)
        assert await kernel.state.scope("agent", "a").list() == []


async def test_state_service_is_listed_with_its_plugin(kernel: Kernel) -> None:
    from llmspell.plugins.state.api import StateService

    assert kernel.services.owner(StateService) == "state"
    assert all(problems == [] for problems in (await kernel.health()).values())
    names = {str(r.name) for r in kernel.registry("state_reducer")}
    assert {"counter_add", "list_append", "set_union", "deep_merge", "max", "min"} <= names


async def test_drop_temp_checks_the_owner_even_when_no_temp_key_exists(kernel: Kernel) -> None:
    assert await kernel.state.drop_temp("inv-1") == 0
    for bad in ("", "bad\x00id", "x" * 300):
        with pytest.raises(ValidationError):
            await kernel.state.drop_temp(bad)
    await kernel.state.scope("temp", "inv-1").set("a", 1)
    await kernel.state.scope("temp", "inv-2").set("b", 2)
    assert await kernel.state.drop_temp("inv-1") == 1
    assert await kernel.state.scope("temp", "inv-2").get("b") == 2
