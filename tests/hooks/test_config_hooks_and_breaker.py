"""Hooks named in llmspell.toml, and the circuit breaker that switches off a bad hook."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from llmspell import ConfigError, Kernel
from llmspell.hooks import HookCall

RULES = textwrap.dedent(
    """
    from llmspell import Replace

    def redact(call):
        call.request = call.request.replace("secret", "[redacted]")

    def canned(call):
        if call.request == "status":
            return Replace("all good")

    def two_args(call, other):
        pass

    not_a_function = 3
    """
)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "rules.py").write_text(RULES)
    return tmp_path


def write_config(project, body: str):
    path = project / "llmspell.toml"
    path.write_text(textwrap.dedent(body))
    return path


async def echo(call: HookCall) -> str:
    return f"echo {call.request}"


async def test_hooks_from_a_py_file_next_to_the_config(project, llmspell_env):
    path = write_config(
        project,
        """
        [[hooks]]
        point = "agent_before"
        call = "rules.py:redact"
        priority = 10

        [[hooks]]
        point = "agent_before"
        call = "rules.py:canned"
        """,
    )
    kernel = Kernel(path, env=llmspell_env, data_dir=project / "data")
    names = [e.name for e in kernel.dispatcher.entries("agent_before")]
    assert names == ["rules.py:redact", "rules.py:canned"]
    run = kernel.hook.around
    assert await run("agent", HookCall("agent", request="my secret"), echo) == "echo my [redacted]"
    assert await run("agent", HookCall("agent", request="status"), echo) == "all good"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("missing.py:redact", "hooks[0].call: no such file"),
        ("rules.py:nothing", "hooks[0].call: 'rules.py' has no attribute 'nothing'"),
        ("rules.py:two_args", "hooks[0].call: hook rules.py:two_args for 'agent_before' must accept one argument"),
        ("rules.py:not_a_function", "hooks[0].call: 'rules.py:not_a_function' is not callable"),
        ("no_such_module_abc:fn", "hooks[0].call: cannot import 'no_such_module_abc': ModuleNotFoundError"),
        ("just-a-name", "hooks[0].call: 'just-a-name' is not 'module:function'"),
    ],
)
def test_bad_hook_targets_fail_with_their_path(project, llmspell_env, call, message):
    path = write_config(project, f'[[hooks]]\npoint = "agent_before"\ncall = "{call}"\n')
    with pytest.raises(ConfigError) as info:
        Kernel(path, env=llmspell_env, data_dir=project / "data")
    assert message in "\n".join(info.value.problems)


def test_unknown_point_lists_the_points(project, llmspell_env):
    path = write_config(project, '[[hooks]]\npoint = "before_agnet"\ncall = "rules.py:redact"\n')
    with pytest.raises(ConfigError, match=r"hooks\[0\].point: unknown hook point 'before_agnet' \(allowed: .*agent_before"):
        Kernel(path, env=llmspell_env, data_dir=project / "data")


def test_hook_entry_fields_are_validated(project, llmspell_env):
    path = write_config(project, '[[hooks]]\npoint = "agent_before"\ncall = "rules.py:redact"\npriority = "high"\n')
    with pytest.raises(ConfigError, match=r"hooks\[0\]\.priority: expected an integer, got str 'high'"):
        Kernel(path, env=llmspell_env, data_dir=project / "data")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_breaker_opens_after_threshold_and_closes_after_cooldown(make_kernel):
    kernel = make_kernel({"hook_policy": {"threshold": 3, "cooldown": 60}})
    clock = FakeClock()
    kernel.dispatcher.breakers.clock = clock
    transitions = []
    original = kernel.dispatcher.breakers.on_breaker

    def watch(stats, state):
        transitions.append(state)
        original(stats, state)

    kernel.dispatcher.breakers.on_breaker = watch
    healthy = {"ok": False}

    def sometimes(call):
        if not healthy["ok"]:
            raise RuntimeError("flaky dependency")

    kernel.hooks.register("agent_before", sometimes, name="flaky")
    stats = next(s for s in kernel.hook_stats() if s.name == "flaky")
    for _ in range(5):  # every call still succeeds
        assert await kernel.hook.around("agent", HookCall("agent", request="x"), echo) == "echo x"
    assert (stats.calls, stats.errors, stats.skipped, stats.breaker) == (3, 3, 2, "open")
    assert transitions == ["open"]

    clock.now += 30  # still cooling down
    await kernel.hook.around("agent", HookCall("agent", request="x"), echo)
    assert stats.skipped == 3

    clock.now += 31  # past the cool-down: one trial call; it fails: open again
    await kernel.hook.around("agent", HookCall("agent", request="x"), echo)
    assert stats.breaker == "open" and stats.calls == 4
    assert transitions == ["open", "half-open", "open"]

    clock.now += 61
    healthy["ok"] = True  # the trial call succeeds: closed
    await kernel.hook.around("agent", HookCall("agent", request="x"), echo)
    assert stats.breaker == "closed" and stats.consecutive_failures == 0
    assert transitions == ["open", "half-open", "open", "half-open", "closed"]


async def test_slow_hook_counts_against_its_budget(make_kernel):
    kernel = make_kernel({"hook_policy": {"threshold": 2, "budget": 0.0}})
    kernel.hooks.register("tool_after", lambda call: None, name="slowpoke")
    for _ in range(3):
        await kernel.hook.around("tool", HookCall("tool", request={}), echo)
    stats = next(s for s in kernel.hook_stats() if s.name == "slowpoke")
    assert stats.slow == 2 and stats.breaker == "open" and stats.skipped == 1


def test_llmspell_hooks_command_lists_hooks_and_last_stats(project, llmspell_env):
    path = write_config(project, '[[hooks]]\npoint = "agent_before"\ncall = "rules.py:redact"\n')
    script = textwrap.dedent(
        f"""
        import asyncio
        from llmspell import Kernel
        from llmspell.hooks import HookCall

        async def main():
            async with Kernel({str(path)!r}, data_dir={str(project / "data")!r}) as k:
                async def echo(call):
                    return call.request
                for _ in range(3):
                    await k.hook.around("agent", HookCall("agent", request="secret"), echo)
        asyncio.run(main())
        """
    )
    env = {**llmspell_env, "LLMSPELL_CONFIG": str(path)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=project)
    out = subprocess.run(
        [sys.executable, "-m", "llmspell.plugins.cli", "--data-dir", str(project / "data"), "hooks", "--json"],
        check=True, env=env, cwd=project, capture_output=True, text=True,
    ).stdout
    rows = [row for row in json.loads(out)["hooks"] if row["origin"] != "plugin"]
    assert rows == [
        {
            "point": "agent_before", "name": "rules.py:redact", "origin": "runtime", "priority": 0,
            "wrapper": False, "calls": 3, "errors": 0, "slow": 0, "skipped": 0,
            "total_time": rows[0]["total_time"], "breaker": "closed", "last_error": None,
        }
    ]


def test_llmspell_hooks_lists_runtime_hooks_a_plugin_registers_at_startup(project, llmspell_env):
    (project / "auditing.py").write_text(textwrap.dedent(
        """
        from llmspell import hookimpl

        def audit(call):
            return None

        @hookimpl
        def llmspell_startup(kernel):
            kernel.hooks.register("tool_after", audit, priority=5, name="audit-tools")
        """
    ))
    path = write_config(project, '[plugins]\nload = ["auditing.py"]\n')
    env = {**llmspell_env, "LLMSPELL_CONFIG": str(path)}
    out = subprocess.run(
        [sys.executable, "-m", "llmspell.plugins.cli", "--data-dir", str(project / "data"), "hooks", "--json"],
        check=True, env=env, cwd=project, capture_output=True, text=True,
    ).stdout
    rows = [(row["point"], row["name"], row["origin"], row["priority"]) for row in json.loads(out)["hooks"]]
    assert ("tool_after", "audit-tools", "runtime", 5) in rows
