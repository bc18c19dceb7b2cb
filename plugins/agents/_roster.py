"""The live agents of one agent service, by name, with the limits each runs under.

The service adds the agents its factory creates; the runner finds agents by name (for
handoffs and agents calling agents) and reads their limits. An agent built outside the
factory gets its limits when it first runs (:meth:`Roster.limit`).
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from llmspell.errors import UnknownNameError

from ._lifecycle import Limits

if TYPE_CHECKING:
    from ._lifecycle import AgentsSettings
    from .api import BaseAgent

__all__ = ["Roster"]


class Roster:
    """Live agents by name (``agents``) and their effective limits by agent id (``limits``)."""

    def __init__(self, settings: AgentsSettings) -> None:
        self.settings = settings
        self.agents: dict[str, BaseAgent] = {}
        self.limits: dict[str, Limits] = {}

    def add(self, agent: BaseAgent) -> None:
        self.agents[agent.name] = agent
        self.limits[agent.id] = Limits.of(agent, self.settings)

    def forget(self, agent: BaseAgent) -> None:
        self.agents.pop(agent.name, None)
        self.limits.pop(agent.id, None)

    def limit(self, agent: BaseAgent) -> Limits:
        """The limits of ``agent`` (its config over ``[agents]``), computed again and kept."""
        limits = self.limits[agent.id] = Limits.of(agent, self.settings)
        return limits

    def get(self, name: str) -> BaseAgent:
        """A live agent by name, or by id."""
        found = self.agents.get(name)
        if found is not None:
            return found
        for agent in self.agents.values():
            if agent.id == name:
                return agent
        raise UnknownNameError("agent", name, self.agents)

    def resolve(self, agent: BaseAgent | str) -> BaseAgent:
        return self.get(agent) if isinstance(agent, str) else agent

    def fresh_name(self, base: str) -> str:
        n = 1
        while f"{base}-{n}" in self.agents:
            n += 1
        return f"{base}-{n}"

    def find(self, *, capability: str | None = None, type: str | None = None) -> builtins.list[BaseAgent]:
        """Live agents having ``capability`` and/or of agent type ``type``."""
        return [
            a for a in self.agents.values()
            if (capability is None or capability in a.capabilities) and (type is None or a.type_name == type)
        ]
