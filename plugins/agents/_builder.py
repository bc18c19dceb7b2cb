"""The fluent agent builder, and agents built from TOML/YAML spec files.

Builder::

    agent = (kernel.agents.builder("chat", "helper")
             .system("You are helpful.").tools("calculator", my_tool)
             .limits(max_tool_calls=5, deadline=30).on("model_after", log).build())

Spec file (TOML; YAML with the same shape when PyYAML is installed)::

    [[agent]]
    name = "triage"
    type = "tool"               # a registered type or "module:Class"
    system = "Route the user."
    agents = ["billing"]        # created first, whatever the order in the file

    [[agent]]
    name = "billing"
    type = "chat"

Every key besides ``name`` and ``type`` is the agent's config, validated against its
type's ``Config`` class; errors name the file, the agent and the bad field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from llmspell.errors import ConfigError, MissingExtraError

if TYPE_CHECKING:
    from .api import BaseAgent

__all__ = ["AgentBuilder", "Factory", "plan_spec", "read_spec"]


class Factory(Protocol):
    """What the builder uses of the agent service."""

    def create(self, type_name: Any, /, name: str | None = None, **config: Any) -> BaseAgent: ...

    def get(self, name: str) -> BaseAgent: ...

    def tool(self, name: str) -> Any: ...


class AgentBuilder:
    """Collects a type, a name, config and dependencies; :meth:`build` validates and creates."""

    def __init__(self, manager: Factory, type_name: Any, name: str | None = None) -> None:
        self._manager = manager
        self._type = type_name
        self._name = name
        self._config: dict[str, Any] = {}
        self._tools: dict[str, Any] = {}
        self._peers: dict[str, Any] = {}
        self._deps: dict[str, Any] = {}
        self._callbacks: list[tuple[str, Callable[..., Any], int]] = []

    def name(self, name: str) -> AgentBuilder:
        self._name = name
        return self

    def description(self, text: str) -> AgentBuilder:
        return self.config(description=text)

    def capabilities(self, *names: str) -> AgentBuilder:
        return self.config(capabilities=[*self._config.get("capabilities", []), *names])

    def system(self, prompt: str) -> AgentBuilder:
        return self.config(system=prompt)

    def model(self, model: str) -> AgentBuilder:
        return self.config(model=model)

    def provider(self, provider: Any) -> AgentBuilder:
        """A provider name, or a provider object to use directly."""
        if isinstance(provider, str):
            return self.config(provider=provider)
        self._deps["provider"] = provider
        return self

    def tools(self, *tools: Any) -> AgentBuilder:
        """Tool names (registered tools or live agents), tool objects, or agents."""
        from llmspell.plugins.tools.api import AgentTool, BaseTool

        from .api import BaseAgent

        for item in tools:
            if isinstance(item, str):
                self._tools[item] = self._manager.tool(item)
            elif isinstance(item, BaseAgent) and not isinstance(item, BaseTool):
                self._tools[item.name] = AgentTool.of(item)
            else:
                self._tools[item.name] = item
        return self

    def agents(self, *agents: Any) -> AgentBuilder:
        """Agents (names or instances) this one may call or hand off to."""
        for item in agents:
            agent = self._manager.get(item) if isinstance(item, str) else item
            self._peers[agent.name] = agent
        return self

    def limits(self, *, max_concurrent_runs: int | None = None, deadline: float | None = None,
               max_tool_calls: int | None = None) -> AgentBuilder:
        given = {"max_concurrent_runs": max_concurrent_runs, "deadline": deadline, "max_tool_calls": max_tool_calls}
        return self.config(**{k: v for k, v in given.items() if v is not None})

    def config(self, **values: Any) -> AgentBuilder:
        self._config.update(values)
        return self

    def on(self, point: str, fn: Callable[..., Any], *, priority: int = 0) -> AgentBuilder:
        """A per-agent callback (observes ``point`` for this agent's calls only)."""
        self._callbacks.append((point, fn, priority))
        return self

    def build(self) -> BaseAgent:
        config = dict(self._config)
        deps = dict(self._deps)
        if self._tools:
            config["tools"] = [*config.get("tools", []), *(n for n in self._tools if n not in config.get("tools", []))]
            deps["tools"] = {**{n: self._manager.tool(n) for n in config["tools"] if n not in self._tools}, **self._tools}
        if self._peers:
            config["agents"] = [*config.get("agents", []), *(n for n in self._peers if n not in config.get("agents", []))]
            deps["peers"] = {**{n: self._manager.get(n) for n in config["agents"] if n not in self._peers}, **self._peers}
        agent = self._manager.create(self._type, name=self._name, deps=deps, **config)
        for point, fn, priority in self._callbacks:
            agent.callbacks.on(point, fn, priority=priority)
        return agent


def read_spec(source: str | Path | Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The agent tables of a spec file or mapping, and a label for error messages."""
    if isinstance(source, Mapping):
        data, label = dict(source), "agent spec"
    else:
        path = Path(source)
        label = str(path)
        if not path.is_file():
            raise ConfigError(["file does not exist"], source=label)
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            try:
                import yaml  # type: ignore[import-untyped,unused-ignore]
            except ImportError:
                raise MissingExtraError("reading YAML agent specs", "yaml", "pyyaml") from None
            try:
                data = yaml.safe_load(text) or {}
            except yaml.YAMLError as exc:
                raise ConfigError([f"not valid YAML: {exc}"], source=label) from None
        else:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError([f"not valid TOML: {exc}"], source=label) from None
    tables = data.get("agent", data.get("agents"))
    if not isinstance(tables, list) or not all(isinstance(t, Mapping) for t in tables):
        raise ConfigError(["expected a list of [[agent]] tables, each with name and type"], source=label)
    return [dict(t) for t in tables], label


def plan_spec(source: str | Path | Mapping[str, Any]) -> tuple[list[tuple[str, str, dict[str, Any]]], str]:
    """The agents of a spec in the order to create them, dependencies (``agents = [...]``)
    first: ``(name, type, config)`` each; and a label for error messages."""
    tables, label = read_spec(source)
    problems = []
    by_name: dict[str, dict[str, Any]] = {}
    for i, table in enumerate(tables):
        name, type_name = table.get("name"), table.get("type")
        if not isinstance(name, str) or not isinstance(type_name, str):
            problems.append(f"agent[{i}]: needs a string 'name' and 'type'")
        elif name in by_name:
            problems.append(f"agent[{i}]: name {name!r} appears twice")
        else:
            by_name[name] = table
    if problems:
        raise ConfigError(problems, source=label)
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order or name not in by_name:
            return
        if name in visiting:
            raise ConfigError([f"agent {name!r}: its agents refer back to it (a cycle)"], source=label)
        visiting.add(name)
        for dep in [*by_name[name].get("agents", []), *by_name[name].get("tools", [])]:
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in by_name:
        visit(name)
    plan = []
    for name in order:
        table = dict(by_name[name])
        type_name = table.pop("type")
        table.pop("name")
        plan.append((name, type_name, table))
    return plan, label
