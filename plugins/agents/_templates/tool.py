"""The ``tool`` template: a function-calling loop over the model provider.

Each step asks the model with the agent's tools; tool calls are validated and run through
the ``tool`` hook points (a bad call's error goes back to the model, as peers do); the loop
ends when the model answers without tool calls, or fails after ``max_steps``. Tool calls of
one answer run concurrently (``parallel_tool_calls``). With ``output_schema`` the final
answer must be JSON matching it (it becomes ``output.data``); otherwise the problems go
back to the model and the loop continues. For every
agent named in ``config.agents`` the model also sees a ``transfer_to_<name>`` tool: calling
it ends the run with ``transfer_to`` set, so the service hands off.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

import attrs

from llmspell.context import ExecutionContext
from llmspell.errors import LimitExceeded, UnknownNameError, ValidationError
from llmspell.plugins.agents.api import AgentOutput, AgentRequest, Message, ToolSpec
from llmspell.plugins.runs.api import gather

from .._schema import CompiledSchema, compile_schema
from ..api import AgentConfig, BaseAgent

__all__ = ["ToolAgent", "ToolConfig"]

HANDOFF_PREFIX = "transfer_to_"


@attrs.frozen
class ToolConfig(AgentConfig):
    """Settings of a function-calling agent."""

    max_steps: int = 8
    """Model calls per run before giving up."""
    pass_state: list[str] = attrs.Factory(list)
    """Keys of the incoming handoff state passed on at a handoff (empty: all of it)."""
    parallel_tool_calls: bool = True
    """Run the tool calls of one model answer concurrently (results keep their order)."""
    output_schema: dict[str, Any] | None = None
    """JSON Schema the final answer must match (as JSON); it becomes ``output.data``.
    An answer that does not parse or match goes back to the model with the problems."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.output_schema is not None:
            compile_schema(self.output_schema, what="output_schema")


@attrs.define(eq=False, kw_only=True)
class ToolAgent(BaseAgent):
    """Answers by calling tools in a loop until the model gives a final answer."""

    Config: ClassVar[type[AgentConfig]] = ToolConfig
    type_name: ClassVar[str] = "tool"
    default_capabilities: ClassVar[tuple[str, ...]] = ("tools",)
    config: ToolConfig = attrs.field(factory=ToolConfig)
    _output: CompiledSchema | None = attrs.field(init=False, default=None, repr=False)

    def output_validator(self) -> CompiledSchema:
        """The ``output_schema``, compiled on first use (the config checked it when it was made)."""
        if self._output is None or self._output.schema != self.config.output_schema:
            self._output = compile_schema(self.config.output_schema or {}, what="output_schema")
        return self._output

    def handoff_specs(self) -> tuple[ToolSpec, ...]:
        return tuple(
            ToolSpec(f"{HANDOFF_PREFIX}{name}", f"hand the conversation to {name}: {agent.description}",
                     {"type": "object", "properties": {"reason": {"type": "string"}}})
            for name, agent in self.peers.items()
        )

    async def loop(self, messages: list[Message], request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        specs = self.tool_specs() + self.handoff_specs()
        cfg = self.config
        for step in range(1, cfg.max_steps + 1):
            response = await self.model(messages, ctx, tools=specs)
            messages.append(response.message)
            if not response.tool_calls:
                if cfg.output_schema is None:
                    return AgentOutput(content=response.content, data={"steps": step, "messages": len(messages)})
                data, problem = self.structured(response.content)
                if problem is None:
                    return AgentOutput(content=response.content, data=data, metadata={"steps": step})
                messages.append(Message.user(f"Your answer must be JSON matching the output schema: {problem}"))
                continue
            for call in response.tool_calls:
                if call.name.startswith(HANDOFF_PREFIX) and call.name[len(HANDOFF_PREFIX):] in self.peers:
                    return self.handoff(call.name[len(HANDOFF_PREFIX):], call.arguments, request)
            calls = response.tool_calls
            if cfg.parallel_tool_calls and len(calls) > 1:
                results = await gather(*(self.run_tool(c.name, c.arguments, ctx) for c in calls))
            else:
                results = [await self.run_tool(c.name, c.arguments, ctx) for c in calls]
            messages += [Message.tool(c, r) for c, r in zip(calls, results, strict=True)]
        raise LimitExceeded(f"agent {self.name!r} did not reach an answer in {cfg.max_steps} model steps (max_steps)")

    def structured(self, content: str) -> tuple[Any, str | None]:
        """Parse ``content`` as JSON (a fenced block is fine) and check it against the schema."""
        text = content.strip()
        fenced = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.S)
        try:
            data = json.loads(fenced.group(1) if fenced else text)
        except json.JSONDecodeError as exc:
            return None, f"not valid JSON ({exc})"
        problems = self.output_validator().problems(data)
        return (data, None) if not problems else (None, "; ".join(problems))

    async def run_tool(self, name: str, arguments: dict[str, Any], ctx: ExecutionContext) -> str:
        from llmspell.plugins.tools.api import as_text

        try:
            return as_text(await self.call_tool(name, arguments, ctx))
        except (ValidationError, UnknownNameError) as exc:
            return f"error: {exc}"

    def handoff(self, target: str, arguments: dict[str, Any], request: AgentRequest) -> AgentOutput:
        reason = str(arguments.get("reason", ""))
        state = dict(request.state)
        if self.config.pass_state:
            state = {k: v for k, v in state.items() if k in self.config.pass_state}
        state.setdefault("handoff_from", self.name)
        return AgentOutput(
            content=f"Transferring to {target}.", transfer_to=target, handoff_state=state,
            metadata={"handoff_reason": reason},
        )

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        return await self.loop(self.messages(request), request, ctx)
