"""The agent service (``kernel.agents``): factory, registry of types and live agents, lifecycle.

Running, streaming, model and tool calls live in :mod:`.runner`; handoffs in
:mod:`.handoff`; the fluent builder and spec files in :mod:`.builder`.
"""

from __future__ import annotations

import asyncio
import builtins
import importlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from cattrs.errors import BaseValidationError

from llmspell import serde
from llmspell.errors import ConfigError, DuplicateNameError, UnknownNameError, ValidationError
from llmspell.plugins.agents.backend import ModelProvider

from .api import INJECT, AgentConfig, BaseAgent
from .calls import Calls
from .handoff import Handoffs
from .lifecycle import AgentInitError, AgentsSettings, Lifecycle, Limits
from .runner import Runner

if TYPE_CHECKING:
    from llmspell.kernel import Kernel

    from .builder import AgentBuilder

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


class AgentManager(Lifecycle, Runner, Calls):
    """Creates, finds, starts, runs and stops agents for one kernel."""

    def __init__(self, kernel: Kernel, settings: AgentsSettings) -> None:
        self.kernel = kernel
        self.settings = settings
        self.types = kernel.registry("agent type")
        self.handoffs = Handoffs(self)
        self._agents: dict[str, BaseAgent] = {}
        self._providers: dict[str, ModelProvider] = {}
        self._tools: dict[str, Any] = {}
        self._active: dict[str, int] = {}
        self._limits: dict[str, Limits] = {}
        self._idle: dict[str, asyncio.Event] = {}
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._touched: dict[str, float] = {}
        self._session_users: dict[str, str | None] = {}
        self._recorded: set[tuple[str, str]] = set()

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
        raise UnknownNameError("agent type", type_name, (str(n) for n in self.types.names()))

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
        name = name or self._fresh_name(cls.type_name)
        if not isinstance(name, str) or not name.strip() or len(name) > 128:
            raise ValidationError(f"agent name must be a non-empty string of at most 128 characters, got {name!r}")
        if name in self._agents:
            raise DuplicateNameError("agent", name, f"live agent {self._agents[name].id}", "a new create()")
        cfg = self.validate_config(cls, config, f"agent {name!r} of type {label!r}")
        agent = cls(name=name, config=cfg, manager=self, **self._inject(cls, cfg, deps, name))
        self._agents[name] = agent
        self._limits[agent.id] = Limits.of(agent, self.settings)
        self._announce(agent, label)
        return agent

    def adopt(self, agent: BaseAgent) -> Limits:
        """Bind an agent built outside the factory (a tool, a hand-made instance) to this service."""
        if agent.manager is None:
            agent.manager = self
        limits = self._limits[agent.id] = Limits.of(agent, self.settings)
        return limits

    def _announce(self, agent: BaseAgent, label: str) -> None:
        """Publish ``agent.created`` and run the ``agent_created`` point (in the background:
        ``create`` is synchronous); the agent's initialization waits for both."""
        dispatch = self.kernel.hook.agent_created.active(agent.callbacks)
        if not dispatch and not self.settings.publish:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        async def announce() -> None:
            if self.settings.publish:
                await self.kernel.emit("agent.created", {"agent": agent.name, "agent_id": agent.id, "type": label},
                                       source=f"agent:{agent.name}")
            if dispatch:
                await self.kernel.hook.agent_created(component=agent, agent=agent, extra=agent.callbacks)

        self._pending[agent.id] = loop.create_task(announce())

    def builder(self, type_name: str | type[BaseAgent], name: str | None = None) -> AgentBuilder:
        """A fluent builder: ``kernel.agents.builder("chat", "helper").system("...").build()``."""
        from .builder import AgentBuilder

        return AgentBuilder(self, type_name, name)

    def from_spec(self, spec: str | Any) -> builtins.list[BaseAgent]:
        """Create the agents described by a TOML/YAML file or mapping (see ``docs/agents.md``)."""
        from .builder import load_spec

        return load_spec(self, spec)

    def _fresh_name(self, base: str) -> str:
        n = 1
        while f"{base}-{n}" in self._agents:
            n += 1
        return f"{base}-{n}"

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
        name = name or self.settings.provider
        if name not in self._providers:
            self._providers[name] = self.kernel.create_backend("model provider", name)
        return self._providers[name]

    def tool(self, name: str) -> Any:
        """A registered tool by name, or a live agent wrapped as a tool."""
        if name in self._tools:
            return self._tools[name]
        registry = self.kernel.registry("tool")
        if name in registry:
            value = registry.get(name)
            tool = value if hasattr(value, "invoke") else value(self.kernel)
        elif name in self._agents:
            from llmspell.plugins.tools.api import AgentTool

            tool = AgentTool.of(self._agents[name])
        else:
            known = [str(n) for n in registry.names()] + list(self._agents)
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
        found = self._agents.get(name)
        if found is not None:
            return found
        for agent in self._agents.values():
            if agent.id == name:
                return agent
        raise UnknownNameError("agent", name, self._agents)

    def resolve(self, agent: BaseAgent | str) -> BaseAgent:
        return self.get(agent) if isinstance(agent, str) else agent

    def list(self) -> list[BaseAgent]:
        return list(self._agents.values())

    def find(self, *, capability: str | None = None, type: str | None = None) -> builtins.list[BaseAgent]:
        """Live agents having ``capability`` and/or of agent type ``type``."""
        return [
            a for a in self._agents.values()
            if (capability is None or capability in a.capabilities) and (type is None or a.type_name == type)
        ]

    def describe(self, agents: Iterable[BaseAgent] | None = None) -> builtins.list[dict[str, Any]]:
        """Plain data about live agents (for the CLI and the demo)."""
        return [
            {"name": a.name, "id": a.id, "type": a.type_name, "status": a.status.value,
             "capabilities": sorted(a.capabilities), "tools": sorted(a.tools), "description": a.description}
            for a in (self._agents.values() if agents is None else agents)
        ]
