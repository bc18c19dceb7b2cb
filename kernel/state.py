"""State: the contract of the state service and of state backends.

The state service (``kernel.state``) is provided by a plugin (the default one is
``llmspell.plugins.state``); its storage is a :class:`StateBackend` chosen by name with
``[state] backend = "..."``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["StateService", "StateBackend"]


@runtime_checkable
class StateBackend(Protocol):
    """Versioned key/value storage of JSON bytes."""

    async def close(self) -> None: ...


@runtime_checkable
class StateService(Protocol):
    """Scoped, versioned state: ``kernel.state.scope("user", "u1").get("theme")``."""

    def scope(self, kind: str, owner: str | None = None) -> Any: ...
