"""``llmspell mcp serve --http``: a token on every request, Host/Origin checks, no remote bind by
accident, and served tools that act as the configured principal, never as the system.

Each test starts the real command on a real port and talks HTTP to it.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")
httpx = pytest.importorskip("httpx")

from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402

from llmspell import Kernel  # noqa: E402
from llmspell.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.slow

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}
JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def _llmspell() -> str:
    exe = shutil.which("llmspell", path=str(Path(sys.executable).parent))
    assert exe is not None
    return exe


def _command(data: Path, *args: str) -> list[str]:
    return [_llmspell(), "--data-dir", str(data), "mcp", "serve", "--tool", "artifact_read", "--tool", "calculator",
            *args]


@asynccontextmanager
async def served(data: Path, env: dict[str, str], port: int, *args: str,
                 token: str | None = None) -> AsyncIterator[tuple[str, str]]:
    """Start ``mcp serve --http 127.0.0.1:port``; yields (url, token), both read from its
    stderr unless the token was configured (``token``: then it is not printed)."""
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, read line by line below
        _command(data, "--http", f"127.0.0.1:{port}", *args), env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        url = None
        configured = token is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (url is None or token is None):
            try:
                line = await asyncio.wait_for(asyncio.to_thread(proc.stderr.readline), deadline - time.monotonic())
            except TimeoutError:
                break
            if not line:
                break
            lines.append(line)
            if found := re.search(r"MCP server at (\S+) \(acting as (\S+)\)", line):
                url = found[1]
                assert found[2] == env.get("LLMSPELL_MCP_SERVE__PRINCIPAL", "anonymous:anonymous")
            if found := re.match(r"token: (\S+)", line):
                token = found[1]
        assert url is not None and token is not None, "".join(lines)
        assert not any(line.startswith("token:") for line in lines) or not configured, "a configured token is printed"
        async with httpx.AsyncClient(timeout=10) as probe:  # wait until it answers
            while True:
                try:
                    await probe.get(url)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
                    await asyncio.sleep(0.2)
        yield url, token
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)


@asynccontextmanager
async def mcp_client(url: str, token: str) -> AsyncIterator[Any]:
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http, \
            Client(streamable_http_client(url, http_client=http), read_timeout_seconds=30) as client:
        yield client


async def test_every_request_needs_the_token(tmp_path: Path, llmspell_env: dict[str, str],
                                             unused_tcp_port: int) -> None:
    async with served(tmp_path / "data", llmspell_env, unused_tcp_port) as (url, token):
        assert len(token) >= 32
        async with httpx.AsyncClient(timeout=10) as http:
            bare = await http.post(url, json=INIT, headers=JSON)
            assert bare.status_code == 401 and bare.headers["www-authenticate"].startswith("Bearer")
            wrong = await http.post(url, json=INIT, headers={**JSON, "authorization": f"Bearer {token[:-1]}x"})
            assert wrong.status_code == 401
            assert (await http.get(url, params={"token": token})).status_code == 401  # only the header counts
            good = await http.post(url, json=INIT, headers={**JSON, "authorization": f"Bearer {token}"})
            assert good.status_code == 200, good.text
            # Host and Origin are still checked, token or not
            rebound = await http.post(url, json=INIT, headers={**JSON, "authorization": f"Bearer {token}",
                                                              "host": f"evil.example:{unused_tcp_port}"})
            assert rebound.status_code == 421
            foreign = await http.post(url, json=INIT, headers={**JSON, "authorization": f"Bearer {token}",
                                                              "origin": "http://evil.example"})
            assert foreign.status_code == 403
        async with mcp_client(url, token) as client:
            result = await client.call_tool("calculator", {"expression": "6 * 7"})
            assert not result.is_error and result.content[0].text == "42"


async def test_served_tools_act_as_anonymous_and_denials_are_audited(
    make_kernel: Any, tmp_path: Path, llmspell_env: dict[str, str], unused_tcp_port: int,
) -> None:
    async with make_kernel() as kernel:  # the same data directory as the server below
        ref = str(await kernel.artifacts.save("secret.txt", b"alice's secret", user_id="alice"))
    async with served(tmp_path / "data", llmspell_env, unused_tcp_port) as (url, token), \
            mcp_client(url, token) as client:
        result = await client.call_tool("artifact_read", {"name": ref})
        assert result.is_error
        assert "anonymous:anonymous may not read" in result.content[0].text
        assert "alice's secret" not in result.content[0].text
    shown = await asyncio.to_thread(
        subprocess.run, [_llmspell(), "--data-dir", str(tmp_path / "data"), "events", "replay", "audit", "--json"],
        env=llmspell_env, capture_output=True, text=True, timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    denied = [json.loads(line)["payload"] for line in shown.stdout.splitlines() if line.strip()]
    assert [(d["principal"], d["artifact"], d["permission"]) for d in denied] == [
        ("anonymous:anonymous", ref, "read")]


async def test_over_stdio_too_the_tools_act_as_anonymous(make_kernel: Any, tmp_path: Path,
                                                         llmspell_env: dict[str, str]) -> None:
    from mcp import StdioServerParameters

    async with make_kernel() as kernel:
        ref = str(await kernel.artifacts.save("secret.txt", b"alice's secret", user_id="alice"))
    params = StdioServerParameters(command=_command(tmp_path / "data")[0], args=_command(tmp_path / "data")[1:],
                                   env=llmspell_env)
    async with Client(params, read_timeout_seconds=30) as client:
        result = await client.call_tool("artifact_read", {"name": ref})
        assert result.is_error and "anonymous:anonymous may not read" in result.content[0].text
        assert "alice's secret" not in result.content[0].text


async def test_a_configured_principal_and_token(make_kernel: Any, tmp_path: Path, llmspell_env: dict[str, str],
                                                unused_tcp_port: int) -> None:
    async with make_kernel() as kernel:
        ref = str(await kernel.artifacts.save("notes.txt", b"alice's notes", user_id="alice"))
    token = "t" * 40
    env = {**llmspell_env, "LLMSPELL_MCP_SERVE__TOKEN": token, "LLMSPELL_MCP_SERVE__PRINCIPAL": "user:alice"}
    async with served(tmp_path / "data", env, unused_tcp_port, token=token) as (url, _), \
            mcp_client(url, token) as client:
        result = await client.call_tool("artifact_read", {"name": ref})
        assert not result.is_error and result.content[0].text == "alice's notes"


def _refused(data: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(data, *args), env=env, capture_output=True, text=True, timeout=120)


def test_a_non_loopback_bind_is_refused_unless_asked_with_a_token(tmp_path: Path, llmspell_env: dict[str, str],
                                                                  unused_tcp_port: int) -> None:
    data = tmp_path / "data"
    everywhere = f"0.0.0.0:{unused_tcp_port}"
    done = _refused(data, llmspell_env, "--http", everywhere)
    assert done.returncode == 1 and "refusing to listen on '0.0.0.0'" in done.stderr and "--allow-remote" in done.stderr
    done = _refused(data, llmspell_env, "--http", everywhere, "--allow-remote")
    assert done.returncode == 1 and "needs a token set in advance" in done.stderr
    done = _refused(data, llmspell_env, "--principal", "system:x")
    assert done.returncode == 2 and "system principal cannot be named" in done.stderr
    done = _refused(data, llmspell_env, "--http", f"127.0.0.1:{unused_tcp_port}", "--token", "short")
    assert done.returncode == 2 and "at least 16 characters" in done.stderr


def test_the_served_principal_is_never_the_system_in_config(tmp_path: Path, llmspell_env: dict[str, str]) -> None:
    settings = tmp_path / "llmspell.toml"
    settings.write_text('[mcp.serve]\nprincipal = "system:system"\n')
    done = subprocess.run([_llmspell(), "--data-dir", str(tmp_path / "data"), "plugins"], capture_output=True,
                          text=True, timeout=120, env={**llmspell_env, "LLMSPELL_CONFIG": str(settings)})
    assert done.returncode == 1 and "mcp.serve: principal 'system:system': the system principal cannot be named" \
        in done.stderr
    with pytest.raises(ConfigError, match="system principal cannot be named"):
        Kernel({"mcp": {"serve": {"principal": "system:root"}}})


def test_a_remote_bind_asked_for_with_a_token_is_allowed_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    from llmspell.contrib.mcp.serve import check_bind
    from llmspell.errors import LlmspellError

    with caplog.at_level("WARNING", logger="llmspell.mcp"):
        check_bind("0.0.0.0", allow_remote=True, token="k" * 32)
    assert "listening on 0.0.0.0" in caplog.text
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        check_bind(host, allow_remote=False, token=None)
    for host in ("0.0.0.0", "::", "192.168.1.10", "127.evil.example"):
        with pytest.raises(LlmspellError, match="refusing to listen"):
            check_bind(host, allow_remote=False, token="k" * 32)
