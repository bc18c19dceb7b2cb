"""Session-record backends: ``memory`` and ``diskcache`` (the embedded default)."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import TYPE_CHECKING

from llmspell.plugins.sessions.api import Session, SessionPage, SessionQuery
from llmspell.plugins.sessions.backend import StateSessionBackend, conflict, page

if TYPE_CHECKING:
    from llmspell import Kernel
    from llmspell.plugins.state.backend import Record

__all__ = ["MemorySessionBackend", "DiskcacheSessionBackend", "make_memory", "make_diskcache"]

_PREFIX = "session:"


class MemorySessionBackend:
    """Session records in a dict: for tests and single-process use; nothing persists."""

    def __init__(self) -> None:
        self._records: dict[str, Session] = {}

    async def open(self) -> None:
        return None

    async def get(self, session_id: str) -> Session | None:
        return self._records.get(session_id)

    async def put(self, session: Session, *, expected_version: int) -> Session:
        current = self._records.get(session.id)
        if (current.version if current else 0) != expected_version:
            raise conflict(session.id, expected_version, current)
        stored = session.replace(version=expected_version + 1)
        self._records[session.id] = stored
        return stored

    async def delete(self, session_id: str) -> bool:
        return self._records.pop(session_id, None) is not None

    async def list(self, query: SessionQuery) -> SessionPage:
        return page(self._records.values(), query)

    async def close(self) -> None:
        self._records.clear()


class DiskcacheSessionBackend(StateSessionBackend):
    """Session records as JSON in a diskcache directory, safe across processes.

    The records sit on the diskcache state backend (its own directory): a record's
    version is the store's version of its key, and writes are its compare-and-set, one
    SQLite ``BEGIN IMMEDIATE`` transaction each, which serializes writers across
    processes. Listing reads every record and filters in memory: fine for the thousands
    of sessions of one machine; the PostgreSQL backend answers from indexes instead.
    """

    def __init__(self, directory: Path) -> None:
        from llmspell.plugins._diskcache import DiskcacheStateBackend

        self.directory = directory
        self._store = DiskcacheStateBackend(directory)
        super().__init__(self._store, str(directory), _PREFIX)

    async def records(
        self, after: str | None
    ) -> tuple[builtins.list[Record], builtins.list[tuple[str, str]]]:
        """Rows not written by llmspell are reported as ``(key, reason)``, not read."""
        return await self._store.scan_skipping(_PREFIX, after=after, limit=1000)

    async def health(self) -> builtins.list[str]:
        try:
            await self._store.get(_PREFIX + "health-probe")
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return [f"session store at {self.directory}: {exc}"]
        return []


def make_memory(kernel: Kernel) -> MemorySessionBackend:
    return MemorySessionBackend()


def make_diskcache(kernel: Kernel) -> DiskcacheSessionBackend:
    return DiskcacheSessionBackend(kernel.data_dir / "sessions")
