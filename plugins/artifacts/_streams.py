"""Turning what callers pass into chunks, and stored blobs back into verified content.

A save accepts bytes, an async or sync iterable of bytes, or a file-like object with a
``read(n)`` method (sync or async). A load streams the blob through the codec chain one
frame at a time, hashing as it goes; the last piece is held back until the sha-256 and
the size match the metadata, so a caller never receives the end of a corrupt artifact.

An encrypted blob is first checked against the key it was asked for: the header is read,
then the codec's authenticating end (the final frame, which vouches for the blob key and
for the nonce every frame uses), and only then is the content streamed. A blob copied
over another one therefore fails before a single plaintext byte is returned. A blob
whose codecs cannot be checked that way up front (format 1 of ``aesgcm``) is held back
whole until its sha-256 matches.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

from llmspell.errors import IntegrityError, NotFoundError, ValidationError
from llmspell.plugins.artifacts.api import ArtifactMeta
from llmspell.plugins.artifacts.backend import BlobStore, Codec, CodecOptions

from ._codecs import DecodeChain

__all__ = ["chunks_of", "BYTES", "INLINE", "decode_blob", "take"]

BYTES = (bytes, bytearray, memoryview)
INLINE = 256 * 1024
"""Chunks below this size are hashed and coded on the event loop (a thread hop costs more)."""


def _as_bytes(chunk: Any) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    raise ValidationError(f"artifact data must be bytes, got a chunk of type {type(chunk).__name__}")


async def chunks_of(data: Any, chunk_size: int) -> AsyncIterator[bytes]:
    """The content of ``data`` as chunks of any size (see the module docstring)."""
    if isinstance(data, str):
        raise ValidationError("artifact data must be bytes, not str: encode it first (text.encode())")
    if isinstance(data, BYTES):
        if type(data) is bytes and len(data) <= chunk_size:
            if data:
                yield data  # immutable already: no copy
            return
        view = memoryview(data)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])
        return
    read = getattr(data, "read", None)
    if callable(read):
        while True:
            chunk = read(chunk_size)
            if inspect.isawaitable(chunk):
                chunk = await chunk
            if not chunk:
                return
            yield _as_bytes(chunk)
    if hasattr(data, "__aiter__"):
        async for chunk in data:
            if chunk:
                yield _as_bytes(chunk)
        return
    if hasattr(data, "__iter__"):
        for chunk in data:
            if chunk:
                yield _as_bytes(chunk)
        return
    raise ValidationError(
        f"cannot save {type(data).__name__}: pass bytes, an iterable of bytes or a file opened in binary mode"
    )


_DONE = object()


class _Vouched:
    """Stands in for the hasher of a blob whose store vouched for its digest."""

    def __init__(self, digest: str) -> None:
        self._digest = digest

    def update(self, data: bytes) -> None:
        return None

    def hexdigest(self) -> str:
        return self._digest
Run = Callable[..., Awaitable[Any]]


def _to_thread(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    return asyncio.to_thread(fn, *args)


async def _inline(fn: Callable[..., Any], *args: Any) -> Any:
    """Small blobs: decoding on the loop is cheaper than a thread hop."""
    return fn(*args)


def take(pieces: Iterator[bytes], hasher: Any, limit: int) -> tuple[list[bytes], bool]:
    """Pull pieces until ``limit`` bytes (hashing them); ``True`` once exhausted."""
    out: list[bytes] = []
    total = 0
    while total < limit:
        piece = next(pieces, _DONE)
        if piece is _DONE:
            return out, True
        assert isinstance(piece, bytes)
        hasher.update(piece)
        out.append(piece)
        total += len(piece)
    return out, False


async def _pump(pieces: Iterator[bytes], hasher: Any, limit: int, run: Run) -> AsyncIterator[bytes]:
    done = False
    while not done:
        batch, done = await run(take, pieces, hasher, limit)
        for piece in batch:
            yield piece


async def _read_all(store: BlobStore, key: str, offset: int, chunk_size: int) -> bytes:
    return b"".join([piece async for piece in store.read(key, offset=offset, chunk_size=chunk_size)])


async def _open_chain(
    store: BlobStore, meta: ArtifactMeta, chain: DecodeChain, chunk_size: int
) -> tuple[int, bytes | None, bool]:
    """Read the header and authenticate the blob's end before any content is decoded.

    Returns where the body starts, the whole blob when one read already returned it, and
    whether the chain could vouch for the blob's identity up front.
    """
    head = bytearray()
    end: int | None = None
    whole = True
    small = meta.stored_size <= INLINE  # read whole in one go (bounded, whatever the file holds now)
    limit = INLINE if small else 0
    reading: Any = store.read(meta.blob, chunk_size=chunk_size if small else 64 * 1024)
    async with contextlib.aclosing(reading):
        async for data in reading:
            head += data
            if end is None:
                end = chain.start(head)
            if end is not None and len(head) > limit:
                whole = False
                break
    if end is None:
        raise IntegrityError(f"{meta.ref}: corrupt blob: truncated header")
    assert chain.stages is not None
    outer = chain.stages[0]
    tail, check = getattr(outer, "tail", None), getattr(outer, "check_tail", None)
    if tail is None or check is None:
        return end, bytes(head) if whole else None, False
    if whole:
        size = len(head)
    else:
        info = await store.stat(meta.blob)
        if info is None:
            raise NotFoundError(f"blob {meta.blob} is missing from the store")
        size = info.size
    offset = tail(size - end)
    if offset is None:
        return end, bytes(head) if whole else None, False
    if whole:
        ending = bytes(head[end + offset :])
    else:
        ending = await _read_all(store, meta.blob, end + offset, chunk_size)
    check(offset, ending)
    return end, bytes(head) if whole else None, True


async def decode_blob(
    store: BlobStore,
    meta: ArtifactMeta,
    codecs: Mapping[str, Codec],
    options: CodecOptions,
    chunk_size: int,
    run: Run | None = None,
) -> AsyncIterator[bytes]:
    """The verified content of ``meta``'s blob, streamed (CPU work through ``run``)."""
    run = _inline if meta.stored_size <= INLINE else run or _to_thread
    encoded = "-" in meta.blob
    vouched = None if encoded else getattr(store, "vouched", None)
    # a store that keeps immutable bytes it was vouched for needs no second hash (see _blobs_memory)
    hasher: Any = _Vouched(meta.sha256) if vouched is not None and vouched(meta.blob) == (meta.sha256, meta.size) else hashlib.sha256()
    size = 0
    held: bytes | None = None
    chain = DecodeChain(codecs, options, identity=meta.blob) if encoded else None
    kept: list[bytes] | None = None  # everything, until verified (when the end could not vouch up front)
    source: AsyncIterator[bytes]
    if chain is None:
        source = store.read(meta.blob, chunk_size=chunk_size)
    else:
        start, whole, vouched = await _open_chain(store, meta, chain, chunk_size)
        if not vouched and any(hasattr(stage, "bind") for stage in chain.stages or ()):
            kept = []
        if whole is not None:
            source = _pieces_of(memoryview(whole)[start:], chunk_size)
        else:
            source = store.read(meta.blob, offset=start, chunk_size=chunk_size)

    async def pieces(stored: bytes) -> AsyncIterator[bytes]:
        if chain is None:
            if len(stored) >= INLINE and not isinstance(hasher, _Vouched):
                await run(hasher.update, stored)
            else:
                hasher.update(stored)
            yield stored
            return
        async for piece in _pump(iter(chain.update(stored)), hasher, chunk_size, run):
            yield piece

    async for stored in source:
        async for piece in pieces(stored):
            size += len(piece)
            if size > meta.size:
                raise IntegrityError(f"{meta.ref}: stored content is longer than the recorded {meta.size} bytes")
            if held is not None:
                if kept is None:
                    yield held
                else:
                    kept.append(held)
            held = piece
    if chain is not None:
        async for piece in _pump(iter(chain.finish()), hasher, chunk_size, run):
            size += len(piece)
            if held is not None:
                if kept is None:
                    yield held
                else:
                    kept.append(held)
            held = piece
    if size != meta.size or hasher.hexdigest() != meta.sha256:
        raise IntegrityError(
            f"{meta.ref}: content does not match its sha-256 (expected {meta.sha256[:16]}..., "
            f"{meta.size} bytes; read {hasher.hexdigest()[:16]}..., {size} bytes): the blob was altered"
        )
    for piece in kept or ():
        yield piece
    if held is not None:
        yield held


async def _pieces_of(data: memoryview, chunk_size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk_size):
        yield bytes(data[start : start + chunk_size])
