"""Small blobs of the embedded default live in the index's SQLite database (see _blobs_fs)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from llmspell import Kernel
from llmspell.errors import ValidationError
from llmspell.plugins.artifacts._blobs_fs import SMALL, FilesystemBlobStore


def _key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _put(store: FilesystemBlobStore, key: str, data: bytes) -> int:
    writer = await store.writer()
    for start in range(0, len(data), 4096):
        await writer.write(data[start : start + 4096])
    return await writer.commit(key)


async def _read(store: FilesystemBlobStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(key)])


async def test_small_and_large_under_one_key_replace_each_other(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "store")
    store.share_index(tmp_path / "index.sqlite3")
    await store.open()
    try:
        key = _key(b"k")
        large, small = b"L" * (SMALL + 1), b"s" * SMALL
        await _put(store, key, large)
        assert store.path(key).is_file() and await _read(store, key) == large
        await _put(store, key, small)  # exactly SMALL bytes: kept in the database
        assert await _read(store, key) == small and (await store.stat(key)).size == SMALL  # type: ignore[union-attr]
        assert [b.key for b in [b async for b in store.blobs()]] == [key]
        await _put(store, key, large)
        assert await _read(store, key) == large and (await store.stat(key)).size == len(large)  # type: ignore[union-attr]
        assert [b.key for b in [b async for b in store.blobs()]] == [key]
        assert await store.delete(key) == len(large) and await store.stat(key) is None
        assert [b async for b in store.uploads()] == []
    finally:
        await store.close()


async def test_a_small_save_writes_no_file_and_a_coded_one_does(start_kernel: Any) -> None:
    kernel: Kernel = await start_kernel(backend="filesystem", metadata="sqlite")
    try:
        arts = kernel.artifacts
        plain = await arts.stat(await arts.save("p.txt", b"plain"))
        coded = await arts.stat(await arts.save("z.txt", b"zstd " * 100, codecs=["zstd"]))
        store: FilesystemBlobStore = arts.store
        assert not store.path(plain.blob).exists() and store.path(coded.blob).is_file()
        db = sqlite3.connect(kernel.data_dir / "artifacts" / "index.sqlite3")
        try:
            rows = db.execute("SELECT key FROM store_small_blobs").fetchall()
        finally:
            db.close()
        assert rows == [(plain.blob,)]
        assert await arts.load(plain.ref) == b"plain" and await arts.load(coded.ref) == b"zstd " * 100
        again = await arts.stat(await arts.save("q.txt", b"plain"))  # de-duplicated onto the row
        assert again.blob == plain.blob
        await arts.delete("p.txt")
        await arts.delete("q.txt")
        report = await arts.gc(grace=0)
        assert plain.blob in report.blobs and await store.stat(plain.blob) is None
    finally:
        await kernel.stop()


async def test_an_index_of_schema_1_is_upgraded_and_a_newer_one_refused(tmp_path: Path) -> None:
    from llmspell.errors import SchemaVersionError
    from llmspell.plugins.artifacts._index_sqlite import SCHEMA, SqliteArtifactIndex

    path = tmp_path / "index.sqlite3"
    index = SqliteArtifactIndex(path)
    await index.open()
    await index.close()
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE meta SET value='1' WHERE key='schema'")
        db.execute("DROP TABLE store_small_blobs")
    db.close()
    await index.open()  # version 1 (before small blobs): opened and marked as the current version
    await index.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (str(SCHEMA),)
    assert db.execute("SELECT count(*) FROM store_small_blobs").fetchone() == (0,)
    with db:
        db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA + 1),))
    db.close()
    with pytest.raises(SchemaVersionError, match="upgrade llmspell"):
        await SqliteArtifactIndex(path).open()


async def test_small_bytes_commit_with_their_version(start_kernel: Any) -> None:
    """Small bytes need no lease and no upload: the index writes the row with the version;
    a stream of the same size goes through the store's writer (a row committed first)."""
    kernel: Kernel = await start_kernel(backend="filesystem", metadata="sqlite", max_size=100)
    try:
        arts = kernel.artifacts
        ref = await arts.save("a.txt", b"a" * 100)
        streamed = await arts.save("b.txt", iter([b"b" * 50, b"b" * 50]))
        with pytest.raises(ValidationError, match="max_size 100"):
            await arts.save("c.txt", b"c" * 101)
        db = sqlite3.connect(kernel.data_dir / "artifacts" / "index.sqlite3")
        try:
            assert db.execute("SELECT count(*) FROM leases").fetchone() == (0,)
            assert db.execute("SELECT count(*) FROM store_small_blobs").fetchone() == (2,)
        finally:
            db.close()
        assert await arts.load(ref) == b"a" * 100 and await arts.load(streamed) == b"b" * 100
        assert [u async for u in arts.store.uploads()] == []
    finally:
        await kernel.stop()
