"""The public contract of the agents capability: what users and other plugins call.

Agents: the contract between the agent service, agents, tools and model providers.

The default agent service (``kernel.agents``) is provided by ``llmspell.plugins.agents``;
this module holds only the types that cross plugin boundaries:

* chat data for model providers: :class:`Message`, :class:`ToolCall`, :class:`ToolSpec`,
  :class:`ModelRequest`, :class:`ModelResponse`, :class:`ModelChunk`;
* what an agent is asked and answers: :class:`AgentRequest`, :class:`AgentOutput`,
  :class:`ArtifactOutput`, :class:`Handoff`, :class:`RunEvent`;
* the lifecycle: :class:`AgentStatus` and its :data:`TRANSITIONS`;
* protocols: :class:`Agent`, :class:`Tool`, :class:`ModelProvider`,
  :class:`StatefulAgent`, :class:`AgentService`.

Every type here is a frozen attrs class that round-trips through :mod:`llmspell.serde`.
"""

from __future__ import annotations

import abc
import builtins
import enum
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import attrs

from llmspell.context import ExecutionContext
from llmspell.errors import DeadlineExceeded, LlmspellError, ValidationError
from llmspell.ids import new_id
from llmspell.plugins.hooks.api import CallbackSet
from llmspell.plugins.runs.api import PendingItem
from llmspell.services import StashKey

from ._schema import CompiledSchema, compile_schema, config_schema, type_schema, validate_arguments
from .backend import ModelProvider

if TYPE_CHECKING:
    from ._service import AgentManager

__all__ = [
    "AgentConfig",
    "BaseAgent",
    "inject",
    "INJECT",
    "CompiledSchema",
    "compile_schema",
    "config_schema",
    "type_schema",
    "validate_arguments",
    "AgentStatus",
    "TRANSITIONS",
    "ToolCall",
    "Message",
    "ToolSpec",
    "Usage",
    "ModelResponse",
    "AgentRequest",
    "ArtifactOutput",
    "AgentOutput",
    "Handoff",
    "RunEvent",
    "DELETE",
    "Agent",
    "Tool",
    "StatefulAgent",
    "AgentService",
    "MANAGER",
    "ProviderError",
    "ProviderTimeout",
]

#: The agents plugin's manager, in ``kernel.stash``: the ``manager`` that agents and tools
#: built outside that plugin (the tools plugin's built-in tools) run through.
MANAGER: StashKey[AgentManager] = StashKey("agents.manager")


class AgentStatus(enum.StrEnum):
    """Where an agent is in its lifecycle; the service moves it, never the agent."""

    CREATED = "created"
    INITIALIZING = "initializing"
    READY = "ready"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


_S = AgentStatus


#: Allowed lifecycle moves. ``running`` goes back to ``ready`` when the last run ends.
TRANSITIONS: Mapping[AgentStatus, frozenset[AgentStatus]] = {
    _S.CREATED: frozenset({_S.INITIALIZING, _S.STOPPED}),
    _S.INITIALIZING: frozenset({_S.READY, _S.FAILED}),
    _S.READY: frozenset({_S.RUNNING, _S.PAUSED, _S.STOPPING}),
    _S.RUNNING: frozenset({_S.READY, _S.FAILED, _S.STOPPING}),
    _S.PAUSED: frozenset({_S.READY, _S.STOPPING}),
    _S.STOPPING: frozenset({_S.STOPPED, _S.FAILED}),
    _S.STOPPED: frozenset({_S.INITIALIZING}),
    _S.FAILED: frozenset({_S.INITIALIZING, _S.STOPPING, _S.STOPPED}),
}


class ProviderError(LlmspellError):
    """A model provider failed: an HTTP error, a malformed answer, an unreachable server."""


class ProviderTimeout(ProviderError, DeadlineExceeded):
    """A model provider did not answer in time (after its retries)."""


@attrs.frozen
class ToolCall:
    """A model's request to call tool ``name`` with JSON ``arguments``."""

    name: str
    arguments: dict[str, Any] = attrs.Factory(dict)
    id: str = attrs.field(factory=lambda: f"call_{new_id()[-12:]}")


@attrs.frozen
class Message:
    """One chat message. ``role`` is ``system``, ``user``, ``assistant`` or ``tool``."""

    role: str
    content: str = ""
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str = "", tool_calls: tuple[ToolCall, ...] = ()) -> Message:
        return cls("assistant", content, tool_calls=tuple(tool_calls))

    @classmethod
    def tool(cls, call: ToolCall, content: str) -> Message:
        return cls("tool", content, name=call.name, tool_call_id=call.id)


@attrs.frozen
class ToolSpec:
    """What a model is told about a tool: its name, purpose and JSON-Schema parameters."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = attrs.Factory(lambda: {"type": "object", "properties": {}})


@attrs.frozen
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@attrs.frozen
class ModelResponse:
    """A provider's answer: one assistant message (text and/or tool calls)."""

    message: Message
    finish_reason: str = "stop"
    usage: Usage = attrs.Factory(Usage)
    model: str = ""

    @property
    def content(self) -> str:
        return self.message.content

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self.message.tool_calls


@attrs.frozen
class AgentRequest:
    """The input of one agent execution.

    ``input`` is the user's text or structured data; ``state`` is what a handoff passed
    (after the handoff pipeline); ``history`` the messages a previous agent saw.
    """

    input: Any
    state: dict[str, Any] = attrs.Factory(dict)
    history: tuple[Message, ...] = ()
    handoff: Handoff | None = None
    metadata: dict[str, Any] = attrs.Factory(dict)

    @property
    def text(self) -> str:
        """The input as text (structured input as compact JSON)."""
        if isinstance(self.input, str):
            return self.input
        import orjson

        return orjson.dumps(self.input, option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def of(cls, value: Any) -> AgentRequest:
        return value if isinstance(value, AgentRequest) else cls(input=value)


class _Delete:
    """Marks a key for deletion in :attr:`AgentOutput.state_delta`."""

    _instance: _Delete | None = None

    def __new__(cls) -> _Delete:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()


@attrs.frozen
class ArtifactOutput:
    """An artifact an agent produced; the service saves it after the run."""

    name: str
    data: bytes
    content_type: str = "application/octet-stream"
    metadata: dict[str, Any] = attrs.Factory(dict)
    tags: tuple[str, ...] = ()


@attrs.frozen
class AgentOutput:
    """What one agent execution produced.

    ``state_delta`` maps ``"scope:key"`` (scope ``app``, ``user``, ``session``, ``agent``
    or ``temp``; a bare key means ``session``) to a new value or :data:`DELETE`; the
    service applies it through the state service after the run. ``artifacts`` are saved
    through the artifact service and their references returned in ``saved``.
    ``transfer_to`` names an agent to hand off to, with ``handoff_state`` as the state
    it receives (after the handoff pipeline).
    """

    content: str = ""
    data: Any = None
    state_delta: Mapping[str, Any] = attrs.Factory(dict)
    artifacts: tuple[ArtifactOutput, ...] = ()
    transfer_to: str | None = None
    handoff_state: Mapping[str, Any] = attrs.Factory(dict)
    metadata: dict[str, Any] = attrs.Factory(dict)
    agent: str | None = None
    """Filled by the service: the name of the agent that produced this output."""
    saved: tuple[Any, ...] = ()
    """Filled by the service: references of the saved artifacts."""
    trail: tuple[str, ...] = ()
    """Filled by the service: every agent of the handoff chain, in order."""
    status: str = "completed"
    """``completed``, or ``paused`` when the run waits for a person (see :attr:`pending`)."""
    run_id: str | None = None
    """Filled by the runs service: the run (``kernel.resume(run_id, ...)``, ``kernel.runs.get``)."""
    pending: tuple[PendingItem, ...] = ()
    """What a paused run waits for: approvals, questions, calls in doubt (``docs/runs.md``)."""

    def evolve(self, **changes: Any) -> AgentOutput:
        return attrs.evolve(self, **changes)

    def of_run(self, run_id: str, status: str = "completed") -> AgentOutput:
        """This output as run ``run_id``'s (what the runs service returns from ``kernel.run``)."""
        return self.copy(status=status, run_id=run_id)

    def copy(self, *, agent: str | None = None, status: str | None = None, run_id: str | None = None) -> AgentOutput:
        """``evolve`` of the fields every turn sets (the agent's name, the run), three times
        faster: every field passed, no validators or factories run."""
        return AgentOutput(self.content, self.data, self.state_delta, self.artifacts, self.transfer_to,
                           self.handoff_state, self.metadata, self.agent if agent is None else agent, self.saved,
                           self.trail, self.status if status is None else status,
                           self.run_id if run_id is None else run_id, self.pending)


@attrs.frozen
class Handoff:
    """One agent passing work to another; the request of the ``handoff`` hook point.

    Hooks change ``state`` (filter, rename, summarise) through :meth:`evolve` and
    ``call.request = ...``, or in place: ``state`` is a plain dict.
    """

    source: str
    target: str
    input: Any
    state: dict[str, Any] = attrs.Factory(dict)
    schema_version: int = 1
    depth: int = 1
    reason: str = ""

    def evolve(self, **changes: Any) -> Handoff:
        return attrs.evolve(self, **changes)


@attrs.frozen
class RunEvent:
    """One item of a streamed run (``kernel.agents.stream``).

    ``kind``: ``started``, ``delta`` (partial text), ``tool_call``, ``tool_result``,
    ``handoff``, ``finished`` (``data`` is the agent's output) or ``error``.
    """

    kind: str
    agent: str
    data: Any = None


@runtime_checkable
class Agent(Protocol):
    """Anything the service can run: a name and an ``execute``."""

    name: str

    async def execute(self, request: AgentRequest, ctx: ExecutionContext) -> AgentOutput: ...


@runtime_checkable
class Tool(Protocol):
    """A named function with a JSON-Schema parameter spec (tools are agents too)."""

    name: str
    description: str

    @property
    def parameters(self) -> dict[str, Any]: ...

    async def invoke(self, arguments: dict[str, Any], ctx: ExecutionContext) -> Any: ...


class StatefulAgent(abc.ABC):
    """What the state plugin needs of an agent to persist it between runs and processes.

    ``name`` is the stable identity its state is stored under (the ``agent`` scope).
    Structural, like a protocol: any class with ``snapshot_state`` and ``restore_state``
    methods passes ``isinstance(agent, StatefulAgent)`` without inheriting from it. It is
    an ABC rather than a ``typing.Protocol`` because the check runs after every agent
    turn, and ABCs cache it per class (a runtime protocol check costs microseconds).
    """

    name: str

    @abc.abstractmethod
    def snapshot_state(self) -> dict[str, Any]:
        """The agent's own state as JSON-safe data."""

    @abc.abstractmethod
    def restore_state(self, state: dict[str, Any]) -> None:
        """Take back a snapshot made by :meth:`snapshot_state`."""

    @classmethod
    def __subclasshook__(cls, other: type) -> Any:
        if cls is StatefulAgent and all(callable(getattr(other, m, None)) for m in ("snapshot_state", "restore_state")):
            return True
        return NotImplemented


@runtime_checkable
class AgentService(Protocol):
    """Agent factory, registry and runner (``kernel.agents``).

    The default implementation is ``llmspell.plugins.agents.AgentManager``; see
    ``docs/agents.md``. ``kernel.run`` delegates to :meth:`run`.
    """

    def create(self, type_name: Any, /, name: str | None = None, **config: Any) -> Any:
        """Build a live agent of a registered type (or ``module:Class``) with validated config."""
        ...

    def builder(self, type_name: Any, name: str | None = None) -> Any:
        """A fluent builder for an agent of ``type_name``."""
        ...

    def get(self, name: str) -> Any:
        """A live agent by name or id."""
        ...

    def list(self) -> list[Any]:
        """Every live agent."""
        ...

    def find(self, *, capability: str | None = None, type: str | None = None) -> builtins.list[Any]:
        """Live agents with a capability and/or of a type."""
        ...

    def describe(self, agents: Iterable[Any] | None = None) -> builtins.list[dict[str, Any]]:
        """Plain data (name, id, type, status, capabilities, tools, description) about
        ``agents``, or every live agent."""
        ...

    def agent_class(self, type_name: str | type[BaseAgent]) -> type[BaseAgent]:
        """A registered agent type by name, a ``module:Class`` string, or a class (checked)."""
        ...

    def tool(self, name: str) -> Any:
        """A registered tool by name, or a live agent wrapped as a tool."""
        ...

    def add_tool(self, tool: Any) -> None:
        """Make a tool object available by its name to agents created afterwards."""
        ...

    def provider(self, name: str | None = None) -> ModelProvider:
        """The model provider ``name`` (default: ``[agents] provider``), built once per kernel."""
        ...

    def register_type(self, name: str, cls: type[BaseAgent], description: str = "") -> None:
        """Register an agent type at run time (plugins use ``llmspell_register_agent_types``)."""
        ...

    def from_spec(self, spec: Any) -> builtins.list[BaseAgent]:
        """Create the agents described by a TOML/YAML file or mapping, each after the agents it names."""
        ...

    async def run(self, agent: Any, input: Any, **options: Any) -> Any:
        """Run an agent (instance or name) and follow its handoffs; returns an :class:`AgentOutput`."""
        ...

    def stream(self, agent: Any, input: Any, **options: Any) -> AsyncIterator[RunEvent]:
        """Like :meth:`run`, yielding :class:`RunEvent` s as they happen."""
        ...


# -- agents: the base class every agent type extends ------------------------------
# The base agent: identity, config, lifecycle status, callbacks, limits and helpers.
#
# Subclass :class:`BaseAgent`, give it an attrs ``Config`` (subclass of
# :class:`AgentConfig`) and implement :meth:`BaseAgent.execute`. The service owns the
# lifecycle: an agent never moves its own :attr:`~BaseAgent.status`. Dependencies are
# injected by the factory into fields declared with :func:`inject` (a service protocol,
# :class:`~llmspell.plugins.agents.backend.ModelProvider`, tools, other agents), never looked up globally.

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
