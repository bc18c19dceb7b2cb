"""The public contract of the tools capability: what agents and tool authors use.

A tool is an agent with a JSON-Schema parameter spec (:class:`Tool`); a model asks for a
call with a :class:`ToolCall` and is told about a tool by its :class:`ToolSpec`. Write one
with the :func:`tool` decorator, :class:`FunctionTool` or a :class:`BaseTool` subclass;
:class:`AgentTool` offers another agent as a tool.
"""

from __future__ import annotations

from llmspell.plugins.agents.api import Tool, ToolCall, ToolSpec

from ._base import AgentTool, BaseTool, FunctionTool, as_text, signature_schema, tool

__all__ = ["Tool", "ToolCall", "ToolSpec", "BaseTool", "FunctionTool", "AgentTool", "tool", "as_text", "signature_schema"]
