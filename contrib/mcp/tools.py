"""MCP tools as llmspell tools, so agents call them like any other tool.

Each tool of a configured server becomes a :class:`McpTool` named ``<prefix><tool>``
with the server's description and input schema; a call is validated against that
schema and runs between the ``tool_before``/``tool_after``/``tool_error`` hook points,
is counted against the agent's ``max_tool_calls``, and is published like any tool call.

Schemas are taken as the server gives them and compiled once, when the tool is
registered, by the full JSON Schema validator (:mod:`llmspell.plugins.agents._schema`):
drafts 7, 2019-09 and 2020-12, local and recursive ``$ref`` s. A tool whose schema is
invalid, or needs a remote ``$ref``, is skipped with a warning that gives the reason.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import attrs

from llmspell.context import ExecutionContext
from llmspell.errors import ValidationError
from llmspell.plugins.tools.api import BaseTool

from .client import McpConnection

__all__ = ["McpTool", "McpToolError", "tool_name"]

log = logging.getLogger("llmspell.mcp")


class McpToolError(ValidationError):
    """The MCP tool itself reported an error (it goes back to the model, which may retry)."""


def tool_name(prefix: str, name: str) -> str:
    """``prefix + name`` with characters model APIs refuse in tool names replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", prefix + name)[:64]


@attrs.define(eq=False, kw_only=True)
class McpTool(BaseTool):
    """A tool of an MCP server; ``invoke`` sends the call to the server."""

    default_capabilities: ClassVar[tuple[str, ...]] = ("tool", "mcp")
    remote: str
    """The tool's name on its server."""
    spec: dict[str, Any] = attrs.field(factory=dict)
    text: str = ""
    connection: McpConnection = attrs.field(repr=False)

    @property
    def description(self) -> str:
        return self.text or f"{self.remote} (MCP server {self.connection.name})"

    @property
    def parameters(self) -> dict[str, Any]:
        return self.spec

    async def invoke(self, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        result = await self.connection.call(self.remote, arguments)
        texts = [block.text for block in result.content if getattr(block, "type", None) == "text"]
        if result.is_error:
            raise McpToolError(
                f"MCP tool {self.remote!r} of server {self.connection.name!r} failed: {' '.join(texts) or 'no details'}"
            )
        if result.structured_content is not None and len(texts) != len(result.content):
            return result.structured_content
        if len(texts) == len(result.content):
            return texts[0] if len(texts) == 1 else "\n".join(texts)
        return [block.model_dump(mode="json", exclude_none=True) for block in result.content]


def make_tools(connection: McpConnection, manager: Any) -> list[McpTool]:
    """The llmspell tools of a connected server (those its config allows)."""
    cfg = connection.config
    prefix = f"{connection.name}_" if cfg.prefix is None else cfg.prefix
    wanted = set(cfg.tools)
    out = []
    for remote in connection.tools:
        if wanted and remote.name not in wanted:
            continue
        spec = dict(remote.input_schema or {})
        spec.setdefault("type", "object")
        try:
            out.append(McpTool(
                name=tool_name(prefix, remote.name), remote=remote.name, spec=spec,
                text=(remote.description or "").strip(), connection=connection, manager=manager,
            ))
        except ValidationError as exc:
            log.warning("MCP server %s: tool %r is not registered: %s", connection.name, remote.name, exc)
    missing = wanted - {t.name for t in connection.tools}
    if missing:
        log.warning("MCP server %s has no tool(s) %s", connection.name, ", ".join(sorted(missing)))
    return out
