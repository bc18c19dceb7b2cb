"""With the hooks plugin blocked the kernel still runs plugin hooks, with its smallest rules."""

from __future__ import annotations

import logging

import pytest

from llmspell import Cancel, CancelledByHook, HookCall, Replace, Retry, hookimpl
from llmspell.errors import ServiceNotAvailable


class Rules:
    __name__ = "rules"

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl(tryfirst=True)
    def llmspell_agent_before(self, call: HookCall) -> None:
        raise RuntimeError("broken rule")

    @hookimpl
    def llmspell_tool_before(self, call: HookCall) -> object:
        return Replace("cached") if call.request == "cached" else None

    @hookimpl
    def llmspell_tool_after(self, call: HookCall) -> object:
        self.seen.append(f"after {call.result}")
        return Retry("ignored without the hooks plugin")

    @hookimpl
    def llmspell_model_before(self, call: HookCall) -> object:
        return Cancel("no models today")

    @hookimpl
    def llmspell_agent_state_snapshot(self, call: HookCall) -> dict[str, int]:
        return {"rules": 1}


@pytest.fixture
def kernel(make_kernel):
    return make_kernel(plugins=[Rules()], disable=["hooks"])


async def test_a_raising_plugin_hook_is_logged_and_skipped(kernel, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="llmspell.hooks"):
        call = await kernel.hook.agent_before(request="r")
    assert call.request == "r" and call.outcome is None
    assert "hook rules at agent_before raised RuntimeError: broken rule" in caplog.text


async def test_results_replace_cancel_and_merge(kernel) -> None:
    rules = kernel.pm.get_plugin("rules")
    calls = []

    async def tool(call: HookCall) -> str:
        calls.append(call.request)
        return f"ran {call.request}"

    assert await kernel.hook.around("tool", HookCall("tool", request="cached"), tool) == "cached"
    assert await kernel.hook.around("tool", HookCall("tool", request="x"), tool) == "ran x"
    assert calls == ["x"]  # a Replace before skipped the first call; the Retry after is not followed
    assert rules.seen == ["after cached", "after ran x"]
    with pytest.raises(CancelledByHook, match="no models today"):
        await kernel.hook.around("model", HookCall("model"), tool)
    snapshot = await kernel.hook.agent_state_snapshot(HookCall("agent_state_snapshot", result={"own": 0}))
    assert snapshot.result == {"own": 0, "rules": 1}


async def test_runtime_hooks_and_observers_need_the_plugin(kernel) -> None:
    with pytest.raises(ServiceNotAvailable, match="hooks"):
        kernel.hooks  # noqa: B018
    with pytest.raises(ServiceNotAvailable, match="hooks"):
        kernel.callbacks  # noqa: B018
    assert kernel.hook_stats() == []
    assert kernel.hook.loop.extension is None


async def test_an_agent_turn_runs_without_the_plugin(make_kernel) -> None:
    async with make_kernel(disable=["hooks"]) as kernel:
        output = await kernel.run(kernel.agents.create("chat", name="c"), "hello")
    assert "hello" in output.content
