"""The base agent: identity, config, lifecycle status, callbacks, limits and helpers.

Subclass :class:`BaseAgent`, give it an attrs ``Config`` (subclass of
:class:`AgentConfig`) and implement :meth:`BaseAgent.execute`. The service owns the
lifecycle: an agent never moves its own :attr:`~BaseAgent.status`. Dependencies are
injected by the factory into fields declared with :func:`inject` (a service protocol,
:class:`~llmspell.plugins.agents.backend.ModelProvider`, tools, other agents), never looked up globally.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from llmspell.context import ExecutionContext
from llmspell.errors import ValidationError
from llmspell.hooks import CallbackSet
from llmspell.ids import new_id
from llmspell.plugins.agents.api import (
    AgentOutput,
    AgentRequest,
    AgentStatus,
    Message,
    ModelResponse,
    ToolSpec,
)
from llmspell.plugins.agents.backend import ModelProvider

if TYPE_CHECKING:
    from .service import AgentManager

__all__ = ["AgentConfig", "BaseAgent", "inject", "INJECT"]

INJECT = "llmspell.inject"


def inject(kind: Any, **kwargs: Any) -> Any:
    """Declare a dependency field: the factory fills it with the ``kind`` it has.

    ``kind`` is a service protocol (``StateService``, ``ArtifactService`` ...), or
    ``ModelProvider`` (the provider named by ``config.provider``), or ``"tools"`` (the
    tools named by ``config.tools``), or ``"agents"`` (agents named by ``config.agents``).
    """
    if "factory" not in kwargs:
        kwargs.setdefault("default", None)
    return attrs.field(metadata={INJECT: kind}, repr=False, **kwargs)


@attrs.frozen
class AgentConfig:
    """Settings every agent type accepts; a type's own ``Config`` subclasses this."""

    description: str = ""
    """What the agent does, shown by ``llmspell agents list`` and used for discovery."""
    capabilities: list[str] = attrs.Factory(list)
    """Capabilities to find the agent by, besides its type's and its tools'."""
    provider: str | None = None
    """Model provider name; None takes ``[agents] provider``."""
    model: str | None = None
    """Model name passed to the provider; None: the provider's default."""
    system: str = ""
    """System prompt sent before the conversation."""
    tools: list[str] = attrs.Factory(list)
    """Tools (or agents, as tools) this agent may call, by name."""
    agents: list[str] = attrs.Factory(list)
    """Other agents this one may call or hand off to, by name."""
    max_concurrent_runs: int | None = None
    """At most this many runs at once (None: ``[agents] max_concurrent_runs``)."""
    deadline: float | None = None
    """Seconds one run may take (None: ``[agents] deadline``; 0: no deadline)."""
    max_tool_calls: int | None = None
    """Tool calls allowed in one run (None: ``[agents] max_tool_calls``)."""
    state_schema: int = 1
    """Schema version of the handoff state this agent accepts and passes on."""

    def __attrs_post_init__(self) -> None:
        for field in ("max_concurrent_runs", "max_tool_calls"):
            value = getattr(self, field)
            if value is not None and value < 1:
                raise ValueError(f"{field} must be at least 1, got {value}")
        if self.deadline is not None and self.deadline < 0:
            raise ValueError(f"deadline must be >= 0 seconds, got {self.deadline}")


@attrs.define(eq=False, kw_only=True)
class BaseAgent:
    """An agent: ``name``, ``description``, ``capabilities``, ``config`` and ``execute``.

    Implements :class:`~llmspell.plugins.agents.api.StatefulAgent` through :attr:`memory`: whatever
    an agent keeps there is snapshotted after each run and at shutdown by the state
    plugin, and restored when it initializes, in this process or the next.
    """

    Config: ClassVar[type[AgentConfig]] = AgentConfig
    type_name: ClassVar[str] = "base"
    default_capabilities: ClassVar[tuple[str, ...]] = ()

    name: str
    config: AgentConfig = attrs.field(factory=AgentConfig)
    id: str = attrs.field(factory=new_id)
    memory: dict[str, Any] = attrs.field(factory=dict, repr=False)
    callbacks: CallbackSet = attrs.field(factory=lambda: CallbackSet("agent", observe=True), repr=False)
    status: AgentStatus = attrs.field(default=AgentStatus.CREATED, init=False)
    provider: ModelProvider | None = inject(ModelProvider)  # noqa: RUF009
    tools: dict[str, Any] = inject("tools", factory=dict)  # noqa: RUF009
    peers: dict[str, Any] = inject("agents", factory=dict)  # noqa: RUF009
    manager: AgentManager | None = attrs.field(default=None, repr=False)

    @property
    def description(self) -> str:
        return self.config.description or (type(self).__doc__ or "").strip().split("\n")[0]

    @property
    def capabilities(self) -> frozenset[str]:
        tools = ("tools",) if self.tools else ()
        return frozenset((*self.default_capabilities, *self.config.capabilities, *tools))

    # -- what subclasses implement --------------------------------------------------

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput:
        """Do the work. Must be overridden."""
        raise NotImplementedError(f"{type(self).__name__} does not implement execute()")

    def validate_input(self, request: AgentRequest) -> None:
        """Raise :class:`~llmspell.errors.ValidationError` for input this agent refuses."""
        if request.input is None or request.input == "":
            raise ValidationError(f"agent {self.name!r} needs non-empty input")

    async def handle_error(
        self, error: Exception, request: AgentRequest, ctx: ExecutionContext
    ) -> AgentOutput | None:
        """Turn an error of :meth:`execute` into an output, or None to let it propagate."""
        return None

    async def on_initialize(self, ctx: ExecutionContext) -> None:
        """Acquire resources (called while ``initializing``, after state is restored)."""

    async def on_shutdown(self, ctx: ExecutionContext) -> None:
        """Release resources (called while ``stopping``, before state is snapshotted)."""

    def accepts(self, state_schema: int) -> bool:
        """Whether handoff state at ``state_schema`` can be taken as is."""
        return state_schema == self.config.state_schema

    # -- StatefulAgent ----------------------------------------------------------------

    def snapshot_state(self) -> dict[str, Any]:
        return {"memory": dict(self.memory)} if self.memory else {}

    def restore_state(self, state: dict[str, Any]) -> None:
        memory = state.get("memory")
        if isinstance(memory, dict):
            self.memory = dict(memory)

    # -- helpers: every call goes through the service's hook points ---------------------

    def _manager(self) -> AgentManager:
        if self.manager is None:
            raise ValidationError(
                f"agent {self.name!r} is not bound to a kernel: create it with kernel.agents.create(...)"
            )
        return self.manager

    def tool_specs(self) -> tuple[ToolSpec, ...]:
        return tuple(
            ToolSpec(t.name, t.description, t.parameters) for t in self.tools.values()
        )

    async def model(
        self,
        messages: list[Message] | tuple[Message, ...],
        ctx: ExecutionContext,
        *,
        tools: tuple[ToolSpec, ...] | None = None,
        **options: Any,
    ) -> ModelResponse:
        """Ask this agent's model provider, through the ``model`` hook points."""
        return await self._manager().call_model(self, tuple(messages), ctx, tools=tools, **options)

    async def call_tool(self, name: str, arguments: Mapping[str, Any], ctx: ExecutionContext) -> Any:
        """Call one of this agent's tools, validated, counted and through the ``tool`` points."""
        return await self._manager().call_tool(self, name, dict(arguments), ctx)

    async def call_agent(self, name: str, input: Any, ctx: ExecutionContext) -> AgentOutput:
        """Run another agent as a sub-call (its own lifecycle, limits and hook points)."""
        return await self._manager().run_child(self, name, input, ctx)

    def report(self, kind: str, data: Any = None) -> None:
        """Send a :class:`~llmspell.plugins.agents.api.RunEvent` to a streaming caller, if any."""
        if self.manager is not None:
            self.manager.report(kind, self.name, data)

    async def stream_text(self, text: str) -> AsyncIterator[str]:
        """Yield ``text`` in word-sized pieces (for agents with no model to stream)."""
        for word in text.split(" "):
            yield word + " "

    def messages(self, request: AgentRequest) -> list[Message]:
        """System prompt, the history handed over, then the request as a user message."""
        out = [Message.system(self.config.system)] if self.config.system else []
        out += list(request.history)
        out.append(Message.user(request.text))
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.status.value}>"
