"""Sessions: the contract of the session manager and of session backends."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["SessionService", "SessionBackend"]


@runtime_checkable
class SessionBackend(Protocol):
    """Storage of session records with compare-and-set."""

    async def close(self) -> None: ...


@runtime_checkable
class SessionService(Protocol):
    """Create, find and move sessions through their lifecycle (``kernel.sessions``)."""

    async def create(self, **fields: Any) -> Any: ...

    async def get(self, session_id: str) -> Any: ...
