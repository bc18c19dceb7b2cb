"""The ``memory`` state backend: a dict in this process, for tests and ``temp`` scopes.

Nothing survives the process (``persistent = False``). Every operation runs without
awaiting anything, so on one event loop each is atomic; writes also take a lock so that
threads sharing one backend (a sync wrapper) stay consistent.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence

from llmspell.plugins.state.backend import BatchResult, CasResult, Delete, Put, Record, WriteOp

from .backend import check_batch, check_expected, conflict, holds

__all__ = ["MemoryStateBackend"]


class MemoryStateBackend:
    """Versioned JSON bytes in a dict, with a sorted key list for prefix scans."""

    name = "memory"
    persistent = False

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._keys: list[str] = []
        self._lock = threading.Lock()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._records)

    async def get(self, key: str) -> Record | None:
        return self._records.get(key)

    async def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        records = self._records
        return {k: records[k] for k in keys if k in records}

    def _put(self, key: str, data: bytes, current: Record | None, version: int | None) -> CasResult:
        new = version if version is not None else (1 if current is None else current.version + 1)
        self._records[key] = Record(key, data, new)
        if current is None:
            bisect.insort(self._keys, key)
        return CasResult(ok=True, version=new, previous_version=None if current is None else current.version)

    def _delete(self, key: str, current: Record | None) -> CasResult:
        if current is not None:
            del self._records[key]
            index = bisect.bisect_left(self._keys, key)
            del self._keys[index]
        return CasResult(ok=True, previous_version=None if current is None else current.version)

    async def compare_and_set(self, key: str, data: bytes, expected_version: int | None = None) -> CasResult:
        check_expected(expected_version)
        with self._lock:
            current = self._records.get(key)
            if not holds(expected_version, None if current is None else current.version):
                return conflict(current)
            return self._put(key, data, current, None)

    async def delete(self, key: str, expected_version: int | None = None) -> CasResult:
        check_expected(expected_version)
        with self._lock:
            current = self._records.get(key)
            if not holds(expected_version, None if current is None else current.version):
                return conflict(current)
            return self._delete(key, current)

    async def scan(self, prefix: str, *, after: str | None = None, limit: int = 500) -> list[Record]:
        keys = self._keys
        start = bisect.bisect_left(keys, prefix)
        if after is not None and after >= prefix:
            start = max(start, bisect.bisect_right(keys, after))
        out = []
        for key in keys[start : start + limit]:
            if not key.startswith(prefix):
                break
            out.append(self._records[key])
        return out

    async def batch(self, ops: Sequence[WriteOp]) -> BatchResult:
        check_batch(ops)
        with self._lock:
            currents = [self._records.get(op.key) for op in ops]
            for i, (op, current) in enumerate(zip(ops, currents, strict=True)):
                if not holds(op.expected_version, None if current is None else current.version):
                    return BatchResult(ok=False, failed=i, conflict=conflict(current))
            results = []
            for op, current in zip(ops, currents, strict=True):
                if isinstance(op, Put):
                    results.append(self._put(op.key, op.data, current, op.version))
                else:
                    assert isinstance(op, Delete)
                    results.append(self._delete(op.key, current))
            return BatchResult(ok=True, results=tuple(results))
