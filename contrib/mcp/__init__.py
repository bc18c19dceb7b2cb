"""The ``mcp`` plugin: MCP servers' tools as llmspell tools, and llmspell over MCP.

Install with ``pip install "llmspell[mcp]"``. Name servers in the ``[mcp]`` section
(see :mod:`.config`); at startup the plugin connects to each, lists its tools and makes
every one an llmspell tool (:mod:`.tools`), so ``builder.tools("files_read")`` works and
the tool hooks, callbacks, events and limits apply. ``llmspell mcp serve --agent NAME
--tool NAME`` offers llmspell agents and tools to MCP clients (:mod:`.serve`).

The plugin loads without the ``mcp`` package; it is needed only when a server is
configured or ``mcp serve`` runs, and then its absence is a clear error.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from llmspell import hookimpl
from llmspell.services import StashKey

from .config import McpConfig, McpServerConfig

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["McpConfig", "McpServerConfig", "McpPool", "POOL"]

log = logging.getLogger("llmspell.mcp")


class McpPool:
    """The connections of one kernel and the tools made from them."""

    def __init__(self, kernel: Kernel, config: McpConfig) -> None:
        self.kernel = kernel
        self.config = config
        self.connections: dict[str, Any] = {}
        self.tools: list[Any] = []

    async def start(self) -> None:
        from .client import McpConnection, McpServerError
        from .tools import make_tools

        agents = self.kernel.agents
        for name, server in self.config.servers.items():
            connection = McpConnection(name, server)
            try:
                await connection.open()
            except McpServerError:
                if server.required:
                    raise
                log.warning("MCP server %s is not available; its tools are not registered", name, exc_info=True)
                continue
            self.connections[name] = connection
            for tool in make_tools(connection, agents):
                agents.add_tool(tool)
                self.tools.append(tool)
            await self.kernel.emit(
                "mcp.server.connected", {"server": name, "tools": [t.name for t in self.tools if t.connection is connection]},
                source="mcp",
            )

    async def close(self) -> None:
        for connection in self.connections.values():
            await connection.close()
        self.connections.clear()


POOL: StashKey[McpPool] = StashKey("mcp.pool")


@hookimpl
def llmspell_register_config(register: Any) -> None:
    register("mcp", McpConfig, "MCP servers whose tools agents can use")


@hookimpl(trylast=True)
async def llmspell_startup(kernel: Kernel) -> None:
    config: McpConfig = kernel.config.section("mcp")
    if not config.servers:
        return
    from llmspell.contrib._interop import require

    require("mcp", "mcp", "MCP tools (the [mcp] servers of the configuration)")
    pool = McpPool(kernel, config)
    kernel.stash[POOL] = pool
    try:
        await pool.start()
    except BaseException:
        await pool.close()
        raise


@hookimpl
async def llmspell_shutdown(kernel: Kernel) -> None:
    pool = kernel.stash.get(POOL, None)
    if pool is not None:
        del kernel.stash[POOL]
        await pool.close()


@hookimpl
def llmspell_register_commands(cli: Any, kernel: Kernel) -> None:
    from .cli import register

    register(cli, POOL)
