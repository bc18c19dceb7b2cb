"""The model and tool calls agents make (through their hook points), and run reports.

A streaming run (``kernel.agents.stream``) sets :data:`reporter`; :func:`report` sends a
:class:`~llmspell.plugins.agents.api.RunEvent` to it, so agents, models and tools deep
inside a run (or a parallel branch) reach the caller.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmspell.context import ExecutionContext
from llmspell.errors import LlmspellError, UnknownNameError
from llmspell.hooks import HookCall
from llmspell.plugins.agents.api import Message, ModelResponse, RunEvent, ToolSpec
from llmspell.plugins.agents.backend import ModelProvider, ModelRequest

from ._lifecycle import current_run
from ._schema import compile_schema, validate_arguments

if TYPE_CHECKING:
    from llmspell import Kernel

    from ._lifecycle import AgentsSettings
    from .api import BaseAgent

__all__ = ["Calls", "report", "reporter"]

log = logging.getLogger("llmspell.agents")

#: Where a streaming caller receives the run's events (None when nobody streams).
reporter: contextvars.ContextVar[Callable[[RunEvent], None] | None] = contextvars.ContextVar(
    "llmspellreporter", default=None
)


def report(kind: str, agent: str, data: Any = None) -> None:
    """Send a :class:`RunEvent` to the streaming caller of the current run, if any."""
    fn = reporter.get()
    if fn is not None:
        fn(RunEvent(kind, agent, data))


class Calls:
    """Model and tool calls through their hook points; the model providers, built once.

    Built with the kernel (its hook points, system events and model provider registry)
    and the ``[agents]`` settings.
    """

    def __init__(self, kernel: Kernel, settings: AgentsSettings) -> None:
        self.kernel = kernel
        self.settings = settings
        self.providers: dict[str, ModelProvider] = {}

    def provider(self, name: str | None = None) -> ModelProvider:
        """The model provider ``name`` (default: ``[agents] provider``), built once per kernel."""
        name = name or self.settings.provider
        if name not in self.providers:
            self.providers[name] = self.kernel.create_backend("model_provider", name)
        return self.providers[name]

    async def close(self) -> None:
        """Close the providers that can be closed (the kernel is stopping)."""
        for provider in self.providers.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()

    async def call_model(self, agent: BaseAgent, messages: tuple[Message, ...], ctx: ExecutionContext,
                         *, tools: tuple[ToolSpec, ...] | None = None, **options: Any) -> ModelResponse:
        provider = agent.provider or self.provider(agent.config.provider)
        request = ModelRequest(messages, agent.tool_specs() if tools is None else tools, model=agent.config.model,
                               options=options)
        call = HookCall("model", ctx=ctx, component=provider, request=request, args={"agent": agent})
        streaming = reporter.get() is not None

        async def complete(call: HookCall) -> ModelResponse:
            if not streaming:
                return await provider.complete(call.request, ctx)
            response = None
            async for chunk in provider.stream(call.request, ctx):
                if chunk.delta:
                    report("delta", agent.name, chunk.delta)
                if chunk.response is not None:
                    response = chunk.response
            if response is None:
                raise LlmspellError(f"model provider {provider.name!r} ended its stream without a response")
            return response

        response: ModelResponse = await self.kernel.hook.around("model", call, complete, extra=agent.callbacks)
        return response

    async def call_tool(self, agent: BaseAgent, name: str, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        tool = agent.tools.get(name)
        if tool is None:
            raise UnknownNameError(f"tool of agent {agent.name!r}", name, agent.tools)
        info = current_run.get()
        if info is not None and info.agent is agent:
            info.count_tool_call(name)
        return await self.invoke_tool(tool, arguments, ctx, agent=agent)

    async def invoke_tool(self, tool: Any, arguments: dict[str, Any], ctx: ExecutionContext,
                          *, agent: BaseAgent | None = None) -> Any:
        """Validate ``arguments`` against the tool's schema and run it through the ``tool`` points."""
        compiled = getattr(tool, "compiled", None) or compile_schema(tool.parameters, what=f"tool {tool.name!r}")
        validate_arguments(tool.name, compiled, arguments)
        who = agent.name if agent is not None else tool.name
        report("tool_call", who, {"tool": tool.name, "arguments": arguments})
        if self.settings.verbose:
            await self.kernel.emit("agent.tool.called", {"agent": who, "tool": tool.name, "arguments": arguments},
                                   session_id=ctx.session_id, user_id=ctx.user_id, correlation_id=ctx.trace_id,
                                   source=f"agent:{who}")
        call = HookCall("tool", ctx=ctx, component=tool, request=arguments, args={"agent": agent})
        result = await self.kernel.hook.around(
            "tool", call, lambda c: tool.invoke(c.request, ctx), extra=agent.callbacks if agent else None
        )
        report("tool_result", who, {"tool": tool.name, "result": result})
        return result
