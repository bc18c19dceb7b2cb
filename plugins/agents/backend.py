"""The SPI of the agents capability: everything its backend authors implement or need.

Backends (the defaults here, ``llmspell.contrib`` and third-party packages) import from
this module and from :mod:`llmspell.plugins.agents.api`, never from the plugin's
implementation modules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from llmspell.context import ExecutionContext

    from .api import Message, ModelResponse, ToolSpec

__all__ = [
    "ModelRequest",
    "ModelChunk",
    "ModelProvider",
]


@attrs.frozen
class ModelRequest:
    """One chat-completion request; hooks at ``model_before`` may replace it."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    options: dict[str, Any] = attrs.Factory(dict)


@attrs.frozen
class ModelChunk:
    """One piece of a streamed answer; the last chunk carries the whole ``response``."""

    delta: str = ""
    response: ModelResponse | None = None


@runtime_checkable
class ModelProvider(Protocol):
    """Chat completion with tool calls and streaming.

    ``complete`` answers a whole request; ``stream`` yields text deltas and ends with a
    chunk carrying the full :class:`ModelResponse`. Both are called through the
    ``model`` hook points by the agent service, never directly by agents.
    """

    name: str

    async def complete(self, request: ModelRequest, ctx: ExecutionContext) -> ModelResponse: ...

    def stream(self, request: ModelRequest, ctx: ExecutionContext) -> AsyncIterator[ModelChunk]: ...
