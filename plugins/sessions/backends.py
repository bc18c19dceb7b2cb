"""Session-record backends: ``memory`` and ``diskcache`` (the embedded default)."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import attrs

from llmspell import serde
from llmspell.plugins.sessions.api import Session, SessionPage, SessionQuery
from llmspell.plugins.sessions.backend import (
    conflict,
    decode_listed,
    decode_record,
    page,
)

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


class DiskcacheSessionBackend:
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

    async def open(self) -> None:
        await self._store.open()

    def _decode(self, raw: bytes, where: str, version: int) -> Session:
        return decode_record(raw, version, f"{where!r} in {self.directory}")

    async def get(self, session_id: str) -> Session | None:
        record = await self._store.get(_PREFIX + session_id)
        return None if record is None else self._decode(record.data, session_id, record.version)

    async def put(self, session: Session, *, expected_version: int) -> Session:
        stored = session.replace(version=expected_version + 1)
        result = await self._store.compare_and_set(_PREFIX + session.id, serde.dumps(stored), expected_version)
        if not result.ok:
            current = result.current
            raise conflict(
                session.id, expected_version,
                None if current is None else self._decode(current.data, session.id, current.version),
            )
        return stored

    async def delete(self, session_id: str) -> bool:
        result = await self._store.delete(_PREFIX + session_id)
        return result.previous_version is not None

    async def _all(self, skipped: builtins.list[tuple[str, str]]) -> builtins.list[Session]:
        out: builtins.list[Session] = []
        after = None
        where = f"in {self.directory}"
        while True:
            records, bad = await self._store.scan_skipping(_PREFIX, after=after, limit=1000)
            skipped.extend((key.removeprefix(_PREFIX), reason) for key, reason in bad)
            for r in records:
                sid = r.key.removeprefix(_PREFIX)
                session = decode_listed(r.data, r.version, f"{sid!r} {where}", sid, skipped)
                if session is not None:
                    out.append(session)
            if len(records) + len(bad) < 1000:
                return out
            after = max([r.key for r in records] + [key for key, _ in bad])

    async def list(self, query: SessionQuery) -> SessionPage:
        skipped: builtins.list[tuple[str, str]] = []
        found = page(await self._all(skipped), query)
        return attrs.evolve(found, skipped=tuple(skipped))

    async def close(self) -> None:
        await self._store.close()

    async def health(self) -> builtins.list[str]:
        try:
            await self._store.get(_PREFIX + "health-probe")
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return [f"session store at {self.directory}: {exc}"]
        return []


def make_memory(kernel: Any) -> MemorySessionBackend:
    return MemorySessionBackend()


def make_diskcache(kernel: Any) -> DiskcacheSessionBackend:
    return DiskcacheSessionBackend(kernel.data_dir / "sessions")
