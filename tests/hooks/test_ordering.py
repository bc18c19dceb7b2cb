"""One total order across plugin hooks, runtime hooks, callbacks and agent callbacks."""

from __future__ import annotations

import asyncio

import pytest

from llmspell import hookimpl
from llmspell.errors import HookError
from llmspell.hooks import HookCall
from llmspell.plugins.hooks.api import CallbackSet


def plugin(name: str, trace: list[str], **opts) -> object:
    class Plugin:
        __name__ = name

        @hookimpl(**opts)
        def llmspell_agent_before(self, call):
            trace.append(name)

    return Plugin()


def wrapper_plugin(name: str, trace: list[str], **opts) -> object:
    class Wrapper:
        __name__ = name

        @hookimpl(wrapper=True, **opts)
        def llmspell_agent_before(self, call):
            trace.append(f"{name}>")
            result = yield
            trace.append(f"<{name}")
            return result

    return Wrapper()


# (what, name, option) in registration order -> the order they must run in.
TABLE = [
    ("plugin", "A1", {}),
    ("plugin", "A2", {}),
    ("plugin", "B", {"tryfirst": True}),
    ("plugin", "C", {"trylast": True}),
    ("wrapper", "W1", {}),
    ("wrapper", "W2", {"tryfirst": True}),
    ("runtime", "r1", 0),
    ("callback", "cb1", 0),
    ("runtime", "r2", 10),
    ("runtime", "r3", -5),
    ("runtime", "r4", 1000),
    ("runtime", "r5", 0),
    ("agent", "ag1", 0),
    ("agent", "ag2", 5000),
    ("callback", "cb2", -1000),
]
EXPECTED = [
    "W2>", "W1>",            # wrappers outermost; tryfirst wrapper outside the others
    "ag2",                   # priority 5000
    "B", "r4",               # priority 1000: plugin hooks before runtime ones
    "r2",                    # priority 10
    "A2", "A1",              # priority 0: plugins (later registered first, as pluggy)
    "r1", "cb1", "r5",       # ... then kernel hooks and callbacks in registration order
    "ag1",                   # ... then the agent's own callbacks
    "r3",                    # priority -5
    "C", "cb2",              # priority -1000: plugin (trylast) before the callback
    "<W1", "<W2",
]


async def test_total_order_table(make_kernel):
    trace: list[str] = []
    plugins = []
    for what, name, option in TABLE:
        if what == "plugin":
            plugins.append(plugin(name, trace, **option))
        elif what == "wrapper":
            plugins.append(wrapper_plugin(name, trace, **option))
    kernel = make_kernel(plugins=plugins)
    agent_callbacks = CallbackSet("agent", observe=True)

    def recorder(label):
        return lambda call: trace.append(label)

    for what, name, option in TABLE:
        if what == "runtime":
            kernel.hooks.register("agent_before", recorder(name), priority=option)
        elif what == "callback":
            kernel.callbacks.on("agent_before", recorder(name), priority=option)
        elif what == "agent":
            agent_callbacks.on("agent_before", recorder(name), priority=option)
    await kernel.hook.agent_before(extra=agent_callbacks)
    assert trace == EXPECTED
    # The order is stable: a second run gives the same sequence.
    trace.clear()
    await kernel.hook.agent_before(extra=agent_callbacks)
    assert trace == EXPECTED


async def test_sync_and_async_hooks_mixed_keep_order(make_kernel):
    trace: list[str] = []

    class AsyncPlugin:
        @hookimpl
        async def llmspell_tool_before(self, call):
            await asyncio.sleep(0.01)
            trace.append("plugin-async")
            call.request["seen"].append("plugin-async")

    kernel = make_kernel(plugins=[AsyncPlugin()])

    async def slow(call):
        await asyncio.sleep(0.02)
        trace.append("async-10")
        call.request["seen"].append("async-10")

    def fast(call):
        trace.append("sync-5")
        call.request["seen"].append("sync-5")

    def last(call):
        trace.append("sync--1")

    kernel.hooks.register("tool_before", slow, priority=10)
    kernel.hooks.register("tool_before", fast, priority=5)
    kernel.callbacks.on("tool_before", last, priority=-1)

    async def tool(call):
        return list(call.request["seen"])

    result = await kernel.hook.around("tool", HookCall("tool", request={"seen": []}), tool)
    assert trace == ["async-10", "sync-5", "plugin-async", "sync--1"]
    assert result == ["async-10", "sync-5", "plugin-async"]


async def test_handles_remove_hooks_and_callbacks(make_kernel):
    kernel = make_kernel()
    trace: list[str] = []
    handle = kernel.hooks.register("model_after", lambda call: trace.append("hook"))
    cb = kernel.callbacks.on("model_after", lambda call: trace.append("cb"))
    await kernel.hook.model_after()
    handle.remove()
    cb.remove()
    handle.remove()  # removing twice is harmless
    await kernel.hook.model_after()
    assert trace == ["hook", "cb"]
    assert not kernel.hook.model_after.active()


@pytest.mark.parametrize(
    ("point", "fn", "priority", "message"),
    [
        ("before_agnet", lambda call: None, 0, "unknown hook point 'before_agnet'"),
        ("agent_before", "not callable", 0, "is not callable"),
        ("agent_before", lambda a, b: None, 0, "must accept one argument"),
        ("agent_before", lambda call: None, "high", "priority must be an integer"),
    ],
)
def test_runtime_registration_is_validated(make_kernel, point, fn, priority, message):
    kernel = make_kernel()
    with pytest.raises(HookError, match=message):
        kernel.hooks.register(point, fn, priority=priority)


async def test_nothing_registered_means_no_call(make_kernel):
    kernel = make_kernel(disable=["hooks"])
    assert not kernel.hook.agent_before.active()
    calls = []

    async def agent(call):
        calls.append(call.request)
        return "ok"

    assert await kernel.hook.around("agent", HookCall("agent", request="r"), agent) == "ok"
    assert calls == ["r"]
