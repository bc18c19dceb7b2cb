"""``llmspell mcp serve`` and ``llmspell mcp tools``."""

from __future__ import annotations

from typing import Any

import click

from llmspell.cli import console, echo_json, pass_kernel, run


def register(cli: click.Group) -> None:
    @cli.group("mcp")
    def mcp() -> None:
        """Serve llmspell agents and tools over MCP; list the tools of configured MCP servers."""

    @mcp.command("serve")
    @click.option("--agent", "agents", multiple=True, help="Offer this agent as a tool (repeatable).")
    @click.option("--tool", "tools", multiple=True, help="Offer this tool (repeatable).")
    @click.option("--http", "http", metavar="HOST:PORT", help="Serve streamable HTTP instead of stdio.")
    @pass_kernel
    def serve_cmd(kernel: Any, agents: tuple[str, ...], tools: tuple[str, ...], http: str | None) -> None:
        """Run an MCP server offering the chosen agents and tools."""
        from llmspell.contrib._interop import require

        require("mcp", "mcp", "llmspell mcp serve")
        if not agents and not tools:
            raise click.UsageError("name at least one --agent or --tool to offer")
        from .serve import serve_http, serve_stdio

        async def go() -> None:
            async with kernel:
                if http:
                    host, _, port = http.rpartition(":")
                    await serve_http(kernel, list(agents), list(tools), host or "127.0.0.1", int(port))
                else:
                    await serve_stdio(kernel, list(agents), list(tools))

        try:
            run(go())
        except KeyboardInterrupt:  # Ctrl-C is how a server is stopped: a clean exit, as `llmspell console`
            pass

    @mcp.command("tools")
    @click.option("--json", "as_json", is_flag=True)
    @pass_kernel
    def tools_cmd(kernel: Any, as_json: bool) -> None:
        """The llmspell tools made from the configured MCP servers."""
        from . import POOL

        async def go() -> list[dict[str, Any]]:
            async with kernel:
                pool = kernel.stash.get(POOL, None)
                return [] if pool is None else [
                    {"name": t.name, "server": t.connection.name, "remote": t.remote, "description": t.description,
                     "parameters": t.parameters}
                    for t in pool.tools
                ]

        found = run(go())
        if as_json:
            echo_json({"tools": found})
            return
        from rich.table import Table

        table = Table(title="MCP tools")
        for column in ("name", "server", "description"):
            table.add_column(column)
        for t in found:
            table.add_row(t["name"], t["server"], t["description"])
        console.print(table)
