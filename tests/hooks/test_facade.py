"""One hook call path: ``kernel.hook``, through pluggy, for every hook."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from llmspell import HookCall, Kernel, hookimpl, hookspecs
from llmspell.hooks import POINTS, RENAMED, Caller, Hooks, Point


def test_the_facade_lists_every_spec_once_with_its_kind() -> None:
    specs = {
        name.removeprefix("llmspell_"): "Point" if "call" in inspect.signature(fn).parameters else "Caller"
        for name, fn in vars(hookspecs).items() if name.startswith("llmspell_")
    }
    declared = {name: kind for name, kind in Hooks.__annotations__.items() if name != "around"}
    assert declared == specs
    assert set(POINTS) == {name for name, kind in specs.items() if kind == "Point"}


def test_every_hook_is_an_attribute_of_kernel_hook(make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel()
    for name in set(Hooks.__annotations__) - {"around"}:
        assert isinstance(getattr(kernel.hook, name), Point if name in POINTS else Caller)
    with pytest.raises(AttributeError, match="no hook 'agent_bfore'; hooks: "):
        kernel.hook.agent_bfore  # noqa: B018


class _Noted:
    __name__ = "noted"

    def __init__(self) -> None:
        self.kernels: list[Any] = []

    @hookimpl
    def llmspell_agent_before(self, call: HookCall) -> None:
        self.kernels.append(call.kernel)


async def test_monitoring_sees_registration_startup_runtime_and_shutdown_calls(
    make_kernel: Callable[..., Kernel],
) -> None:
    seen: list[str] = []
    noted = _Noted()
    kernel = make_kernel()
    undo = kernel.pm.add_hookcall_monitoring(lambda name, impls, kwargs: seen.append(name), lambda *a: None)
    kernel.add_plugin(noted)  # a plugin added at run time: its registrations are collected, watched
    async with kernel:
        await kernel.hook.agent_before()
    undo()
    assert "llmspell_register_state_backends" in seen and "llmspell_register_tools" in seen
    assert seen.index("llmspell_register_services") < seen.index("llmspell_startup")
    assert seen.index("llmspell_startup") < seen.index("llmspell_agent_before") < seen.index("llmspell_shutdown")
    assert "llmspell_context_enrich" not in seen  # nothing asked for a context
    assert noted.kernels == [kernel]  # call.kernel: a hook reaches its kernel


async def test_the_recorder_sees_the_whole_life_of_a_kernel(make_kernel: Callable[..., Kernel]) -> None:
    from llmspell.contrib.testing import HookRecorder

    kernel = make_kernel()
    with HookRecorder(kernel) as recorder:
        async with kernel:
            await kernel.run(kernel.agents.create("chat", name="c"), "hi")
    names = recorder.names()
    for hook in ("llmspell_register_services", "llmspell_startup",
                 "llmspell_agent_before", "llmspell_model_after", "llmspell_state_written", "llmspell_shutdown"):
        assert hook in names, hook
    assert names.index("llmspell_startup") < names.index("llmspell_agent_before") < names.index("llmspell_shutdown")


class _OldNames:
    __name__ = "old-names"

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def llmspell_before_agent(self, call: HookCall) -> None:
        self.calls.append(call.point)


async def test_old_point_names_work_for_one_release_with_a_warning(make_kernel: Callable[..., Kernel]) -> None:
    old = _OldNames()
    with pytest.warns(DeprecationWarning, match="hook point 'before_agent' is now called 'agent_before'"):
        kernel = make_kernel(plugins=[old])
    seen: list[str] = []
    with pytest.warns(DeprecationWarning, match="'handoff' is now called 'agent_handoff'"):
        kernel.hooks.register("handoff", lambda call: seen.append(call.point))
    with pytest.warns(DeprecationWarning, match="'state_write' is now called 'state_written'"):
        point = kernel.hook.state_write
    assert point is kernel.hook.state_written
    await kernel.hook.agent_before()
    await kernel.hook.agent_handoff()
    with pytest.warns(DeprecationWarning, match=r"kernel.dispatch\(point, ...\) is deprecated"):
        await kernel.dispatch("agent_handoff")
    assert old.calls == ["agent_before"]
    assert seen == ["agent_handoff", "agent_handoff"]
    assert set(RENAMED.values()) <= set(POINTS)


async def test_a_point_builds_its_call_and_returns_it_changed(make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel()

    def upper(call: HookCall) -> None:
        call.request = call.request.upper()

    kernel.hooks.register("agent_handoff", upper)
    call = await kernel.hook.agent_handoff(request="pass on", source="a", target="b")
    assert (call.point, call.request, call.args, call.kernel) == ("agent_handoff", "PASS ON", {"source": "a", "target": "b"}, kernel)
    # nothing attached: the call comes back as it went in, no hook ran
    idle = await kernel.hook.tool_after(request="r")
    assert (idle.request, idle.result, idle.kernel) == ("r", None, None)
    assert not kernel.hook.tool_after and kernel.hook.agent_handoff


class _Configured:
    """A plugin with a config section whose hook reads it through ``call.kernel``."""

    __name__ = "configured"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def llmspell_register_config(self, register: Any) -> None:
        register("configured", dict[str, str], "a mapping is enough here")

    @hookimpl
    def llmspell_agent_before(self, call: HookCall) -> None:
        self.seen.append(("plugin", call.kernel.config.section("configured")["word"]))


@pytest.mark.parametrize("disable", [(), ("hooks",)], ids=["with the hooks plugin", "kernel alone"])
async def test_every_kind_of_hook_reaches_its_kernel_and_its_plugins_config(
    make_kernel: Callable[..., Kernel], disable: tuple[str, ...],
) -> None:
    plugin = _Configured()
    kernel = make_kernel({"configured": {"word": "tangerine"}}, plugins=[plugin], disable=disable)
    seen = plugin.seen
    if not disable:  # runtime hooks and callbacks come with the hooks plugin
        kernel.hooks.register("agent_before", lambda call: seen.append(("runtime", call.kernel.config.section("configured")["word"])))
        kernel.callbacks.on("agent_before", lambda call: seen.append(("callback", call.kernel.config.section("configured")["word"])))
    async with kernel:
        agent = kernel.agents.create("chat", name="c")
        if not disable:
            agent.callbacks.on("agent_before", lambda call: seen.append(("agent", call.kernel.config.section("configured")["word"])))
        await kernel.run(agent, "hi")
    expected = ["plugin"] if disable else ["plugin", "runtime", "callback", "agent"]
    assert seen == [(origin, "tangerine") for origin in expected]
