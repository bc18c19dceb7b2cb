"""Dispatcher observers, and what LLMSPELL_DEBUG=1 prints."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from llmspell import Cancel, HookCall, Replace
from llmspell.errors import CancelledByHook
from llmspell.plugins.hooks.api import DebugObserver, HookRun, Observer


class Recorder(Observer):
    points = frozenset({"agent_handoff"})

    def __init__(self) -> None:
        self.log: list[tuple[str, ...]] = []
        self.runs: list[HookRun] = []

    def around(self, kind, call):
        @contextmanager
        def span():
            self.log.append(("start", kind, getattr(call.component, "name", "?")))
            try:
                yield
            except BaseException as exc:
                self.log.append(("failed", kind, type(exc).__name__))
                raise
            self.log.append(("end", kind, repr(getattr(call.result, "content", call.result))))

        return span()

    def point(self, point, call, functions):
        self.log.append(("point", point, str(functions)))

    def hook(self, run, call):
        self.runs.append(run)


async def test_an_observer_sees_units_of_work_points_and_hook_outcomes(make_kernel):
    async with make_kernel() as kernel:
        recorder = Recorder()
        stop = kernel.dispatcher.add_observer(recorder)
        assert kernel.hook.agent_handoff.active()  # named by the observer: seen even with nothing attached
        kernel.hooks.register("agent_before", lambda call: None, name="look")

        def watch(call):
            time.sleep(0.01)  # a measurable 10 ms
            return Replace("ignored: callbacks only observe")

        kernel.callbacks.on("agent_after", watch, name="watch")
        agent = kernel.agents.create("chat", name="helper")
        await kernel.run(agent, "hello")
        kinds = [entry[:2] for entry in recorder.log if entry[0] in ("start", "end")]
        assert kinds == [("start", "run"), ("start", "agent"), ("start", "model"), ("end", "model"),
                         ("end", "agent"), ("end", "run")]
        assert ("point", "agent_before", "1") in recorder.log
        seen = {(r.point, r.name): r for r in recorder.runs}
        assert seen[("agent_before", "look")].outcome == "continue"
        assert seen[("agent_before", "look")].origin == "runtime"
        assert seen[("agent_after", "watch")].outcome == "continue"
        assert seen[("agent_after", "watch")].elapsed >= 0.01

        recorder.runs.clear()
        kernel.hooks.register("agent_before", lambda call: Cancel("closed"), name="gate", priority=-1)
        with pytest.raises(CancelledByHook):
            await kernel.run(agent, "hello")
        assert [r.outcome for r in recorder.runs if r.point == "agent_before"] == ["continue", "cancel"]
        assert recorder.log[-1] == ("failed", "run", "CancelledByHook")

        stop()
        assert kernel.dispatcher.observers == ()
        assert not kernel.hook.agent_handoff.active()


async def test_without_observers_observe_is_a_shared_no_op(make_kernel):
    async with make_kernel() as kernel:
        first = kernel.dispatcher.observe("run", HookCall("run"))
        assert first is kernel.dispatcher.observe("run", HookCall("run"))
        with first:
            pass


async def test_debug_observer_indents_nested_work(make_kernel):
    lines: list[str] = []
    async with make_kernel() as kernel:
        kernel.dispatcher.add_observer(DebugObserver(write=lines.append))
        kernel.hooks.register("model_before", lambda call: None, name="peek")
        await kernel.run(kernel.agents.create("chat", name="helper"), "hello")
    text = "".join(lines)
    assert "[llmspell] > run helper\n" in text
    assert "[llmspell]   > agent helper\n" in text
    assert "[llmspell]     > model offline\n" in text
    assert "[llmspell]       point model_before: 1 function(s)\n" in text
    assert "peek (runtime, priority 0): continue in" in text
    assert "[llmspell] < run helper ok (" in text


def test_llmspell_debug_prints_plugin_loading_lifecycle_hooks_and_dispatch(tmp_path: Path) -> None:
    env = {**os.environ, "LLMSPELL_DEBUG": "1", "LLMSPELL_DATA_DIR": str(tmp_path / "data")}
    env.pop("LLMSPELL_CONFIG", None)
    out = subprocess.run(
        [sys.executable, "-c", "from llmspell.plugins.cli import main; main()", "run", "chat", "hello"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "You said: hello" in out.stdout
    err = out.stderr
    assert "[llmspell] loaded plugin events from llmspell.plugins.events (default)" in err
    assert "[llmspell] call llmspell_register_config: events, state" in err
    assert "[llmspell] call llmspell_register_commands:" in err
    assert "[llmspell] llmspell_startup: events (" in err
    assert "[llmspell] > run chat" in err
    assert "[llmspell]   > agent chat" in err
    assert "point agent_after: 1 function(s)" in err
    assert "state (plugin, priority -1000): continue in" in err
    assert "[llmspell] llmspell_shutdown: events (" in err
    # pluggy's own trace: every hook, lifecycle and hook point alike, is a pluggy call
    for hook in ("llmspell_register_config", "llmspell_startup", "llmspell_agent_after", "llmspell_shutdown"):
        assert f"{hook} [hook]" in err, hook
    # without the variable, none of it
    quiet = subprocess.run(
        [sys.executable, "-c", "from llmspell.plugins.cli import main; main()", "run", "chat", "hello"],
        capture_output=True, text=True, env={**env, "LLMSPELL_DEBUG": "0"}, cwd=tmp_path, timeout=120,
    )
    assert "[llmspell]" not in quiet.stderr
