"""The ``memory`` blob store: blobs in a dict, for tests and throwaway kernels.

A blob is an immutable ``bytes`` object that only this process can reach. When the
artifact service commits a plain (uncoded) blob it hashed itself, it vouches for the
blob's sha-256 and size (:meth:`MemoryBlobStore.vouch`); a load of that blob then
compares the recorded digest with the vouched one instead of hashing the bytes again
(nothing can alter them). Committing or deleting the key drops the vouch, so a blob
written any other way is hashed on every load, as in any store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

from llmspell.errors import NotFoundError, ValidationError
from llmspell.plugins.artifacts.backend import BlobInfo, StartAlias

from .backend import check_blob_key

__all__ = ["MemoryBlobStore"]


class _Writer:
    def __init__(self, store: MemoryBlobStore) -> None:
        self._store = store
        self.id = uuid.uuid4().hex
        self._parts: list[bytes] | None = []
        store._uploads[self.id] = (self._parts, time.time())

    async def write(self, data: bytes) -> None:
        if self._parts is None:
            raise ValidationError("this upload is already committed or aborted")
        self._parts.append(bytes(data))

    async def commit(self, key: str) -> int:
        check_blob_key(key)
        if self._parts is None:
            raise ValidationError("this upload is already committed or aborted")
        data = b"".join(self._parts)
        self._store._blobs[key] = (data, time.time())
        self._store._vouched.pop(key, None)
        self._store._uploads.pop(self.id, None)
        self._parts = None
        return len(data)

    async def abort(self) -> None:
        self._store._uploads.pop(self.id, None)
        self._parts = None


class MemoryBlobStore(StartAlias):
    """Blobs in process memory; gone when the process ends."""

    def __init__(self) -> None:
        self._blobs: dict[str, tuple[bytes, float]] = {}
        self._uploads: dict[str, tuple[list[bytes], float]] = {}
        self._vouched: dict[str, tuple[str, int]] = {}

    def vouch(self, key: str, sha256: str, size: int) -> None:
        """Record that the blob just committed under ``key`` is ``size`` bytes of digest ``sha256``.

        Called by the artifact service right after the commit (with no await between),
        for bytes it hashed itself; see the module docstring.
        """
        item = self._blobs.get(key)
        if item is not None and len(item[0]) == size:
            self._vouched[key] = (sha256, size)

    def vouched(self, key: str) -> tuple[str, int] | None:
        """The (sha-256, size) vouched for ``key``'s current bytes, or None."""
        return self._vouched.get(key)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def writer(self) -> _Writer:
        return _Writer(self)

    async def read(self, key: str, *, offset: int = 0, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        check_blob_key(key)
        item = self._blobs.get(key)
        if item is None:
            raise NotFoundError(f"blob {key} is missing from the store")
        data = item[0]
        for start in range(offset, len(data), chunk_size):
            yield data[start : start + chunk_size]

    async def stat(self, key: str) -> BlobInfo | None:
        check_blob_key(key)
        item = self._blobs.get(key)
        return None if item is None else BlobInfo(key, len(item[0]), item[1])

    async def touch(self, key: str) -> bool:
        check_blob_key(key)
        item = self._blobs.get(key)
        if item is None:
            return False
        self._blobs[key] = (item[0], time.time())
        return True

    async def delete(self, key: str) -> int:
        check_blob_key(key)
        item = self._blobs.pop(key, None)
        self._vouched.pop(key, None)
        return 0 if item is None else len(item[0])

    async def blobs(self) -> AsyncIterator[BlobInfo]:
        for key in sorted(self._blobs):
            item = self._blobs.get(key)
            if item is not None:
                yield BlobInfo(key, len(item[0]), item[1])

    async def uploads(self) -> AsyncIterator[BlobInfo]:
        for upload_id, (parts, started) in list(self._uploads.items()):
            yield BlobInfo(upload_id, sum(len(p) for p in parts), started)

    async def abort_upload(self, upload_id: str) -> int:
        item = self._uploads.pop(upload_id, None)
        return 0 if item is None else sum(len(p) for p in item[0])
