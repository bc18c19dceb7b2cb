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

from llmspell import serde
from llmspell.context import ExecutionContext
from llmspell.errors import LlmspellError, UnknownNameError
from llmspell.hooks import HookCall
from llmspell.plugins.agents.api import Message, ModelResponse, RunEvent, ToolSpec
from llmspell.plugins.agents.backend import ModelProvider, ModelRequest
from llmspell.plugins.runs.api import RunService

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
        self.runs: RunService | None = None
        self.bound = False
        """Whether :attr:`runs` was found at startup (else it is looked up per call)."""

    def bind(self) -> None:
        """Find the run service once (the kernel has started)."""
        self.runs, self.bound = self.kernel.services.find(RunService), True

    def unbind(self) -> None:
        self.runs, self.bound = None, False

    def _runs(self) -> RunService | None:
        return self.runs if self.bound else self.kernel.services.find(RunService)

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

        runs = self._runs()
        if runs is None or not runs.active():
            response: ModelResponse = await self.kernel.hook.around("model", call, complete, extra=agent.callbacks)
            return response

        async def journaled(args: Any, key: str) -> ModelResponse:
            return await self.kernel.hook.around("model", call, complete, extra=agent.callbacks)

        # what identifies the call in the run's journal: the conversation's length and its last
        # message (what came before is made of earlier, journaled results), tools, model
        seen = {"messages": len(messages), "last": serde.unstructure(messages[-1]) if messages else None,
                "tools": [t.name for t in request.tools], "model": request.model}
        return await runs.step(
            "model", provider.name, agent.name, seen, journaled, encode=serde.unstructure,
            decode=lambda data: serde.structure(data, ModelResponse))

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
        extra = agent.callbacks if agent else None

        async def body(args: dict[str, Any], key: str) -> Any:
            tool_ctx = ctx.evolve(idempotency_key=key) if key else ctx
            call = HookCall("tool", ctx=tool_ctx, component=tool, request=args, args={"agent": agent})
            return await self.kernel.hook.around("tool", call, lambda c: tool.invoke(c.request, c.ctx), extra=extra)

        runs = self._runs()
        if runs is not None:
            result = await runs.step("tool", tool.name, who, arguments, body, tool=tool, ctx=ctx)
        elif getattr(tool, "needs_approval", False):
            raise LlmspellError(f"tool {tool.name!r} needs approval, and without the runs plugin nothing can wait for it")
        else:
            result = await body(arguments, "")
        report("tool_result", who, {"tool": tool.name, "result": result})
        return result
