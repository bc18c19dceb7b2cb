"""Conformance suites for artifact backends: blob stores and metadata indexes.

A backend's tests subclass a suite and override one fixture that returns the backend,
not yet started (the suite starts it, checks that ``health()``, when it has one, reports
no problem, gives it to each test as ``backend`` and closes it after the test)::

    from llmspell.contrib.testing.contracts.artifacts import BlobStoreContract

    class TestS3BlobStore(BlobStoreContract):
        @pytest.fixture
        def blob_store(self, tmp_path):
            return S3BlobStore(bucket="test", prefix=str(tmp_path))

``ArtifactIndexContract`` works the same way with an ``artifact_index`` fixture. The
suites mark their tests for pytest-asyncio themselves. Backends do not check artifact
names or scope ids (the artifact service does); they store any name up to the service's
maximum (256 characters, 1024 bytes of UTF-8).
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

from . import opened, raises

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


class BlobStoreContract:
    """What every :class:`~llmspell.plugins.artifacts.backend.BlobStore` must do."""

    pytestmark = [pytest.mark.asyncio]

    @pytest.fixture
    def blob_store(self) -> Any:
        """Override: your blob store, built but not started (the suite starts and closes it)."""
        raise NotImplementedError("override the blob_store fixture to return an unstarted blob store")

    @pytest_asyncio.fixture
    async def backend(self, blob_store: Any) -> AsyncIterator[Any]:
        """The store under test, started (and healthy) for the test, closed after it."""
        async with opened(blob_store, "blob_store") as store:
            yield store

    async def test_write_commit_read(self, backend: Any) -> None:
        """Bytes written in parts and committed under a key read back whole; commit returns the
        size, stat the key and size."""
        parts = [b"alpha-", b"beta-" * 1000, b"gamma"]
        key = blob_key(b"".join(parts))
        assert await _put(backend, key, *parts) == sum(map(len, parts))
        assert await _read(backend, key) == b"".join(parts)
        info = await backend.stat(key)
        assert info is not None and info.key == key and info.size == sum(map(len, parts))

    async def test_chunked_and_offset_reads(self, backend: Any) -> None:
        """read yields chunks of at most chunk_size bytes that join to the blob; offset starts the
        read there."""
        data = os.urandom(3 * 65536 + 17)
        key = blob_key(data)
        await _put(backend, key, data)
        chunks = [c async for c in backend.read(key, chunk_size=65536)]
        assert all(len(c) <= 65536 for c in chunks) and b"".join(chunks) == data
        assert await _read(backend, key, offset=100_000) == data[100_000:]

    async def test_large_blob_in_many_parts(self, backend: Any) -> None:
        """An 8 MiB blob written in 1 MiB parts reads back byte for byte (default chunks of at most
        1 MiB)."""
        part = os.urandom(1 << 20)
        key = blob_key(part * 8, "0123abcd")
        assert await _put(backend, key, *([part] * 8)) == 8 << 20
        hasher = hashlib.sha256()
        async for chunk in backend.read(key):
            assert len(chunk) <= 1 << 20
            hasher.update(chunk)
        assert hasher.hexdigest() == hashlib.sha256(part * 8).hexdigest()

    async def test_abort_leaves_nothing(self, backend: Any) -> None:
        """An aborted upload leaves neither a blob nor an unfinished upload."""
        writer = await backend.writer()
        await writer.write(b"half")
        await writer.abort()
        assert [b async for b in backend.blobs()] == []
        assert [u async for u in backend.uploads()] == []

    async def test_unfinished_upload_is_listed_and_removable(self, backend: Any) -> None:
        """An upload neither committed nor aborted is listed by uploads() (not blobs()) and
        abort_upload removes it."""
        writer = await backend.writer()
        await writer.write(b"x" * 1000)
        uploads = [u async for u in backend.uploads()]
        assert len(uploads) == 1 and uploads[0].size in (0, 1000)
        assert [b async for b in backend.blobs()] == []
        await backend.abort_upload(uploads[0].key)
        assert [u async for u in backend.uploads()] == []
        await writer.abort()

    async def test_missing_blob(self, backend: Any) -> None:
        """A missing key: stat gives None, touch False, delete 0, and read raises NotFoundError."""
        key = blob_key(b"never stored")
        assert await backend.stat(key) is None
        assert await backend.touch(key) is False
        assert await backend.delete(key) == 0
        with pytest.raises(NotFoundError):
            await _read(backend, key)

    async def test_delete_reports_bytes_freed(self, backend: Any) -> None:
        """delete returns the bytes freed, then 0 once the blob is gone."""
        key = blob_key(b"12345")
        await _put(backend, key, b"12345")
        assert await backend.delete(key) == 5
        assert await backend.stat(key) is None
        assert await backend.delete(key) == 0

    async def test_blobs_lists_every_committed_key(self, backend: Any) -> None:
        """blobs() lists every committed key once."""
        keys = sorted(blob_key(bytes([i])) for i in range(5))
        for i in range(5):
            await _put(backend, blob_key(bytes([i])), bytes([i]))
        assert sorted(b.key for b in [b async for b in backend.blobs()]) == keys

    async def test_commit_replaces_existing_key(self, backend: Any) -> None:
        """Committing to an existing key replaces its content; the key is listed once."""
        key = blob_key(b"v", "0123abcd")
        await _put(backend, key, b"first")
        await _put(backend, key, b"second!")
        assert await _read(backend, key) == b"second!"
        assert len([b async for b in backend.blobs()]) == 1

    async def test_touch_moves_modified_time(self, backend: Any) -> None:
        """touch returns True for a stored key and never moves its modified time backwards."""
        key = blob_key(b"t")
        await _put(backend, key, b"t")
        before = (await backend.stat(key)).modified
        await asyncio.sleep(0.02)
        assert await backend.touch(key) is True
        assert (await backend.stat(key)).modified >= before

    @pytest.mark.parametrize("key", HOSTILE_KEYS)
    async def test_hostile_keys_are_rejected(self, backend: Any, key: str) -> None:
        """A key that is not a sha-256 hex digest (optionally -8 hex digits) raises ValidationError
        from stat, delete, read and commit: no path traversal, no upper case, no NUL."""
        with pytest.raises(ValidationError):
            await backend.stat(key)
        with pytest.raises(ValidationError):
            await backend.delete(key)
        with pytest.raises(ValidationError):
            await _read(backend, key)
        writer = await backend.writer()
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


class ArtifactIndexContract:
    """What every :class:`~llmspell.plugins.artifacts.backend.ArtifactIndex` must do."""

    pytestmark = [pytest.mark.asyncio]

    @pytest.fixture
    def artifact_index(self) -> Any:
        """Override: your artifact backend, built but not started (the suite starts and closes it)."""
        raise NotImplementedError("override the artifact_index fixture to return an unstarted index")

    @pytest_asyncio.fixture
    async def backend(self, artifact_index: Any) -> AsyncIterator[Any]:
        """The index under test, started (and healthy) for the test, closed after it."""
        async with opened(artifact_index, "artifact_index") as index:
            yield index

    async def test_versions_are_assigned_in_order(self, backend: Any) -> None:
        """commit assigns versions 1, 2, 3 ... per name; get without a version gives the latest,
        with one that version, an unknown version None."""
        refs = [(await _commit(backend, make_meta(data=bytes([i])))).ref for i in range(3)]
        assert [r.version for r in refs] == [1, 2, 3]
        latest = await backend.get(refs[0].id)
        assert latest is not None and latest.ref.version == 3
        first = await backend.get(refs[0].id, 1)
        assert first is not None and first.sha256 == hashlib.sha256(b"\x00").hexdigest()
        assert [m.ref.version for m in await backend.versions(refs[0].id)] == [1, 2, 3]
        assert await backend.get(refs[0].id, 9) is None

    async def test_records_round_trip(self, backend: Any) -> None:
        """A committed ArtifactMeta (tags, metadata, codecs, timezone-aware created time) reads back
        equal, and survives serde."""
        meta = make_meta(tags=("a", "b"), metadata={"k": [1, "two", None]}, codecs=("zstd",), stored_size=3)
        stored = await _commit(backend, meta)
        got = await backend.get(stored.ref.id, stored.ref.version)
        assert got == stored
        assert got.created == meta.created and got.created.tzinfo is not None
        assert serde.loads_as(serde.dumps(got), ArtifactMeta) == got

    async def test_versions_are_never_reused(self, backend: Any) -> None:
        """Deleted versions are never reused: after deleting every version the next commit continues
        the numbering; deleting all versions drops the ACL too."""
        meta = make_meta()
        for _ in range(2):
            await _commit(backend, meta)
        gone = await backend.delete(meta.ref.id, [2])
        assert [m.ref.version for m in gone] == [2]
        assert (await backend.get(meta.ref.id)).ref.version == 1
        assert [m.ref.version for m in await backend.delete(meta.ref.id)] == [1]
        assert await backend.get(meta.ref.id) is None
        assert await backend.get_acl(meta.ref.id) is None
        again = await _commit(backend, meta, owned_by="user:u9")
        assert again.ref.version == 3
        acl = await backend.get_acl(meta.ref.id)
        assert acl is not None and acl.owned_by == "user:u9" and acl.grants == {}

    async def test_acl_is_set_once_and_updated_explicitly(self, backend: Any) -> None:
        """The first commit of a name sets its ACL; later commits never change it; put_acl does; a
        missing id has no ACL."""
        meta = make_meta()
        await _commit(backend, meta, owned_by="user:u1")
        await _commit(backend, meta, owned_by="user:intruder")
        acl = await backend.get_acl(meta.ref.id)
        assert acl is not None and acl.owned_by == "user:u1"
        await backend.put_acl(attrs.evolve(acl, grants={"user:u2": ("read", "share")}))
        acl = await backend.get_acl(meta.ref.id)
        assert acl.grants == {"user:u2": ("read", "share")}
        assert await backend.get_acl(ArtifactId("user", "u1", "missing")) is None

    async def test_query_filters(self, backend: Any) -> None:
        """query filters by scope, owner, name prefix, tag, content type (type/* too) and
        latest_only, in (scope, owner, name, version) order."""
        await _commit(backend, make_meta("docs/a.md", content_type="text/markdown", tags=("x",)))
        await _commit(backend, make_meta("docs/b.png", content_type="image/png"))
        await _commit(backend, make_meta("other.txt", tags=("x", "y")))
        await _commit(backend, make_meta("docs/a.md", content_type="text/markdown"))
        await _commit(backend, make_meta("s.txt", scope="session", owner="s1"))

        async def names(**kw: Any) -> list[tuple[str, int]]:
            page = await backend.query(ArtifactQuery(**kw))
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

    async def test_query_created_before(self, backend: Any) -> None:
        """query(created_before=t) returns only versions created before t."""
        old = make_meta("old.txt", created=serde.utcnow() - timedelta(days=10))
        await _commit(backend, old)
        await _commit(backend, make_meta("new.txt"))
        page = await backend.query(ArtifactQuery(created_before=serde.utcnow() - timedelta(days=1), latest_only=False))
        assert [m.ref.name for m in page.items] == ["old.txt"]

    async def test_time_bounds(self, backend: Any) -> None:
        """created_before and ended_sessions(before) are exclusive (< t), the same half-open rule
        as the session and event time filters."""
        at = serde.utcnow() - timedelta(days=2)
        await _commit(backend, make_meta("edge.txt", created=at))
        page = await backend.query(ArtifactQuery(created_before=at, latest_only=False))
        assert [m.ref.name for m in page.items] == [], "rule: created_before is exclusive"
        page = await backend.query(ArtifactQuery(created_before=at + timedelta(microseconds=1), latest_only=False))
        assert [m.ref.name for m in page.items] == ["edge.txt"], "rule: created_before includes what is earlier"
        await backend.end_session("s-edge", at)
        assert await backend.ended_sessions(at) == [], "rule: ended_sessions(before) is exclusive"
        assert await backend.ended_sessions(at + timedelta(microseconds=1)) == ["s-edge"], "rule: ... of its bound"

    async def test_bad_cursor_raises_validation_error(self, backend: Any) -> None:
        """A cursor that no query returned raises ValidationError naming the cursor."""
        with raises(ValidationError, "a foreign cursor raises ValidationError naming the cursor", match="cursor"):
            await backend.query(ArtifactQuery(cursor="not a cursor"))

    async def test_bad_limit_raises_validation_error_and_limit_one_pages(self, backend: Any) -> None:
        """A query limit that is not an integer from 1 raises ValidationError naming the limit
        (ArtifactQuery refuses it when built); limit=1 pages one version at a time."""
        bad: tuple[Any, ...] = (0, -1, "5", 1.5, True)
        for limit in bad:
            with raises(ValidationError, f"limit={limit!r} raises ValidationError naming limit", match="limit"):
                await backend.query(ArtifactQuery(limit=limit))
        for name in ("a.txt", "b.txt"):
            await _commit(backend, make_meta(name))
        first = await backend.query(ArtifactQuery(limit=1))
        assert [m.ref.name for m in first.items] == ["a.txt"] and first.next_cursor, "rule: limit=1 gives one item"
        rest = await backend.query(ArtifactQuery(limit=1, cursor=first.next_cursor))
        assert [m.ref.name for m in rest.items] == ["b.txt"], "rule: the cursor continues after the last item"

    async def test_name_and_scope_id_of_the_maximum_length(self, backend: Any) -> None:
        """A name of exactly 256 characters (the service's maximum) made of 3-byte and 4-byte
        UTF-8 letters, one of 256 4-byte letters (1024 bytes, the byte maximum), and a scope id
        of 128 characters are stored, read back and listed; the service refuses one character
        more with ValidationError naming the limit."""
        from llmspell.plugins.artifacts.backend import MAX_BYTES, MAX_CHARS, check_name

        mixed = ("\u754c\U00020000" * MAX_CHARS)[:MAX_CHARS]
        wide = "\U00020000" * MAX_CHARS
        owner = "o" * 128
        assert len(wide.encode()) == MAX_BYTES and check_name(mixed) == mixed and check_name(wide) == wide
        for name in (mixed, wide):
            stored = await _commit(backend, make_meta(name, owner=owner))
            got = await backend.get(stored.ref.id)
            assert got == stored and got.ref.name == name, "rule: a name of the maximum length reads back whole"
        page = await backend.query(ArtifactQuery(owner=owner))
        assert sorted(m.ref.name for m in page.items) == sorted([mixed, wide]), "rule: ... and is listed whole"
        with raises(ValidationError, "a name over the maximum raises ValidationError naming the limit",
                    match=str(MAX_CHARS)):
            check_name(mixed + "x")

    async def test_pagination(self, backend: Any) -> None:
        """query pages hold at most limit items and next_cursor walks every item once, in order; the
        last page has next_cursor None."""
        for i in range(7):
            await _commit(backend, make_meta(f"n{i}.txt"))
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await backend.query(ArtifactQuery(limit=3, cursor=cursor))
            seen += [m.ref.name for m in page.items]
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == [f"n{i}.txt" for i in range(7)] and pages == 3

    async def test_leases_protect_blobs(self, backend: Any) -> None:
        """referenced() counts blobs of committed versions and of unexpired leases; release drops a
        lease; an expired lease protects nothing."""
        meta = make_meta(data=b"kept")
        other = hashlib.sha256(b"leased").hexdigest()
        orphan = hashlib.sha256(b"orphan").hexdigest()
        await _commit(backend, meta)
        await backend.lease(other, "tok1", 60)
        await backend.lease(orphan, "tok2", -1)  # already expired
        assert await backend.referenced([meta.blob, other, orphan]) == {meta.blob, other}
        await backend.release("tok1")
        assert await backend.referenced([other]) == set()
        committed = await _commit(backend, make_meta("l.txt", data=b"leased", blob=other), lease="tok3")
        assert await backend.referenced([other]) == {committed.blob}

    async def test_committing_releases_the_lease(self, backend: Any) -> None:
        """A commit with lease= releases that lease."""
        meta = make_meta(data=b"z")
        await backend.lease(meta.blob, "tok", 60)
        await _commit(backend, meta, lease="tok")
        await backend.delete(meta.ref.id)
        assert await backend.referenced([meta.blob]) == set()

    async def test_blob_records(self, backend: Any) -> None:
        """Blob records are stored, replaced, listed in key order (after= exclusive, at most limit)
        and dropped."""
        records = [BlobRecord(hashlib.sha256(bytes([i])).hexdigest(), "0" * 64, i, i, ("aesgcm",), "k1") for i in range(5)]
        for record in records:
            await backend.put_blob(record)
        ordered = sorted(records, key=lambda r: r.key)
        assert await backend.get_blob(ordered[0].key) == ordered[0]
        assert await backend.list_blobs(limit=3) == ordered[:3]
        assert await backend.list_blobs(after=ordered[2].key, limit=10) == ordered[3:]
        await backend.put_blob(attrs.evolve(ordered[0], key_id="k2"))
        assert (await backend.get_blob(ordered[0].key)).key_id == "k2"
        await backend.drop_blobs([ordered[0].key])
        assert await backend.get_blob(ordered[0].key) is None

    async def test_ended_sessions(self, backend: Any) -> None:
        """ended_sessions(before) lists sessions ended before that time; forget_session removes one."""
        now = serde.utcnow()
        await backend.end_session("s-old", now - timedelta(days=3))
        await backend.end_session("s-new", now)
        assert await backend.ended_sessions(now - timedelta(days=1)) == ["s-old"]
        await backend.forget_session("s-old")
        assert await backend.ended_sessions(now + timedelta(seconds=1)) == ["s-new"]
