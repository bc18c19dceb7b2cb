"""What a filesystem commit fsyncs: the blob, its shard directory, and the parent of every
directory the commit created (so the blob's path survives a power cut once save returns)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from llmspell.plugins.artifacts import _blobs_fs
from llmspell.plugins.artifacts._blobs_fs import FilesystemBlobStore


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    real = _blobs_fs._fsync_dir

    def record(path: Path) -> None:
        seen.append(Path(path))
        real(path)

    monkeypatch.setattr(_blobs_fs, "_fsync_dir", record)
    return seen


async def _commit(store: FilesystemBlobStore, key: str) -> None:
    writer = await store.writer()
    await writer.write(b"x" * 100)
    await writer.commit(key)


async def test_commit_fsyncs_each_directory_it_changed(tmp_path: Path, synced: list[Path], monkeypatch: Any) -> None:
    files: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(_blobs_fs.os, "fsync", lambda fd: (files.append(fd), real_fsync(fd))[1])
    store = FilesystemBlobStore(tmp_path)
    await store.open()
    blobs = store.root / "blobs"
    try:
        await _commit(store, "ab12" + "0" * 60)  # both shard levels are new
        assert synced == [blobs, blobs / "ab", blobs / "ab" / "12"]  # the new entries' parents, then the blob's
        assert len(files) == 1 + 3  # the upload and the three directories
        synced.clear()
        await _commit(store, "ab34" + "0" * 60)  # a new leaf under an existing top
        assert synced == [blobs / "ab", blobs / "ab" / "34"]
        synced.clear()
        await _commit(store, "ab34" + "1" * 60)  # both exist: only the shard that holds the blob
        assert synced == [blobs / "ab" / "34"]
    finally:
        await store.close()


async def test_no_fsync_when_turned_off(tmp_path: Path, synced: list[Path]) -> None:
    store = FilesystemBlobStore(tmp_path, fsync=False)
    await store.open()
    try:
        await _commit(store, "cd56" + "0" * 60)
        assert synced == [] and (store.root / "blobs" / "cd" / "56" / ("cd56" + "0" * 60)).is_file()
    finally:
        await store.close()
