"""The two ways a hook point runs: from the cached steps, or through the pluggy call.

With no hook-call monitoring or tracing installed and no wrapper at a point, the kernel
runs the steps pluggy would hand back without calling pluggy; otherwise it calls pluggy.
Both give the same order and the same results, and whatever watches pluggy sees every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from llmspell import Cancel, CancelledByHook, HookCall, Kernel, Replace, hookimpl
from llmspell.hooks import POINTS
from llmspell.plugins.hooks.api import CallbackSet


def plugin(name: str, trace: list[str], answer: Any = None, **opts: Any) -> object:
    class Plugin:
        __name__ = name

        @hookimpl(**opts)
        def llmspell_agent_before(self, call: HookCall) -> Any:
            trace.append(name)
            return answer

    return Plugin()


class Named:
    """A hook taking the point's named arguments, as pluggy passes them."""

    __name__ = "named"

    def __init__(self, trace: list[str]) -> None:
        self.trace = trace

    @hookimpl
    def llmspell_session_transition(self, call: HookCall, session: Any, old: Any, new: Any) -> None:
        self.trace.append(f"named {session}: {old}->{new}")


def build(make_kernel: Callable[..., Kernel], trace: list[str], **options: Any) -> Kernel:
    plugins = [
        plugin("a", trace), plugin("b", trace), plugin("first", trace, tryfirst=True),
        plugin("last", trace, Replace("from last"), trylast=True), Named(trace),
    ]
    kernel = make_kernel(plugins=plugins, **options)
    kernel.hooks.register("agent_before", lambda call: trace.append("runtime 5"), priority=5)
    kernel.callbacks.on("agent_before", lambda call: trace.append("callback"))
    return kernel


def watch(kernel: Kernel) -> tuple[list[str], Callable[[], None]]:
    seen: list[str] = []
    undo = kernel.pm.add_hookcall_monitoring(lambda name, impls, kwargs: seen.append(name), lambda *a: None)
    return seen, undo


def count_pluggy_calls(kernel: Kernel, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the hook points called through pluggy (its hook callers' executor)."""
    calls: list[str] = []
    for point in POINTS:
        caller = getattr(kernel.pm.hook, f"llmspell_{point}")

        def counting(name: str, *args: Any, original: Any = caller._hookexec) -> Any:
            calls.append(name)
            return original(name, *args)

        monkeypatch.setattr(caller, "_hookexec", counting)
    return calls


EXPECTED = ["first", "runtime 5", "b", "a", "callback", "agent 1", "last"]


async def test_both_paths_give_the_same_order_and_results(make_kernel, monkeypatch) -> None:
    results = []
    for monitored in (False, True):
        trace: list[str] = []
        kernel = build(make_kernel, trace)
        pluggy_calls = count_pluggy_calls(kernel, monkeypatch)
        agent = CallbackSet("agent", observe=True)
        agent.on("agent_before", lambda call, trace=trace: trace.append("agent 1"))
        seen, undo = watch(kernel) if monitored else ([], lambda: None)
        call = await kernel.hook.agent_before(request="r", extra=agent)
        await kernel.hook.session_transition(session="s", old="a", new="b")
        undo()
        results.append((trace, call.result, call.replaced, type(call.outcome)))
        if monitored:
            assert seen == ["llmspell_agent_before", "llmspell_session_transition"]
            assert pluggy_calls == seen
        else:  # the cached steps: pluggy is not called (the named-argument hook still is)
            assert pluggy_calls == ["llmspell_session_transition"]
    assert results[0] == results[1]
    assert results[0] == ([*EXPECTED, "named s: a->b"], "from last", True, Replace)


async def test_monitoring_added_and_removed_between_calls_is_noticed(make_kernel) -> None:
    trace: list[str] = []
    kernel = build(make_kernel, trace)
    await kernel.hook.agent_before()  # the steps are cached now
    seen, undo = watch(kernel)
    await kernel.hook.agent_before()
    await kernel.hook.agent_before(HookCall("agent_before"))
    assert seen == ["llmspell_agent_before", "llmspell_agent_before"]
    undo()
    await kernel.hook.agent_before()
    assert len(seen) == 2
    tracing = kernel.pm.enable_tracing()  # LLMSPELL_DEBUG's way: a pluggy call again
    written: list[str] = []
    kernel.pm.trace.root.setwriter(written.append)
    await kernel.hook.agent_before()
    tracing()
    assert any("llmspell_agent_before [hook]" in line for line in written)
    assert trace == [e for e in EXPECTED if e != "agent 1"] * 5


async def test_a_plugin_added_or_removed_at_run_time_changes_the_cached_steps(make_kernel) -> None:
    trace: list[str] = []
    kernel = build(make_kernel, trace)
    await kernel.hook.agent_before()
    trace.clear()
    kernel.add_plugin(plugin("late", trace, tryfirst=True), name="late")
    await kernel.hook.agent_before()
    assert trace[0] == "late"
    trace.clear()
    kernel.pm.unregister(name="late")
    kernel.pm.unregister(name="last")
    call = await kernel.hook.agent_before()
    assert "late" not in trace and "last" not in trace and call.result is None


async def test_a_cancel_stops_both_paths_at_once(make_kernel) -> None:
    for monitored in (False, True):
        trace: list[str] = []
        kernel = make_kernel(plugins=[plugin("gate", trace, Cancel("closed"), tryfirst=True), plugin("a", trace)])
        _, undo = watch(kernel) if monitored else ([], lambda: None)
        with pytest.raises(CancelledByHook, match="closed"):
            await kernel.hook.agent_before()
        undo()
        assert trace == ["gate"]


async def test_a_wrapper_sends_the_point_through_pluggy(make_kernel, monkeypatch) -> None:
    trace: list[str] = []

    class Wrapper:
        __name__ = "wrapper"

        @hookimpl(wrapper=True)
        def llmspell_agent_before(self, call):
            trace.append(">")
            result = yield
            trace.append("<")
            return result

    kernel = make_kernel(plugins=[plugin("a", trace), Wrapper()])
    pluggy_calls = count_pluggy_calls(kernel, monkeypatch)
    await kernel.hook.agent_before()
    assert trace == [">", "a", "<"] and pluggy_calls == ["llmspell_agent_before"]


async def test_statistics_count_plugin_hooks_on_both_paths(make_kernel) -> None:
    trace: list[str] = []
    kernel = build(make_kernel, trace)
    await kernel.hook.agent_before()
    _, undo = watch(kernel)
    await kernel.hook.agent_before()
    undo()
    stats = {s.name: s for s in kernel.hook_stats() if s.point == "agent_before"}
    assert stats["a"].calls == stats["first"].calls == 2
    assert stats["first"].priority == 1000 and stats["last"].priority == -1000
