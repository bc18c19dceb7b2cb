"""MCP tools as llmspell tools, so agents call them like any other tool.

Each tool of a configured server becomes a :class:`McpTool` named ``<prefix><tool>``
with the server's description and input schema; a call is validated against that
schema and runs between the ``before_tool``/``after_tool``/``tool_error`` hook points,
is counted against the agent's ``max_tool_calls``, and is published like any tool call.

Schemas are taken as the server gives them. Local references (``$ref`` into ``$defs``)
are inlined and annotations that do not constrain a value (``format``, ``readOnly`` ...)
are dropped; a tool whose schema needs anything else llmspell does not validate is
skipped with a warning, never registered with a looser schema.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import attrs

from llmspell.context import ExecutionContext
from llmspell.errors import ValidationError
from llmspell.plugins.agents.schema import check_schema
from llmspell.plugins.tools.base import BaseTool

from .client import McpConnection

__all__ = ["McpTool", "McpToolError", "normalize_schema", "tool_name"]

log = logging.getLogger("llmspell.mcp")

#: Annotations of JSON Schema 2020-12 that never make a value invalid.
_ANNOTATIONS = frozenset({"format", "readOnly", "writeOnly", "deprecated", "contentMediaType",
                          "contentEncoding", "$comment", "$id", "$anchor"})
_MAX_DEPTH = 32


class McpToolError(ValidationError):
    """The MCP tool itself reported an error (it goes back to the model, which may retry)."""


def tool_name(prefix: str, name: str) -> str:
    """``prefix + name`` with characters model APIs refuse in tool names replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", prefix + name)[:64]


def normalize_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline local ``$ref``s and drop pure annotations (see the module docstring)."""
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}

    def walk(node: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise ValidationError("the schema nests too deep (a recursive $ref?)")
        if isinstance(node, list):
            return [walk(item, depth + 1) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"]
            name = ref.rpartition("/")[2]
            if not ref.startswith(("#/$defs/", "#/definitions/")) or name not in defs:
                raise ValidationError(f"unsupported $ref {ref!r}")
            merged = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
            return walk(merged, depth + 1)
        out = {}
        for key, value in node.items():
            if key in _ANNOTATIONS or key in ("$defs", "definitions"):
                continue
            if key in ("properties",):
                out[key] = {name: walk(sub, depth + 1) for name, sub in value.items()}
            else:
                out[key] = walk(value, depth + 1)
        return out

    normalized: dict[str, Any] = walk(dict(schema), 0)
    normalized.setdefault("type", "object")
    check_schema(normalized)
    return normalized


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
        try:
            spec = normalize_schema(dict(remote.input_schema or {}))
        except ValidationError as exc:
            log.warning("MCP server %s: tool %r is not registered: %s", connection.name, remote.name, exc)
            continue
        out.append(McpTool(
            name=tool_name(prefix, remote.name), remote=remote.name, spec=spec,
            text=(remote.description or "").strip(), connection=connection, manager=manager,
        ))
    missing = wanted - {t.name for t in connection.tools}
    if missing:
        log.warning("MCP server %s has no tool(s) %s", connection.name, ", ".join(sorted(missing)))
    return out
