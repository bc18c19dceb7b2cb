"""The ``postgres`` state backend: one row per key, the version beside the JSON bytes.

Table ``<schema>.state(key text COLLATE "C" PRIMARY KEY, version bigint, data bytea)``.
The ``C`` collation makes key order code-point order, as everywhere else in llmspell,
so a prefix scan is an index range. Values are the service's JSON bytes, stored as
``bytea`` (JSON text may hold ``\\u0000``, which ``jsonb`` refuses) and never decoded.

Each single-key call is one statement, in one round trip:

* ``expected_version=None``: ``INSERT ... ON CONFLICT DO UPDATE SET version = version + 1``;
* ``ABSENT``: ``INSERT ... ON CONFLICT DO NOTHING``;
* ``n``: a conditional ``UPDATE ... WHERE version = n``.

The statement also returns the row as it was when the statement began, so a conflict
carries the current record without a second query. When a concurrent writer changed the
row while the statement waited for its lock, that snapshot can look as if the
expectation held; the call then simply runs again. A batch runs in one transaction:
``SELECT ... FOR UPDATE`` of its keys, the checks, then the writes; a concurrent insert
of a key the batch creates makes it start over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmspell.plugins.state.api import ABSENT
from llmspell.plugins.state.backend import (
    BatchResult,
    CasResult,
    Delete,
    Put,
    Record,
    WriteOp,
    check_batch,
    check_expected,
    conflict,
    holds,
    prefix_upper_bound,
)

from ._db import Database

__all__ = ["PostgresStateBackend"]

_ATTEMPTS = 20


class PostgresStateBackend:
    """Versioned JSON bytes in a PostgreSQL table shared by every process and host."""

    name = "postgres"
    persistent = True

    def __init__(self, db: Database) -> None:
        self.db = db
        s = db.s
        self._get = f"SELECT key, data, version FROM {s}.state WHERE key = %s"
        self._get_many = f"SELECT key, data, version FROM {s}.state WHERE key = ANY(%s::text[])"
        # Each write statement returns (new version or NULL, the row before: data, version).
        # A blind write: the previous version is the new one minus one unless the row is new
        # (xmax = 0 marks a row this statement inserted).
        self._blind = (
            f"INSERT INTO {s}.state AS t (key, version, data) VALUES (%(k)s, 1, %(d)s) "
            "ON CONFLICT (key) DO UPDATE SET version = t.version + 1, data = excluded.data, updated_at = now() "
            "RETURNING t.version, NULL::bytea, CASE WHEN t.xmax = 0 THEN NULL ELSE t.version - 1 END"
        )
        self._create = (
            f"WITH cur AS (SELECT data, version FROM {s}.state WHERE key = %(k)s), "
            f"w AS (INSERT INTO {s}.state (key, version, data) VALUES (%(k)s, 1, %(d)s) "
            "ON CONFLICT (key) DO NOTHING RETURNING version) "
            "SELECT (SELECT version FROM w), cur.data, cur.version FROM (SELECT 1) one LEFT JOIN cur ON true"
        )
        self._replace = (
            f"WITH cur AS (SELECT data, version FROM {s}.state WHERE key = %(k)s), "
            f"w AS (UPDATE {s}.state SET version = version + 1, data = %(d)s, updated_at = now() "
            "WHERE key = %(k)s AND version = %(e)s RETURNING version) "
            "SELECT (SELECT version FROM w), cur.data, cur.version FROM (SELECT 1) one LEFT JOIN cur ON true"
        )
        self._delete_any = f"DELETE FROM {s}.state WHERE key = %(k)s RETURNING version"
        self._delete_if = (
            f"WITH cur AS (SELECT data, version FROM {s}.state WHERE key = %(k)s), "
            f"w AS (DELETE FROM {s}.state WHERE key = %(k)s AND version = %(e)s RETURNING version) "
            "SELECT (SELECT version FROM w), cur.data, cur.version FROM (SELECT 1) one LEFT JOIN cur ON true"
        )
        self._lock = f"SELECT key, data, version FROM {s}.state WHERE key = ANY(%s::text[]) ORDER BY key FOR UPDATE"
        self._upsert = (
            f"INSERT INTO {s}.state AS t (key, version, data) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO UPDATE SET version = excluded.version, data = excluded.data, updated_at = now()"
        )
        self._insert = f"INSERT INTO {s}.state (key, version, data) VALUES (%s, %s, %s)"
        self._remove = f"DELETE FROM {s}.state WHERE key = ANY(%s::text[])"

    async def open(self) -> None:
        await self.db.acquire()

    async def close(self) -> None:
        await self.db.release()

    async def health(self) -> list[str]:
        return await self.db.health()

    # -- reads -----------------------------------------------------------------------

    async def get(self, key: str) -> Record | None:
        async with self.db.connection() as conn:
            cur = await conn.execute(self._get, (key,), binary=True)
            row = await cur.fetchone()
        return None if row is None else Record(row[0], row[1], row[2])

    async def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        if not keys:
            return {}
        async with self.db.connection() as conn:
            cur = await conn.execute(self._get_many, (list(keys),), binary=True)
            rows = await cur.fetchall()
        return {k: Record(k, d, v) for k, d, v in rows}

    async def scan(self, prefix: str, *, after: str | None = None, limit: int = 500) -> list[Record]:
        lower, op = (after, ">") if after is not None and after >= prefix else (prefix, ">=")
        upper = prefix_upper_bound(prefix)
        sql = f"SELECT key, data, version FROM {self.db.s}.state WHERE key {op} %s"
        params: list[Any] = [lower]
        if upper is not None:
            sql += " AND key < %s"
            params.append(upper)
        sql += " ORDER BY key LIMIT %s"
        params.append(limit)
        async with self.db.connection() as conn:
            cur = await conn.execute(sql, params, binary=True)
            rows = await cur.fetchall()
        return [Record(k, d, v) for k, d, v in rows]

    # -- single writes ---------------------------------------------------------------

    async def compare_and_set(self, key: str, data: bytes, expected_version: int | None = None) -> CasResult:
        check_expected(expected_version)
        if expected_version is None:
            sql = self._blind
        elif expected_version == ABSENT:
            sql = self._create
        else:
            sql = self._replace
        params = {"k": key, "d": data, "e": expected_version}
        for _ in range(_ATTEMPTS):
            async with self.db.connection() as conn:
                cur = await conn.execute(sql, params, binary=True)
                row = await cur.fetchone()
            assert row is not None
            new, old_data, old_version = row
            if new is not None:
                if expected_version is not None:  # the statement wrote only if the expectation held
                    old_version = expected_version or None
                return CasResult(ok=True, version=new, previous_version=old_version)
            if not holds(expected_version, old_version):
                return conflict(None if old_version is None else Record(key, old_data, old_version))
            # the row changed while the statement waited for it: its snapshot is stale
        return await self._conflict_now(key)

    async def delete(self, key: str, expected_version: int | None = None) -> CasResult:
        check_expected(expected_version)
        if expected_version == ABSENT:  # "delete if it does not exist": nothing to do either way
            current = await self.get(key)
            return CasResult(ok=True) if current is None else conflict(current)
        if expected_version is None:
            async with self.db.connection() as conn:
                cur = await conn.execute(self._delete_any, {"k": key}, binary=True)
                row = await cur.fetchone()
            return CasResult(ok=True, previous_version=None if row is None else row[0])
        params = {"k": key, "e": expected_version}
        for _ in range(_ATTEMPTS):
            async with self.db.connection() as conn:
                cur = await conn.execute(self._delete_if, params, binary=True)
                row = await cur.fetchone()
            assert row is not None
            gone, old_data, old_version = row
            if gone is not None:
                return CasResult(ok=True, previous_version=gone)
            if not holds(expected_version, old_version):
                return conflict(None if old_version is None else Record(key, old_data, old_version))
        return await self._conflict_now(key)

    async def _conflict_now(self, key: str) -> CasResult:
        return conflict(await self.get(key))

    # -- batches ---------------------------------------------------------------------

    async def batch(self, ops: Sequence[WriteOp]) -> BatchResult:
        check_batch(ops)
        if not ops:
            return BatchResult(ok=True)
        import psycopg

        for attempt in range(_ATTEMPTS):
            try:
                return await self._batch_once(ops)
            except psycopg.errors.UniqueViolation:
                if attempt == _ATTEMPTS - 1:
                    raise
            except psycopg.errors.DeadlockDetected:
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _batch_once(self, ops: Sequence[WriteOp]) -> BatchResult:
        keys = [op.key for op in ops]
        async with self.db.connection() as conn, conn.transaction():
            cur = await conn.execute(self._lock, (keys,), binary=True)
            rows = {k: Record(k, d, v) for k, d, v in await cur.fetchall()}
            for i, op in enumerate(ops):
                current = rows.get(op.key)
                if not holds(op.expected_version, None if current is None else current.version):
                    return BatchResult(ok=False, failed=i, conflict=conflict(current))
            results: list[CasResult] = []
            upserts: list[tuple[str, int, bytes]] = []
            inserts: list[tuple[str, int, bytes]] = []
            removed: list[str] = []
            for op in ops:
                current = rows.get(op.key)
                previous = None if current is None else current.version
                if isinstance(op, Delete):
                    if current is not None:
                        removed.append(op.key)
                    results.append(CasResult(ok=True, previous_version=previous))
                    continue
                assert isinstance(op, Put)
                version = op.version if op.version is not None else (previous or 0) + 1
                (inserts if current is None else upserts).append((op.key, version, op.data))
                results.append(CasResult(ok=True, version=version, previous_version=previous))
            async with conn.cursor(binary=True) as cur:
                if removed:
                    await cur.execute(self._remove, (removed,))
                if upserts:
                    await cur.executemany(self._upsert, upserts)
                if inserts:  # a concurrent insert of the same key raises UniqueViolation: start over
                    await cur.executemany(self._insert, inserts)
        return BatchResult(ok=True, results=tuple(results))
