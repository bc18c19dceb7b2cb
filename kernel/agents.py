"""Agents: the contract of the agent service and of model providers."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["AgentService", "ModelProvider", "StatefulAgent"]


@runtime_checkable
class StatefulAgent(Protocol):
    """What the state plugin needs of an agent to persist it between runs and processes.

    ``name`` is the stable identity its state is stored under (the ``agent`` scope).
    """

    name: str

    def snapshot_state(self) -> dict[str, Any]:
        """The agent's own state as JSON-safe data."""
        ...

    def restore_state(self, state: dict[str, Any]) -> None:
        """Take back a snapshot made by :meth:`snapshot_state`."""
        ...


@runtime_checkable
class ModelProvider(Protocol):
    """Chat completion with tool calls and streaming."""


@runtime_checkable
class AgentService(Protocol):
    """Agent factory, registry and runner (``kernel.agents``)."""

    def create(self, type_name: str, /, **config: Any) -> Any: ...

    async def run(self, agent: Any, input: Any, **options: Any) -> Any: ...
