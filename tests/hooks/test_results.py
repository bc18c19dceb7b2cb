"""What a hook may answer (continue, modify, Replace, Cancel, Retry), alone and combined."""

from __future__ import annotations

import pytest

from llmspell import Cancel, CancelledByHook, Replace, Retry, hookimpl
from llmspell.errors import HookError
from llmspell.hooks import HookCall


class Flaky:
    """A component that fails ``failures`` times, then answers with its request."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self, call: HookCall):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"attempt {self.calls} failed")
        return f"answer to {call.request}"


@pytest.fixture
def kernel(make_kernel):
    return make_kernel({"hook_policy": {"backoff": 0.0}})


async def around(kernel, component, request="q"):
    call = HookCall("agent", request=request)
    result = await kernel.hook.around("agent", call, component)
    return result, call


async def test_continue_and_modify_request(kernel):
    kernel.hooks.register("agent_before", lambda call: None)

    def rewrite(call):
        call.request = call.request.upper()

    kernel.hooks.register("agent_before", rewrite)
    result, _ = await around(kernel, Flaky())
    assert result == "answer to Q"


async def test_modify_result(kernel):
    def polish(call):
        call.result = call.result + "!"

    kernel.hooks.register("agent_after", polish)
    result, _ = await around(kernel, Flaky())
    assert result == "answer to q!"


async def test_replace_before_skips_the_call_and_after_hooks_see_it(kernel):
    component = Flaky()
    seen = []
    kernel.hooks.register("agent_before", lambda call: Replace("cached"))
    kernel.callbacks.on("agent_after", lambda call: seen.append(call.result))
    result, call = await around(kernel, component)
    assert result == "cached"
    assert component.calls == 0
    assert seen == ["cached"]
    assert call.replaced


async def test_replace_after_changes_result_for_later_hooks(kernel):
    seen = []
    kernel.hooks.register("agent_after", lambda call: Replace("guarded"), priority=10)
    kernel.hooks.register("agent_after", lambda call: seen.append(call.result))
    result, _ = await around(kernel, Flaky())
    assert (result, seen) == ("guarded", ["guarded"])


@pytest.mark.parametrize("point", ["agent_before", "agent_after"])
async def test_cancel_raises_naming_the_hook(kernel, point):
    component = Flaky()
    kernel.hooks.register(point, lambda call: Cancel("not allowed here"), name="guardrail")
    with pytest.raises(CancelledByHook) as info:
        await around(kernel, component)
    assert info.value.hook == "guardrail"
    assert str(info.value) == f"hook 'guardrail' cancelled {point}: not allowed here"
    assert component.calls == (0 if point == "agent_before" else 1)


async def test_cancel_stops_later_hooks(kernel):
    later = []
    kernel.hooks.register("agent_before", lambda call: Cancel("stop"), priority=5)
    kernel.hooks.register("agent_before", lambda call: later.append(1))
    with pytest.raises(CancelledByHook):
        await around(kernel, Flaky())
    assert later == []


async def test_retry_on_error_until_success(kernel):
    component = Flaky(failures=2)
    attempts = []

    def retry(call):
        attempts.append(call.attempt)
        return Retry("transient")

    kernel.hooks.register("agent_error", retry)
    result, call = await around(kernel, component)
    assert result == "answer to q"
    assert attempts == [1, 2]
    assert call.attempt == 3


async def test_retry_is_bounded(make_kernel):
    kernel = make_kernel({"hook_policy": {"backoff": 0.0, "max_retries": 2}})
    component = Flaky(failures=100)
    kernel.hooks.register("agent_error", lambda call: Retry())
    with pytest.raises(ConnectionError, match="attempt 3 failed"):
        await around(kernel, component)
    assert component.calls == 3  # the first try and two retries


async def test_retry_after_a_result_is_bounded_and_keeps_the_last(make_kernel):
    kernel = make_kernel({"hook_policy": {"backoff": 0.0, "max_retries": 1}})
    component = Flaky()
    kernel.hooks.register("agent_after", lambda call: Retry("not good enough"))
    result, _ = await around(kernel, component)
    assert component.calls == 2
    assert result == "answer to q"


async def test_retry_waits_with_backoff(make_kernel, monkeypatch):
    delays = []

    async def fake_sleep(seconds):
        delays.append(seconds)

    monkeypatch.setattr("asyncio.sleep", fake_sleep)
    kernel = make_kernel({"hook_policy": {"backoff": 0.1, "backoff_max": 0.3, "max_retries": 3}})
    kernel.hooks.register("agent_error", lambda call: Retry())
    with pytest.raises(ConnectionError):
        await around(kernel, Flaky(failures=100))
    assert delays == [0.1, 0.2, 0.3]
    delays.clear()
    kernel.hooks.register("agent_error", lambda call: Retry(delay=0.0), priority=10)
    with pytest.raises(ConnectionError):
        await around(kernel, Flaky(failures=100))
    assert delays == []  # the first Retry (priority 10) chose no delay


async def test_error_replace_recovers(kernel):
    kernel.hooks.register("agent_error", lambda call: Replace(f"fallback after {type(call.error).__name__}"))
    result, call = await around(kernel, Flaky(failures=1))
    assert result == "fallback after ConnectionError"
    assert call.error is None


async def test_error_without_answer_propagates(kernel):
    seen = []
    kernel.callbacks.on("agent_error", lambda call: seen.append(str(call.error)))
    with pytest.raises(ConnectionError):
        await around(kernel, Flaky(failures=1))
    assert seen == ["attempt 1 failed"]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([Replace("a"), Cancel("no")], "cancel"),
        ([Cancel("no"), Replace("a")], "cancel"),
        ([Replace("a"), Retry()], "retry"),
        ([Retry(), Replace("a")], "retry"),
        ([Replace("a"), Replace("b")], "b"),
        ([None, Replace("a"), None], "a"),
    ],
)
async def test_combination_rules_in_after(make_kernel, answers, expected):
    kernel = make_kernel({"hook_policy": {"backoff": 0.0, "max_retries": 1}})
    component = Flaky()
    for i, answer in enumerate(answers):
        kernel.hooks.register("agent_after", lambda call, a=answer: a, priority=-i)
    if expected == "cancel":
        with pytest.raises(CancelledByHook):
            await around(kernel, component)
        return
    result, _ = await around(kernel, component)
    if expected == "retry":
        assert component.calls == 2
    else:
        assert result == expected


async def test_callbacks_only_observe(kernel):
    component = Flaky()
    kernel.callbacks.on("agent_before", lambda call: Cancel("ignored"))
    kernel.callbacks.on("agent_before", lambda call: Replace("ignored"))
    result, _ = await around(kernel, component)
    assert result == "answer to q"


async def test_raising_hook_is_isolated_and_counted(kernel):
    def broken(call):
        raise ValueError("bug in hook")

    kernel.hooks.register("agent_before", broken, name="broken")
    result, _ = await around(kernel, Flaky())
    assert result == "answer to q"
    stats = {s.name: s for s in kernel.hook_stats()}["broken"]
    assert (stats.calls, stats.errors, stats.last_error) == (1, 1, "ValueError: bug in hook")


async def test_strict_policy_makes_hook_errors_fatal(make_kernel):
    kernel = make_kernel({"hook_policy": {"strict": True}})
    kernel.hooks.register("agent_before", lambda call: 1 / 0, name="divider")
    with pytest.raises(HookError, match="hook 'divider' at 'agent_before' raised ZeroDivisionError"):
        await around(kernel, Flaky())


async def test_plugin_wrapper_can_swallow_an_error_and_replace(make_kernel):
    class Wrapper:
        @hookimpl(wrapper=True)
        def llmspell_agent_before(self, call):
            try:
                yield
            except HookError:
                return Replace("wrapped fallback")
            return None

    class Raising:
        @hookimpl
        def llmspell_agent_before(self, call):
            raise ValueError("boom")

    # strict: the raising hook becomes a HookError; the wrapper around it turns that into
    # a replacement result, so the component never runs.
    kernel = make_kernel({"hook_policy": {"strict": True}}, plugins=[Raising(), Wrapper()])
    component = Flaky()
    result, _ = await around(kernel, component)
    assert (result, component.calls) == ("wrapped fallback", 0)

    class RaisesCancel:
        @hookimpl
        def llmspell_agent_before(self, call):
            return Cancel("inner says no")

    kernel = make_kernel(plugins=[RaisesCancel(), Wrapper()])
    with pytest.raises(CancelledByHook, match="inner says no"):
        await around(kernel, Flaky())


async def test_plugin_hook_gets_named_arguments(make_kernel):
    seen = {}

    class Observer:
        @hookimpl
        def llmspell_session_transition(self, session, old, new):
            seen.update(session=session, old=old, new=new)

    kernel = make_kernel(plugins=[Observer()])
    call = await kernel.hook.session_transition(session="S", old="active", new="suspended")
    assert seen == {"session": "S", "old": "active", "new": "suspended"}
    assert call.args["new"] == "suspended"


async def test_an_old_style_hookwrapper_wraps_the_point_like_a_wrapper(make_kernel):
    """pluggy's ``hookwrapper=True`` form runs around the point's hooks, and what it yields back is the outcome."""
    trace: list[str] = []

    class OldWrapper:
        @hookimpl(hookwrapper=True)
        def llmspell_agent_before(self, call):
            trace.append("before")
            outcome = yield
            trace.append(f"after {outcome!r}")

    class Inner:
        @hookimpl
        def llmspell_agent_before(self, call):
            trace.append("inner")
            return Replace("from inner")

    kernel = make_kernel(plugins=[Inner(), OldWrapper()])
    component = Flaky()
    result, _ = await around(kernel, component)
    assert (result, component.calls) == ("from inner", 0)
    assert trace == ["before", "inner", "after Replace(value='from inner')"]
