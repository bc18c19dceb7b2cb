"""Blob stores and indexes are opened by the kernel with ``open()``; ``start()``, their
former name, still works for one release, with a ``DeprecationWarning``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmspell import hookimpl
from llmspell.plugins.artifacts._blobs_fs import FilesystemBlobStore
from llmspell.plugins.artifacts._blobs_memory import MemoryBlobStore


class OldStore(MemoryBlobStore):
    """A store written before ``open()``: it has ``start()`` only."""

    open = None  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.started = 0

    async def start(self) -> None:
        self.started += 1


class OldStorePlugin:
    def __init__(self) -> None:
        self.store = OldStore()

    @hookimpl
    def llmspell_register_artifact_backends(self, register: Any) -> None:
        register("old", lambda kernel: self.store)


async def test_a_store_with_start_only_is_still_started_with_a_warning(make_kernel: Any) -> None:
    plugin = OldStorePlugin()
    kernel = make_kernel({"artifacts": {"backend": "old", "metadata": "memory"}}, plugins=[plugin])
    with pytest.warns(DeprecationWarning, match=r"OldStore.start\(\) is deprecated"):
        await kernel.start()
    try:
        assert plugin.store.started == 1
        ref = await kernel.artifacts.save("a.txt", b"hello", content_type="text/plain")
        assert await kernel.artifacts.load(ref) == b"hello"
    finally:
        await kernel.stop()


async def test_start_is_a_deprecated_alias_of_open(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    with pytest.warns(DeprecationWarning, match=r"FilesystemBlobStore.start\(\) is deprecated: use open\(\)"):
        await store.start()
    try:
        assert await store.health() == []
    finally:
        await store.close()
