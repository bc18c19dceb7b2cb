"""The ``memory`` metadata index: dicts, for tests and throwaway kernels."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from llmspell.plugins.artifacts.api import ArtifactAcl, ArtifactId, ArtifactMeta, ArtifactPage
from llmspell.plugins.artifacts.backend import (
    ArtifactQuery,
    BlobRecord,
    StartAlias,
    decode_cursor,
    encode_cursor,
)

__all__ = ["MemoryArtifactIndex", "sort_key", "type_matches"]


def sort_key(meta: ArtifactMeta) -> tuple[str, str, str, int]:
    ref = meta.ref
    return (ref.scope, ref.owner, ref.name, ref.version)


def type_matches(pattern: str | None, content_type: str) -> bool:
    if pattern is None:
        return True
    if pattern.endswith("/*"):
        return content_type.startswith(pattern[:-1])
    return content_type == pattern


def _matches(meta: ArtifactMeta, q: ArtifactQuery) -> bool:
    ref = meta.ref
    return (
        (q.scope is None or ref.scope == q.scope)
        and (q.owner is None or ref.owner == q.owner)
        and ref.name.startswith(q.prefix)
        and (q.tag is None or q.tag in meta.tags)
        and type_matches(q.content_type, meta.content_type)
        and (q.created_before is None or meta.created < q.created_before)
    )


class MemoryArtifactIndex(StartAlias):
    """Artifact metadata in process memory."""

    def __init__(self) -> None:
        self._counters: dict[ArtifactId, int] = {}
        self._versions: dict[ArtifactId, dict[int, ArtifactMeta]] = {}
        self._acls: dict[ArtifactId, ArtifactAcl] = {}
        self._blobs: dict[str, BlobRecord] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._ended: dict[str, datetime] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def commit(
        self, meta: ArtifactMeta, *, acl: ArtifactAcl, blob: BlobRecord, lease: str | None = None
    ) -> ArtifactMeta:
        id_ = meta.ref.id
        version = self._counters.get(id_, 0) + 1
        self._counters[id_] = version
        stored = attrs.evolve(meta, ref=id_.at(version))
        versions = self._versions.setdefault(id_, {})
        if not versions or id_ not in self._acls:
            self._acls[id_] = attrs.evolve(acl, id=id_)
        versions[version] = stored
        self._blobs[blob.key] = blob
        if lease is not None:
            self._leases.pop(lease, None)
        return stored

    async def get(self, id: ArtifactId, version: int | None = None) -> ArtifactMeta | None:
        versions = self._versions.get(id)
        if not versions:
            return None
        return versions[max(versions)] if version is None else versions.get(version)

    async def versions(self, id: ArtifactId) -> list[ArtifactMeta]:
        versions = self._versions.get(id, {})
        return [versions[v] for v in sorted(versions)]

    async def query(self, query: ArtifactQuery) -> ArtifactPage:
        after = decode_cursor(query.cursor) if query.cursor else None
        items: list[ArtifactMeta] = []
        for id_ in sorted(self._versions, key=lambda i: (i.scope, i.owner, i.name)):
            versions = self._versions[id_]
            if not versions:
                continue
            chosen = [versions[max(versions)]] if query.latest_only else [versions[v] for v in sorted(versions)]
            for meta in chosen:
                if (after is None or sort_key(meta) > after) and _matches(meta, query):
                    items.append(meta)
        page = items[: query.limit]
        more = len(items) > query.limit
        return ArtifactPage(tuple(page), encode_cursor(page[-1]) if more and page else None)

    async def delete(self, id: ArtifactId, versions: Sequence[int] | None = None) -> list[ArtifactMeta]:
        current = self._versions.get(id, {})
        chosen = sorted(current) if versions is None else sorted(v for v in set(versions) if v in current)
        gone = [current.pop(v) for v in chosen]
        if not current:
            self._versions.pop(id, None)
            self._acls.pop(id, None)
        return gone

    async def get_acl(self, id: ArtifactId) -> ArtifactAcl | None:
        return self._acls.get(id) if self._versions.get(id) else None

    async def put_acl(self, acl: ArtifactAcl) -> None:
        if self._versions.get(acl.id):
            self._acls[acl.id] = acl

    async def lease(self, blob_key: str, token: str, ttl: float) -> None:
        self._leases[token] = (blob_key, time.time() + ttl)

    async def release(self, token: str) -> None:
        self._leases.pop(token, None)

    async def referenced(self, blob_keys: Sequence[str]) -> set[str]:
        wanted = set(blob_keys)
        now = time.time()
        found = {key for key, expires in self._leases.values() if expires > now and key in wanted}
        for versions in self._versions.values():
            found.update(m.blob for m in versions.values() if m.blob in wanted)
        return found

    async def get_blob(self, key: str) -> BlobRecord | None:
        return self._blobs.get(key)

    async def put_blob(self, record: BlobRecord) -> None:
        self._blobs[record.key] = record

    async def list_blobs(self, *, after: str | None = None, limit: int = 100) -> list[BlobRecord]:
        keys = sorted(k for k in self._blobs if after is None or k > after)[:limit]
        return [self._blobs[k] for k in keys]

    async def drop_blobs(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._blobs.pop(key, None)

    async def end_session(self, session_id: str, at: datetime) -> None:
        self._ended[session_id] = at

    async def ended_sessions(self, before: datetime) -> list[str]:
        return sorted(s for s, at in self._ended.items() if at < before)

    async def forget_session(self, session_id: str) -> None:
        self._ended.pop(session_id, None)
