"""MCP: a real MCP server over stdio gives llmspell agents its tools; llmspell serves over MCP."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters  # noqa: E402

from llmspell.contrib.mcp.client import McpServerError  # noqa: E402
from llmspell.errors import ConfigError, PluginError  # noqa: E402
from llmspell.plugins.agents.api import ToolCall  # noqa: E402

SERVER = Path(__file__).parent / "_server.py"


def config(tmp_path: Path, **server: Any) -> dict[str, Any]:
    options = {"command": sys.executable, "args": [str(SERVER)], "env": {"MCP_PID_FILE": str(tmp_path / "pid")}}
    options.update(server)
    return {"mcp": {"servers": {"arith": options}}}


async def test_an_agent_calls_an_mcp_tool_through_the_tool_hooks(make_kernel: Any, tmp_path: Path) -> None:
    async with make_kernel(config(tmp_path)) as kernel:
        tools = {t.name: t for t in kernel.stash[__import__("llmspell.contrib.mcp", fromlist=["POOL"]).POOL].tools}
        assert sorted(tools) == ["arith_add", "arith_slow"]
        assert tools["arith_add"].parameters["required"] == ["a", "b"]
        assert tools["arith_add"].description == "Add two integers."

        seen: list[tuple[str, Any]] = []
        kernel.hooks.register("tool_before", lambda call: seen.append(("before", call.component.name, call.request)))
        kernel.hooks.register("tool_after", lambda call: seen.append(("after", call.component.name, call.result)))
        kernel.agents.provider().script(ToolCall("arith_add", {"a": 2, "b": 40}), "The sum is 42.")
        agent = kernel.agents.builder("tool", "calc").tools("arith_add").build()
        output = await kernel.run(agent, "what is 2 + 40?")
        assert output.content == "The sum is 42."
        assert seen == [("before", "arith_add", {"a": 2, "b": 40}), ("after", "arith_add", "42")]
        tool_messages = [m for m in kernel.agents.provider().requests[-1].messages if m.role == "tool"]
        assert [m.content for m in tool_messages] == ["42"]

        # a bad call is refused by the schema before it reaches the server
        kernel.agents.provider().script(ToolCall("arith_add", {"a": "two"}), "sorry")
        assert (await kernel.run(agent, "add two")).content == "sorry"
        assert '"two" is not of type "integer"' in [m for m in kernel.agents.provider().requests[-1].messages if m.role == "tool"][-1].content


async def test_killing_the_server_mid_call_is_a_clear_error(make_kernel: Any, tmp_path: Path) -> None:
    async with make_kernel(config(tmp_path, timeout=60)) as kernel:
        failed: list[BaseException] = []
        kernel.hooks.register("tool_error", lambda call: failed.append(call.error))
        kernel.agents.provider().script(ToolCall("arith_slow", {"seconds": 30}))
        agent = kernel.agents.builder("tool", "waiter").tools("arith_slow").build()
        run = asyncio.ensure_future(kernel.run(agent, "wait"))
        await asyncio.sleep(1.0)
        os.kill(int((tmp_path / "pid").read_text()), signal.SIGKILL)
        # seen as the crash it is (the tool timeout, 60 s, would say "did not answer ... within")
        with pytest.raises(McpServerError, match=r"MCP server 'arith' (stopped|failed) while running tool 'slow'"):
            await run
        assert len(failed) == 1 and isinstance(failed[0], McpServerError)
        # the next call starts the server again
        kernel.agents.provider().script(ToolCall("arith_add", {"a": 1, "b": 1}), "two")
        again = kernel.agents.builder("tool", "again").tools("arith_add").build()
        assert (await kernel.run(again, "1+1")).content == "two"


async def test_a_slow_server_times_out_with_a_clear_error(make_kernel: Any, tmp_path: Path) -> None:
    async with make_kernel(config(tmp_path, timeout=0.5)) as kernel:
        kernel.agents.provider().script(ToolCall("arith_slow", {"seconds": 20}))
        agent = kernel.agents.builder("tool", "waiter").tools("arith_slow").build()
        # the tool would answer after 20 s; the error says the 0.5 s timeout stopped it
        with pytest.raises(McpServerError, match=r"did not answer tool 'slow' within 0.5s"):
            await kernel.run(agent, "wait")


async def test_an_unreachable_server_fails_startup_clearly(make_kernel: Any, tmp_path: Path) -> None:
    kernel = make_kernel(config(tmp_path, command=str(tmp_path / "no-such-program"), args=[]))
    with pytest.raises(PluginError, match=r"MCP server 'arith' .* could not be started"):
        await kernel.start()
    with pytest.raises(ConfigError, match="exactly one of command"):
        make_kernel({"mcp": {"servers": {"x": {"command": "a", "url": "http://b"}}}})


async def test_llmspell_serves_a_tool_and_an_agent_over_mcp(tmp_path: Path, llmspell_env: dict[str, str]) -> None:
    spec = tmp_path / "agents.toml"
    spec.write_text('[[agents]]\nname = "echo"\ntype = "chat"\ndescription = "Says hello."\n')
    settings = tmp_path / "llmspell.toml"
    settings.write_text(f'[agents]\nspecs = ["{spec}"]\nreplies = {{"hello" = "Hello from llmspell"}}\n')
    env = {**llmspell_env, "LLMSPELL_CONFIG": str(settings)}
    exe = shutil.which("llmspell", path=str(Path(sys.executable).parent))
    assert exe is not None
    params = StdioServerParameters(
        command=exe, args=["--data-dir", str(tmp_path / "data"), "mcp", "serve", "--tool", "calculator", "--agent", "echo"],
        env=env,
    )
    async with Client(params, read_timeout_seconds=30) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert sorted(listed) == ["calculator", "echo"]
        assert listed["calculator"].input_schema["required"] == ["expression"]
        assert listed["echo"].description == "Says hello."
        result = await client.call_tool("calculator", {"expression": "6 * 7"})
        assert not result.is_error and result.content[0].text == "42"
        result = await client.call_tool("echo", {"input": "hello there"})
        assert result.content[0].text == "Hello from llmspell"
        refused = await client.call_tool("calculator", {"expression": "__import__('os')"})
        assert refused.is_error and "not allowed" in refused.content[0].text


@pytest.mark.slow
async def test_streamable_http_both_ways(make_kernel: Any, tmp_path: Path, llmspell_env: dict[str, str],
                                         unused_tcp_port: int) -> None:
    """``llmspell mcp serve --http`` in one process; an [mcp] server ``url`` in another."""
    import subprocess

    exe = shutil.which("llmspell", path=str(Path(sys.executable).parent))
    assert exe is not None
    server = subprocess.Popen(  # noqa: ASYNC220 - started once; the test waits on the network, not on it
        [exe, "--data-dir", str(tmp_path / "served"), "mcp", "serve", "--tool", "calculator",
         "--http", f"127.0.0.1:{unused_tcp_port}", "--token", "a-token-both-sides-know"],
        env=llmspell_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{unused_tcp_port}/mcp"
        settings = {"mcp": {"servers": {"remote": {"url": url, "connect_timeout": 2, "token": "a-token-both-sides-know"}}}}
        deadline = time.monotonic() + 30
        while True:
            kernel = make_kernel(settings)
            try:
                await kernel.start()
                break
            except PluginError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the MCP server did not come up"
                await asyncio.sleep(0.3)
        try:
            kernel.agents.provider().script(ToolCall("remote_calculator", {"expression": "6 * 7"}), "42 it is")
            agent = kernel.agents.builder("tool", "asker").tools("remote_calculator").build()
            assert (await kernel.run(agent, "six times seven?")).content == "42 it is"
            results = [m.content for m in kernel.agents.provider().requests[-1].messages if m.role == "tool"]
            assert results == ["42"]
        finally:
            await kernel.stop()
    finally:
        server.terminate()
        server.wait(10)
