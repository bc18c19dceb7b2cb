"""``llmspell mcp serve``: chosen llmspell agents and tools as an MCP server.

Each exposed tool keeps its name and JSON schema; each exposed agent becomes a tool
named after it, taking ``input`` (what to ask) and answering with the agent's output.
Calls run through ``kernel.run``, so hooks, limits, events and agent state apply as for
any other caller; an error comes back to the MCP client as a tool error naming it.

Every call runs as one configured principal (``[mcp.serve] principal``, default
:meth:`~llmspell.Principal.anonymous`), never as the system: an MCP client reaches only
what that principal may. Over HTTP every request needs the bearer token (see
:mod:`.guard`); a bind beyond loopback needs ``allow_remote`` and a configured token.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmspell.context import Principal
from llmspell.errors import ConfigError, LlmspellError, UnknownNameError

from .._http import bind
from .guard import TokenGuard, is_loopback

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["build_server", "serve_stdio", "serve_http", "check_bind", "AGENT_SCHEMA"]

log = logging.getLogger("llmspell.mcp")

AGENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "what to ask the agent"}},
    "required": ["input"],
}


def exposed(kernel: Kernel, agents: list[str], tools: list[str]) -> dict[str, tuple[Any, dict[str, Any], str]]:
    """name -> (agent or tool, input schema, description) of what the server offers."""
    offered: dict[str, tuple[Any, dict[str, Any], str]] = {}
    for name in agents:
        try:
            agent = kernel.agents.get(name)
        except (LookupError, UnknownNameError):
            known = ", ".join(sorted(a.name for a in kernel.agents.list())) or "none"
            raise UnknownNameError("agent", name, [known]) from None
        offered[name] = (agent, AGENT_SCHEMA, agent.description or f"ask the {name} agent")
    for name in tools:
        tool = kernel.agents.tool(name)
        offered[name] = (tool, tool.parameters, tool.description)
    return offered


def build_server(kernel: Kernel, agents: list[str], tools: list[str], principal: Principal | None = None) -> Any:
    """An MCP ``Server`` offering ``agents`` and ``tools`` of a started kernel.

    Calls act as ``principal`` (default: anonymous); the system principal is refused.
    """
    who = _served_principal(principal)
    user = {"user_id": who.id} if who.kind == "user" else {}
    import mcp_types as types
    from mcp.server.lowlevel import Server

    offered = exposed(kernel, agents, tools)

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=[
            types.Tool(name=name, description=description, input_schema=schema)
            for name, (_, schema, description) in offered.items()
        ])

    async def call_tool(ctx: Any, params: Any) -> Any:
        entry = offered.get(params.name)
        if entry is None:
            return _error(f"unknown tool {params.name!r}; offered: {', '.join(sorted(offered))}")
        target, schema, _ = entry
        arguments = dict(params.arguments or {})
        request = arguments.get("input", "") if schema is AGENT_SCHEMA else arguments
        try:
            output = await kernel.run(target, request, principal=who, **user)
        except Exception as exc:  # noqa: BLE001 - reported to the client as a tool error
            return _error(f"{type(exc).__name__}: {exc}")
        data = getattr(output, "data", None)
        structured = data if isinstance(data, dict) else None
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=str(getattr(output, "content", output)))],
            structured_content=structured,
        )

    def _error(text: str) -> Any:
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)

    return Server("llmspell", on_list_tools=list_tools, on_call_tool=call_tool)


def _served_principal(principal: Principal | None) -> Principal:
    who = principal or Principal.anonymous()
    if who.kind == "system" or who.is_admin:
        raise ConfigError(["mcp.serve.principal: MCP clients cannot act as the system or an admin"])
    return who


async def serve_stdio(kernel: Kernel, agents: list[str], tools: list[str], principal: Principal | None = None) -> None:
    """Serve on this process's stdin and stdout until the client disconnects."""
    from mcp.server.stdio import stdio_server

    server = build_server(kernel, agents, tools, principal)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def check_bind(host: str, *, allow_remote: bool, token: str | None) -> None:
    """Refuse to listen beyond loopback unless asked explicitly and given a token."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise LlmspellError(
            f"mcp serve: refusing to listen on {host!r}, which other machines can reach; "
            "pass --allow-remote (and a token: --token, [mcp.serve] token or LLMSPELL_MCP_SERVE__TOKEN) to do it anyway"
        )
    if not token:
        raise LlmspellError(
            f"mcp serve: listening on {host!r} needs a token set in advance "
            "(--token, [mcp.serve] token or LLMSPELL_MCP_SERVE__TOKEN), not one made up at start"
        )
    log.warning("mcp serve: listening on %s; every client that has the token can call the served tools", host)


async def serve_http(
    kernel: Kernel,
    agents: list[str],
    tools: list[str],
    host: str,
    port: int,
    *,
    token: str | None = None,
    principal: Principal | None = None,
    allow_remote: bool = False,
    on_ready: Callable[[str, str], Any] | None = None,
) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp`` until interrupted.

    ``token``: the bearer token every request must carry (None: a new random one).
    ``on_ready(url, token)`` is called once the socket listens (port 0: any free port).
    """
    import uvicorn

    check_bind(host, allow_remote=allow_remote, token=token)
    secret = token or secrets.token_urlsafe(32)
    loopback = is_loopback(host)
    app = build_server(kernel, agents, tools, principal).streamable_http_app(host=host if loopback else "0.0.0.0")
    guarded = TokenGuard(app, token=secret, loopback_only=loopback)
    sock = bind(host, port, what="mcp serve", hint="")
    shown = f"[{host}]" if ":" in host else host
    if on_ready is not None:
        on_ready(f"http://{shown}:{sock.getsockname()[1]}/mcp", secret)
    config = uvicorn.Config(guarded, lifespan="on", log_level="warning", access_log=False, server_header=False,
                            timeout_graceful_shutdown=1)
    try:
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        sock.close()
