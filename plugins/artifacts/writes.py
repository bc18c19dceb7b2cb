"""Writing blobs: hash while streaming, encode, de-duplicate, commit atomically."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import attrs

from llmspell.artifacts import BlobRecord
from llmspell.errors import ValidationError

from .base import ServiceBase
from .codecs import chain_tag
from .streams import BYTES, INLINE, chunks_of

__all__ = ["BlobWriting"]


class BlobWriting(ServiceBase):
    """The write path of a save (mixed into the service)."""

    async def _store_blob(self, data: Any, chain: list[Any], token: str) -> tuple[BlobRecord, int, str]:
        names = tuple(c.name for c in chain)
        suffix = f"-{chain_tag(names)}" if names else ""
        if isinstance(data, BYTES) and self.config.max_size is not None and len(data) > self.config.max_size:
            raise ValidationError(f"artifact of {len(data)} bytes exceeds max_size {self.config.max_size}")
        if isinstance(data, BYTES):  # content known up front: hash first, maybe skip the write
            sha = hashlib.sha256(data).hexdigest() if len(data) < INLINE else await self.run(_sha, data)
            known = await self._existing(sha + suffix, token)
            if known is not None:
                return known, len(data), sha
        writer = await self.store.writer()
        try:
            written = await self._write(writer, chunks_of(data, self.config.chunk_size), chain)
            key = written.sha + suffix
            known = await self._existing(key, token)
            if known is not None:
                await writer.abort()
                return known, written.size, written.sha
            stored = await writer.commit(key)
        except BaseException:
            await writer.abort()
            raise
        record = BlobRecord(key, written.sha, written.size, stored, written.codecs, written.key_id)
        return record, written.size, written.sha

    async def _existing(self, key: str, token: str) -> BlobRecord | None:
        """The record of an already stored blob ``key`` (leased against gc), or None."""
        await self.index.lease(key, token, self.config.lease_seconds)
        record = await self.index.get_blob(key)
        if record is None or not await self.store.touch(key):
            return None
        return record

    async def _write(self, writer: Any, source: AsyncIterator[bytes], chain: list[Any]) -> _Written:
        encoder = self._encoder(chain) if chain else None
        hasher = hashlib.sha256()
        size = 0
        limit = self.config.max_size
        pending: asyncio.Future[None] | None = None

        def step(chunk: bytes) -> list[bytes]:
            hasher.update(chunk)
            return list(encoder.update(chunk)) if encoder is not None else [chunk]

        async def put(pieces: list[bytes]) -> None:
            for piece in pieces:
                await writer.write(piece)

        try:
            if encoder is not None:
                await writer.write(encoder.header)
            async for chunk in source:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise ValidationError(f"artifact exceeds max_size {limit} bytes")
                pieces = step(chunk) if len(chunk) < INLINE else await self.run(step, chunk)
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(put(pieces))  # write while the next chunk is read and hashed
            if pending is not None:
                await pending
                pending = None
            if encoder is not None:
                encoder.bind(hasher.hexdigest())  # the final frame vouches for the blob key
                await put(await self.run(lambda: list(encoder.finish())))
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
        return _Written(hasher.hexdigest(), size, encoder.names if encoder else (), encoder.key_id if encoder else None)


@attrs.frozen
class _Written:
    sha: str
    size: int
    codecs: tuple[str, ...]
    key_id: str | None


def _sha(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()
