"""Connections to MCP servers, each held open by a task of its own.

The ``mcp`` client's context managers must be entered and left in one task, so every
server gets a connection task that opens the client, lists the tools, and waits until
the kernel stops. Tool calls are sent from the agents' tasks through that client.

A server that exits, closes the connection or does not answer in time fails the tool
call at once with :class:`McpServerError`, which names the server, the tool and what
happened; the next call starts the server again (stdio) or reconnects (HTTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from llmspell.errors import BackendUnavailable

from .config import McpServerConfig, token_from

__all__ = ["McpConnection", "McpServerError"]

log = logging.getLogger("llmspell.mcp")


class McpServerError(BackendUnavailable):
    """An MCP server could not run a tool call: it is gone, unreachable or too slow."""


class McpConnection:
    """One configured MCP server."""

    def __init__(self, name: str, config: McpServerConfig) -> None:
        self.name = name
        self.config = config
        self.client: Any = None
        self.tools: list[Any] = []
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self.failure: BaseException | None = None

    def _target(self, stack: contextlib.AsyncExitStack) -> Any:
        from mcp import StdioServerParameters

        cfg = self.config
        if cfg.url is not None:
            token = token_from(cfg.token, cfg.token_env, f"mcp.servers.{self.name}", required=True)
            if token is None:
                return cfg.url
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client  # the client the mcp transport makes

            http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
            stack.push_async_callback(http.aclose)
            return streamable_http_client(cfg.url, http_client=http)
        return StdioServerParameters(command=cfg.command or "", args=list(cfg.args), env=dict(cfg.env) or None, cwd=cfg.cwd)

    def _where(self) -> str:
        cfg = self.config
        return cfg.url if cfg.url is not None else " ".join([cfg.command or "", *cfg.args])

    async def _serve(self, ready: asyncio.Future[list[Any]]) -> None:
        from mcp import Client

        try:
            async with contextlib.AsyncExitStack() as stack, \
                    Client(self._target(stack), read_timeout_seconds=self.config.timeout) as client:
                tools: list[Any] = []
                cursor = None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    tools += page.tools
                    cursor = page.next_cursor
                    if cursor is None:
                        break
                self.client = client
                ready.set_result(tools)
                await self._stop.wait()
        except BaseException as exc:  # noqa: BLE001 - kept and reported by the next call
            self.failure = exc
            if not ready.done():
                ready.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self.client = None

    async def open(self) -> list[Any]:
        """Start (or reach) the server and list its tools."""
        self._stop = asyncio.Event()
        self.failure = None
        ready: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._serve(ready), name=f"llmspell-mcp-{self.name}")
        try:
            self.tools = await asyncio.wait_for(ready, self.config.connect_timeout)
        except TimeoutError:
            await self.close()
            raise McpServerError(
                f"MCP server {self.name!r} ({self._where()}) did not start within {self.config.connect_timeout}s"
            ) from None
        except Exception as exc:
            await self.close()
            raise McpServerError(f"MCP server {self.name!r} ({self._where()}) could not be started: {_reason(exc)}") from exc
        return self.tools

    @property
    def alive(self) -> bool:
        return self.client is not None and self._task is not None and not self._task.done()

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """Call ``tool``; a dead, closed or silent server raises :class:`McpServerError`."""
        async with self._lock:
            if not self.alive:
                log.info("MCP server %s is not running; starting it again", self.name)
                await self.close()
                await self.open()
        client = self.client
        timeout = self.config.timeout
        call = asyncio.ensure_future(client.call_tool(tool, arguments, read_timeout_seconds=timeout))
        assert self._task is not None
        try:
            done, _ = await asyncio.wait({call, self._task}, timeout=timeout + 1, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            call.cancel()
            raise
        if call in done and call.exception() is None:
            return call.result()
        call.cancel()
        with contextlib.suppress(BaseException):
            await call
        if call in done:
            error = call.exception()
            if "timed out" in str(error):
                raise McpServerError(f"MCP server {self.name!r} did not answer tool {tool!r} within {timeout}s") from error
            self.client = None  # the connection is gone: the next call starts the server again
            raise McpServerError(
                f"MCP server {self.name!r} failed while running tool {tool!r}: {_reason(error)}"
            ) from error
        if self._task in done:
            self.client = None
            raise McpServerError(
                f"MCP server {self.name!r} stopped while running tool {tool!r} ({_reason(self.failure)})"
            ) from self.failure
        raise McpServerError(f"MCP server {self.name!r} did not answer tool {tool!r} within {timeout}s")

    async def close(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), 5)
            except (TimeoutError, Exception):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self.client = None


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "the server closed the connection"
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_reason(e) for e in exc.exceptions)
    text = str(exc) or type(exc).__name__
    if text == "Connection closed":
        return "the server closed the connection (did its process exit?)"
    return text

