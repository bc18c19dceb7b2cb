"""Artifacts: the contract of the artifact service, blob stores, indexes and codecs."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["ArtifactService", "BlobStore", "ArtifactIndex", "Codec"]


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed blob storage."""

    async def close(self) -> None: ...


@runtime_checkable
class ArtifactIndex(Protocol):
    """Artifact metadata: versions, ownership, grants, reference counts."""

    async def close(self) -> None: ...


@runtime_checkable
class Codec(Protocol):
    """A reversible transformation of blob bytes (compression, encryption)."""

    name: str


@runtime_checkable
class ArtifactService(Protocol):
    """Versioned, scoped binary artifacts (``kernel.artifacts``)."""

    async def save(self, name: str, data: Any, **options: Any) -> Any: ...

    async def load(self, ref: Any, **options: Any) -> bytes: ...
