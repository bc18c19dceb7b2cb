"""The agent service (``kernel.agents``): factory, registry of types and live agents, lifecycle.

:class:`AgentManager` is the factory and the public face; it owns the parts that do the
rest and hands its methods to them: the live agents (:mod:`.roster`), their lifecycle
(:mod:`.lifecycle`), running and streaming (:mod:`.runner`), model and tool calls
(:mod:`.calls`), committing outputs (:mod:`.commit`) and handoffs (:mod:`.handoff`). The
fluent builder and spec files are in :mod:`.builder`.
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from cattrs.errors import BaseValidationError

from llmspell import serde
from llmspell.context import ExecutionContext
from llmspell.errors import ConfigError, DuplicateNameError, UnknownNameError, ValidationError
from llmspell.plugins.agents.api import (
    AgentOutput,
    AgentRequest,
    AgentStatus,
    Message,
    ModelResponse,
    RunEvent,
    ToolSpec,
)
from llmspell.plugins.agents.backend import ModelProvider

from ._builder import AgentBuilder, plan_spec
from ._calls import Calls, report
from ._commit import Committer
from ._handoff import Handoffs
from ._lifecycle import AgentInitError, AgentsSettings, Lifecycle, Limits
from ._roster import Roster
from ._runner import Runner
from .api import INJECT, AgentConfig, BaseAgent

if TYPE_CHECKING:
    from llmspell import Kernel

__all__ = ["AgentManager", "AgentInitError", "load_class"]


def load_class(target: str) -> type[BaseAgent]:
    """Import ``module:Class`` and check that it is an agent class."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValidationError(f"agent type {target!r} is neither a registered name nor 'module:Class'")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(f"cannot load agent type {target!r}: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, BaseAgent)):
        raise ValidationError(f"{target!r} is not an agent class (a subclass of BaseAgent)")
    return cls


class AgentManager:
    """Creates, finds, starts, runs and stops agents for one kernel."""

    def __init__(self, kernel: Kernel, settings: AgentsSettings) -> None:
        self.kernel = kernel
        self.settings = settings
        self.types = kernel.registry("agent_type")
        self.roster = Roster(settings)
        self.lifecycle = Lifecycle(kernel, settings)
        self.calls = Calls(kernel, settings)
        self.handoffs = Handoffs(kernel, settings)
        self.committer = Committer(kernel.services)
        self.runner = Runner(kernel, settings, self.roster, self.lifecycle, self.handoffs, self.committer, self.adopt)
        self._tools: dict[str, Any] = {}

    # -- types -------------------------------------------------------------------------

    def agent_class(self, type_name: str | type[BaseAgent]) -> type[BaseAgent]:
        """A registered type by name, a ``module:Class`` string, or a class."""
        if isinstance(type_name, type):
            if not issubclass(type_name, BaseAgent):
                raise ValidationError(f"{type_name!r} is not a subclass of BaseAgent")
            return type_name
        found = self.types.find(type_name)
        if found is not None:
            return found
        if ":" in type_name:
            return load_class(type_name)
        raise UnknownNameError("agent_type", type_name, (str(n) for n in self.types.names()))

    def register_type(self, name: str, cls: type[BaseAgent], description: str = "") -> None:
        """Register an agent type at run time (plugins use ``llmspell_register_agent_types``)."""
        self.types.add(name, self.agent_class(cls), plugin="<runtime>", description=description)

    # -- factory -------------------------------------------------------------------------

    def validate_config(self, cls: type[BaseAgent], config: Mapping[str, Any], where: str) -> AgentConfig:
        """Structure ``config`` into ``cls.Config``; every problem listed with its path."""
        try:
            return serde.structure(dict(config), cls.Config)
        except BaseValidationError as exc:
            raise ConfigError(serde.describe_structure_error(exc, ""), source=where) from None
        except (TypeError, ValueError) as exc:
            raise ConfigError([str(exc)], source=where) from None

    def create(self, type_name: str | type[BaseAgent], /, name: str | None = None, **config: Any) -> BaseAgent:
        """Build an agent of ``type_name`` named ``name`` with validated ``config``.

        Objects for dependencies may be passed as ``deps={"provider": p, "tools": {...}}``.
        """
        deps: dict[str, Any] = config.pop("deps", None) or {}
        cls = self.agent_class(type_name)
        label = cls.type_name if isinstance(type_name, type) else type_name
        name = name or self.roster.fresh_name(cls.type_name)
        if not isinstance(name, str) or not name.strip() or len(name) > 128:
            raise ValidationError(f"agent name must be a non-empty string of at most 128 characters, got {name!r}")
        live = self.roster.agents
        if name in live:
            raise DuplicateNameError("agent", name, f"live agent {live[name].id}", "a new create()")
        cfg = self.validate_config(cls, config, f"agent {name!r} of type {label!r}")
        agent = cls(name=name, config=cfg, manager=self, **self._inject(cls, cfg, deps, name))
        self.roster.add(agent)
        self.lifecycle.announce(agent, label)
        return agent

    def adopt(self, agent: BaseAgent) -> Limits:
        """Bind an agent built outside the factory (a tool, a hand-made instance) to this service."""
        if agent.manager is None:
            agent.manager = self
        return self.roster.limit(agent)

    def builder(self, type_name: str | type[BaseAgent], name: str | None = None) -> AgentBuilder:
        """A fluent builder: ``kernel.agents.builder("chat", "helper").system("...").build()``."""
        return AgentBuilder(self, type_name, name)

    def from_spec(self, spec: str | Any) -> builtins.list[BaseAgent]:
        """Create the agents described by a TOML/YAML file or mapping (see ``docs/agents.md``),
        each agent after the agents it names."""
        plan, label = plan_spec(spec)
        created = []
        for name, type_name, config in plan:
            try:
                created.append(self.create(type_name, name=name, **config))
            except ConfigError as exc:
                raise ConfigError([f"agent {name!r}: {p}" for p in exc.problems], source=label) from None
        return created

    def _inject(self, cls: type[BaseAgent], cfg: AgentConfig, deps: Mapping[str, Any], name: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in attrs.fields(cls):
            kind = field.metadata.get(INJECT)
            if kind is None:
                continue
            if field.name in deps:
                out[field.name] = deps[field.name]
            elif kind is ModelProvider:
                out[field.name] = self.provider(cfg.provider)
            elif kind == "tools":
                out[field.name] = {t: self.tool(t) for t in cfg.tools}
            elif kind == "agents":
                out[field.name] = {a: self.get(a) for a in cfg.agents}
            else:
                out[field.name] = self.kernel.services.find(kind)
        return out

    # -- providers and tools ---------------------------------------------------------------

    def provider(self, name: str | None = None) -> ModelProvider:
        """The model provider ``name`` (default: ``[agents] provider``), built once per kernel."""
        return self.calls.provider(name)

    def tool(self, name: str) -> Any:
        """A registered tool by name, or a live agent wrapped as a tool."""
        if name in self._tools:
            return self._tools[name]
        registry = self.kernel.registry("tool")
        live = self.roster.agents
        if name in registry:
            value = registry.get(name)
            tool = value if hasattr(value, "invoke") else value(self.kernel)
        elif name in live:
            from llmspell.plugins.tools.api import AgentTool

            tool = AgentTool.of(live[name])
        else:
            known = [str(n) for n in registry.names()] + list(live)
            raise UnknownNameError("tool", name, known)
        self._tools[name] = tool
        return tool

    def add_tool(self, tool: Any) -> None:
        """Make a tool object available by its name to agents created afterwards."""
        if tool.name in self._tools or tool.name in self.kernel.registry("tool"):
            raise DuplicateNameError("tool", tool.name, "an earlier registration", "add_tool()")
        self._tools[tool.name] = tool

    # -- registry of live agents ------------------------------------------------------------

    def get(self, name: str) -> BaseAgent:
        """A live agent by name, or by id."""
        return self.roster.get(name)

    def resolve(self, agent: BaseAgent | str) -> BaseAgent:
        return self.roster.resolve(agent)

    def list(self) -> list[BaseAgent]:
        return list(self.roster.agents.values())

    def find(self, *, capability: str | None = None, type: str | None = None) -> builtins.list[BaseAgent]:
        """Live agents having ``capability`` and/or of agent type ``type``."""
        return self.roster.find(capability=capability, type=type)

    def describe(self, agents: Iterable[BaseAgent] | None = None) -> builtins.list[dict[str, Any]]:
        """Plain data about live agents (for the CLI and the demo)."""
        return [
            {"name": a.name, "id": a.id, "type": a.type_name, "status": a.status.value,
             "capabilities": sorted(a.capabilities), "tools": sorted(a.tools), "description": a.description}
            for a in (self.roster.agents.values() if agents is None else agents)
        ]

    # -- lifecycle (see .lifecycle) -----------------------------------------------------------

    async def initialize(self, agent: BaseAgent | str, ctx: ExecutionContext | None = None) -> BaseAgent:
        """created/stopped/failed -> initializing -> ready: restore state, acquire resources."""
        return await self.lifecycle.initialize(self.resolve(agent), ctx)

    async def pause(self, agent: BaseAgent | str) -> None:
        """ready -> paused: new runs are refused until :meth:`resume`."""
        await self.lifecycle.pause(self.resolve(agent))

    async def resume(self, agent: BaseAgent | str) -> None:
        await self.lifecycle.resume(self.resolve(agent))

    async def stop(self, agent: BaseAgent | str, ctx: ExecutionContext | None = None, *, timeout: float = 30.0) -> None:
        """Stop an agent: wait for its runs, snapshot its state, release its resources."""
        await self.lifecycle.stop(self.resolve(agent), ctx, timeout=timeout)

    async def remove(self, agent: BaseAgent | str) -> None:
        """Stop an agent and forget it (its persisted state stays)."""
        agent = self.resolve(agent)
        if agent.status not in (AgentStatus.STOPPED, AgentStatus.FAILED):
            await self.stop(agent)
        self.roster.forget(agent)

    async def shutdown(self) -> None:
        """Stop every live agent (the kernel is stopping); errors are logged, not raised."""
        await self.lifecycle.stop_all(builtins.list(self.roster.agents.values()))
        await self.calls.close()
        self.runner.unbind()
        self.calls.unbind()

    # -- running (see .runner) ------------------------------------------------------------------

    async def run(
        self,
        agent: BaseAgent | str,
        input: Any,
        *,
        session: Any = None,
        session_id: str | None = None,
        user_id: str | None = None,
        ctx: ExecutionContext | None = None,
        timeout: float | None = None,
        **fields: Any,
    ) -> AgentOutput:
        """Run ``agent`` (instance or name) on ``input``; follow its handoffs; return the output."""
        return await self.runner.run(agent, input, session=session, session_id=session_id, user_id=user_id,
                                     ctx=ctx, timeout=timeout, **fields)

    def stream(self, agent: BaseAgent | str, input: Any, **options: Any) -> AsyncIterator[RunEvent]:
        """Like :meth:`run`, yielding :class:`RunEvent` s as they happen; the last is ``done``."""
        return self.runner.stream(agent, input, **options)

    async def chain(self, agent: BaseAgent, request: AgentRequest, ctx: ExecutionContext, *,
                    fresh: bool = False) -> AgentOutput:
        """Run ``agent`` and the agents it hands off to (see :meth:`.Runner.chain`)."""
        return await self.runner.chain(agent, request, ctx, fresh=fresh)

    async def run_child(self, parent: BaseAgent, name: str, input: Any, ctx: ExecutionContext) -> AgentOutput:
        """Run another agent from inside ``parent``'s run (agents calling agents)."""
        return await self.runner.run_child(parent, name, input, ctx)

    async def run_one(self, agent: BaseAgent, request: AgentRequest, ctx: ExecutionContext, *,
                      fresh: bool = False, parent: str | None = None) -> AgentOutput:
        """One execution of one agent (see :meth:`.Runner.run_one`)."""
        return await self.runner.run_one(agent, request, ctx, fresh=fresh, parent=parent)

    def report(self, kind: str, agent: str, data: Any = None) -> None:
        """Send a :class:`RunEvent` to the streaming caller of the current run, if any."""
        report(kind, agent, data)

    # -- calls agents make (see .calls) and their outputs (see .commit) ---------------------------

    async def call_model(self, agent: BaseAgent, messages: tuple[Message, ...], ctx: ExecutionContext,
                         *, tools: tuple[ToolSpec, ...] | None = None, **options: Any) -> ModelResponse:
        return await self.calls.call_model(agent, messages, ctx, tools=tools, **options)

    async def call_tool(self, agent: BaseAgent, name: str, arguments: dict[str, Any], ctx: ExecutionContext) -> Any:
        return await self.calls.call_tool(agent, name, arguments, ctx)

    async def invoke_tool(self, tool: Any, arguments: dict[str, Any], ctx: ExecutionContext,
                          *, agent: BaseAgent | None = None) -> Any:
        """Validate ``arguments`` against the tool's schema and run it through the ``tool`` points."""
        return await self.calls.invoke_tool(tool, arguments, ctx, agent=agent)

    async def apply_delta(self, agent: BaseAgent, delta: Mapping[str, Any], ctx: ExecutionContext,
                          handles: dict[tuple[str, str | None], Any] | None = None) -> None:
        """Write a state delta through the state service: every key or none."""
        await self.committer.apply_delta(agent, delta, ctx, handles)

    async def save_artifacts(self, agent: BaseAgent, output: AgentOutput, ctx: ExecutionContext) -> tuple[Any, ...]:
        return await self.committer.save_artifacts(agent, output, ctx)
