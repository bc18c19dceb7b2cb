"""Tools are agents with a JSON-Schema parameter spec.

* :class:`BaseTool`: subclass it, set ``schema`` and implement ``invoke``;
* :func:`tool` / :class:`FunctionTool`: a plain (async) function as a tool, its schema
  written out or derived from the signature's type hints;
* :class:`AgentTool`: any agent as a tool of another agent (argument ``input``).

A tool runs like any agent (``kernel.run(tool, {"expression": "2+2"})``) and, called by
an agent, through ``kernel.agents.invoke_tool``: arguments validated against the schema
(compiled once when the tool is declared, see :mod:`llmspell.plugins.agents._schema`),
then the ``tool`` hook points, then ``invoke``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
import orjson

from llmspell.context import ExecutionContext
from llmspell.errors import ValidationError
from llmspell.plugins.agents.api import (
    AgentConfig,
    AgentOutput,
    AgentRequest,
    BaseAgent,
    CompiledSchema,
    compile_schema,
    type_schema,
    validate_arguments,
)

__all__ = ["BaseTool", "FunctionTool", "AgentTool", "tool", "as_text", "signature_schema"]


def as_text(value: Any) -> str:
    """A tool result as text for a model: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()


@attrs.define(eq=False, kw_only=True)
class BaseTool(BaseAgent):
    """A tool: ``name``, ``description``, ``schema`` and ``invoke(arguments, ctx)``."""

    type_name: ClassVar[str] = "tool"
    default_capabilities: ClassVar[tuple[str, ...]] = ("tool",)
    schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}
    summary: ClassVar[str] = ""
    compiled: CompiledSchema = attrs.field(init=False, repr=False)
    """The parameter schema, compiled when the tool is declared."""
    needs_approval: bool | Callable[[dict[str, Any], Any], bool] = False
    """True, or ``fn(arguments, ctx) -> bool``: in a run, a call waits for a person's decision
    (``Approve``, ``Edit``, ``Reject``) before it runs (``docs/runs.md``)."""
    idempotent: bool = False
    """Safe to run again: a call cut off by a crash is retried on resume (with the same
    ``ctx.idempotency_key``) instead of waiting for a decision."""

    def __attrs_post_init__(self) -> None:
        self.compiled = compile_schema(self.parameters, what=f"parameter schema of tool {self.name!r}")

    @property
    def description(self) -> str:
        return self.config.description or self.summary or (type(self).__doc__ or "").strip().split("\n")[0]

    @property
    def parameters(self) -> dict[str, Any]:
        return self.schema

    async def invoke(self, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement invoke()")

    def validate_input(self, request: AgentRequest) -> None:
        if not isinstance(request.input, dict):
            raise ValidationError(f"tool {self.name!r} takes an object of arguments, got {type(request.input).__name__}")
        validate_arguments(self.name, self.compiled, request.input)

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        if self.manager is not None:
            result = await self.manager.invoke_tool(self, request.input, ctx)
        else:
            result = await self.invoke(request.input, ctx)
        return AgentOutput(content=as_text(result), data=result)


def signature_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """A parameter schema from ``fn``'s signature (``ctx`` is skipped, defaults optional).

    Hints become schemas as in :func:`~llmspell.plugins.agents._schema.type_schema`:
    ``int | None``, ``list[str]``, ``dict[str, int]``, ``Literal[...]``, enums and attrs
    classes; a parameter without a hint takes any value.
    """
    hints = typing.get_type_hints(fn)
    props: dict[str, Any] = {}
    required = []
    for name, param in inspect.signature(fn).parameters.items():
        if name == "ctx" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        props[name] = type_schema(hints.get(name, Any))
        if param.default is inspect.Parameter.empty:
            required.append(name)
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


@attrs.define(eq=False, kw_only=True)
class FunctionTool(BaseTool):
    """A function as a tool; ``fn(**arguments)`` or ``fn(ctx=ctx, **arguments)``, sync or async."""

    fn: Callable[..., Any] = attrs.field(repr=False)
    spec: dict[str, Any] = attrs.field(factory=dict)
    text: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.spec:
            self.spec = signature_schema(self.fn)
        super().__attrs_post_init__()

    @property
    def description(self) -> str:
        return self.text or (self.fn.__doc__ or "").strip().split("\n")[0]

    @property
    def parameters(self) -> dict[str, Any]:
        return self.spec

    async def invoke(self, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        wants_ctx = "ctx" in inspect.signature(self.fn).parameters
        result = self.fn(ctx=ctx, **arguments) if wants_ctx else self.fn(**arguments)
        if inspect.isawaitable(result):
            result = await result
        return result


def tool(
    fn: Callable[..., Any] | None = None, *, name: str | None = None, description: str = "",
    parameters: dict[str, Any] | None = None, needs_approval: bool | Callable[[dict[str, Any], Any], bool] = False,
    idempotent: bool = False,
) -> Any:
    """Decorator: ``@tool`` or ``@tool(name=..., parameters={...})`` makes a :class:`FunctionTool`.

    ``needs_approval`` (True or ``fn(arguments, ctx) -> bool``) and ``idempotent``: see
    :class:`BaseTool` and ``docs/runs.md``."""

    def wrap(f: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(name=name or f.__name__, fn=f, spec=parameters or {}, text=description,
                            config=AgentConfig(description=description), needs_approval=needs_approval,
                            idempotent=idempotent)

    return wrap(fn) if fn is not None else wrap


@attrs.define(eq=False, kw_only=True)
class AgentTool(BaseTool):
    """Another agent used as a tool: its ``input`` argument becomes the agent's input."""

    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"input": {"type": "string", "description": "what to ask the agent"}},
        "required": ["input"],
    }
    agent: BaseAgent = attrs.field(repr=False)

    @classmethod
    def of(cls, agent: BaseAgent, name: str | None = None) -> AgentTool:
        """``agent`` as a tool named ``name`` (default: the agent's name)."""
        return cls(name=name or agent.name, agent=agent, manager=agent.manager)

    @property
    def description(self) -> str:
        return self.agent.description or f"ask the {self.agent.name} agent"

    async def invoke(self, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        manager = self.agent.manager
        if manager is None:
            raise ValidationError(f"agent {self.agent.name!r} is not bound to a kernel")
        output = await manager.chain(self.agent, AgentRequest.of(arguments["input"]), ctx)
        return output.content
