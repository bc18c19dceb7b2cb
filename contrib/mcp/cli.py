"""``llmspell mcp serve`` and ``llmspell mcp tools``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from llmspell.plugins.cli.api import console, echo_json, pass_kernel, run

if TYPE_CHECKING:
    from llmspell import Kernel
    from llmspell.services import StashKey

    from . import McpPool


def register(cli: click.Group, pool_key: StashKey[McpPool]) -> None:
    """Add ``llmspell mcp``; ``pool_key``: where the plugin keeps its connection pool."""
    @cli.group("mcp")
    def mcp() -> None:
        """Serve llmspell agents and tools over MCP; list the tools of configured MCP servers."""

    @mcp.command("serve")
    @click.option("--agent", "agents", multiple=True, help="Offer this agent as a tool (repeatable).")
    @click.option("--tool", "tools", multiple=True, help="Offer this tool (repeatable).")
    @click.option("--http", "http", metavar="HOST:PORT", help="Serve streamable HTTP instead of stdio.")
    @click.option("--principal", metavar="KIND:ID",
                  help="Who the served tools act as: anonymous (default), user:<id>, app:<name>, agent:<name>.")
    @click.option("--token", metavar="TEXT", help="--http: the bearer token clients must send "
                  "(default: [mcp.serve] token or $LLMSPELL_MCP_SERVE__TOKEN, else a new one, printed on stderr).")
    @click.option("--allow-remote", is_flag=True,
                  help="--http: listen on an address other machines can reach (needs a token set in advance).")
    @pass_kernel
    def serve_cmd(kernel: Kernel, agents: tuple[str, ...], tools: tuple[str, ...], http: str | None,
                  principal: str | None, token: str | None, allow_remote: bool) -> None:
        """Run an MCP server offering the chosen agents and tools.

        The tools act as the configured principal, never as the system. Over HTTP every
        request needs ``Authorization: Bearer <token>``.
        """
        from llmspell.context import Principal
        from llmspell.contrib._interop import require
        from llmspell.errors import ValidationError

        require("mcp", "mcp", "llmspell mcp serve")
        if not agents and not tools:
            raise click.UsageError("name at least one --agent or --tool to offer")
        if allow_remote and not http:
            raise click.UsageError("--allow-remote applies to --http only")
        from .config import McpConfig
        from .serve import serve_http, serve_stdio

        settings: McpConfig = kernel.config.section("mcp")
        try:
            who = Principal.parse(principal or settings.serve.principal)
        except ValidationError as exc:
            raise click.BadParameter(str(exc), param_hint="--principal") from None
        if token is not None and len(token) < 16:
            raise click.BadParameter("a token must be at least 16 characters long", param_hint="--token")
        secret = token or settings.serve.token
        address: tuple[str, int] | None = None
        if http:
            host, _, port = http.rpartition(":")
            try:
                address = (host.strip("[]") or "127.0.0.1", int(port))
            except ValueError:
                raise click.BadParameter(f"expected HOST:PORT, got {http!r}", param_hint="--http") from None

        def ready(url: str, given: str) -> None:
            click.echo(f"llmspell MCP server at {url} (acting as {who})", err=True)
            if given != secret:
                click.echo(f"token: {given}", err=True)

        async def go() -> None:
            async with kernel:
                if address is not None:
                    await serve_http(kernel, list(agents), list(tools), *address, token=secret, principal=who,
                                     allow_remote=allow_remote, on_ready=ready)
                else:
                    await serve_stdio(kernel, list(agents), list(tools), who)

        try:
            run(go())
        except KeyboardInterrupt:  # Ctrl-C is how a server is stopped: a clean exit, as `llmspell console`
            pass

    @mcp.command("tools")
    @click.option("--json", "as_json", is_flag=True)
    @pass_kernel
    def tools_cmd(kernel: Kernel, as_json: bool) -> None:
        """The llmspell tools made from the configured MCP servers."""
        async def go() -> list[dict[str, Any]]:
            async with kernel:
                pool = kernel.stash.get(pool_key, None)
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
