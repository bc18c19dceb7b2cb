"""The SPI of the state capability: everything its backend authors implement or need.

Backends (the defaults here, ``llmspell.contrib`` and third-party packages) import from
this module and from :mod:`llmspell.plugins.state.api`, never from the plugin's
implementation modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

__all__ = [
    "Record",
    "Put",
    "Delete",
    "WriteOp",
    "CasResult",
    "BatchResult",
    "StateBackend",
]


@attrs.frozen
class Record:
    """One stored key: its JSON bytes (the service's envelope) and its version."""

    key: str
    data: bytes
    version: int


@attrs.frozen
class Put:
    """Write ``data`` under ``key`` if ``expected_version`` holds (see the module doc).

    ``version`` forces the new version (used when importing a scope with its versions);
    ``None`` makes it the current version plus one.
    """

    key: str
    data: bytes
    expected_version: int | None = None
    version: int | None = None


@attrs.frozen
class Delete:
    """Remove ``key`` if ``expected_version`` holds; deleting a missing key is not an error."""

    key: str
    expected_version: int | None = None


WriteOp = Put | Delete


@attrs.frozen
class CasResult:
    """The outcome of one conditional write.

    On success ``ok`` is true, ``version`` is the new version (``None`` after a delete)
    and ``previous_version`` the version it replaced (``None`` for a new key). On a
    conflict ``ok`` is false, ``previous_version`` is the key's current version and
    ``current`` its current record (``None`` if it does not exist); nothing was written.
    """

    ok: bool
    version: int | None = None
    previous_version: int | None = None
    current: Record | None = None


@attrs.frozen
class BatchResult:
    """The outcome of an atomic batch: one :class:`CasResult` per operation when ``ok``.

    When an expectation fails, ``ok`` is false, nothing was written, ``failed`` is the
    index of the first failing operation and ``conflict`` its failed :class:`CasResult`.
    """

    ok: bool
    results: tuple[CasResult, ...] = ()
    failed: int | None = None
    conflict: CasResult | None = None


@runtime_checkable
class StateBackend(Protocol):
    """Versioned key/value storage of JSON bytes on flat string keys.

    Every method is atomic on its own; :meth:`batch` is atomic as a whole. ``persistent``
    says whether data outlives the process (``memory`` does not). A backend that shares a
    server with others isolates itself by a key prefix of its own configuration.
    """

    name: str
    persistent: bool

    async def open(self) -> None:
        """Connect or open files; called from ``llmspell_startup``."""

    async def close(self) -> None:
        """Release connections and files; called from ``llmspell_shutdown``."""

    async def get(self, key: str) -> Record | None: ...

    async def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        """The records of those ``keys`` that exist (one round trip where possible)."""
        ...

    async def compare_and_set(
        self, key: str, data: bytes, expected_version: int | None = None
    ) -> CasResult: ...

    async def delete(self, key: str, expected_version: int | None = None) -> CasResult: ...

    async def scan(self, prefix: str, *, after: str | None = None, limit: int = 500) -> list[Record]:
        """Records whose key starts with ``prefix``, in key order, strictly after ``after``."""
        ...

    async def batch(self, ops: Sequence[WriteOp]) -> BatchResult:
        """Apply every operation or none of them."""
        ...
