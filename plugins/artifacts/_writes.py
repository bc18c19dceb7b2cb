"""Writing blobs: hash while streaming, encode, de-duplicate, commit atomically.

While a save streams into an upload, the upload is leased in the index like a blob
(:class:`UploadLease`, renewed as the data flows), so gc leaves it alone whatever its
grace period, on every host that shares the index. A store that can tell whether an
upload's writer is alive (``upload_in_use``: the filesystem store locks its uploads)
needs no lease: there gc also sees at once that a writer died.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import attrs

from llmspell.errors import ValidationError
from llmspell.plugins.artifacts.backend import ArtifactIndex, BlobRecord, BlobStore, BlobWriter

from ._base import ArtifactCore
from ._blobs_fs import SMALL
from ._codecs import chain_tag
from ._streams import BYTES, INLINE, chunks_of

__all__ = ["BlobSaver", "UploadLease", "upload_lease_key"]


def upload_lease_key(upload_id: str) -> str:
    """What the index leases for an upload in progress (gc checks it as it checks blobs)."""
    return f"upload:{upload_id}"


class UploadLease:
    """A lease on an upload in progress, renewed while it is written, released at the end."""

    def __init__(self, index: ArtifactIndex, store: BlobStore, writer: BlobWriter, ttl: float) -> None:
        # a store that knows whether an upload's writer is alive (the filesystem one) needs no lease
        upload_id = None if hasattr(store, "upload_in_use") else getattr(writer, "id", None)
        self._index = index
        self._key = None if upload_id is None else upload_lease_key(str(upload_id))
        self._token = "" if self._key is None else uuid.uuid4().hex
        self._ttl = ttl
        self._renewed = 0.0

    async def take(self) -> None:
        if self._key is not None:
            await self._index.lease(self._key, self._token, self._ttl)
            self._renewed = time.monotonic()

    async def renew(self) -> None:
        """Extend the lease when a third of it has passed (cheap to call per chunk)."""
        if self._key is not None and time.monotonic() - self._renewed > self._ttl / 3:
            await self.take()

    async def release(self) -> None:
        if self._key is not None:
            await self._index.release(self._token)


class BlobSaver:
    """The write path of a save: hash, encode, de-duplicate, commit (see the module docstring)."""

    def __init__(self, core: ArtifactCore) -> None:
        self.core = core

    async def store_blob(self, data: Any, chain: list[Any], token: str) -> tuple[BlobRecord, int, str]:
        """Store ``data`` through the codecs of ``chain`` (or find it stored already);
        returns its blob record, its size and its sha-256."""
        core = self.core
        names = tuple(c.name for c in chain)
        suffix = f"-{chain_tag(names)}" if names else ""
        config = core.config
        if isinstance(data, BYTES) and config.max_size is not None and len(data) > config.max_size:
            raise ValidationError(f"artifact of {len(data)} bytes exceeds max_size {config.max_size}")
        sha: str | None = None
        if isinstance(data, BYTES):  # content known up front: hash first, maybe skip the write
            if type(data) is not bytes:
                data = bytes(data)  # a snapshot: what is hashed is what is stored, whatever the caller's buffer does
            sha = hashlib.sha256(data).hexdigest() if len(data) < INLINE else await core.run(_sha, data)
            known = await self.existing(sha + suffix, token)
            if known is not None:
                return known, len(data), sha
        writer = await core.store.writer()
        upload = UploadLease(core.index, core.store, writer, config.lease_seconds)
        try:
            await upload.take()
            written = await self._write(writer, chunks_of(data, config.chunk_size), chain, upload, sha)
            key = written.sha + suffix
            if sha is None:  # a stream: only now is its blob key known
                known = await self.existing(key, token)
                if known is not None:
                    await writer.abort()
                    return known, written.size, written.sha
            stored = await writer.commit(key)
            vouch = getattr(core.store, "vouch", None)
            if vouch is not None and not chain:  # no await since the commit: these are the bytes hashed here
                vouch(key, written.sha, written.size)
        except BaseException:
            await writer.abort()
            raise
        finally:
            await upload.release()
        record = BlobRecord(key, written.sha, written.size, stored, written.codecs, written.key_id)
        return record, written.size, written.sha

    def small(self, data: Any, chain: list[Any]) -> tuple[BlobRecord, bytes] | None:
        """A small uncoded content the index stores itself, with the version, in one
        transaction (the embedded default, see ``_blobs_fs``): its blob record and bytes.
        No blob is written, looked up or leased: the commit makes the row exist."""
        core = self.core
        if chain or not isinstance(data, BYTES) or len(data) > SMALL or not getattr(core.index, "small_blobs", False):
            return None
        limit = core.config.max_size
        if limit is not None and len(data) > limit:
            raise ValidationError(f"artifact of {len(data)} bytes exceeds max_size {limit}")
        content = data if type(data) is bytes else bytes(data)
        sha = hashlib.sha256(content).hexdigest()
        return BlobRecord(sha, sha, len(content), len(content), (), None), content

    async def existing(self, key: str, token: str) -> BlobRecord | None:
        """The record of an already stored blob ``key`` (leased against gc), or None."""
        core = self.core
        await core.index.lease(key, token, core.config.lease_seconds)
        record = await core.index.get_blob(key)
        if record is None or not await core.store.touch(key):
            return None
        return record

    async def _write(
        self, writer: BlobWriter, source: AsyncIterator[bytes], chain: list[Any], upload: UploadLease, sha: str | None = None
    ) -> _Written:
        """Stream ``source`` through the chain into ``writer``; hashes it unless ``sha``
        (the digest of bytes the caller already hashed: each byte is hashed once)."""
        core = self.core
        encoder = core.encoder(chain) if chain else None
        hasher = hashlib.sha256() if sha is None else None
        size = 0
        limit = core.config.max_size
        pending: asyncio.Future[None] | None = None

        def step(chunk: bytes) -> list[bytes]:
            if hasher is not None:
                hasher.update(chunk)
            return list(encoder.update(chunk)) if encoder is not None else [chunk]

        async def put(pieces: list[bytes]) -> None:
            for piece in pieces:
                await writer.write(piece)

        try:
            if encoder is not None:
                await writer.write(encoder.header)
            async for chunk in source:
                await upload.renew()
                size += len(chunk)
                if limit is not None and size > limit:
                    raise ValidationError(f"artifact exceeds max_size {limit} bytes")
                if encoder is None and hasher is None:
                    pieces = [chunk]  # nothing to compute: no thread hop
                else:
                    pieces = step(chunk) if len(chunk) < INLINE else await core.run(step, chunk)
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(put(pieces))  # write while the next chunk is read and hashed
            if pending is not None:
                await pending
                pending = None
            digest = hasher.hexdigest() if hasher is not None else str(sha)
            if encoder is not None:
                encoder.bind(digest)  # the final frame vouches for the blob key
                await put(await core.run(lambda: list(encoder.finish())))
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
        return _Written(digest, size, encoder.names if encoder else (), encoder.key_id if encoder else None)


@attrs.frozen
class _Written:
    sha: str
    size: int
    codecs: tuple[str, ...]
    key_id: str | None


def _sha(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()
