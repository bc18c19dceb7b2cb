"""The artifact backend conformance suites over every llmspell artifact backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmspell.contrib.testing.contracts.artifacts import ArtifactIndexContract, BlobStoreContract
from llmspell.plugins.artifacts import (
    FilesystemBlobStore,
    MemoryArtifactIndex,
    MemoryBlobStore,
    SqliteArtifactIndex,
)


class TestFilesystemBlobStore(BlobStoreContract):
    @pytest.fixture
    def blob_store(self, tmp_path: Path) -> Any:
        return FilesystemBlobStore(tmp_path / "store")


class TestFilesystemBlobStoreSharingItsIndex(BlobStoreContract):
    """The embedded default: small blobs in the index's SQLite database."""

    @pytest.fixture
    def blob_store(self, tmp_path: Path) -> Any:
        store = FilesystemBlobStore(tmp_path / "store")
        store.share_index(tmp_path / "index.sqlite3")
        return store


class TestMemoryBlobStore(BlobStoreContract):
    @pytest.fixture
    def blob_store(self) -> Any:
        return MemoryBlobStore()


class TestSqliteArtifactIndex(ArtifactIndexContract):
    @pytest.fixture
    def artifact_index(self, tmp_path: Path) -> Any:
        return SqliteArtifactIndex(tmp_path / "index.sqlite3")


class TestMemoryArtifactIndex(ArtifactIndexContract):
    @pytest.fixture
    def artifact_index(self) -> Any:
        return MemoryArtifactIndex()


def test_every_registered_backend_has_a_contract_run(make_kernel: Any) -> None:
    kernel = make_kernel()
    tested = {"filesystem", "memory", "s3"}  # s3: test_s3_contracts.py
    assert {str(n) for n in kernel.registry("artifact_backend").names()} <= tested
    assert {str(n) for n in kernel.registry("artifact_metadata_backend").names()} <= {"sqlite", "memory", "postgres"}
