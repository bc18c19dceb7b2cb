"""The ``postgres`` artifact metadata index: :class:`~llmspell.plugins.artifacts.backend.ArtifactIndex` in SQL.

The same layout as the embedded ``sqlite`` index, in the configured schema, so that
artifact metadata (versions, ownership and grants, blob records, leases) is shared by
every host; with ``[artifacts] backend = "s3"`` the blobs are shared too. Records are
JSON from :mod:`llmspell.serde` with their schema version; the other columns exist to
filter and order. Every method is one transaction. A version number comes from one
``INSERT ... ON CONFLICT DO UPDATE`` on the artifact's row, which also locks it until the
commit, so concurrent saves of one name get consecutive versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from llmspell import serde
from llmspell.plugins.artifacts.api import ArtifactAcl, ArtifactId, ArtifactMeta, ArtifactPage
from llmspell.plugins.artifacts.backend import (
    ArtifactQuery,
    BlobRecord,
    StartAlias,
    decode_cursor,
    encode_cursor,
)
from llmspell.plugins.state.backend import prefix_upper_bound

from ._db import Database

__all__ = ["PostgresArtifactIndex"]


class PostgresArtifactIndex(StartAlias):
    """Artifact metadata in PostgreSQL, shared across hosts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self) -> None:
        await self.db.acquire()

    async def close(self) -> None:
        await self.db.release()

    async def health(self) -> list[str]:
        return await self.db.health()

    # -- versions -----------------------------------------------------------------------

    async def commit(
        self, meta: ArtifactMeta, *, acl: ArtifactAcl, blob: BlobRecord, lease: str | None = None
    ) -> ArtifactMeta:
        s = self.db.s
        id_ = meta.ref.id
        key = (id_.scope, id_.owner, id_.name)
        acl_json = serde.dumps(attrs.evolve(acl, id=id_))
        async with self.db.connection() as conn, conn.transaction():
            cur = await conn.execute(
                f"INSERT INTO {s}.artifacts AS a (scope, owner, name, last_version, latest, acl) "
                "VALUES (%s, %s, %s, 1, 1, %s) ON CONFLICT (scope, owner, name) DO UPDATE SET "
                "last_version = a.last_version + 1, latest = a.last_version + 1, "
                "acl = CASE WHEN a.latest IS NULL OR a.acl IS NULL THEN excluded.acl ELSE a.acl END "
                "RETURNING last_version",
                (*key, acl_json), binary=True,
            )
            row = await cur.fetchone()
            assert row is not None
            stored = attrs.evolve(meta, ref=id_.at(row[0]))
            await conn.execute(
                f"INSERT INTO {s}.artifact_versions (scope, owner, name, version, blob, content_type, created, "
                "tags, record) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (*key, row[0], stored.blob, stored.content_type, stored.created, list(stored.tags),
                 serde.dumps(stored)), binary=True,
            )
            await conn.execute(
                f"INSERT INTO {s}.artifact_blobs (key, key_id, record) VALUES (%s, %s, %s) ON CONFLICT (key) "
                "DO UPDATE SET key_id = excluded.key_id, record = excluded.record",
                (blob.key, blob.key_id, serde.dumps(blob)), binary=True,
            )
            if lease is not None:
                await conn.execute(f"DELETE FROM {s}.artifact_leases WHERE token = %s", (lease,))
        return stored

    async def get(self, id: ArtifactId, version: int | None = None) -> ArtifactMeta | None:
        s = self.db.s
        if version is None:
            sql = (
                f"SELECT v.record FROM {s}.artifacts a JOIN {s}.artifact_versions v ON v.scope = a.scope "
                "AND v.owner = a.owner AND v.name = a.name AND v.version = a.latest "
                "WHERE a.scope = %s AND a.owner = %s AND a.name = %s"
            )
            params: tuple[Any, ...] = (id.scope, id.owner, id.name)
        else:
            sql = f"SELECT record FROM {s}.artifact_versions WHERE scope = %s AND owner = %s AND name = %s AND version = %s"
            params = (id.scope, id.owner, id.name, version)
        async with self.db.connection() as conn:
            cur = await conn.execute(sql, params, binary=True)
            row = await cur.fetchone()
        return None if row is None else serde.loads_as(row[0], ArtifactMeta)

    async def versions(self, id: ArtifactId) -> list[ArtifactMeta]:
        async with self.db.connection() as conn:
            cur = await conn.execute(
                f"SELECT record FROM {self.db.s}.artifact_versions WHERE scope = %s AND owner = %s AND name = %s "
                "ORDER BY version", (id.scope, id.owner, id.name), binary=True,
            )
            rows = await cur.fetchall()
        return [serde.loads_as(r[0], ArtifactMeta) for r in rows]

    async def query(self, query: ArtifactQuery) -> ArtifactPage:
        s = self.db.s
        sql = [f"SELECT v.record FROM {s}.artifact_versions v"]
        if query.latest_only:
            sql.append(
                f"JOIN {s}.artifacts a ON a.scope = v.scope AND a.owner = v.owner AND a.name = v.name "
                "AND a.latest = v.version"
            )
        where: list[str] = []
        args: list[Any] = []
        if query.scope is not None:
            where.append("v.scope = %s")
            args.append(query.scope)
        if query.owner is not None:
            where.append("v.owner = %s")
            args.append(query.owner)
        for column, prefix in (("v.name", query.prefix), ("v.content_type", _family(query.content_type))):
            if prefix:
                where.append(f"{column} >= %s")
                args.append(prefix)
                upper = prefix_upper_bound(prefix)
                if upper is not None:
                    where.append(f"{column} < %s")
                    args.append(upper)
        if query.content_type is not None and not query.content_type.endswith("/*"):
            where.append("v.content_type = %s")
            args.append(query.content_type)
        if query.tag is not None:
            where.append("v.tags @> ARRAY[%s]::text[]")
            args.append(query.tag)
        if query.created_before is not None:
            where.append("v.created < %s")
            args.append(query.created_before)
        if query.cursor:
            where.append("(v.scope, v.owner, v.name, v.version) > (%s, %s, %s, %s)")
            args += list(decode_cursor(query.cursor))
        if where:
            sql.append("WHERE " + " AND ".join(where))
        sql.append("ORDER BY v.scope, v.owner, v.name, v.version LIMIT %s")
        args.append(query.limit + 1)
        async with self.db.connection() as conn:
            cur = await conn.execute(" ".join(sql), args, binary=True)
            rows = await cur.fetchall()
        items = [serde.loads_as(r[0], ArtifactMeta) for r in rows[: query.limit]]
        more = len(rows) > query.limit
        return ArtifactPage(tuple(items), encode_cursor(items[-1]) if more and items else None)

    async def delete(self, id: ArtifactId, versions: Sequence[int] | None = None) -> list[ArtifactMeta]:
        s = self.db.s
        key = (id.scope, id.owner, id.name)
        async with self.db.connection() as conn, conn.transaction():
            await conn.execute(
                f"SELECT 1 FROM {s}.artifacts WHERE scope = %s AND owner = %s AND name = %s FOR UPDATE", key
            )
            cur = await conn.execute(
                f"SELECT version, record FROM {s}.artifact_versions WHERE scope = %s AND owner = %s AND name = %s "
                "ORDER BY version", key, binary=True,
            )
            rows = await cur.fetchall()
            wanted = None if versions is None else set(versions)
            gone = [(v, r) for v, r in rows if wanted is None or v in wanted]
            if gone:
                await conn.execute(
                    f"DELETE FROM {s}.artifact_versions WHERE scope = %s AND owner = %s AND name = %s "
                    "AND version = ANY(%s::integer[])", (*key, [v for v, _ in gone]),
                )
            left = [v for v, _ in rows if wanted is not None and v not in wanted]
            if left:
                await conn.execute(
                    f"UPDATE {s}.artifacts SET latest = %s WHERE scope = %s AND owner = %s AND name = %s",
                    (max(left), *key),
                )
            else:
                await conn.execute(
                    f"UPDATE {s}.artifacts SET latest = NULL, acl = NULL WHERE scope = %s AND owner = %s AND name = %s",
                    key,
                )
        return [serde.loads_as(r, ArtifactMeta) for _, r in gone]

    # -- grants -------------------------------------------------------------------------

    async def get_acl(self, id: ArtifactId) -> ArtifactAcl | None:
        async with self.db.connection() as conn:
            cur = await conn.execute(
                f"SELECT acl FROM {self.db.s}.artifacts WHERE scope = %s AND owner = %s AND name = %s "
                "AND latest IS NOT NULL", (id.scope, id.owner, id.name), binary=True,
            )
            row = await cur.fetchone()
        return None if row is None or row[0] is None else serde.loads_as(row[0], ArtifactAcl)

    async def put_acl(self, acl: ArtifactAcl) -> None:
        async with self.db.connection() as conn:
            await conn.execute(
                f"UPDATE {self.db.s}.artifacts SET acl = %s WHERE scope = %s AND owner = %s AND name = %s "
                "AND latest IS NOT NULL", (serde.dumps(acl), acl.id.scope, acl.id.owner, acl.id.name), binary=True,
            )

    # -- blobs and leases ---------------------------------------------------------------

    async def lease(self, blob_key: str, token: str, ttl: float) -> None:
        s = self.db.s
        async with self.db.connection() as conn, conn.transaction():
            await conn.execute(f"DELETE FROM {s}.artifact_leases WHERE expires < now()")
            await conn.execute(
                f"INSERT INTO {s}.artifact_leases (token, blob, expires) VALUES (%s, %s, now() + %s) "
                "ON CONFLICT (token) DO UPDATE SET blob = excluded.blob, expires = excluded.expires",
                (token, blob_key, timedelta(seconds=ttl)),
            )

    async def release(self, token: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute(f"DELETE FROM {self.db.s}.artifact_leases WHERE token = %s", (token,))

    async def referenced(self, blob_keys: Sequence[str]) -> set[str]:
        keys = list(blob_keys)
        if not keys:
            return set()
        s = self.db.s
        async with self.db.connection() as conn:
            cur = await conn.execute(
                f"SELECT DISTINCT blob FROM {s}.artifact_versions WHERE blob = ANY(%s::text[]) "
                f"UNION SELECT blob FROM {s}.artifact_leases WHERE expires > now() AND blob = ANY(%s::text[])",
                (keys, keys),
            )
            rows = await cur.fetchall()
        return {r[0] for r in rows}

    async def get_blob(self, key: str) -> BlobRecord | None:
        async with self.db.connection() as conn:
            cur = await conn.execute(f"SELECT record FROM {self.db.s}.artifact_blobs WHERE key = %s", (key,), binary=True)
            row = await cur.fetchone()
        return None if row is None else serde.loads_as(row[0], BlobRecord)

    async def put_blob(self, record: BlobRecord) -> None:
        async with self.db.connection() as conn:
            await conn.execute(
                f"INSERT INTO {self.db.s}.artifact_blobs (key, key_id, record) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET key_id = excluded.key_id, record = excluded.record",
                (record.key, record.key_id, serde.dumps(record)), binary=True,
            )

    async def list_blobs(self, *, after: str | None = None, limit: int = 100) -> list[BlobRecord]:
        async with self.db.connection() as conn:
            cur = await conn.execute(
                f"SELECT record FROM {self.db.s}.artifact_blobs WHERE key > %s ORDER BY key LIMIT %s",
                (after or "", limit), binary=True,
            )
            rows = await cur.fetchall()
        return [serde.loads_as(r[0], BlobRecord) for r in rows]

    async def drop_blobs(self, keys: Iterable[str]) -> None:
        async with self.db.connection() as conn:
            await conn.execute(f"DELETE FROM {self.db.s}.artifact_blobs WHERE key = ANY(%s::text[])", (list(keys),))

    # -- sessions -----------------------------------------------------------------------

    async def end_session(self, session_id: str, at: datetime) -> None:
        async with self.db.connection() as conn:
            await conn.execute(
                f"INSERT INTO {self.db.s}.artifact_ended_sessions (session_id, ended) VALUES (%s, %s) "
                "ON CONFLICT (session_id) DO UPDATE SET ended = excluded.ended", (session_id, at),
            )

    async def ended_sessions(self, before: datetime) -> list[str]:
        async with self.db.connection() as conn:
            cur = await conn.execute(
                f"SELECT session_id FROM {self.db.s}.artifact_ended_sessions WHERE ended < %s ORDER BY session_id",
                (before,),
            )
            rows = await cur.fetchall()
        return [r[0] for r in rows]

    async def forget_session(self, session_id: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute(f"DELETE FROM {self.db.s}.artifact_ended_sessions WHERE session_id = %s", (session_id,))


def _family(content_type: str | None) -> str:
    """``text/`` for ``text/*``; empty otherwise."""
    if content_type is not None and content_type.endswith("/*"):
        return content_type[:-1]
    return ""
