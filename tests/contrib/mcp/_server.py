"""A small MCP server for the tests, built with the ``mcp`` package; serves on stdio.

Tools: ``add`` (two integers) and ``slow`` (sleeps, then answers). At start it writes
its process id to the file named by ``MCP_PID_FILE`` (if set), so a test can kill it.
"""

from __future__ import annotations

import asyncio
import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("arith")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
async def slow(seconds: float) -> str:
    """Wait some seconds, then say so."""
    await asyncio.sleep(seconds)
    return f"waited {seconds}s"


if __name__ == "__main__":
    if os.environ.get("MCP_PID_FILE"):
        with open(os.environ["MCP_PID_FILE"], "w") as fh:
            fh.write(str(os.getpid()))
    server.run("stdio")
