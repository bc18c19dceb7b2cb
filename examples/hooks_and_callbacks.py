"""Hooks and callbacks around real agent runs: modify, replace, cancel, retry, observe.

Shows a hook named in configuration (a ``.py`` file next to ``llmspell.toml``), runtime
hooks with priorities, a global callback, a per-agent callback, a plugin hook, and the
circuit breaker switching off a hook that keeps failing.

Run it with ``python examples/hooks_and_callbacks.py [DATA_DIR]`` (offline, no keys).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import textwrap
from pathlib import Path

from llmspell import Cancel, CancelledByHook, Kernel, Replace, Retry, hookimpl
from llmspell.hooks import HookCall

RULES = '''
def redact(call):
    """Configured in llmspell.toml: runs before every agent, changes the request."""
    request = call.request
    if isinstance(request.input, str) and "password" in request.input:
        call.request = type(request)(input=request.input.replace("hunter2", "[redacted]"))
'''


class Audit:
    """A plugin: sees every tool call after it ran (plugin hooks rank with priority 0)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @hookimpl
    def llmspell_tool_after(self, call: HookCall) -> None:
        self.lines.append(f"audit: tool {call.component.name} -> {call.result!r}")


def write_project(root: Path) -> Path:
    """A project folder with a rules file and a config that names it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "rules.py").write_text(textwrap.dedent(RULES))
    config = root / "llmspell.toml"
    config.write_text(
        textwrap.dedent(
            """
            data_dir = "data"

            [hook_policy]
            threshold = 3        # a hook failing 3 times in a row is switched off
            cooldown = 60.0      # ... for a minute, then tried once more

            [[hooks]]
            point = "agent_before"
            call = "rules.py:redact"
            priority = 100
            """
        )
    )
    return config


async def main(data_dir: str) -> None:
    config = write_project(Path(data_dir))
    audit = Audit()
    async with Kernel(config, plugins=[audit]) as kernel:
        helper = kernel.agents.create("chat", name="helper")
        calc = kernel.agents.create("tool", name="calc", tools=["calculator"])

        # 1. The configured hook rewrites the request before the agent sees it.
        seen: list[str] = []
        kernel.callbacks.on("agent_before", lambda call: seen.append(call.request.input))
        await kernel.run(helper, "my password is hunter2")
        print(f"the agent saw: {seen[-1]!r}")

        # 2. A guardrail cancels; the caller gets CancelledByHook naming the hook.
        def guard(call: HookCall) -> Cancel | None:
            if "delete everything" in str(call.request.input):
                return Cancel("destructive request")
            return None

        kernel.hooks.register("agent_before", guard, priority=50, name="guardrail")
        try:
            await kernel.run(helper, "please delete everything")
        except CancelledByHook as exc:
            print(f"cancelled: {exc}")

        # 3. A cache answers before the model is called: Replace skips the call.
        def canned(call: HookCall) -> Replace | None:
            last = call.request.messages[-1].content if call.request.messages else ""
            if "opening hours" in str(last):
                from llmspell.plugins.agents.api import Message, ModelResponse

                return Replace(ModelResponse(message=Message(role="assistant", content="9 to 5, Monday to Friday.")))
            return None

        kernel.hooks.register("model_before", canned, name="faq-cache")
        out = await kernel.run(helper, "What are your opening hours?")
        print(f"answered from the cache: {out.content!r}")

        # 4. A per-agent callback, and a plugin hook, both see the tool call.
        tool_calls: list[str] = []
        calc.callbacks.on("tool_before", lambda call: tool_calls.append(str(call.request)))
        out = await kernel.run(calc, "what is 12*12?")
        print(f"calc: {out.content}; its tool calls: {tool_calls}; {audit.lines[-1]}")

        # 5. Retry: an error hook asks to run a flaky agent again (bounded, with backoff).
        attempts = {"n": 0}

        def flaky_once(call: HookCall) -> Retry | None:
            attempts["n"] += 1
            return Retry("transient") if call.attempt < 2 else None

        handle = kernel.hooks.register("agent_after", flaky_once, name="retry-once")
        await kernel.run(helper, "hello again")
        handle.remove()
        print(f"agent_after ran {attempts['n']} times: the first answer was retried once")

        # 6. A hook that keeps failing is isolated, then switched off by its breaker.
        def broken(call: HookCall) -> None:
            raise RuntimeError("bug in a hook")

        kernel.hooks.register("agent_before", broken, name="broken")
        for _ in range(5):
            await kernel.run(helper, "still working?")  # every run still succeeds
        stats = {s.name: s for s in kernel.hook_stats()}["broken"]
        print(f"broken hook: {stats.calls} calls, {stats.errors} errors, breaker {stats.breaker}, "
              f"{stats.skipped} calls skipped while open")
        print(f"see the hooks and their stats: llmspell -c {config} hooks")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:  # a temporary data directory, removed at the end
        with tempfile.TemporaryDirectory(prefix="llmspell-hooks-") as tmp:
            asyncio.run(main(tmp))
        print("(the data directory was temporary and is removed: pass one to keep the data)")
