"""Conformance suites for artifact backends: blob stores and metadata indexes.

A backend's tests subclass a suite and override one fixture that returns the backend,
not yet started (the suite starts and closes it)::

    from llmspell.contrib.testing.contracts.artifacts import BlobStoreContract

    class TestS3BlobStore(BlobStoreContract):
        @pytest.fixture
        def blob_store(self, tmp_path):
            return S3BlobStore(bucket="test", prefix=str(tmp_path))

``ArtifactIndexContract`` works the same way with an ``artifact_index`` fixture.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import attrs
import pytest
import pytest_asyncio

from llmspell import serde
from llmspell.errors import NotFoundError, ValidationError
from llmspell.plugins.artifacts.api import ArtifactAcl, ArtifactId, ArtifactMeta
from llmspell.plugins.artifacts.backend import ArtifactQuery, BlobRecord

__all__ = ["BlobStoreContract", "ArtifactIndexContract", "blob_key", "make_meta"]

HOSTILE_KEYS = ["../../etc/passwd", "", "A" * 64, "a" * 63, "/" + "a" * 64, "a" * 64 + "/x", "a" * 64 + "-xyz", "a" * 64 + "\x00"]


def blob_key(data: bytes, tag: str = "") -> str:
    """The key a blob with content ``data`` gets (optionally with a codec-chain tag)."""
    return hashlib.sha256(data).hexdigest() + (f"-{tag}" if tag else "")


async def _read(store: Any, key: str, **kw: Any) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, **kw)])


async def _put(store: Any, key: str, *parts: bytes) -> int:
    writer = await store.writer()
    for part in parts:
        await writer.write(part)
    size: int = await writer.commit(key)
    return size


@pytest.mark.asyncio
class BlobStoreContract:
    """What every :class:`~llmspell.plugins.artifacts.backend.BlobStore` must do."""

    @pytest.fixture
    def blob_store(self) -> Any:
        raise NotImplementedError("override the blob_store fixture to return an unstarted blob store")

    @pytest_asyncio.fixture
    async def store(self, blob_store: Any) -> AsyncIterator[Any]:
        await blob_store.start()
        try:
            yield blob_store
        finally:
            await blob_store.close()

    async def test_write_commit_read(self, store: Any) -> None:
        parts = [b"alpha-", b"beta-" * 1000, b"gamma"]
        key = blob_key(b"".join(parts))
        assert await _put(store, key, *parts) == sum(map(len, parts))
        assert await _read(store, key) == b"".join(parts)
        info = await store.stat(key)
        assert info is not None and info.key == key and info.size == sum(map(len, parts))

    async def test_chunked_and_offset_reads(self, store: Any) -> None:
        data = os.urandom(3 * 65536 + 17)
        key = blob_key(data)
        await _put(store, key, data)
        chunks = [c async for c in store.read(key, chunk_size=65536)]
        assert all(len(c) <= 65536 for c in chunks) and b"".join(chunks) == data
        assert await _read(store, key, offset=100_000) == data[100_000:]

    async def test_large_blob_in_many_parts(self, store: Any) -> None:
        part = os.urandom(1 << 20)
        key = blob_key(part * 8, "0123abcd")
        assert await _put(store, key, *([part] * 8)) == 8 << 20
        hasher = hashlib.sha256()
        async for chunk in store.read(key):
            assert len(chunk) <= 1 << 20
            hasher.update(chunk)
        assert hasher.hexdigest() == hashlib.sha256(part * 8).hexdigest()

    async def test_abort_leaves_nothing(self, store: Any) -> None:
        writer = await store.writer()
        await writer.write(b"half")
        await writer.abort()
        assert [b async for b in store.blobs()] == []
        assert [u async for u in store.uploads()] == []

    async def test_unfinished_upload_is_listed_and_removable(self, store: Any) -> None:
        writer = await store.writer()
        await writer.write(b"x" * 1000)
        uploads = [u async for u in store.uploads()]
        assert len(uploads) == 1 and uploads[0].size in (0, 1000)
        assert [b async for b in store.blobs()] == []
        await store.abort_upload(uploads[0].key)
        assert [u async for u in store.uploads()] == []
        await writer.abort()

    async def test_missing_blob(self, store: Any) -> None:
        key = blob_key(b"never stored")
        assert await store.stat(key) is None
        assert await store.touch(key) is False
        assert await store.delete(key) == 0
        with pytest.raises(NotFoundError):
            await _read(store, key)

    async def test_delete_reports_bytes_freed(self, store: Any) -> None:
        key = blob_key(b"12345")
        await _put(store, key, b"12345")
        assert await store.delete(key) == 5
        assert await store.stat(key) is None
        assert await store.delete(key) == 0

    async def test_blobs_lists_every_committed_key(self, store: Any) -> None:
        keys = sorted(blob_key(bytes([i])) for i in range(5))
        for i in range(5):
            await _put(store, blob_key(bytes([i])), bytes([i]))
        assert sorted(b.key for b in [b async for b in store.blobs()]) == keys

    async def test_commit_replaces_existing_key(self, store: Any) -> None:
        key = blob_key(b"v", "0123abcd")
        await _put(store, key, b"first")
        await _put(store, key, b"second!")
        assert await _read(store, key) == b"second!"
        assert len([b async for b in store.blobs()]) == 1

    async def test_touch_moves_modified_time(self, store: Any) -> None:
        key = blob_key(b"t")
        await _put(store, key, b"t")
        before = (await store.stat(key)).modified
        await asyncio.sleep(0.02)
        assert await store.touch(key) is True
        assert (await store.stat(key)).modified >= before

    @pytest.mark.parametrize("key", HOSTILE_KEYS)
    async def test_hostile_keys_are_rejected(self, store: Any, key: str) -> None:
        with pytest.raises(ValidationError):
            await store.stat(key)
        with pytest.raises(ValidationError):
            await store.delete(key)
        with pytest.raises(ValidationError):
            await _read(store, key)
        writer = await store.writer()
        await writer.write(b"x")
        with pytest.raises(ValidationError):
            await writer.commit(key)
        await writer.abort()


def make_meta(name: str = "a.txt", *, scope: str = "user", owner: str = "u1", data: bytes = b"x", **changes: Any) -> ArtifactMeta:
    """An :class:`ArtifactMeta` for index tests (version 0: the index assigns it)."""
    sha = hashlib.sha256(data).hexdigest()
    meta = ArtifactMeta(
        ref=ArtifactId(scope, owner, name).at(0), size=len(data), sha256=sha, content_type="text/plain",
        creator=f"user:{owner}", blob=sha,
    )
    return attrs.evolve(meta, **changes)


def _acl(meta: ArtifactMeta, owned_by: str = "user:u1") -> ArtifactAcl:
    return ArtifactAcl(id=meta.ref.id, owned_by=owned_by)


def _blob(meta: ArtifactMeta, key_id: str | None = None) -> BlobRecord:
    return BlobRecord(meta.blob, meta.sha256, meta.size, meta.size, key_id=key_id)


async def _commit(index: Any, meta: ArtifactMeta, owned_by: str = "user:u1", lease: str | None = None) -> ArtifactMeta:
    stored: ArtifactMeta = await index.commit(meta, acl=_acl(meta, owned_by), blob=_blob(meta), lease=lease)
    return stored


@pytest.mark.asyncio
class ArtifactIndexContract:
    """What every :class:`~llmspell.plugins.artifacts.backend.ArtifactIndex` must do."""

    @pytest.fixture
    def artifact_index(self) -> Any:
        raise NotImplementedError("override the artifact_index fixture to return an unstarted index")

    @pytest_asyncio.fixture
    async def index(self, artifact_index: Any) -> AsyncIterator[Any]:
        await artifact_index.start()
        try:
            yield artifact_index
        finally:
            await artifact_index.close()

    async def test_versions_are_assigned_in_order(self, index: Any) -> None:
        refs = [(await _commit(index, make_meta(data=bytes([i])))).ref for i in range(3)]
        assert [r.version for r in refs] == [1, 2, 3]
        latest = await index.get(refs[0].id)
        assert latest is not None and latest.ref.version == 3
        first = await index.get(refs[0].id, 1)
        assert first is not None and first.sha256 == hashlib.sha256(b"\x00").hexdigest()
        assert [m.ref.version for m in await index.versions(refs[0].id)] == [1, 2, 3]
        assert await index.get(refs[0].id, 9) is None

    async def test_records_round_trip(self, index: Any) -> None:
        meta = make_meta(tags=("a", "b"), metadata={"k": [1, "two", None]}, codecs=("zstd",), stored_size=3)
        stored = await _commit(index, meta)
        got = await index.get(stored.ref.id, stored.ref.version)
        assert got == stored
        assert got.created == meta.created and got.created.tzinfo is not None
        assert serde.loads_as(serde.dumps(got), ArtifactMeta) == got

    async def test_versions_are_never_reused(self, index: Any) -> None:
        meta = make_meta()
        for _ in range(2):
            await _commit(index, meta)
        gone = await index.delete(meta.ref.id, [2])
        assert [m.ref.version for m in gone] == [2]
        assert (await index.get(meta.ref.id)).ref.version == 1
        assert [m.ref.version for m in await index.delete(meta.ref.id)] == [1]
        assert await index.get(meta.ref.id) is None
        assert await index.get_acl(meta.ref.id) is None
        again = await _commit(index, meta, owned_by="user:u9")
        assert again.ref.version == 3
        acl = await index.get_acl(meta.ref.id)
        assert acl is not None and acl.owned_by == "user:u9" and acl.grants == {}

    async def test_acl_is_set_once_and_updated_explicitly(self, index: Any) -> None:
        meta = make_meta()
        await _commit(index, meta, owned_by="user:u1")
        await _commit(index, meta, owned_by="user:intruder")
        acl = await index.get_acl(meta.ref.id)
        assert acl is not None and acl.owned_by == "user:u1"
        await index.put_acl(attrs.evolve(acl, grants={"user:u2": ("read", "share")}))
        acl = await index.get_acl(meta.ref.id)
        assert acl.grants == {"user:u2": ("read", "share")}
        assert await index.get_acl(ArtifactId("user", "u1", "missing")) is None

    async def test_query_filters(self, index: Any) -> None:
        await _commit(index, make_meta("docs/a.md", content_type="text/markdown", tags=("x",)))
        await _commit(index, make_meta("docs/b.png", content_type="image/png"))
        await _commit(index, make_meta("other.txt", tags=("x", "y")))
        await _commit(index, make_meta("docs/a.md", content_type="text/markdown"))
        await _commit(index, make_meta("s.txt", scope="session", owner="s1"))

        async def names(**kw: Any) -> list[tuple[str, int]]:
            page = await index.query(ArtifactQuery(**kw))
            return [(m.ref.name, m.ref.version) for m in page.items]

        assert await names(scope="user") == [("docs/a.md", 2), ("docs/b.png", 1), ("other.txt", 1)]
        assert await names(scope="user", latest_only=False) == [("docs/a.md", 1), ("docs/a.md", 2), ("docs/b.png", 1), ("other.txt", 1)]
        assert await names(prefix="docs/") == [("docs/a.md", 2), ("docs/b.png", 1)]
        assert await names(tag="x") == [("other.txt", 1)]
        assert await names(tag="x", latest_only=False) == [("docs/a.md", 1), ("other.txt", 1)]
        assert await names(content_type="image/*") == [("docs/b.png", 1)]
        assert await names(content_type="text/markdown") == [("docs/a.md", 2)]
        assert await names(scope="session", owner="s1") == [("s.txt", 1)]
        assert await names(owner="nobody") == []

    async def test_query_created_before(self, index: Any) -> None:
        old = make_meta("old.txt", created=serde.utcnow() - timedelta(days=10))
        await _commit(index, old)
        await _commit(index, make_meta("new.txt"))
        page = await index.query(ArtifactQuery(created_before=serde.utcnow() - timedelta(days=1), latest_only=False))
        assert [m.ref.name for m in page.items] == ["old.txt"]

    async def test_pagination(self, index: Any) -> None:
        for i in range(7):
            await _commit(index, make_meta(f"n{i}.txt"))
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await index.query(ArtifactQuery(limit=3, cursor=cursor))
            seen += [m.ref.name for m in page.items]
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == [f"n{i}.txt" for i in range(7)] and pages == 3

    async def test_leases_protect_blobs(self, index: Any) -> None:
        meta = make_meta(data=b"kept")
        other = hashlib.sha256(b"leased").hexdigest()
        orphan = hashlib.sha256(b"orphan").hexdigest()
        await _commit(index, meta)
        await index.lease(other, "tok1", 60)
        await index.lease(orphan, "tok2", -1)  # already expired
        assert await index.referenced([meta.blob, other, orphan]) == {meta.blob, other}
        await index.release("tok1")
        assert await index.referenced([other]) == set()
        committed = await _commit(index, make_meta("l.txt", data=b"leased", blob=other), lease="tok3")
        assert await index.referenced([other]) == {committed.blob}

    async def test_committing_releases_the_lease(self, index: Any) -> None:
        meta = make_meta(data=b"z")
        await index.lease(meta.blob, "tok", 60)
        await _commit(index, meta, lease="tok")
        await index.delete(meta.ref.id)
        assert await index.referenced([meta.blob]) == set()

    async def test_blob_records(self, index: Any) -> None:
        records = [BlobRecord(hashlib.sha256(bytes([i])).hexdigest(), "0" * 64, i, i, ("aesgcm",), "k1") for i in range(5)]
        for record in records:
            await index.put_blob(record)
        ordered = sorted(records, key=lambda r: r.key)
        assert await index.get_blob(ordered[0].key) == ordered[0]
        assert await index.list_blobs(limit=3) == ordered[:3]
        assert await index.list_blobs(after=ordered[2].key, limit=10) == ordered[3:]
        await index.put_blob(attrs.evolve(ordered[0], key_id="k2"))
        assert (await index.get_blob(ordered[0].key)).key_id == "k2"
        await index.drop_blobs([ordered[0].key])
        assert await index.get_blob(ordered[0].key) is None

    async def test_ended_sessions(self, index: Any) -> None:
        now = serde.utcnow()
        await index.end_session("s-old", now - timedelta(days=3))
        await index.end_session("s-new", now)
        assert await index.ended_sessions(now - timedelta(days=1)) == ["s-old"]
        await index.forget_session("s-old")
        assert await index.ended_sessions(now + timedelta(seconds=1)) == ["s-new"]
