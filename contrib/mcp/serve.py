"""``llmspell mcp serve``: chosen llmspell agents and tools as an MCP server.

Each exposed tool keeps its name and JSON schema; each exposed agent becomes a tool
named after it, taking ``input`` (what to ask) and answering with the agent's output.
Calls run through ``kernel.run``, so hooks, limits, events and agent state apply as for
any other caller; an error comes back to the MCP client as a tool error naming it.
"""

from __future__ import annotations

from typing import Any

from llmspell.errors import UnknownNameError

__all__ = ["build_server", "AGENT_SCHEMA"]

AGENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "what to ask the agent"}},
    "required": ["input"],
}


def exposed(kernel: Any, agents: list[str], tools: list[str]) -> dict[str, tuple[Any, dict[str, Any], str]]:
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


def build_server(kernel: Any, agents: list[str], tools: list[str]) -> Any:
    """An MCP ``Server`` offering ``agents`` and ``tools`` of a started kernel."""
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
            output = await kernel.run(target, request)
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


async def serve_stdio(kernel: Any, agents: list[str], tools: list[str]) -> None:
    """Serve on this process's stdin and stdout until the client disconnects."""
    from mcp.server.stdio import stdio_server

    server = build_server(kernel, agents, tools)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


async def serve_http(kernel: Any, agents: list[str], tools: list[str], host: str, port: int) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp``."""
    import uvicorn

    app = build_server(kernel, agents, tools).streamable_http_app(host=host)
    await uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).serve()
